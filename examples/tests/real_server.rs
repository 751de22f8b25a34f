//! The examples against a server given by the environment (INSTANT_APP_ID, INSTANT_APP_ADMIN_TOKEN,
//! INSTANT_API_URI), as with Instant Cloud or a self-hosted Instant. An instant-local server started
//! here plays that server, so the test can check what the examples leave behind: nothing.

use instant_admin::{Config, Instant};
use instant_local::LocalServer;
use serde_json::{json, Value};
use std::process::Command;

fn server() -> (LocalServer, Instant) {
    let srv = LocalServer::start(
        instant_local::Config::default()
            .schema_file(instant_examples::SCHEMA_FILE)
            .perms_file(instant_examples::PERMS_FILE),
    )
    .expect("instant-local starts");
    let db =
        Instant::new(Config::new(srv.app_id(), srv.admin_token()).api_uri(srv.base_url())).unwrap();
    (srv, db)
}

fn run_against(srv: &LocalServer, bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin)
        .args(args)
        .env("INSTANT_APP_ID", srv.app_id())
        .env("INSTANT_APP_ADMIN_TOKEN", srv.admin_token())
        .env("INSTANT_API_URI", srv.base_url())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{bin}: {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().next(),
        Some(format!("using {} (app {})", srv.base_url(), srv.app_id()).as_str()),
        "{stdout}"
    );
    stdout
}

async fn count(db: &Instant, ns: &str) -> usize {
    let answer: Value = db.query(json!({ ns: {} })).await.unwrap();
    answer[ns].as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todos_users_and_import_export_use_the_configured_server_and_clean_up() {
    let (srv, db) = server();

    let stdout = run_against(&srv, env!("CARGO_BIN_EXE_todos"), &[]);
    assert!(stdout.contains("\n4 todos left:\n"), "{stdout}");
    assert!(stdout.contains("removed this run's todos from the server"));
    assert_eq!(count(&db, "todos").await, 0);

    let stdout = run_against(&srv, env!("CARGO_BIN_EXE_users"), &[]);
    assert!(stdout.contains("a guest may not create a post: permission denied"));
    assert!(stdout.contains("removed this run's data from the server"));
    for ns in ["posts", "comments", "profiles", "$users"] {
        assert_eq!(count(&db, ns).await, 0, "{ns} left behind");
    }

    let stdout = run_against(
        &srv,
        env!("CARGO_BIN_EXE_import-export"),
        &["--count", "1000", "--chunk-size", "200"],
    );
    assert!(stdout.contains(
        "imported 1000 todos in 5 chunks of up to 200 (0 chunks failed, 0 rows rejected)"
    ));
    assert!(stdout.contains("removed this run's data from the server"));
    for ns in ["todos", "posts", "comments", "profiles", "tags"] {
        assert_eq!(count(&db, ns).await, 0, "{ns} left behind");
    }
}
