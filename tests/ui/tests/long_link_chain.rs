//! A schema whose links form a long chain still compiles, and its rows and query outputs are
//! `Send + Sync` (rows hold attributes only; joins are tuples), so futures holding them can be
//! spawned.

mod schema {
    instant_admin::include_schema!("chain.schema.ts");
}

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn rows_and_joins_of_a_long_chain_are_send_and_sync() {
    assert_send_sync::<schema::Ns0>();
    assert_send_sync::<schema::Ns39>();
    let q = schema::ns0::query().with(schema::ns0::next.query().with(schema::ns1::next));
    fn output_of<Q: instant_admin::Query>(_: &Q) -> Option<Q::Output> {
        None
    }
    let out = output_of(&q);
    fn send<T: Send + Sync + 'static>(_: &T) {}
    send(&out);
    assert_eq!(
        instant_admin::Query::instaql(&q),
        serde_json::json!({"ns0": {"next": {"next": {}}}})
    );
}
