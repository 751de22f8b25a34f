//! Faults, against a local misbehaving HTTP server: rate limiting, 503, connection resets, slow
//! answers, non-JSON and truncated bodies. Each test asserts what reached the server, so that
//! nothing unsafe to repeat (a transaction with `create`) is ever sent twice.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use instant_admin::{
    AsUser, ChunkOptions, Config, Error, Instant, RetryPolicy, Step, TransactOptions,
    TransactResult,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const APP: &str = "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11";
const TOKEN: &str = "2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c";
const ID: &str = "8aa64e4c-64f9-472e-8a61-3fa28870e6cb";

/// A request as the server read it.
#[derive(Debug, Clone)]
struct RawReq {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReq {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// What the server does with one request.
#[derive(Clone)]
enum Act {
    /// Answer with this status, extra headers and body.
    Reply(u16, Vec<(&'static str, String)>, String),
    /// Read the request, then reset the connection.
    Reset,
    /// Wait, then answer 200 `{"tx-id": 1}`-like.
    Slow(Duration),
    /// Announce `content-length: 100` and send 10 bytes, then close.
    Truncated,
    /// An event stream with this text, then close.
    Sse(String),
}

fn ok(body: Value) -> Act {
    Act::Reply(200, vec![], body.to_string())
}

type Script = Arc<dyn Fn(&RawReq, usize) -> Act + Send + Sync>;

struct Server {
    base: String,
    log: Arc<Mutex<Vec<RawReq>>>,
}

impl Server {
    fn requests(&self) -> Vec<RawReq> {
        self.log.lock().unwrap().clone()
    }
}

/// Starts a server whose answers follow `acts` in order (then 200 answers by path).
async fn scripted(acts: Vec<Act>) -> Server {
    let acts = Arc::new(Mutex::new(std::collections::VecDeque::from(acts)));
    serve(Arc::new(move |req: &RawReq, _| {
        acts.lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| default_answer(req))
    }))
    .await
}

fn default_answer(req: &RawReq) -> Act {
    let path = req.target.split('?').next().unwrap_or("");
    match path {
        "/admin/transact" => ok(json!({"tx-id": 7})),
        "/admin/query" => ok(json!({"goals": [{"id": ID}]})),
        _ => ok(json!({})),
    }
}

async fn serve(script: Script) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let log = Arc::clone(&log2);
            let script = Arc::clone(&script);
            tokio::spawn(async move {
                handle(sock, log, script).await;
            });
        }
    });
    Server { base, log }
}

async fn read_request(sock: &mut TcpStream) -> Option<RawReq> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(RawReq {
        method,
        target,
        headers,
        body,
    })
}

async fn handle(mut sock: TcpStream, log: Arc<Mutex<Vec<RawReq>>>, script: Script) {
    let Some(req) = read_request(&mut sock).await else {
        return;
    };
    let index = {
        let mut l = log.lock().unwrap();
        l.push(req.clone());
        l.len() - 1
    };
    let act = script(&req, index);
    let reply = |status: u16, headers: &[(&str, String)], body: &str, len: usize| {
        let mut s =
            format!("HTTP/1.1 {status} X\r\nconnection: close\r\ncontent-length: {len}\r\n");
        for (k, v) in headers {
            let _ = write!(s, "{k}: {v}\r\n");
        }
        s.push_str("\r\n");
        s.push_str(body);
        s
    };
    match act {
        Act::Reply(status, headers, body) => {
            let has_ct = headers.iter().any(|(k, _)| *k == "content-type");
            let mut hs = headers.clone();
            if !has_ct {
                hs.push(("content-type", "application/json".into()));
            }
            let _ = sock
                .write_all(reply(status, &hs, &body, body.len()).as_bytes())
                .await;
        }
        Act::Reset => {
            // A zero linger makes the close a reset (RST); with zero it does not block.
            #[allow(deprecated)]
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(sock);
        }
        Act::Slow(d) => {
            tokio::time::sleep(d).await;
            let body = default_answer(&req);
            if let Act::Reply(status, _, body) = body {
                let _ = sock
                    .write_all(reply(status, &[], &body, body.len()).as_bytes())
                    .await;
            }
        }
        Act::Truncated => {
            let _ = sock
                .write_all(reply(200, &[], "{\"tx-id\":", 100).as_bytes())
                .await;
            let _ = sock.shutdown().await;
        }
        Act::Sse(text) => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(text.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    }
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
        jitter: true,
    }
}

fn client(base: &str) -> Instant {
    Instant::builder(Config::new(APP, TOKEN).api_uri(base))
        .retry_policy(fast_retries())
        .timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap()
}

fn create_step() -> Step {
    Step::create("goals", ID, json!({"title": "once"}))
}

fn update_step() -> Step {
    Step::update("goals", ID, json!({"title": "again"}))
}

fn error_json(ty: &str, hint: Value) -> String {
    json!({"type": ty, "message": format!("{ty} happened"), "hint": hint}).to_string()
}

#[tokio::test]
async fn rate_limited_with_retry_after_header_waits_and_retries() {
    let srv = scripted(vec![Act::Reply(
        429,
        vec![("retry-after", "0.05".into())],
        error_json("rate-limited", Value::Null),
    )])
    .await;
    let db = client(&srv.base);
    let r = db.query(json!({"goals": {}})).await.unwrap();
    assert_eq!(r["goals"][0]["id"], ID);
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn rate_limited_create_is_resent_because_the_server_did_nothing() {
    // `rate-limited` is decided before the transaction runs, so resending a `create` is safe.
    let srv = scripted(vec![Act::Reply(
        429,
        vec![],
        error_json("rate-limited", json!({"retry-after": 0.02})),
    )])
    .await;
    let db = client(&srv.base);
    let r: TransactResult = db.transact(create_step()).await.unwrap();
    assert_eq!(r.tx_id, 7);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[tokio::test]
async fn rate_limited_beyond_the_cap_is_returned_at_once() {
    let srv = scripted(vec![Act::Reply(
        429,
        vec![("retry-after", "3600".into())],
        error_json("rate-limited", Value::Null),
    )])
    .await;
    let db = client(&srv.base);
    let e = db.query(json!({"goals": {}})).await.unwrap_err();
    assert!(
        matches!(&e, Error::RateLimited(a) if a.retry_after == Some(Duration::from_secs(3600)))
    );
    assert!(e.is_retryable());
    assert_eq!(e.status(), Some(429));
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn server_timeout_429_is_retried_for_queries_only() {
    let timeout = || Act::Reply(429, vec![], error_json("timeout", Value::Null));
    let srv = scripted(vec![timeout()]).await;
    client(&srv.base).query(json!({"goals": {}})).await.unwrap();
    assert_eq!(srv.requests().len(), 2);

    let srv = scripted(vec![timeout()]).await;
    let e = client(&srv.base).transact(create_step()).await.unwrap_err();
    assert!(matches!(e, Error::Timeout(_)));
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn unavailable_then_ok_is_retried_for_safe_requests() {
    let unavailable = || {
        Act::Reply(
            503,
            vec![("content-type", "text/html".into())],
            "<h1>busy</h1>".into(),
        )
    };
    let srv = scripted(vec![unavailable(), unavailable()]).await;
    client(&srv.base).query(json!({"goals": {}})).await.unwrap();
    assert_eq!(srv.requests().len(), 3);

    let srv = scripted(vec![unavailable()]).await;
    let r = client(&srv.base)
        .transact([update_step(), Step::delete("todos", ID)])
        .await
        .unwrap();
    assert_eq!(r.tx_id, 7);
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn unavailable_create_is_not_resent() {
    let srv = scripted(vec![Act::Reply(
        503,
        vec![],
        error_json("unknown", Value::Null),
    )])
    .await;
    let e = client(&srv.base)
        .transact([update_step(), create_step()])
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.is_retryable(), "transient, but not safe to repeat");
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn retries_can_be_switched_off() {
    let srv = scripted(vec![Act::Reply(503, vec![], "busy".into())]).await;
    let db = Instant::builder(Config::new(APP, TOKEN).api_uri(&srv.base))
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    assert!(db.query(json!({"goals": {}})).await.is_err());
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn connection_reset_is_retried_for_queries_not_for_creates() {
    let srv = scripted(vec![Act::Reset]).await;
    client(&srv.base).query(json!({"goals": {}})).await.unwrap();
    assert_eq!(srv.requests().len(), 2);

    let srv = scripted(vec![Act::Reset]).await;
    let e = client(&srv.base).transact(create_step()).await.unwrap_err();
    assert!(
        matches!(e, Error::Transport { connect: false, .. }),
        "{e:?}"
    );
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn slow_answer_times_out_and_is_not_resent_when_unsafe() {
    let build = |base: &str| {
        Instant::builder(Config::new(APP, TOKEN).api_uri(base))
            .retry_policy(fast_retries())
            .timeout(Some(Duration::from_millis(200)))
            .build()
            .unwrap()
    };
    let srv = scripted(vec![Act::Slow(Duration::from_secs(3))]).await;
    let e = build(&srv.base).transact(create_step()).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::Transport {
                timed_out: true,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(srv.requests().len(), 1);

    let srv = scripted(vec![Act::Slow(Duration::from_secs(3))]).await;
    build(&srv.base).query(json!({"goals": {}})).await.unwrap();
    assert_eq!(srv.requests().len(), 2);
}

#[tokio::test]
async fn non_json_error_body_becomes_an_api_error() {
    let srv = scripted(vec![Act::Reply(
        500,
        vec![("content-type", "text/html".into())],
        "<html>Internal oops</html>".into(),
    )])
    .await;
    let e = client(&srv.base)
        .query(json!({"goals": {}}))
        .await
        .unwrap_err();
    match &e {
        Error::Api(a) => {
            assert_eq!(a.status, 500);
            assert_eq!(a.message, "<html>Internal oops</html>");
            assert_eq!(a.error_type, None);
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.is_retryable());
    assert_eq!(srv.requests().len(), 1, "500 is not retried");
}

#[tokio::test]
async fn unexpected_200_body_is_a_decode_error() {
    let srv = scripted(vec![Act::Reply(200, vec![], "not json".into())]).await;
    let e = client(&srv.base).transact(update_step()).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
    let srv = scripted(vec![ok(json!({"unexpected": true}))]).await;
    let e = client(&srv.base).transact(update_step()).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
}

#[tokio::test]
async fn truncated_body_is_retried_only_when_safe() {
    let srv = scripted(vec![Act::Truncated]).await;
    let r = client(&srv.base).transact(update_step()).await.unwrap();
    assert_eq!(r.tx_id, 7);
    assert_eq!(srv.requests().len(), 2);

    let srv = scripted(vec![Act::Truncated]).await;
    let e = client(&srv.base).transact(create_step()).await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn refused_connection_is_a_connect_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let e = client(&base).transact(create_step()).await.unwrap_err();
    assert!(matches!(e, Error::Transport { connect: true, .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn validation_errors_are_typed_and_not_retried() {
    let body = json!({"type": "validation-failed", "message": "Validation failed for steps",
        "hint": {"data-type": "steps", "input": [], "errors": [{"expected": "map?", "in": [0, 3]}]},
        "trace-id": "t-123"});
    let srv = scripted(vec![Act::Reply(400, vec![], body.to_string())]).await;
    let e = client(&srv.base).transact(update_step()).await.unwrap_err();
    assert!(matches!(e, Error::ValidationFailed(_)));
    assert_eq!(e.trace_id(), Some("t-123"));
    let h = e.hint().unwrap();
    assert_eq!(h.data_type(), Some("steps"));
    assert_eq!(h.errors()[0].path, vec![json!(0), json!(3)]);
    assert_eq!(srv.requests().len(), 1);
}

/// A tracing subscriber that writes every event and span field into a string.
struct Sink(Arc<Mutex<String>>);

struct Visit<'a>(&'a mut String);
impl tracing::field::Visit for Visit<'_> {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={:?} ", f.name(), v);
    }
}

impl tracing::Subscriber for Sink {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, a: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        a.record(&mut Visit(&mut self.0.lock().unwrap()));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, r: &tracing::span::Record<'_>) {
        r.record(&mut Visit(&mut self.0.lock().unwrap()));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        e.record(&mut Visit(&mut self.0.lock().unwrap()));
        self.0.lock().unwrap().push('\n');
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn admin_token_never_leaks_into_errors_debug_or_traces() {
    let logs = Arc::new(Mutex::new(String::new()));
    let _guard = tracing::subscriber::set_default(Sink(Arc::clone(&logs)));
    // The server echoes the token back, as real hints do (`args`, `original-input`).
    let echo = json!({"type": "record-not-found", "message": "Record not found: app-admin-token",
        "hint": {"args": [{"app-id": APP, "token": TOKEN}], "record-type": "app-admin-token",
                 "original-input": format!("Bearer {TOKEN}")}});
    let srv = scripted(vec![
        Act::Reply(400, vec![], echo.to_string()),
        Act::Reply(503, vec![], format!("upstream said Bearer {TOKEN}")),
        Act::Reply(503, vec![], format!("upstream said Bearer {TOKEN}")),
        Act::Reply(503, vec![], format!("upstream said Bearer {TOKEN}")),
        Act::Reply(503, vec![], format!("upstream said Bearer {TOKEN}")),
    ])
    .await;
    let db = client(&srv.base);
    let e1 = db.query(json!({"goals": {}})).await.unwrap_err();
    assert_eq!(
        e1.hint().and_then(|h| h.record_type()),
        Some("app-admin-token")
    );
    let e2 = db
        .as_user(AsUser::Guest)
        .query(json!({"goals": {}}))
        .await
        .unwrap_err();
    let mut all = format!("{e1} {e1:?} {e2} {e2:?} {db:?}");
    for e in [&e1, &e2] {
        all.push_str(&e.api().map(|a| a.body.to_string()).unwrap_or_default());
    }
    all.push_str(&logs.lock().unwrap());
    assert!(
        logs.lock().unwrap().contains("instant request"),
        "tracing captured nothing"
    );
    assert!(!all.contains(TOKEN), "token leaked:\n{all}");
    // ...while it was really sent.
    let sent = srv.requests();
    assert!(sent[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == &format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn chunked_transact_reports_per_chunk_and_retries_one_chunk() {
    // The chunk holding step 4 fails once with a validation error.
    let failed_once = Arc::new(Mutex::new(false));
    let f = Arc::clone(&failed_once);
    let srv = serve(Arc::new(move |req: &RawReq, i| {
        let has_4 = req.json()["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|st| st[3]["n"] == 4));
        let mut failed = f.lock().unwrap();
        if has_4 && !*failed {
            *failed = true;
            Act::Reply(
                400,
                vec![],
                error_json("validation-failed", json!({"data-type": "steps"})),
            )
        } else {
            ok(json!({"tx-id": 100 + i}))
        }
    }))
    .await;
    let db = client(&srv.base);
    let steps: Vec<Step> = (0..10)
        .map(|n| Step::update("items", instant_admin::id(), json!({ "n": n })))
        .collect();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p = Arc::clone(&progress);
    let outcomes = db
        .transact_chunked(
            steps,
            ChunkOptions::new(3)
                .concurrency(2)
                .on_progress(move |pr| p.lock().unwrap().push(pr)),
        )
        .await;
    assert_eq!(outcomes.len(), 4);
    assert_eq!(
        outcomes.iter().map(|o| o.range.clone()).collect::<Vec<_>>(),
        vec![0..3, 3..6, 6..9, 9..10]
    );
    let failed: Vec<_> = outcomes
        .iter()
        .filter(|o| !o.is_ok())
        .map(|o| o.index)
        .collect();
    assert_eq!(failed, vec![1]);
    let progress = progress.lock().unwrap().clone();
    assert_eq!(progress.len(), 4);
    let last = progress.iter().max_by_key(|p| p.done_chunks).unwrap();
    assert_eq!(
        (
            last.done_chunks,
            last.failed_chunks,
            last.done_steps,
            last.total_steps
        ),
        (4, 1, 10, 10)
    );
    // Every step was sent exactly once so far.
    let sent: usize = srv
        .requests()
        .iter()
        .map(|r| r.json()["steps"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(sent, 10);

    let bad = outcomes.into_iter().find(|o| !o.is_ok()).unwrap();
    let again = db.retry_chunk(bad).await;
    assert!(again.is_ok());
    assert_eq!(srv.requests().len(), 5);
}

#[tokio::test]
async fn chunk_over_the_parameter_limit_is_split() {
    // The server takes at most 2 steps per transaction.
    let srv = serve(Arc::new(|req: &RawReq, i| {
        let n = req.json()["steps"].as_array().map_or(0, Vec::len);
        if n > 2 {
            Act::Reply(
                400,
                vec![],
                error_json("parameter-limit-exceeded", Value::Null),
            )
        } else {
            ok(json!({"tx-id": 1000 + i}))
        }
    }))
    .await;
    let db = client(&srv.base);
    let steps: Vec<Step> = (0..5)
        .map(|n| Step::create("items", instant_admin::id(), json!({ "n": n })))
        .collect();
    let out = db
        .transact_chunked(steps.clone(), ChunkOptions::new(5))
        .await;
    assert_eq!(out.len(), 1);
    assert!(out[0].is_ok(), "{:?}", out[0].result);
    assert_eq!(out[0].committed_steps, 5);
    // 5 (rejected) -> 2 + 3 (rejected) -> 1 + 2
    assert_eq!(out[0].transactions, 5);
    let accepted: Vec<Value> = srv
        .requests()
        .iter()
        .map(RawReq::json)
        .filter(|b| b["steps"].as_array().is_some_and(|s| s.len() <= 2))
        .flat_map(|b| b["steps"].as_array().cloned().unwrap_or_default())
        .collect();
    let expected: Vec<Value> = steps.iter().map(|s| s.as_value().clone()).collect();
    assert_eq!(accepted, expected, "every step committed once, in order");

    // Without splitting, the error comes back as it is.
    let out = db
        .transact_chunked(steps, ChunkOptions::new(5).split_on_limit(false))
        .await;
    assert!(matches!(
        out[0].result,
        Err(Error::ParameterLimitExceeded(_))
    ));
    assert_eq!(out[0].committed_steps, 0);
}

#[tokio::test]
async fn retry_chunk_sends_only_what_is_not_committed() {
    // At most 2 steps per transaction; the third transaction fails once with a 400.
    let failed = Arc::new(Mutex::new(false));
    let f = Arc::clone(&failed);
    let srv = serve(Arc::new(move |req: &RawReq, _| {
        let steps = req.json()["steps"].as_array().cloned().unwrap_or_default();
        if steps.len() > 2 {
            return Act::Reply(
                400,
                vec![],
                error_json("parameter-limit-exceeded", Value::Null),
            );
        }
        let mut failed = f.lock().unwrap();
        if steps.iter().any(|s| s[3]["n"] == 3) && !*failed {
            *failed = true;
            return Act::Reply(400, vec![], error_json("validation-failed", Value::Null));
        }
        ok(json!({"tx-id": 1}))
    }))
    .await;
    let db = client(&srv.base);
    let steps: Vec<Step> = (0..4)
        .map(|n| Step::create("items", instant_admin::id(), json!({ "n": n })))
        .collect();
    let strict = TransactOptions::new().throw_on_missing_attrs(true);
    let mut out = db
        .transact_chunked(steps, ChunkOptions::new(4).transact_options(strict))
        .await;
    let chunk = out.remove(0);
    assert!(matches!(chunk.result, Err(Error::ValidationFailed(_))));
    assert_eq!(chunk.committed_steps, 2);
    let before = srv.requests().len();
    let again = db.retry_chunk(chunk).await;
    assert!(again.is_ok());
    assert_eq!(again.committed_steps, 4);
    let resent = &srv.requests()[before..];
    assert_eq!(resent.len(), 1);
    let ns: Vec<Value> = resent[0].json()["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s[3]["n"].clone())
        .collect();
    assert_eq!(ns, vec![json!(2), json!(3)]);
    // Sent again with the options the chunk was first sent with.
    assert_eq!(resent[0].json()["throw-on-missing-attrs?"], json!(true));
}

fn sse_event(v: Value) -> String {
    format!("data: {v}\n\n")
}

#[tokio::test]
async fn live_query_reconnects_after_the_stream_ends() {
    let init = |s: &str| {
        sse_event(json!({"op": "sse-init", "machine-id": "m", "session-id": s, "sse-token": "t"}))
    };
    let first = format!(
        "retry: 10\n\n{}{}{}",
        init("s1"),
        sse_event(
            json!({"op": "add-query-ok", "result": {"goals": [{"id": "a"}]},
            "result-meta": {"page-info": {"goals": {"start-cursor": ["a", "x", 1, 2], "end-cursor": ["a", "x", 1, 2],
            "has-next-page?": true, "has-previous-page?": false}}}})
        ),
        sse_event(
            json!({"op": "error", "status": 400, "type": "validation-failed", "message": "bad where", "hint": null})
        ),
    );
    let second = format!(
        "{}{}{}",
        init("s2"),
        sse_event(json!({"op": "add-query-ok", "result": {"goals": []}})),
        sse_event(
            json!([{"op": "refresh-ok", "computations": [{"instaql-result": {"goals": [{"id": "b"}]},
            "result-meta": {"page-info": {}}}], "attrs": []}, {"op": "refresh-ok", "computations": []}])
        ),
    );
    let srv = scripted(vec![Act::Sse(first), Act::Sse(second)]).await;
    let db = client(&srv.base);
    let mut sub = db.subscribe_query(json!({"goals": {}}));
    let e1 = sub.next().await.unwrap().unwrap();
    assert_eq!(e1.data["goals"][0]["id"], "a");
    assert!(e1.page_info["goals"].has_next_page);
    let err = sub.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::ValidationFailed(_)));
    let e2 = sub.next().await.unwrap().unwrap();
    assert_eq!(
        e2.session.as_ref().map(|s| s.session_id.as_str()),
        Some("s2")
    );
    let e3 = sub.next().await.unwrap().unwrap();
    assert_eq!(e3.data["goals"][0]["id"], "b");
    drop(sub);
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.method == "POST"));
    assert!(reqs[0]
        .target
        .starts_with("/admin/subscribe-query?local_connection_id="));
    assert_eq!(
        reqs[0].target, reqs[1].target,
        "same local_connection_id on reconnect"
    );
    assert_eq!(reqs[0].body, reqs[1].body);
}

#[tokio::test]
async fn live_query_ends_after_a_permanent_failure() {
    let srv = scripted(vec![Act::Reply(
        400,
        vec![],
        error_json("param-missing", json!({"in": ["headers", "authorization"]})),
    )])
    .await;
    let db = client(&srv.base);
    let mut sub = db.subscribe_query(json!({"goals": {}}));
    let e = sub.next().await.unwrap().unwrap_err();
    assert!(matches!(e, Error::ParamMissing(_)));
    assert!(sub.next().await.is_none());
    assert_eq!(srv.requests().len(), 1);
}

#[tokio::test]
async fn live_query_retries_transient_connect_failures() {
    let ok_stream = format!(
        "retry: 5\n\n{}",
        sse_event(json!({"op": "add-query-ok", "result": {"goals": []}}))
    );
    let srv = scripted(vec![
        Act::Reply(503, vec![], "busy".into()),
        Act::Sse(ok_stream),
    ])
    .await;
    let db = client(&srv.base);
    let mut sub = db.subscribe_query(json!({"goals": {}}));
    let e = sub.next().await.unwrap().unwrap_err();
    assert_eq!(e.status(), Some(503));
    let ev = sub.next().await.unwrap().unwrap();
    assert_eq!(ev.data, json!({"goals": []}));
}

#[tokio::test]
async fn health_is_ok_only_for_a_healthy_answer() {
    let srv = scripted(vec![ok(json!({"wal": "ok"}))]).await;
    client(&srv.base).health().await.unwrap();
    let sent = srv.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method.as_str(), sent[0].target.as_str()),
        ("GET", "/health/system")
    );
    // A probe sends no credentials.
    assert!(sent[0].headers.iter().all(
        |(k, _)| !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("app-id")
    ));

    let srv = scripted(vec![Act::Reply(
        500,
        vec![],
        json!({"wal": "error"}).to_string(),
    )])
    .await;
    let err = client(&srv.base).health().await.unwrap_err();
    assert_eq!(err.status(), Some(500), "{err:?}");
    assert_eq!(srv.requests().len(), 1, "a 500 is not retried");

    let srv = scripted(vec![ok(json!({"status": "fine"}))]).await;
    assert!(matches!(
        client(&srv.base).health().await,
        Err(Error::Decode { .. })
    ));
}
