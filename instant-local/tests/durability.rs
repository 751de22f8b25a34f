//! With `--data`, an answered transaction survives `kill -9`, a failed one leaves nothing
//! behind, and the same app id and admin token come back on restart.

mod common;

use common::{Api, As, Spawned};
use serde_json::json;

#[tokio::test]
async fn transactions_survive_kill_9_and_failed_ones_leave_nothing() {
    let dir = std::env::temp_dir().join(format!("instant-local-dur-{}", uuid::Uuid::new_v4()));
    let dir_s = dir.to_string_lossy().to_string();
    let schema = dir.with_extension("schema.json");
    std::fs::write(
        &schema,
        json!({"entities": {"users": {"attrs": {
            "email": {"valueType": "string", "config": {"unique": true, "indexed": true}, "required": false}}}},
            "links": {}})
        .to_string(),
    )
    .expect("write schema");
    let schema_s = schema.to_string_lossy().to_string();

    let mut first = Spawned::start(&["--port", "0", "--data", &dir_s, "--schema", &schema_s]);
    let api = Api::new(&first.base);
    let app = (first.app_id.clone(), first.token.clone());
    let appr = (app.0.as_str(), app.1.as_str());
    let ids: Vec<String> = (0..50).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for (i, id) in ids.iter().enumerate() {
        let (s, b) = api
            .post("/admin/transact", appr, &As::Admin, &json!({"steps": [["update", "users", id, {"email": format!("u{i}@x.com"), "n": i}]]}))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    // Atomicity: the second step violates uniqueness, so the first must not be written either.
    let (s, b) = api
        .post(
            "/admin/transact",
            appr,
            &As::Admin,
            &json!({"steps": [["update", "users", uuid::Uuid::new_v4().to_string(), {"email": "fresh@x.com"}],
                              ["update", "users", uuid::Uuid::new_v4().to_string(), {"email": "u0@x.com"}]]}),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(b["type"], "record-not-unique");
    first.kill9();

    let second = Spawned::start(&["--port", "0", "--data", &dir_s]);
    assert_eq!(second.app_id, app.0, "same app id after restart");
    assert_eq!(second.token, app.1, "same admin token after restart");
    let api = Api::new(&second.base);
    let (s, b) = api
        .post(
            "/admin/query",
            appr,
            &As::Admin,
            &json!({"query": {"users": {"$": {"order": {"email": "asc"}}}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let users = b["users"].as_array().expect("users");
    assert_eq!(
        users.len(),
        50,
        "every answered transaction survived kill -9"
    );
    assert!(
        users.iter().all(|u| u["email"] != "fresh@x.com"),
        "the failed transaction left nothing"
    );
    let (_, b) = api
        .post(
            "/admin/query",
            appr,
            &As::Admin,
            &json!({"query": {"users": {"$": {"where": {"email": "u7@x.com"}}}}}),
        )
        .await;
    assert_eq!(b["users"][0]["id"], json!(ids[7]));
    assert_eq!(b["users"][0]["n"], json!(7));
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&schema);
}
