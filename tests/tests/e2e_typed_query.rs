//! End to end: schemaless queries decoded into the caller's own serde types through `TypedQuery`
//! (straight from the HTTP body, no `Value` for the whole answer in between), against
//! instant-local, on an answer large enough to arrive in many reads. The same query into a `Value`
//! must agree row for row. (This crate has no serde dependency, so the types are std maps; decoding
//! into derived structs is covered in instant-admin/tests/answers.rs.)

use std::collections::HashMap;

use instant_admin::{Config, Error, Instant, Step, TypedQuery};
use instant_local::LocalServer;
use serde_json::{json, Value};

fn start() -> (LocalServer, Instant) {
    let srv = LocalServer::start(instant_local::Config::default().schema_json(json!({
        "entities": {"items": {"attrs": {"group": {"valueType": "number", "required": false,
                                                   "config": {"indexed": true, "unique": false}}}}},
        "links": {}
    })))
    .expect("instant-local starts");
    let db =
        Instant::new(Config::new(srv.app_id(), srv.admin_token()).api_uri(srv.base_url())).unwrap();
    (srv, db)
}

/// Rows by namespace, each row an attribute map.
type Rows = HashMap<String, Vec<HashMap<String, Value>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_query_decodes_into_the_callers_structs() {
    let (_srv, db) = start();
    let n = 3_000;
    let steps: Vec<Step> = (0..n)
        .map(|i| {
            Step::update(
                "items",
                instant_admin::id(),
                json!({"name": format!("item {i}"), "rank": i, "group": i % 100,
                       "active": i % 2 == 0, "note": "imported \u{e9}"}),
            )
        })
        .collect();
    for chunk in steps.chunks(500) {
        db.transact(chunk.to_vec()).await.unwrap();
    }

    let all: Value = db.query(json!({"items": {}})).await.unwrap();
    let typed = db
        .query(TypedQuery::<Rows>::new(json!({"items": {}})))
        .await
        .unwrap();
    let rows = all["items"].as_array().unwrap();
    assert_eq!(rows.len(), n);
    assert_eq!(typed["items"].len(), n);
    for (row, item) in rows.iter().zip(&typed["items"]) {
        assert_eq!(row.as_object().unwrap().len(), item.len());
        for (k, v) in item {
            assert_eq!(&row[k], v, "{k}");
        }
    }

    // A where clause on the indexed attribute.
    let some = db
        .query(TypedQuery::<Rows>::new(
            json!({"items": {"$": {"where": {"group": 7}}}}),
        ))
        .await
        .unwrap();
    assert_eq!(some["items"].len(), n / 100);
    assert!(some["items"].iter().all(|r| r["group"] == json!(7)));

    // An answer that does not fit the caller's type is a decode error, not a panic.
    let e = db
        .query(TypedQuery::<HashMap<String, Vec<u32>>>::new(
            json!({"items": {}}),
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Decode { .. }), "{e:?}");
}
