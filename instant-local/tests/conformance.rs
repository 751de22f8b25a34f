//! Every case of conformance-cases.json, against the in-process server and the real binary.

mod common;

use common::{run_all, Api};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn conformance_against_binary() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_instant-local"))
        .args(["serve", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn instant-local");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Killed(child);
    let mut base = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(u) = line.strip_prefix("INSTANT_API_URI=") {
            base = u.to_string();
            break;
        }
    }
    assert!(base.starts_with("http://127.0.0.1:"), "no URL printed");
    let api = Api::new(&base);
    let failures = run_all(&api).await;
    drop(guard);
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
