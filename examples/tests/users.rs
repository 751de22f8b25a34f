//! The users example: impersonation under the rules of instant.perms.ts, finding and deleting users.

mod common;
use common::{assert_line, run_ok};

#[test]
fn impersonation_rules_and_user_management() {
    let (stdout, _) = run_ok(env!("CARGO_BIN_EXE_users"), &[]);
    // The author sees her draft; another user and a guest see only published posts.
    assert_line(
        &stdout,
        "as alice (by email): 3 posts: Alice's first post (1 comments), Alice's draft (0 comments), Bob's post (1 comments)",
    );
    assert_line(
        &stdout,
        "as bob (by refresh token): 2 posts: Alice's first post (1 comments), Bob's post (1 comments)",
    );
    assert_line(
        &stdout,
        "as a guest: 2 posts: Alice's first post (1 comments), Bob's post (1 comments)",
    );
    assert_line(&stdout, "a guest may not create a post: permission denied");

    // The same user found three ways.
    let found: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("get_user by ") && !l.contains("after delete"))
        .collect();
    assert_eq!(found.len(), 3, "{stdout}");
    let who = found[0].split_once(": ").map(|(_, w)| w).expect("a user");
    assert!(who.starts_with("alice-"), "{who}");
    for line in &found {
        assert!(line.ends_with(who), "{line} vs {who}");
    }

    // Deleted with her posts (and the comments on them) and her comments.
    assert_line(&stdout, "deleted alice's 2 posts and 1 comments");
    assert!(stdout.contains("\ndeleted user alice-"), "{stdout}");
    assert_line(&stdout, "get_user by email after delete: none");
    assert_line(
        &stdout,
        "alice's refresh token no longer works (record-not-found)",
    );
    assert_line(
        &stdout,
        "as bob, afterwards: 1 posts: Bob's post (0 comments)",
    );
}
