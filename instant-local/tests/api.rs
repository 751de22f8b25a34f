//! Admin API behaviour beyond the conformance cases: error envelopes and the order of checks,
//! hostile input, users and tokens, magic codes, storage, live queries, debug endpoints,
//! presence and the library API.

mod common;

use common::{Api, As};
use reqwest::Method;
use serde_json::{json, Value};

fn server_with(schema: Value, rules: Option<Value>) -> instant_local::LocalServer {
    let mut c = instant_local::Config::default().schema_json(schema);
    if let Some(r) = rules {
        c = c.perms_json(r);
    }
    instant_local::LocalServer::start(c).expect("start")
}

fn attr(t: &str, unique: bool, indexed: bool) -> Value {
    json!({"valueType": t, "config": {"unique": unique, "indexed": indexed}, "required": false})
}

async fn raw(
    api: &Api,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut rb = api.http.request(method, format!("{}{}", api.base, path));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.body(b.to_string());
    }
    let r = rb.send().await.expect("send");
    let s = r.status().as_u16();
    (s, r.text().await.unwrap_or_default())
}

#[tokio::test]
async fn errors_use_the_envelope_in_the_servers_order() {
    let server =
        instant_local::LocalServer::start(instant_local::Config::default()).expect("start");
    let api = Api::new(server.base_url());
    let (id, tok) = (
        server.app_id().to_string(),
        server.admin_token().to_string(),
    );
    let bearer = format!("Bearer {tok}");
    let ct = ("content-type", "application/json");

    // No app id: checked before anything else, even before the body.
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("authorization", &bearer)],
        Some("{}"),
    )
    .await;
    let b: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(s, 400);
    assert_eq!(
        b,
        json!({"type": "param-missing", "message": "Missing parameter: [\"headers\" \"app-id\"]",
                         "hint": {"in": ["headers", "app-id"], "possible-ins": [["query-params", "app_id"]]}})
    );
    // Malformed app id.
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", "nope")],
        Some("{}"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains("param-malformed"), "{b}");
    // The app id may come from the query string.
    let (s, _) = raw(
        &api,
        Method::POST,
        &format!("/admin/query?app_id={id}"),
        &[ct, ("authorization", &bearer)],
        Some(r#"{"query":{}}"#),
    )
    .await;
    assert_eq!(s, 200);
    // Missing `query` is reported before missing auth.
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", &id)],
        Some("{}"),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        b.contains(r#"Missing parameter: [\"body\" \"query\"]"#),
        "{b}"
    );
    // Then auth: missing, malformed, wrong token, token of another app.
    let (_, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", &id)],
        Some(r#"{"query":{}}"#),
    )
    .await;
    assert!(
        b.contains(r#"[\"headers\" \"authorization\"]"#) && b.contains("param-missing"),
        "{b}"
    );
    let (_, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", &id), ("authorization", "Bearer abc")],
        Some(r#"{"query":{}}"#),
    )
    .await;
    let b: Value = serde_json::from_str(&b).expect("json");
    assert_eq!(b["type"], "param-malformed");
    assert_eq!(b["hint"]["original-input"], "Bearer abc");
    let wrong = format!("Bearer {}", uuid::Uuid::new_v4());
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", &id), ("authorization", &wrong)],
        Some(r#"{"query":{}}"#),
    )
    .await;
    let b: Value = serde_json::from_str(&b).expect("json");
    assert_eq!((s, b["type"].as_str()), (400, Some("record-not-found")));
    assert_eq!(b["hint"]["record-type"], "app-admin-token");
    let (other, _) = server.create_app("other", None, None).expect("app");
    let (_, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", &other), ("authorization", &bearer)],
        Some(r#"{"query":{}}"#),
    )
    .await;
    assert!(b.contains("app-admin-token"), "{b}");
    // Malformed JSON is answered as text, like ring-json.
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/query",
        &[ct, ("app-id", &id), ("authorization", &bearer)],
        Some(r#"{"query":"#),
    )
    .await;
    assert_eq!((s, b.as_str()), (400, "Malformed JSON in request body."));
    // Without a JSON content type every body parameter reads as missing.
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/transact",
        &[("app-id", &id), ("authorization", &bearer)],
        Some(r#"{"steps":[]}"#),
    )
    .await;
    assert_eq!(s, 400);
    assert!(b.contains(r#"[\"body\" \"steps\"]"#), "{b}");
    // Wrong types are validation errors, never 500s.
    for body in [
        r#"{"query":[]}"#,
        r#"{"query":{"goals":[]}}"#,
        r#"{"query":{"goals":{"$":{"limit":-1}}}}"#,
        r#"{"query":{"goals":{"$":{"nope":1}}}}"#,
        r#"{"query":{"goals":{"$":{"where":{"a":{"$gt":[1]}}}}}}"#,
    ] {
        let (s, b) = raw(
            &api,
            Method::POST,
            "/admin/query",
            &[ct, ("app-id", &id), ("authorization", &bearer)],
            Some(body),
        )
        .await;
        assert_eq!(s, 400, "{body} -> {b}");
        let v: Value = serde_json::from_str(&b).expect("envelope");
        assert!(
            v["type"].is_string() && v["message"].is_string() && v.get("hint").is_some(),
            "{b}"
        );
    }
    for body in [
        r#"{"steps":{}}"#,
        r#"{"steps":[1]}"#,
        r#"{"steps":[["update"]]}"#,
        r#"{"steps":[["update","goals","x",{}]]}"#,
        r#"{"steps":[["update","goals",{"a":1,"b":2},{}]]}"#,
        r#"{"steps":[["create","goals","6fd7b6eb-6fa2-4943-b5a3-2d73c8bd6904",{},{"upsert":true}]]}"#,
        r#"{"steps":[["link","goals","6fd7b6eb-6fa2-4943-b5a3-2d73c8bd6904",{"todos":"lookup__linkOn__undefined"}]]}"#,
    ] {
        let (s, b) = raw(
            &api,
            Method::POST,
            "/admin/transact",
            &[ct, ("app-id", &id), ("authorization", &bearer)],
            Some(body),
        )
        .await;
        assert_eq!(s, 400, "{body} -> {b}");
        assert!(b.contains("\"type\""), "{b}");
    }
    // Unknown routes.
    let (s, b) = raw(&api, Method::GET, "/admin/nope", &[], None).await;
    assert_eq!(
        (s, b.as_str()),
        (404, r#"{"message":"Oops! We couldn't match this route."}"#)
    );
    // Oversized bodies are refused without reading them into the store.
    let big = "x".repeat(instant_local_max_body() + 10);
    let (s, b) = raw(
        &api,
        Method::POST,
        "/admin/transact",
        &[ct, ("app-id", &id), ("authorization", &bearer)],
        Some(&big),
    )
    .await;
    assert_eq!(s, 413);
    let b: Value = serde_json::from_str(&b).expect("envelope");
    assert_eq!(b["type"], "validation-failed");
    let (s, _) = raw(&api, Method::GET, "/admin/transact", &[], None).await;
    assert_eq!(s, 404);
    // Nothing above was written.
    let (_, b) = api
        .post(
            "/admin/query",
            (&id, &tok),
            &As::Admin,
            &json!({"query": {"goals": {}}}),
        )
        .await;
    assert_eq!(b, json!({"goals": []}));
}

fn instant_local_max_body() -> usize {
    64 * 1024 * 1024
}

#[tokio::test]
async fn hostile_names_and_values_are_data_not_sql() {
    let server =
        instant_local::LocalServer::start(instant_local::Config::default()).expect("start");
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let evil_attr = "x'); DROP TABLE triples; --";
    let evil_ns = "ns\" OR 1=1 --";
    let evil_val = "'; DELETE FROM apps; -- \u{1F600} \\ \" %_";
    let id = uuid::Uuid::new_v4().to_string();
    let (s, b) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["update", evil_ns, id, {evil_attr: evil_val, "plain": "ok"}]]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {evil_ns: {"$": {"where": {evil_attr: evil_val}}}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b[evil_ns][0][evil_attr], json!(evil_val));
    assert_eq!(b[evil_ns][0]["id"], json!(id));
    // LIKE metacharacters in values are data too.
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {evil_ns: {"$": {"where": {evil_attr: "%"}}}}}),
        )
        .await;
    assert_eq!(b[evil_ns], json!([]));
    // Null bytes are rejected, not stored.
    let (s, b) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [["update", "n", uuid::Uuid::new_v4().to_string(), {"s": "a\u{0}b"}]]})).await;
    assert_eq!((s, b["type"].as_str()), (400, Some("validation-failed")));
    // The store still works afterwards.
    let (s, _) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"n": {}}}),
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn users_tokens_sign_out_and_magic_codes() {
    let server =
        instant_local::LocalServer::start(instant_local::Config::default()).expect("start");
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let (s, b) = api
        .call(
            Method::GET,
            "/admin/users?email=stopa@instantdb.com",
            Some(app),
            &As::Admin,
            None,
        )
        .await;
    assert_eq!((s, &b), (200, &json!({"user": null})));
    let (s, b) = api
        .post(
            "/admin/refresh_tokens",
            app,
            &As::Admin,
            &json!({"email": " Stopa@InstantDB.com "}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["user"]["email"], "stopa@instantdb.com");
    assert_eq!(b["user"]["isGuest"], false);
    assert_eq!(b["user"]["app_id"], json!(server.app_id()));
    assert!(b["user"]["created_at"]
        .as_str()
        .is_some_and(|c| c.ends_with('Z') && c.len() == 20));
    let tok1 = b["user"]["refresh_token"]
        .as_str()
        .expect("token")
        .to_string();
    let uid = b["user"]["id"].as_str().expect("id").to_string();
    let (_, b) = api
        .post(
            "/admin/refresh_tokens",
            app,
            &As::Admin,
            &json!({"email": "stopa@instantdb.com"}),
        )
        .await;
    let tok2 = b["user"]["refresh_token"]
        .as_str()
        .expect("token")
        .to_string();
    assert_eq!(b["created"], false);
    // verify_refresh_token needs no admin token; the app id travels in the body.
    let (s, b) = api
        .call(
            Method::POST,
            "/runtime/auth/verify_refresh_token",
            None,
            &As::None,
            Some(&json!({"app-id": server.app_id(), "refresh-token": tok1})),
        )
        .await;
    assert_eq!((s, b["user"]["id"].as_str()), (200, Some(uid.as_str())));
    let (s, b) = api
        .call(
            Method::POST,
            "/runtime/auth/verify_refresh_token",
            None,
            &As::None,
            Some(&json!({"app-id": server.app_id(), "refresh-token": "abc"})),
        )
        .await;
    assert_eq!((s, b["type"].as_str()), (400, Some("param-malformed")));
    for q in [
        format!("id={uid}"),
        format!("refresh_token={tok2}"),
        "email=stopa%40instantdb.com".to_string(),
    ] {
        let (s, b) = api
            .call(
                Method::GET,
                &format!("/admin/users?{q}"),
                Some(app),
                &As::Admin,
                None,
            )
            .await;
        assert_eq!(
            (s, b["user"]["id"].as_str()),
            (200, Some(uid.as_str())),
            "{q}"
        );
        assert!(b["user"].get("refresh_token").is_none());
    }
    let (s, b) = api
        .call(Method::GET, "/admin/users", Some(app), &As::Admin, None)
        .await;
    assert_eq!((s, b["type"].as_str()), (400, Some("validation-failed")));
    // Impersonation by token and e-mail; unknown users are record-not-found.
    let (s, _) = api
        .call(
            Method::POST,
            "/admin/query",
            Some((server.app_id(), "")),
            &As::None,
            None,
        )
        .await;
    assert_eq!(s, 400);
    let rb = api
        .http
        .post(format!("{}/admin/query", api.base))
        .header("app-id", server.app_id())
        .header("as-token", tok1.as_str())
        .header("content-type", "application/json")
        .body(r#"{"query":{"goals":{}}}"#);
    assert_eq!(rb.send().await.expect("send").status().as_u16(), 200);
    let (s, b) = api
        .post(
            "/admin/query",
            app,
            &As::Email("nobody@x.com".into()),
            &json!({"query": {"goals": {}}}),
        )
        .await;
    assert_eq!(
        (s, b["hint"]["record-type"].as_str()),
        (400, Some("app-user"))
    );
    // sign_out by refresh token only removes that token; by id removes all.
    let (s, _) = api
        .post(
            "/admin/sign_out",
            app,
            &As::Admin,
            &json!({"refresh_token": tok2}),
        )
        .await;
    assert_eq!(s, 200);
    let verify = |t: String| {
        let api = &api;
        let app_id = server.app_id().to_string();
        async move {
            api.call(
                Method::POST,
                "/runtime/auth/verify_refresh_token",
                None,
                &As::None,
                Some(&json!({"app-id": app_id, "refresh-token": t})),
            )
            .await
            .0
        }
    };
    assert_eq!(verify(tok1.clone()).await, 200);
    assert_eq!(verify(tok2.clone()).await, 400);
    let (s, b) = api
        .post("/admin/sign_out", app, &As::Admin, &json!({"id": uid}))
        .await;
    assert_eq!((s, &b), (200, &json!({"ok": true})));
    assert_eq!(verify(tok1.clone()).await, 400);
    let (s, b) = api
        .post(
            "/admin/sign_out",
            app,
            &As::Admin,
            &json!({"email": "ghost@x.com"}),
        )
        .await;
    assert_eq!((s, b["type"].as_str()), (400, Some("record-not-found")));
    // Magic codes: sent codes are logged for tests instead of e-mailed.
    let (s, b) = api
        .post(
            "/admin/send_magic_code",
            app,
            &As::Admin,
            &json!({"email": "new@x.com"}),
        )
        .await;
    assert_eq!(s, 200);
    let code = server
        .last_magic_code(server.app_id(), "new@x.com")
        .expect("logged code");
    assert_eq!(b["code"], json!(code));
    let (s, b) = api
        .post(
            "/admin/verify_magic_code",
            app,
            &As::Admin,
            &json!({"email": "new@x.com", "code": "999999x"}),
        )
        .await;
    assert_eq!(
        (s, b["hint"]["record-type"].as_str()),
        (400, Some("app-user-magic-code"))
    );
    let (s, b) = api
        .post(
            "/admin/verify_magic_code",
            app,
            &As::Admin,
            &json!({"email": "new@x.com", "code": code}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["created"].as_bool(), b["user"]["type"].as_str()),
        (Some(true), Some("user"))
    );
    let (s, _) = api
        .post(
            "/admin/verify_magic_code",
            app,
            &As::Admin,
            &json!({"email": "new@x.com", "code": code}),
        )
        .await;
    assert_eq!(s, 400, "a code is single-use");
    // delete by e-mail; then the user is gone.
    let (s, b) = api
        .call(
            Method::DELETE,
            "/admin/users?email=new@x.com",
            Some(app),
            &As::Admin,
            None,
        )
        .await;
    assert_eq!(
        (s, b["deleted"]["email"].as_str()),
        (200, Some("new@x.com"))
    );
    let (_, b) = api
        .call(
            Method::DELETE,
            "/admin/users?email=new@x.com",
            Some(app),
            &As::Admin,
            None,
        )
        .await;
    assert_eq!(b, json!({"deleted": null}));
}

#[tokio::test]
async fn storage_with_impersonation_and_files_in_step() {
    let rules = json!({"$files": {"allow": {"create": "auth.id != null", "delete": "auth.id != null", "view": "true"}}});
    let server = server_with(json!({"entities": {}, "links": {}}), Some(rules));
    let api = Api::new(server.base_url());
    let (id, tok) = (
        server.app_id().to_string(),
        server.admin_token().to_string(),
    );
    let app = (id.as_str(), tok.as_str());
    let (_, b) = api
        .post(
            "/admin/refresh_tokens",
            app,
            &As::Admin,
            &json!({"email": "test-user@example.com"}),
        )
        .await;
    let rt = b["user"]["refresh_token"].as_str().expect("rt").to_string();
    let upload = |path: &'static str, who: &'static str| {
        let mut rb = api
            .http
            .put(format!("{}/admin/storage/upload", api.base))
            .header("app-id", id.as_str())
            .header("path", path)
            .header("content-type", "text/plain")
            .body(vec![1u8, 2, 3, 4, 5]);
        rb = match who {
            "admin" => rb.header("authorization", format!("Bearer {tok}")),
            "email" => rb
                .header("authorization", format!("Bearer {tok}"))
                .header("as-email", "test-user@example.com"),
            "token" => rb.header("as-token", rt.as_str()),
            _ => rb
                .header("authorization", format!("Bearer {tok}"))
                .header("as-guest", "true"),
        };
        async move {
            let r = rb.send().await.expect("send");
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, b) = upload("admin-file.txt", "admin").await;
    assert_eq!(s, 200, "{b}");
    assert!(b["data"]["id"].is_string());
    assert_eq!(b["data"]["size"], 5);
    assert_eq!(upload("user-file.txt", "email").await.0, 200);
    assert_eq!(upload("token-file.txt", "token").await.0, 200);
    let (s, b) = upload("guest-file.txt", "guest").await;
    assert_eq!((s, b["type"].as_str()), (400, Some("permission-denied")));
    assert_eq!(
        b["message"],
        "Permission denied: not has-storage-permission?"
    );
    // $files rows follow the uploads; re-uploading a path replaces its row.
    let (s, _) = upload("admin-file.txt", "admin").await;
    assert_eq!(s, 200);
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"$files": {"$": {"order": {"path": "asc"}}}}}),
        )
        .await;
    let files = b["$files"].as_array().expect("files");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(paths, ["admin-file.txt", "token-file.txt", "user-file.txt"]);
    assert_eq!(files[0]["content-type"], "text/plain");
    let url = files[0]["url"].as_str().expect("url");
    let bytes = api
        .http
        .get(url)
        .send()
        .await
        .expect("download")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.as_ref(), &[1u8, 2, 3, 4, 5]);
    // Legacy list, delete one (guest denied), delete many.
    let (_, b) = api
        .call(
            Method::GET,
            "/admin/storage/files",
            Some(app),
            &As::Admin,
            None,
        )
        .await;
    assert_eq!(b["data"].as_array().map(Vec::len), Some(3));
    let (s, b) = api
        .call(
            Method::DELETE,
            "/admin/storage/files?filename=user-file.txt",
            Some(app),
            &As::Guest,
            None,
        )
        .await;
    assert_eq!((s, b["type"].as_str()), (400, Some("permission-denied")));
    let (s, b) = api
        .call(
            Method::DELETE,
            "/admin/storage/files?filename=user-file.txt",
            Some(app),
            &As::Email("test-user@example.com".into()),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert!(b["data"]["id"].is_string());
    let (s, b) = api
        .post(
            "/admin/storage/files/delete",
            app,
            &As::Admin,
            &json!({"filenames": ["admin-file.txt", "token-file.txt"]}),
        )
        .await;
    assert_eq!(
        (s, b["data"]["ids"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"$files": {}}}),
        )
        .await;
    assert_eq!(b, json!({"$files": []}));
    // Signed upload URL served by the same server, single use.
    let (_, b) = api
        .post(
            "/admin/storage/signed-upload-url",
            app,
            &As::Admin,
            &json!({"app_id": id, "filename": "up.txt"}),
        )
        .await;
    let put_url = b["data"].as_str().expect("url").to_string();
    let r = api
        .http
        .put(&put_url)
        .body("hello")
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        api.http
            .put(&put_url)
            .body("again")
            .send()
            .await
            .expect("put")
            .status()
            .as_u16(),
        400
    );
    let (_, b) = api
        .call(
            Method::GET,
            "/admin/storage/signed-download-url?filename=up.txt",
            Some(app),
            &As::Admin,
            None,
        )
        .await;
    let text = api
        .http
        .get(b["data"].as_str().expect("url"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert_eq!(text, "hello");
    // Deleting a $files row through transact deletes the file too.
    let (s, _) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["delete", "$files", ["path", "up.txt"]]]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"$files": {}}}),
        )
        .await;
    assert_eq!(b, json!({"$files": []}));
    // System columns of $files are not writable, even by admin.
    let (s, b) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [["update", "$files", uuid::Uuid::new_v4().to_string(), {"size": 3}]]})).await;
    assert_eq!((s, b["type"].as_str()), (400, Some("validation-failed")));
}

async fn next_event(resp: &mut reqwest::Response, buf: &mut String) -> Value {
    loop {
        while let Some(i) = buf.find("\n\n") {
            let block: String = buf.drain(..i + 2).collect();
            for line in block.lines() {
                if let Some(d) = line.strip_prefix("data:") {
                    return serde_json::from_str(d.trim()).expect("event json");
                }
            }
        }
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
            .await
            .expect("event in time")
            .expect("chunk")
            .expect("open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn subscribe_query_streams_refreshes_and_presence_is_empty() {
    let schema = json!({"entities": {"goals": {"attrs": {"title": attr("string", false, false), "n": attr("number", false, true)}}}, "links": {}});
    let server = server_with(schema, None);
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let (s, _) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [["update", "goals", uuid::Uuid::new_v4().to_string(), {"title": "a", "n": 1}]]})).await;
    assert_eq!(s, 200);
    // Errors before the stream opens are plain JSON.
    let (s, b) = api
        .call(
            Method::POST,
            "/admin/subscribe-query",
            Some(app),
            &As::Admin,
            Some(&json!({})),
        )
        .await;
    assert_eq!((s, b["type"].as_str()), (400, Some("param-missing")));
    let mut resp = api.http.post(format!("{}/admin/subscribe-query?local_connection_id={}", api.base, uuid::Uuid::new_v4()))
        .header("app-id", app.0).header("authorization", format!("Bearer {}", app.1)).header("content-type", "application/json")
        .body(json!({"query": {"goals": {"$": {"order": {"n": "asc"}, "limit": 10}}}, "inference?": false}).to_string())
        .send().await.expect("subscribe");
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("text/event-stream"));
    let mut buf = String::new();
    let init = next_event(&mut resp, &mut buf).await;
    assert_eq!(init["op"], "sse-init");
    assert!(init["session-id"].is_string() && init["machine-id"].is_string());
    let first = next_event(&mut resp, &mut buf).await;
    assert_eq!(first["op"], "add-query-ok");
    assert_eq!(first["result"]["goals"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        first["result-meta"]["page-info"]["goals"]["has-next-page?"],
        false
    );
    let (s, _) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [["update", "goals", uuid::Uuid::new_v4().to_string(), {"title": "b", "n": 2}]]})).await;
    assert_eq!(s, 200);
    let refresh = next_event(&mut resp, &mut buf).await;
    assert_eq!(refresh["op"], "refresh-ok");
    let titles: Vec<&str> = refresh["computations"][0]["instaql-result"]["goals"]
        .as_array()
        .expect("goals")
        .iter()
        .filter_map(|g| g["title"].as_str())
        .collect();
    assert_eq!(titles, ["a", "b"]);
    assert!(refresh["attrs"].as_array().is_some_and(|a| !a.is_empty()));
    drop(resp);
    let (s, b) = api
        .call(
            Method::GET,
            "/admin/rooms/presence?room-type=chat&room-id=r1",
            Some(app),
            &As::Admin,
            None,
        )
        .await;
    assert_eq!((s, b), (200, json!({"sessions": null})));
}

#[tokio::test]
async fn debug_endpoints_and_cursors() {
    let schema = json!({"entities": {"goals": {"attrs": {"title": attr("string", false, false), "n": attr("number", false, true)}}}, "links": {}});
    let server = server_with(
        schema,
        Some(json!({"goals": {"allow": {"view": "data.n > 1", "update": "false"}}})),
    );
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let ids: Vec<String> = (0..5)
        .map(|i| format!("00000000-0000-4000-8000-00000000000{i}"))
        .collect();
    let steps: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!(["update", "goals", id, {"title": format!("g{i}"), "n": i}]))
        .collect();
    let (s, _) = api
        .post("/admin/transact", app, &As::Admin, &json!({"steps": steps}))
        .await;
    assert_eq!(s, 200);
    // Debug endpoints require impersonation.
    let (s, b) = api
        .post(
            "/admin/query_perms_check",
            app,
            &As::Admin,
            &json!({"query": {"goals": {}}}),
        )
        .await;
    assert_eq!(
        (s, b["message"].as_str()),
        (
            400,
            Some("Validation failed for non-admin: Cannot test perms as admin")
        )
    );
    let (s, b) = api
        .post(
            "/admin/query_perms_check",
            app,
            &As::Guest,
            &json!({"query": {"goals": {}}}),
        )
        .await;
    assert_eq!(s, 400, "guest without admin token: {b}");
    let rb = api
        .http
        .post(format!("{}/admin/query_perms_check", api.base))
        .header("app-id", app.0)
        .header("authorization", format!("Bearer {}", app.1))
        .header("as-guest", "true")
        .header("content-type", "application/json")
        .body(json!({"query": {"goals": {}}}).to_string());
    let b: Value = rb.send().await.expect("send").json().await.expect("json");
    assert_eq!(b["result"]["goals"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        b["check-results"]
            .as_array()
            .map(|c| c.iter().filter(|r| r["check"] == false).count()),
        Some(2)
    );
    let rb = api.http.post(format!("{}/admin/transact_perms_check", api.base)).header("app-id", app.0)
        .header("authorization", format!("Bearer {}", app.1)).header("as-guest", "true").header("content-type", "application/json")
        .body(json!({"steps": [["update", "goals", ids[4], {"title": "changed"}]], "rules-override": {"goals": {"allow": {"update": "true"}}}}).to_string());
    let b: Value = rb.send().await.expect("send").json().await.expect("json");
    assert_eq!(
        (b["all-checks-ok?"].as_bool(), b["committed?"].as_bool()),
        (Some(true), Some(false)),
        "{b}"
    );
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"goals": {"$": {"where": {"id": ids[4]}}}}}),
        )
        .await;
    assert_eq!(b["goals"][0]["title"], "g4", "dry run rolled back");
    // Cursor pagination on the indexed attribute.
    let (_, b) = api.post("/admin/query", app, &As::Admin, &json!({"query": {"goals": {"$": {"order": {"n": "asc"}, "first": 2, "fields": ["n"]}}}})).await;
    assert_eq!(
        b["goals"],
        json!([{"id": ids[0], "n": 0}, {"id": ids[1], "n": 1}])
    );
    let (_, b) = api.post("/admin/query", app, &As::Admin, &json!({"query": {"goals": {"$": {"order": {"n": "desc"}, "offset": 1, "limit": 2, "fields": ["n"]}}}})).await;
    assert_eq!(
        b["goals"],
        json!([{"id": ids[3], "n": 3}, {"id": ids[2], "n": 2}])
    );
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"goals": {"$": {"where": {"n": {"$in": [1, 3]}}, "fields": ["n"]}}}}),
        )
        .await;
    assert_eq!(b["goals"].as_array().map(Vec::len), Some(2));
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"goals": {"$": {"where": {"title": {"$like": "g%"}}}}}}),
        )
        .await;
    assert_eq!(
        b["type"], "validation-failed",
        "LIKE needs an indexed attribute"
    );
}

#[test]
fn library_api_apps_and_drop() {
    let server = instant_local::LocalServer::start(
        instant_local::Config::default()
            .app_id(uuid::Uuid::nil())
            .admin_token(uuid::Uuid::max()),
    )
    .expect("start");
    assert_eq!(server.app_id(), uuid::Uuid::nil().to_string());
    assert_eq!(server.admin_token(), uuid::Uuid::max().to_string());
    assert!(
        server.base_url().starts_with("http://127.0.0.1:") && !server.base_url().ends_with('/')
    );
    let (a, t) = server
        .create_app("fresh", Some(json!({"entities": {}, "links": {}})), None)
        .expect("create");
    assert!(uuid::Uuid::parse_str(&a).is_ok() && uuid::Uuid::parse_str(&t).is_ok());
    let bad = server.create_app("bad", Some(json!({"entities": []})), None);
    assert!(bad.is_err());
    let addr = server.base_url().trim_start_matches("http://").to_string();
    assert!(std::net::TcpStream::connect(&addr).is_ok());
    drop(server);
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "the server stops when dropped"
    );
}

#[tokio::test]
async fn start_works_inside_a_current_thread_runtime() {
    let server =
        instant_local::LocalServer::start(instant_local::Config::default()).expect("start");
    let api = Api::new(server.base_url());
    let (s, b) = api
        .post(
            "/admin/transact",
            (server.app_id(), server.admin_token()),
            &As::Admin,
            &json!({"steps": [["update", "a", uuid::Uuid::new_v4().to_string(), {"x": 1}]]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["tx-id"].is_number());
}

#[tokio::test]
async fn typescript_schema_and_perms_files() {
    let dir = std::env::temp_dir().join(format!("instant-local-ts-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let schema = dir.join("instant.schema.ts");
    std::fs::write(
        &schema,
        r#"import { i } from "@instantdb/admin";
const _schema = i.schema({
  entities: {
    posts: i.entity({ title: i.string(), rank: i.number().indexed() }),
    authors: i.entity({ name: i.string().unique().indexed() }),
  },
  links: {
    postAuthor: {
      forward: { on: "posts", has: "one", label: "author", onDelete: "cascade" },
      reverse: { on: "authors", has: "many", label: "posts" },
    },
  },
});
export default _schema;
"#,
    )
    .expect("write schema");
    let perms = dir.join("instant.perms.ts");
    std::fs::write(
        &perms,
        r#"import type { InstantRules } from "@instantdb/admin";
const rules = { posts: { allow: { view: "data.rank > 1" } } } satisfies InstantRules;
export default rules;
"#,
    )
    .expect("write perms");
    let server = instant_local::LocalServer::start(
        instant_local::Config::default()
            .schema_file(&schema)
            .perms_file(&perms),
    )
    .expect("start");
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let (a, p1, p2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let (s, b) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [
        ["update", "authors", a, {"name": "Leo"}],
        ["update", "posts", p1, {"title": "one", "rank": 1}], ["link", "posts", p1, {"author": ["name", "Leo"]}],
        ["update", "posts", p2, {"title": "two", "rank": 2}], ["link", "posts", p2, {"author": a}]],
        "throw-on-missing-attrs?": true})).await;
    assert_eq!(
        s, 400,
        "an array link target is a list of ids, not a lookup: {b}"
    );
    let (s, _) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["update", "authors", a, {"name": "Leo"}]]}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [
        ["update", "posts", p1, {"title": "one", "rank": 1}], ["link", "posts", p1, {"author": "lookup__name__\"Leo\""}],
        ["update", "posts", p2, {"title": "two", "rank": 2}], ["link", "posts", p2, {"author": a}]],
        "throw-on-missing-attrs?": true})).await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = api.post("/admin/query", app, &As::Admin, &json!({"query": {"posts": {"$": {"order": {"rank": "asc"}}, "author": {}}}, "inference?": true})).await;
    assert_eq!(b["posts"][0]["author"]["name"], "Leo", "{b}");
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Guest,
            &json!({"query": {"posts": {}}}),
        )
        .await;
    assert_eq!(
        b["posts"].as_array().map(Vec::len),
        Some(1),
        "rules from instant.perms.ts apply: {b}"
    );
    let (s, b) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [["update", "posts", p1, {"color": "red"}]], "throw-on-missing-attrs?": true})).await;
    assert_eq!(
        (s, b["hint"]["errors"][0]["hint"]["attributes"].clone()),
        (400, json!(["posts.color"]))
    );
    // onDelete cascade from the TS schema.
    let (s, _) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["delete", "authors", a]]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"posts": {}}}),
        )
        .await;
    assert_eq!(b, json!({"posts": []}));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn permissions_follow_where_paths_and_cascades() {
    let schema = json!({
        "entities": {
            "$users": {"attrs": {"email": attr("string", true, true)}},
            "books": {"attrs": {"title": attr("string", false, false)}},
            "authors": {"attrs": {"name": attr("string", false, false)}},
            "posts": {"attrs": {"title": attr("string", false, false)}}
        },
        "links": {
            "booksCreator": {"forward": {"on": "books", "has": "one", "label": "creator"}, "reverse": {"on": "$users", "has": "many", "label": "books"}},
            "postsAuthor": {"forward": {"on": "posts", "has": "one", "label": "author", "onDelete": "cascade"}, "reverse": {"on": "authors", "has": "many", "label": "posts"}}
        }
    });
    let server = server_with(
        schema,
        Some(json!({"posts": {"allow": {"delete": "false"}}})),
    );
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let (ua, ub, b1, b2) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let (au, po) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let (s, b) = api.post("/admin/transact", app, &As::Admin, &json!({"steps": [
        ["update", "$users", ua, {"email": "a@x.com"}], ["update", "$users", ub, {"email": "b@x.com"}],
        ["update", "books", b1, {"title": "A's"}], ["link", "books", b1, {"creator": ua}],
        ["update", "books", b2, {"title": "B's"}], ["link", "books", b2, {"creator": ub}],
        ["update", "authors", au, {"name": "Leo"}], ["update", "posts", po, {"title": "War"}], ["link", "posts", po, {"author": au}]]})).await;
    assert_eq!(s, 200, "{b}");
    let who = As::Email("a@x.com".into());
    let q = |email: &str| json!({"query": {"books": {"$": {"where": {"creator.email": email}}}}});
    let (_, b) = api.post("/admin/query", app, &who, &q("b@x.com")).await;
    assert_eq!(
        b,
        json!({"books": []}),
        "a where path through a $users row a@x.com may not view drops the row"
    );
    let (_, b) = api.post("/admin/query", app, &who, &q("a@x.com")).await;
    assert_eq!(b["books"].as_array().map(Vec::len), Some(1));
    let (_, b) = api
        .post("/admin/query", app, &As::Admin, &q("b@x.com"))
        .await;
    assert_eq!(b["books"].as_array().map(Vec::len), Some(1));
    // Deleting the author would cascade to a post whose delete rule is false.
    let (s, b) = api
        .post(
            "/admin/transact",
            app,
            &As::Guest,
            &json!({"steps": [["delete", "authors", au]]}),
        )
        .await;
    assert_eq!(
        (s, b["type"].as_str()),
        (400, Some("permission-denied")),
        "{b}"
    );
    assert_eq!(b["hint"]["input"], json!(["posts", "object"]));
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"posts": {}, "authors": {}}}),
        )
        .await;
    assert_eq!(
        (
            b["posts"].as_array().map(Vec::len),
            b["authors"].as_array().map(Vec::len)
        ),
        (Some(1), Some(1))
    );
    let (s, _) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["delete", "authors", au]]}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"posts": {}, "authors": {}}}),
        )
        .await;
    assert_eq!(b, json!({"posts": [], "authors": []}));
}

#[tokio::test]
async fn cursors_from_page_info_page_through_results() {
    let schema =
        json!({"entities": {"items": {"attrs": {"n": attr("number", false, true)}}}, "links": {}});
    let server = server_with(schema, None);
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let steps: Vec<Value> = (0..5)
        .map(|i| json!(["update", "items", uuid::Uuid::new_v4().to_string(), {"n": i}]))
        .collect();
    let (s, _) = api
        .post("/admin/transact", app, &As::Admin, &json!({"steps": steps}))
        .await;
    assert_eq!(s, 200);
    let page = |q: Value| {
        let api = &api;
        async move {
            let mut resp = api
                .http
                .post(format!("{}/admin/subscribe-query", api.base))
                .header("app-id", app.0)
                .header("authorization", format!("Bearer {}", app.1))
                .header("content-type", "application/json")
                .body(json!({"query": {"items": q}}).to_string())
                .send()
                .await
                .expect("subscribe");
            let mut buf = String::new();
            let _init = next_event(&mut resp, &mut buf).await;
            let ok = next_event(&mut resp, &mut buf).await;
            assert_eq!(ok["op"], "add-query-ok", "{ok}");
            let ns: Vec<i64> = ok["result"]["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter_map(|i| i["n"].as_i64())
                .collect();
            (ns, ok["result-meta"]["page-info"]["items"].clone())
        }
    };
    let (ns, info) = page(json!({"$": {"order": {"n": "asc"}, "first": 2}})).await;
    assert_eq!(ns, [0, 1]);
    assert_eq!(
        (
            info["has-next-page?"].as_bool(),
            info["has-previous-page?"].as_bool()
        ),
        (Some(true), Some(false))
    );
    let (ns, info) =
        page(json!({"$": {"order": {"n": "asc"}, "first": 2, "after": info["end-cursor"]}})).await;
    assert_eq!(ns, [2, 3]);
    assert_eq!(
        (
            info["has-next-page?"].as_bool(),
            info["has-previous-page?"].as_bool()
        ),
        (Some(true), Some(true))
    );
    let (ns, info) =
        page(json!({"$": {"order": {"n": "asc"}, "last": 2, "before": info["start-cursor"]}}))
            .await;
    assert_eq!(ns, [0, 1]);
    assert_eq!(info["has-previous-page?"], false);
    let (ns, _) = page(json!({"$": {"order": {"n": "desc"}, "last": 2}})).await;
    assert_eq!(ns, [1, 0], "last n come back in the query's direction");
    let (ns, info) = page(json!({"$": {"order": {"n": "asc"}, "offset": 10, "limit": 2}})).await;
    assert!(ns.is_empty());
    assert_eq!(
        info["has-previous-page?"], true,
        "an empty page after an offset has a previous page"
    );
}

#[tokio::test]
async fn updates_of_several_existing_entities_keep_their_required_attributes() {
    let schema = json!({"entities": {"todos": {"attrs": {
        "text": {"valueType": "string", "config": {"unique": false, "indexed": false}, "required": true},
        "done": {"valueType": "boolean", "config": {"unique": false, "indexed": true}, "required": false}
    }}}, "links": {}});
    let server = server_with(schema, None);
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let (e1, e2) = (
        "00000000-0000-4000-8000-0000000000e1",
        "00000000-0000-4000-8000-0000000000e2",
    );
    let (s, b) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["update", "todos", e1, {"text": "a"}], ["update", "todos", e2, {"text": "b"}]]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    // Two updates of existing entities in one transaction, not touching the required attribute.
    let (s, b) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["update", "todos", e1, {"done": true}], ["update", "todos", e2, {"done": true}]]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = api
        .post(
            "/admin/query",
            app,
            &As::Admin,
            &json!({"query": {"todos": {}}}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["todos"],
        json!([
            {"id": e1, "text": "a", "done": true},
            {"id": e2, "text": "b", "done": true}
        ])
    );
}

/// Without rules, query answers are written straight from the stored documents; with rules
/// they are built as maps. Under rules that allow everything both give the same answers
/// (every entity here has its links, since the rules path leaves out empty links).
#[tokio::test]
async fn answers_without_rules_match_answers_built_under_rules() {
    let schema = json!({
        "entities": {
            "goals": {"attrs": {"title": attr("string", false, false), "n": attr("number", false, true),
                                "meta": attr("json", false, false)}},
            "todos": {"attrs": {"title": attr("string", false, false), "done": attr("boolean", false, true)}},
            "owners": {"attrs": {"name": attr("string", true, true)}}},
        "links": {
            "goalsTodos": {"forward": {"on": "goals", "has": "many", "label": "todos"},
                           "reverse": {"on": "todos", "has": "many", "label": "goals"}},
            "goalsOwner": {"forward": {"on": "goals", "has": "one", "label": "owner"},
                           "reverse": {"on": "owners", "has": "many", "label": "goals"}}}});
    let rules = json!({"goals": {"allow": {"view": "true"}}, "todos": {"allow": {"view": "true"}},
                       "owners": {"allow": {"view": "true"}}});
    let server = server_with(schema, Some(rules));
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let id = |p: &str, i: usize| format!("00000000-0000-4000-8000-{p}{i:011}");
    let mut steps = Vec::new();
    for o in 0..2 {
        steps.push(json!(["update", "owners", id("1", o), {"name": format!("owner \"{o}\"\n")}]));
    }
    for g in 0..4 {
        steps.push(
            json!(["update", "goals", id("2", g), {"title": format!("goal {g} é"), "n": (g * 7) % 5,
            "meta": {"k": [g, null, "x"]}}]),
        );
        steps.push(json!(["link", "goals", id("2", g), {"owner": id("1", g % 2)}]));
        for t in 0..3 {
            let tid = id("3", g * 3 + t);
            steps.push(
                json!(["update", "todos", tid, {"title": format!("todo {t}"), "done": t % 2 == 0}]),
            );
            steps.push(json!(["link", "goals", id("2", g), {"todos": tid}]));
        }
    }
    let (s, b) = api
        .post("/admin/transact", app, &As::Admin, &json!({"steps": steps}))
        .await;
    assert_eq!(s, 200, "{b}");
    let queries = [
        json!({"goals": {}}),
        json!({"goals": {"todos": {}, "owner": {}}}),
        json!({"goals": {"$": {"order": {"n": "desc"}}, "todos": {"$": {"order": {"title": "desc"}}}}}),
        json!({"goals": {"$": {"fields": ["title"]}, "todos": {"$": {"fields": ["done"]}}}}),
        json!({"goals": {"$": {"where": {"n": 2}}}, "owners": {"goals": {"todos": {}}}}),
        json!({"todos": {"$": {"where": {"done": true}, "order": {"serverCreatedAt": "desc"}}, "goals": {"owner": {}}}}),
    ];
    for q in queries {
        for inference in [false, true] {
            let body = json!({"query": q, "inference?": inference});
            let (s1, admin) = api.post("/admin/query", app, &As::Admin, &body).await;
            let (s2, guest) = api.post("/admin/query", app, &As::Guest, &body).await;
            assert_eq!((s1, s2), (200, 200), "{admin} {guest}");
            assert_eq!(admin, guest, "query {q} inference {inference}");
            assert!(admin.as_object().is_some_and(|m| !m.is_empty()), "{admin}");
        }
    }
}

#[tokio::test]
async fn schema_route_answers_in_the_servers_refs_and_blobs_shape() {
    let server = server_with(
        json!({"entities": {
                 "goals": {"attrs": {"title": attr("string", true, true)}},
                 "todos": {"attrs": {"done": attr("boolean", false, false), "meta": attr("json", false, false)}}},
               "links": {"goalTodos": {
                 "forward": {"on": "goals", "has": "many", "label": "todos"},
                 "reverse": {"on": "todos", "has": "one", "label": "goal", "onDelete": "cascade"}}}}),
        None,
    );
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let (status, body) = api
        .call(Method::GET, "/admin/schema", Some(app), &As::Admin, None)
        .await;
    assert_eq!(status, 200, "{body}");
    let schema = &body["schema"];
    let title = &schema["blobs"]["goals"]["title"];
    assert_eq!(title["value-type"], "blob");
    assert_eq!(title["cardinality"], "one");
    assert_eq!(title["forward-identity"][1], "goals");
    assert_eq!(title["forward-identity"][2], "title");
    assert_eq!(
        (&title["unique?"], &title["index?"], &title["required?"]),
        (&json!(true), &json!(true), &json!(false))
    );
    assert_eq!(title["checked-data-type"], "string");
    assert_eq!(title["catalog"], "user");
    assert_eq!(
        schema["blobs"]["todos"]["done"]["checked-data-type"],
        "boolean"
    );
    assert!(schema["blobs"]["todos"]["meta"]
        .get("checked-data-type")
        .is_none());
    assert!(schema["blobs"]["todos"]["id"].is_object());

    let link = &schema["refs"]["goals-todos-todos-goal"];
    assert_eq!(link["value-type"], "ref");
    assert_eq!(link["cardinality"], "many");
    assert_eq!(link["unique?"], true);
    assert_eq!(link["reverse-identity"][1], "todos");
    assert_eq!(link["reverse-identity"][2], "goal");
    assert_eq!(link["on-delete-reverse"], "cascade");
    assert!(link.get("on-delete").is_none());
    assert_eq!(
        schema["refs"].as_object().map(|r| r.len()),
        Some(3),
        "{schema}"
    );
    assert!(schema["refs"]["$users-linkedPrimaryUser-$users-linkedGuestUsers"].is_object());
    assert!(schema["refs"]["$streams-$files-$files-$stream"].is_object());
    assert!(schema["blobs"]["$streams"]["clientId"].is_object());
    assert!(schema["blobs"]["$streams"]
        .get("hashedReconnectToken")
        .is_none());

    // System namespaces are there, without the internal columns of $files.
    assert_eq!(schema["blobs"]["$users"]["email"]["catalog"], "system");
    assert!(schema["blobs"]["$files"]["path"].is_object());
    assert_eq!(schema["blobs"]["$files"]["url"]["required?"], true);
    for hidden in [
        "content-type",
        "content-disposition",
        "size",
        "location-id",
        "key-version",
    ] {
        assert!(schema["blobs"]["$files"].get(hidden).is_none(), "{hidden}");
    }
    assert!(schema.get("attrs").is_none());
}

#[tokio::test]
async fn stream_records_are_the_servers_own() {
    let server =
        instant_local::LocalServer::start(instant_local::Config::default()).expect("start");
    let api = Api::new(server.base_url());
    let app = (server.app_id(), server.admin_token());
    let id = "8aa64e4c-64f9-472e-8a61-3fa28870e6cb";
    let (status, body) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["update", "$streams", id, {"clientId": "mine"}]]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["hint"]["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("$streams.clientId is a system column")),
        "{body}"
    );
    let (status, body) = api
        .post(
            "/admin/transact",
            app,
            &As::Admin,
            &json!({"steps": [["update", "$files", id, {"path": "$stream/x/0"}]]}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string()
            .contains("The path for stream files can't be edited."),
        "{body}"
    );
}
