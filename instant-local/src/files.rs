//! Storage: uploads, downloads, deletes, with `$files` entities kept in step (admin-protocol.md §6).

use crate::error::ApiError;
use crate::perms::Vars;
use crate::server::{
    file_by_path, notify, perm_ctx, put_blob, reply, reply_after_write, Fail, Req, Shared, Who,
};
use crate::store::{AppMeta, Db, Reader};
use crate::tx::{transact, TxOptions};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Map, Value};
use std::sync::Arc;

const UPLOAD_URL_TTL_MS: i64 = 10 * 60 * 1000;

fn storage_check(
    db: &Db,
    app: &AppMeta,
    who: &Who,
    action: &str,
    data: &Map<String, Value>,
) -> Result<(), ApiError> {
    let Some(p) = perm_ctx(app, who, json!({}), None) else {
        return Ok(());
    };
    let mut r = Reader::new(&db.conn, app.key);
    let vars = Vars {
        data: Some(data),
        new_data: Some(data),
        ..Vars::default()
    };
    if p.check(&mut r, &app.attrs, "$files", action, &vars)?.ok {
        Ok(())
    } else {
        Err(ApiError::storage_denied(action))
    }
}

fn sniff(path: &str, bytes: &[u8]) -> &'static str {
    let ext = path
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" => "text/javascript",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ if std::str::from_utf8(bytes).is_ok() => "text/plain",
        _ => "application/octet-stream",
    }
}

/// Writes (or replaces, by path) a file and its `$files` row; returns `{id, location-id, size}`.
pub fn store_file(
    db: &mut Db,
    app: &AppMeta,
    path: &str,
    content_type: Option<String>,
    disposition: Option<String>,
    bytes: &[u8],
) -> Result<Value, ApiError> {
    let existing = file_by_path(db, app, path)?;
    let id = existing
        .as_ref()
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let old_loc = existing
        .as_ref()
        .and_then(|m| m.get("location-id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let loc = uuid::Uuid::new_v4().to_string();
    let ct = content_type
        .filter(|c| !c.trim().is_empty() && c != "null" && c != "undefined")
        .unwrap_or_else(|| sniff(path, bytes).to_string());
    let mut fields = json!({"path": path, "size": bytes.len(), "content-type": ct, "location-id": loc, "key-version": 1});
    if let (Some(d), Some(m)) = (disposition, fields.as_object_mut()) {
        m.insert("content-disposition".into(), json!(d));
    }
    put_blob(db, app, &loc, bytes)?;
    let steps = json!([["update", "$files", id, fields]]);
    let opts = TxOptions::internal();
    transact(db, &app.id, &steps, &opts)?;
    if let Some(old) = old_loc {
        db.conn.execute(
            "DELETE FROM blobs WHERE app = ?1 AND location_id = ?2",
            params![app.key, old],
        )?;
    }
    Ok(json!({"id": id, "location-id": loc, "size": bytes.len()}))
}

fn delete_file(
    db: &mut Db,
    app: &AppMeta,
    who: &Who,
    path: &str,
) -> Result<Option<String>, ApiError> {
    let Some(file) = file_by_path(db, app, path)? else {
        storage_check(
            db,
            app,
            who,
            "delete",
            &Map::from_iter([("path".to_string(), json!(path))]),
        )?;
        return Ok(None);
    };
    storage_check(db, app, who, "delete", &file)?;
    let id = file
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let steps = json!([["delete", "$files", id]]);
    let opts = TxOptions::internal();
    transact(db, &app.id, &steps, &opts)?;
    Ok(Some(id))
}

/// `PUT /admin/storage/upload`
pub async fn upload(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| -> Result<Value, Fail> {
        let app_id = req.app_id()?;
        let mut db = s.lock();
        let (app, who) = req.who(&db, &app_id)?;
        let path = match req.header("path") {
            None => return Err(ApiError::param_missing(&["headers", "path"]).into()),
            Some(p) if p.trim().is_empty() => {
                return Err(ApiError::param_malformed(&["headers", "path"], json!(p)).into())
            }
            Some(p) => p,
        };
        storage_check(
            &db,
            &app,
            &who,
            "create",
            &Map::from_iter([("path".to_string(), json!(path))]),
        )?;
        let data = store_file(
            &mut db,
            &app,
            &path,
            req.header("content-type"),
            req.header("content-disposition"),
            &req.body,
        )?;
        Ok(json!({"data": data}))
    })();
    reply_after_write(&s, &req, r)
}

/// `DELETE /admin/storage/files?filename=`
pub async fn delete_one(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| -> Result<Value, Fail> {
        let app_id = req.app_id()?;
        let mut db = s.lock();
        let (app, who) = req.who(&db, &app_id)?;
        let Some(name) = req.params.get("filename").filter(|f| !f.is_empty()) else {
            return Err(ApiError::param_missing(&["query-params", "filename"]).into());
        };
        let id = delete_file(&mut db, &app, &who, name)?;
        Ok(json!({"data": {"id": id}}))
    })();
    reply_after_write(&s, &req, r)
}

/// `POST /admin/storage/files/delete`
pub async fn delete_many(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let r = (|| -> Result<Value, Fail> {
        let app_id = req.app_id()?;
        let body = req.json()?;
        let names: Vec<String> = match body.get("filenames") {
            None | Some(Value::Null) => {
                return Err(ApiError::param_missing(&["body", "filenames"]).into())
            }
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(other) => {
                return Err(ApiError::param_malformed(&["body", "filenames"], other.clone()).into())
            }
        };
        let mut db = s.lock();
        let (app, who) = req.who(&db, &app_id)?;
        for n in &names {
            let data = file_by_path(&db, &app, n)?
                .unwrap_or_else(|| Map::from_iter([("path".to_string(), json!(n))]));
            storage_check(&db, &app, &who, "delete", &data)?;
        }
        let mut ids = Vec::new();
        for n in &names {
            if let Some(id) = delete_file(&mut db, &app, &Who::Admin, n)? {
                ids.push(id);
            }
        }
        Ok(json!({"data": {"ids": ids}}))
    })();
    reply_after_write(&s, &req, r)
}

/// `GET /admin/storage/files` (legacy list shape).
pub async fn list(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply((|| -> Result<Value, Fail> {
        let app_id = req.app_id()?;
        let db = s.lock();
        let app = req.admin(&db, &app_id)?;
        let res =
            crate::server::run_query(&db, &app, None, &json!({"$files": {}}), false, &s.base())?;
        let files = res
            .tree
            .get("$files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let data: Vec<Value> = files
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let loc = f.get("location-id").and_then(Value::as_str).unwrap_or_default();
                json!({"key": format!("{}/{}/{}", app.id, i % 10, loc), "name": f.get("path"), "size": f.get("size"),
                       "etag": null, "last_modified": null})
            })
            .collect();
        Ok(json!({"data": data}))
    })())
}

/// `GET /admin/storage/signed-download-url?filename=`
pub async fn signed_download_url(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply((|| -> Result<Value, Fail> {
        let app_id = req.app_id()?;
        let db = s.lock();
        let app = req.admin(&db, &app_id)?;
        let Some(name) = req.params.get("filename") else {
            return Err(ApiError::param_missing(&["query-params", "filename"]).into());
        };
        let file = file_by_path(&db, &app, name)?;
        let loc = file
            .as_ref()
            .and_then(|f| f.get("location-id"))
            .and_then(Value::as_str)
            .unwrap_or("missing");
        Ok(json!({"data": format!("{}/storage/download/{}/{}", s.base(), app.id, loc)}))
    })())
}

/// `POST /admin/storage/signed-upload-url`
pub async fn signed_upload_url(State(s): State<Arc<Shared>>, req: Req) -> Response {
    reply((|| -> Result<Value, Fail> {
        let body = req.json()?;
        let app_id = match body.get("app_id").and_then(Value::as_str) {
            Some(a) => crate::values::parse_uuid(a)
                .ok_or_else(|| ApiError::param_malformed(&["body", "app_id"], json!(a)))?,
            None => req.app_id()?,
        };
        let db = s.lock();
        let app = req.admin(&db, &app_id)?;
        let Some(name) = body
            .get("filename")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty())
        else {
            return Err(ApiError::param_missing(&["body", "filename"]).into());
        };
        let token = uuid::Uuid::new_v4().to_string();
        db.conn.execute(
            "INSERT INTO upload_urls (token, app, path, expires) VALUES (?1, ?2, ?3, ?4)",
            params![
                token,
                app.key,
                name,
                crate::values::now_ms() + UPLOAD_URL_TTL_MS
            ],
        )?;
        Ok(json!({"data": format!("{}/storage/{}/consume-upload-url", s.base(), token)}))
    })())
}

/// `PUT /storage/{token}/consume-upload-url` (single use, no auth headers).
pub async fn consume_upload_url(
    State(s): State<Arc<Shared>>,
    Path(token): Path<String>,
    req: Req,
) -> Response {
    let mut changed = None;
    let r = (|| -> Result<Value, Fail> {
        let mut db = s.lock();
        let found: Option<(i64, String, i64)> = db
            .conn
            .query_row(
                "SELECT app, path, expires FROM upload_urls WHERE token = ?1",
                params![token],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((app_key, path, expires)) = found else {
            return Err(ApiError::not_found("upload-url", json!({"token": token}), None).into());
        };
        db.conn
            .execute("DELETE FROM upload_urls WHERE token = ?1", params![token])?;
        if expires < crate::values::now_ms() {
            return Err(ApiError::new(
                400,
                "record-expired",
                "Record expired: upload-url",
                json!({"record-type": "upload-url"}),
            )
            .into());
        }
        let app = db
            .apps
            .values()
            .find(|a| a.key == app_key)
            .cloned()
            .ok_or_else(|| ApiError::internal("upload url of a missing app"))?;
        let data = store_file(
            &mut db,
            &app,
            &path,
            req.header("content-type"),
            None,
            &req.body,
        )?;
        changed = Some(app.id.clone());
        Ok(json!({"data": data}))
    })();
    if let Some(a) = changed {
        notify(&s, &a);
    }
    reply(r)
}

/// `GET /storage/download/{app}/{location-id}`: the bytes of a file.
pub async fn download(
    State(s): State<Arc<Shared>>,
    Path((app_id, loc)): Path<(String, String)>,
) -> Response {
    let db = s.lock();
    let Some(app) = db.apps.get(&app_id).cloned() else {
        return ApiError::not_found("app", json!({"id": app_id}), None).into_response();
    };
    let bytes: Result<Option<Vec<u8>>, rusqlite::Error> = db
        .conn
        .query_row(
            "SELECT bytes FROM blobs WHERE app = ?1 AND location_id = ?2",
            params![app.key, loc],
            |r| r.get(0),
        )
        .optional();
    let ct = {
        let mut r = Reader::new(&db.conn, app.key);
        let ct = app.attrs.fwd("$files", "location-id").and_then(|a| {
            r.entities_with(&app.attrs, a, &json!(loc))
                .ok()?
                .into_iter()
                .next()
                .and_then(|e| {
                    r.entity(&app.attrs, "$files", &e).ok()?.and_then(|m| {
                        m.get("content-type")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                })
        });
        ct.unwrap_or_else(|| "application/octet-stream".to_string())
    };
    match bytes {
        Ok(Some(b)) => (StatusCode::OK, [(header::CONTENT_TYPE, ct)], b).into_response(),
        Ok(None) => ApiError::not_found("file", json!({"location-id": loc}), None).into_response(),
        Err(e) => ApiError::internal(e).into_response(),
    }
}
