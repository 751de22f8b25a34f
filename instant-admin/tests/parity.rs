//! Wire parity with the official `@instantdb/admin` (node/node_modules, pinned 1.0.67).
//!
//! The scripted operations in `node/parity/ops.json` are sent once through this crate and once
//! through the official SDK (`node/parity/run.mjs`) to the same capture server; the two
//! recordings (method, path, decoded query parameters, the headers the SDK sets, JSON body) must
//! be equal after normalising:
//! - the version headers and the `versions` body field (each SDK sends its own version);
//! - the random `local_connection_id` of live queries.
//!
//! Deliberate differences, outside what is compared: we URL-encode presence parameters (the
//! official SDK does not; the server decodes both the same for the plain ids used here), and our
//! `user-agent` is `instant-rs/<version>`.

mod common;

use std::process::Command;

use futures::StreamExt;
use instant_admin::{
    AsUser, Config, CreateWebhook, DebugQueryOptions, DebugTransactOptions, FileOptions, Instant,
    Lookup, QueryOptions, ReadStreamOptions, Step, TokenFor, TransactOptions, TypedQuery,
    UpdateWebhook, UploadSource, UserRef, WebhookBody,
};
use serde_json::{json, Value};

use common::{start_capture, Recorded};

fn as_user(v: Option<&Value>) -> Option<AsUser> {
    let v = v?;
    if let Some(e) = v.get("email").and_then(Value::as_str) {
        return Some(AsUser::Email(e.into()));
    }
    if let Some(t) = v.get("token").and_then(Value::as_str) {
        return Some(AsUser::Token(t.into()));
    }
    Some(AsUser::Guest)
}

/// `{"$lookup": [attr, value]}` becomes a [`Lookup`] (link-position form).
fn with_lookups(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(with_lookups).collect()),
        Value::Object(m) => match m.get("$lookup").and_then(Value::as_array) {
            Some(l) => Value::from(Lookup::new(l[0].as_str().unwrap(), l[1].clone())),
            None => Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), with_lookups(x)))
                    .collect(),
            ),
        },
        other => other.clone(),
    }
}

fn steps(v: &Value) -> Vec<Step> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let etype = s["etype"].as_str().unwrap();
            let target: instant_admin::EntityId = match s.get("lookup") {
                Some(l) => Lookup::new(l[0].as_str().unwrap(), l[1].clone()).into(),
                None => s["id"].as_str().unwrap().into(),
            };
            let args = with_lookups(&s["args"]);
            let step = match s["action"].as_str().unwrap() {
                "update" => Step::update(etype, target, args),
                "merge" => Step::merge(etype, target, args),
                "create" => Step::create(etype, target, args),
                "delete" => Step::delete(etype, target),
                "link" => Step::link(etype, target, args),
                "unlink" => Step::unlink(etype, target, args),
                "ruleParams" => Step::rule_params(etype, target, args),
                other => panic!("unknown action {other}"),
            };
            match s
                .get("opts")
                .and_then(|o| o.get("upsert"))
                .and_then(Value::as_bool)
            {
                Some(u) => step.upsert(u),
                None => step,
            }
        })
        .collect()
}

fn user_ref(p: &Value) -> UserRef {
    if let Some(e) = p.get("email").and_then(Value::as_str) {
        UserRef::Email(e.into())
    } else if let Some(i) = p.get("id").and_then(Value::as_str) {
        UserRef::Id(i.into())
    } else {
        UserRef::RefreshToken(p["refresh_token"].as_str().unwrap().into())
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect()
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str()
        .unwrap_or_else(|| panic!("missing {k} in {v}"))
        .to_owned()
}

async fn run_rust(base: &str, script: &Value) {
    let root = Instant::new(
        Config::new(s(script, "appId"), s(script, "adminToken")).api_uri(format!("{base}/")),
    )
    .unwrap();
    for o in script["ops"].as_array().unwrap() {
        let db = match as_user(o.get("as")) {
            Some(a) => root.as_user(a),
            None => root.clone(),
        };
        let op = o["op"].as_str().unwrap();
        let schema = o.get("schema").and_then(Value::as_bool).unwrap_or(false);
        match op {
            // With a schema the official SDK sends `inference?: true` (a typed query does too).
            "query" if schema => {
                let q = TypedQuery::<Value>::new(o["q"].clone()).inference(true);
                db.query(q).await.unwrap();
            }
            "query" => {
                let q = o["q"].clone();
                let r = match o.get("ruleParams") {
                    Some(rp) => {
                        db.query_with(q, QueryOptions::new().rule_params(rp.clone()))
                            .await
                    }
                    None => db.query(q).await,
                };
                r.unwrap();
            }
            // With a schema the official SDK sends `throw-on-missing-attrs?: true`.
            "transact" if schema => {
                let opts = TransactOptions::new().throw_on_missing_attrs(true);
                let r = db.transact_with(steps(&o["steps"]), opts).await.unwrap();
                assert_eq!(r.tx_id, 42);
            }
            "transact" => {
                assert_eq!(db.transact(steps(&o["steps"])).await.unwrap().tx_id, 42);
            }
            "debugQuery" => {
                let opts = &o["opts"];
                let mut d = DebugQueryOptions::new();
                if let Some(r) = opts.get("rules") {
                    d = d.rules(r.clone());
                }
                if let Some(r) = opts.get("ruleParams") {
                    d = d.rule_params(r.clone());
                }
                if let Some(r) = opts.get("ip").and_then(Value::as_str) {
                    d = d.ip(r);
                }
                if let Some(r) = opts.get("origin").and_then(Value::as_str) {
                    d = d.origin(r);
                }
                let q = TypedQuery::<Value>::new(o["q"].clone()).inference(schema);
                let r = db.debug_query(q, d).await.unwrap();
                assert_eq!(r.check_results.len(), 1);
            }
            "debugTransact" => {
                let opts = &o["opts"];
                let mut d = DebugTransactOptions::new();
                if let Some(r) = opts.get("rules") {
                    d = d.rules(r.clone());
                }
                if let Some(r) = opts.get("ip").and_then(Value::as_str) {
                    d = d.ip(r);
                }
                if let Some(r) = opts.get("origin").and_then(Value::as_str) {
                    d = d.origin(r);
                }
                let r = db.debug_transact(steps(&o["steps"]), d).await.unwrap();
                assert!(r.all_checks_ok);
            }
            "createToken" => {
                let who = match o.get("email") {
                    Some(e) => TokenFor::Email(e.as_str().unwrap().into()),
                    None => TokenFor::Id(s(o, "id")),
                };
                assert_eq!(
                    db.auth().create_token(who).await.unwrap(),
                    common::REFRESH_TOKEN
                );
            }
            "verifyMagicCode" => {
                let u = db
                    .auth()
                    .verify_magic_code(&s(o, "email"), &s(o, "code"))
                    .await
                    .unwrap();
                assert_eq!(u.id, common::USER_ID);
            }
            "userFromCookie" => {
                let u = db
                    .auth()
                    .get_user_from_cookie(&s(o, "cookie"), true)
                    .await
                    .unwrap();
                assert_eq!(u.map(|u| u.id).as_deref(), Some(common::USER_ID));
            }
            "uploadSigned" => {
                let bytes: Vec<u8> = o["bytes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect();
                let ct = o.get("contentType").and_then(Value::as_str);
                assert!(db
                    .storage()
                    .upload_with_signed_url(&s(o, "path"), bytes, ct)
                    .await
                    .unwrap());
            }
            "auth-on-scoped" => {
                db.auth()
                    .create_token(s(o, "email").as_str())
                    .await
                    .unwrap();
            }
            "verifyToken" => {
                let u = db.auth().verify_token(&s(o, "token")).await.unwrap();
                assert_eq!(u.id, common::USER_ID);
            }
            "getUser" => {
                let u = db.auth().get_user(user_ref(&o["params"])).await.unwrap();
                assert_eq!(u.map(|u| u.id).as_deref(), Some(common::USER_ID));
            }
            "deleteUser" => {
                let u = db.auth().delete_user(user_ref(&o["params"])).await.unwrap();
                assert!(u.is_some());
            }
            "signOut" => db.auth().sign_out(user_ref(&o["params"])).await.unwrap(),
            "generateMagicCode" => assert_eq!(
                db.auth().generate_magic_code(&s(o, "email")).await.unwrap(),
                "123456"
            ),
            "sendMagicCode" => assert_eq!(
                db.auth().send_magic_code(&s(o, "email")).await.unwrap(),
                "123456"
            ),
            "checkMagicCode" => {
                let r = db
                    .auth()
                    .check_magic_code(&s(o, "email"), &s(o, "code"), o.get("extraFields").cloned())
                    .await
                    .unwrap();
                assert!(!r.created);
                assert_eq!(r.user.email.as_deref(), Some("alyssa@example.com"));
            }
            "uploadFile" => {
                let bytes: Vec<u8> = o["bytes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect();
                let mut fo = FileOptions::new();
                if let Some(ct) = o.get("contentType").and_then(Value::as_str) {
                    fo = fo.content_type(ct);
                }
                if let Some(cd) = o.get("contentDisposition").and_then(Value::as_str) {
                    fo = fo.content_disposition(cd);
                }
                let r = db
                    .storage()
                    .upload_file(&s(o, "path"), bytes, fo)
                    .await
                    .unwrap();
                assert_eq!(r.id, "f1");
            }
            "uploadFileStream" => {
                let bytes: Vec<u8> = o["bytes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b.as_u64().unwrap() as u8)
                    .collect();
                let size = bytes.len() as u64;
                let mut fo = FileOptions::new();
                if let Some(ct) = o.get("contentType").and_then(Value::as_str) {
                    fo = fo.content_type(ct);
                }
                let source = UploadSource::reader(std::io::Cursor::new(bytes), size);
                let r = db
                    .storage()
                    .upload_file(&s(o, "path"), source, fo)
                    .await
                    .unwrap();
                assert_eq!(r.id, "f1");
            }
            "deleteFile" => assert_eq!(
                db.storage().delete(&s(o, "path")).await.unwrap().as_deref(),
                Some("f1")
            ),
            "deleteMany" => {
                let paths: Vec<String> = o["paths"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_owned())
                    .collect();
                assert_eq!(db.storage().delete_many(&paths).await.unwrap().len(), 2);
            }
            "listFiles" => assert_eq!(db.storage().list_legacy().await.unwrap().len(), 1),
            "downloadUrl" => assert!(db
                .storage()
                .download_url(&s(o, "path"))
                .await
                .unwrap()
                .starts_with("https://")),
            "getPresence" => {
                let p = db
                    .rooms()
                    .get_presence(&s(o, "roomType"), &s(o, "roomId"))
                    .await
                    .unwrap();
                assert_eq!(p.len(), 1);
            }
            "webhooks.list" => assert_eq!(db.webhooks().list().await.unwrap().len(), 1),
            "webhooks.create" => {
                let w = db
                    .webhooks()
                    .create(CreateWebhook {
                        url: s(o, "url"),
                        namespaces: strs(&o["namespaces"]),
                        actions: strs(&o["actions"]),
                    })
                    .await
                    .unwrap();
                assert_eq!(w.url.as_deref(), Some("https://example.com/hook"));
            }
            "webhooks.update" => {
                let params = UpdateWebhook {
                    url: o.get("url").and_then(Value::as_str).map(str::to_owned),
                    namespaces: o.get("namespaces").map(strs),
                    actions: o.get("actions").map(strs),
                };
                db.webhooks().update(&s(o, "id"), params).await.unwrap();
            }
            "webhooks.delete" => {
                assert_eq!(db.webhooks().delete(&s(o, "id")).await.unwrap().id, "w1")
            }
            "webhooks.enable" => {
                assert_eq!(db.webhooks().enable(&s(o, "id")).await.unwrap().id, "w1")
            }
            "webhooks.disable" => {
                let reason = o.get("reason").and_then(Value::as_str);
                db.webhooks().disable(&s(o, "id"), reason).await.unwrap();
            }
            "webhooks.listEvents" => {
                let after = o.get("after").and_then(Value::as_str);
                let page = db.webhooks().list_events(&s(o, "id"), after).await.unwrap();
                assert_eq!(page.events.len(), 1);
                assert!(page.has_next_page);
            }
            "webhooks.getEvent" => assert_eq!(
                db.webhooks()
                    .get_event(&s(o, "id"), &s(o, "isn"))
                    .await
                    .unwrap()
                    .isn,
                "0/328/48953748"
            ),
            "webhooks.resendEvent" => {
                db.webhooks()
                    .resend_event(&s(o, "id"), &s(o, "isn"))
                    .await
                    .unwrap();
            }
            "webhooks.getPayload" => {
                let p = db
                    .webhooks()
                    .get_payload(&s(o, "id"), &s(o, "isn"))
                    .await
                    .unwrap();
                assert_eq!(p.data[0].action, "create");
            }
            "webhooks.fetchJwks" => {
                assert!(db.webhooks().fetch_jwks().await.unwrap()["keys"].is_array())
            }
            "webhooks.fetchPayloads" => {
                let body = WebhookBody {
                    payload_url: format!("{base}{}", s(o, "path")),
                    token: s(o, "token"),
                };
                let p = db.webhooks().fetch_payload(&body).await.unwrap();
                assert_eq!(p.idempotency_key.as_deref(), Some("k1"));
            }
            "stream.write" => {
                let mut w = db
                    .streams()
                    .create_write_stream(&s(o, "clientId"), None)
                    .await
                    .unwrap();
                for c in o["chunks"].as_array().unwrap() {
                    w.write(c.as_str().unwrap()).await.unwrap();
                }
                w.close().await.unwrap();
            }
            "stream.read" => {
                let text: String = db
                    .streams()
                    .create_read_stream(ReadStreamOptions::client_id(s(o, "clientId")))
                    .map(|c| c.unwrap())
                    .collect::<Vec<_>>()
                    .await
                    .concat();
                assert_eq!(text, "hello wörld");
            }
            "subscribe" => {
                let opts = match o.get("ruleParams") {
                    Some(rp) => QueryOptions::new().rule_params(rp.clone()),
                    None => QueryOptions::new(),
                };
                let q = TypedQuery::<Value>::new(o["q"].clone()).inference(schema);
                let mut sub = db.subscribe_query_with(q, opts);
                let first = sub.next().await.unwrap().unwrap();
                assert_eq!(first.data["goals"][0]["title"], "Get fit");
                assert_eq!(first.session.map(|s| s.session_id).as_deref(), Some("s1"));
            }
            other => panic!("unknown op {other}"),
        }
    }
}

/// A stream push may carry several messages (the official SDK batches what queues up while a
/// push is in flight, we push one at a time), so each message becomes a record of its own, with
/// its random ids normalised.
fn expand_pushes(records: Vec<Recorded>) -> Vec<Recorded> {
    let mut out = Vec::new();
    for r in records {
        if r.path != "/admin/sse/push" {
            out.push(r);
            continue;
        }
        for m in r.body["messages"].as_array().cloned().unwrap_or_default() {
            let mut m = m;
            for k in ["client-event-id", "reconnect-token"] {
                if let Some(v) = m.get_mut(k) {
                    assert!(
                        uuid::Uuid::parse_str(v.as_str().unwrap()).is_ok(),
                        "{k}: {v}"
                    );
                    *v = json!("<id>");
                }
            }
            let mut body = r.body.clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("messages");
                o.insert("message".into(), m);
            }
            out.push(Recorded { body, ..r.clone() });
        }
    }
    out
}

fn normalise(mut r: Recorded) -> Recorded {
    for (k, v) in r.query.iter_mut() {
        if k == "local_connection_id" {
            assert!(uuid::Uuid::parse_str(v).is_ok(), "local_connection_id {v}");
            *v = "<id>".into();
        }
    }
    for (k, v) in r.headers.iter_mut() {
        if k == "instant-admin-version" || k == "instant-core-version" {
            *v = "<version>".into();
        }
    }
    if let Some(vs) = r.body.get_mut("versions").and_then(Value::as_object_mut) {
        for v in vs.values_mut() {
            *v = json!("<version>");
        }
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_match_the_official_sdk() {
    let root = common::repo_root();
    let script_path = root.join("node/parity/ops.json");
    let script: Value =
        serde_json::from_str(&std::fs::read_to_string(&script_path).unwrap()).unwrap();
    let node_modules = root.join("node/node_modules/@instantdb/admin");
    assert!(
        node_modules.exists(),
        "{} is missing: run `npm ci --prefix node` first",
        node_modules.display()
    );

    let (base, cap) = start_capture().await;

    run_rust(&base, &script).await;
    let ours: Vec<Recorded> = expand_pushes(cap.take())
        .into_iter()
        .map(normalise)
        .collect();

    let node_base = base.clone();
    let run_js = root.join("node/parity/run.mjs");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(run_js).arg(&node_base).output()
    })
    .await
    .unwrap()
    .expect("node must be on PATH");
    assert!(
        out.status.success(),
        "node parity script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<Recorded> = expand_pushes(cap.take())
        .into_iter()
        .map(normalise)
        .collect();

    if std::env::var_os("PARITY_DUMP").is_some() {
        for (a, b) in ours.iter().zip(theirs.iter()) {
            eprintln!("rust: {a:?}\nnode: {b:?}\n");
        }
    }
    // One record per operation, except: signed uploads make two requests, a stream write opens
    // a session and pushes start + one append per chunk + the final append, a stream read opens
    // a session and pushes its subscribe.
    let expected: usize = script["ops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| match o["op"].as_str() {
            Some("uploadSigned") => 2,
            Some("stream.write") => 3 + o["chunks"].as_array().map_or(0, Vec::len),
            Some("stream.read") => 2,
            _ => 1,
        })
        .sum();
    assert_eq!(ours.len(), expected, "records from us");
    let mut diffs = Vec::new();
    for (i, (a, b)) in ours.iter().zip(theirs.iter()).enumerate() {
        if a != b {
            diffs.push(format!(
                "op #{i} ({}):\n  rust: {a:?}\n  node: {b:?}",
                script["ops"][i]["op"]
            ));
        }
    }
    assert_eq!(ours.len(), theirs.len(), "request counts differ");
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
