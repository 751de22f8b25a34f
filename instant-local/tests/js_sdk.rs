//! The official `@instantdb/admin` npm package (node/node_modules, pinned) against instant-local:
//! node/local/admin-sdk.mjs asserts every answer with node:assert.

mod common;

use std::process::Command;

#[test]
fn official_js_admin_sdk_against_instant_local() {
    let root = common::repo_root();
    let node_dir = root.join("node");
    assert!(
        node_dir.join("node_modules/@instantdb/admin").is_dir(),
        "run `npm ci --prefix node` first: node/node_modules/@instantdb/admin is missing"
    );
    let server = instant_local::LocalServer::start(
        instant_local::Config::default()
            .schema_file(node_dir.join("local/schema.json"))
            .perms_file(node_dir.join("local/rules.json")),
    )
    .expect("start server");
    let out = Command::new("node")
        .arg("local/admin-sdk.mjs")
        .current_dir(&node_dir)
        .env("INSTANT_API_URI", server.base_url())
        .env("INSTANT_APP_ID", server.app_id())
        .env("INSTANT_APP_ADMIN_TOKEN", server.admin_token())
        .output()
        .expect("node must be on PATH");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "node script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("ALL OK"),
        "script did not finish:\n{stdout}"
    );
}
