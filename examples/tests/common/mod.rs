//! Running the example binaries against the embedded server.

#![allow(dead_code)] // each test file uses a part

use std::process::{Command, Output};

/// The example binary `path` with the variables that would point it at a real server removed, so
/// it starts the embedded instant-local server.
pub fn embedded(path: &str) -> Command {
    let mut cmd = Command::new(path);
    cmd.env_remove("INSTANT_APP_ID")
        .env_remove("INSTANT_APP_ADMIN_TOKEN")
        .env_remove("INSTANT_API_URI");
    cmd
}

/// Runs the binary to completion; returns its output, after checking it succeeded and that its
/// first line announces the embedded server.
pub fn run_ok(path: &str, args: &[&str]) -> (String, Output) {
    let out = embedded(path)
        .args(args)
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{path} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_embedded_notice(&stdout);
    (stdout, out)
}

/// The first line says the embedded server is used, and how to use a real one.
pub fn assert_embedded_notice(stdout: &str) {
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("using the embedded instant-local server at http://127.0.0.1:")
            && first.ends_with(
                "(set INSTANT_APP_ID, INSTANT_APP_ADMIN_TOKEN and INSTANT_API_URI to use a real server)"
            ),
        "first line: {first}"
    );
}

/// The lines that come right after the line equal to `header`.
pub fn lines_after<'a>(stdout: &'a str, header: &str, n: usize) -> Vec<&'a str> {
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("no line {header:?} in:\n{stdout}"));
    lines[at + 1..(at + 1 + n).min(lines.len())].to_vec()
}

/// Asserts that `stdout` has a line equal to `line`.
pub fn assert_line(stdout: &str, line: &str) {
    assert!(
        stdout.lines().any(|l| l == line),
        "no line {line:?} in:\n{stdout}"
    );
}
