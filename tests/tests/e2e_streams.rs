//! End to end: durable streams (`db.streams()`) against instant-local's `/admin/sse` and
//! `/admin/sse/push`, plus the raw protocol for what the client cannot produce (reattaching with
//! the same reconnect token, bad session credentials).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures::StreamExt;
use instant_admin::{AsUser, Config, Error, Instant, ReadStream, ReadStreamOptions};
use instant_local::LocalServer;
use serde_json::{json, Value};

/// A failure guard only: every wait ends as soon as its event arrives.
const GUARD: Duration = Duration::from_secs(20);

fn client(srv: &LocalServer) -> Instant {
    Instant::new(Config::new(srv.app_id(), srv.admin_token()).api_uri(srv.base_url())).unwrap()
}

fn start(config: instant_local::Config) -> (LocalServer, Instant) {
    let srv = LocalServer::start(config).expect("instant-local starts");
    let db = client(&srv);
    (srv, db)
}

/// Reads text until `want` bytes have arrived (the stream may still be open).
async fn read_exactly(r: &mut ReadStream, want: usize) -> String {
    let mut got = String::new();
    while got.len() < want {
        let item = tokio::time::timeout(GUARD, r.next())
            .await
            .expect("stream data in time")
            .expect("stream not ended")
            .expect("no stream error");
        got.push_str(&item);
    }
    got
}

/// Reads a stream to its end.
async fn read_all(r: ReadStream) -> Result<String, Error> {
    let items: Vec<Result<String, Error>> = tokio::time::timeout(GUARD, r.collect())
        .await
        .expect("stream ends in time");
    items.into_iter().collect()
}

/// The server's message of an error (the client shows it whatever its error kind).
fn message(e: &Error) -> String {
    let text = e.to_string();
    let start = text.find(": ").map_or(0, |i| i + 2);
    let end = text.rfind(" (HTTP").unwrap_or(text.len());
    text.get(start..end).unwrap_or(&text).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_read_live_and_after_done() {
    let (_srv, db) = start(instant_local::Config::default());
    let none = db.query(json!({"$streams": {}})).await.unwrap();
    assert_eq!(none["$streams"], json!([]));
    let streams = db.streams();
    let mut w = streams.create_write_stream("story", None).await.unwrap();
    w.write("hello ").await.unwrap();
    w.write("wörld ✓ ").await.unwrap();
    w.flush().await.unwrap();
    assert_eq!(w.unflushed_bytes(), 0);

    // A live reader sees what exists, then every later append.
    let mut live = streams.create_read_stream(ReadStreamOptions::client_id("story"));
    let first = read_exactly(&mut live, "hello wörld ✓ ".len()).await;
    assert_eq!(first, "hello wörld ✓ ");
    w.write("more 🎉").await.unwrap();
    assert_eq!(read_exactly(&mut live, "more 🎉".len()).await, "more 🎉");
    let stream_id = w.stream_id().to_owned();
    w.write(" end").await.unwrap();
    w.close().await.unwrap();
    assert_eq!(read_all(live).await.unwrap(), " end");

    let full = "hello wörld ✓ more 🎉 end";
    // After done: the parts, by client id or stream id.
    let done = read_all(streams.create_read_stream(ReadStreamOptions::client_id("story"))).await;
    assert_eq!(done.unwrap(), full);
    let by_id = read_all(streams.create_read_stream(ReadStreamOptions::stream_id(&stream_id)));
    assert_eq!(by_id.await.unwrap(), full);
    // From an offset.
    let from =
        read_all(streams.create_read_stream(ReadStreamOptions::client_id("story").byte_offset(6)));
    assert_eq!(from.await.unwrap(), &full[6..]);

    // $streams through a query, with its $files part.
    let v = db.query(json!({"$streams": {"$files": {}}})).await.unwrap();
    let s = &v["$streams"][0];
    assert_eq!(s["clientId"], "story");
    assert_eq!(s["done"], true);
    assert_eq!(s["size"], full.len());
    assert_eq!(s["id"], stream_id.as_str());
    let files = s["$files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], format!("$stream/{stream_id}/0"));
    assert_eq!(files[0]["size"], full.len());

    // The schema lists $streams without its internal columns.
    let schema = db.schema().await.unwrap();
    let blobs = &schema["blobs"]["$streams"];
    assert_eq!(blobs["clientId"]["catalog"], "system");
    assert_eq!(blobs["done"]["checked-data-type"], "boolean");
    assert!(blobs["abortReason"].is_object());
    assert!(blobs.get("machineId").is_none());
    assert!(blobs.get("hashedReconnectToken").is_none());
    let link = &schema["refs"]["$streams-$files-$files-$stream"];
    assert_eq!(link["cardinality"], "many");
    assert_eq!(link["unique?"], true);
    assert_eq!(link["on-delete-reverse"], "cascade");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_from_offset_while_live_and_unknown_streams() {
    let (_srv, db) = start(instant_local::Config::default());
    let streams = db.streams();
    let mut w = streams.create_write_stream("live", None).await.unwrap();
    w.write("abc").await.unwrap();
    w.write("déf").await.unwrap();
    w.flush().await.unwrap();
    let mut r = streams.create_read_stream(ReadStreamOptions::client_id("live").byte_offset(4));
    assert_eq!(read_exactly(&mut r, "éf".len()).await, "éf");
    w.abort("stopped").await.unwrap();
    assert_eq!(read_all(r).await.unwrap(), "");

    let missing = read_all(streams.create_read_stream(ReadStreamOptions::client_id("nope"))).await;
    let e = missing.unwrap_err();
    assert_eq!(
        message(&e),
        "Validation failed for subscribe-stream: Stream is missing."
    );
    let v = db.query(json!({"$streams": {}})).await.unwrap();
    assert_eq!(v["$streams"][0]["abortReason"], "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_streams_flush_in_parts() {
    let (_srv, db) = start(instant_local::Config::default());
    let streams = db.streams();
    let a = "é".repeat(300_000);
    let b = "✓".repeat(200_000);
    let c = "z".repeat(1000);
    let full = format!("{a}{b}{c}");
    let mut w = streams.create_write_stream("big", None).await.unwrap();
    for chunk in [&a, &b, &c] {
        w.write(chunk).await.unwrap();
    }
    w.flush().await.unwrap();
    // A megabyte went to part 0; a live reader gets it as a file, then the rest as content.
    let mut live = streams.create_read_stream(ReadStreamOptions::client_id("big"));
    assert!(read_exactly(&mut live, full.len()).await == full);
    w.close().await.unwrap();
    assert_eq!(read_all(live).await.unwrap(), "");

    let v = db.query(json!({"$streams": {"$files": {}}})).await.unwrap();
    let id = v["$streams"][0]["id"].as_str().unwrap().to_owned();
    let mut parts: Vec<(String, u64)> = v["$streams"][0]["$files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["size"].as_u64().unwrap(),
            )
        })
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        [
            (format!("$stream/{id}/0"), 1_200_000),
            (format!("$stream/{id}/1"), 1000)
        ]
    );
    for offset in [0usize, 699_999, 1_200_500] {
        let opts = ReadStreamOptions::client_id("big").byte_offset(offset as u64);
        let got = read_all(streams.create_read_stream(opts)).await.unwrap();
        assert!(got == full[offset..], "from {offset}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_writer_and_closed_stream_are_refused() {
    let (srv, db) = start(instant_local::Config::default());
    let streams = db.streams();
    let w = streams.create_write_stream("one", None).await.unwrap();
    // The client draws a new reconnect token, so a second writer is refused.
    let e = streams.create_write_stream("one", None).await.unwrap_err();
    assert_eq!(
        message(&e),
        "Validation failed for start-stream: A stream with that clientId already exists. Reconnect token is invalid."
    );
    w.close().await.unwrap();

    // Raw protocol: reattaching with the same token resumes at the durable offset; a done stream
    // is refused.
    let raw = Raw::new(&srv);
    let token = instant_admin::id();
    let mut s = raw.open();
    let start = json!({"client-event-id": "e1", "op": "start-stream", "client-id": "two", "reconnect-token": token});
    let ok = s.call(&raw, start.clone(), "start-stream-ok");
    assert_eq!(ok["offset"], 0);
    let id = ok["stream-id"].as_str().unwrap().to_owned();
    let flushed = s.call(
        &raw,
        json!({"client-event-id": "e2", "op": "append-stream", "stream-id": id, "chunks": ["ab", "ç"], "offset": 0, "done": false}),
        "stream-flushed",
    );
    assert_eq!(flushed["offset"], 4);
    // A wrong offset is an error routed by its original op.
    let err = s.call(
        &raw,
        json!({"client-event-id": "e3", "op": "append-stream", "stream-id": id, "chunks": ["x"], "offset": 1, "done": false}),
        "error",
    );
    assert_eq!(err["original-event"]["op"], "append-stream");
    assert_eq!(err["client-event-id"], "e3");
    assert_eq!(err["status"], 400);
    assert_eq!(
        err["message"],
        "Validation failed for append-stream: Invalid offset for stream."
    );

    let mut s2 = raw.open();
    let again = s2.call(&raw, start.clone(), "start-stream-ok");
    assert_eq!(again["offset"], 4);
    assert_eq!(again["stream-id"], id.as_str());
    // The first session no longer owns the stream.
    let err = s.call(
        &raw,
        json!({"client-event-id": "e4", "op": "append-stream", "stream-id": id, "chunks": [], "offset": 4, "done": true}),
        "error",
    );
    assert_eq!(
        err["message"],
        "Validation failed for append-stream: Stream is missing."
    );
    let done = s2.call(
        &raw,
        json!({"client-event-id": "e5", "op": "append-stream", "stream-id": id, "chunks": ["!"], "offset": 4, "done": true}),
        "stream-flushed",
    );
    assert_eq!(
        (done["offset"].clone(), done["done"].clone()),
        (json!(5), json!(true))
    );
    let closed = s2.call(&raw, start, "error");
    assert_eq!(
        closed["message"],
        "Validation failed for start-stream: Stream is closed."
    );
    let bad = s2.call(
        &raw,
        json!({"client-event-id": "e6", "op": "nope"}),
        "error",
    );
    assert_eq!(
        (bad["type"].clone(), bad["message"].clone()),
        (json!("param-malformed"), json!("Invalid op"))
    );
    let unsub = s2.call(
        &raw,
        json!({"client-event-id": "e7", "op": "unsubscribe-stream", "subscribe-event-id": "zz"}),
        "error",
    );
    assert_eq!(
        unsub["message"],
        "Validation failed for unsubscribe-stream: Stream subscription is missing."
    );
    assert_eq!(
        read_all(streams.create_read_stream(ReadStreamOptions::client_id("two")))
            .await
            .unwrap(),
        "abç!"
    );

    // Push credentials.
    let (status, body) = raw.push(&s2.creds_with("sse_token", json!(instant_admin::id())));
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("session-missing"))
    );
    let (status, body) = raw.push(&s2.creds_with("machine_id", json!(instant_admin::id())));
    assert_eq!(
        (status, body["type"].clone()),
        (400, json!("member-missing"))
    );
    let (status, body) = raw.push(&s2.creds_with("messages", json!([])));
    assert_eq!((status, body), (200, json!({})));
    // Auth is resolved when the session opens, with the normal error envelope.
    let (status, body) = raw.post("/admin/sse", false, &json!({}));
    assert_eq!(status, 400);
    assert_eq!(body["type"], "param-missing");
    assert_eq!(body["hint"]["in"], json!(["headers", "authorization"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_runs_the_streams_rules() {
    let rules = json!({"$streams": {"allow": {
        "create": "ruleParams.secret == 'ok'",
        "view": "auth.email == 'reader@example.com'"
    }}});
    let (srv, db) = start(instant_local::Config::default().perms_json(rules));
    db.auth().create_token("reader@example.com").await.unwrap();
    db.auth().create_token("other@example.com").await.unwrap();
    let guest = db.as_user(AsUser::Guest).streams();
    let e = guest.create_write_stream("g", None).await.unwrap_err();
    assert_eq!(
        message(&e),
        "Permission denied: not has-streams-permission?"
    );
    let mut w = guest
        .create_write_stream("g", Some(json!({"secret": "ok"})))
        .await
        .unwrap();
    w.write("guarded").await.unwrap();
    w.close().await.unwrap();

    let other = db
        .as_user(AsUser::Email("other@example.com".into()))
        .streams();
    let denied = read_all(other.create_read_stream(ReadStreamOptions::client_id("g"))).await;
    assert_eq!(
        message(&denied.unwrap_err()),
        "Permission denied: not has-streams-permission?"
    );
    let reader = db
        .as_user(AsUser::Email("reader@example.com".into()))
        .streams();
    let ok = read_all(reader.create_read_stream(ReadStreamOptions::client_id("g"))).await;
    assert_eq!(ok.unwrap(), "guarded");
    // Admin is not checked; guests see no $streams rows through queries.
    assert_eq!(
        read_all(
            db.streams()
                .create_read_stream(ReadStreamOptions::client_id("g"))
        )
        .await
        .unwrap(),
        "guarded"
    );
    let v = db
        .as_user(AsUser::Guest)
        .query(json!({"$streams": {}}))
        .await
        .unwrap();
    assert_eq!(v["$streams"], json!([]));
    drop(srv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_survive_a_restart() {
    let dir = std::env::temp_dir().join(format!("instant-streams-{}", instant_admin::id()));
    let config = || instant_local::Config::default().data_dir(&dir);
    let (srv, db) = start(config());
    let streams = db.streams();
    let mut open = streams.create_write_stream("open", None).await.unwrap();
    open.write("still ").await.unwrap();
    open.write("going").await.unwrap();
    open.flush().await.unwrap();
    let mut done = streams.create_write_stream("done", None).await.unwrap();
    done.write("finished ✓").await.unwrap();
    done.close().await.unwrap();
    drop(open);
    srv.stop();

    let (srv, db) = start(config());
    let streams = db.streams();
    let got = read_all(streams.create_read_stream(ReadStreamOptions::client_id("done"))).await;
    assert_eq!(got.unwrap(), "finished ✓");
    let mut r = streams.create_read_stream(ReadStreamOptions::client_id("open"));
    assert_eq!(
        read_exactly(&mut r, "still going".len()).await,
        "still going"
    );
    let v = db.query(json!({"$streams": {"$files": {}}})).await.unwrap();
    assert_eq!(v["$streams"].as_array().map(Vec::len), Some(2));
    drop(r);
    srv.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

// -------------------------------------------------------------------------------------------
// A minimal HTTP client over std::net for the raw protocol.

struct Raw {
    addr: String,
    host: String,
    app_id: String,
    admin_token: String,
}

struct RawSession {
    conn: TcpStream,
    buf: String,
    creds: Value,
}

impl Raw {
    fn new(srv: &LocalServer) -> Raw {
        let host = srv.base_url().trim_start_matches("http://").to_owned();
        Raw {
            addr: host.clone(),
            host,
            app_id: srv.app_id().to_owned(),
            admin_token: srv.admin_token().to_owned(),
        }
    }

    fn request(&self, path: &str, auth: bool, body: &Value) -> TcpStream {
        let mut conn = TcpStream::connect(&self.addr).unwrap();
        conn.set_read_timeout(Some(GUARD)).unwrap();
        let body = body.to_string();
        let auth = if auth {
            format!("authorization: Bearer {}\r\n", self.admin_token)
        } else {
            String::new()
        };
        let head = format!(
            "POST {path}?app_id={} HTTP/1.1\r\nhost: {}\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.app_id,
            self.host,
            body.len()
        );
        conn.write_all(head.as_bytes()).unwrap();
        conn.write_all(body.as_bytes()).unwrap();
        conn
    }

    fn open(&self) -> RawSession {
        let conn = self.request("/admin/sse", true, &json!({"inference?": false}));
        let mut s = RawSession {
            conn,
            buf: String::new(),
            creds: Value::Null,
        };
        let init = s.next_op("sse-init");
        s.creds = json!({"machine_id": init["machine-id"], "session_id": init["session-id"],
                         "sse_token": init["sse-token"]});
        s
    }

    /// Sends a push; returns the status and the JSON body.
    fn push(&self, body: &Value) -> (u16, Value) {
        self.post("/admin/sse/push", false, body)
    }

    /// A plain request; returns the status and the JSON body.
    fn post(&self, path: &str, auth: bool, body: &Value) -> (u16, Value) {
        let mut conn = self.request(path, auth, body);
        let mut out = String::new();
        conn.read_to_string(&mut out).unwrap();
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        (
            status,
            serde_json::from_str(body.trim()).unwrap_or(Value::Null),
        )
    }
}

impl RawSession {
    fn creds_with(&self, key: &str, v: Value) -> Value {
        let mut c = self.creds.clone();
        c["messages"] = json!([]);
        c[key] = v;
        c
    }

    /// Pushes one message and waits for the next op named `op`.
    fn call(&mut self, raw: &Raw, msg: Value, op: &str) -> Value {
        let (status, _) = raw.push(&self.creds_with("messages", json!([msg])));
        assert_eq!(status, 200);
        self.next_op(op)
    }

    fn next_op(&mut self, op: &str) -> Value {
        loop {
            while let Some(i) = self.buf.find('\n') {
                let line: String = self.buf.drain(..=i).collect();
                let Some(data) = line.trim_end().strip_prefix("data:") else {
                    continue;
                };
                let Ok(v) = serde_json::from_str::<Value>(data.trim()) else {
                    continue;
                };
                if v["op"] == op {
                    return v;
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.conn.read(&mut chunk).expect("session data in time");
            assert!(n > 0, "the session ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }
}
