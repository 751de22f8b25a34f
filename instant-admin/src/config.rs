//! Client configuration: app id, admin token, API URL, time limits, retry policy.

use std::fmt;
use std::time::Duration;

use crate::Error;

/// The Instant Cloud API URL, used when no other is configured.
pub const DEFAULT_API_URI: &str = "https://api.instantdb.com";

/// When Instant Cloud shuts down: 2027-09-01T00:00:00Z, the end of 2027-08-31 (Unix seconds).
/// Apps then live on self-hosted Instant servers, whose URL must be configured.
pub(crate) const CLOUD_SHUTDOWN_UNIX_SECS: u64 = 1_819_756_800;

/// Whether Instant Cloud has shut down at `now`.
pub(crate) fn cloud_is_closed(now: std::time::SystemTime) -> bool {
    now.duration_since(std::time::UNIX_EPOCH)
        .is_ok_and(|d| d.as_secs() >= CLOUD_SHUTDOWN_UNIX_SECS)
}

/// An admin token. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token (surrounding whitespace is trimmed, as the official SDK does).
    pub fn new(token: impl Into<String>) -> AdminToken {
        AdminToken(token.into().trim().to_owned())
    }

    /// The token itself. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

impl fmt::Display for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for AdminToken {
    fn from(s: &str) -> AdminToken {
        AdminToken::new(s)
    }
}

impl From<String> for AdminToken {
    fn from(s: String) -> AdminToken {
        AdminToken::new(s)
    }
}

/// Who a scoped client acts as (`db.as_user(...)`): permission rules apply to its queries,
/// transactions and storage calls.
#[derive(Clone, PartialEq, Eq)]
pub enum AsUser {
    /// The user with this email (`as-email`); needs the admin token.
    Email(String),
    /// The user owning this refresh token (`as-token`); works without an admin token.
    Token(String),
    /// An unauthenticated guest (`as-guest: true`); works without an admin token.
    Guest,
}

impl fmt::Debug for AsUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsUser::Email(e) => f.debug_tuple("Email").field(e).finish(),
            AsUser::Token(_) => f.write_str("Token([redacted])"),
            AsUser::Guest => f.write_str("Guest"),
        }
    }
}

/// When and how often the client repeats a failed request.
///
/// Only requests that are safe to repeat are retried after a failure that may have reached the
/// server: queries and other reads, and transactions whose steps are all idempotent (never one
/// with `create`). Rate-limited answers (`429 rate-limited`: the server did nothing) and
/// connections that could not be made are retried for every request.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts, the first included. `1` switches retries off.
    pub max_attempts: u32,
    /// First back-off delay; doubles on every attempt.
    pub base_delay: Duration,
    /// Longest back-off delay.
    pub max_delay: Duration,
    /// Longest wait a `retry-after` may ask for; a longer one is returned as an error at once.
    pub max_retry_after: Duration,
    /// Whether to add random jitter (half the delay at most) to back-off delays.
    pub jitter: bool,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(60),
            jitter: true,
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn disabled() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The back-off delay before attempt `attempt + 1` (`attempt` counts from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let delay = self
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        if self.jitter && !delay.is_zero() {
            let half = delay / 2;
            let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
            let r = (uuid::Uuid::new_v4().as_u128() as u64) % nanos;
            half + Duration::from_nanos(r)
        } else {
            delay
        }
    }
}

/// What [`crate::Instant::new`] needs: the app, its admin token and the API URL.
#[derive(Clone)]
pub struct Config {
    /// The app id (a UUID).
    pub app_id: String,
    /// The admin token; optional when only impersonating by token or as a guest.
    pub admin_token: Option<AdminToken>,
    /// The API base URL; `None` or empty means [`DEFAULT_API_URI`] (Instant Cloud, which shuts
    /// down on 2027-08-31; after that, building a client without a URL logs a warning). A
    /// trailing slash is fine.
    pub api_uri: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("app_id", &self.app_id)
            .field("admin_token", &self.admin_token)
            .field("api_uri", &self.api_uri)
            .finish()
    }
}

impl Config {
    /// A config for this app with its admin token, against the default API URL.
    pub fn new(app_id: impl Into<String>, admin_token: impl Into<AdminToken>) -> Config {
        Config {
            app_id: app_id.into(),
            admin_token: Some(admin_token.into()),
            api_uri: None,
        }
    }

    /// Reads `INSTANT_APP_ID` (required), `INSTANT_APP_ADMIN_TOKEN` and `INSTANT_API_URI`.
    pub fn from_env() -> Result<Config, Error> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let app_id = var("INSTANT_APP_ID")
            .ok_or_else(|| Error::Config("INSTANT_APP_ID is not set".to_owned()))?;
        Ok(Config {
            app_id,
            admin_token: var("INSTANT_APP_ADMIN_TOKEN").map(AdminToken::new),
            api_uri: var("INSTANT_API_URI"),
        })
    }

    /// Sets the API base URL.
    pub fn api_uri(mut self, uri: impl Into<String>) -> Config {
        self.api_uri = Some(uri.into());
        self
    }
}

/// Normalises a base URL: default when empty, no trailing slash, must be http(s).
pub(crate) fn normalise_api_uri(uri: Option<&str>) -> Result<String, Error> {
    let uri = uri
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .unwrap_or(DEFAULT_API_URI);
    let trimmed = uri.trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| Error::Config(format!("invalid API URL {trimmed:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "the API URL must be http or https, got {trimmed:?}"
        )));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cloud_closes_at_the_end_of_2027_08_31() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        assert!(!super::cloud_is_closed(at(
            super::CLOUD_SHUTDOWN_UNIX_SECS - 1
        )));
        assert!(super::cloud_is_closed(at(super::CLOUD_SHUTDOWN_UNIX_SECS)));
        // 2027-08-31T12:00:00Z is still open; 2027-09-01T00:00:00Z is closed.
        assert!(!super::cloud_is_closed(at(1_819_713_600)));
        assert!(super::cloud_is_closed(at(1_819_756_800)));
    }

    use super::*;

    #[test]
    fn api_uri_defaults_and_trailing_slash() {
        assert_eq!(normalise_api_uri(None).unwrap(), DEFAULT_API_URI);
        assert_eq!(normalise_api_uri(Some("")).unwrap(), DEFAULT_API_URI);
        assert_eq!(
            normalise_api_uri(Some("http://localhost:8888/")).unwrap(),
            "http://localhost:8888"
        );
        assert!(matches!(
            normalise_api_uri(Some("ftp://x")),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            normalise_api_uri(Some("not a url")),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn backoff_is_capped_and_jittered_within_bounds() {
        let p = RetryPolicy::default();
        for attempt in 1..30 {
            let d = p.backoff(attempt);
            let full = p
                .base_delay
                .saturating_mul(1 << (attempt - 1).min(20))
                .min(p.max_delay);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
        let p = RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(800));
        assert_eq!(p.backoff(10), Duration::from_secs(5));
    }

    #[test]
    fn tokens_are_not_in_debug() {
        let c = Config::new("app", "  secret-token-value ");
        assert_eq!(
            c.admin_token.as_ref().map(AdminToken::expose),
            Some("secret-token-value")
        );
        let s = format!(
            "{c:?} {}",
            c.admin_token
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(!s.contains("secret-token-value"), "{s}");
        assert!(!format!("{:?}", AsUser::Token("rt-secret".into())).contains("rt-secret"));
    }
}
