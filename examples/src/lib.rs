//! Shared code of the examples: the typed schema they all use, and connecting either to a real
//! Instant server (from the environment) or to an embedded `instant-local` server.
//!
//! Every example starts with [`connect`]: with `INSTANT_APP_ID` (and `INSTANT_APP_ADMIN_TOKEN`,
//! `INSTANT_API_URI`) set it talks to that server, cloud or self-hosted; otherwise it starts
//! `instant-local` in-process with `schemas/instant.schema.ts` and `schemas/instant.perms.ts`, so
//! the examples run with no setup. [`Connection::notice`] is the one line that says which.

use std::fmt;

use instant_admin::{Config, Instant};
use instant_local::LocalServer;

/// The typed API generated from `schemas/instant.schema.ts`: a module per namespace with typed
/// attribute handles, queries and transaction builders, and a struct per entity.
pub mod schema {
    instant_admin::include_schema!("schemas/instant.schema.ts");
}

/// Absolute path of the examples' schema file.
pub const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/instant.schema.ts");

/// Absolute path of the examples' permission rules.
pub const PERMS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/instant.perms.ts");

/// The error type of the examples' `main` functions.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A result with a [`BoxError`].
pub type Result<T = (), E = BoxError> = std::result::Result<T, E>;

/// An error with a message, for conditions the examples check themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleError(pub String);

impl fmt::Display for ExampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExampleError {}

/// Returns an [`ExampleError`] with this message as a [`BoxError`].
pub fn fail(message: impl Into<String>) -> BoxError {
    Box::new(ExampleError(message.into()))
}

/// A client and, when running embedded, the server it talks to (which stops when this drops).
pub struct Connection {
    db: Instant,
    local: Option<LocalServer>,
    notice: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("app_id", &self.db.app_id())
            .field("api_uri", &self.db.api_uri())
            .field("embedded", &self.local.is_some())
            .finish()
    }
}

impl Connection {
    /// The admin client.
    pub fn db(&self) -> &Instant {
        &self.db
    }

    /// The embedded server, when there is one.
    pub fn local(&self) -> Option<&LocalServer> {
        self.local.as_ref()
    }

    /// Whether the examples run against the embedded `instant-local` server.
    pub fn is_embedded(&self) -> bool {
        self.local.is_some()
    }

    /// One line saying which server is used, e.g. `using the embedded instant-local server at
    /// http://127.0.0.1:40123 (...)` or `using https://api.instantdb.com (app <id>)`.
    pub fn notice(&self) -> &str {
        &self.notice
    }
}

/// Whether `INSTANT_APP_ID` is set (and not blank): the examples then use a real server.
pub fn real_server_configured() -> bool {
    std::env::var("INSTANT_APP_ID").is_ok_and(|v| !v.trim().is_empty())
}

/// Connects as described in the crate docs: to the server of `INSTANT_APP_ID`,
/// `INSTANT_APP_ADMIN_TOKEN` and `INSTANT_API_URI` when `INSTANT_APP_ID` is set, or else to a new
/// embedded `instant-local` server loaded with the examples' schema and rules.
pub fn connect() -> Result<Connection> {
    if real_server_configured() {
        let config = Config::from_env()?;
        let db = Instant::new(config)?;
        let notice = format!("using {} (app {})", db.api_uri(), db.app_id());
        return Ok(Connection {
            db,
            local: None,
            notice,
        });
    }
    let local = LocalServer::start(
        instant_local::Config::default()
            .schema_file(SCHEMA_FILE)
            .perms_file(PERMS_FILE),
    )?;
    let db =
        Instant::new(Config::new(local.app_id(), local.admin_token()).api_uri(local.base_url()))?;
    let notice = format!(
        "using the embedded instant-local server at {} (set INSTANT_APP_ID, \
         INSTANT_APP_ADMIN_TOKEN and INSTANT_API_URI to use a real server)",
        local.base_url()
    );
    Ok(Connection {
        db,
        local: Some(local),
        notice,
    })
}

/// [`connect`], then prints its one-line notice.
pub fn connect_and_announce() -> Result<Connection> {
    let conn = connect()?;
    println!("{}", conn.notice());
    Ok(conn)
}

/// The current time, as date attributes take it.
pub fn now() -> instant_admin::typed::DateTime {
    chrono::Utc::now()
}

/// A short random tag (8 hex digits) that marks the data of one run, so runs against a shared
/// real server do not see each other's rows.
pub fn run_tag() -> String {
    let id = instant_admin::id();
    id.chars().filter(char::is_ascii_hexdigit).take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_tags_are_short_and_distinct() {
        let (a, b) = (run_tag(), run_tag());
        assert_eq!(a.len(), 8);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn schema_and_perms_files_exist() {
        assert!(std::path::Path::new(SCHEMA_FILE).is_file());
        assert!(std::path::Path::new(PERMS_FILE).is_file());
        assert!(schema::NAMESPACES.contains(&"orders"));
    }
}
