//! The instant-rs runtime: an async client for InstantDB's admin API.
//!
//! [`Instant`] runs InstaQL queries and InstaML transactions over HTTP against Instant Cloud or a
//! self-hosted Instant (or `instant-local`), with typed errors, retries that never repeat an
//! unsafe write, large-batch helpers, impersonation, auth, storage, presence, live queries,
//! durable streams and webhooks.
//!
//! | area | entry points |
//! |---|---|
//! | client | [`Instant::new`], [`Instant::from_env`], [`Instant::builder`], [`Instant::as_user`], [`Instant::health`] |
//! | data | [`Instant::query`], [`Instant::query_with`], [`Instant::transact`], [`Instant::debug_query`], [`Instant::debug_transact`], [`Instant::pages`] |
//! | schema | [`Instant::schema`], [`Instant::schema_drift`] (a compiled schema against the server's attributes) |
//! | large writes | [`Instant::transact_chunked`], [`Instant::retry_chunk`] |
//! | live | [`Instant::subscribe_query`] (a `Stream` that reconnects) |
//! | sub-APIs | [`Instant::auth`], [`Instant::storage`], [`Instant::rooms`], [`Instant::streams`], [`Instant::webhooks`] |
//! | steps | [`Step`], [`Lookup`], [`IntoSteps`] |
//! | errors | [`Error`] (keyed on the server's `type`), [`ApiError`], [`Hint`] |
//!
//! This layer is untyped: queries and steps are `serde_json::Value`s (or [`Step`]s). Typed code
//! generated from a schema plugs into it through the [`Query`] and [`IntoSteps`] traits.
//!
//! The wire format follows the official `@instantdb/admin` SDK request for request (paths,
//! parameters, headers and bodies); the `parity` test compares the two.
//!
//! ```no_run
//! use std::time::Duration;
//! use futures::StreamExt;
//! use instant_admin::{
//!     AsUser, ChunkOptions, Config, Error, FileOptions, Instant, Lookup, QueryOptions, RetryPolicy,
//!     Step, UserRef,
//! };
//! use serde_json::json;
//!
//! # async fn tour() -> Result<(), Error> {
//! // From INSTANT_APP_ID / INSTANT_APP_ADMIN_TOKEN / INSTANT_API_URI, or built explicitly:
//! let db = Instant::builder(Config::new("<app id>", "<admin token>").api_uri("http://localhost:8888"))
//!     .timeout(Some(Duration::from_secs(30)))
//!     .retry_policy(RetryPolicy::default())
//!     .build()?;
//!
//! // Queries, with rule params if needed.
//! let goals = db.query(json!({"goals": {"$": {"where": {"title": "Get fit"}}, "todos": {}}})).await?;
//! let mine = db
//!     .query_with(json!({"goals": {}}), QueryOptions::new().rule_params(json!({"key": "k"})))
//!     .await?;
//!
//! // Transactions: any mix of steps; lookups in entity and link position.
//! let goal = instant_admin::id();
//! db.transact((
//!     Step::update("goals", &goal, json!({"title": "Get fit"})),
//!     Step::link("goals", &goal, json!({"owner": Lookup::new("email", "a@b.c")})),
//!     Step::merge("profiles", Lookup::new("email", "a@b.c"), json!({"prefs": {"theme": "dark"}})),
//! ))
//! .await?;
//!
//! // Errors are typed by the server's `type`.
//! match db.transact(Step::create("goals", &goal, json!({}))).await {
//!     Err(Error::ValidationFailed(e)) => eprintln!("{} {:?}", e.message, e.hint),
//!     other => { other?; }
//! }
//!
//! // Large writes: chunks, concurrency, per-chunk outcomes.
//! let steps: Vec<Step> = (0..10_000)
//!     .map(|n| Step::update("items", instant_admin::id(), json!({ "n": n })))
//!     .collect();
//! let outcomes = db.transact_chunked(steps, ChunkOptions::new(500).concurrency(4)).await;
//! for failed in outcomes.into_iter().filter(|o| !o.is_ok()) {
//!     db.retry_chunk(failed).await;
//! }
//!
//! // Acting as a user; auth, storage, presence, live queries.
//! let as_alyssa = db.as_user(AsUser::Email("alyssa@example.com".into()));
//! let visible = as_alyssa.query(json!({"goals": {}})).await?;
//! let token = db.auth().create_token("alyssa@example.com").await?;
//! let user = db.auth().get_user(UserRef::RefreshToken(token)).await?;
//! db.storage().upload_file("docs/a.txt", b"hello".as_slice(), FileOptions::new()).await?;
//! let peers = db.rooms().get_presence("chat", "room-1").await?;
//! let mut live = db.subscribe_query(json!({"goals": {}}));
//! while let Some(event) = live.next().await {
//!     println!("{:?}", event?.data);
//! }
//! # let _ = (goals, mine, visible, user, peers); Ok(()) }
//! ```
#![warn(missing_docs)]

mod auth;
mod blocking;
mod chunked;
mod client;
mod config;
mod error;
mod pages;
mod query;
mod rooms;
mod schema_check;
mod step;
mod storage;
mod streams;
mod subscribe;
pub mod typed;
mod webhooks;

pub use auth::{Auth, SignedInUser, TokenFor, User, UserRef};
pub use blocking::BlockingInstant;
pub use chunked::{ChunkOptions, ChunkOutcome, ChunkProgress};
pub use client::{encode_transact_body, Instant, InstantBuilder, SDK_VERSION};
pub use config::{AdminToken, AsUser, Config, RetryPolicy, DEFAULT_API_URI};
pub use error::{ApiError, Error, Hint, HintIssue};
pub use query::{
    DebugCheckResult, DebugQueryOptions, DebugQueryResult, DebugTransactOptions,
    DebugTransactResult, FailedCheck, PageInfo, PageInfoMap, Query, QueryOptions, TransactOptions,
    TransactResult, TypedQuery,
};
pub use rooms::{PresencePeer, Rooms};
pub use schema_check::{schema_drift, SchemaDrift};
pub use step::{action, EntityId, IntoSteps, Lookup, Step};
pub use storage::{FileOptions, FileRecord, LegacyFile, Storage, UploadSource, UploadedFile};
pub use streams::{ReadStream, ReadStreamOptions, Streams, WriteStream};
pub use subscribe::{QueryEvent, SessionInfo, Subscription};
pub use webhooks::{
    CreateWebhook, UpdateWebhook, WebhookBody, WebhookEvent, WebhookEventsPage, WebhookInfo,
    WebhookPayload, WebhookRecord, Webhooks, DEFAULT_WEBHOOK_TOLERANCE,
};

#[cfg(feature = "macros")]
pub use instant_macros::{include_schema, Entity};

/// A new random entity id: a lowercase, hyphenated UUID v4.
pub fn id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn send_sync_clone<T: Send + Sync + Clone + 'static>() {}
    fn send<T: Send>(_: &T) {}

    #[test]
    fn client_and_futures_are_send() {
        send_sync_clone::<Instant>();
        send_sync_clone::<Error>();
        let db = Instant::new(Config::new("1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11", "t")).unwrap();
        send(&db.query(json!({})));
        send(&db.transact(Step::delete("a", id())));
        send(&db.subscribe_query(json!({})));
        send(&db.transact_chunked(Vec::<Step>::new(), ChunkOptions::new(10)));
        send(&db.storage().upload_file(
            "p",
            UploadSource::reader(&b"x"[..], 1),
            FileOptions::new(),
        ));
        send(&db.auth().create_token("a@b.c"));
        send(&db.webhooks().list());
    }
    #[test]
    fn ids_are_lowercase_v4() {
        let a = super::id();
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(a, a.to_lowercase());
        assert_eq!(a.len(), 36);
        assert_ne!(a, super::id());
    }
}
