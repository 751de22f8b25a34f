//! Webhooks (`db.webhooks()`): managing an app's webhooks, and verifying and reading the
//! webhook requests Instant sends to your server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::client::{AuthMode, Call};
use crate::{Error, Instant};

/// Default tolerance for the age of a webhook signature.
pub const DEFAULT_WEBHOOK_TOLERANCE: Duration = Duration::from_secs(300);

/// Signing keys Instant publishes for its well-known origins (the same ones the official SDK
/// ships), as `(api uri, kid, base64url public key)`.
const KNOWN_KEYS: &[(&str, &str, &str)] = &[
    (
        "https://api.instantdb.com",
        "1034696293",
        "N-C41432STKAKkXAWmeIOXMnZcGRR1b9u1L3bTVqI_o",
    ),
    (
        "http://localhost:8888",
        "503090235",
        "qrSkwDaMITRMF9nOgpueqxgaAiuFmJperYE3mkyl8Ow",
    ),
];

/// A configured webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookInfo {
    /// The webhook id.
    pub id: String,
    /// Where events are delivered (`sink.url`).
    pub url: Option<String>,
    /// The namespaces it watches.
    pub namespaces: Vec<String>,
    /// The actions it watches (`create`, `update`, `delete`).
    pub actions: Vec<String>,
    /// `active` or `disabled`.
    pub status: Option<String>,
    /// Why it was disabled, if it was.
    pub disabled_reason: Option<String>,
    /// Creation time, as sent.
    pub created_at: Option<String>,
    /// Last update time, as sent.
    pub updated_at: Option<String>,
    /// The whole row as sent.
    pub raw: Value,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn string(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

impl WebhookInfo {
    fn from_value(v: Value) -> Result<WebhookInfo, Error> {
        let id = string(v.get("id")).ok_or_else(|| Error::decode("webhook without an id"))?;
        Ok(WebhookInfo {
            id,
            url: string(v.get("sink").and_then(|s| s.get("url"))),
            namespaces: strings(v.get("namespaces")),
            actions: strings(v.get("actions")),
            status: string(v.get("status")),
            disabled_reason: string(v.get("disabled_reason")),
            created_at: string(v.get("created_at")),
            updated_at: string(v.get("updated_at")),
            raw: v,
        })
    }
}

/// One event of a webhook (a change delivered, or to be delivered).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// The event's position in the log, e.g. `0/328/48953748`.
    pub isn: String,
    /// `pending`, `processing`, `success`, `error` or `failed`.
    pub status: Option<String>,
    /// Delivery attempts (`attempt-at`, `duration-ms`, `success?`, `status-code`, ...).
    pub attempts: Vec<Value>,
    /// When the next attempt is due.
    pub next_attempt_after: Option<String>,
    /// The whole row as sent.
    pub raw: Value,
}

impl WebhookEvent {
    fn from_value(v: Value) -> Result<WebhookEvent, Error> {
        let isn =
            string(v.get("isn")).ok_or_else(|| Error::decode("webhook event without an isn"))?;
        Ok(WebhookEvent {
            isn,
            status: string(v.get("status")),
            attempts: v
                .get("attempts")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            next_attempt_after: string(v.get("next_attempt_after")),
            raw: v,
        })
    }
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEventsPage {
    /// The events.
    pub events: Vec<WebhookEvent>,
    /// Cursor of the first event.
    pub start_cursor: Option<String>,
    /// Cursor of the last event; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
    /// Whether more events follow.
    pub has_next_page: bool,
}

/// What to create a webhook with.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateWebhook {
    /// Where to deliver events.
    pub url: String,
    /// Namespaces to watch.
    pub namespaces: Vec<String>,
    /// Actions to watch (`create`, `update`, `delete`).
    pub actions: Vec<String>,
}

/// What to change on a webhook (fields left `None` stay as they are).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateWebhook {
    /// New delivery URL.
    pub url: Option<String>,
    /// New namespaces.
    pub namespaces: Option<Vec<String>>,
    /// New actions.
    pub actions: Option<Vec<String>>,
}

/// The verified body of a webhook request: where to fetch the changes, and the token to do so.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookBody {
    /// The URL of the payload.
    #[serde(rename = "payloadUrl")]
    pub payload_url: String,
    /// A short-lived token for fetching the payload.
    pub token: String,
}

/// One changed record of a webhook payload.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookRecord {
    /// The namespace.
    pub namespace: String,
    /// The entity id.
    #[serde(default)]
    pub id: Option<String>,
    /// `create`, `update` or `delete`.
    pub action: String,
    /// The entity before the change (`None` for creates).
    #[serde(default)]
    pub before: Option<Value>,
    /// The entity after the change (`None` for deletes).
    #[serde(default)]
    pub after: Option<Value>,
    /// A key to deduplicate deliveries.
    #[serde(rename = "idempotencyKey", default)]
    pub idempotency_key: Option<String>,
    /// Other keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The changes a webhook delivery refers to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookPayload {
    /// The changed records.
    pub data: Vec<WebhookRecord>,
    /// A key to deduplicate deliveries.
    #[serde(rename = "idempotencyKey", default)]
    pub idempotency_key: Option<String>,
}

/// The webhooks API.
#[derive(Debug, Clone)]
pub struct Webhooks {
    db: Instant,
}

impl Instant {
    /// The webhooks API.
    pub fn webhooks(&self) -> Webhooks {
        Webhooks { db: self.clone() }
    }
}

/// Percent-encodes a path segment, keeping `/` (event ISNs contain slashes and the official SDK
/// puts them into the path as they are).
fn path_part(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Webhooks {
    fn base(&self) -> String {
        format!("/dash/apps/{}/webhooks", path_part(self.db.app_id()))
    }

    fn call(&self, method: Method, path: String) -> Call {
        let mut c = Call::new(method, path, AuthMode::Bearer);
        c.app_id_param = false;
        c
    }

    async fn send(&self, call: Call) -> Result<Value, Error> {
        self.db.call_decode(call).await
    }

    fn webhook(v: Value) -> Result<WebhookInfo, Error> {
        let mut v = v;
        let w = v
            .get_mut("webhook")
            .map(Value::take)
            .ok_or_else(|| Error::decode("no webhook in the answer"))?;
        WebhookInfo::from_value(w)
    }

    fn event(v: Value) -> Result<WebhookEvent, Error> {
        let mut v = v;
        let e = v
            .get_mut("event")
            .map(Value::take)
            .ok_or_else(|| Error::decode("no event in the answer"))?;
        WebhookEvent::from_value(e)
    }

    /// The app's webhooks (`GET /dash/apps/:app/webhooks`).
    pub async fn list(&self) -> Result<Vec<WebhookInfo>, Error> {
        let mut v = self.send(self.call(Method::GET, self.base())).await?;
        match v.get_mut("webhooks").map(Value::take) {
            Some(Value::Array(a)) => a.into_iter().map(WebhookInfo::from_value).collect(),
            _ => Ok(Vec::new()),
        }
    }

    /// Creates a webhook.
    pub async fn create(&self, params: CreateWebhook) -> Result<WebhookInfo, Error> {
        let body =
            json!({"url": params.url, "namespaces": params.namespaces, "actions": params.actions});
        let call = self
            .call(Method::POST, self.base())
            .json(&body)?
            .repeat(crate::client::Repeat::Unsafe);
        Self::webhook(self.send(call).await?)
    }

    /// Changes a webhook.
    pub async fn update(
        &self,
        webhook_id: &str,
        params: UpdateWebhook,
    ) -> Result<WebhookInfo, Error> {
        let mut body = Map::new();
        if let Some(u) = params.url {
            body.insert("url".into(), Value::String(u));
        }
        if let Some(n) = params.namespaces {
            body.insert("namespaces".into(), json!(n));
        }
        if let Some(a) = params.actions {
            body.insert("actions".into(), json!(a));
        }
        let call = self
            .call(
                Method::POST,
                format!("{}/{}", self.base(), path_part(webhook_id)),
            )
            .json(&body)?;
        Self::webhook(self.send(call).await?)
    }

    /// Deletes a webhook; returns it as it was.
    pub async fn delete(&self, webhook_id: &str) -> Result<WebhookInfo, Error> {
        let call = self.call(
            Method::DELETE,
            format!("{}/{}", self.base(), path_part(webhook_id)),
        );
        Self::webhook(self.send(call).await?)
    }

    /// Turns a webhook on.
    pub async fn enable(&self, webhook_id: &str) -> Result<WebhookInfo, Error> {
        let call = self
            .call(
                Method::POST,
                format!("{}/{}/enable", self.base(), path_part(webhook_id)),
            )
            .json(&json!({}))?;
        Self::webhook(self.send(call).await?)
    }

    /// Turns a webhook off, with an optional reason.
    pub async fn disable(
        &self,
        webhook_id: &str,
        reason: Option<&str>,
    ) -> Result<WebhookInfo, Error> {
        let body = match reason.filter(|r| !r.is_empty()) {
            Some(r) => json!({ "reason": r }),
            None => json!({}),
        };
        let call = self
            .call(
                Method::POST,
                format!("{}/{}/disable", self.base(), path_part(webhook_id)),
            )
            .json(&body)?;
        Self::webhook(self.send(call).await?)
    }

    /// A page of a webhook's events, newest first; pass the previous page's `end_cursor` as
    /// `after` for the next one.
    pub async fn list_events(
        &self,
        webhook_id: &str,
        after: Option<&str>,
    ) -> Result<WebhookEventsPage, Error> {
        let mut call = self.call(
            Method::GET,
            format!("{}/{}/events", self.base(), path_part(webhook_id)),
        );
        if let Some(a) = after.filter(|a| !a.is_empty()) {
            call = call.param("after", a);
        }
        let mut v = self.send(call).await?;
        let events = match v.get_mut("events").map(Value::take) {
            Some(Value::Array(a)) => a
                .into_iter()
                .map(WebhookEvent::from_value)
                .collect::<Result<_, _>>()?,
            _ => Vec::new(),
        };
        let pi = v.get("pageInfo");
        Ok(WebhookEventsPage {
            events,
            start_cursor: string(pi.and_then(|p| p.get("startCursor"))),
            end_cursor: string(pi.and_then(|p| p.get("endCursor"))),
            has_next_page: pi
                .and_then(|p| p.get("hasNextPage"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// One event of a webhook.
    pub async fn get_event(&self, webhook_id: &str, isn: &str) -> Result<WebhookEvent, Error> {
        let call = self.call(
            Method::GET,
            format!(
                "{}/{}/events/{}",
                self.base(),
                path_part(webhook_id),
                path_part(isn)
            ),
        );
        Self::event(self.send(call).await?)
    }

    /// Delivers an event again.
    pub async fn resend_event(&self, webhook_id: &str, isn: &str) -> Result<WebhookEvent, Error> {
        let call = self
            .call(
                Method::POST,
                format!(
                    "{}/{}/events/{}",
                    self.base(),
                    path_part(webhook_id),
                    path_part(isn)
                ),
            )
            .json(&json!({}))?
            .repeat(crate::client::Repeat::Unsafe);
        Self::event(self.send(call).await?)
    }

    /// The changes of an event, fetched with the admin token.
    pub async fn get_payload(&self, webhook_id: &str, isn: &str) -> Result<WebhookPayload, Error> {
        let call = self.call(
            Method::GET,
            format!(
                "/webhooks/payload/{}/{}/{}",
                path_part(self.db.app_id()),
                path_part(webhook_id),
                path_part(isn)
            ),
        );
        self.db.call_decode(call).await
    }

    /// Instant's published signing keys (`GET /.well-known/webhooks/jwks.json`).
    pub async fn fetch_jwks(&self) -> Result<Value, Error> {
        let mut call = Call::new(
            Method::GET,
            "/.well-known/webhooks/jwks.json",
            AuthMode::None,
        );
        call.app_id_param = false;
        call.json_content_type = false;
        self.db.call_decode(call).await
    }

    /// Fetches the changes a verified webhook request refers to, with its token.
    pub async fn fetch_payload(&self, body: &WebhookBody) -> Result<WebhookPayload, Error> {
        let url = reqwest::Url::parse(&body.payload_url)
            .map_err(|e| Error::InvalidInput(format!("bad payload URL: {e}")))?;
        let mut call = Call::new(Method::GET, "webhook payload", AuthMode::None);
        call.url = Some(url);
        call.app_id_param = false;
        call.json_content_type = false;
        call.headers
            .push(("authorization", format!("Bearer {}", body.token)));
        call.headers.push(("accept", "application/json".to_owned()));
        self.db.call_decode(call).await
    }

    /// Verifies a webhook request: its `Instant-Signature` header (`t=<secs>,kid=<kid>,v1=<hex>`,
    /// an Ed25519 signature of `"<t>.<body>"`) against Instant's signing key, and that the
    /// signature is at most `tolerance` old at `received_at`. Returns the parsed body.
    pub async fn verify(
        &self,
        signature_header: &str,
        body: &str,
        received_at: SystemTime,
        tolerance: Duration,
    ) -> Result<WebhookBody, Error> {
        let sig = parse_signature_header(signature_header)?;
        let received = received_at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| Error::WebhookVerification("the receive time is before 1970".to_owned()))?
            .as_secs();
        let t: i64 = sig.t.parse().map_err(|_| {
            Error::WebhookVerification("the signature time is not a number".to_owned())
        })?;
        let age = i64::try_from(received)
            .unwrap_or(i64::MAX)
            .saturating_sub(t);
        if age > i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX) {
            return Err(Error::WebhookVerification(format!(
                "the signature is too old ({age} s, tolerance {} s)",
                tolerance.as_secs()
            )));
        }
        let key = self.key_of_kid(&sig.kid).await?;
        verify_signature(&key, &sig.t, body, &sig.v1)?;
        let parsed: WebhookBody = serde_json::from_str(body).map_err(|_| {
            Error::WebhookVerification(
                "the body is not an object with payloadUrl and token".to_owned(),
            )
        })?;
        Ok(parsed)
    }

    async fn key_of_kid(&self, kid: &str) -> Result<[u8; 32], Error> {
        let api = self.db.api_uri();
        let cache_key = format!("{api}:{kid}");
        if let Some(k) = self
            .db
            .inner
            .webhook_keys
            .lock()
            .ok()
            .and_then(|m| m.get(&cache_key).copied())
        {
            return Ok(k);
        }
        let known = KNOWN_KEYS
            .iter()
            .find(|(origin, k, _)| *origin == api && *k == kid)
            .map(|(_, _, x)| (*x).to_owned());
        let x = match known {
            Some(x) => x,
            None => {
                let jwks = self.fetch_jwks().await?;
                jwks.get("keys")
                    .and_then(Value::as_array)
                    .and_then(|keys| {
                        keys.iter()
                            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
                    })
                    .filter(|k| {
                        k.get("kty").and_then(Value::as_str) == Some("OKP")
                            && k.get("crv").and_then(Value::as_str) == Some("Ed25519")
                    })
                    .and_then(|k| k.get("x").and_then(Value::as_str))
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::WebhookVerification(format!("no Ed25519 signing key with kid {kid}"))
                    })?
            }
        };
        let bytes = base64url_decode(&x).ok_or_else(|| {
            Error::WebhookVerification("the signing key is not base64url".to_owned())
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            Error::WebhookVerification("the signing key is not 32 bytes".to_owned())
        })?;
        if let Ok(mut m) = self.db.inner.webhook_keys.lock() {
            m.insert(cache_key, key);
        }
        Ok(key)
    }
}

struct SignatureHeader {
    t: String,
    kid: String,
    v1: String,
}

fn parse_signature_header(h: &str) -> Result<SignatureHeader, Error> {
    let (mut t, mut kid, mut v1) = (None, None, None);
    for part in h.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        match k.trim() {
            "t" => t = Some(v.trim().to_owned()),
            "kid" => kid = Some(v.trim().to_owned()),
            "v1" => v1 = Some(v.trim().to_owned()),
            _ => {}
        }
    }
    match (
        t.filter(|s| !s.is_empty()),
        kid.filter(|s| !s.is_empty()),
        v1.filter(|s| !s.is_empty()),
    ) {
        (Some(t), Some(kid), Some(v1)) => Ok(SignatureHeader { t, kid, v1 }),
        _ => Err(Error::WebhookVerification(
            "invalid Instant-Signature header: needs t, kid and v1".to_owned(),
        )),
    }
}

fn verify_signature(key: &[u8; 32], t: &str, body: &str, v1_hex: &str) -> Result<(), Error> {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};
    let vk = VerifyingKey::from_bytes(key).map_err(|_| {
        Error::WebhookVerification("the signing key is not a valid Ed25519 key".to_owned())
    })?;
    let sig_bytes = hex_decode(v1_hex)
        .ok_or_else(|| Error::WebhookVerification("the signature is not hex".to_owned()))?;
    let sig_arr: [u8; 64] = sig_bytes
        .try_into()
        .map_err(|_| Error::WebhookVerification("the signature is not 64 bytes".to_owned()))?;
    let sig = Signature::from_bytes(&sig_arr);
    let message = format!("{t}.{body}");
    vk.verify(message.as_bytes(), &sig)
        .map_err(|_| Error::WebhookVerification("the signature does not match".to_owned()))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

/// Decodes base64url (a JWK's `x`), with or without padding.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    URL_SAFE.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn decoders() {
        assert_eq!(base64url_decode("aGk"), Some(b"hi".to_vec()));
        assert_eq!(base64url_decode("_-8"), Some(vec![0xff, 0xef]));
        assert_eq!(base64url_decode("a*"), None);
        assert_eq!(hex_decode("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(hex_decode("0"), None);
        assert_eq!(hex_decode("zz"), None);
        let known = base64url_decode(KNOWN_KEYS[0].2).map(|k| k.len());
        assert_eq!(known, Some(32));
    }

    #[test]
    fn signature_header_and_verification() {
        let sk = SigningKey::from_bytes(&[7u8; 32]);
        let pk = sk.verifying_key().to_bytes();
        let body = r#"{"payloadUrl":"http://x/p","token":"tok"}"#;
        let sig = sk.sign(format!("1700000000.{body}").as_bytes());
        let hex: String = sig.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let h = parse_signature_header(&format!("t=1700000000,kid=k1,v1={hex}")).unwrap();
        assert!(verify_signature(&pk, &h.t, body, &h.v1).is_ok());
        assert!(matches!(
            verify_signature(&pk, &h.t, "{}", &h.v1),
            Err(Error::WebhookVerification(_))
        ));
        assert!(parse_signature_header("t=1,kid=2").is_err());
        assert!(parse_signature_header("garbage").is_err());
    }
}
