//! The todos example against the embedded server: what it creates, queries, updates and deletes.

mod common;
use common::{assert_line, lines_after, run_ok};

#[test]
fn todos_creates_queries_updates_and_deletes() {
    let (stdout, _) = run_ok(env!("CARGO_BIN_EXE_todos"), &[]);
    let created = stdout.lines().nth(1).unwrap_or_default();
    assert!(created.starts_with("created 5 todos (batch "), "{stdout}");
    // where done = false, order by priority desc, limit 3
    assert_eq!(
        lines_after(&stdout, "top 3 open todos:", 3),
        [
            "  [ ] Call the plumber (priority 5)",
            "  [ ] Book the flights (priority 4)",
            "  [ ] Write the report (priority 3)",
        ]
    );
    assert_line(&stdout, "\"Book the flights\" is due tomorrow, priority 10");
    assert_line(&stdout, "marked \"Call the plumber\" done");
    assert_line(&stdout, "done: Call the plumber");
    assert_line(&stdout, "deleted 1 done todo(s)");
    // What is left, read back from the server: the update and the delete took effect.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).date_naive();
    let left = lines_after(&stdout, "4 todos left:", 4);
    assert!(
        left[0].starts_with("  [ ] Book the flights (priority 10, due "),
        "{left:?}"
    );
    let due = left[0]
        .trim_end_matches(')')
        .rsplit("due ")
        .next()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .expect("a due date");
    assert!(
        (due - tomorrow).num_days().abs() <= 1,
        "due {due}, tomorrow {tomorrow}"
    );
    assert_eq!(
        &left[1..],
        [
            "  [ ] Write the report (priority 3)",
            "  [ ] Water the plants (priority 2)",
            "  [ ] Buy milk (priority 1)",
        ]
    );
    assert!(
        !stdout.contains("removed this run's todos"),
        "embedded: no cleanup"
    );
}
