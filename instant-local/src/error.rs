//! Errors: the wire envelope the admin API answers with, and the library error type.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// An error answered over HTTP as `{type, message, hint}` (admin-protocol.md §2).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The kebab-case `type`.
    pub kind: String,
    /// The human message.
    pub message: String,
    /// The `hint` object, or null.
    pub hint: Value,
}

/// Renders a path the way the server prints a Clojure vector of strings: `["body" "query"]`.
fn clj_path(path: &[&str]) -> String {
    let parts: Vec<String> = path.iter().map(|p| format!("{p:?}")).collect();
    format!("[{}]", parts.join(" "))
}

impl ApiError {
    /// A typed error with an explicit status.
    pub fn new(status: u16, kind: &str, message: impl Into<String>, hint: Value) -> ApiError {
        ApiError {
            status,
            kind: kind.to_string(),
            message: message.into(),
            hint,
        }
    }

    /// `param-missing` for a request path such as `["body", "query"]`.
    pub fn param_missing(path: &[&str]) -> ApiError {
        ApiError::new(
            400,
            "param-missing",
            format!("Missing parameter: {}", clj_path(path)),
            json!({ "in": path }),
        )
    }

    /// `param-missing` for the app id, with its alternative location.
    pub fn app_id_missing() -> ApiError {
        let mut e = ApiError::param_missing(&["headers", "app-id"]);
        e.hint = json!({"in": ["headers", "app-id"], "possible-ins": [["query-params", "app_id"]]});
        e
    }

    /// `param-malformed`, echoing the offending input.
    pub fn param_malformed(path: &[&str], original: Value) -> ApiError {
        ApiError::new(
            400,
            "param-malformed",
            format!("Malformed parameter: {}", clj_path(path)),
            json!({ "in": path, "original-input": original }),
        )
    }

    /// `validation-failed` for `data_type`; messages of the entries are appended.
    pub fn validation(data_type: &str, input: Value, errors: Vec<Value>) -> ApiError {
        let msgs: Vec<String> = errors
            .iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str).map(str::to_string))
            .collect();
        let message = if msgs.is_empty() {
            format!("Validation failed for {data_type}")
        } else {
            format!("Validation failed for {data_type}: {}", msgs.join(", "))
        };
        ApiError::new(
            400,
            "validation-failed",
            message,
            json!({"data-type": data_type, "input": input, "errors": errors}),
        )
    }

    /// `validation-failed` with a single message entry.
    pub fn validation_msg(data_type: &str, input: Value, message: impl Into<String>) -> ApiError {
        ApiError::validation(data_type, input, vec![json!({ "message": message.into() })])
    }

    /// `record-not-found` for `record_type`.
    pub fn not_found(record_type: &str, args: Value, message: Option<&str>) -> ApiError {
        let mut hint = json!({"record-type": record_type, "args": [args]});
        if let (Some(m), Some(obj)) = (message, hint.as_object_mut()) {
            obj.insert("message".into(), json!(m));
        }
        ApiError::new(
            400,
            "record-not-found",
            format!("Record not found: {record_type}"),
            hint,
        )
    }

    /// `permission-denied` for a rule check (`scope` is `object` or `attr`).
    pub fn permission_denied(etype: &str, scope: &str) -> ApiError {
        ApiError::new(
            400,
            "permission-denied",
            "Permission denied: not perms-pass?",
            json!({"input": [etype, scope], "expected": "perms-pass?"}),
        )
    }

    /// `permission-denied` for storage calls.
    pub fn storage_denied(action: &str) -> ApiError {
        ApiError::new(
            400,
            "permission-denied",
            "Permission denied: not has-storage-permission?",
            json!({"input": ["$files", action], "expected": "has-storage-permission?"}),
        )
    }

    /// `permission-evaluation-failed` for a rule that could not be evaluated.
    pub fn rule_failed(etype: &str, action: &str, code: &str, detail: &str) -> ApiError {
        let detail = if detail.is_empty() {
            "You may have a typo".to_string()
        } else {
            detail.to_string()
        };
        ApiError::new(
            400,
            "permission-evaluation-failed",
            format!(
                "Could not evaluate permission rule for `{etype}.{action}`. {detail}. Debug this in the sandbox and then update your permission rules."
            ),
            json!({"rule": [etype, action], "error": {"type": "cel-error", "message": detail, "hint": {"code": code}}}),
        )
    }

    /// A server-side failure: 500 with the generic envelope (never for client mistakes).
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            500,
            "unknown",
            "Something went wrong. Sorry about this!",
            json!({"debug-uri": "instant-local"}),
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        json!({"type": self.kind, "message": self.message, "hint": self.hint})
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.kind, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(self.body())).into_response()
    }
}

/// Errors of the library API (starting a server, creating apps).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file or binding a socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite failed.
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A schema or perms document could not be read.
    #[error("invalid {what}: {message}")]
    Invalid {
        /// What was being read (`schema`, `perms`, ...).
        what: &'static str,
        /// Why it was rejected.
        message: String,
    },
    /// The server answered a request with an error.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The server thread could not be started or stopped.
    #[error("server error: {0}")]
    Server(String),
}
