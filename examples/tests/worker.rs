//! The worker example: bounded ticks mark the right orders; Ctrl-C stops it gracefully.

mod common;
use common::{assert_line, embedded, run_ok};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

#[test]
fn processes_old_pending_orders_and_removes_expired_items() {
    let (stdout, _) = run_ok(
        env!("CARGO_BIN_EXE_worker"),
        &["--ticks", "2", "--interval-ms", "50"],
    );
    assert_line(&stdout, "the server's schema matches the compiled one");
    assert_line(&stdout, "seeded 5 orders and 3 cart items");
    // Oldest first: A-1004 (2 h, no customer), A-1001 (45 min), A-1002 (40 min, no items).
    let handled: Vec<&str> = stdout.lines().filter(|l| l.starts_with("  A-")).collect();
    assert_eq!(
        handled,
        [
            "  A-1004: error: no customer",
            "  A-1001: processed for carol, total 39.00",
            "  A-1002: error: no items",
        ]
    );
    assert_line(
        &stdout,
        "tick 1: 1 order(s) processed, 2 marked as errors, 2 expired item(s) removed",
    );
    assert_line(
        &stdout,
        "tick 2: 0 order(s) processed, 0 marked as errors, 0 expired item(s) removed",
    );
    assert_line(&stdout, "stopped after 2 tick(s)");
    // Read back from the server: the recent order stays pending, the processed one untouched.
    assert_line(
        &stdout,
        "orders now: A-1001 processed, A-1002 error, A-1003 pending, A-1004 error, A-1005 processed",
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_it_after_the_current_tick() {
    let mut child = embedded(env!("CARGO_BIN_EXE_worker"))
        .args(["--interval-ms", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the worker starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("a line");
        let ticked = line.starts_with("tick 1:");
        seen.push(line);
        if ticked {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.starts_with("tick 1:")), "{seen:?}");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let rest: Vec<String> = lines.map(|l| l.expect("a line")).collect();
    let status = child.wait().expect("the worker exits");
    assert!(status.success(), "{status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l == "Ctrl-C: stopping"), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("stopped after ") && l.ends_with(" tick(s)")),
        "{rest:?}"
    );
    assert!(
        rest.iter().any(|l| l.starts_with("orders now: ")),
        "it finishes normally: {rest:?}"
    );
}
