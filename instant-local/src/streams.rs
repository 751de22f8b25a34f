//! Durable streams: `POST /admin/sse` sessions and `POST /admin/sse/push` (admin-protocol.md §8).
//!
//! A session is an open SSE response; the client sends its ops through `/admin/sse/push` with the
//! session's token. Stream bytes are durable as soon as they are appended: unflushed bytes live in
//! `stream_chunks`, flushed parts are `$files` (`$stream/<id>/<n>`) linked to their `$streams`
//! entity. A part is written when a megabyte has piled up and when the stream is done, as the real
//! server does. Sessions, writers and readers are kept in memory ([`Hub`]).

use crate::attrs::stream_attrs;
use crate::error::ApiError;
use crate::files::store_file;
use crate::perms::Vars;
use crate::server::{notify, perm_ctx, reply, Fail, Req, Shared, Who};
use crate::store::{AppMeta, Db, Reader};
use crate::tx::{transact, TxOptions};
use axum::extract::State;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Bytes kept unflushed before a part is written (the real server's default flush limit).
const FLUSH_LIMIT: u64 = 1024 * 1024;

/// One open `/admin/sse` session.
struct Session {
    app_id: String,
    who: Who,
    token_hash: [u8; 32],
    out: UnboundedSender<Value>,
}

/// A live `subscribe-stream`.
#[derive(Clone)]
struct Sub {
    session: String,
    event_id: Value,
    client_id: String,
}

#[derive(Default)]
struct HubState {
    sessions: HashMap<String, Session>,
    /// `(app, stream)` to the session that writes it.
    writers: HashMap<(String, String), String>,
    /// `(app, stream)` to its live readers.
    readers: HashMap<(String, String), Vec<Sub>>,
}

/// The stream sessions of this server, their writers and readers (in memory).
pub struct Hub {
    machine_id: String,
    state: Mutex<HubState>,
}

impl Default for Hub {
    fn default() -> Hub {
        Hub {
            machine_id: uuid::Uuid::new_v4().to_string(),
            state: Mutex::new(HubState::default()),
        }
    }
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, session: &str, mut msg: Value) {
        if let Some(m) = msg.as_object_mut() {
            m.insert("trace-id".into(), Value::Null);
        }
        if let Some(s) = self.lock().sessions.get(session) {
            let _ = s.out.send(msg);
        }
    }

    fn context(&self, session: &str) -> Result<(String, Who), ApiError> {
        self.lock()
            .sessions
            .get(session)
            .map(|s| (s.app_id.clone(), s.who.clone()))
            .ok_or_else(|| session_missing(session))
    }

    /// Forgets a closed session: its writers and readers go with it.
    fn remove_session(&self, session: &str) {
        let mut st = self.lock();
        st.sessions.remove(session);
        st.writers.retain(|_, s| s != session);
        for subs in st.readers.values_mut() {
            subs.retain(|r| r.session != session);
        }
        st.readers.retain(|_, subs| !subs.is_empty());
    }

    fn readers(&self, key: &(String, String)) -> Vec<Sub> {
        self.lock().readers.get(key).cloned().unwrap_or_default()
    }
}

/// Removes its session from the hub when the SSE response is dropped.
struct SessionGuard {
    shared: Arc<Shared>,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.shared.streams.remove_session(&self.id);
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn session_missing(session: &str) -> ApiError {
    ApiError::new(
        400,
        "session-missing",
        format!("Session missing for id: {session}"),
        json!({"sess-id": session}),
    )
}

/// `POST /admin/sse`: opens a session (auth resolved now) and streams its server ops.
pub async fn open(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let prepared = (|| -> Result<(AppMeta, Who), Fail> {
        let app_id = req.app_id()?;
        req.json()?;
        let mut db = s.lock();
        let (app, who) = req.who(&db, &app_id)?;
        Ok((stream_app(&mut db, &app.id)?, who))
    })();
    let (app, who) = match prepared {
        Ok(p) => p,
        Err(f) => return f.into_response(),
    };
    let id = uuid::Uuid::new_v4().to_string();
    let token = uuid::Uuid::new_v4();
    let (tx, rx) = unbounded_channel();
    s.streams.lock().sessions.insert(
        id.clone(),
        Session {
            app_id: app.id.clone(),
            who,
            token_hash: sha256(token.as_bytes()),
            out: tx,
        },
    );
    let init = json!({"op": "sse-init", "machine-id": s.streams.machine_id, "session-id": id,
                      "sse-token": token.to_string()});
    s.streams.send(&id, init);
    let guard = SessionGuard {
        shared: s.clone(),
        id,
    };
    sse_response(rx, guard)
}

fn sse_response(rx: UnboundedReceiver<Value>, guard: SessionGuard) -> Response {
    let retry = futures::stream::once(async {
        Ok::<Event, Infallible>(Event::default().retry(Duration::from_millis(500)))
    });
    let ops = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let msg = rx.recv().await?;
        let ev = Event::default().data(msg.to_string());
        Some((Ok::<Event, Infallible>(ev), (rx, guard)))
    });
    crate::live::sse_response(futures::StreamExt::chain(retry, ops))
}

fn body_uuid(body: &Value, key: &str) -> Result<uuid::Uuid, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::param_missing(&["body", key])),
        Some(v) => v
            .as_str()
            .and_then(|s| uuid::Uuid::parse_str(s.trim()).ok())
            .ok_or_else(|| ApiError::param_malformed(&["body", key], v.clone())),
    }
}

/// `POST /admin/sse/push`: hands messages to a session (the session token is the credential);
/// each is processed in order and answers on the session's event stream.
pub async fn push(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply(push_inner(&s, &req))
}

fn push_inner(s: &Shared, req: &Req) -> Result<Value, Fail> {
    req.app_id()?;
    let body = req.json()?;
    let machine = body_uuid(&body, "machine_id")?;
    let session = body_uuid(&body, "session_id")?.to_string();
    let token = body_uuid(&body, "sse_token")?;
    let messages = match body.get("messages") {
        None | Some(Value::Null) => {
            return Err(ApiError::param_missing(&["body", "messages"]).into())
        }
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    };
    if machine.to_string() != s.streams.machine_id {
        return Err(ApiError::new(
            400,
            "member-missing",
            format!("Member missing for machine id: {machine}"),
            json!({"machine-id": machine}),
        )
        .into());
    }
    let ok = s
        .streams
        .lock()
        .sessions
        .get(&session)
        .is_some_and(|x| x.token_hash == sha256(token.as_bytes()));
    if !ok {
        return Err(session_missing(&session).into());
    }
    let mut db = s.lock();
    for msg in messages {
        handle(s, &mut db, &session, msg);
    }
    Ok(json!({}))
}

/// Runs one client op; its failure goes to the session as an `error` op.
fn handle(s: &Shared, db: &mut Db, session: &str, msg: Value) {
    let op = msg.get("op").cloned().unwrap_or(Value::Null);
    let r = match op.as_str() {
        Some("start-stream") => start_stream(s, db, session, &msg),
        Some("append-stream") => append_stream(s, db, session, &msg),
        Some("subscribe-stream") => subscribe_stream(s, db, session, &msg),
        Some("unsubscribe-stream") => unsubscribe_stream(s, session, &msg),
        _ => Err(ApiError::new(
            400,
            "param-malformed",
            "Invalid op",
            json!({"op": op}),
        )),
    };
    if let Err(e) = r {
        let err = json!({"op": "error", "status": e.status, "client-event-id": msg.get("client-event-id"),
                         "original-event": msg, "type": e.kind, "message": e.message, "hint": e.hint});
        s.streams.send(session, err);
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters of an op

fn param_missing(key: &str) -> ApiError {
    ApiError::param_missing(&[key])
}

fn param_malformed(key: &str, v: &Value) -> ApiError {
    ApiError::param_malformed(&[key], v.clone())
}

fn present<'a>(msg: &'a Value, key: &str) -> Option<&'a Value> {
    msg.get(key).filter(|v| !v.is_null())
}

fn opt_str(msg: &Value, key: &str) -> Result<Option<String>, ApiError> {
    match present(msg, key) {
        None => Ok(None),
        Some(Value::String(t)) if !t.trim().is_empty() => Ok(Some(t.clone())),
        Some(v) => Err(param_malformed(key, v)),
    }
}

fn req_str(msg: &Value, key: &str) -> Result<String, ApiError> {
    opt_str(msg, key)?.ok_or_else(|| param_missing(key))
}

fn opt_uuid(msg: &Value, key: &str) -> Result<Option<uuid::Uuid>, ApiError> {
    match present(msg, key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(|t| uuid::Uuid::parse_str(t.trim()).ok())
            .map(Some)
            .ok_or_else(|| param_malformed(key, v)),
    }
}

fn req_uuid(msg: &Value, key: &str) -> Result<uuid::Uuid, ApiError> {
    opt_uuid(msg, key)?.ok_or_else(|| param_missing(key))
}

fn opt_offset(msg: &Value, key: &str) -> Result<Option<u64>, ApiError> {
    match present(msg, key) {
        None => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| param_malformed(key, v)),
    }
}

fn chunks_of(msg: &Value) -> Result<Vec<String>, ApiError> {
    let v = present(msg, "chunks").ok_or_else(|| param_missing("chunks"))?;
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
        })
        .ok_or_else(|| param_malformed("chunks", v))
}

fn abort_reason_of(msg: &Value) -> Option<String> {
    match present(msg, "abort-reason")? {
        Value::String(t) if t.trim().is_empty() => None,
        Value::String(t) => Some(t.clone()),
        other => Some(other.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Stream records

/// The app, with the `$streams` attributes added if it lacks them (an app stored by an instant-local
/// from before streams, in a `--data` folder).
fn stream_app(db: &mut Db, app_id: &str) -> Result<AppMeta, ApiError> {
    let has = |db: &Db| {
        db.apps
            .get(app_id)
            .is_some_and(|a| a.attrs.fwd("$streams", "$files").is_some())
    };
    if !has(db) {
        db.update_app(app_id, stream_attrs(), None)?;
    }
    db.apps
        .get(app_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", json!({"id": app_id}), None))
}

fn stream_by_id(db: &Db, app: &AppMeta, id: &str) -> Result<Option<Map<String, Value>>, ApiError> {
    Reader::new(&db.conn, app.key).entity(&app.attrs, "$streams", id)
}

fn stream_by_client_id(
    db: &Db,
    app: &AppMeta,
    client_id: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    crate::store::entity_by_value(db, app, "$streams", "clientId", &json!(client_id))
}

fn field<'a>(ent: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    ent.get(key).and_then(Value::as_str)
}

fn is_done(ent: &Map<String, Value>) -> bool {
    ent.get("done").and_then(Value::as_bool) == Some(true)
}

/// Offsets of a stream: all bytes, the bytes in parts, and the number of parts.
#[derive(Debug, Clone, Copy, Default)]
struct Offsets {
    size: u64,
    parted: u64,
    parts: u64,
}

fn offsets(db: &Db, app: &AppMeta, stream: &str) -> Result<Offsets, ApiError> {
    let row = db
        .conn
        .query_row(
            "SELECT size, parted, parts FROM stream_state WHERE app = ?1 AND stream = ?2",
            params![app.key, stream],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()?;
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(row.map_or_else(Offsets::default, |(a, b, c)| Offsets {
        size: n(a),
        parted: n(b),
        parts: n(c),
    }))
}

fn save_offsets(db: &Db, app: &AppMeta, stream: &str, o: Offsets) -> Result<(), ApiError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    db.conn.execute(
        "INSERT INTO stream_state (app, stream, size, parted, parts) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(app, stream) DO UPDATE SET size = excluded.size, parted = excluded.parted,
         parts = excluded.parts",
        params![app.key, stream, n(o.size), n(o.parted), n(o.parts)],
    )?;
    Ok(())
}

/// The unflushed chunks of a stream: `(offset, bytes)` in order.
fn chunks(db: &Db, app: &AppMeta, stream: &str) -> Result<Vec<(u64, Vec<u8>)>, ApiError> {
    let mut st = db.conn.prepare_cached(
        "SELECT off, bytes FROM stream_chunks WHERE app = ?1 AND stream = ?2 ORDER BY off",
    )?;
    let rows = st.query_map(params![app.key, stream], |r| {
        Ok((u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0), r.get(1)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// A flushed part: its `$files` id, size, download URL and part number.
struct Part {
    id: String,
    size: u64,
    url: String,
    num: u64,
}

/// The parts of a stream in order (`$stream/<id>/<n>` files linked to it).
fn parts(db: &Db, app: &AppMeta, stream: &str, base: &str) -> Result<Vec<Part>, ApiError> {
    let Some(link) = app.attrs.fwd("$streams", "$files") else {
        return Ok(Vec::new());
    };
    let prefix = format!("$stream/{stream}/");
    let mut r = Reader::new(&db.conn, app.key);
    let mut out = Vec::new();
    for f in r.refs_from(stream, link.key)? {
        let Some(file) = r.entity(&app.attrs, "$files", &f)? else {
            continue;
        };
        let num = field(&file, "path")
            .and_then(|p| p.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok());
        let Some(num) = num else {
            continue;
        };
        let loc = field(&file, "location-id").unwrap_or_default();
        out.push(Part {
            id: f.clone(),
            size: file.get("size").and_then(Value::as_u64).unwrap_or(0),
            url: format!("{base}/storage/download/{}/{loc}", app.id),
            num,
        });
    }
    out.sort_by_key(|p| p.num);
    Ok(out)
}

fn internal_tx(db: &mut Db, app: &AppMeta, steps: Value) -> Result<(), ApiError> {
    transact(db, &app.id, &steps, &TxOptions::internal()).map(|_| ())
}

/// Writes the unflushed bytes as the next part, links it, and records `done`/`size`/
/// `abortReason` when the stream ends.
fn flush_part(
    db: &mut Db,
    app: &AppMeta,
    stream: &str,
    o: &mut Offsets,
    done: bool,
    abort_reason: Option<&str>,
) -> Result<(), ApiError> {
    let bytes: Vec<u8> = chunks(db, app, stream)?
        .into_iter()
        .flat_map(|(_, b)| b)
        .collect();
    let path = format!("$stream/{stream}/{}", o.parts);
    let file = store_file(
        db,
        app,
        &path,
        Some("application/octet-stream".into()),
        None,
        &bytes,
    )?;
    let mut steps = vec![json!(["link", "$streams", stream, {"$files": file.get("id")}])];
    if done {
        let mut fields = json!({"done": true, "size": o.size});
        if let (Some(r), Some(m)) = (abort_reason, fields.as_object_mut()) {
            m.insert("abortReason".into(), json!(r));
        }
        steps.push(json!(["update", "$streams", stream, fields]));
    }
    internal_tx(db, app, Value::Array(steps))?;
    db.conn.execute(
        "DELETE FROM stream_chunks WHERE app = ?1 AND stream = ?2",
        params![app.key, stream],
    )?;
    o.parted = o.size;
    o.parts += 1;
    save_offsets(db, app, stream, *o)
}

fn streams_denied(action: &str) -> ApiError {
    ApiError::new(
        400,
        "permission-denied",
        "Permission denied: not has-streams-permission?",
        json!({"input": ["$streams", action], "expected": "has-streams-permission?"}),
    )
}

/// The `$streams` rule check of a non-admin session (no rule denies).
fn check_rule(
    db: &Db,
    app: &AppMeta,
    who: &Who,
    action: &str,
    data: &Map<String, Value>,
    rule_params: Option<&Value>,
) -> Result<(), ApiError> {
    let rp = rule_params.cloned().unwrap_or_else(|| json!({}));
    let Some(p) = perm_ctx(app, who, rp, None) else {
        return Ok(());
    };
    let mut r = Reader::new(&db.conn, app.key);
    let vars = Vars {
        data: Some(data),
        rule_params,
        ..Vars::default()
    };
    if p.check(&mut r, &app.attrs, "$streams", action, &vars)?.ok {
        Ok(())
    } else {
        Err(streams_denied(action))
    }
}

// ---------------------------------------------------------------------------------------------
// Ops

/// `start-stream`: creates the stream, or re-attaches to it with the same reconnect token.
fn start_stream(s: &Shared, db: &mut Db, session: &str, msg: &Value) -> Result<(), ApiError> {
    let (app_id, who) = s.streams.context(session)?;
    let app = stream_app(db, &app_id)?;
    let client_id = req_str(msg, "client-id")?;
    let rule_params = present(msg, "rule-params");
    let data = Map::from_iter([("clientId".to_string(), json!(client_id))]);
    check_rule(db, &app, &who, "create", &data, rule_params)?;
    let token = req_uuid(msg, "reconnect-token")?;
    let hashed = hex::encode(sha256(token.as_bytes()));
    let machine = s.streams.machine_id.clone();
    let refused = |m: &str| {
        ApiError::validation_msg(
            "start-stream",
            json!({"sess-id": session, "client-id": client_id}),
            m,
        )
    };
    let (id, offset) = match stream_by_client_id(db, &app, &client_id)? {
        Some(ent) => {
            if field(&ent, "hashedReconnectToken") != Some(hashed.as_str()) {
                return Err(refused(
                    "A stream with that clientId already exists. Reconnect token is invalid.",
                ));
            }
            if is_done(&ent) {
                return Err(refused("Stream is closed."));
            }
            let id = field(&ent, "id").unwrap_or_default().to_string();
            internal_tx(
                db,
                &app,
                json!([["update", "$streams", id, {"machineId": machine}]]),
            )?;
            let size = offsets(db, &app, &id)?.size;
            (id, size)
        }
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            internal_tx(
                db,
                &app,
                json!([["update", "$streams", id, {"clientId": client_id, "machineId": machine,
                                                   "hashedReconnectToken": hashed}]]),
            )?;
            save_offsets(db, &app, &id, Offsets::default())?;
            (id, 0)
        }
    };
    s.streams
        .lock()
        .writers
        .insert((app.id.clone(), id.clone()), session.to_string());
    notify(s, &app.id);
    s.streams.send(
        session,
        json!({"op": "start-stream-ok", "client-event-id": msg.get("client-event-id"),
               "client-id": client_id, "stream-id": id, "offset": offset}),
    );
    Ok(())
}

/// `append-stream`: appends chunks at the expected offset; `done` ends the stream.
fn append_stream(s: &Shared, db: &mut Db, session: &str, msg: &Value) -> Result<(), ApiError> {
    let (app_id, _) = s.streams.context(session)?;
    let app = stream_app(db, &app_id)?;
    let stream = req_uuid(msg, "stream-id")?.to_string();
    let done = present(msg, "done").and_then(Value::as_bool) == Some(true);
    let abort_reason = abort_reason_of(msg);
    let expected = opt_offset(msg, "offset")?.ok_or_else(|| param_missing("offset"))?;
    let new = chunks_of(msg)?;
    let key = (app.id.clone(), stream.clone());
    let refused = |m: &str, input: Value| ApiError::validation_msg("append-stream", input, m);
    if s.streams.lock().writers.get(&key).map(String::as_str) != Some(session) {
        return Err(refused(
            "Stream is missing.",
            json!({"sess-id": session, "stream-id": stream}),
        ));
    }
    let ent = stream_by_id(db, &app, &stream)?.unwrap_or_default();
    if is_done(&ent) {
        return Err(refused(
            "Stream is completed.",
            json!({"stream-id": stream}),
        ));
    }
    let mut o = offsets(db, &app, &stream)?;
    if o.size != expected {
        return Err(refused(
            "Invalid offset for stream.",
            json!({"stream-id": stream, "expected-offset": expected, "offset": o.size}),
        ));
    }
    let content = new.concat();
    let start = o.size;
    if !content.is_empty() {
        db.conn.execute(
            "INSERT OR REPLACE INTO stream_chunks (app, stream, off, bytes) VALUES (?1, ?2, ?3, ?4)",
            params![app.key, stream, i64::try_from(start).unwrap_or(i64::MAX), content.as_bytes()],
        )?;
    }
    o.size += content.len() as u64;
    save_offsets(db, &app, &stream, o)?;
    if done || o.size - o.parted >= FLUSH_LIMIT {
        flush_part(db, &app, &stream, &mut o, done, abort_reason.as_deref())?;
        notify(s, &app.id);
    }
    for sub in s.streams.readers(&key) {
        let m = json!({"op": "stream-append", "client-event-id": sub.event_id, "stream-id": stream,
                       "client-id": sub.client_id, "offset": start, "content": content});
        s.streams.send(&sub.session, m);
        if done {
            let mut end = json!({"op": "stream-append", "client-event-id": sub.event_id,
                                 "stream-id": stream, "client-id": sub.client_id, "done": true});
            if let (Some(r), Some(obj)) = (&abort_reason, end.as_object_mut()) {
                obj.insert("abort-reason".into(), json!(r));
            }
            s.streams.send(&sub.session, end);
        }
    }
    s.streams.send(
        session,
        json!({"op": "stream-flushed", "stream-id": stream, "offset": o.size, "done": done}),
    );
    Ok(())
}

/// The parts that end after `requested`, and the offset of the first of them.
fn parts_from(parts: Vec<Part>, requested: u64) -> (u64, Vec<Part>) {
    let mut start = 0;
    let mut out = Vec::new();
    for p in parts {
        if !out.is_empty() || start + p.size > requested {
            out.push(p);
        } else {
            start += p.size;
        }
    }
    (start, out)
}

fn files_json(parts: &[Part]) -> Value {
    parts
        .iter()
        .map(|p| json!({"id": p.id, "size": p.size, "url": p.url}))
        .collect()
}

/// `subscribe-stream`: a done stream answers with its parts; a live one with what it has from the
/// offset, then every append until done.
fn subscribe_stream(s: &Shared, db: &mut Db, session: &str, msg: &Value) -> Result<(), ApiError> {
    let (app_id, who) = s.streams.context(session)?;
    let app = stream_app(db, &app_id)?;
    let stream_id = opt_uuid(msg, "stream-id")?;
    let client_id = opt_str(msg, "client-id")?;
    let requested = opt_offset(msg, "offset")?.unwrap_or(0);
    if stream_id.is_none() && client_id.is_none() {
        return Err(ApiError::validation_msg(
            "subscribe-stream",
            json!({"sess-id": session}),
            "Must provide either a stream-id or a client-id",
        ));
    }
    let ent = match (&stream_id, &client_id) {
        (Some(id), _) => stream_by_id(db, &app, &id.to_string())?,
        (None, Some(c)) => stream_by_client_id(db, &app, c)?,
        (None, None) => None,
    };
    let Some(ent) = ent else {
        return Err(ApiError::validation_msg(
            "subscribe-stream",
            json!({"sess-id": session, "stream-id": stream_id, "client-id": client_id}),
            "Stream is missing.",
        ));
    };
    check_rule(db, &app, &who, "view", &ent, present(msg, "rule-params"))?;
    let id = field(&ent, "id").unwrap_or_default().to_string();
    let stream_client = field(&ent, "clientId").unwrap_or_default().to_string();
    let event_id = msg.get("client-event-id").cloned().unwrap_or(Value::Null);
    let base = s.base();
    let (start, files) = parts_from(parts(db, &app, &id, &base)?, requested);
    let mut out = json!({"op": "stream-append", "client-event-id": event_id, "stream-id": id,
                         "client-id": stream_client, "offset": start, "files": files_json(&files)});
    if is_done(&ent) {
        if let Some(m) = out.as_object_mut() {
            m.insert("done".into(), Value::Bool(true));
            m.insert(
                "abort-reason".into(),
                ent.get("abortReason").cloned().unwrap_or(Value::Null),
            );
        }
        s.streams.send(session, out);
        return Ok(());
    }
    let mut at = files.iter().map(|p| p.size).sum::<u64>() + start;
    let mut content = Vec::new();
    for (off, bytes) in chunks(db, &app, &id)? {
        if !files.is_empty() || !content.is_empty() || off + bytes.len() as u64 > requested {
            content.extend_from_slice(&bytes);
        } else {
            at = off + bytes.len() as u64;
        }
    }
    if let Some(m) = out.as_object_mut() {
        if files.is_empty() {
            m.insert("offset".into(), json!(at));
        }
        m.insert(
            "content".into(),
            json!(String::from_utf8_lossy(&content).into_owned()),
        );
    }
    s.streams
        .lock()
        .readers
        .entry((app.id.clone(), id))
        .or_default()
        .push(Sub {
            session: session.to_string(),
            event_id,
            client_id: stream_client,
        });
    s.streams.send(session, out);
    Ok(())
}

/// `unsubscribe-stream`: stops a reader of this session.
fn unsubscribe_stream(s: &Shared, session: &str, msg: &Value) -> Result<(), ApiError> {
    s.streams.context(session)?;
    let event_id = opt_str(msg, "subscribe-event-id")?;
    let mut st = s.streams.lock();
    let mut found = false;
    for subs in st.readers.values_mut() {
        let before = subs.len();
        subs.retain(|r| {
            !(r.session == session
                && event_id.is_some()
                && r.event_id.as_str() == event_id.as_deref())
        });
        found |= subs.len() != before;
    }
    st.readers.retain(|_, subs| !subs.is_empty());
    drop(st);
    if found {
        Ok(())
    } else {
        Err(ApiError::validation_msg(
            "unsubscribe-stream",
            json!({"sess-id": session, "subscribe-event-id": event_id}),
            "Stream subscription is missing.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(size: u64, num: u64) -> Part {
        Part {
            id: num.to_string(),
            size,
            url: String::new(),
            num,
        }
    }

    #[test]
    fn parts_from_an_offset_start_at_the_part_holding_it() {
        let all = || vec![part(3, 0), part(4, 1), part(5, 2)];
        let (start, p) = parts_from(all(), 0);
        assert_eq!((start, p.len()), (0, 3));
        let (start, p) = parts_from(all(), 3);
        assert_eq!((start, p.len()), (3, 2));
        let (start, p) = parts_from(all(), 8);
        assert_eq!((start, p.len()), (7, 1));
        let (start, p) = parts_from(all(), 12);
        assert_eq!((start, p.len()), (12, 0));
    }

    #[test]
    fn reconnect_tokens_hash_as_the_server_does() {
        let t = uuid::Uuid::nil();
        assert_eq!(hex::encode(sha256(t.as_bytes())).len(), 64);
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
