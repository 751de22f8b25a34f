//! A capture server for tests: records every request and answers a plausible 200 body per route.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

/// One recorded request, in a comparable form.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

/// The headers the official SDK sets itself (others, like user-agent or accept, come from the
/// HTTP library and are not part of the wire contract).
pub const RELEVANT_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "app-id",
    "authorization",
    "as-email",
    "as-token",
    "as-guest",
    "path",
    "content-disposition",
    "instant-admin-version",
    "instant-core-version",
];

#[derive(Clone, Default)]
pub struct Capture {
    pub log: Arc<Mutex<Vec<Recorded>>>,
    /// The open `/admin/sse` session, for answers to `/admin/sse/push` messages.
    pub sse: Arc<Mutex<Option<tokio::sync::mpsc::UnboundedSender<Value>>>>,
}

impl Capture {
    pub fn take(&self) -> Vec<Recorded> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

pub const USER_ID: &str = "0d3f6c2a-8b7e-4a1d-9c5f-2e4b6a8d0c1e";
pub const REFRESH_TOKEN: &str = "c3a7e1f2-5b6d-4e8f-9a0b-1c2d3e4f5a6b";

fn user() -> Value {
    json!({"app_id": "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11", "id": USER_ID, "email": "alyssa@example.com",
           "created_at": "2025-03-01T12:34:56Z", "isGuest": false, "refresh_token": REFRESH_TOKEN})
}

/// A plausible 200 answer for each route.
pub fn answer(method: &Method, path: &str, host: &str) -> Value {
    match (method.as_str(), path) {
        (_, "/admin/query") => {
            json!({"goals": [{"id": "8aa64e4c-64f9-472e-8a61-3fa28870e6cb", "title": "Get fit"}], "$files": []})
        }
        (_, "/admin/query_perms_check") => json!({"result": {"goals": []}, "check-results": [
            {"id": "8aa6", "entity": "goals", "label": null, "record": {"id": "8aa6"},
             "program": {"etype": "goals", "action": "view", "code": "true", "display-code": "true"}, "check": true}],
            "rule-wheres": {}}),
        (_, "/admin/transact") => json!({"tx-id": 42}),
        (_, "/admin/transact_perms_check") => {
            json!({"tx-id": 43, "all-checks-ok?": true, "committed?": false, "check-results": []})
        }
        (_, "/admin/refresh_tokens") => json!({"user": user(), "created": true}),
        (_, "/runtime/auth/verify_refresh_token") => json!({"user": user()}),
        ("GET", "/admin/users") => json!({"user": user()}),
        ("DELETE", "/admin/users") => json!({"deleted": user()}),
        (_, "/admin/sign_out") => json!({"ok": true}),
        (_, "/admin/magic_code") | (_, "/admin/send_magic_code") => json!({"code": "123456"}),
        (_, "/admin/verify_magic_code") => json!({"user": user(), "created": false}),
        (_, "/admin/storage/upload") => {
            json!({"data": {"id": "f1", "location-id": "l1", "size": 5}})
        }
        ("DELETE", "/admin/storage/files") => json!({"data": {"id": "f1"}}),
        (_, "/admin/storage/files/delete") => json!({"data": {"ids": ["f1", "f2"]}}),
        ("GET", "/admin/storage/files") => {
            json!({"data": [{"key": "k", "name": "photos/demo.png", "size": 5, "etag": null, "last_modified": null}]})
        }
        (_, "/admin/storage/signed-upload-url") => {
            json!({"data": format!("http://{host}/storage/u1/consume-upload-url")})
        }
        (_, "/storage/u1/consume-upload-url") => json!({"data": {"id": "f9"}}),
        (_, "/admin/storage/signed-download-url") => {
            json!({"data": "https://files.example.com/signed"})
        }
        (_, "/admin/rooms/presence") => {
            json!({"sessions": {"s1": {"peer-id": "s1", "data": {"color": "red"}, "user": null}}})
        }
        (_, "/.well-known/webhooks/jwks.json") => {
            json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": "qrSkwDaMITRMF9nOgpueqxgaAiuFmJperYE3mkyl8Ow"}]})
        }
        (_, p) if p.starts_with("/webhooks/payload/") => {
            json!({"data": [{"namespace": "goals", "id": "g1", "action": "create",
            "before": null, "after": {"id": "g1"}, "idempotencyKey": "k1:0"}], "idempotencyKey": "k1"})
        }
        (_, p) if p.starts_with("/dash/apps/") => {
            let hook = json!({"id": "w1", "sink": {"url": "https://example.com/hook"}, "namespaces": ["goals"],
                "actions": ["create"], "status": "active", "disabled_reason": null,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
            let event = json!({"isn": "0/328/48953748", "status": "success", "attempts": [],
                "next_attempt_after": null, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
            json!({"webhooks": [hook.clone()], "webhook": hook, "events": [event.clone()], "event": event,
                   "pageInfo": {"startCursor": "a", "endCursor": "b", "hasNextPage": true}})
        }
        _ => json!({}),
    }
}

/// The SSE messages sent to a live query: init, then the first result.
pub fn sse_opening() -> String {
    let init = json!({"op": "sse-init", "machine-id": "m1", "session-id": "s1", "sse-token": "t1", "trace-id": null});
    let ok = json!({"op": "add-query-ok", "q": {"goals": {}}, "client-event-id": "e1",
        "result": {"goals": [{"id": "8aa64e4c-64f9-472e-8a61-3fa28870e6cb", "title": "Get fit"}]},
        "result-meta": {"page-info": {}, "aggregate": {}}, "processed-tx-id": 1, "trace-id": null});
    format!("retry: 500\n\ndata: {init}\n\n: keep-alive\n\ndata: {ok}\n\n")
}

pub fn record(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Recorded {
    let query = uri.query().map(url_decode_pairs).unwrap_or_default();
    let mut hs: Vec<(String, String)> = RELEVANT_HEADERS
        .iter()
        .filter_map(|h| {
            headers.get(*h).map(|v| {
                (
                    h.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
        })
        .collect();
    let raw_body = uri.path() == "/admin/storage/upload" || uri.path().starts_with("/storage/");
    if raw_body {
        if let Some(v) = headers.get("content-length") {
            hs.push((
                "content-length".into(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            ));
        }
    }
    let body = if raw_body {
        json!({"raw": body})
    } else if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| json!({"unparsed": String::from_utf8_lossy(body)}))
    };
    Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query,
        headers: hs,
        body,
    }
}

/// `application/x-www-form-urlencoded` decoding (`+` is a space, `%XX` a byte).
pub fn url_decode_pairs(q: &str) -> Vec<(String, String)> {
    fn dec(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match h {
                        Some(x) => {
                            out.push(x);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (dec(k), dec(v)),
            None => (dec(p), String::new()),
        })
        .collect()
}

async fn handle(
    State(cap): State<Capture>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = record(&method, &uri, &headers, &body);
    cap.log.lock().unwrap().push(rec);
    if uri.path() == "/admin/sse" {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
        let _ = tx.send(
            json!({"op": "sse-init", "machine-id": "m1", "session-id": "s1", "sse-token": "t1"}),
        );
        *cap.sse.lock().unwrap() = Some(tx);
        let stream = futures::stream::unfold(rx, |mut rx| async move {
            let msg = rx.recv().await?;
            Some((
                Ok::<_, std::io::Error>(Bytes::from(format!("data: {msg}\n\n"))),
                rx,
            ))
        });
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    if uri.path() == "/admin/sse/push" {
        let pushed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let tx = cap.sse.lock().unwrap().clone();
        for m in pushed["messages"].as_array().cloned().unwrap_or_default() {
            let eid = m["client-event-id"].clone();
            let reply = match m["op"].as_str() {
                Some("start-stream") => json!({"op": "start-stream-ok", "client-event-id": eid,
                    "client-id": m["client-id"], "stream-id": "st1", "offset": 0}),
                Some("append-stream") => {
                    let len: u64 = m["chunks"].as_array().map_or(0, |c| {
                        c.iter()
                            .map(|x| x.as_str().map_or(0, str::len) as u64)
                            .sum()
                    });
                    json!({"op": "stream-flushed", "stream-id": "st1",
                        "offset": m["offset"].as_u64().unwrap_or(0) + len, "done": m["done"]})
                }
                Some("subscribe-stream") => json!({"op": "stream-append", "client-event-id": eid,
                    "stream-id": "st1", "client-id": m["client-id"], "offset": 0,
                    "content": "hello wörld", "done": true}),
                _ => continue,
            };
            if let Some(tx) = &tx {
                let _ = tx.send(reply);
            }
        }
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
    }
    if uri.path() == "/admin/subscribe-query" {
        let opening = sse_opening();
        let stream = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from(opening))])
            .chain(futures::stream::pending());
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/event-stream")
            .header("cache-control", "nocache")
            .body(Body::from_stream(stream))
            .unwrap();
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let body = answer(&method, uri.path(), host);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

use futures::StreamExt;

/// Starts the capture server on 127.0.0.1; returns its base URL and the capture log.
pub async fn start_capture() -> (String, Capture) {
    let cap = Capture::default();
    let app = axum::Router::new().fallback(handle).with_state(cap.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), cap)
}

/// The repository root (two levels above this crate's manifest).
pub fn repo_root() -> std::path::PathBuf {
    let here = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(|p| p.to_path_buf()).unwrap_or(here)
}
