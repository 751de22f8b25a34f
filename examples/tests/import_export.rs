//! The import-export example: 10,000 todos in 20 chunks, then a profile exported to JSON.

mod common;
use common::{assert_line, run_ok};

#[test]
fn imports_ten_thousand_todos_in_chunks_and_exports_a_profile() {
    let out = std::env::temp_dir().join(format!(
        "instant-examples-export-{}.json",
        std::process::id()
    ));
    let out_arg = out.to_str().expect("utf-8 temp path").to_owned();
    let (stdout, _) = run_ok(env!("CARGO_BIN_EXE_import-export"), &["--out", &out_arg]);
    assert_line(
        &stdout,
        "imported 10000 todos in 20 chunks of up to 500 (0 chunks failed, 0 rows rejected)",
    );
    // Every third todo was imported done: the server holds the other 6666 open ones.
    assert_line(&stdout, "the server holds 6666 open imported todos");
    assert_line(
        &stdout,
        "wrote a profile with 2 posts, 3 comments and 2 tags",
    );

    let text = std::fs::read_to_string(&out).expect("the export file");
    std::fs::remove_file(&out).ok();
    let export: serde_json::Value = serde_json::from_str(&text).expect("the export is JSON");
    let handle = export["handle"].as_str().expect("a handle");
    assert!(
        stdout.contains(&format!(
            "exported {handle} with 2 posts and 3 comments to {out_arg}"
        )),
        "{stdout}"
    );
    assert!(export["email"]
        .as_str()
        .is_some_and(|e| e.ends_with("@example.com")));
    assert_eq!(export["bio"], "Writes about databases");
    let posts = export["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 2);
    // Oldest first, each with its own comments and tags.
    assert_eq!(posts[0]["title"], "Typed queries");
    assert_eq!(posts[0]["published"], true);
    let mut comments: Vec<&str> = posts[0]["comments"]
        .as_array()
        .expect("comments")
        .iter()
        .filter_map(|c| c["body"].as_str())
        .collect();
    comments.sort();
    assert_eq!(comments, ["Nice!", "Which server?"]);
    assert_eq!(posts[0]["tags"].as_array().map(Vec::len), Some(2));
    assert_eq!(posts[1]["title"], "Chunked imports");
    assert_eq!(posts[1]["published"], false);
    assert_eq!(posts[1]["comments"][0]["body"], "Waiting for part two");
    assert!(posts[1]["tags"][0]["label"]
        .as_str()
        .is_some_and(|l| l.starts_with("databases-")));
    assert!(posts[0]["createdAt"]
        .as_str()
        .is_some_and(|d| d.ends_with('Z')));
}

#[test]
fn a_rejected_chunk_is_imported_row_by_row_leaving_out_the_bad_rows() {
    let (stdout, _) = run_ok(
        env!("CARGO_BIN_EXE_import-export"),
        &[
            "--count",
            "1200",
            "--chunk-size",
            "100",
            "--invalid-rows",
            "2",
        ],
    );
    // Rows 400 and 800 lack the required `text`: their chunks fail as a whole ...
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("chunk ")).collect();
    assert_eq!(failed.len(), 2, "{stdout}");
    assert!(
        failed[0].starts_with("chunk 4 (rows 400..500) failed: validation failed"),
        "{stdout}"
    );
    assert!(
        failed[1].starts_with("chunk 8 (rows 800..900) failed: validation failed"),
        "{stdout}"
    );
    // ... and are then imported row by row: only the bad rows are left out.
    let rejected: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("  rejected row "))
        .collect();
    assert_eq!(rejected.len(), 2, "{stdout}");
    assert!(
        rejected[0]
            .starts_with("  rejected row 400: validation failed: Missing required attribute"),
        "{stdout}"
    );
    assert!(rejected[1].starts_with("  rejected row 800: "), "{stdout}");
    assert_line(
        &stdout,
        "imported 1198 todos in 12 chunks of up to 100 (2 chunks failed, 2 rows rejected)",
    );
    // 800 of the 1200 rows are open (every third is done); rows 400 and 800 were open ones.
    assert_line(&stdout, "the server holds 798 open imported todos");
    // Without --out the export goes to standard output.
    assert!(stdout.contains("\"title\": \"Typed queries\""), "{stdout}");
}
