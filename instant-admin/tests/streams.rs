//! Durable streams against a small fake of the server's stream protocol (`/admin/sse` +
//! `/admin/sse/push`): writing, reading (from files and inline content, from an offset), a lost
//! append resent after a reconnect, and the wire shape of the requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use instant_admin::{Config, Instant, ReadStreamOptions, RetryPolicy};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const APP: &str = "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11";
const TOKEN: &str = "2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c";

#[derive(Default)]
struct FakeStream {
    id: String,
    data: Vec<u8>,
    done: bool,
    token: String,
}

#[derive(Default)]
struct Inner {
    base: String,
    sessions: HashMap<String, mpsc::UnboundedSender<Value>>,
    streams: HashMap<String, FakeStream>,
    /// (session, subscribe event id, client id)
    subs: Vec<(String, String, String)>,
    appends: usize,
    /// The n-th append (from 1) is lost and its session dropped.
    lose_append: Option<usize>,
    /// Drop the first reader's session right after its first answer.
    drop_first_reader: bool,
    /// Offsets asked for by `subscribe-stream` messages.
    subscribe_offsets: Vec<Option<u64>>,
    sse_requests: Vec<(HeaderMap, Value)>,
    pushes: Vec<(HeaderMap, Value)>,
}

type Fake = Arc<Mutex<Inner>>;

fn send(inner: &Inner, session: &str, msg: Value) {
    if let Some(tx) = inner.sessions.get(session) {
        let _ = tx.send(msg);
    }
}

async fn sse(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let (tx, rx) = mpsc::unbounded_channel::<Value>();
    let session = uuid::Uuid::new_v4().to_string();
    {
        let mut f = fake.lock().unwrap();
        f.sse_requests.push((
            headers,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ));
        f.sessions.insert(session.clone(), tx.clone());
    }
    let init = json!({"op": "sse-init", "machine-id": "m1", "session-id": session, "sse-token": format!("tok-{session}")});
    let _ = tx.send(init);
    drop(tx);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let msg = rx.recv().await?;
        Some((
            Ok::<_, std::io::Error>(Bytes::from(format!("data: {msg}\n\n"))),
            rx,
        ))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn notify_readers(f: &Inner, client_id: &str, offset: usize) {
    let Some(st) = f.streams.get(client_id) else {
        return;
    };
    let content = String::from_utf8_lossy(&st.data[offset..]).into_owned();
    for (session, eid, c) in &f.subs {
        if c == client_id {
            send(
                f,
                session,
                json!({"op": "stream-append", "client-event-id": eid, "stream-id": st.id,
                "client-id": client_id, "offset": offset, "content": content, "done": st.done}),
            );
        }
    }
}

async fn push(State(fake): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap();
    let mut f = fake.lock().unwrap();
    f.pushes.push((headers, body.clone()));
    let session = body["session_id"].as_str().unwrap_or("").to_owned();
    if !f.sessions.contains_key(&session) || body["sse_token"] != json!(format!("tok-{session}")) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"type": "session-missing", "message": "no session"})),
        )
            .into_response();
    }
    for m in body["messages"].as_array().unwrap() {
        let eid = m["client-event-id"].as_str().unwrap().to_owned();
        match m["op"].as_str().unwrap() {
            "start-stream" => {
                let client = m["client-id"].as_str().unwrap().to_owned();
                let token = m["reconnect-token"].as_str().unwrap().to_owned();
                let st = f
                    .streams
                    .entry(client.clone())
                    .or_insert_with(|| FakeStream {
                        id: uuid::Uuid::new_v4().to_string(),
                        token: token.clone(),
                        ..FakeStream::default()
                    });
                if st.token != token {
                    let err = json!({"op": "error", "status": 400, "client-event-id": eid, "original-event": m,
                        "type": "validation-failed", "message": "Reconnect token is invalid."});
                    send(&f, &session, err);
                    continue;
                }
                let ok = json!({"op": "start-stream-ok", "client-event-id": eid, "client-id": client,
                    "stream-id": st.id, "offset": st.data.len()});
                send(&f, &session, ok);
            }
            "append-stream" => {
                f.appends += 1;
                if f.lose_append == Some(f.appends) {
                    f.sessions.remove(&session);
                    continue;
                }
                let sid = m["stream-id"].as_str().unwrap();
                let Some(client) = f
                    .streams
                    .iter()
                    .find(|(_, s)| s.id == sid)
                    .map(|(c, _)| c.clone())
                else {
                    continue;
                };
                let offset = m["offset"].as_u64().unwrap() as usize;
                let st = f.streams.get_mut(&client).unwrap();
                let old_len = st.data.len();
                if offset > old_len {
                    let sid = st.id.clone();
                    send(
                        &f,
                        &session,
                        json!({"op": "append-failed", "stream-id": sid}),
                    );
                    continue;
                }
                let mut bytes = Vec::new();
                for c in m["chunks"].as_array().unwrap() {
                    bytes.extend_from_slice(c.as_str().unwrap().as_bytes());
                }
                // Keep only what goes past the stored end.
                let skip = old_len - offset;
                st.data
                    .extend_from_slice(bytes.get(skip..).unwrap_or_default());
                st.done |= m["done"].as_bool().unwrap_or(false);
                let flushed = json!({"op": "stream-flushed", "stream-id": st.id, "offset": st.data.len(), "done": st.done});
                send(&f, &session, flushed);
                notify_readers(&f, &client, old_len);
            }
            "subscribe-stream" => {
                let client = match m.get("client-id").and_then(Value::as_str) {
                    Some(c) => c.to_owned(),
                    None => {
                        let sid = m["stream-id"].as_str().unwrap();
                        f.streams
                            .iter()
                            .find(|(_, s)| s.id == sid)
                            .map(|(c, _)| c.clone())
                            .unwrap()
                    }
                };
                f.subs.push((session.clone(), eid.clone(), client.clone()));
                f.subscribe_offsets
                    .push(m.get("offset").and_then(Value::as_u64));
                let st = f.streams.get(&client).unwrap();
                // What is already stored comes as a file, from the start.
                let msg = json!({"op": "stream-append", "client-event-id": eid, "stream-id": st.id,
                    "client-id": client, "offset": 0,
                    "files": [{"id": "f", "size": st.data.len(), "url": format!("{}/files/{}", f.base, client)}],
                    "done": st.done});
                send(&f, &session, msg);
                if f.drop_first_reader && f.subscribe_offsets.len() == 1 {
                    f.sessions.remove(&session);
                }
            }
            _ => {}
        }
    }
    axum::Json(json!({})).into_response()
}

async fn file(State(fake): State<Fake>, Path(client): Path<String>) -> Response {
    let f = fake.lock().unwrap();
    let data = f
        .streams
        .get(&client)
        .map(|s| s.data.clone())
        .unwrap_or_default();
    Response::new(Body::from(data))
}

async fn start_fake(lose_append: Option<usize>) -> (Fake, Instant) {
    start_fake_with(Inner {
        lose_append,
        ..Inner::default()
    })
    .await
}

async fn start_fake_with(inner: Inner) -> (Fake, Instant) {
    let fake: Fake = Arc::new(Mutex::new(inner));
    let app = axum::Router::new()
        .route("/admin/sse", axum::routing::post(sse))
        .route("/admin/sse/push", axum::routing::post(push))
        .route("/files/{client}", axum::routing::get(file))
        .with_state(Arc::clone(&fake));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    fake.lock().unwrap().base = base.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let db = Instant::builder(Config::new(APP, TOKEN).api_uri(&base))
        .retry_policy(RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    (fake, db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_then_read_while_writing() {
    let (fake, db) = start_fake(None).await;
    let mut w = db
        .streams()
        .create_write_stream("story", None)
        .await
        .unwrap();
    w.write("hello ").await.unwrap();
    w.write("wörld").await.unwrap();
    w.flush().await.unwrap();
    assert_eq!(w.unflushed_bytes(), 0);

    let reader = db
        .streams()
        .create_read_stream(ReadStreamOptions::client_id("story"));
    let collected = tokio::spawn(async move {
        reader
            .map(|c| c.unwrap())
            .collect::<Vec<String>>()
            .await
            .concat()
    });
    // Give the reader time to subscribe before more is written.
    while fake.lock().unwrap().subs.is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.write("!").await.unwrap();
    w.close().await.unwrap();
    let text = tokio::time::timeout(Duration::from_secs(10), collected)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text, "hello wörld!");

    // A reader from an offset skips what it does not want.
    let from = db
        .streams()
        .create_read_stream(ReadStreamOptions::client_id("story").byte_offset(6))
        .map(|c| c.unwrap())
        .collect::<Vec<String>>()
        .await
        .concat();
    assert_eq!(from, "wörld!");

    let f = fake.lock().unwrap();
    assert_eq!(f.streams["story"].data, "hello wörld!".as_bytes());
    // Wire: the event stream is opened with the admin headers and no version headers; pushes
    // carry only the session credentials.
    let (h, b) = &f.sse_requests[0];
    assert_eq!(h["app-id"], APP);
    assert_eq!(h["authorization"], format!("Bearer {TOKEN}"));
    assert!(h.get("instant-admin-version").is_none());
    assert_eq!(b["inference?"], false);
    assert!(b["versions"]["@instantdb/admin"].is_string());
    let (h, b) = &f.pushes[0];
    assert!(h.get("authorization").is_none());
    assert!(h.get("app-id").is_none());
    assert_eq!(b["machine_id"], "m1");
    let m = &b["messages"][0];
    assert_eq!(m["op"], "start-stream");
    assert_eq!(m["client-id"], "story");
    assert!(uuid::Uuid::parse_str(m["reconnect-token"].as_str().unwrap()).is_ok());
    let append = &f.pushes[1].1["messages"][0];
    assert_eq!(
        (
            append["op"].as_str(),
            append["chunks"].clone(),
            append["offset"].clone(),
            append["done"].clone()
        ),
        (
            Some("append-stream"),
            json!(["hello "]),
            json!(0),
            json!(false)
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_append_is_resent_after_reconnect() {
    // The second append never arrives and the writer's session drops.
    let (fake, db) = start_fake(Some(2)).await;
    let mut w = db.streams().create_write_stream("log", None).await.unwrap();
    w.write("a").await.unwrap();
    w.write("b").await.unwrap();
    w.write("c").await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), w.close())
        .await
        .unwrap()
        .unwrap();
    let f = fake.lock().unwrap();
    assert_eq!(String::from_utf8_lossy(&f.streams["log"].data), "abc");
    assert!(f.streams["log"].done);
    assert!(f.sse_requests.len() >= 2, "the writer reconnected");
    // The reconnect reused the same reconnect token.
    let tokens: Vec<&Value> = f
        .pushes
        .iter()
        .flat_map(|(_, b)| b["messages"].as_array().unwrap())
        .filter(|m| m["op"] == "start-stream")
        .map(|m| &m["reconnect-token"])
        .collect();
    assert!(tokens.len() >= 2 && tokens.iter().all(|t| *t == tokens[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_writer_with_the_same_name_is_refused() {
    let (_fake, db) = start_fake(None).await;
    let _w = db.streams().create_write_stream("one", None).await.unwrap();
    let e = db
        .streams()
        .create_write_stream("one", None)
        .await
        .unwrap_err();
    assert!(
        matches!(e, instant_admin::Error::ValidationFailed(_)),
        "{e:?}"
    );
    assert!(db.streams().create_write_stream(" ", None).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_resubscribes_from_what_it_has_seen() {
    let (fake, db) = start_fake_with(Inner {
        drop_first_reader: true,
        ..Inner::default()
    })
    .await;
    let mut w = db
        .streams()
        .create_write_stream("feed", None)
        .await
        .unwrap();
    w.write("abc").await.unwrap();
    w.flush().await.unwrap();
    let reader = db
        .streams()
        .create_read_stream(ReadStreamOptions::client_id("feed"));
    let collected = tokio::spawn(async move {
        reader
            .map(|c| c.unwrap())
            .collect::<Vec<String>>()
            .await
            .concat()
    });
    while fake.lock().unwrap().subscribe_offsets.len() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.write("def").await.unwrap();
    w.close().await.unwrap();
    let text = tokio::time::timeout(Duration::from_secs(10), collected)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text, "abcdef");
    let f = fake.lock().unwrap();
    assert_eq!(f.subscribe_offsets, vec![None, Some(3)]);
}
