//! Live queries over Server-Sent Events: `POST /admin/subscribe-query` (admin-protocol.md §7).

use crate::error::ApiError;
use crate::query::split_rule_params;
use crate::server::{perm_ctx, run_query, Fail, Req, Shared};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

fn event(v: &Value) -> Event {
    Event::default().data(v.to_string())
}

fn hash_of(v: &Value) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.to_string().hash(&mut h);
    h.finish()
}

/// `POST /admin/subscribe-query`: `sse-init`, `add-query-ok`, then `refresh-ok` after every
/// transaction that changes the result.
pub async fn subscribe_query(State(s): State<Arc<Shared>>, req: Req) -> Response {
    let prepared = (|| -> Result<_, Fail> {
        let app_id = req.app_id()?;
        let body = req.json()?;
        let q = match body.get("query") {
            None | Some(Value::Null) => {
                return Err(ApiError::param_missing(&["body", "query"]).into())
            }
            Some(v @ Value::Object(_)) => v.clone(),
            Some(other) => {
                return Err(ApiError::param_malformed(&["body", "query"], other.clone()).into())
            }
        };
        let db = s.lock();
        let (app, who) = req.who(&db, &app_id)?;
        let inference = body
            .get("inference?")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok((app, who, q, inference))
    })();
    let (app, who, original_q, inference) = match prepared {
        Ok(p) => p,
        Err(f) => return f.into_response(),
    };
    let (q, rp) = split_rule_params(&original_q);
    let rp = if rp.is_null() { json!({}) } else { rp };
    let perms = perm_ctx(&app, &who, rp, None);
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(64);
    let mut changes = s.changes.subscribe();
    let shared = s.clone();
    tokio::spawn(async move {
        let session = uuid::Uuid::new_v4().to_string();
        let client_event = uuid::Uuid::new_v4().to_string();
        let init = json!({"op": "sse-init", "machine-id": uuid::Uuid::new_v4().to_string(), "session-id": session,
                          "sse-token": uuid::Uuid::new_v4().to_string(), "trace-id": null});
        if tx
            .send(Event::default().retry(Duration::from_millis(500)))
            .await
            .is_err()
            || tx.send(event(&init)).await.is_err()
        {
            return;
        }
        let run = |shared: &Shared| -> Result<(Value, Value, i64, Vec<Value>), ApiError> {
            let db = shared.lock();
            let app = db
                .apps
                .get(&app.id)
                .cloned()
                .ok_or_else(|| ApiError::not_found("app", json!({}), None))?;
            let res = run_query(&db, &app, perms.as_ref(), &q, inference, &shared.base())?;
            let attrs = app.attrs.all().iter().map(|a| a.to_wire()).collect();
            Ok((res.tree, Value::Object(res.page_info), db.last_tx(), attrs))
        };
        let mut last_hash = match run(&shared) {
            Ok((tree, info, tx_id, _)) => {
                let msg = json!({"op": "add-query-ok", "q": original_q, "client-event-id": client_event,
                                 "result": tree, "result-meta": {"page-info": info, "aggregate": {}},
                                 "processed-tx-id": tx_id, "processed-isn": format!("0/{tx_id}"), "trace-id": null});
                if tx.send(event(&msg)).await.is_err() {
                    return;
                }
                Some(hash_of(&tree))
            }
            Err(e) => {
                let mut msg = e.body();
                if let Some(m) = msg.as_object_mut() {
                    m.insert("op".into(), json!("error"));
                    m.insert("status".into(), json!(e.status));
                    m.insert("client-event-id".into(), json!(client_event));
                    m.insert(
                        "original-event".into(),
                        json!({"op": "add-query", "q": original_q}),
                    );
                    m.insert("trace-id".into(), Value::Null);
                }
                if tx.send(event(&msg)).await.is_err() {
                    return;
                }
                None
            }
        };
        loop {
            let changed_app = tokio::select! {
                _ = tx.closed() => return,
                r = changes.recv() => match r {
                    Ok(a) => a,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => app.id.clone(),
                    Err(_) => return,
                },
            };
            if changed_app != app.id {
                continue;
            }
            let Ok((tree, info, tx_id, attrs)) = run(&shared) else {
                continue;
            };
            let h = hash_of(&tree);
            if Some(h) == last_hash {
                continue;
            }
            last_hash = Some(h);
            let msg = json!({"op": "refresh-ok", "processed-tx-id": tx_id, "processed-isn": format!("0/{tx_id}"),
                "computations": [{"instaql-query": q, "instaql-query-hash": h, "instaql-result": tree,
                                   "result-meta": {"page-info": info, "aggregate": {}}, "result-changed?": true,
                                   "duration-ms": 0, "instaql-topic?": true}],
                "attrs": attrs, "trace-id": null});
            if tx.send(event(&msg)).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<Event, Infallible>(e), rx))
    });
    sse_response(stream)
}

/// An SSE response as the real server sends one: a keep-alive every 15 s, `cache-control:
/// nocache`. Shared by live queries and stream sessions.
pub(crate) fn sse_response<S>(events: S) -> Response
where
    S: futures::Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    resp.headers_mut().insert(
        "cache-control",
        axum::http::HeaderValue::from_static("nocache"),
    );
    resp
}
