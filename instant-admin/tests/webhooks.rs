//! Webhook verification end to end: the signing key comes from a served JWKS, the signature is
//! checked, and the payload is fetched with the webhook's token.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use ed25519_dalek::{Signer, SigningKey};
use instant_admin::{Config, Error, Instant, DEFAULT_WEBHOOK_TOLERANCE};
use serde_json::json;

/// Paths requested, with their `authorization` header.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn verify_signature_fetch_key_and_payload() {
    let sk = SigningKey::from_bytes(&[42u8; 32]);
    let jwk_x = b64url(&sk.verifying_key().to_bytes());
    let seen: Seen = Arc::default();
    let seen2 = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, _body: Bytes| {
        let seen = Arc::clone(&seen2);
        let jwk_x = jwk_x.clone();
        async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
            seen.lock().unwrap().push((uri.path().to_owned(), auth));
            let body = if uri.path() == "/.well-known/webhooks/jwks.json" {
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "kid-1", "x": jwk_x}]})
            } else {
                json!({"data": [{"namespace": "goals", "id": "g1", "action": "update",
                    "before": {"id": "g1", "title": "a"}, "after": {"id": "g1", "title": "b"}}], "idempotencyKey": "k"})
            };
            axum::Json(body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let db = Instant::new(
        Config::new(
            "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11",
            "2f1d7c4a-9a7e-4f43-8c1b-5d6e7f8a9b0c",
        )
        .api_uri(&base),
    )
    .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body =
        json!({"payloadUrl": format!("{base}/webhooks/payload/x/w/0/1/2"), "token": "jwt-token"})
            .to_string();
    let sign = |t: u64, body: &str| {
        let sig = sk.sign(format!("{t}.{body}").as_bytes());
        let hex: String = sig.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("t={t},kid=kid-1,v1={hex}")
    };
    let wh = db.webhooks();
    let verified = wh
        .verify(
            &sign(now, &body),
            &body,
            SystemTime::now(),
            DEFAULT_WEBHOOK_TOLERANCE,
        )
        .await
        .unwrap();
    assert_eq!(verified.token, "jwt-token");
    let payload = wh.fetch_payload(&verified).await.unwrap();
    assert_eq!(payload.data[0].action, "update");
    assert_eq!(payload.data[0].after.as_ref().unwrap()["title"], "b");

    // Tampered body, wrong key id, stale signature.
    let tampered = body.replace("jwt-token", "other");
    assert!(matches!(
        wh.verify(
            &sign(now, &body),
            &tampered,
            SystemTime::now(),
            DEFAULT_WEBHOOK_TOLERANCE
        )
        .await,
        Err(Error::WebhookVerification(_))
    ));
    let other_kid = sign(now, &body).replace("kid-1", "kid-2");
    assert!(matches!(
        wh.verify(
            &other_kid,
            &body,
            SystemTime::now(),
            DEFAULT_WEBHOOK_TOLERANCE
        )
        .await,
        Err(Error::WebhookVerification(_))
    ));
    let stale = sign(now - 1000, &body);
    assert!(matches!(
        wh.verify(&stale, &body, SystemTime::now(), Duration::from_secs(300))
            .await,
        Err(Error::WebhookVerification(_))
    ));

    let seen = seen.lock().unwrap().clone();
    // kid-1 was fetched once (then cached), kid-2 once (unknown); the payload was fetched with
    // the webhook token, not the admin token.
    assert_eq!(
        seen.iter()
            .filter(|(p, _)| p == "/.well-known/webhooks/jwks.json")
            .count(),
        2,
        "{seen:?}"
    );
    let payload_req = seen
        .iter()
        .find(|(p, _)| p.starts_with("/webhooks/payload/"))
        .unwrap();
    assert_eq!(payload_req.1.as_deref(), Some("Bearer jwt-token"));
}
