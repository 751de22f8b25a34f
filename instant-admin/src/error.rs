//! Errors: one enum, keyed on the server's error `type`, with transport and decode failures apart.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

/// Everything that can go wrong when talking to Instant.
///
/// Answers from the server that carry an error envelope (`{"type", "message", "hint", "trace-id"}`)
/// become one variant per known `type`; types this crate does not know yet land in [`Error::Api`].
/// Every API variant carries an [`ApiError`] with the HTTP status, message, parsed hint and trace id.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `validation-failed`: the query, the steps or a parameter did not pass the server's checks.
    #[error("validation failed: {0}")]
    ValidationFailed(Box<ApiError>),
    /// `permission-denied`: a permission rule rejected the operation.
    #[error("permission denied: {0}")]
    PermissionDenied(Box<ApiError>),
    /// `permission-evaluation-failed`: a permission rule could not be evaluated.
    #[error("permission evaluation failed: {0}")]
    PermissionEvaluationFailed(Box<ApiError>),
    /// `record-not-found`: e.g. an unknown admin token, app user or magic code.
    #[error("record not found: {0}")]
    RecordNotFound(Box<ApiError>),
    /// `record-not-unique`: a unique attribute already holds that value.
    #[error("record not unique: {0}")]
    RecordNotUnique(Box<ApiError>),
    /// `record-expired`: e.g. an expired magic code.
    #[error("record expired: {0}")]
    RecordExpired(Box<ApiError>),
    /// `record-foreign-key-invalid`.
    #[error("invalid foreign key: {0}")]
    RecordForeignKeyInvalid(Box<ApiError>),
    /// `record-check-violation`.
    #[error("check violation: {0}")]
    RecordCheckViolation(Box<ApiError>),
    /// `rate-limited` (HTTP 429): wait before trying again; see [`ApiError::retry_after`].
    #[error("rate limited: {0}")]
    RateLimited(Box<ApiError>),
    /// `timeout` (HTTP 429 as well): the server gave up on the operation.
    #[error("server timeout: {0}")]
    Timeout(Box<ApiError>),
    /// `param-missing`: a required header, query or body parameter was absent.
    #[error("missing parameter: {0}")]
    ParamMissing(Box<ApiError>),
    /// `param-malformed`: a parameter had the wrong shape (e.g. a token that is not a UUID).
    #[error("malformed parameter: {0}")]
    ParamMalformed(Box<ApiError>),
    /// `parameter-limit-exceeded`: the operation was too large; split it (see `transact_chunked`).
    #[error("parameter limit exceeded: {0}")]
    ParameterLimitExceeded(Box<ApiError>),
    /// `app-read-only`: the app accepts no writes right now.
    #[error("app is read-only: {0}")]
    AppReadOnly(Box<ApiError>),
    /// `app-disabled`.
    #[error("app is disabled: {0}")]
    AppDisabled(Box<ApiError>),
    /// Any other answer that is not a success: unknown `type`, no `type` at all, non-JSON bodies,
    /// unexpected statuses (404, 500, 502, ...).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The request did not complete: connection refused or reset, time-out, truncated body.
    #[error("transport error: {message}")]
    Transport {
        /// What failed, without the admin token.
        message: String,
        /// Whether the connection could not be made at all (so the server saw nothing).
        connect: bool,
        /// Whether the client-side time limit ran out.
        timed_out: bool,
    },
    /// A 200 answer that did not decode into the expected shape.
    #[error("could not decode the server's answer: {message}")]
    Decode {
        /// What did not match.
        message: String,
    },
    /// The client is misconfigured (no app id, no admin token where one is needed, bad URL, ...).
    #[error("configuration error: {0}")]
    Config(String),
    /// A webhook request did not verify (bad or old signature, unknown key, malformed body).
    #[error("webhook verification failed: {0}")]
    WebhookVerification(String),
    /// The caller passed something this crate refuses to send (e.g. a query that is not an object).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl Error {
    /// The API error details, for every variant that came from a server answer.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::ValidationFailed(e)
            | Error::PermissionDenied(e)
            | Error::PermissionEvaluationFailed(e)
            | Error::RecordNotFound(e)
            | Error::RecordNotUnique(e)
            | Error::RecordExpired(e)
            | Error::RecordForeignKeyInvalid(e)
            | Error::RecordCheckViolation(e)
            | Error::RateLimited(e)
            | Error::Timeout(e)
            | Error::ParamMissing(e)
            | Error::ParamMalformed(e)
            | Error::ParameterLimitExceeded(e)
            | Error::AppReadOnly(e)
            | Error::AppDisabled(e)
            | Error::Api(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }

    /// The server's parsed hint, if the answer had one.
    pub fn hint(&self) -> Option<&Hint> {
        self.api().and_then(|e| e.hint.as_ref())
    }

    /// The server's error `type` (e.g. `"validation-failed"`), if the answer had one.
    pub fn error_type(&self) -> Option<&str> {
        self.api().and_then(|e| e.error_type.as_deref())
    }

    /// The server's trace id, if it sent one.
    pub fn trace_id(&self) -> Option<&str> {
        self.api().and_then(|e| e.trace_id.as_deref())
    }

    /// Whether the failure is transient, so the same request may succeed later: rate limiting,
    /// server time-outs, 502/503/504 and transport failures.
    ///
    /// This says nothing about whether repeating is *safe*: a transaction with `create` steps
    /// that failed in transport may have been committed. The client's own retries take care of that.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited(_) | Error::Timeout(_) | Error::Transport { .. } => true,
            Error::Api(e) => matches!(e.status, 502..=504),
            other => other.api().is_some_and(|e| matches!(e.status, 502..=504)),
        }
    }

    /// Builds the error for a non-success answer: picks the variant from the body's `type`.
    pub(crate) fn from_response(
        status: u16,
        retry_after_header: Option<Duration>,
        body: &[u8],
        secret: Option<&str>,
    ) -> Error {
        let api = ApiError::from_body(status, retry_after_header, body, secret);
        Error::from_api(api)
    }

    /// Picks the variant for an [`ApiError`] from its `type`.
    pub(crate) fn from_api(api: ApiError) -> Error {
        let ty = api.error_type.clone();
        let api = Box::new(api);
        match ty.as_deref() {
            Some("validation-failed") => Error::ValidationFailed(api),
            Some("permission-denied") => Error::PermissionDenied(api),
            Some("permission-evaluation-failed") => Error::PermissionEvaluationFailed(api),
            Some("record-not-found") => Error::RecordNotFound(api),
            Some("record-not-unique") => Error::RecordNotUnique(api),
            Some("record-expired") => Error::RecordExpired(api),
            Some("record-foreign-key-invalid") => Error::RecordForeignKeyInvalid(api),
            Some("record-check-violation") => Error::RecordCheckViolation(api),
            Some("rate-limited") => Error::RateLimited(api),
            Some("timeout") => Error::Timeout(api),
            Some("param-missing") => Error::ParamMissing(api),
            Some("param-malformed") => Error::ParamMalformed(api),
            Some("parameter-limit-exceeded") => Error::ParameterLimitExceeded(api),
            Some("app-read-only") => Error::AppReadOnly(api),
            Some("app-disabled") => Error::AppDisabled(api),
            _ => Error::Api(api),
        }
    }

    /// A transport failure from reqwest, with any secret removed from its text.
    pub(crate) fn transport(err: &reqwest::Error, secret: Option<&str>) -> Error {
        // reqwest's Display includes the URL (which carries the app id, never the token), but we
        // scrub anyway in case a caller put a secret into the base URL.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Error::Transport {
            message: redact_str(&message, secret),
            connect: err.is_connect(),
            timed_out: err.is_timeout(),
        }
    }

    pub(crate) fn decode(err: impl fmt::Display) -> Error {
        Error::Decode {
            message: err.to_string(),
        }
    }
}

/// The details of an error answer from the server.
#[derive(Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The server's error `type`, e.g. `"record-not-found"`; `None` when the body had none.
    pub error_type: Option<String>,
    /// The human-readable message (`"API Error (<status>)"` when the body had none).
    pub message: String,
    /// The parsed `hint`, when present and not null.
    pub hint: Option<Hint>,
    /// The server's `trace-id` (or `traceId`), when tracing is on.
    pub trace_id: Option<String>,
    /// How long the server asked us to wait (`Retry-After` header or `hint.retry-after`).
    pub retry_after: Option<Duration>,
    /// The whole body as sent (a JSON string holding the raw text when it was not JSON), with the
    /// admin token redacted.
    pub body: Value,
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiError")
            .field("status", &self.status)
            .field("error_type", &self.error_type)
            .field("message", &self.message)
            .field("hint", &self.hint)
            .field("trace_id", &self.trace_id)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (HTTP {}", self.message, self.status)?;
        if let Some(t) = &self.error_type {
            write!(f, ", type {t}")?;
        }
        if let Some(t) = &self.trace_id {
            write!(f, ", trace id {t}")?;
        }
        write!(f, ")")
    }
}

const MAX_RAW_MESSAGE: usize = 2000;

impl ApiError {
    /// Parses an error body the way the official SDK does: JSON when it parses, otherwise the
    /// raw text becomes the message. The admin token is redacted everywhere.
    pub(crate) fn from_body(
        status: u16,
        retry_after_header: Option<Duration>,
        body: &[u8],
        secret: Option<&str>,
    ) -> ApiError {
        match serde_json::from_slice::<Value>(body) {
            Ok(mut json) => {
                redact_value(&mut json, secret);
                Self::from_json(status, retry_after_header, json)
            }
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let mut text = redact_str(&text, secret);
                if text.len() > MAX_RAW_MESSAGE {
                    let mut cut = MAX_RAW_MESSAGE;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                    text.push('…');
                }
                let message = if text.trim().is_empty() {
                    format!("API Error ({status})")
                } else {
                    text.clone()
                };
                ApiError {
                    status,
                    error_type: None,
                    message,
                    hint: None,
                    trace_id: None,
                    retry_after: retry_after_header,
                    body: Value::String(text),
                }
            }
        }
    }

    /// Builds the error from an already parsed (and redacted) JSON body.
    pub(crate) fn from_json(
        status: u16,
        retry_after_header: Option<Duration>,
        json: Value,
    ) -> ApiError {
        let str_field = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
        let error_type = str_field("type");
        let message = str_field("message")
            .or_else(|| str_field("error"))
            .unwrap_or_else(|| format!("API Error ({status})"));
        let trace_id = str_field("trace-id").or_else(|| str_field("traceId"));
        let hint = match json.get("hint") {
            None | Some(Value::Null) => None,
            Some(h) => Some(Hint::new(h.clone())),
        };
        let retry_after = retry_after_header.or_else(|| hint.as_ref().and_then(Hint::retry_after));
        ApiError {
            status,
            error_type,
            message,
            hint,
            trace_id,
            retry_after,
            body: json,
        }
    }
}

/// The server's `hint`: the raw JSON plus accessors for the keys the server uses.
#[derive(Clone, PartialEq)]
pub struct Hint(Value);

impl fmt::Debug for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Hint {
    /// Wraps a hint value.
    pub fn new(value: Value) -> Hint {
        Hint(value)
    }

    /// The raw JSON.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// `in`: the path of the offending parameter, e.g. `["headers", "authorization"]`.
    pub fn path(&self) -> Option<Vec<String>> {
        self.get("in").and_then(Value::as_array).map(|a| {
            a.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect()
        })
    }

    /// `record-type` of a `record-not-found`/`record-expired` error, e.g. `"app-user"`.
    pub fn record_type(&self) -> Option<&str> {
        self.get("record-type").and_then(Value::as_str)
    }

    /// `data-type` of a `validation-failed` error, e.g. `"steps"` or `"query"`.
    pub fn data_type(&self) -> Option<&str> {
        self.get("data-type").and_then(Value::as_str)
    }

    /// The `errors` entries of a `validation-failed` error.
    pub fn errors(&self) -> Vec<HintIssue> {
        self.get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(HintIssue::from_value).collect())
            .unwrap_or_default()
    }

    /// Missing attributes reported with `throw-on-missing-attrs?` (`"etype.label"` each).
    pub fn missing_attributes(&self) -> Vec<String> {
        self.errors()
            .into_iter()
            .flat_map(|e| e.attributes)
            .collect()
    }

    /// `expected` of a `permission-denied` error, e.g. `"perms-pass?"`.
    pub fn expected(&self) -> Option<&str> {
        self.get("expected").and_then(Value::as_str)
    }

    /// How long to wait before retrying, from `retry-after` (seconds) or `retry-at` (epoch ms).
    pub fn retry_after(&self) -> Option<Duration> {
        if let Some(v) = self.get("retry-after") {
            if let Some(secs) = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            {
                if secs.is_finite() && secs >= 0.0 {
                    return Some(Duration::from_secs_f64(secs.min(86_400.0)));
                }
            }
        }
        let at = self.get("retry-at").and_then(Value::as_i64)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_millis();
        let now = i64::try_from(now).ok()?;
        let ms = at.saturating_sub(now).max(0);
        Some(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))
    }
}

/// One entry of a validation hint's `errors` list.
#[derive(Debug, Clone, PartialEq)]
pub struct HintIssue {
    /// The entry's message, when it has one.
    pub message: Option<String>,
    /// The spec predicate that failed, e.g. `"map?"`.
    pub expected: Option<String>,
    /// Where in the input, e.g. `[0, 2]` (step 0, element 2).
    pub path: Vec<Value>,
    /// `hint.attributes` of a missing-attributes entry.
    pub attributes: Vec<String>,
    /// The raw entry.
    pub raw: Value,
}

impl HintIssue {
    fn from_value(v: &Value) -> HintIssue {
        HintIssue {
            message: v.get("message").and_then(Value::as_str).map(str::to_owned),
            expected: v.get("expected").and_then(Value::as_str).map(str::to_owned),
            path: v
                .get("in")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            attributes: v
                .get("hint")
                .and_then(|h| h.get("attributes"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            raw: v.clone(),
        }
    }
}

pub(crate) const REDACTED: &str = "[redacted]";

/// Replaces every occurrence of the secret in a string.
pub(crate) fn redact_str(s: &str, secret: Option<&str>) -> String {
    match secret {
        Some(sec) if !sec.is_empty() && s.contains(sec) => s.replace(sec, REDACTED),
        _ => s.to_owned(),
    }
}

/// Replaces every occurrence of the secret in every string (and key) of a JSON value.
pub(crate) fn redact_value(v: &mut Value, secret: Option<&str>) {
    let Some(sec) = secret.filter(|s| !s.is_empty()) else {
        return;
    };
    match v {
        Value::String(s) if s.contains(sec) => {
            *s = s.replace(sec, REDACTED);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, secret)),
        Value::Object(m) => {
            if m.keys().any(|k| k.contains(sec)) {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    redact_value(&mut x, secret);
                    m.insert(redact_str(&k, secret), x);
                }
            } else {
                m.values_mut().for_each(|x| redact_value(x, secret));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variant_from_type_and_accessors() {
        let body = json!({"type": "record-not-found", "message": "Record not found: app-user",
            "hint": {"record-type": "app-user", "args": [{"refresh-token": "x"}]}, "trace-id": "abc"});
        let e = Error::from_response(400, None, body.to_string().as_bytes(), None);
        assert!(matches!(e, Error::RecordNotFound(_)));
        assert_eq!(e.status(), Some(400));
        assert_eq!(e.trace_id(), Some("abc"));
        assert_eq!(e.error_type(), Some("record-not-found"));
        assert_eq!(e.hint().and_then(Hint::record_type), Some("app-user"));
        assert!(!e.is_retryable());
    }

    #[test]
    fn validation_hint_is_parsed() {
        let body = json!({"type":"validation-failed","message":"Validation failed for steps",
            "hint":{"data-type":"steps","errors":[{"message":"Attributes are missing in your schema",
            "hint":{"attributes":["goals.myFavoriteColor"]}}, {"expected":"map?","in":[0,3]}]}});
        let e = Error::from_response(400, None, body.to_string().as_bytes(), None);
        let h = e.hint().cloned().unwrap();
        assert_eq!(h.data_type(), Some("steps"));
        assert_eq!(
            h.missing_attributes(),
            vec!["goals.myFavoriteColor".to_string()]
        );
        assert_eq!(h.errors()[1].expected.as_deref(), Some("map?"));
        assert_eq!(h.errors()[1].path, vec![json!(0), json!(3)]);
    }

    #[test]
    fn non_json_body_keeps_text_and_status() {
        let e = Error::from_response(502, None, b"<html>Bad gateway</html>", None);
        assert!(
            matches!(&e, Error::Api(a) if a.message == "<html>Bad gateway</html>" && a.error_type.is_none())
        );
        assert!(e.is_retryable());
        let e = Error::from_response(500, None, b"", None);
        assert_eq!(e.api().map(|a| a.message.as_str()), Some("API Error (500)"));
    }

    #[test]
    fn rate_limit_hint_gives_retry_after() {
        let body = json!({"type":"rate-limited","message":"slow down","hint":{"retry-after": 2}});
        let e = Error::from_response(429, None, body.to_string().as_bytes(), None);
        assert!(matches!(e, Error::RateLimited(_)));
        assert_eq!(
            e.api().and_then(|a| a.retry_after),
            Some(Duration::from_secs(2))
        );
        let e = Error::from_response(
            429,
            Some(Duration::from_secs(7)),
            body.to_string().as_bytes(),
            None,
        );
        assert_eq!(
            e.api().and_then(|a| a.retry_after),
            Some(Duration::from_secs(7))
        );
    }

    #[test]
    fn secrets_are_redacted_from_hints_and_text() {
        let tok = "2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c";
        let body = json!({"type":"param-malformed","message":"Malformed parameter",
            "hint":{"in":["headers","authorization"],"original-input": format!("Bearer {tok}"),
            "args":[{"token": tok}]}});
        let e = Error::from_response(400, None, body.to_string().as_bytes(), Some(tok));
        let all = format!(
            "{e} {e:?} {}",
            e.api().map(|a| a.body.to_string()).unwrap_or_default()
        );
        assert!(!all.contains(tok), "{all}");
        let e = Error::from_response(500, None, format!("oops {tok}").as_bytes(), Some(tok));
        assert!(!format!("{e} {e:?}").contains(tok));
    }

    proptest::proptest! {
        #[test]
        fn any_error_body_becomes_an_error(status in 100u16..600, body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let e = Error::from_response(status, None, &body, Some("secret-token"));
            proptest::prop_assert_eq!(e.status(), Some(status));
            proptest::prop_assert!(!e.to_string().is_empty());
        }

        #[test]
        fn secrets_never_survive(prefix in "[a-z ]{0,10}", suffix in "[a-z ]{0,10}") {
            let tok = "5c1f0d3e-aaaa-4bbb-8ccc-0123456789ab";
            let body = json!({"type": "x", "message": format!("{prefix}{tok}{suffix}"),
                "hint": {format!("{prefix}{tok}"): [format!("{tok}{suffix}")]}});
            let e = Error::from_response(400, None, body.to_string().as_bytes(), Some(tok));
            let all = format!("{e} {e:?} {}", e.api().map(|a| a.body.to_string()).unwrap_or_default());
            proptest::prop_assert!(!all.contains(tok));
        }
    }
}
