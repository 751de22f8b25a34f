//! Users, refresh tokens, sign-out and magic codes (admin-protocol.md §5).

use crate::error::ApiError;
use crate::server::{clean_email, reply, reply_after_write, Fail, MagicCode, Req, Shared};
use crate::store::{AppMeta, Db, Reader};
use crate::tx::{transact, TxOptions};
use crate::values::{format_ts, now_ms, parse_uuid};
use axum::extract::State;
use axum::response::Response;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};
use std::sync::Arc;

const CODE_TTL_MS: i64 = 24 * 3600 * 1000;

/// The `$users` entity `id`, as a map.
pub fn user_entity(
    db: &Db,
    app: &AppMeta,
    id: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let mut r = Reader::new(&db.conn, app.key);
    r.entity(&app.attrs, "$users", id)
}

/// The user owning a refresh token.
pub fn user_by_token(
    db: &Db,
    app: &AppMeta,
    token: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let uid: Option<String> = db
        .conn
        .query_row(
            "SELECT user_id FROM refresh_tokens WHERE app = ?1 AND token = ?2",
            params![app.key, token],
            |r| r.get(0),
        )
        .optional()?;
    match uid {
        Some(u) => user_entity(db, app, &u),
        None => Ok(None),
    }
}

/// The user with this e-mail.
pub fn user_by_email(
    db: &Db,
    app: &AppMeta,
    email: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let email = email.trim().to_lowercase();
    crate::store::entity_by_value(db, app, "$users", "email", &json!(email))
}

/// The wire form of a user (`app_id`, `created_at`, `isGuest`, ...).
pub fn user_json(
    db: &Db,
    app: &AppMeta,
    user: &Map<String, Value>,
    refresh_token: Option<&str>,
) -> Result<Value, ApiError> {
    let id = user
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut r = Reader::new(&db.conn, app.key);
    let created = match app.attrs.id_attr("$users") {
        Some(a) => r.ent(a.key, &id)?.map(|x| x.t).unwrap_or_else(now_ms),
        None => now_ms(),
    };
    let mut out = Map::new();
    for (k, v) in user {
        if k == "linkedPrimaryUser" || (v.is_null() && k != "email") {
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out.insert("app_id".into(), json!(app.id));
    out.entry("email").or_insert(Value::Null);
    out.insert("created_at".into(), json!(format_ts(created)));
    let guest = user.get("type").and_then(Value::as_str) == Some("guest");
    out.insert("isGuest".into(), json!(guest));
    if let Some(t) = refresh_token {
        out.insert("refresh_token".into(), json!(t));
    }
    Ok(Value::Object(out))
}

fn write_user(
    db: &mut Db,
    app: &AppMeta,
    id: &str,
    fields: Map<String, Value>,
) -> Result<(), ApiError> {
    let steps = json!([["update", "$users", id, Value::Object(fields)]]);
    let opts = TxOptions::internal();
    transact(db, &app.id, &steps, &opts)?;
    Ok(())
}

/// Issues a new refresh token for `user` and shows the user with it, as sign-in answers do.
fn with_new_token(db: &Db, app: &AppMeta, user: &Map<String, Value>) -> Result<Value, ApiError> {
    let user_id = user.get("id").and_then(Value::as_str).unwrap_or_default();
    let token = uuid::Uuid::new_v4().to_string();
    db.conn.execute(
        "INSERT INTO refresh_tokens (app, token, user_id) VALUES (?1, ?2, ?3)",
        params![app.key, token, user_id],
    )?;
    user_json(db, app, user, Some(&token))
}

fn check_extra_fields(
    app: &AppMeta,
    extra: Option<&Value>,
) -> Result<Map<String, Value>, ApiError> {
    let Some(Value::Object(m)) = extra else {
        return Ok(Map::new());
    };
    for k in m.keys() {
        match app.attrs.fwd("$users", k) {
            Some(a) if a.system || k == "id" => {
                return Err(ApiError::validation_msg(
                    "extra-fields",
                    Value::Object(m.clone()),
                    format!("Cannot set system field: {k}"),
                ))
            }
            Some(_) => {}
            None => {
                return Err(ApiError::validation_msg(
                    "extra-fields",
                    Value::Object(m.clone()),
                    format!("Unknown field: {k}. It must be defined in your $users schema."),
                ))
            }
        }
    }
    Ok(m.clone())
}

/// Finds or creates the user by e-mail; returns it and whether it was created.
fn upsert_by_email(
    db: &mut Db,
    app: &AppMeta,
    email: &str,
    mut fields: Map<String, Value>,
) -> Result<(Map<String, Value>, bool), ApiError> {
    if let Some(u) = user_by_email(db, app, email)? {
        return Ok((u, false));
    }
    let id = uuid::Uuid::new_v4().to_string();
    fields.insert("email".into(), json!(email));
    write_user(db, app, &id, fields)?;
    let u = user_entity(db, app, &id)?.ok_or_else(|| ApiError::internal("user was not written"))?;
    Ok((u, true))
}

fn admin_app(s: &Shared, req: &Req) -> Result<(String, AppMeta), ApiError> {
    let app_id = req.app_id()?;
    let db = s.lock();
    let app = req.admin(&db, &app_id)?;
    Ok((app_id, app))
}

/// `POST /admin/refresh_tokens`
pub async fn refresh_tokens(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| {
        let (_, app) = admin_app(&s, &req)?;
        let body = req.json()?;
        let mut db = s.lock();
        let email = body.get("email").filter(|v| !v.is_null());
        let id = body.get("id").filter(|v| !v.is_null());
        let extra = check_extra_fields(&app, body.get("extra-fields"))?;
        let (user, created) = if let Some(e) = email {
            let clean = e
                .as_str()
                .and_then(clean_email)
                .ok_or_else(|| ApiError::param_malformed(&["body", "email"], e.clone()))?;
            upsert_by_email(&mut db, &app, &clean, extra)?
        } else if let Some(i) = id {
            let uid = i
                .as_str()
                .and_then(parse_uuid)
                .ok_or_else(|| ApiError::param_malformed(&["body", "id"], i.clone()))?;
            match user_entity(&db, &app, &uid)? {
                Some(u) => (u, false),
                None => {
                    write_user(&mut db, &app, &uid, extra)?;
                    let u = user_entity(&db, &app, &uid)?
                        .ok_or_else(|| ApiError::internal("user was not written"))?;
                    (u, true)
                }
            }
        } else {
            return Err(ApiError::validation_msg(
                "body",
                body.clone(),
                "Please provide an `email` or `id`",
            )
            .into());
        };
        Ok(json!({"user": with_new_token(&db, &app, &user)?, "created": created}))
    })();
    reply_after_write(&s, &req, r)
}

/// `POST /runtime/auth/verify_refresh_token`
pub async fn verify_refresh_token(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply((|| {
        let body = req.json()?;
        let app_id = match body.get("app-id").and_then(Value::as_str) {
            Some(a) => parse_uuid(a)
                .ok_or_else(|| ApiError::param_malformed(&["body", "app-id"], json!(a)))?,
            None => req
                .app_id()
                .map_err(|_| ApiError::param_missing(&["body", "app-id"]))?,
        };
        let tok = match body.get("refresh-token") {
            None | Some(Value::Null) => {
                return Err(ApiError::param_missing(&["body", "refresh-token"]).into())
            }
            Some(v) => v
                .as_str()
                .and_then(parse_uuid)
                .ok_or_else(|| ApiError::param_malformed(&["body", "refresh-token"], v.clone()))?,
        };
        let db = s.lock();
        let app = db.apps.get(&app_id).cloned().ok_or_else(|| {
            ApiError::not_found(
                "app-user",
                json!({"app-id": app_id, "refresh-token": tok}),
                None,
            )
        })?;
        let user = user_by_token(&db, &app, &tok)?.ok_or_else(|| {
            ApiError::not_found(
                "app-user",
                json!({"app-id": app_id, "refresh-token": tok}),
                None,
            )
        })?;
        Ok(json!({"user": user_json(&db, &app, &user, Some(&tok))?}))
    })())
}

fn find_user(db: &Db, app: &AppMeta, req: &Req) -> Result<Option<Map<String, Value>>, ApiError> {
    if let Some(e) = req.params.get("email") {
        return user_by_email(db, app, e);
    }
    if let Some(t) = req.params.get("refresh_token") {
        return match parse_uuid(t) {
            Some(t) => user_by_token(db, app, &t),
            None => Err(ApiError::param_malformed(
                &["query-params", "refresh_token"],
                json!(t),
            )),
        };
    }
    if let Some(i) = req.params.get("id") {
        return match parse_uuid(i) {
            Some(i) => user_entity(db, app, &i),
            None => Err(ApiError::param_malformed(&["query-params", "id"], json!(i))),
        };
    }
    let input: Map<String, Value> = req
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    Err(ApiError::validation_msg(
        "params",
        Value::Object(input),
        "Please provide a user id, email, or refresh_token",
    ))
}

/// `GET /admin/users`
pub async fn get_user(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply((|| {
        let (_, app) = admin_app(&s, &req)?;
        let db = s.lock();
        let user = find_user(&db, &app, &req)?;
        let u = match user {
            Some(u) => user_json(&db, &app, &u, None)?,
            None => Value::Null,
        };
        Ok(json!({"user": u}))
    })())
}

/// `DELETE /admin/users`
pub async fn delete_user(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| {
        let (_, app) = admin_app(&s, &req)?;
        let mut db = s.lock();
        let Some(user) = find_user(&db, &app, &req)? else {
            return Ok(json!({"deleted": null}));
        };
        let out = user_json(&db, &app, &user, None)?;
        let id = user
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let steps = json!([["delete", "$users", id]]);
        let opts = TxOptions::internal();
        transact(&mut db, &app.id, &steps, &opts)?;
        Ok(json!({"deleted": out}))
    })();
    reply_after_write(&s, &req, r)
}

/// `POST /admin/sign_out`
pub async fn sign_out(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply((|| {
        let (app_id, app) = admin_app(&s, &req)?;
        let body = req.json()?;
        let db = s.lock();
        if let Some(id) = body.get("id").filter(|v| !v.is_null()) {
            let id = id
                .as_str()
                .and_then(parse_uuid)
                .ok_or_else(|| ApiError::param_malformed(&["body", "id"], id.clone()))?;
            db.conn.execute(
                "DELETE FROM refresh_tokens WHERE app = ?1 AND user_id = ?2",
                params![app.key, id],
            )?;
        } else if let Some(e) = body.get("email").filter(|v| !v.is_null()) {
            let email = e.as_str().unwrap_or_default();
            let user = user_by_email(&db, &app, email)?.ok_or_else(|| {
                ApiError::not_found("app-user", json!({"app-id": app_id, "email": email}), None)
            })?;
            let id = user.get("id").and_then(Value::as_str).unwrap_or_default();
            db.conn.execute(
                "DELETE FROM refresh_tokens WHERE app = ?1 AND user_id = ?2",
                params![app.key, id],
            )?;
        } else if let Some(t) = body.get("refresh_token").filter(|v| !v.is_null()) {
            let t = t.as_str().unwrap_or_default();
            db.conn.execute(
                "DELETE FROM refresh_tokens WHERE app = ?1 AND token = ?2",
                params![app.key, t],
            )?;
        } else {
            return Err(ApiError::validation_msg(
                "body",
                body.clone(),
                "Please provide an `id`, `email`, or `refresh_token`",
            )
            .into());
        }
        Ok(json!({"ok": true}))
    })())
}

/// `POST /admin/sign_in_guest`
pub async fn sign_in_guest(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| {
        let (_, app) = admin_app(&s, &req)?;
        let body = req.json()?;
        let mut fields = check_extra_fields(&app, body.get("extra-fields"))?;
        fields.insert("type".into(), json!("guest"));
        let mut db = s.lock();
        let id = uuid::Uuid::new_v4().to_string();
        write_user(&mut db, &app, &id, fields)?;
        let user = user_entity(&db, &app, &id)?
            .ok_or_else(|| ApiError::internal("guest was not written"))?;
        Ok(json!({"user": with_new_token(&db, &app, &user)?}))
    })();
    reply_after_write(&s, &req, r)
}

fn new_code() -> String {
    let n = u128::from_le_bytes(*uuid::Uuid::new_v4().as_bytes()) % 1_000_000;
    format!("{n:06}")
}

fn make_code(s: &Shared, req: &Req, send: bool) -> Result<Value, Fail> {
    let (_, app) = admin_app(s, req)?;
    let body = req.json()?;
    let email = match body.get("email") {
        None | Some(Value::Null) => return Err(ApiError::param_missing(&["body", "email"]).into()),
        Some(e) => e
            .as_str()
            .and_then(clean_email)
            .ok_or_else(|| ApiError::param_malformed(&["body", "email"], e.clone()))?,
    };
    let code = new_code();
    let db = s.lock();
    db.conn.execute(
        "INSERT INTO magic_codes (app, email, code, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![app.key, email, code, now_ms()],
    )?;
    drop(db);
    if send {
        tracing::info!(app_id = %app.id, email = %email, code = %code, "magic code (not e-mailed: instant-local)");
    }
    if let Ok(mut log) = s.magic_codes.lock() {
        log.push(MagicCode {
            app_id: app.id.clone(),
            email: email.clone(),
            code: code.clone(),
        });
    }
    Ok(json!({"code": code}))
}

/// `POST /admin/magic_code`
pub async fn magic_code(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply(make_code(&s, &req, false))
}

/// `POST /admin/send_magic_code`: the code is logged and kept, never e-mailed.
pub async fn send_magic_code(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply(make_code(&s, &req, true))
}

/// `POST /admin/verify_magic_code`
pub async fn verify_magic_code(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| {
        let (app_id, app) = admin_app(&s, &req)?;
        let body = req.json()?;
        let email = match body.get("email") {
            None | Some(Value::Null) => {
                return Err(ApiError::param_missing(&["body", "email"]).into())
            }
            Some(e) => e
                .as_str()
                .and_then(clean_email)
                .ok_or_else(|| ApiError::param_malformed(&["body", "email"], e.clone()))?,
        };
        let code = match body.get("code") {
            None | Some(Value::Null) => {
                return Err(ApiError::param_missing(&["body", "code"]).into())
            }
            Some(Value::String(c)) => c.trim().to_string(),
            Some(other) => {
                return Err(ApiError::param_malformed(&["body", "code"], other.clone()).into())
            }
        };
        let extra = check_extra_fields(&app, body.get("extra-fields"))?;
        let mut db = s.lock();
        let found: Option<(i64, i64)> = db
            .conn
            .query_row(
                "SELECT rowid, created_at FROM magic_codes WHERE app = ?1 AND email = ?2 AND code = ?3 ORDER BY created_at DESC LIMIT 1",
                params![app.key, email, code],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let args = json!({"app-id": app_id, "code": code, "email": email});
        let Some((rowid, created)) = found else {
            return Err(ApiError::not_found("app-user-magic-code", args, None).into());
        };
        if now_ms() - created > CODE_TTL_MS {
            return Err(ApiError::new(
                400,
                "record-expired",
                "Record expired: app-user-magic-code",
                json!({"record-type": "app-user-magic-code", "args": [args]}),
            )
            .into());
        }
        db.conn
            .execute("DELETE FROM magic_codes WHERE rowid = ?1", params![rowid])?;
        let mut fields = extra;
        fields.insert("type".into(), json!("user"));
        let (user, created) = upsert_by_email(&mut db, &app, &email, fields)?;
        Ok(json!({"user": with_new_token(&db, &app, &user)?, "created": created}))
    })();
    reply_after_write(&s, &req, r)
}
