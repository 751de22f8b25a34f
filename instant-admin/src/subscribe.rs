//! Live queries over Server-Sent Events (`POST /admin/subscribe-query`).

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::client::{AuthMode, Call, Payload, SDK_VERSION};
use crate::error::ApiError;
use crate::query::{with_rule_params, PageInfoMap, Query, QueryOptions};
use crate::{Error, Instant};

/// The server's session of a live query (from its `sse-init` message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// `machine-id`.
    pub machine_id: String,
    /// `session-id`.
    pub session_id: String,
}

/// One result of a live query: the first answer, then one per relevant change.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryEvent<T> {
    /// The query result, decoded.
    pub data: T,
    /// Page info of the top-level namespaces that use pagination or ordering.
    pub page_info: PageInfoMap,
    /// The server session that produced it (changes on reconnect).
    pub session: Option<SessionInfo>,
}

/// A live query: a `Stream` of results and errors. It reconnects by itself after drops and
/// transient failures (yielding an error for each failed attempt) and ends after a permanent
/// failure (bad query, bad credentials). Dropping it closes the connection.
pub struct Subscription<T> {
    inner: BoxStream<'static, Result<QueryEvent<T>, Error>>,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

impl<T> Stream for Subscription<T> {
    type Item = Result<QueryEvent<T>, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(15);
/// The EventSource default until the server sends `retry:`.
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// Decodes one result of the live query, as the query itself does.
type Decoder<T> = Box<dyn Fn(Value) -> Result<T, serde_json::Error> + Send + Sync>;

struct State<T> {
    decode: Decoder<T>,
    db: Instant,
    body: Bytes,
    local_id: String,
    conn: Option<BoxStream<'static, reqwest::Result<Bytes>>>,
    parser: SseParser,
    pending: VecDeque<Result<QueryEvent<T>, Error>>,
    session: Option<SessionInfo>,
    failures: u32,
    reconnecting: bool,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl Instant {
    /// Subscribes to a query: every change to its result arrives as a [`QueryEvent`].
    pub fn subscribe_query<Q: Query + 'static>(&self, q: Q) -> Subscription<Q::Output> {
        self.subscribe_query_with(q, QueryOptions::default())
    }

    /// Subscribes to a query with options (rule params).
    pub fn subscribe_query_with<Q: Query + 'static>(
        &self,
        q: Q,
        opts: QueryOptions,
    ) -> Subscription<Q::Output> {
        let inference = q.inference();
        let body = with_rule_params(q.instaql(), opts.rule_params).and_then(|query| {
            let b = json!({
                "query": query,
                "inference?": inference,
                "versions": {"@instantdb/admin": SDK_VERSION, "@instantdb/core": SDK_VERSION},
            });
            serde_json::to_vec(&b).map_err(|e| Error::InvalidInput(e.to_string()))
        });
        let (body, pending, done) = match body {
            Ok(b) => (Bytes::from(b), VecDeque::new(), false),
            Err(e) => (Bytes::new(), VecDeque::from([Err(e)]), true),
        };
        let state = State::<Q::Output> {
            decode: Box::new(move |answer| q.decode(answer)),
            db: self.clone(),
            body,
            local_id: crate::id(),
            conn: None,
            parser: SseParser::default(),
            pending,
            session: None,
            failures: 0,
            reconnecting: false,
            done,
            _t: PhantomData,
        };
        Subscription {
            inner: futures::stream::unfold(state, step).boxed(),
        }
    }
}

async fn step<T: DeserializeOwned + Send + 'static>(
    mut st: State<T>,
) -> Option<(Result<QueryEvent<T>, Error>, State<T>)> {
    loop {
        if let Some(item) = st.pending.pop_front() {
            return Some((item, st));
        }
        if st.done {
            return None;
        }
        match st.conn.as_mut() {
            None => {
                // After a drop, wait the server's `retry` interval (as EventSource does); after
                // failed attempts, back off as the retry policy says.
                let delay = if st.failures > 0 {
                    Some(
                        st.db
                            .inner
                            .retry
                            .backoff(st.failures)
                            .min(MAX_RECONNECT_DELAY),
                    )
                } else if st.reconnecting {
                    Some(
                        st.parser
                            .retry
                            .unwrap_or(DEFAULT_RETRY)
                            .min(MAX_RECONNECT_DELAY),
                    )
                } else {
                    None
                };
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                connect(&mut st).await;
            }
            Some(conn) => {
                match tokio::time::timeout(st.db.inner.subscribe_idle_timeout, conn.next()).await {
                    Ok(Some(Ok(chunk))) => {
                        for data in st.parser.push(&chunk) {
                            handle_data(&mut st, &data);
                        }
                    }
                    Ok(Some(Err(e))) => {
                        tracing::debug!(error = %e, "live query connection dropped");
                        st.conn = None;
                        st.reconnecting = true;
                    }
                    Ok(None) => {
                        tracing::debug!("live query stream ended; reconnecting");
                        st.conn = None;
                        st.reconnecting = true;
                    }
                    Err(_) => {
                        tracing::debug!("live query silent too long; reconnecting");
                        st.conn = None;
                        st.reconnecting = true;
                    }
                }
            }
        }
    }
}

async fn connect<T>(st: &mut State<T>) {
    let mut call = Call::new(Method::POST, "/admin/subscribe-query", AuthMode::Scoped);
    call.app_id_param = false;
    call.version_headers = false;
    call.timeout = false;
    call.params
        .push(("local_connection_id", st.local_id.clone()));
    call.payload = Payload::Json(st.body.clone());
    match st.db.open(call).await {
        Ok(resp) => {
            let ct = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_ascii_lowercase();
            if !ct.starts_with("text/event-stream") {
                st.pending.push_back(Err(Error::decode(format!(
                    "expected an event stream, got content type {ct:?}"
                ))));
                st.done = true;
                return;
            }
            st.parser = SseParser {
                retry: st.parser.retry,
                ..SseParser::default()
            };
            st.conn = Some(resp.bytes_stream().boxed());
        }
        Err(e) => {
            let transient = e.is_retryable();
            st.failures = st.failures.saturating_add(1);
            st.pending.push_back(Err(e));
            if !transient {
                st.done = true;
            }
        }
    }
}

fn handle_data<T: DeserializeOwned>(st: &mut State<T>, data: &str) {
    let msg: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            st.pending
                .push_back(Err(Error::decode(format!("bad live query message: {e}"))));
            return;
        }
    };
    match msg {
        Value::Array(msgs) => msgs.into_iter().for_each(|m| handle_msg(st, m)),
        m => handle_msg(st, m),
    }
}

fn page_info(meta: Option<&Value>) -> PageInfoMap {
    meta.and_then(|m| m.get("page-info"))
        .and_then(|p| serde_json::from_value(p.clone()).ok())
        .unwrap_or_default()
}

fn handle_msg<T: DeserializeOwned>(st: &mut State<T>, mut msg: Value) {
    let op = msg
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    match op.as_str() {
        "sse-init" => {
            let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            st.session = Some(SessionInfo {
                machine_id: s("machine-id"),
                session_id: s("session-id"),
            });
            st.failures = 0;
            st.reconnecting = false;
        }
        "add-query-ok" => {
            let result = msg
                .get_mut("result")
                .map(Value::take)
                .unwrap_or(Value::Null);
            let pi = page_info(msg.get("result-meta"));
            push_result(st, result, pi);
        }
        "refresh-ok" => {
            let Some(first) = msg
                .get_mut("computations")
                .and_then(Value::as_array_mut)
                .and_then(|c| c.first_mut())
            else {
                return;
            };
            let result = first
                .get_mut("instaql-result")
                .map(Value::take)
                .unwrap_or(Value::Null);
            let pi = page_info(first.get("result-meta"));
            push_result(st, result, pi);
        }
        "error" => {
            st.db.redact(&mut msg);
            let status = msg
                .get("status")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok())
                .unwrap_or(500);
            st.pending
                .push_back(Err(Error::from_api(ApiError::from_json(status, None, msg))));
        }
        _ => {}
    }
}

fn push_result<T: DeserializeOwned>(st: &mut State<T>, result: Value, page_info: PageInfoMap) {
    let item = (st.decode)(result)
        .map(|data| QueryEvent {
            data,
            page_info,
            session: st.session.clone(),
        })
        .map_err(Error::decode);
    st.pending.push_back(item);
}

/// An incremental parser of the `text/event-stream` format: yields the `data` of each event.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    after_cr: bool,
    /// The reconnection delay the server asked for (`retry:`).
    pub(crate) retry: Option<Duration>,
}

impl SseParser {
    /// Feeds bytes; returns the data of every event completed by them.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    self.line_done(&line, &mut out);
                }
                _ => self.line.push(b),
            }
        }
        out
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<String>) {
        if line.is_empty() {
            if self.has_data {
                out.push(std::mem::take(&mut self.data));
                self.has_data = false;
            }
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "retry" => {
                if let Ok(ms) = value.trim().parse::<u64>() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_parser_handles_split_chunks_and_line_endings() {
        let mut p = SseParser::default();
        let mut all = Vec::new();
        for chunk in [
            &b"retry: 500\r\n\r\n: keep-alive\n\ndata: {\"op\""[..],
            b":\"a\"}\r",
            b"\n\r\ndata:x\ndata: y\n\n",
        ] {
            all.extend(p.push(chunk));
        }
        assert_eq!(all, vec!["{\"op\":\"a\"}".to_string(), "x\ny".to_string()]);
        assert_eq!(p.retry, Some(Duration::from_millis(500)));
    }

    proptest::proptest! {
        #[test]
        fn sse_parser_is_split_independent(
            events in proptest::collection::vec("[a-z0-9 {}:\"]{0,20}", 0..6),
            cuts in proptest::collection::vec(0usize..200, 0..8),
            crlf in proptest::bool::ANY,
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let text: String = events.iter().map(|e| format!(": c{nl}data: {e}{nl}{nl}")).collect();
            let bytes = text.as_bytes();
            let mut whole = SseParser::default();
            let expected = whole.push(bytes);
            proptest::prop_assert_eq!(&expected, &events);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut split = SseParser::default();
            let mut got = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                got.extend(split.push(&bytes[at..c]));
                at = c;
            }
            proptest::prop_assert_eq!(got, expected);
        }

        #[test]
        fn sse_parser_never_panics(chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..8)) {
            let mut p = SseParser::default();
            for c in &chunks {
                let _ = p.push(c);
            }
        }
    }
}
