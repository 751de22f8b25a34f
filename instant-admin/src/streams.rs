//! Durable streams (`db.streams()`): append-only UTF-8 byte streams that survive reconnects,
//! over `POST /admin/sse` (server to client) and `POST /admin/sse/push` (client to server).
//!
//! Each [`WriteStream`] and [`ReadStream`] uses its own server session. A writer keeps what the
//! server has not flushed yet and sends it again after a reconnect; a reader counts the bytes it
//! has seen and subscribes again from there.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::client::{AuthMode, Call, Payload, Repeat, SDK_VERSION};
use crate::error::ApiError;
use crate::subscribe::SseParser;
use crate::{Error, Instant};

const INIT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(15);
const MAX_READ_FAILURES: u32 = 10;

/// The streams API.
#[derive(Debug, Clone)]
pub struct Streams {
    db: Instant,
}

impl Instant {
    /// The durable streams API.
    pub fn streams(&self) -> Streams {
        Streams { db: self.clone() }
    }
}

/// One server session: an open `/admin/sse` connection and its push credentials.
struct Session {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    inbox: VecDeque<Value>,
    machine_id: Value,
    session_id: Value,
    sse_token: Value,
    ended: bool,
}

impl Session {
    /// Opens the event stream and waits for its `sse-init`.
    async fn open(db: &Instant) -> Result<Session, Error> {
        let mut call = Call::new(Method::POST, "/admin/sse", AuthMode::Scoped);
        call.version_headers = false;
        call.timeout = false;
        call.payload = Payload::Json(Bytes::from(
            json!({"inference?": false, "versions": {"@instantdb/admin": SDK_VERSION, "@instantdb/core": SDK_VERSION}})
                .to_string(),
        ));
        let resp = db.open(call).await?;
        let mut s = Session {
            body: resp.bytes_stream().boxed(),
            parser: SseParser::default(),
            inbox: VecDeque::new(),
            machine_id: Value::Null,
            session_id: Value::Null,
            sse_token: Value::Null,
            ended: false,
        };
        let init = tokio::time::timeout(INIT_TIMEOUT, async {
            loop {
                match s.read_more().await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(Error::decode("the stream session ended before sse-init"))
                    }
                    Err(e) => return Err(e),
                }
                let pos = s
                    .inbox
                    .iter()
                    .position(|m| m.get("op").and_then(Value::as_str) == Some("sse-init"));
                if let Some(m) = pos.and_then(|p| s.inbox.remove(p)) {
                    return Ok(m);
                }
            }
        })
        .await
        .map_err(|_| Error::Transport {
            message: "no sse-init from the server".to_owned(),
            connect: false,
            timed_out: true,
        })??;
        s.machine_id = init.get("machine-id").cloned().unwrap_or(Value::Null);
        s.session_id = init.get("session-id").cloned().unwrap_or(Value::Null);
        s.sse_token = init.get("sse-token").cloned().unwrap_or(Value::Null);
        Ok(s)
    }

    fn take_events(&mut self, chunk: &[u8]) {
        for data in self.parser.push(chunk) {
            match serde_json::from_str::<Value>(&data) {
                Ok(Value::Array(msgs)) => self.inbox.extend(msgs),
                Ok(m) => self.inbox.push_back(m),
                Err(e) => tracing::debug!(error = %e, "ignoring a malformed stream message"),
            }
        }
    }

    /// Reads one more chunk (waiting); false when the connection ended.
    async fn read_more(&mut self) -> Result<bool, Error> {
        if self.ended {
            return Ok(false);
        }
        match self.body.next().await {
            Some(Ok(chunk)) => {
                self.take_events(&chunk);
                Ok(true)
            }
            Some(Err(e)) => {
                self.ended = true;
                Err(Error::transport(&e, None))
            }
            None => {
                self.ended = true;
                Ok(false)
            }
        }
    }

    /// Takes whatever has already arrived, without waiting.
    fn poll_ready(&mut self) {
        while !self.ended {
            match self.body.next().now_or_never() {
                Some(Some(Ok(chunk))) => self.take_events(&chunk),
                Some(Some(Err(_)) | None) => self.ended = true,
                None => break,
            }
        }
    }

    /// The next message, waiting up to `idle`; `None` when the connection ended or went silent.
    async fn next_msg(&mut self, idle: Duration) -> Option<Value> {
        loop {
            if let Some(m) = self.inbox.pop_front() {
                return Some(m);
            }
            match tokio::time::timeout(idle, self.read_more()).await {
                Ok(Ok(true)) => {}
                _ => {
                    self.ended = true;
                    return None;
                }
            }
        }
    }

    /// What `/admin/sse/push` needs to reach this session.
    fn creds(&self) -> Value {
        json!({
            "machine_id": self.machine_id,
            "session_id": self.session_id,
            "sse_token": self.sse_token,
        })
    }
}

/// Sends messages to a session (`POST /admin/sse/push`; the session token is the credential).
async fn push(db: &Instant, creds: Value, messages: Vec<Value>) -> Result<(), Error> {
    let mut body = match creds {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    body.insert("messages".into(), Value::Array(messages));
    let mut call = Call::new(Method::POST, "/admin/sse/push", AuthMode::None)
        .json(&body)?
        .repeat(Repeat::Unsafe);
    call.version_headers = false;
    let _: Value = db.call_decode(call).await?;
    Ok(())
}

fn error_of(msg: &Value) -> Error {
    let status = msg
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(400);
    Error::from_api(ApiError::from_json(status, None, msg.clone()))
}

fn original_op(msg: &Value) -> Option<&str> {
    msg.get("original-event")
        .and_then(|e| e.get("op"))
        .and_then(Value::as_str)
}

fn event_id(msg: &Value) -> Option<&str> {
    msg.get("client-event-id").and_then(Value::as_str)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(u64::from(attempt.saturating_sub(1))))
        .min(MAX_BACKOFF)
}

/// A stream being written. Chunks are sent as they are written; [`WriteStream::close`] ends the
/// stream and waits until the server has flushed everything.
pub struct WriteStream {
    db: Instant,
    session: Option<Session>,
    client_id: String,
    reconnect_token: String,
    rule_params: Option<Value>,
    stream_id: String,
    /// Chunks not yet flushed by the server, with their byte lengths.
    buffer: VecDeque<(String, u64)>,
    /// Offset of the first buffered chunk.
    buffer_offset: u64,
    buffer_bytes: u64,
    /// Whether the server needs the buffer again (after `append-failed` or a reconnect).
    resync: bool,
    flushed_done: bool,
}

impl std::fmt::Debug for WriteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteStream")
            .field("client_id", &self.client_id)
            .field("stream_id", &self.stream_id)
            .field("unflushed_bytes", &self.buffer_bytes)
            .finish_non_exhaustive()
    }
}

impl Streams {
    /// Starts a new stream named `client_id` (`start-stream`) and returns its writer.
    pub async fn create_write_stream(
        &self,
        client_id: &str,
        rule_params: Option<Value>,
    ) -> Result<WriteStream, Error> {
        if client_id.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the stream's client id is empty".to_owned(),
            ));
        }
        let mut w = WriteStream {
            db: self.db.clone(),
            session: None,
            client_id: client_id.to_owned(),
            reconnect_token: crate::id(),
            rule_params,
            stream_id: String::new(),
            buffer: VecDeque::new(),
            buffer_offset: 0,
            buffer_bytes: 0,
            resync: false,
            flushed_done: false,
        };
        let offset = w.start().await?;
        if offset != 0 {
            return Err(Error::InvalidInput(format!(
                "a stream named {client_id:?} already has data: write stream is corrupted"
            )));
        }
        Ok(w)
    }

    /// Reads a stream from `opts.byte_offset`, as a `Stream` of text chunks that ends when the
    /// writer closes it.
    pub fn create_read_stream(&self, opts: ReadStreamOptions) -> ReadStream {
        let state = ReadState::new(self.db.clone(), opts);
        ReadStream {
            inner: futures::stream::unfold(state, read_step).boxed(),
        }
    }
}

impl WriteStream {
    /// The server's id of the stream.
    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// Bytes written but not yet flushed by the server.
    pub fn unflushed_bytes(&self) -> u64 {
        self.buffer_bytes
    }

    /// Opens a session and sends `start-stream`; returns the server's flushed offset.
    async fn start(&mut self) -> Result<u64, Error> {
        let policy = self.db.inner.retry.clone();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.try_start().await {
                Ok(offset) => return Ok(offset),
                Err(e) if e.is_retryable() && attempt < policy.max_attempts.max(1) => {
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn try_start(&mut self) -> Result<u64, Error> {
        self.session = None;
        let mut session = Session::open(&self.db).await?;
        let eid = crate::id();
        let mut msg = json!({
            "client-event-id": eid,
            "op": "start-stream",
            "client-id": self.client_id,
            "reconnect-token": self.reconnect_token,
        });
        if let (Some(rp), Some(m)) = (&self.rule_params, msg.as_object_mut()) {
            m.insert("rule-params".into(), rp.clone());
        }
        push(&self.db, session.creds(), vec![msg]).await?;
        let idle = self.db.inner.subscribe_idle_timeout;
        loop {
            let Some(m) = session.next_msg(idle).await else {
                return Err(Error::Transport {
                    message: "the stream session ended before start-stream-ok".to_owned(),
                    connect: false,
                    timed_out: false,
                });
            };
            match m.get("op").and_then(Value::as_str) {
                Some("start-stream-ok") if event_id(&m) == Some(eid.as_str()) => {
                    self.stream_id = m
                        .get("stream-id")
                        .and_then(Value::as_str)
                        .ok_or_else(|| Error::decode("start-stream-ok without a stream-id"))?
                        .to_owned();
                    let offset = m.get("offset").and_then(Value::as_u64).unwrap_or(0);
                    self.session = Some(session);
                    return Ok(offset);
                }
                Some("error") if original_op(&m) == Some("start-stream") => {
                    let mut m = m;
                    self.db.redact(&mut m);
                    return Err(error_of(&m));
                }
                _ => {}
            }
        }
    }

    /// Drops buffered chunks the server has flushed.
    fn discard_flushed(&mut self, offset: u64) {
        while let Some((_, len)) = self.buffer.front() {
            if self.buffer_offset + len > offset {
                break;
            }
            self.buffer_offset += len;
            self.buffer_bytes -= len;
            self.buffer.pop_front();
        }
    }

    fn handle(&mut self, m: &Value) {
        let for_us = m.get("stream-id").and_then(Value::as_str) == Some(self.stream_id.as_str());
        match m.get("op").and_then(Value::as_str) {
            Some("stream-flushed") if for_us => {
                let offset = m.get("offset").and_then(Value::as_u64).unwrap_or(0);
                self.discard_flushed(offset);
                if m.get("done").and_then(Value::as_bool) == Some(true) {
                    self.flushed_done = true;
                }
            }
            Some("append-failed") if for_us => self.resync = true,
            Some("error") if original_op(m) == Some("append-stream") => self.resync = true,
            _ => {}
        }
    }

    /// Handles what has arrived; reconnects and resends the buffer when needed.
    async fn sync(&mut self) -> Result<(), Error> {
        if let Some(s) = self.session.as_mut() {
            s.poll_ready();
            let msgs: Vec<Value> = s.inbox.drain(..).collect();
            for m in &msgs {
                self.handle(m);
            }
        }
        let dead = self.session.as_ref().is_none_or(|s| s.ended);
        if dead || self.resync {
            let offset = self.start().await?;
            self.discard_flushed(offset);
            self.resync = false;
            if !self.buffer.is_empty() {
                let chunks: Vec<&str> = self.buffer.iter().map(|(c, _)| c.as_str()).collect();
                let msg = self.append_msg(&chunks, self.buffer_offset, false, None);
                self.send(msg).await?;
            }
        }
        Ok(())
    }

    fn append_msg(&self, chunks: &[&str], offset: u64, done: bool, abort: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("client-event-id".into(), Value::String(crate::id()));
        m.insert("op".into(), json!("append-stream"));
        m.insert("stream-id".into(), Value::String(self.stream_id.clone()));
        m.insert("chunks".into(), json!(chunks));
        m.insert("offset".into(), json!(offset));
        m.insert("done".into(), Value::Bool(done));
        if let Some(r) = abort.filter(|r| !r.is_empty()) {
            m.insert("abort-reason".into(), Value::String(r.to_owned()));
        }
        Value::Object(m)
    }

    /// Pushes one message; a failure marks the session dead (the buffer is resent on reconnect).
    async fn send(&mut self, msg: Value) -> Result<(), Error> {
        let Some(creds) = self.session.as_ref().map(Session::creds) else {
            self.resync = true;
            return Ok(());
        };
        if let Err(e) = push(&self.db, creds, vec![msg]).await {
            // The session is gone or unreachable; the next sync reconnects (with bounded
            // attempts) and sends the unflushed chunks again.
            tracing::debug!(error = %e, "stream push failed; will reconnect");
            if let Some(s) = self.session.as_mut() {
                s.ended = true;
            }
        }
        Ok(())
    }

    /// Appends a chunk of text.
    pub async fn write(&mut self, chunk: &str) -> Result<(), Error> {
        if self.flushed_done {
            return Err(Error::InvalidInput("the stream has been closed".to_owned()));
        }
        self.sync().await?;
        let len = chunk.len() as u64;
        let offset = self.buffer_offset + self.buffer_bytes;
        self.buffer.push_back((chunk.to_owned(), len));
        self.buffer_bytes += len;
        let msg = self.append_msg(&[chunk], offset, false, None);
        self.send(msg).await
    }

    /// Waits until the server has flushed everything written so far.
    pub async fn flush(&mut self) -> Result<(), Error> {
        self.wait(|w| w.buffer.is_empty()).await
    }

    async fn wait(&mut self, until: impl Fn(&WriteStream) -> bool) -> Result<(), Error> {
        let idle = self.db.inner.subscribe_idle_timeout;
        loop {
            self.sync().await?;
            if until(self) {
                return Ok(());
            }
            let Some(s) = self.session.as_mut() else {
                continue;
            };
            if let Some(m) = s.next_msg(idle).await {
                self.handle(&m);
            }
        }
    }

    /// Ends the stream (`done`) and waits until the server has flushed it all.
    pub async fn close(mut self) -> Result<(), Error> {
        self.finish(None).await
    }

    /// Ends the stream with a reason readers can see as an abort.
    pub async fn abort(mut self, reason: &str) -> Result<(), Error> {
        self.finish(Some(reason)).await
    }

    async fn finish(&mut self, reason: Option<&str>) -> Result<(), Error> {
        let idle = self.db.inner.subscribe_idle_timeout;
        loop {
            self.sync().await?;
            let end = self.buffer_offset + self.buffer_bytes;
            let msg = self.append_msg(&[], end, true, reason);
            self.send(msg).await?;
            loop {
                if self.flushed_done {
                    return Ok(());
                }
                let Some(s) = self.session.as_mut() else {
                    break;
                };
                match s.next_msg(idle).await {
                    Some(m) => {
                        self.handle(&m);
                        if self.resync {
                            break;
                        }
                    }
                    None => break,
                }
            }
        }
    }
}

/// Which stream to read and from where.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReadStreamOptions {
    /// The stream's client id (the name its writer gave it).
    pub client_id: Option<String>,
    /// The stream's server id.
    pub stream_id: Option<String>,
    /// Bytes to skip from the start.
    pub byte_offset: u64,
    /// Rule params for the read permission check.
    pub rule_params: Option<Value>,
}

impl ReadStreamOptions {
    /// Reads the stream its writer named `client_id`.
    pub fn client_id(client_id: impl Into<String>) -> ReadStreamOptions {
        ReadStreamOptions {
            client_id: Some(client_id.into()),
            ..ReadStreamOptions::default()
        }
    }

    /// Reads the stream with this server id.
    pub fn stream_id(stream_id: impl Into<String>) -> ReadStreamOptions {
        ReadStreamOptions {
            stream_id: Some(stream_id.into()),
            ..ReadStreamOptions::default()
        }
    }

    /// Starts after `offset` bytes.
    pub fn byte_offset(mut self, offset: u64) -> Self {
        self.byte_offset = offset;
        self
    }

    /// Sets rule params.
    pub fn rule_params(mut self, params: impl Into<Value>) -> Self {
        self.rule_params = Some(params.into());
        self
    }
}

/// A stream being read: a `Stream` of text chunks, ending when the writer closes the stream.
pub struct ReadStream {
    inner: BoxStream<'static, Result<String, Error>>,
}

impl std::fmt::Debug for ReadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadStream")
    }
}

impl futures::Stream for ReadStream {
    type Item = Result<String, Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct ReadState {
    db: Instant,
    opts: ReadStreamOptions,
    seen: u64,
    session: Option<Session>,
    event_id: String,
    failures: u32,
    pending: VecDeque<Result<String, Error>>,
    /// Bytes of an incomplete UTF-8 character at the end of the last chunk.
    partial: Vec<u8>,
    done: bool,
}

impl ReadState {
    /// A reader that has seen nothing yet and starts at `opts.byte_offset`.
    fn new(db: Instant, opts: ReadStreamOptions) -> ReadState {
        ReadState {
            db,
            seen: opts.byte_offset,
            opts,
            session: None,
            event_id: String::new(),
            failures: 0,
            pending: VecDeque::new(),
            partial: Vec::new(),
            done: false,
        }
    }

    fn fail(&mut self, e: Error) {
        self.pending.push_back(Err(e));
        self.done = true;
        self.session = None;
    }

    /// Takes new bytes starting at `offset`, skipping what was already seen.
    fn take_bytes(&mut self, offset: u64, bytes: &[u8]) {
        let skip = usize::try_from(self.seen.saturating_sub(offset)).unwrap_or(usize::MAX);
        let Some(new) = bytes.get(skip..) else {
            return;
        };
        if new.is_empty() {
            return;
        }
        self.seen += new.len() as u64;
        self.partial.extend_from_slice(new);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(_) => self.partial.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.partial.len(),
        };
        let rest = self.partial.split_off(valid);
        let text = String::from_utf8_lossy(&self.partial).into_owned();
        self.partial = rest;
        if !text.is_empty() {
            self.pending.push_back(Ok(text));
        }
    }

    async fn subscribe(&mut self) -> Result<(), Error> {
        let session = Session::open(&self.db).await?;
        self.event_id = crate::id();
        let mut m = Map::new();
        m.insert(
            "client-event-id".into(),
            Value::String(self.event_id.clone()),
        );
        m.insert("op".into(), json!("subscribe-stream"));
        if let Some(s) = &self.opts.stream_id {
            m.insert("stream-id".into(), Value::String(s.clone()));
        }
        if let Some(c) = &self.opts.client_id {
            m.insert("client-id".into(), Value::String(c.clone()));
        }
        if self.seen > 0 {
            m.insert("offset".into(), json!(self.seen));
        }
        if let Some(rp) = &self.opts.rule_params {
            m.insert("rule-params".into(), rp.clone());
        }
        push(&self.db, session.creds(), vec![Value::Object(m)]).await?;
        self.session = Some(session);
        Ok(())
    }

    async fn fetch_file(db: Instant, url: String) -> Result<Bytes, Error> {
        let url = reqwest::Url::parse(&url)
            .map_err(|e| Error::decode(format!("bad stream file URL: {e}")))?;
        let mut rb = db.inner.http.get(url);
        if let Some(t) = db.inner.timeout {
            rb = rb.timeout(t);
        }
        let resp = rb.send().await.map_err(|e| Error::transport(&e, None))?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| Error::transport(&e, None))?;
        if status == 200 {
            Ok(body)
        } else {
            Err(Error::from_response(status, None, &body, None))
        }
    }

    async fn handle(&mut self, m: Value) {
        let ours = event_id(&m) == Some(self.event_id.as_str());
        match m.get("op").and_then(Value::as_str) {
            Some("stream-append") if ours => {
                if let Some(err) = m
                    .get("error")
                    .filter(|e| !e.is_null() && *e != &Value::Bool(false))
                {
                    if m.get("retry").and_then(Value::as_bool) == Some(true) {
                        self.session = None;
                        self.failures += 1;
                    } else {
                        let text = err.as_str().map_or_else(|| err.to_string(), str::to_owned);
                        self.fail(Error::Api(Box::new(ApiError::from_json(
                            400,
                            None,
                            json!({"message": text}),
                        ))));
                    }
                    return;
                }
                let offset = m.get("offset").and_then(Value::as_u64).unwrap_or(0);
                if offset > self.seen {
                    self.fail(Error::decode(
                        "stream is corrupted: the server skipped bytes",
                    ));
                    return;
                }
                let files: Vec<String> = m
                    .get("files")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.get("url").and_then(Value::as_str).map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut at = offset;
                for url in files {
                    match ReadState::fetch_file(self.db.clone(), url).await {
                        Ok(bytes) => {
                            self.take_bytes(at, &bytes);
                            at += bytes.len() as u64;
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "stream file fetch failed; resubscribing");
                            self.session = None;
                            self.failures += 1;
                            return;
                        }
                    }
                }
                if let Some(content) = m.get("content").and_then(Value::as_str) {
                    self.take_bytes(at, content.as_bytes());
                }
                self.failures = 0;
                if m.get("done").and_then(Value::as_bool) == Some(true) {
                    if !self.partial.is_empty() {
                        let rest = std::mem::take(&mut self.partial);
                        self.pending
                            .push_back(Ok(String::from_utf8_lossy(&rest).into_owned()));
                    }
                    self.done = true;
                    self.session = None;
                }
            }
            Some("error") if original_op(&m) == Some("subscribe-stream") && ours => {
                let mut m = m;
                self.db.redact(&mut m);
                self.fail(error_of(&m));
            }
            _ => {}
        }
    }
}

async fn read_step(mut st: ReadState) -> Option<(Result<String, Error>, ReadState)> {
    loop {
        if let Some(item) = st.pending.pop_front() {
            return Some((item, st));
        }
        if st.done {
            return None;
        }
        if st.failures > MAX_READ_FAILURES {
            st.fail(Error::Transport {
                message: "unable to read the stream: too many failed attempts".to_owned(),
                connect: false,
                timed_out: false,
            });
            continue;
        }
        let idle = st.db.inner.subscribe_idle_timeout;
        match st.session.as_mut() {
            None => {
                if st.failures > 0 {
                    tokio::time::sleep(backoff(st.failures)).await;
                }
                if let Err(e) = st.subscribe().await {
                    if e.is_retryable() {
                        st.failures += 1;
                    } else {
                        st.fail(e);
                    }
                }
            }
            Some(s) => match s.next_msg(idle).await {
                Some(m) => st.handle(m).await,
                None => {
                    st.session = None;
                    st.failures += 1;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ReadState {
        let db = Instant::new(crate::Config::new(
            "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11",
            "t",
        ))
        .unwrap();
        ReadState::new(db, ReadStreamOptions::client_id("c"))
    }

    #[test]
    fn read_side_skips_seen_bytes_and_keeps_utf8_whole() {
        let mut st = state();
        st.take_bytes(0, "héllo".as_bytes());
        st.take_bytes(0, "héllo wörld".as_bytes());
        let bytes = "✓ok".as_bytes();
        let at = st.seen;
        st.take_bytes(at, &bytes[..1]);
        st.take_bytes(at + 1, &bytes[1..]);
        let out: Vec<String> = st.pending.drain(..).map(|r| r.unwrap()).collect();
        assert_eq!(out.concat(), "héllo wörld✓ok");
        assert!(out.iter().all(|s| !s.contains('\u{fffd}')));
        assert_eq!(st.seen, ("héllo wörld✓ok".len()) as u64);
    }
}
