//! `Instant::from_env` (its own test binary: it changes the process environment).

use instant_admin::{Error, Instant, DEFAULT_API_URI};

#[test]
fn from_env_reads_the_three_variables() {
    std::env::remove_var("INSTANT_APP_ID");
    std::env::remove_var("INSTANT_APP_ADMIN_TOKEN");
    std::env::remove_var("INSTANT_API_URI");
    assert!(matches!(Instant::from_env(), Err(Error::Config(_))));

    std::env::set_var("INSTANT_APP_ID", "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11");
    let db = Instant::from_env().unwrap();
    assert_eq!(db.app_id(), "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11");
    assert_eq!(db.api_uri(), DEFAULT_API_URI);

    std::env::set_var(
        "INSTANT_APP_ADMIN_TOKEN",
        "2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c",
    );
    std::env::set_var("INSTANT_API_URI", "http://localhost:8888/");
    let db = Instant::from_env().unwrap();
    assert_eq!(db.api_uri(), "http://localhost:8888");
    assert!(!format!("{db:?}").contains("2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c"));
}
