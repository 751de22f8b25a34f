//! Large query answers, against a local HTTP server that frames them in every way HTTP/1.1 allows:
//! with `Content-Length` written in many small pieces, in one write, with chunked transfer
//! encoding, and with neither (the end of the body is the end of the connection). The client must
//! decode each into the same `Value` serde_json reads from the bytes, and into structs through
//! `TypedQuery`, and report a body cut short as an error.

use instant_admin::{Config, Error, Instant, RetryPolicy, TypedQuery};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const APP: &str = "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11";
const TOKEN: &str = "2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c";

/// How the server frames the answer.
#[derive(Clone, Copy, Debug)]
enum Framing {
    /// `Content-Length`, the body written in pieces of this many bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`, chunks of this many bytes.
    Chunked(usize),
    /// No length: the body ends when the server closes the connection.
    Close,
    /// `Content-Length` announces more than is sent, then the connection closes.
    Short,
}

/// A server that answers every request with `body`, framed as asked. Returns its base URL.
async fn serve(body: Vec<u8>, framing: Framing) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(answer(sock, body, framing));
        }
    });
    base
}

/// Reads one request (head and `Content-Length` body), then writes the answer and closes.
async fn answer(mut sock: TcpStream, body: Vec<u8>, framing: Framing) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + len {
        match sock.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let ct = "content-type: application/json\r\nconnection: close\r\n";
    let out = match framing {
        Framing::Length(piece) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\n{ct}content-length: {}\r\n\r\n",
                body.len()
            );
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for part in body.chunks(piece) {
                if sock.write_all(part).await.is_err() {
                    return;
                }
            }
            Ok(())
        }
        Framing::Chunked(size) => {
            let mut out =
                format!("HTTP/1.1 200 OK\r\n{ct}transfer-encoding: chunked\r\n\r\n").into_bytes();
            for part in body.chunks(size) {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                out.extend_from_slice(part);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            sock.write_all(&out).await
        }
        Framing::Close => {
            let mut out = format!("HTTP/1.1 200 OK\r\n{ct}\r\n").into_bytes();
            out.extend_from_slice(&body);
            sock.write_all(&out).await
        }
        Framing::Short => {
            let mut out = format!(
                "HTTP/1.1 200 OK\r\n{ct}content-length: {}\r\n\r\n",
                body.len() + 10
            )
            .into_bytes();
            out.extend_from_slice(&body);
            sock.write_all(&out).await
        }
    };
    if out.is_ok() {
        let _ = sock.shutdown().await;
    }
}

fn client(base: &str) -> Instant {
    Instant::builder(Config::new(APP, TOKEN).api_uri(base))
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap()
}

/// An answer of `n` rows shaped like instant-local's (keys sorted), with strings that need
/// escapes and non-ASCII text, so that the decoding of both kinds of string is covered.
fn rows_body(n: usize) -> Vec<u8> {
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            json!({"active": i % 2 == 0, "group": i % 100,
                   "id": format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7919),
                   "name": format!("item {i} \u{e9}t\u{e9} \"quoted\"\n"), "note": "imported",
                   "rank": i, "score": i as f64 / 8.0})
        })
        .collect();
    serde_json::to_vec(&json!({"items": rows, "other": []})).unwrap()
}

#[derive(Debug, Deserialize, PartialEq)]
struct Item {
    id: String,
    group: f64,
    name: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Items {
    items: Vec<Item>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_decode_the_same_however_they_are_framed() {
    // About 3 MB: many reads of hyper's buffer, whatever the framing.
    let body = rows_body(20_000);
    let expected: Value = serde_json::from_slice(&body).unwrap();
    let expected_items: Items = serde_json::from_slice(&body).unwrap();
    assert_eq!(expected_items.items.len(), 20_000);
    for framing in [
        Framing::Length(body.len()),
        Framing::Length(1000),
        Framing::Length(65_536),
        Framing::Chunked(7_777),
        Framing::Close,
    ] {
        let db = client(&serve(body.clone(), framing).await);
        let v: Value = db.query(json!({"items": {}})).await.unwrap();
        assert!(v == expected, "{framing:?}: the Value differs");
        let typed = db
            .query(TypedQuery::<Items>::new(json!({"items": {}})))
            .await
            .unwrap();
        assert!(typed == expected_items, "{framing:?}: the structs differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_answers_decode_the_same_however_they_are_framed() {
    for body in [
        br#"{"items":[]}"#.to_vec(),
        rows_body(1),
        rows_body(3),
        b"{}".to_vec(),
    ] {
        let expected: Value = serde_json::from_slice(&body).unwrap();
        for framing in [
            Framing::Length(body.len()),
            Framing::Length(1),
            Framing::Chunked(5),
            Framing::Close,
        ] {
            let db = client(&serve(body.clone(), framing).await);
            let v: Value = db.query(json!({"items": {}})).await.unwrap();
            assert_eq!(v, expected, "{framing:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cut_short_is_a_transport_error() {
    let db = client(&serve(rows_body(2_000), Framing::Short).await);
    let e = db.query(json!({"items": {}})).await.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_utf8_is_accepted_and_refused_as_before() {
    // Invalid UTF-8 inside a string the structs skip: serde_json::from_slice accepts it without
    // looking, so the typed decoding must too; a Value keeps every string, so it is refused.
    let mut body = br#"{"items":[{"id":"a","group":1,"name":"n","note":"#.to_vec();
    body.extend_from_slice(b"\"\xff\xfe\"}]}");
    assert!(serde_json::from_slice::<Items>(&body).is_ok());
    let db = client(&serve(body.clone(), Framing::Length(body.len())).await);
    let typed = db
        .query(TypedQuery::<Items>::new(json!({"items": {}})))
        .await
        .unwrap();
    assert_eq!(typed.items[0].id, "a");
    let e = db.query(json!({"items": {}})).await.unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
}
