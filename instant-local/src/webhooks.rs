//! Webhooks (admin-protocol.md §10): management under `/dash/apps/{app}/webhooks`, events made
//! from committed transactions, signed delivery by a background task, the payload route and the
//! JWKS.
//!
//! How it follows the real server:
//! - A transaction of an app with active webhooks hands its entity changes (namespace, id, the
//!   entity's data attributes before and after) to [`committed`]. Each active webhook that watches
//!   one of the namespaces with a matching action gets one event, `pending`, with the
//!   transaction's isn (`0/<tx hex>/0`: slot 0, LSN high word = transaction id). The changes are
//!   kept once per transaction; the payload's records are built from them when fetched, with the
//!   webhook's current namespaces and actions, as the real server builds them from its WAL log:
//!   creates and updates first, then deletes; updates that change no data attribute (link-only)
//!   are left out.
//! - Delivery POSTs `{"payloadUrl","token"}` with `Instant-Signature: t=..,kid=..,v1=<hex>`
//!   (Ed25519 over `"<t>.<body>"`), `Idempotency-Key` and the real user agent; 2xx is success;
//!   each attempt is recorded with the real fields. Failures are retried on the real schedule's
//!   shape **scaled down 600 times** (1 min → 100 ms, 5 min → 500 ms, 30 min → 3 s, 2 h → 12 s,
//!   5 h → 30 s, 10 h → 60 s, then 72 s), 11 attempts at most; a 410 answer fails the event and
//!   disables the webhook; a disabled webhook's event fails with error type `disabled`.
//! - Simplifications: `http://` and local URLs are accepted (the real server wants public
//!   `https`), namespaces are stored by name (the real one stores the `id` attribute ids), and
//!   events are not pruned after 60 days.

use crate::error::ApiError;
use crate::server::{reply, Fail, Req, Shared};
use crate::store::{Db, Reader};
use crate::values::{now_ms, parse_uuid};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Tables of webhooks, their events and the changes of the transactions that made events.
pub const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS webhooks (
  id TEXT PRIMARY KEY, app TEXT NOT NULL, url TEXT NOT NULL, namespaces TEXT NOT NULL,
  actions TEXT NOT NULL, status TEXT NOT NULL, disabled_reason TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_events (
  webhook TEXT NOT NULL, tx INTEGER NOT NULL, app TEXT NOT NULL, isn TEXT NOT NULL,
  status TEXT NOT NULL, attempts TEXT NOT NULL, next_attempt_after INTEGER,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (webhook, tx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS webhook_events_status ON webhook_events (status, next_attempt_after);
CREATE TABLE IF NOT EXISTS webhook_txs (
  app TEXT NOT NULL, tx INTEGER NOT NULL, changes TEXT NOT NULL,
  PRIMARY KEY (app, tx)) WITHOUT ROWID;
";

const KEY_SETTING: &str = "webhook_signing_key";
const PAGE_SIZE: usize = 100;
const MAX_ACTIVE: i64 = 100;
const MAX_ATTEMPTS: usize = 11;
const ACTIONS: &[&str] = &["create", "update", "delete"];

/// One entity changed by a committed transaction: its data attributes before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Namespace.
    pub namespace: String,
    /// Entity id.
    pub id: String,
    /// Data attributes before the transaction (`None`: did not exist).
    pub before: Option<Map<String, Value>>,
    /// Data attributes after the transaction (`None`: deleted).
    pub after: Option<Map<String, Value>>,
}

impl Change {
    fn action(&self) -> Option<&'static str> {
        match (&self.before, &self.after) {
            (None, Some(_)) => Some("create"),
            (Some(_), Some(_)) => Some("update"),
            (Some(_), None) => Some("delete"),
            (None, None) => None,
        }
    }

    fn to_json(&self) -> Value {
        json!({"namespace": self.namespace, "id": self.id, "before": self.before, "after": self.after})
    }

    fn from_json(v: &Value) -> Option<Change> {
        let obj = |k: &str| v.get(k).and_then(Value::as_object).cloned();
        Some(Change {
            namespace: v.get("namespace")?.as_str()?.to_string(),
            id: v.get("id")?.as_str()?.to_string(),
            before: obj("before"),
            after: obj("after"),
        })
    }
}

/// The data attributes (no links) of an entity as the transaction sees it, with its `id`.
pub fn snapshot(
    reader: &mut Reader<'_>,
    attrs: &crate::attrs::Attrs,
    etype: &str,
    e: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(id) = attrs.id_attr(etype) else {
        return Ok(None);
    };
    let Some(ent) = reader.ent(id.key, e)? else {
        return Ok(None);
    };
    let mut m = Map::new();
    m.insert("id".into(), Value::String(e.to_string()));
    for (k, v) in ent.doc.iter() {
        if let Some(a) = attrs.by_key(k) {
            if !a.is_ref {
                m.insert(a.label.clone(), v.clone());
            }
        }
    }
    Ok(Some(m))
}

#[derive(Debug, Clone)]
struct Hook {
    id: String,
    namespaces: Vec<String>,
    actions: Vec<String>,
}

impl Hook {
    fn matches(&self, changes: &[Change]) -> bool {
        changes.iter().any(|c| {
            self.namespaces.contains(&c.namespace)
                && c.action()
                    .is_some_and(|a| self.actions.iter().any(|x| x == a))
        })
    }
}

/// The active webhooks by app id (what a commit checks) and the server's signing key.
pub struct Registry {
    hooks: HashMap<String, Vec<Hook>>,
    wake: Arc<tokio::sync::Notify>,
    key: SigningKey,
    kid: String,
}

fn random_key() -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(uuid::Uuid::new_v4().as_bytes());
    h.update(uuid::Uuid::new_v4().as_bytes());
    h.update(now_ms().to_be_bytes());
    h.update(std::process::id().to_be_bytes());
    h.finalize().into()
}

impl Registry {
    /// Loads the active webhooks and the signing key (made and stored on first use); events left
    /// `processing` by a stopped server are queued again.
    pub fn load(conn: &rusqlite::Connection) -> Result<Registry, rusqlite::Error> {
        let stored: Option<String> = conn
            .query_row("SELECT v FROM settings WHERE k = ?1", [KEY_SETTING], |r| {
                r.get(0)
            })
            .optional()?;
        let bytes = stored
            .and_then(|h| hex::decode(h).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        let bytes = match bytes {
            Some(b) => b,
            None => {
                let b = random_key();
                conn.execute(
                    "INSERT INTO settings (k, v) VALUES (?1, ?2)
                     ON CONFLICT(k) DO UPDATE SET v = excluded.v",
                    params![KEY_SETTING, hex::encode(b)],
                )?;
                b
            }
        };
        let key = SigningKey::from_bytes(&bytes);
        let digest = Sha256::digest(key.verifying_key().as_bytes());
        let kid = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]).to_string();
        conn.execute(
            "UPDATE webhook_events SET status = 'pending' WHERE status = 'processing'",
            [],
        )?;
        let mut reg = Registry {
            hooks: HashMap::new(),
            wake: Arc::new(tokio::sync::Notify::new()),
            key,
            kid,
        };
        reg.reload(conn)?;
        Ok(reg)
    }

    fn reload(&mut self, conn: &rusqlite::Connection) -> Result<(), rusqlite::Error> {
        let mut hooks: HashMap<String, Vec<Hook>> = HashMap::new();
        let mut st = conn
            .prepare("SELECT id, app, namespaces, actions FROM webhooks WHERE status = 'active'")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        for row in rows {
            let (id, app, ns, acts) = row?;
            hooks.entry(app).or_default().push(Hook {
                id,
                namespaces: serde_json::from_str(&ns).unwrap_or_default(),
                actions: serde_json::from_str(&acts).unwrap_or_default(),
            });
        }
        self.hooks = hooks;
        Ok(())
    }

    /// Whether app `app_id` has an active webhook (then its transactions report their changes).
    pub fn watches(&self, app_id: &str) -> bool {
        !self.hooks.is_empty() && self.hooks.contains_key(app_id)
    }
}

/// The isn of transaction `tx`: slot 0, LSN `<tx>/0` (hex, as Postgres prints an LSN).
fn isn_of(tx: i64) -> String {
    format!("0/{tx:X}/0")
}

/// Parses an isn `slot/hi/lo` (hex) into its slot and LSN.
fn parse_isn(s: &str) -> Option<(u32, u64)> {
    let mut parts = s.split('/');
    let slot = u32::from_str_radix(parts.next()?, 16).ok()?;
    let hi = u32::from_str_radix(parts.next()?, 16).ok()?;
    let lo = u32::from_str_radix(parts.next()?, 16).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((slot, (u64::from(hi) << 32) | u64::from(lo)))
}

fn isn_bytes(slot: u32, lsn: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&slot.to_be_bytes());
    b[4..].copy_from_slice(&lsn.to_be_bytes());
    b
}

/// The canonical text of an isn and its transaction id.
fn norm_isn(s: &str) -> Option<(String, i64, [u8; 12])> {
    let (slot, lsn) = parse_isn(s)?;
    let text = format!("{slot:X}/{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff);
    Some((text, i64::try_from(lsn >> 32).ok()?, isn_bytes(slot, lsn)))
}

fn uuid_bytes(s: &str) -> [u8; 16] {
    uuid::Uuid::parse_str(s)
        .map(|u| *u.as_bytes())
        .unwrap_or_default()
}

fn digest_uuid(h: Sha256) -> String {
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Uuid::from_bytes(b).to_string()
}

fn payload_idempotency_key(webhook: &str, isn: &[u8; 12]) -> String {
    let mut h = Sha256::new();
    h.update(uuid_bytes(webhook));
    h.update(isn);
    digest_uuid(h)
}

fn record_idempotency_key(ns: &str, action: &str, id: &str, isn: &[u8; 12]) -> String {
    let mut h = Sha256::new();
    h.update(ns.as_bytes());
    h.update(action.as_bytes());
    h.update(uuid_bytes(id));
    h.update(isn);
    digest_uuid(h)
}

/// Called after a commit of an app that [`Registry::watches`]: makes the events of the matching
/// webhooks and wakes the sender. Failures are logged, never the transaction's.
pub fn committed(db: &mut Db, app_id: &str, tx: i64, changes: &[Change]) {
    if let Err(e) = make_events(db, app_id, tx, changes) {
        tracing::warn!(error = %e, "webhook events not recorded");
    }
}

fn make_events(
    db: &mut Db,
    app_id: &str,
    tx: i64,
    changes: &[Change],
) -> Result<(), rusqlite::Error> {
    let Some(hooks) = db.webhooks.hooks.get(app_id) else {
        return Ok(());
    };
    let matching: Vec<&Hook> = hooks.iter().filter(|h| h.matches(changes)).collect();
    if matching.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let isn = isn_of(tx);
    let data = Value::Array(changes.iter().map(Change::to_json).collect()).to_string();
    db.conn.execute(
        "INSERT OR REPLACE INTO webhook_txs (app, tx, changes) VALUES (?1, ?2, ?3)",
        params![app_id, tx, data],
    )?;
    for h in matching {
        db.conn.execute(
            "INSERT OR IGNORE INTO webhook_events
             (webhook, tx, app, isn, status, attempts, next_attempt_after, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', '[]', NULL, ?5, ?5)",
            params![h.id, tx, app_id, isn, now],
        )?;
    }
    db.webhooks.wake.notify_one();
    Ok(())
}

/// The records of a transaction's changes for a webhook, as the real payload has them.
fn records(
    base: &str,
    app_id: &str,
    namespaces: &[String],
    actions: &[String],
    isn: &[u8; 12],
    changes: &[Change],
) -> Vec<Value> {
    let watched = |ns: &str, action: &str| {
        namespaces.iter().any(|n| n == ns) && actions.iter().any(|a| a == action)
    };
    let with_url = |o: &Option<Map<String, Value>>| -> Value {
        match o {
            None => Value::Null,
            Some(m) => {
                let mut m = m.clone();
                if let Some(loc) = m.get("location-id").and_then(Value::as_str) {
                    let url = format!("{base}/storage/download/{app_id}/{loc}");
                    m.insert("url".into(), Value::String(url));
                }
                Value::Object(m)
            }
        }
    };
    let mut out = Vec::new();
    for c in changes {
        let Some(after) = &c.after else { continue };
        let action = if c.before.is_some() {
            "update"
        } else {
            "create"
        };
        if !watched(&c.namespace, action) {
            continue;
        }
        let before = if action == "update" {
            c.before.clone()
        } else {
            None
        };
        if before.as_ref() == Some(after) {
            continue;
        }
        let files = c.namespace == "$files";
        let shown = |o: &Option<Map<String, Value>>| {
            if files {
                with_url(o)
            } else {
                json!(o)
            }
        };
        out.push(json!({
            "namespace": c.namespace, "action": action, "id": c.id,
            "before": shown(&before), "after": shown(&c.after),
            "idempotencyKey": record_idempotency_key(&c.namespace, action, &c.id, isn),
        }));
    }
    for c in changes {
        if c.after.is_some() || c.before.is_none() || !watched(&c.namespace, "delete") {
            continue;
        }
        let before = if c.namespace == "$files" {
            with_url(&c.before)
        } else {
            json!(c.before)
        };
        out.push(json!({
            "namespace": c.namespace, "action": "delete", "id": c.id,
            "before": before, "after": null,
            "idempotencyKey": record_idempotency_key(&c.namespace, "delete", &c.id, isn),
        }));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Signing: JWKS, payload tokens, signatures.

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

fn now_secs() -> i64 {
    now_ms() / 1000
}

/// The payload token: a JWT (EdDSA) with issuer, subject = app id, an hour's expiry and the
/// app-id, webhook-id and isn claims, as webhook_jwt.clj makes it.
fn payload_token(
    key: &SigningKey,
    kid: &str,
    base: &str,
    app: &str,
    webhook: &str,
    isn: &str,
) -> String {
    let header = json!({"kid": kid, "typ": "JWT", "alg": "EdDSA"});
    let claims = json!({"iss": base, "sub": app, "exp": now_secs() + 3600,
                        "app-id": app, "webhook-id": webhook, "isn": isn});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

fn jwt_error(message: &str) -> ApiError {
    ApiError::validation(
        "jwt",
        json!("<redacted token>"),
        vec![json!({ "message": message })],
    )
}

/// Checks a payload token against the route's app, webhook and isn.
fn verify_token(
    key: &VerifyingKey,
    token: &str,
    base: &str,
    app: &str,
    webhook: &str,
    isn: &str,
) -> Result<(), ApiError> {
    let invalid = || jwt_error("Invalid JWT.");
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, s] = parts.as_slice() else {
        return Err(invalid());
    };
    let header: Value = unb64(h)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    let claims: Value = unb64(p)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(invalid)?;
    if header.get("alg").and_then(Value::as_str) != Some("EdDSA") {
        return Err(invalid());
    }
    let sig = unb64(s)
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b))
        .ok_or_else(invalid)?;
    key.verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| invalid())?;
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(jwt_error("JWT missing required claims: [exp]"));
    };
    if exp < now_secs() {
        return Err(jwt_error("Expired JWT"));
    }
    for (name, want) in [
        ("iss", base),
        ("sub", app),
        ("webhook-id", webhook),
        ("app-id", app),
        ("isn", isn),
    ] {
        let got = claims.get(name).and_then(Value::as_str);
        if got != Some(want) {
            return Err(jwt_error(&format!(
                "JWT \"{name}\" claim has value {}, must be {want}",
                got.unwrap_or("null")
            )));
        }
    }
    Ok(())
}

/// `GET /.well-known/webhooks/jwks.json`: the server's Ed25519 public key as a JWK set.
pub async fn jwks(State(s): State<Arc<Shared>>) -> Response {
    let db = s.lock();
    let reg = &db.webhooks;
    axum::Json(json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": reg.kid,
        "x": b64(reg.key.verifying_key().as_bytes()),
    }]}))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Rows.

fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

struct Row {
    id: String,
    url: String,
    namespaces: Vec<String>,
    actions: Vec<String>,
    status: String,
    disabled_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    fn json(&self) -> Value {
        json!({"id": self.id, "sink": {"url": self.url}, "namespaces": self.namespaces,
               "actions": self.actions, "status": self.status,
               "disabled_reason": self.disabled_reason, "created_at": ts(self.created_at),
               "updated_at": ts(self.updated_at)})
    }
}

const ROW_COLS: &str =
    "id, url, namespaces, actions, status, disabled_reason, created_at, updated_at";

fn row_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        url: r.get(1)?,
        namespaces: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
        actions: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
        status: r.get(4)?,
        disabled_reason: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn get_row(db: &Db, app: &str, id: &str) -> Result<Row, ApiError> {
    let sql = format!("SELECT {ROW_COLS} FROM webhooks WHERE app = ?1 AND id = ?2");
    db.conn
        .query_row(&sql, params![app, id], row_of)
        .optional()?
        .ok_or_else(|| {
            ApiError::not_found("webhook", json!([{"app-id": app, "webhook-id": id}]), None)
        })
}

struct EventRow {
    isn: String,
    status: String,
    attempts: Value,
    next_attempt_after: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl EventRow {
    fn json(&self) -> Value {
        // A new event has no attempts array yet (null), as in the real table.
        let attempts = match &self.attempts {
            Value::Array(a) if a.is_empty() => Value::Null,
            a => a.clone(),
        };
        json!({"isn": self.isn, "status": self.status, "attempts": attempts,
               "next_attempt_after": self.next_attempt_after.map(ts),
               "created_at": ts(self.created_at), "updated_at": ts(self.updated_at)})
    }
}

const EVENT_COLS: &str = "isn, status, attempts, next_attempt_after, created_at, updated_at";

fn event_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventRow> {
    Ok(EventRow {
        isn: r.get(0)?,
        status: r.get(1)?,
        attempts: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(json!([])),
        next_attempt_after: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
    })
}

fn get_event_row(db: &Db, app: &str, webhook: &str, tx: i64) -> rusqlite::Result<Option<EventRow>> {
    let sql = format!(
        "SELECT {EVENT_COLS} FROM webhook_events WHERE app = ?1 AND webhook = ?2 AND tx = ?3"
    );
    db.conn
        .query_row(&sql, params![app, webhook, tx], event_of)
        .optional()
}

// ---------------------------------------------------------------------------------------------
// Management routes.

fn app_param(raw: &str) -> Result<String, ApiError> {
    parse_uuid(raw).ok_or_else(|| ApiError::param_malformed(&["params", "app_id"], json!(raw)))
}

fn webhook_param(raw: &str) -> Result<String, ApiError> {
    parse_uuid(raw).ok_or_else(|| ApiError::param_malformed(&["params", "webhook_id"], json!(raw)))
}

fn isn_param(raw: &str) -> Result<(String, i64, [u8; 12]), ApiError> {
    norm_isn(raw).ok_or_else(|| ApiError::param_malformed(&["params", "*"], json!(raw)))
}

fn non_blank(body: &Value, key: &str) -> Result<String, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::param_missing(&["body", key])),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(other) => Err(ApiError::param_malformed(&["body", key], other.clone())),
    }
}

fn string_vec(body: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::param_missing(&["body", key])),
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Ok(a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()),
        Some(other) => Err(ApiError::param_malformed(&["body", key], other.clone())),
    }
}

fn check_url(url: &str) -> Result<(), ApiError> {
    let bad = |m: &str| ApiError::validation_msg("webhook", json!({ "url": url }), m);
    let uri: axum::http::Uri = url.parse().map_err(|_| bad("Invalid URL."))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("The Webhook url must be https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("Invalid URL."));
    }
    Ok(())
}

fn check_namespaces(db: &Db, app: &str, namespaces: &[String]) -> Result<(), ApiError> {
    let meta = db
        .apps
        .get(app)
        .ok_or_else(|| ApiError::not_found("app", json!({ "id": app }), None))?;
    for ns in namespaces {
        if meta.attrs.id_attr(ns).is_none() {
            return Err(ApiError::validation_msg(
                "webhook",
                json!({ "namespace": ns }),
                format!("Could not find matching table for {ns}"),
            ));
        }
    }
    if namespaces.is_empty() {
        return Err(ApiError::validation_msg(
            "webhook",
            json!({ "namespaces": namespaces }),
            "Webhook must have at least one table.",
        ));
    }
    Ok(())
}

fn check_actions(actions: &[String]) -> Result<(), ApiError> {
    if actions.is_empty() {
        return Err(ApiError::validation_msg(
            "webhook",
            json!({ "actions": actions }),
            "Webhook must have at least one action.",
        ));
    }
    if let Some(bad) = actions.iter().find(|a| !ACTIONS.contains(&a.as_str())) {
        return Err(ApiError::validation_msg(
            "webhook",
            json!({ "actions": actions }),
            format!("Invalid action: {bad}. Expected create, update or delete."),
        ));
    }
    Ok(())
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn check_limit(db: &Db, app: &str) -> Result<(), ApiError> {
    let n: i64 = db.conn.query_row(
        "SELECT count(*) FROM webhooks WHERE app = ?1 AND status = 'active'",
        [app],
        |r| r.get(0),
    )?;
    if n >= MAX_ACTIVE {
        return Err(ApiError::validation_msg(
            "webhooks",
            json!({ "app-id": app }),
            format!("An app may not have more than {MAX_ACTIVE} active webhooks."),
        ));
    }
    Ok(())
}

fn check_duplicate(
    db: &Db,
    app: &str,
    url: &str,
    namespaces: &[String],
    actions: &[String],
    ignore: Option<&str>,
) -> Result<(), ApiError> {
    let sql = format!("SELECT {ROW_COLS} FROM webhooks WHERE app = ?1 AND status = 'active'");
    let mut st = db.conn.prepare(&sql)?;
    let rows = st.query_map([app], row_of)?;
    for row in rows {
        let row = row?;
        if Some(row.id.as_str()) != ignore
            && row.url == url
            && sorted(&row.namespaces) == sorted(namespaces)
            && sorted(&row.actions) == sorted(actions)
        {
            return Err(ApiError::validation(
                "webhooks",
                json!({ "app-id": app }),
                vec![
                    json!({"message": "A webhook already exists with all of the same properties",
                            "hint": {"webhook-id": row.id}}),
                ],
            ));
        }
    }
    Ok(())
}

fn reload(db: &mut Db) -> Result<(), ApiError> {
    let db = &mut *db;
    db.webhooks.reload(&db.conn)?;
    Ok(())
}

/// Checks a dashboard-route bearer token as the real routes do for an admin token: it must be
/// the admin token of the app in the path; another app's token is a mismatch; any other token
/// is looked up as a dashboard user's refresh token, which never exists here (a 401).
fn check_dash_token(db: &Db, req: &Req, app: &str) -> Result<(), ApiError> {
    let (_, token) = req.bearer()?;
    let token = parse_uuid(&token).unwrap_or_default();
    match db.apps.values().find(|a| a.admin_token == token) {
        Some(a) if a.id == app => Ok(()),
        Some(_) => Err(ApiError::new(
            400,
            "validation-failed",
            format!(
                "This admin token does not belong to app {app}. Admin tokens are bound to a \
                 single app. Use a personal access token to manage other apps."
            ),
            json!({"reason": "admin-token-mismatch"}),
        )),
        None => Err(ApiError::new(
            401,
            "record-not-found",
            "Record not found: instant-user",
            json!({"args": [{"auth?": true}], "record-type": "instant-user"}),
        )),
    }
}

/// Authenticates a management call: the admin token of the app in the path.
fn authed(s: &Shared, req: &Req, app: &str) -> Result<String, ApiError> {
    let app = app_param(app)?;
    let db = s.lock();
    check_dash_token(&db, req, &app)?;
    Ok(app)
}

/// `GET /dash/apps/{app}/webhooks`: the app's webhooks, newest first.
pub async fn list(State(s): State<Arc<Shared>>, Path(app): Path<String>, req: Req) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let db = s.lock();
        let sql = format!(
            "SELECT {ROW_COLS} FROM webhooks WHERE app = ?1 ORDER BY created_at DESC, rowid DESC"
        );
        let mut st = db.conn.prepare(&sql)?;
        let rows = st
            .query_map([&app], row_of)?
            .map(|r| r.map(|r| r.json()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok::<_, Fail>(json!({ "webhooks": rows }))
    })())
}

/// `POST /dash/apps/{app}/webhooks`: creates a webhook.
pub async fn create(State(s): State<Arc<Shared>>, Path(app): Path<String>, req: Req) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let body = req.json()?;
        let url = non_blank(&body, "url")?;
        let namespaces = string_vec(&body, "namespaces")?;
        let actions = string_vec(&body, "actions")?;
        check_url(&url)?;
        let mut db = s.lock();
        check_namespaces(&db, &app, &namespaces)?;
        check_actions(&actions)?;
        check_limit(&db, &app)?;
        check_duplicate(&db, &app, &url, &namespaces, &actions, None)?;
        let id = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        db.conn.execute(
            "INSERT INTO webhooks (id, app, url, namespaces, actions, status, disabled_reason,
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'active', NULL, ?6, ?6)",
            params![
                id,
                app,
                url,
                json!(namespaces).to_string(),
                json!(actions).to_string(),
                now
            ],
        )?;
        reload(&mut db)?;
        Ok::<_, Fail>(json!({ "webhook": get_row(&db, &app, &id)?.json() }))
    })())
}

/// `POST /dash/apps/{app}/webhooks/{id}`: changes the url, namespaces and/or actions.
pub async fn update(
    State(s): State<Arc<Shared>>,
    Path((app, id)): Path<(String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let body = req.json()?;
        let has = |k: &str| body.get(k).is_some();
        let url = if has("url") {
            Some(non_blank(&body, "url")?)
        } else {
            None
        };
        let namespaces = if has("namespaces") {
            Some(string_vec(&body, "namespaces")?)
        } else {
            None
        };
        let actions = if has("actions") {
            Some(string_vec(&body, "actions")?)
        } else {
            None
        };
        if let Some(u) = &url {
            check_url(u)?;
        }
        let mut db = s.lock();
        if let Some(a) = &actions {
            check_actions(a)?;
        }
        if let Some(n) = &namespaces {
            check_namespaces(&db, &app, n)?;
        }
        let existing = get_row(&db, &app, &id)?;
        let url = url.unwrap_or(existing.url);
        let namespaces = namespaces.unwrap_or(existing.namespaces);
        let actions = actions.unwrap_or(existing.actions);
        check_duplicate(&db, &app, &url, &namespaces, &actions, Some(&id))?;
        db.conn.execute(
            "UPDATE webhooks SET url = ?1, namespaces = ?2, actions = ?3, updated_at = ?4
             WHERE app = ?5 AND id = ?6",
            params![
                url,
                json!(namespaces).to_string(),
                json!(actions).to_string(),
                now_ms(),
                app,
                id
            ],
        )?;
        reload(&mut db)?;
        Ok::<_, Fail>(json!({ "webhook": get_row(&db, &app, &id)?.json() }))
    })())
}

/// `DELETE /dash/apps/{app}/webhooks/{id}`: deletes a webhook (and its events); answers it as it
/// was.
pub async fn delete(
    State(s): State<Arc<Shared>>,
    Path((app, id)): Path<(String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let mut db = s.lock();
        let row = get_row(&db, &app, &id)?;
        db.conn.execute(
            "DELETE FROM webhooks WHERE app = ?1 AND id = ?2",
            params![app, id],
        )?;
        db.conn.execute(
            "DELETE FROM webhook_events WHERE app = ?1 AND webhook = ?2",
            params![app, id],
        )?;
        reload(&mut db)?;
        Ok::<_, Fail>(json!({ "webhook": row.json() }))
    })())
}

fn set_status(
    db: &mut Db,
    app: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    db.conn.execute(
        "UPDATE webhooks SET status = ?1, disabled_reason = ?2, updated_at = ?3
         WHERE app = ?4 AND id = ?5",
        params![status, reason, now_ms(), app, id],
    )?;
    reload(db)
}

/// `POST /dash/apps/{app}/webhooks/{id}/enable`.
pub async fn enable(
    State(s): State<Arc<Shared>>,
    Path((app, id)): Path<(String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let mut db = s.lock();
        check_limit(&db, &app)?;
        let existing = get_row(&db, &app, &id)?;
        check_duplicate(
            &db,
            &app,
            &existing.url,
            &existing.namespaces,
            &existing.actions,
            Some(&id),
        )?;
        set_status(&mut db, &app, &id, "active", None)?;
        Ok::<_, Fail>(json!({ "webhook": get_row(&db, &app, &id)?.json() }))
    })())
}

/// `POST /dash/apps/{app}/webhooks/{id}/disable` with an optional `reason`.
pub async fn disable(
    State(s): State<Arc<Shared>>,
    Path((app, id)): Path<(String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let body = req.json()?;
        let reason = match body.get("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) if !r.trim().is_empty() => Some(r.clone()),
            Some(other) => {
                return Err(ApiError::param_malformed(&["body", "reason"], other.clone()).into())
            }
        };
        let mut db = s.lock();
        get_row(&db, &app, &id)?;
        set_status(&mut db, &app, &id, "disabled", reason.as_deref())?;
        Ok::<_, Fail>(json!({ "webhook": get_row(&db, &app, &id)?.json() }))
    })())
}

fn encode_cursor(created_ms: i64, isn: &str) -> String {
    let (secs, nanos) = (
        created_ms.div_euclid(1000),
        created_ms.rem_euclid(1000) * 1_000_000,
    );
    let mut b = Vec::with_capacity(24);
    b.extend_from_slice(&secs.to_be_bytes());
    b.extend_from_slice(&i32::try_from(nanos).unwrap_or(0).to_be_bytes());
    if let Some((slot, lsn)) = parse_isn(isn) {
        b.extend_from_slice(&isn_bytes(slot, lsn));
    }
    b64(&b)
}

fn decode_cursor(s: &str) -> Option<(i64, i64)> {
    let b = unb64(s)?;
    if b.len() != 24 {
        return None;
    }
    let secs = i64::from_be_bytes(b[0..8].try_into().ok()?);
    let nanos = i32::from_be_bytes(b[8..12].try_into().ok()?);
    let lsn = u64::from_be_bytes(b[16..24].try_into().ok()?);
    Some((
        secs * 1000 + i64::from(nanos) / 1_000_000,
        i64::try_from(lsn >> 32).ok()?,
    ))
}

/// `GET /dash/apps/{app}/webhooks/{id}/events[?after=cursor]`: events newest first, 100 a page.
pub async fn events(
    State(s): State<Arc<Shared>>,
    Path((app, id)): Path<(String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let after = req.params.get("after").and_then(|a| decode_cursor(a));
        let db = s.lock();
        let (c_at, c_tx) = after.unwrap_or((i64::MAX, i64::MAX));
        let sql = format!(
            "SELECT {EVENT_COLS} FROM webhook_events WHERE app = ?1 AND webhook = ?2
             AND (created_at < ?3 OR (created_at = ?3 AND tx < ?4))
             ORDER BY created_at DESC, tx DESC LIMIT ?5"
        );
        let mut st = db.conn.prepare(&sql)?;
        let rows = st
            .query_map(
                params![
                    app,
                    id,
                    c_at,
                    c_tx,
                    i64::try_from(PAGE_SIZE + 1).unwrap_or(101)
                ],
                event_of,
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let has_next = rows.len() > PAGE_SIZE;
        let page = &rows[..rows.len().min(PAGE_SIZE)];
        let cursor = |e: Option<&EventRow>| e.map(|e| encode_cursor(e.created_at, &e.isn));
        Ok::<_, Fail>(json!({
            "events": page.iter().map(EventRow::json).collect::<Vec<_>>(),
            "pageInfo": {"startCursor": cursor(page.first()), "endCursor": cursor(page.last()),
                         "hasNextPage": has_next},
        }))
    })())
}

/// `GET /dash/apps/{app}/webhooks/{id}/events/{isn}`: one event with its attempts.
pub async fn event(
    State(s): State<Arc<Shared>>,
    Path((app, id, isn)): Path<(String, String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let (isn, tx, _) = isn_param(&isn)?;
        let db = s.lock();
        let ev = get_event_row(&db, &app, &id, tx)?.ok_or_else(|| {
            ApiError::not_found(
                "webhook-event",
                json!([{"app-id": app, "webhook-id": id, "isn": isn}]),
                None,
            )
        })?;
        Ok::<_, Fail>(json!({ "event": ev.json() }))
    })())
}

/// `POST /dash/apps/{app}/webhooks/{id}/events/{isn}`: queues an event for delivery again.
pub async fn resend(
    State(s): State<Arc<Shared>>,
    Path((app, id, isn)): Path<(String, String, String)>,
    req: Req,
) -> Response {
    reply((|| {
        let app = authed(&s, &req, &app)?;
        let id = webhook_param(&id)?;
        let (isn, tx, _) = isn_param(&isn)?;
        let db = s.lock();
        let n = db.conn.execute(
            "UPDATE webhook_events SET status = 'pending', updated_at = ?1
             WHERE app = ?2 AND webhook = ?3 AND tx = ?4 AND status <> 'processing'",
            params![now_ms(), app, id, tx],
        )?;
        let ev = if n > 0 {
            get_event_row(&db, &app, &id, tx)?
        } else {
            None
        };
        let Some(ev) = ev else {
            return Err(ApiError::validation_msg(
                "webhook-events",
                json!({"app-id": app, "webhook-id": id, "isn": isn}),
                "Could not resend event. Try again in one minute.",
            )
            .into());
        };
        db.webhooks.wake.notify_one();
        Ok::<_, Fail>(json!({ "event": ev.json() }))
    })())
}

/// `GET /webhooks/payload/{app}/{id}/{isn}`: the event's records. Authorized by the payload token
/// sent with the webhook, or by the app's admin token.
pub async fn payload(
    State(s): State<Arc<Shared>>,
    Path((app, id, isn)): Path<(String, String, String)>,
    req: Req,
) -> Response {
    let r = (|| -> Result<Value, ApiError> {
        let id = webhook_param(&id)?;
        let (isn, tx, isn_b) = isn_param(&isn)?;
        let app = app_param(&app)?;
        let (_, token) = req.bearer()?;
        let db = s.lock();
        if token.split('.').count() == 3 {
            let key = db.webhooks.key.verifying_key();
            verify_token(&key, &token, &s.base(), &app, &id, &isn)?;
        } else {
            check_dash_token(&db, &req, &app)?;
        }
        let row = get_row(&db, &app, &id)?;
        let changes: Option<String> = db
            .conn
            .query_row(
                "SELECT changes FROM webhook_txs WHERE app = ?1 AND tx = ?2",
                params![app, tx],
                |r| r.get(0),
            )
            .optional()?;
        let data = changes.map(|c| {
            let parsed: Vec<Change> = serde_json::from_str::<Vec<Value>>(&c)
                .unwrap_or_default()
                .iter()
                .filter_map(Change::from_json)
                .collect();
            Value::Array(records(
                &s.base(),
                &app,
                &row.namespaces,
                &row.actions,
                &isn_b,
                &parsed,
            ))
        });
        Ok(json!({"data": data, "idempotencyKey": payload_idempotency_key(&id, &isn_b)}))
    })();
    match r {
        Ok(v) => (
            [
                (header::CACHE_CONTROL, "no-store, private"),
                (header::PRAGMA, "no-cache"),
                (header::EXPIRES, "0"),
                (header::VARY, "Authorization"),
            ],
            axum::Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery.

/// The wait before retrying after `previous` attempts: the real (Stripe-like) schedule of 1 min,
/// 5 min, 30 min, 2 h, 5 h, 10 h, then 12 h, divided by 600 for a local server.
pub fn retry_delay(previous: usize) -> Duration {
    let minutes: u64 = match previous {
        0 => 1,
        1 => 5,
        2 => 30,
        3 => 120,
        4 => 300,
        5 => 600,
        _ => 720,
    };
    Duration::from_millis(minutes * 60_000 / 600)
}

struct Claimed {
    app: String,
    webhook: String,
    tx: i64,
    isn: String,
    attempts: usize,
}

/// Claims due events (pending, or failed earlier and due again); also tells when the next retry
/// is due.
fn claim(db: &Db) -> rusqlite::Result<(Vec<Claimed>, Option<i64>)> {
    let now = now_ms();
    let mut st = db.conn.prepare(
        "SELECT app, webhook, tx, isn, attempts FROM webhook_events
         WHERE status = 'pending' OR (status = 'error' AND next_attempt_after <= ?1)
         ORDER BY created_at LIMIT 100",
    )?;
    let batch = st
        .query_map([now], |r| {
            Ok(Claimed {
                app: r.get(0)?,
                webhook: r.get(1)?,
                tx: r.get(2)?,
                isn: r.get(3)?,
                attempts: serde_json::from_str::<Vec<Value>>(&r.get::<_, String>(4)?)
                    .map(|a| a.len())
                    .unwrap_or(0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for c in &batch {
        db.conn.execute(
            "UPDATE webhook_events SET status = 'processing', next_attempt_after = NULL,
             updated_at = ?1 WHERE webhook = ?2 AND tx = ?3",
            params![now, c.webhook, c.tx],
        )?;
    }
    let next: Option<i64> = db.conn.query_row(
        "SELECT min(next_attempt_after) FROM webhook_events WHERE status = 'error'",
        [],
        |r| r.get(0),
    )?;
    Ok((batch, next))
}

/// The background sender: delivers due events (each on its own task), sleeping until woken by a
/// new event, a resend or a failed attempt, or until the next retry is due. Runs until the
/// server's runtime stops.
pub async fn run(shared: Arc<Shared>) {
    let wake = shared.lock().webhooks.wake.clone();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhook sender not started");
            return;
        }
    };
    loop {
        let claimed = claim(&shared.lock());
        let (batch, next) = match claimed {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "webhook events not claimed");
                (Vec::new(), Some(now_ms() + 1000))
            }
        };
        if !batch.is_empty() {
            // Each delivery runs on its own: a slow receiver holds up nothing else.
            for c in batch {
                let (shared, client) = (Arc::clone(&shared), client.clone());
                tokio::spawn(async move { deliver(&shared, &client, c).await });
            }
            continue;
        }
        let wait = next.map_or(Duration::from_secs(3600), |t| {
            Duration::from_millis(u64::try_from((t - now_ms()).max(1)).unwrap_or(1))
        });
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn failed_attempt(at: i64, started: std::time::Instant, kind: &str, message: &str) -> Value {
    json!({"attempt-at": ts(at), "duration-ms": started.elapsed().as_millis() as u64,
           "success?": false, "status-code": null, "response-text": null,
           "error-type": kind, "error-message": message})
}

fn classify(e: &reqwest::Error) -> (&'static str, &'static str) {
    let debug = format!("{e:?}");
    if e.is_timeout() {
        ("timeout", "Request timed out.")
    } else if debug.contains("dns error") {
        ("dns", "Could not resolve hostname.")
    } else if e.is_connect() {
        ("connect", "Could not connect to server.")
    } else if debug.contains("tls") || debug.contains("Tls") {
        ("tls", "TLS handshake failed.")
    } else if e.is_request() || e.is_body() || e.is_decode() {
        ("network", "Network error.")
    } else {
        ("unknown", "Unknown error.")
    }
}

async fn deliver(shared: &Arc<Shared>, client: &reqwest::Client, c: Claimed) {
    let prepared = {
        let db = shared.lock();
        let row = get_row(&db, &c.app, &c.webhook).ok();
        row.map(|r| {
            (
                r,
                db.webhooks.key.clone(),
                db.webhooks.kid.clone(),
                shared.base(),
            )
        })
    };
    let Some((row, key, kid, base)) = prepared else {
        return;
    };
    let at = now_ms();
    let started = std::time::Instant::now();
    let attempt = if row.status != "active" {
        json!({"attempt-at": ts(at), "duration-ms": 0, "success?": false, "status-code": null,
               "response-text": null, "error-type": "disabled",
               "error-message": "Webhook is disabled."})
    } else {
        let payload_url = format!("{base}/webhooks/payload/{}/{}/{}", c.app, c.webhook, c.isn);
        let token = payload_token(&key, &kid, &base, &c.app, &c.webhook, &c.isn);
        let body = json!({"payloadUrl": payload_url, "token": token}).to_string();
        let t = now_secs().to_string();
        let sig = hex::encode(key.sign(format!("{t}.{body}").as_bytes()).to_bytes());
        let isn_b = parse_isn(&c.isn).map_or([0u8; 12], |(s, l)| isn_bytes(s, l));
        let sent = client
            .post(&row.url)
            .header(header::USER_AGENT, "InstantDB Webhook Sender")
            .header("Instant-Signature", format!("t={t},kid={kid},v1={sig}"))
            .header(
                "Idempotency-Key",
                payload_idempotency_key(&c.webhook, &isn_b),
            )
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await;
        match sent {
            Ok(mut resp) => {
                let code = resp.status().as_u16();
                let mut text: Vec<u8> = Vec::new();
                while text.len() < 256 {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => text.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                text.truncate(256);
                json!({"attempt-at": ts(at), "duration-ms": started.elapsed().as_millis() as u64,
                       "success?": resp.status().is_success(), "status-code": code,
                       "response-text": String::from_utf8_lossy(&text),
                       "error-type": null, "error-message": null})
            }
            Err(e) => {
                let (kind, message) = classify(&e);
                failed_attempt(at, started, kind, message)
            }
        }
    };
    let mut db = shared.lock();
    if let Err(e) = record_attempt(&mut db, &c, attempt) {
        tracing::warn!(error = %e, "webhook attempt not recorded");
    }
}

/// Appends the attempt and sets the event's status as the real record-attempt! does.
fn record_attempt(db: &mut Db, c: &Claimed, attempt: Value) -> Result<(), ApiError> {
    let success = attempt.get("success?").and_then(Value::as_bool) == Some(true);
    let gone = attempt.get("status-code").and_then(Value::as_u64) == Some(410);
    let disabled = attempt.get("error-type").and_then(Value::as_str) == Some("disabled");
    let status = if success {
        "success"
    } else if gone || disabled || c.attempts + 1 >= MAX_ATTEMPTS {
        "failed"
    } else {
        "error"
    };
    let now = now_ms();
    let next = (status == "error")
        .then(|| now + i64::try_from(retry_delay(c.attempts).as_millis()).unwrap_or(0));
    let current: Option<String> = db
        .conn
        .query_row(
            "SELECT attempts FROM webhook_events WHERE webhook = ?1 AND tx = ?2
             AND status = 'processing'",
            params![c.webhook, c.tx],
            |r| r.get(0),
        )
        .optional()?;
    let Some(current) = current else {
        return Ok(());
    };
    let mut attempts: Vec<Value> = serde_json::from_str(&current).unwrap_or_default();
    attempts.push(attempt);
    db.conn.execute(
        "UPDATE webhook_events SET status = ?1, attempts = ?2, next_attempt_after = ?3,
         updated_at = ?4 WHERE webhook = ?5 AND tx = ?6",
        params![
            status,
            Value::Array(attempts).to_string(),
            next,
            now,
            c.webhook,
            c.tx
        ],
    )?;
    if status == "error" {
        // The sender sleeps until the earliest retry: tell it about this one.
        db.webhooks.wake.notify_one();
    }
    if gone {
        set_status(
            db,
            &c.app,
            &c.webhook,
            "disabled",
            Some("Endpoint returned 410 status code."),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isn_and_cursor_round_trip() {
        let isn = isn_of(0x2a);
        assert_eq!(isn, "0/2A/0");
        let (text, tx, bytes) = norm_isn("0/2a/0").unwrap();
        assert_eq!((text.as_str(), tx), ("0/2A/0", 42));
        assert_eq!(bytes[..4], [0, 0, 0, 0]);
        assert_eq!(
            decode_cursor(&encode_cursor(1_700_000_000_123, &isn)),
            Some((1_700_000_000_123, 42))
        );
        assert!(norm_isn("0/1").is_none());
        assert!(norm_isn("x/1/2").is_none());
    }

    #[test]
    fn token_round_trip_and_mismatch() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let vk = key.verifying_key();
        let t = payload_token(&key, "1", "http://h", "a", "w", "0/1/0");
        assert!(verify_token(&vk, &t, "http://h", "a", "w", "0/1/0").is_ok());
        assert!(verify_token(&vk, &t, "http://h", "a", "w", "0/2/0").is_err());
        let other = SigningKey::from_bytes(&[4u8; 32]).verifying_key();
        assert!(verify_token(&other, &t, "http://h", "a", "w", "0/1/0").is_err());
        assert!(verify_token(&vk, "a.b.c", "http://h", "a", "w", "0/1/0").is_err());
    }

    #[test]
    fn records_follow_the_real_shape() {
        let m = |v: Value| v.as_object().cloned();
        let changes = vec![
            Change {
                namespace: "goals".into(),
                id: "00000000-0000-0000-0000-000000000001".into(),
                before: None,
                after: m(json!({"id": "1", "title": "a"})),
            },
            Change {
                namespace: "goals".into(),
                id: "00000000-0000-0000-0000-000000000002".into(),
                before: m(json!({"id": "2", "title": "a"})),
                after: m(json!({"id": "2", "title": "a"})),
            },
            Change {
                namespace: "goals".into(),
                id: "00000000-0000-0000-0000-000000000003".into(),
                before: m(json!({"id": "3"})),
                after: None,
            },
            Change {
                namespace: "todos".into(),
                id: "00000000-0000-0000-0000-000000000004".into(),
                before: None,
                after: m(json!({"id": "4"})),
            },
        ];
        let all: Vec<String> = ACTIONS.iter().map(|s| s.to_string()).collect();
        let r = records("http://h", "a", &["goals".into()], &all, &[0; 12], &changes);
        let actions: Vec<&str> = r.iter().filter_map(|x| x["action"].as_str()).collect();
        assert_eq!(actions, ["create", "delete"]);
        assert_eq!(r[0]["before"], Value::Null);
        assert_eq!(r[1]["after"], Value::Null);
        assert_eq!(retry_delay(0), Duration::from_millis(100));
    }
}
