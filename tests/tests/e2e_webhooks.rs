//! End to end: webhooks (`db.webhooks()`) against instant-local. A small HTTP receiver gets the
//! signed POSTs; the client verifies them with the served JWKS and fetches the payload with the
//! token, as a user's webhook handler would. (The receiver is plain `std::net`: this crate has no
//! HTTP server dependency.)

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as Clock, SystemTime};

use instant_admin::{
    Config, CreateWebhook, Instant, UpdateWebhook, WebhookBody, WebhookEvent, WebhookPayload,
    DEFAULT_WEBHOOK_TOLERANCE,
};
use instant_local::LocalServer;
use serde_json::{json, Value};

/// A failure guard only: every wait ends as soon as its event arrives.
const GUARD: Duration = Duration::from_secs(20);

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// A webhook receiver: answers each request with the next scripted status (200 when none left).
struct Sink {
    url: String,
    rx: Arc<Mutex<mpsc::Receiver<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Sink {
    fn start(script: &[u16]) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        let script = Arc::new(Mutex::new(
            script.iter().copied().collect::<VecDeque<u16>>(),
        ));
        let script2 = Arc::clone(&script);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut headers = HashMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                loop {
                    line.clear();
                    reader.read_line(&mut line).unwrap();
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = l.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len: usize = headers
                    .get("content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                reader.read_exact(&mut body).unwrap();
                let status = script2.lock().unwrap().pop_front().unwrap_or(200);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: text/plain\r\ncontent-length: 6\r\nconnection: close\r\n\r\nthanks"
                );
                let _ = stream.write_all(answer.as_bytes());
                let _ = stream.flush();
                let got = Received {
                    headers,
                    body: String::from_utf8(body).unwrap(),
                };
                if tx.send(got).is_err() {
                    return;
                }
            }
        });
        Sink {
            url,
            rx: Arc::new(Mutex::new(rx)),
            script,
        }
    }

    /// The next POST (fails after the guard).
    async fn next(&self) -> Received {
        let rx = Arc::clone(&self.rx);
        tokio::task::spawn_blocking(move || rx.lock().unwrap().recv_timeout(GUARD))
            .await
            .unwrap()
            .expect("a webhook POST in time")
    }

    /// Nothing else has arrived (checked after a later delivery proved the queue moved on).
    fn nothing_pending(&self) -> bool {
        self.rx.lock().unwrap().try_recv().is_err()
    }
}

fn client(srv: &LocalServer) -> Instant {
    Instant::new(Config::new(srv.app_id(), srv.admin_token()).api_uri(srv.base_url())).unwrap()
}

fn id() -> String {
    instant_admin::id()
}

/// Verifies a received POST with the client and fetches its payload.
async fn open(db: &Instant, got: &Received) -> (WebhookBody, WebhookPayload) {
    let sig = got
        .headers
        .get("instant-signature")
        .expect("signature header");
    let body = db
        .webhooks()
        .verify(sig, &got.body, SystemTime::now(), DEFAULT_WEBHOOK_TOLERANCE)
        .await
        .expect("the signature verifies");
    let payload = db.webhooks().fetch_payload(&body).await.unwrap();
    (body, payload)
}

fn isn_of(body: &WebhookBody) -> String {
    let parts: Vec<&str> = body.payload_url.rsplitn(4, '/').collect();
    format!("{}/{}/{}", parts[2], parts[1], parts[0])
}

/// Waits until the event satisfies `done` (polling the server; the guard only ends a failure).
async fn event_until(
    db: &Instant,
    hook: &str,
    isn: &str,
    done: impl Fn(&WebhookEvent) -> bool,
) -> WebhookEvent {
    let start = Clock::now();
    loop {
        let ev = db.webhooks().get_event(hook, isn).await.unwrap();
        if done(&ev) {
            return ev;
        }
        assert!(start.elapsed() < GUARD, "event never got there: {ev:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn all_actions() -> Vec<String> {
    vec!["create".into(), "update".into(), "delete".into()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliver_verify_fetch_and_manage() {
    let srv = LocalServer::start(instant_local::Config::default()).unwrap();
    let db = client(&srv);
    let sink = Sink::start(&[]);
    let (g1, t1) = (id(), id());
    db.transact(json!([["update", "goals", g1, {"title": "first"}],
                       ["update", "todos", t1, {"text": "x"}]]))
        .await
        .unwrap();

    let wh = db.webhooks();
    let bad = wh
        .create(CreateWebhook {
            url: sink.url.clone(),
            namespaces: vec!["nope".into()],
            actions: all_actions(),
        })
        .await
        .unwrap_err();
    assert!(
        bad.to_string()
            .contains("Could not find matching table for nope"),
        "{bad}"
    );
    let hook = wh
        .create(CreateWebhook {
            url: sink.url.clone(),
            namespaces: vec!["goals".into()],
            actions: all_actions(),
        })
        .await
        .unwrap();
    assert_eq!(hook.url.as_deref(), Some(sink.url.as_str()));
    assert_eq!(hook.namespaces, ["goals"]);
    assert_eq!(hook.status.as_deref(), Some("active"));
    assert_eq!(hook.disabled_reason, None);
    assert!(hook.created_at.is_some());
    let dup = wh
        .create(CreateWebhook {
            url: sink.url.clone(),
            namespaces: vec!["goals".into()],
            actions: all_actions(),
        })
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("already exists"), "{dup}");

    // An unwatched namespace makes no event; the watched create comes first.
    db.transact(json!([["update", "todos", t1, {"text": "y"}]]))
        .await
        .unwrap();
    let g2 = id();
    db.transact(json!([["update", "goals", g2, {"title": "second"}]]))
        .await
        .unwrap();
    let got = sink.next().await;
    assert_eq!(
        got.headers.get("user-agent").map(String::as_str),
        Some("InstantDB Webhook Sender")
    );
    let (body, payload) = open(&db, &got).await;
    assert_eq!(
        got.headers.get("idempotency-key"),
        payload.idempotency_key.as_ref()
    );
    assert_eq!(payload.data.len(), 1);
    let rec = &payload.data[0];
    assert_eq!(
        (rec.namespace.as_str(), rec.action.as_str()),
        ("goals", "create")
    );
    assert_eq!(rec.id.as_deref(), Some(g2.as_str()));
    assert_eq!(rec.before, None);
    assert_eq!(rec.after, Some(json!({"id": g2, "title": "second"})));
    assert!(rec.idempotency_key.is_some());
    let isn2 = isn_of(&body);

    // An update and a delete in one transaction: one event, updates before deletes.
    db.transact(json!([["delete", "goals", g1],
                       ["update", "goals", g2, {"title": "changed"}]]))
        .await
        .unwrap();
    let got = sink.next().await;
    let (body3, payload) = open(&db, &got).await;
    let shape: Vec<(String, Option<String>)> = payload
        .data
        .iter()
        .map(|r| (r.action.clone(), r.id.clone()))
        .collect();
    assert_eq!(
        shape,
        [
            ("update".to_owned(), Some(g2.clone())),
            ("delete".to_owned(), Some(g1.clone()))
        ]
    );
    assert_eq!(
        payload.data[0].before,
        Some(json!({"id": g2, "title": "second"}))
    );
    assert_eq!(
        payload.data[0].after,
        Some(json!({"id": g2, "title": "changed"}))
    );
    assert_eq!(
        payload.data[1].before,
        Some(json!({"id": g1, "title": "first"}))
    );
    assert_eq!(payload.data[1].after, None);
    let isn3 = isn_of(&body3);
    assert!(sink.nothing_pending());

    // The admin token reads the same payload.
    let same = wh.get_payload(&hook.id, &isn3).await.unwrap();
    assert_eq!(same, payload);

    // A token only opens its own payload; a forged one opens nothing.
    let other = WebhookBody {
        payload_url: body3.payload_url.clone(),
        token: body.token.clone(),
    };
    let e = wh.fetch_payload(&other).await.unwrap_err();
    assert!(e.to_string().contains("Validation failed for jwt"), "{e}");
    let forged = WebhookBody {
        payload_url: body3.payload_url.clone(),
        token: "eyJhbGciOiJFZERTQSJ9.e30.AAAA".into(),
    };
    let e = wh.fetch_payload(&forged).await.unwrap_err();
    assert!(e.to_string().contains("Invalid JWT."), "{e}");

    // Events: newest first, with their attempts.
    let ev3 = event_until(&db, &hook.id, &isn3, |e| {
        e.status.as_deref() == Some("success")
    })
    .await;
    assert_eq!(ev3.attempts.len(), 1);
    let a = &ev3.attempts[0];
    assert_eq!(a["success?"], json!(true));
    assert_eq!(a["status-code"], json!(200));
    assert_eq!(a["response-text"], json!("thanks"));
    assert_eq!(a["error-type"], Value::Null);
    assert!(a["duration-ms"].is_u64() && a["attempt-at"].is_string());
    event_until(&db, &hook.id, &isn2, |e| {
        e.status.as_deref() == Some("success")
    })
    .await;
    let page = wh.list_events(&hook.id, None).await.unwrap();
    let isns: Vec<&str> = page.events.iter().map(|e| e.isn.as_str()).collect();
    assert_eq!(isns, [isn3.as_str(), isn2.as_str()]);
    assert!(!page.has_next_page);
    let rest = wh
        .list_events(&hook.id, page.start_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(rest.events.len(), 1);
    assert_eq!(rest.events[0].isn, isn2);

    // Resend delivers again and adds an attempt.
    let re = wh.resend_event(&hook.id, &isn2).await.unwrap();
    assert_eq!(re.isn, isn2);
    let got = sink.next().await;
    let (again, payload) = open(&db, &got).await;
    assert_eq!(isn_of(&again), isn2);
    assert_eq!(payload.data[0].action, "create");
    event_until(&db, &hook.id, &isn2, |e| e.attempts.len() == 2).await;

    // Disabled: nothing happens; enabled again, and only deletes watched.
    let off = wh.disable(&hook.id, Some("maintenance")).await.unwrap();
    assert_eq!(off.status.as_deref(), Some("disabled"));
    assert_eq!(off.disabled_reason.as_deref(), Some("maintenance"));
    db.transact(json!([["update", "goals", id(), {"title": "quiet"}]]))
        .await
        .unwrap();
    let on = wh.enable(&hook.id).await.unwrap();
    assert_eq!(on.status.as_deref(), Some("active"));
    assert_eq!(on.disabled_reason, None);
    let upd = wh
        .update(
            &hook.id,
            UpdateWebhook {
                actions: Some(vec!["delete".into()]),
                ..UpdateWebhook::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(upd.actions, ["delete"]);
    assert_eq!(upd.url.as_deref(), Some(sink.url.as_str()));
    db.transact(json!([["update", "goals", id(), {"title": "ignored"}]]))
        .await
        .unwrap();
    db.transact(json!([["delete", "goals", g2]])).await.unwrap();
    let got = sink.next().await;
    let (_, payload) = open(&db, &got).await;
    assert_eq!(payload.data.len(), 1);
    assert_eq!(payload.data[0].action, "delete");
    assert_eq!(payload.data[0].id.as_deref(), Some(g2.as_str()));
    assert!(sink.nothing_pending());
    assert_eq!(
        wh.list_events(&hook.id, None).await.unwrap().events.len(),
        3
    );

    // The JWKS has the key the signature names.
    let jwks = wh.fetch_jwks().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let kid = got.headers["instant-signature"]
        .split(',')
        .find_map(|p| p.strip_prefix("kid="))
        .unwrap()
        .to_owned();
    assert_eq!(key["kid"].as_str(), Some(kid.as_str()));

    let gone = wh.delete(&hook.id).await.unwrap();
    assert_eq!(gone.id, hook.id);
    assert!(wh.list().await.unwrap().is_empty());
    let e = wh.get_event(&hook.id, &isn2).await.unwrap_err();
    assert!(e.to_string().contains("webhook-event"), "{e}");
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_receiver_is_retried() {
    let srv = LocalServer::start(instant_local::Config::default()).unwrap();
    let db = client(&srv);
    let sink = Sink::start(&[500, 503]);
    db.transact(json!([["update", "goals", id(), {"title": "seed"}]]))
        .await
        .unwrap();
    let hook = db
        .webhooks()
        .create(CreateWebhook {
            url: sink.url.clone(),
            namespaces: vec!["goals".into()],
            actions: vec!["create".into()],
        })
        .await
        .unwrap();
    db.transact(json!([["update", "goals", id(), {"title": "retry me"}]]))
        .await
        .unwrap();
    let mut isns = Vec::new();
    for _ in 0..3 {
        let got = sink.next().await;
        let (body, payload) = open(&db, &got).await;
        assert_eq!(payload.data[0].action, "create");
        isns.push(isn_of(&body));
    }
    assert!(isns.iter().all(|i| *i == isns[0]));
    assert!(sink.script.lock().unwrap().is_empty());
    let ev = event_until(&db, &hook.id, &isns[0], |e| {
        e.status.as_deref() == Some("success")
    })
    .await;
    let codes: Vec<Value> = ev
        .attempts
        .iter()
        .map(|a| a["status-code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(503), json!(200)]);
    let ok: Vec<Value> = ev.attempts.iter().map(|a| a["success?"].clone()).collect();
    assert_eq!(ok, [json!(false), json!(false), json!(true)]);
    assert_eq!(ev.next_attempt_after, None);

    // An unreachable receiver: a connect error, then a retry is scheduled.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/", dead.local_addr().unwrap());
    drop(dead);
    db.webhooks()
        .update(
            &hook.id,
            UpdateWebhook {
                url: Some(dead_url),
                ..UpdateWebhook::default()
            },
        )
        .await
        .unwrap();
    db.transact(json!([["update", "goals", id(), {"title": "lost"}]]))
        .await
        .unwrap();
    let page = db.webhooks().list_events(&hook.id, None).await.unwrap();
    let isn = page.events[0].isn.clone();
    let ev = event_until(&db, &hook.id, &isn, |e| !e.attempts.is_empty()).await;
    assert_eq!(ev.attempts[0]["error-type"], json!("connect"));
    assert_eq!(ev.attempts[0]["success?"], json!(false));
    assert_eq!(ev.status.as_deref(), Some("error"));
    assert!(ev.next_attempt_after.is_some());

    // 410 Gone: the event fails at once and the webhook is disabled.
    // (A webhook of its own: the first one still retries its lost event.)
    let gone = Sink::start(&[410]);
    db.webhooks().disable(&hook.id, None).await.unwrap();
    let hook = db
        .webhooks()
        .create(CreateWebhook {
            url: gone.url.clone(),
            namespaces: vec!["goals".into()],
            actions: vec!["create".into()],
        })
        .await
        .unwrap();
    db.transact(json!([["update", "goals", id(), {"title": "gone"}]]))
        .await
        .unwrap();
    let got = gone.next().await;
    let (body, _) = open(&db, &got).await;
    let ev = event_until(&db, &hook.id, &isn_of(&body), |e| {
        e.status.as_deref() == Some("failed")
    })
    .await;
    assert_eq!(ev.attempts.len(), 1);
    assert_eq!(ev.attempts[0]["status-code"], json!(410));
    let list = db.webhooks().list().await.unwrap();
    let info = list.iter().find(|w| w.id == hook.id).unwrap();
    assert_eq!(info.status.as_deref(), Some("disabled"));
    assert_eq!(
        info.disabled_reason.as_deref(),
        Some("Endpoint returned 410 status code.")
    );

    // Resending an event that does not exist is the real validation error.
    let e = db
        .webhooks()
        .resend_event(&hook.id, "0/FFFF/0")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("Could not resend event. Try again in one minute."),
        "{e}"
    );
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_and_webhooks_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("instant-local-webhooks-{}", id()));
    let config = || instant_local::Config::default().data_dir(&dir);
    let srv = LocalServer::start(config()).unwrap();
    let db = client(&srv);
    db.transact(json!([["update", "goals", id(), {"title": "seed"}]]))
        .await
        .unwrap();
    let hook = db
        .webhooks()
        .create(CreateWebhook {
            url: "http://127.0.0.1:9/hook".into(),
            namespaces: vec!["goals".into()],
            actions: all_actions(),
        })
        .await
        .unwrap();
    let before = db.webhooks().fetch_jwks().await.unwrap();
    srv.stop();

    let srv = LocalServer::start(config()).unwrap();
    let db = client(&srv);
    assert_eq!(db.webhooks().fetch_jwks().await.unwrap(), before);
    let list = db.webhooks().list().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, hook.id);
    srv.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_and_impersonated_writes_make_events() {
    let srv = LocalServer::start(instant_local::Config::default()).unwrap();
    let db = client(&srv);
    let sink = Sink::start(&[]);
    db.transact(json!([["update", "goals", id(), {"title": "seed"}]]))
        .await
        .unwrap();
    db.webhooks()
        .create(CreateWebhook {
            url: sink.url.clone(),
            namespaces: vec!["$files".into(), "goals".into()],
            actions: all_actions(),
        })
        .await
        .unwrap();

    // A storage upload is the server's own write to $files: its record carries the file's url.
    db.storage()
        .upload_file(
            "docs/hook.txt",
            b"hello".as_slice(),
            instant_admin::FileOptions::new().content_type("text/plain"),
        )
        .await
        .unwrap();
    let got = sink.next().await;
    let (_, payload) = open(&db, &got).await;
    assert_eq!(payload.data.len(), 1);
    let rec = &payload.data[0];
    assert_eq!(
        (rec.namespace.as_str(), rec.action.as_str()),
        ("$files", "create")
    );
    let after = rec.after.as_ref().unwrap();
    assert_eq!(after["path"], json!("docs/hook.txt"));
    let url = after["url"].as_str().unwrap();
    assert!(url.starts_with(srv.base_url()), "{url}");

    // A transaction run as a guest (no rules: allowed) makes an event as well.
    let g = id();
    db.as_user(instant_admin::AsUser::Guest)
        .transact(json!([["update", "goals", g, {"title": "guest"}]]))
        .await
        .unwrap();
    let got = sink.next().await;
    let (_, payload) = open(&db, &got).await;
    assert_eq!(payload.data[0].id.as_deref(), Some(g.as_str()));
    assert_eq!(payload.data[0].action, "create");
    srv.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_checks_the_token_like_the_dashboard_routes() {
    let srv = LocalServer::start(instant_local::Config::default()).unwrap();
    let (other_app, other_token) = srv.create_app("other", None, None).unwrap();
    let base = srv.base_url();

    // Another app's admin token: a mismatch.
    let mixed =
        Instant::new(Config::new(srv.app_id(), other_token.as_str()).api_uri(base)).unwrap();
    let e = mixed.webhooks().list().await.unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.status, 400);
    assert!(
        api.message.contains(&format!(
            "This admin token does not belong to app {}",
            srv.app_id()
        )),
        "{e}"
    );

    // An unknown token is looked up as a dashboard user: 401.
    let unknown = Instant::new(Config::new(srv.app_id(), id()).api_uri(base)).unwrap();
    let e = unknown.webhooks().list().await.unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(api.status, 401);
    assert_eq!(api.message, "Record not found: instant-user");

    // Each app's own token sees its own (empty) list.
    let own = Instant::new(Config::new(&other_app, other_token.as_str()).api_uri(base)).unwrap();
    assert!(own.webhooks().list().await.unwrap().is_empty());
    srv.stop();
}
