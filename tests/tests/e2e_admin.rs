//! End to end: the instant-admin client against the embedded instant-local server, covering every
//! call of the client.

use std::time::Duration;

use futures::StreamExt;
use instant_admin::{
    AsUser, ChunkOptions, Config, DebugQueryOptions, DebugTransactOptions, Error, FileOptions,
    Instant, Lookup, QueryOptions, Step, TokenFor, UploadSource, UserRef,
};
use instant_local::LocalServer;
use serde_json::{json, Value};

fn start() -> (LocalServer, Instant) {
    let srv = LocalServer::start(instant_local::Config::default()).expect("instant-local starts");
    let db =
        Instant::new(Config::new(srv.app_id(), srv.admin_token()).api_uri(srv.base_url())).unwrap();
    (srv, db)
}

fn titles(v: &Value, ns: &str) -> Vec<String> {
    let mut t: Vec<String> = v[ns]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .filter_map(|r| r["title"].as_str().map(str::to_owned))
        .collect();
    t.sort();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_and_transactions() {
    let (_srv, db) = start();
    let g = instant_admin::id();
    let t1 = instant_admin::id();
    let t2 = instant_admin::id();
    let r = db
        .transact((
            Step::update("goals", &g, json!({"title": "Get fit", "meta": {"a": 1}})),
            Step::create("todos", &t1, json!({"title": "Run"})),
            Step::update("todos", &t2, json!({"title": "Swim"})),
            Step::link("goals", &g, json!({"todos": [t1.clone(), t2.clone()]})),
        ))
        .await
        .unwrap();
    assert!(r.tx_id > 0);

    let v = db.query(json!({"goals": {"todos": {}}})).await.unwrap();
    assert_eq!(titles(&v, "goals"), ["Get fit"]);
    assert_eq!(titles(&v["goals"][0], "todos"), ["Run", "Swim"]);

    db.transact([
        Step::merge("goals", &g, json!({"meta": {"b": 2}})),
        Step::unlink("goals", &g, json!({"todos": t2.clone()})),
        Step::delete("todos", &t2),
    ])
    .await
    .unwrap();
    let v = db
        .query(json!({"goals": {"$": {"where": {"id": g.clone()}}, "todos": {}}}))
        .await
        .unwrap();
    assert_eq!(v["goals"][0]["meta"], json!({"a": 1, "b": 2}));
    assert_eq!(titles(&v["goals"][0], "todos"), ["Run"]);

    // Strict update of a missing entity fails with a typed error.
    let e = db
        .transact(Step::update("goals", instant_admin::id(), json!({"title": "x"})).upsert(false))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ValidationFailed(_)), "{e:?}");
    // A create of an existing entity fails too.
    let e = db
        .transact(Step::create("todos", &t1, json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400), "{e:?}");

    // Steps as raw JSON, with a query that is not an object refused before sending.
    db.transact(json!([["update", "goals", instant_admin::id(), {"title": "raw"}]]))
        .await
        .unwrap();
    assert!(matches!(
        db.query(json!([1])).await,
        Err(Error::InvalidInput(_))
    ));
    let e = db.query(json!({"goals": {"todos": []}})).await.unwrap_err();
    assert!(matches!(e, Error::ValidationFailed(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_in_entity_and_link_position() {
    let (_srv, db) = start();
    db.transact([
        Step::add_attr(json!({"id": instant_admin::id(), "forward-identity": [instant_admin::id(), "users", "handle"],
            "value-type": "blob", "cardinality": "one", "unique?": true, "index?": true})),
        Step::add_attr(json!({"id": instant_admin::id(), "forward-identity": [instant_admin::id(), "tasks", "slug"],
            "value-type": "blob", "cardinality": "one", "unique?": true, "index?": true})),
    ])
    .await
    .unwrap();
    db.transact([
        Step::update(
            "users",
            Lookup::new("handle", "stopa"),
            json!({"name": "Stepan"}),
        ),
        Step::update(
            "tasks",
            Lookup::new("slug", "task-a"),
            json!({"title": "A"}),
        ),
        Step::link(
            "users",
            Lookup::new("handle", "stopa"),
            json!({"tasks": Lookup::new("slug", "task-a")}),
        ),
    ])
    .await
    .unwrap();
    let v = db
        .query(json!({"users": {"$": {"where": {"handle": "stopa"}}, "tasks": {}}}))
        .await
        .unwrap();
    assert_eq!(v["users"][0]["name"], "Stepan");
    assert_eq!(v["users"][0]["tasks"][0]["slug"], "task-a");
    db.transact(Step::delete("users", Lookup::new("handle", "stopa")))
        .await
        .unwrap();
    let v = db.query(json!({"users": {}})).await.unwrap();
    assert_eq!(v["users"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_users_and_impersonation() {
    let (srv, db) = start();
    let auth = db.auth();
    let token = auth.create_token("alyssa@example.com").await.unwrap();
    let user = auth.verify_token(&token).await.unwrap();
    assert_eq!(user.email.as_deref(), Some("alyssa@example.com"));
    let uid = instant_admin::id();
    let by_id = auth
        .create_token_for(TokenFor::Id(uid.clone()))
        .await
        .unwrap();
    assert_eq!(by_id.user.id, uid);
    assert!(by_id.created);

    for r in [
        UserRef::Email("alyssa@example.com".into()),
        UserRef::Id(user.id.clone()),
        UserRef::RefreshToken(token.clone()),
    ] {
        let u = auth.get_user(r).await.unwrap().expect("user exists");
        assert_eq!(u.id, user.id);
    }
    assert_eq!(
        auth.get_user(UserRef::Email("nobody@example.com".into()))
            .await
            .unwrap(),
        None
    );

    // The user of a web request, from Instant's cookie.
    let cookie = format!(
        "x=1; instant_user_{}={}",
        srv.app_id(),
        json!({"refresh_token": token, "id": user.id})
            .to_string()
            .replace('"', "%22")
    );
    let from_cookie = auth.get_user_from_cookie(&cookie, true).await.unwrap();
    assert_eq!(from_cookie.map(|u| u.id), Some(user.id.clone()));
    assert_eq!(auth.get_user_from_cookie("x=1", true).await.unwrap(), None);
    let code = auth
        .generate_magic_code("alyssa@example.com")
        .await
        .unwrap();
    assert_eq!(
        auth.verify_magic_code("alyssa@example.com", &code)
            .await
            .unwrap()
            .id,
        user.id
    );

    // Impersonation: by token and guest need no admin token.
    let no_admin = Instant::new(Config {
        app_id: srv.app_id().to_owned(),
        admin_token: None,
        api_uri: Some(srv.base_url().to_owned()),
    })
    .unwrap();
    no_admin
        .as_user(AsUser::Token(token.clone()))
        .query(json!({"goals": {}}))
        .await
        .unwrap();
    no_admin
        .as_user(AsUser::Guest)
        .query(json!({"goals": {}}))
        .await
        .unwrap();
    assert!(matches!(
        no_admin.query(json!({"goals": {}})).await,
        Err(Error::Config(_))
    ));
    db.as_user(AsUser::Email("alyssa@example.com".into()))
        .query_with(
            json!({"goals": {}}),
            QueryOptions::new().rule_params(json!({"x": 1})),
        )
        .await
        .unwrap();
    let e = db
        .as_user(AsUser::Email("nobody@example.com".into()))
        .query(json!({"goals": {}}))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::RecordNotFound(_)), "{e:?}");

    // A wrong admin token is a typed error, and its value is not in the error.
    let wrong = "0a0a0a0a-0a0a-4a0a-8a0a-0a0a0a0a0a0a";
    let bad = Instant::new(Config::new(srv.app_id(), wrong).api_uri(srv.base_url())).unwrap();
    let e = bad.query(json!({"goals": {}})).await.unwrap_err();
    assert!(matches!(e, Error::RecordNotFound(_)), "{e:?}");
    assert!(!format!("{e} {e:?}").contains(wrong));

    // Debug endpoints need impersonation.
    let as_alyssa = db.as_user(AsUser::Email("alyssa@example.com".into()));
    let dq = as_alyssa
        .debug_query(
            json!({"goals": {}}),
            DebugQueryOptions::new().rules(json!({"goals": {"allow": {"view": "true"}}})),
        )
        .await
        .unwrap();
    assert!(dq.result.get("goals").is_some());
    assert!(dq.denied().is_empty(), "{:?}", dq.denied());
    let goal = instant_admin::id();
    db.transact(Step::update("goals", &goal, json!({"title": "hidden"})))
        .await
        .unwrap();
    let hidden = as_alyssa
        .debug_query(
            json!({"goals": {}}),
            DebugQueryOptions::new().rules(json!({"goals": {"allow": {"view": "false"}}})),
        )
        .await
        .unwrap();
    assert_eq!(hidden.denied().len(), hidden.check_results.len());
    assert!(!hidden.check_results.is_empty());
    let dt = as_alyssa
        .debug_transact(
            Step::update("goals", &goal, json!({"title": "t"})),
            DebugTransactOptions::new()
                .rules(json!({"goals": {"allow": {"update": "false", "create": "false"}}})),
        )
        .await
        .unwrap();
    assert!(!dt.committed);
    let failed: Vec<String> = dt.failed_checks().iter().map(ToString::to_string).collect();
    assert!(!failed.is_empty());
    assert!(
        failed
            .iter()
            .all(|f| f.contains(" goals ") && f.ends_with("denied by `false`")),
        "{failed:?}"
    );
    let allowed = as_alyssa
        .debug_transact(
            Step::update("goals", &goal, json!({"title": "t"})),
            DebugTransactOptions::new()
                .rules(json!({"goals": {"allow": {"update": "true", "create": "true"}}})),
        )
        .await
        .unwrap();
    assert!(allowed.all_checks_ok && allowed.failed_checks().is_empty());
    let e = db
        .debug_query(json!({"goals": {}}), DebugQueryOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::ValidationFailed(_)), "{e:?}");

    // Magic codes.
    let code = auth.generate_magic_code("bob@example.com").await.unwrap();
    assert_eq!(code.len(), 6);
    let signed = auth
        .check_magic_code("bob@example.com", &code, None)
        .await
        .unwrap();
    assert!(signed.created);
    assert!(signed.refresh_token().is_ok());
    let sent = auth.send_magic_code("bob@example.com").await.unwrap();
    assert_eq!(
        srv.last_magic_code(srv.app_id(), "bob@example.com")
            .as_deref(),
        Some(sent.as_str())
    );
    let e = auth
        .check_magic_code("bob@example.com", "000000", None)
        .await;
    assert!(e.is_err() || sent == "000000");

    // Guests, and the server's view of the schema.
    let guest = auth.sign_in_guest(None).await.unwrap();
    assert_eq!(guest.is_guest, Some(true));
    assert!(guest.refresh_token.is_some());
    let schema = db.schema().await.unwrap();
    assert!(schema["blobs"]["$users"]["email"].is_object(), "{schema}");
    db.health().await.unwrap();

    // Sign out and delete.
    auth.sign_out(UserRef::RefreshToken(token.clone()))
        .await
        .unwrap();
    assert!(matches!(
        auth.verify_token(&token).await,
        Err(Error::RecordNotFound(_))
    ));
    auth.sign_out(UserRef::Email("bob@example.com".into()))
        .await
        .unwrap();
    auth.sign_out(UserRef::Id(uid.clone())).await.unwrap();
    let deleted = auth.delete_user(UserRef::Id(uid.clone())).await.unwrap();
    assert_eq!(deleted.map(|u| u.id), Some(uid.clone()));
    assert_eq!(auth.delete_user(UserRef::Id(uid)).await.unwrap(), None);
    let deleted = auth
        .delete_user(UserRef::Email("alyssa@example.com".into()))
        .await
        .unwrap();
    assert!(deleted.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_and_presence() {
    let (_srv, db) = start();
    let st = db.storage();
    let a = st
        .upload_file(
            "docs/a.txt",
            b"hello".as_slice(),
            FileOptions::new().content_type("text/plain"),
        )
        .await
        .unwrap();
    assert!(!a.id.is_empty());
    let dir = std::env::temp_dir().join(format!("instant-e2e-{}", instant_admin::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("b.bin");
    std::fs::write(&path, [1u8, 2, 3]).unwrap();
    st.upload_file("docs/b.bin", UploadSource::path(&path), FileOptions::new())
        .await
        .unwrap();
    st.upload_file(
        "docs/c.txt",
        UploadSource::reader(&b"reader"[..], 6),
        FileOptions::new(),
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(st
        .upload_with_signed_url("docs/d.txt", b"signed".to_vec(), Some("text/plain"))
        .await
        .unwrap());
    assert!(st.delete("docs/d.txt").await.unwrap().is_some());

    let mut paths: Vec<String> = st
        .list()
        .await
        .unwrap()
        .into_iter()
        .filter_map(|f| f.path)
        .collect();
    paths.sort();
    assert_eq!(paths, ["docs/a.txt", "docs/b.bin", "docs/c.txt"]);
    let url = st.download_url("docs/a.txt").await.unwrap();
    assert!(url.starts_with("http"), "{url}");
    assert_eq!(st.delete("docs/a.txt").await.unwrap(), Some(a.id));
    assert_eq!(
        st.delete_many(&["docs/b.bin", "docs/c.txt"])
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(st.list().await.unwrap().is_empty());

    let e = db
        .as_user(AsUser::Guest)
        .storage()
        .upload_file("guest.txt", b"x".as_slice(), FileOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");

    assert!(db
        .rooms()
        .get_presence("chat", "room-1")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_query_sees_changes() {
    let (_srv, db) = start();
    let mut sub = db.subscribe_query(json!({"goals": {}}));
    let first = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.data["goals"], json!([]));
    db.transact(Step::update(
        "goals",
        instant_admin::id(),
        json!({"title": "live"}),
    ))
    .await
    .unwrap();
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), sub.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if titles(&ev.data, "goals") == ["live"] {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_writes() {
    let (_srv, db) = start();
    let steps: Vec<Step> = (0..250)
        .map(|i| Step::update("items", instant_admin::id(), json!({"n": i})))
        .collect();
    let outcomes = db
        .transact_chunked(steps, ChunkOptions::new(100).concurrency(2))
        .await;
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes.iter().all(|o| o.is_ok()));
    let v = db.query(json!({"items": {}})).await.unwrap();
    assert_eq!(v["items"].as_array().map(Vec::len), Some(250));

    // Read them back page by page.
    let pages: Vec<Vec<Value>> = db
        .pages("items", json!({}), 100)
        .map(|p| p.unwrap())
        .collect()
        .await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [100, 100, 50]
    );
    let mut ns: Vec<i64> = pages
        .iter()
        .flatten()
        .map(|r| r["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, (0..250).collect::<Vec<_>>());
    let evens: usize = db
        .pages(
            "items",
            json!({"$": {"where": {"n": {"$in": [0, 2, 4]}}}}),
            2,
        )
        .map(|p| p.unwrap().len())
        .collect::<Vec<_>>()
        .await
        .iter()
        .sum();
    assert_eq!(evens, 3);
}

#[test]
fn blocking_client() {
    let (srv, db) = start();
    let db = instant_admin::BlockingInstant::new(db).unwrap();
    let id = instant_admin::id();
    db.transact(Step::update("notes", &id, json!({"text": "sync"})))
        .unwrap();
    let v = db.query(json!({"notes": {}})).unwrap();
    assert_eq!(v["notes"][0]["text"], "sync");
    let token = db
        .run(|db| async move { db.auth().create_token("sync@example.com").await })
        .unwrap();
    assert!(!token.is_empty());
    drop(srv);
}
