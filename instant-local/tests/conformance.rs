//! Every case of conformance-cases.json, against the in-process server and the real binary.

mod common;

use common::{run_all, Api};

#[tokio::test]
async fn conformance_in_process() {
    let server =
        instant_local::LocalServer::start(instant_local::Config::default()).expect("start");
    let api = Api::new(server.base_url());
    let failures = run_all(&api).await;
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn conformance_against_binary() {
    let server = common::Spawned::start(&["--port", "0"]);
    let api = Api::new(&server.base);
    let failures = run_all(&api).await;
    drop(server);
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
