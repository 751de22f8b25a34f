//! The client: configuration, HTTP plumbing with retries, queries and transactions.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{
    cloud_is_closed, normalise_api_uri, AdminToken, AsUser, Config, RetryPolicy, DEFAULT_API_URI,
};
use crate::query::{
    with_rule_params, DebugCheckResult, DebugQueryOptions, DebugQueryResult, DebugTransactOptions,
    DebugTransactResult, Query, QueryOptions, TransactOptions, TransactResult,
};
use crate::step::{IntoSteps, Step};
use crate::Error;

/// The value of the `Instant-Admin-Version` and `Instant-Core-Version` headers this crate sends.
pub const SDK_VERSION: &str = concat!("instant-rs-v", env!("CARGO_PKG_VERSION"));

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of Instant's admin API. Cheap to clone (an `Arc` inside), `Send + Sync`.
///
/// ```no_run
/// # async fn run() -> Result<(), instant_admin::Error> {
/// use instant_admin::{Instant, Step, AsUser};
/// use serde_json::json;
/// let db = Instant::from_env()?;
/// let goals = db.query(json!({"goals": {"todos": {}}})).await?;
/// let id = instant_admin::id();
/// db.transact(Step::update("goals", &id, json!({"title": "Get fit"}))).await?;
/// let mine = db.as_user(AsUser::Email("a@b.c".into())).query(json!({"goals": {}})).await?;
/// # let _ = (goals, mine); Ok(()) }
/// ```
#[derive(Clone)]
pub struct Instant {
    pub(crate) inner: Arc<Inner>,
    pub(crate) as_user: Option<AsUser>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) app_id: String,
    pub(crate) admin_token: Option<AdminToken>,
    pub(crate) api_uri: String,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) throw_on_missing_attrs: bool,
    pub(crate) subscribe_idle_timeout: Duration,
    /// Webhook signing keys already fetched, by `<api uri>:<kid>`.
    pub(crate) webhook_keys: std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>,
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instant")
            .field("app_id", &self.inner.app_id)
            .field("api_uri", &self.inner.api_uri)
            .field(
                "admin_token",
                &self.inner.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .field("as_user", &self.as_user)
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .finish()
    }
}

/// Builds an [`Instant`] with non-default time limits, retry policy, user agent or HTTP client.
#[derive(Debug)]
pub struct InstantBuilder {
    config: Config,
    timeout: Option<Duration>,
    connect_timeout: Duration,
    retry: RetryPolicy,
    user_agent: String,
    http: Option<reqwest::Client>,
    throw_on_missing_attrs: bool,
    subscribe_idle_timeout: Duration,
}

impl InstantBuilder {
    /// Time limit of each HTTP request (default 60 s); `None` for none. Live queries are exempt.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time limit to open a connection (default 10 s). Ignored with [`InstantBuilder::http_client`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The retry policy ([`RetryPolicy::disabled`] switches retries off).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `User-Agent` header (default `instant-rs/<version>`). Ignored with a caller's client.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Uses the caller's own reqwest client (its proxy, TLS and pool settings).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// The API base URL (default Instant Cloud).
    pub fn api_uri(mut self, uri: impl Into<String>) -> Self {
        self.config.api_uri = Some(uri.into());
        self
    }

    /// The admin token.
    pub fn admin_token(mut self, token: impl Into<AdminToken>) -> Self {
        self.config.admin_token = Some(token.into());
        self
    }

    /// Default of `throw-on-missing-attrs?` for transactions (off, as without a schema).
    pub fn throw_on_missing_attrs(mut self, on: bool) -> Self {
        self.throw_on_missing_attrs = on;
        self
    }

    /// How long a live query may stay silent before it reconnects (default 60 s; the server
    /// sends a keep-alive every 15 s).
    pub fn subscribe_idle_timeout(mut self, timeout: Duration) -> Self {
        self.subscribe_idle_timeout = timeout;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Result<Instant, Error> {
        let app_id = self.config.app_id.trim().to_owned();
        if app_id.is_empty() {
            return Err(Error::Config("the app id is empty".to_owned()));
        }
        if HeaderValue::from_str(&app_id).is_err() {
            return Err(Error::Config(
                "the app id contains characters not allowed in a header".to_owned(),
            ));
        }
        if uuid::Uuid::try_parse(&app_id).is_err() {
            tracing::warn!(app_id = %app_id, "the app id is not a UUID");
        }
        let admin_token = self.config.admin_token.filter(|t| !t.expose().is_empty());
        if let Some(t) = &admin_token {
            if HeaderValue::from_str(&format!("Bearer {}", t.expose())).is_err() {
                return Err(Error::Config(
                    "the admin token contains characters not allowed in a header".to_owned(),
                ));
            }
        }
        let api_uri = normalise_api_uri(self.config.api_uri.as_deref())?;
        if api_uri == DEFAULT_API_URI && cloud_is_closed(std::time::SystemTime::now()) {
            tracing::warn!(
                "no API URL is configured, so this client talks to Instant Cloud, which shut down \
                 on 2027-08-31; set INSTANT_API_URI or Config::api_uri to your Instant server"
            );
        }
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .user_agent(self.user_agent)
                .connect_timeout(self.connect_timeout)
                .build()
                .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?,
        };
        Ok(Instant {
            inner: Arc::new(Inner {
                http,
                app_id,
                admin_token,
                api_uri,
                timeout: self.timeout,
                retry: self.retry,
                throw_on_missing_attrs: self.throw_on_missing_attrs,
                subscribe_idle_timeout: self.subscribe_idle_timeout,
                webhook_keys: std::sync::Mutex::new(std::collections::HashMap::new()),
            }),
            as_user: None,
        })
    }
}

/// Which auth headers a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthMode {
    /// `app-id` + `authorization`, never impersonation (auth, users, presence, legacy storage).
    Admin,
    /// `app-id` + `authorization` (if any) + the client's impersonation header.
    Scoped,
    /// No auth headers at all (verify_refresh_token).
    None,
    /// Only `authorization: Bearer <admin token>` (webhook management).
    Bearer,
}

/// Whether a request may be sent again after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads and idempotent writes.
    Safe,
    /// Anything else: only retried when the server certainly did nothing.
    Unsafe,
}

/// The body of a request.
pub(crate) enum Payload {
    Empty,
    Json(Bytes),
    Bytes(Bytes),
    Stream(Option<reqwest::Body>),
}

/// One API call, before sending.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: std::borrow::Cow<'static, str>,
    /// An absolute URL to call instead of `api_uri + path` (webhook payload URLs).
    pub(crate) url: Option<reqwest::Url>,
    /// Query parameters after `app_id`.
    pub(crate) params: Vec<(&'static str, String)>,
    /// Whether the URL carries `app_id=` (everything but subscribe-query).
    pub(crate) app_id_param: bool,
    pub(crate) auth: AuthMode,
    /// Headers set after the auth headers (`path`, `content-type`, ...).
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Whether to send `content-type: application/json` (false for uploads).
    pub(crate) json_content_type: bool,
    pub(crate) version_headers: bool,
    pub(crate) payload: Payload,
    pub(crate) repeat: Repeat,
    /// Whether the per-request time limit applies (not for live queries).
    pub(crate) timeout: bool,
}

impl Call {
    pub(crate) fn new(
        method: Method,
        path: impl Into<std::borrow::Cow<'static, str>>,
        auth: AuthMode,
    ) -> Call {
        Call {
            method,
            path: path.into(),
            url: None,
            params: Vec::new(),
            app_id_param: true,
            auth,
            headers: Vec::new(),
            json_content_type: true,
            version_headers: true,
            payload: Payload::Empty,
            repeat: Repeat::Safe,
            timeout: true,
        }
    }

    pub(crate) fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Call, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("could not encode the request body: {e}")))?;
        self.payload = Payload::Json(Bytes::from(bytes));
        Ok(self)
    }

    pub(crate) fn param(mut self, k: &'static str, v: impl Into<String>) -> Call {
        self.params.push((k, v.into()));
        self
    }

    pub(crate) fn repeat(mut self, r: Repeat) -> Call {
        self.repeat = r;
        self
    }
}

impl Instant {
    /// A client for this config, with default time limits and retry policy.
    pub fn new(config: Config) -> Result<Instant, Error> {
        Instant::builder(config).build()
    }

    /// A builder for a client with custom settings.
    pub fn builder(config: Config) -> InstantBuilder {
        InstantBuilder {
            config,
            timeout: Some(DEFAULT_TIMEOUT),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
            user_agent: concat!("instant-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            http: None,
            throw_on_missing_attrs: false,
            subscribe_idle_timeout: Duration::from_secs(60),
        }
    }

    /// A client configured from `INSTANT_APP_ID`, `INSTANT_APP_ADMIN_TOKEN` and `INSTANT_API_URI`.
    pub fn from_env() -> Result<Instant, Error> {
        Instant::new(Config::from_env()?)
    }

    /// The app id.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The API base URL (no trailing slash).
    pub fn api_uri(&self) -> &str {
        &self.inner.api_uri
    }

    /// Who this client acts as, if it is scoped.
    pub fn impersonation(&self) -> Option<&AsUser> {
        self.as_user.as_ref()
    }

    /// A client scoped to a user: queries, transactions, debug calls, live queries and storage run
    /// with that user's permissions. Auth, users and presence calls still use the admin token.
    pub fn as_user(&self, who: AsUser) -> Instant {
        Instant {
            inner: Arc::clone(&self.inner),
            as_user: Some(who),
        }
    }

    /// Runs an InstaQL query (`POST /admin/query`).
    ///
    /// A `serde_json::Value` query answers with a `Value` tree. For large answers, decode into
    /// your own types instead ([`TypedQuery`](crate::TypedQuery) or generated typed queries): a
    /// `Value` tree costs about 10 allocations per row, and decoding 100,000 rows into structs
    /// takes about a quarter of the CPU (BENCHMARKS.md).
    pub async fn query<Q: Query>(&self, q: Q) -> Result<Q::Output, Error> {
        self.query_with(q, QueryOptions::default()).await
    }

    /// Runs an InstaQL query with options (rule params).
    pub async fn query_with<Q: Query>(&self, q: Q, opts: QueryOptions) -> Result<Q::Output, Error> {
        let query = with_rule_params(q.instaql(), opts.rule_params)?;
        let body = QueryBody {
            query: &query,
            inference: q.inference(),
        };
        let call = Call::new(Method::POST, "/admin/query", AuthMode::Scoped).json(&body)?;
        let body = self.call(call).await?;
        q.decode_bytes(&body).map_err(Error::decode)
    }

    /// Runs a transaction (`POST /admin/transact`). Steps go in order, atomically.
    pub async fn transact(&self, steps: impl IntoSteps) -> Result<TransactResult, Error> {
        self.transact_with(steps, TransactOptions::default()).await
    }

    /// Runs a transaction with options (`throw-on-missing-attrs?`).
    pub async fn transact_with(
        &self,
        steps: impl IntoSteps,
        opts: TransactOptions,
    ) -> Result<TransactResult, Error> {
        let steps = steps.into_steps();
        self.transact_slice(&steps, &opts).await
    }

    pub(crate) async fn transact_slice(
        &self,
        steps: &[Step],
        opts: &TransactOptions,
    ) -> Result<TransactResult, Error> {
        let throw = opts
            .throw_on_missing_attrs
            .unwrap_or(self.inner.throw_on_missing_attrs);
        let body = encode_transact_body(steps, throw)?;
        let repeat = if steps.iter().all(Step::is_idempotent) {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        let mut call = Call::new(Method::POST, "/admin/transact", AuthMode::Scoped).repeat(repeat);
        call.payload = Payload::Json(Bytes::from(body));
        self.call_decode(call).await
    }

    /// Runs a query as the impersonated user and reports every permission check
    /// (`POST /admin/query_perms_check`). Needs both the admin token and [`Instant::as_user`].
    pub async fn debug_query<Q: Query>(
        &self,
        q: Q,
        opts: DebugQueryOptions,
    ) -> Result<DebugQueryResult<Q::Output>, Error> {
        let query = with_rule_params(q.instaql(), opts.rule_params)?;
        let mut body = Map::new();
        body.insert("query".into(), query);
        if let Some(rules) = opts.rules {
            body.insert("rules-override".into(), rules);
        }
        body.insert(
            "inference?".into(),
            Value::Bool(opts.cardinality_inference.unwrap_or(q.inference())),
        );
        if let Some(ip) = opts.ip.filter(|s| !s.is_empty()) {
            body.insert("ip-override".into(), Value::String(ip));
        }
        if let Some(origin) = opts.origin.filter(|s| !s.is_empty()) {
            body.insert("origin-override".into(), Value::String(origin));
        }
        let call =
            Call::new(Method::POST, "/admin/query_perms_check", AuthMode::Scoped).json(&body)?;
        let raw: DebugQueryRaw<Value> = self.call_decode(call).await?;
        Ok(DebugQueryResult {
            result: q.decode(raw.result).map_err(Error::decode)?,
            check_results: raw.check_results,
        })
    }

    /// Runs a transaction as the impersonated user and reports every permission check
    /// (`POST /admin/transact_perms_check`); rolled back unless `dangerously_commit` is set.
    pub async fn debug_transact(
        &self,
        steps: impl IntoSteps,
        opts: DebugTransactOptions,
    ) -> Result<DebugTransactResult, Error> {
        let steps = steps.into_steps();
        let mut body = Map::new();
        body.insert(
            "steps".into(),
            serde_json::to_value(&steps).map_err(|e| Error::InvalidInput(e.to_string()))?,
        );
        if let Some(rules) = opts.rules {
            body.insert("rules-override".into(), rules);
        }
        if opts.dangerously_commit {
            body.insert("dangerously-commit-tx".into(), Value::Bool(true));
        }
        if let Some(ip) = opts.ip.filter(|s| !s.is_empty()) {
            body.insert("ip-override".into(), Value::String(ip));
        }
        if let Some(origin) = opts.origin.filter(|s| !s.is_empty()) {
            body.insert("origin-override".into(), Value::String(origin));
        }
        let repeat = if !opts.dangerously_commit || steps.iter().all(Step::is_idempotent) {
            Repeat::Safe
        } else {
            Repeat::Unsafe
        };
        let call = Call::new(
            Method::POST,
            "/admin/transact_perms_check",
            AuthMode::Scoped,
        )
        .json(&body)?
        .repeat(repeat);
        self.call_decode(call).await
    }

    /// The app's schema as the server sees it (`GET /admin/schema`, experimental on the server;
    /// the official SDKs do not call it): `{"refs", "blobs"}`, the app's attributes. To check that
    /// a compiled schema matches it, use [`Instant::schema_drift`].
    pub async fn schema(&self) -> Result<Value, Error> {
        let call = Call::new(Method::GET, "/admin/schema", AuthMode::Admin);
        let mut v: Value = self.call_decode(call).await?;
        v.get_mut("schema")
            .map(Value::take)
            .ok_or_else(|| Error::decode("the answer has no schema"))
    }

    /// Checks that the server is up and healthy: `GET /health/system`, the probe self-hosted
    /// Instant servers answer with `{"wal": "ok"}`. An error when it cannot be reached or is not
    /// healthy (status 500 with `{"wal": "error"}` when its write-ahead log is failing).
    pub async fn health(&self) -> Result<(), Error> {
        let mut call = Call::new(Method::GET, "/health/system", AuthMode::None);
        call.app_id_param = false;
        call.json_content_type = false;
        call.version_headers = false;
        let answer: Value = self.call_decode(call).await?;
        match answer.get("wal").and_then(Value::as_str) {
            Some("ok") => Ok(()),
            _ => Err(Error::decode(format!("unexpected health answer: {answer}"))),
        }
    }

    /// Sends a call (with retries) and decodes the 200 answer.
    pub(crate) async fn call_decode<T: DeserializeOwned>(&self, call: Call) -> Result<T, Error> {
        let bytes = self.call(call).await?;
        crate::query::from_body(&bytes).map_err(Error::decode)
    }

    fn secret(&self) -> Option<&str> {
        self.inner.admin_token.as_ref().map(AdminToken::expose)
    }

    /// The auth headers, checking like the official SDK that the needed token is there.
    fn auth_headers(&self, mode: AuthMode, json: bool) -> Result<HeaderMap, Error> {
        let mut h = HeaderMap::new();
        if json {
            h.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        if mode == AuthMode::None {
            return Ok(h);
        }
        if mode == AuthMode::Bearer {
            let Some(t) = self.inner.admin_token.as_ref() else {
                return Err(Error::Config(
                    "an admin token is required for this call".to_owned(),
                ));
            };
            let mut v = header_value(&format!("Bearer {}", t.expose()), "admin token")?;
            v.set_sensitive(true);
            h.insert(reqwest::header::AUTHORIZATION, v);
            return Ok(h);
        }
        let scope = match mode {
            AuthMode::Scoped => self.as_user.as_ref(),
            _ => None,
        };
        let token = self.inner.admin_token.as_ref();
        if token.is_none() && !matches!(scope, Some(AsUser::Token(_) | AsUser::Guest)) {
            return Err(Error::Config(match scope {
                Some(AsUser::Email(_)) => "an admin token is required to impersonate a user by email".to_owned(),
                _ => "an admin token is required for this call (or use as_user with a token or as a guest)".to_owned(),
            }));
        }
        h.insert(
            HeaderName::from_static("app-id"),
            header_value(&self.inner.app_id, "app id")?,
        );
        if let Some(t) = token {
            let mut v = header_value(&format!("Bearer {}", t.expose()), "admin token")?;
            v.set_sensitive(true);
            h.insert(reqwest::header::AUTHORIZATION, v);
        }
        match scope {
            Some(AsUser::Email(e)) => {
                h.insert(
                    HeaderName::from_static("as-email"),
                    header_value(e, "email")?,
                );
            }
            Some(AsUser::Token(t)) => {
                let mut v = header_value(t, "refresh token")?;
                v.set_sensitive(true);
                h.insert(HeaderName::from_static("as-token"), v);
            }
            Some(AsUser::Guest) => {
                h.insert(
                    HeaderName::from_static("as-guest"),
                    HeaderValue::from_static("true"),
                );
            }
            None => {}
        }
        Ok(h)
    }

    fn url(&self, call: &Call) -> Result<reqwest::Url, Error> {
        if let Some(u) = &call.url {
            return Ok(u.clone());
        }
        let mut url = reqwest::Url::parse(&format!("{}{}", self.inner.api_uri, call.path))
            .map_err(|e| Error::Config(format!("invalid API URL: {e}")))?;
        if call.app_id_param || !call.params.is_empty() {
            let mut q = url.query_pairs_mut();
            if call.app_id_param {
                q.append_pair("app_id", &self.inner.app_id);
            }
            for (k, v) in &call.params {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Builds the request for one attempt. `None` payload means a stream body already used.
    fn request(&self, call: &mut Call) -> Result<Option<reqwest::RequestBuilder>, Error> {
        let mut headers = self.auth_headers(call.auth, call.json_content_type)?;
        for (k, v) in &call.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Error::InvalidInput(format!("invalid header name {k:?}")))?;
            headers.insert(name, header_value(v, k)?);
        }
        if call.version_headers {
            headers.insert(
                HeaderName::from_static("instant-admin-version"),
                HeaderValue::from_static(SDK_VERSION),
            );
            headers.insert(
                HeaderName::from_static("instant-core-version"),
                HeaderValue::from_static(SDK_VERSION),
            );
        }
        let mut rb = self
            .inner
            .http
            .request(call.method.clone(), self.url(call)?)
            .headers(headers);
        if call.timeout {
            if let Some(t) = self.inner.timeout {
                rb = rb.timeout(t);
            }
        }
        rb = match &mut call.payload {
            Payload::Empty => rb,
            Payload::Json(b) | Payload::Bytes(b) => rb.body(b.clone()),
            Payload::Stream(s) => match s.take() {
                Some(body) => rb.body(body),
                None => return Ok(None),
            },
        };
        Ok(Some(rb))
    }

    /// Sends once; a 200 answer's body, or the error.
    async fn attempt(&self, call: &mut Call) -> Result<Bytes, Error> {
        let Some(rb) = self.request(call)? else {
            return Err(Error::InvalidInput(
                "a streamed body cannot be sent twice".to_owned(),
            ));
        };
        let resp = rb
            .send()
            .await
            .map_err(|e| Error::transport(&e, self.secret()))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after_header(resp.headers());
        let body = read_body(resp)
            .await
            .map_err(|e| Error::transport(&e, self.secret()))?;
        if status == 200 {
            Ok(body)
        } else {
            Err(Error::from_response(
                status,
                retry_after,
                &body,
                self.secret(),
            ))
        }
    }

    /// Sends a call, retrying as the policy allows.
    pub(crate) async fn call(&self, mut call: Call) -> Result<Bytes, Error> {
        let policy = &self.inner.retry;
        let mut attempt: u32 = 1;
        loop {
            tracing::debug!(method = %call.method, path = %call.path, attempt, "instant request");
            let result = self.attempt(&mut call).await;
            let err = match result {
                Ok(body) => {
                    tracing::debug!(
                        path = %call.path,
                        attempt,
                        bytes = body.len(),
                        "instant answer"
                    );
                    return Ok(body);
                }
                Err(e) => e,
            };
            tracing::debug!(path = %call.path, attempt, status = ?err.status(), trace_id = ?err.trace_id(), error = %err, "instant request failed");
            let stream_used = matches!(call.payload, Payload::Stream(None));
            if attempt >= policy.max_attempts.max(1) || stream_used {
                return Err(err);
            }
            let Some(delay) = retry_delay(policy, &err, attempt, call.repeat) else {
                return Err(err);
            };
            tracing::info!(path = %call.path, attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying instant request");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Opens a streaming response (live queries): one attempt, the response on 200.
    pub(crate) async fn open(&self, mut call: Call) -> Result<reqwest::Response, Error> {
        let Some(rb) = self.request(&mut call)? else {
            return Err(Error::InvalidInput(
                "a streamed body cannot be sent twice".to_owned(),
            ));
        };
        let resp = rb
            .send()
            .await
            .map_err(|e| Error::transport(&e, self.secret()))?;
        let status = resp.status().as_u16();
        if status == 200 {
            return Ok(resp);
        }
        let retry_after = retry_after_header(resp.headers());
        let body = resp
            .bytes()
            .await
            .map_err(|e| Error::transport(&e, self.secret()))?;
        Err(Error::from_response(
            status,
            retry_after,
            &body,
            self.secret(),
        ))
    }

    pub(crate) fn redact(&self, v: &mut Value) {
        crate::error::redact_value(v, self.secret());
    }
}

/// The most memory reserved up front from a response's `Content-Length` (larger bodies grow).
const MAX_BODY_PREALLOC: u64 = 256 << 20;

/// Reads a whole response body into one buffer.
///
/// `Response::bytes` keeps every chunk until the end and then copies them all into a new buffer,
/// so a large answer (12 MB for 100,000 rows) needs twice its size in fresh memory, every page of
/// it faulted in. Here each chunk is copied as it arrives into a buffer sized from
/// `Content-Length` and released at once, which lets hyper reuse its read buffer for the next one.
/// A body that arrives in one chunk is returned as is, without a copy.
async fn read_body(mut resp: reqwest::Response) -> reqwest::Result<Bytes> {
    let expected = resp.content_length();
    let Some(first) = resp.chunk().await? else {
        return Ok(Bytes::new());
    };
    if expected == Some(first.len() as u64) {
        return Ok(first);
    }
    let Some(second) = resp.chunk().await? else {
        return Ok(first);
    };
    let reserve = expected.map_or(0, |n| n.min(MAX_BODY_PREALLOC) as usize);
    let mut buf = Vec::with_capacity(reserve.max(first.len() + second.len()));
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    drop((first, second));
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// How long to wait before the next attempt, or `None` to give up.
pub(crate) fn retry_delay(
    policy: &RetryPolicy,
    err: &Error,
    attempt: u32,
    repeat: Repeat,
) -> Option<Duration> {
    let safe = repeat == Repeat::Safe;
    match err {
        // The server refused before doing anything: safe to repeat any request.
        Error::RateLimited(api) => match api.retry_after {
            Some(d) if d > policy.max_retry_after => None,
            Some(d) => Some(d),
            None => Some(policy.backoff(attempt)),
        },
        Error::Transport { connect: true, .. } => Some(policy.backoff(attempt)),
        Error::Transport { .. } | Error::Timeout(_) if safe => Some(policy.backoff(attempt)),
        e if safe && matches!(e.status(), Some(502..=504)) => {
            match e.api().and_then(|a| a.retry_after) {
                Some(d) if d <= policy.max_retry_after => Some(d),
                _ => Some(policy.backoff(attempt)),
            }
        }
        _ => None,
    }
}

fn header_value(v: &str, what: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(v).map_err(|_| {
        Error::InvalidInput(format!(
            "the {what} contains characters not allowed in a header"
        ))
    })
}

fn retry_after_header(h: &HeaderMap) -> Option<Duration> {
    let v = h.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = v.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[derive(Serialize)]
struct QueryBody<'a> {
    query: &'a Value,
    #[serde(rename = "inference?")]
    inference: bool,
}

#[derive(Serialize)]
struct TransactBody<'a> {
    steps: &'a [Step],
    #[serde(rename = "throw-on-missing-attrs?")]
    throw_on_missing_attrs: bool,
}

#[derive(serde::Deserialize)]
#[serde(bound = "T: DeserializeOwned")]
struct DebugQueryRaw<T> {
    result: T,
    #[serde(rename = "check-results", default)]
    check_results: Vec<DebugCheckResult>,
}

/// Encodes the body of a transaction exactly as [`Instant::transact`] sends it.
pub fn encode_transact_body(
    steps: &[Step],
    throw_on_missing_attrs: bool,
) -> Result<Vec<u8>, Error> {
    // Typical steps encode to 60-200 bytes; reserving up front avoids repeated regrowth.
    let mut buf = Vec::with_capacity(64 + steps.len().saturating_mul(128));
    serde_json::to_writer(
        &mut buf,
        &TransactBody {
            steps,
            throw_on_missing_attrs,
        },
    )
    .map_err(|e| Error::InvalidInput(format!("could not encode the steps: {e}")))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn api(status: u16, ty: &str, retry_after: Option<Duration>) -> Error {
        Error::from_api(ApiError {
            status,
            error_type: Some(ty.to_owned()),
            message: String::new(),
            hint: None,
            trace_id: None,
            retry_after,
            body: Value::Null,
        })
    }

    #[test]
    fn retry_decisions() {
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        let rl = api(429, "rate-limited", Some(Duration::from_secs(1)));
        assert_eq!(
            retry_delay(&p, &rl, 1, Repeat::Unsafe),
            Some(Duration::from_secs(1))
        );
        let rl_long = api(429, "rate-limited", Some(Duration::from_secs(3600)));
        assert_eq!(retry_delay(&p, &rl_long, 1, Repeat::Safe), None);
        let to = api(429, "timeout", None);
        assert!(retry_delay(&p, &to, 1, Repeat::Safe).is_some());
        assert_eq!(retry_delay(&p, &to, 1, Repeat::Unsafe), None);
        let bad_gw = api(503, "unknown", None);
        assert!(retry_delay(&p, &bad_gw, 1, Repeat::Safe).is_some());
        assert_eq!(retry_delay(&p, &bad_gw, 1, Repeat::Unsafe), None);
        let vf = api(400, "validation-failed", None);
        assert_eq!(retry_delay(&p, &vf, 1, Repeat::Safe), None);
        let conn = Error::Transport {
            message: String::new(),
            connect: true,
            timed_out: false,
        };
        assert!(retry_delay(&p, &conn, 1, Repeat::Unsafe).is_some());
        let reset = Error::Transport {
            message: String::new(),
            connect: false,
            timed_out: false,
        };
        assert_eq!(retry_delay(&p, &reset, 1, Repeat::Unsafe), None);
        assert!(retry_delay(&p, &reset, 1, Repeat::Safe).is_some());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let db = Instant::new(Config::new(
            "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11",
            "tok-9f8e7d6c-secret",
        ))
        .unwrap();
        let s = format!("{db:?} {:?}", db.as_user(AsUser::Token("rt-abc".into())));
        assert!(!s.contains("tok-9f8e7d6c-secret"), "{s}");
        assert!(!s.contains("rt-abc"), "{s}");
    }

    #[test]
    fn missing_admin_token_is_a_config_error() {
        let db = Instant::new(Config {
            app_id: "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11".into(),
            admin_token: None,
            api_uri: None,
        })
        .unwrap();
        assert!(matches!(
            db.auth_headers(AuthMode::Scoped, true),
            Err(Error::Config(_))
        ));
        assert!(db
            .as_user(AsUser::Guest)
            .auth_headers(AuthMode::Scoped, true)
            .is_ok());
        assert!(db
            .as_user(AsUser::Token("t".into()))
            .auth_headers(AuthMode::Scoped, true)
            .is_ok());
        assert!(matches!(
            db.as_user(AsUser::Email("a@b.c".into()))
                .auth_headers(AuthMode::Scoped, true),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            db.as_user(AsUser::Guest)
                .auth_headers(AuthMode::Admin, true),
            Err(Error::Config(_))
        ));
    }
}
