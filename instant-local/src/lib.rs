//! instant-local: an embedded InstantDB-compatible admin API server on SQLite.
//!
//! It answers the admin HTTP API the way the real Instant server does (same endpoints,
//! headers, bodies, result shapes and error envelopes), for tests, examples and offline work.
//!
//! ```no_run
//! let server = instant_local::LocalServer::start(
//!     instant_local::Config::default().schema_json(serde_json::json!({
//!         "entities": {"goals": {"attrs": {"title": {"valueType": "string", "config": {"unique": false, "indexed": false}, "required": false}}}},
//!         "links": {}
//!     })),
//! )?;
//! println!("{} {} {}", server.base_url(), server.app_id(), server.admin_token());
//! # Ok::<(), instant_local::Error>(())
//! ```

#![warn(missing_docs)]

pub mod attrs;
pub mod error;
mod files;
mod live;
pub mod perms;
pub mod query;
mod server;
pub mod store;
mod streams;
pub mod tx;
mod users;
pub mod values;
mod webhooks;

pub use error::{ApiError, Error};
pub use server::MagicCode;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How to start a [`LocalServer`]. `Config::default()` is an in-memory server with a random
/// app id and admin token and no schema, on a free loopback port.
#[derive(Debug, Clone, Default)]
pub struct Config {
    schema: Option<Source>,
    perms: Option<Source>,
    data_dir: Option<PathBuf>,
    port: u16,
    host: Option<String>,
    app_id: Option<String>,
    admin_token: Option<String>,
}

#[derive(Debug, Clone)]
enum Source {
    File(PathBuf),
    Json(Value),
}

impl Config {
    /// The schema of the default app, from a file: `instant.schema.ts` or any JSON form
    /// (read by `instant-schema`).
    pub fn schema_file(mut self, path: impl AsRef<Path>) -> Config {
        self.schema = Some(Source::File(path.as_ref().to_path_buf()));
        self
    }

    /// The schema of the default app, as JSON (`{entities, links}` form).
    pub fn schema_json(mut self, schema: Value) -> Config {
        self.schema = Some(Source::Json(schema));
        self
    }

    /// The permission rules of the default app, from `instant.perms.ts` or a JSON file.
    pub fn perms_file(mut self, path: impl AsRef<Path>) -> Config {
        self.perms = Some(Source::File(path.as_ref().to_path_buf()));
        self
    }

    /// The permission rules of the default app, as JSON.
    pub fn perms_json(mut self, rules: Value) -> Config {
        self.perms = Some(Source::Json(rules));
        self
    }

    /// Keep data in SQLite files under `dir` (created if missing) instead of memory.
    pub fn data_dir(mut self, dir: impl AsRef<Path>) -> Config {
        self.data_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Listen on this port (0, the default, picks a free one).
    pub fn port(mut self, port: u16) -> Config {
        self.port = port;
        self
    }

    /// Listen on this address instead of 127.0.0.1.
    pub fn host(mut self, host: impl Into<String>) -> Config {
        self.host = Some(host.into());
        self
    }

    /// The default app's id.
    pub fn app_id(mut self, id: uuid::Uuid) -> Config {
        self.app_id = Some(id.to_string());
        self
    }

    /// The default app's admin token.
    pub fn admin_token(mut self, token: uuid::Uuid) -> Config {
        self.admin_token = Some(token.to_string());
        self
    }
}

/// A running server. It stops (and its thread ends) when dropped.
pub struct LocalServer {
    base_url: String,
    app_id: String,
    admin_token: String,
    shared: Arc<server::Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalServer")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

fn unwrap_rules(v: Value) -> Value {
    match v.get("code") {
        Some(c) if c.is_object() => c.clone(),
        _ => v,
    }
}

impl LocalServer {
    /// Starts a server on its own thread and tokio runtime; returns once it is listening.
    /// Works from any context, including inside an async runtime.
    pub fn start(config: Config) -> Result<LocalServer, Error> {
        let schema_attrs = match &config.schema {
            Some(Source::File(p)) => {
                let loaded = instant_schema::read_file(p).map_err(|e| Error::Invalid {
                    what: "schema",
                    message: e.to_string(),
                })?;
                attrs::attrs_from_model(&loaded.schema)
            }
            Some(Source::Json(v)) => {
                attrs::attrs_from_schema_json(v).map_err(|m| Error::Invalid {
                    what: "schema",
                    message: m,
                })?
            }
            None => Vec::new(),
        };
        let rules = match &config.perms {
            Some(Source::File(p)) => {
                let rules = instant_schema::perms::read_file(p).map_err(|e| Error::Invalid {
                    what: "perms",
                    message: e.to_string(),
                })?;
                Some(unwrap_rules(rules.to_json()))
            }
            Some(Source::Json(v)) => Some(unwrap_rules(v.clone())),
            None => None,
        };
        if let Some(d) = &config.data_dir {
            std::fs::create_dir_all(d)?;
        }
        let mut db = store::Db::open(config.data_dir.as_deref())?;
        let app_id = match &config.app_id {
            Some(a) => a.clone(),
            None => db
                .setting("default_app")?
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        };
        let existing_token = db.apps.get(&app_id).map(|a| a.admin_token.clone());
        let admin_token = match (&config.admin_token, &existing_token) {
            (Some(t), _) => t.clone(),
            (None, Some(t)) => t.clone(),
            (None, None) => uuid::Uuid::new_v4().to_string(),
        };
        if existing_token.is_some() {
            db.update_app(&app_id, attrs::merge_with_system(schema_attrs), rules)?;
            if existing_token.as_deref() != Some(admin_token.as_str()) {
                db.set_admin_token(&app_id, &admin_token)?;
            }
        } else {
            db.create_app(
                &app_id,
                &admin_token,
                "instant-local",
                attrs::merge_with_system(schema_attrs),
                rules,
            )?;
        }
        db.set_setting("default_app", &app_id)?;
        let host = config
            .host
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_string());
        let listener = std::net::TcpListener::bind((host.as_str(), config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shown_host = if host == "0.0.0.0" {
            "127.0.0.1".to_string()
        } else {
            host.clone()
        };
        let base_url = if addr.is_ipv6() {
            format!("http://[{}]:{}", shown_host, addr.port())
        } else {
            format!("http://{}:{}", shown_host, addr.port())
        };
        let shared = server::Shared::new(db);
        if let Ok(mut b) = shared.base_url.lock() {
            *b = base_url.clone();
        }
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let router = server::router(shared.clone());
        let sender = shared.clone();
        let thread = std::thread::Builder::new()
            .name("instant-local".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("instant-local-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::spawn(webhooks::run(sender));
                    tokio::select! {
                        r = axum::serve(listener, router) => {
                            if let Err(e) = r {
                                tracing::error!(error = %e, "server stopped");
                            }
                        }
                        _ = stop_rx => {}
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(500));
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Server(e)),
            Err(_) => {
                return Err(Error::Server(
                    "the server thread ended before listening".into(),
                ))
            }
        }
        tracing::info!(url = %base_url, app_id = %app_id, "instant-local listening");
        Ok(LocalServer {
            base_url,
            app_id,
            admin_token,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The default app's id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// The default app's admin token.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Creates a fresh app; returns `(app_id, admin_token)`.
    pub fn create_app(
        &self,
        title: &str,
        schema_json: Option<Value>,
        rules_json: Option<Value>,
    ) -> Result<(String, String), Error> {
        let mut db = self.shared.lock();
        let rules = rules_json.map(unwrap_rules);
        Ok(server::create_app(
            &mut db,
            title,
            schema_json.as_ref(),
            rules.as_ref(),
        )?)
    }

    /// Magic codes that a real server would have e-mailed, oldest first.
    pub fn logged_magic_codes(&self) -> Vec<MagicCode> {
        self.shared
            .magic_codes
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// The latest magic code generated for `email` in app `app_id`.
    pub fn last_magic_code(&self, app_id: &str, email: &str) -> Option<String> {
        let email = email.trim().to_lowercase();
        self.logged_magic_codes()
            .into_iter()
            .rev()
            .find(|c| c.app_id == app_id && c.email == email)
            .map(|c| c.code)
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
