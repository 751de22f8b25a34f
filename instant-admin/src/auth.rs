//! Auth: refresh tokens, users, sign-out and magic codes (`db.auth()`).

use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::client::{AuthMode, Call, Repeat};
use crate::{Error, Instant};

/// An app user (a `$users` entity as the auth endpoints return it).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// The user id.
    pub id: String,
    /// The app id.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The email, if the user has one.
    #[serde(default)]
    pub email: Option<String>,
    /// Creation time, e.g. `"2025-03-01T12:34:56Z"`.
    #[serde(default)]
    pub created_at: Option<Value>,
    /// Whether the user is a guest.
    #[serde(rename = "isGuest", default)]
    pub is_guest: Option<bool>,
    /// `"user"` or `"guest"`, when set.
    #[serde(rename = "type", default)]
    pub user_type: Option<String>,
    /// Avatar URL, when set.
    #[serde(rename = "imageURL", default)]
    pub image_url: Option<String>,
    /// A refresh token, on answers that issue or verify one.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// Custom `$users` attributes and any other keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How to find a user: by email, id or refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// By email.
    Email(String),
    /// By user id.
    Id(String),
    /// By one of the user's refresh tokens.
    RefreshToken(String),
}

impl UserRef {
    fn key(&self) -> (&'static str, &str) {
        match self {
            UserRef::Email(e) => ("email", e),
            UserRef::Id(i) => ("id", i),
            UserRef::RefreshToken(t) => ("refresh_token", t),
        }
    }
}

/// Who [`Auth::create_token`] issues a token for: a user by email or by id (created if missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFor {
    /// By email.
    Email(String),
    /// By id.
    Id(String),
}

impl From<&str> for TokenFor {
    /// A bare string means an email, as in the official SDK.
    fn from(s: &str) -> TokenFor {
        TokenFor::Email(s.to_owned())
    }
}
impl From<String> for TokenFor {
    fn from(s: String) -> TokenFor {
        TokenFor::Email(s)
    }
}

/// The answer of [`Auth::create_token_for`] and [`Auth::check_magic_code`]: the user (with a
/// fresh `refresh_token`) and whether it was just created.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SignedInUser {
    /// The user, with `refresh_token` set.
    pub user: User,
    /// Whether the user was created by this call.
    #[serde(default)]
    pub created: bool,
}

impl SignedInUser {
    /// The refresh token, or a decode error if the answer had none.
    pub fn refresh_token(&self) -> Result<&str, Error> {
        self.user
            .refresh_token
            .as_deref()
            .ok_or_else(|| Error::decode("the answer has no user.refresh_token"))
    }
}

/// The auth API. Always uses the admin token; impersonation does not apply.
#[derive(Debug, Clone)]
pub struct Auth {
    db: Instant,
}

#[derive(Deserialize)]
struct UserAnswer {
    user: Option<User>,
}

#[derive(Deserialize)]
struct DeletedAnswer {
    deleted: Option<User>,
}

#[derive(Deserialize)]
struct CodeAnswer {
    code: String,
}

impl Instant {
    /// The auth API: tokens, users, magic codes.
    pub fn auth(&self) -> Auth {
        Auth { db: self.clone() }
    }
}

impl Auth {
    /// Issues a refresh token for a user by email or id, creating the user if needed
    /// (`POST /admin/refresh_tokens`). Returns the token.
    pub async fn create_token(&self, who: impl Into<TokenFor>) -> Result<String, Error> {
        let signed = self.create_token_for(who).await?;
        signed.refresh_token().map(str::to_owned)
    }

    /// Like [`Auth::create_token`], returning the whole user and whether it was created.
    pub async fn create_token_for(&self, who: impl Into<TokenFor>) -> Result<SignedInUser, Error> {
        let body = match who.into() {
            TokenFor::Email(e) => json!({ "email": e }),
            TokenFor::Id(i) => json!({ "id": i }),
        };
        let call = Call::new(Method::POST, "/admin/refresh_tokens", AuthMode::Admin)
            .json(&body)?
            .repeat(Repeat::Unsafe);
        self.db.call_decode(call).await
    }

    /// Checks a refresh token and returns its user (`POST /runtime/auth/verify_refresh_token`;
    /// sends no admin token).
    pub async fn verify_token(&self, refresh_token: &str) -> Result<User, Error> {
        let body = json!({ "app-id": self.db.app_id(), "refresh-token": refresh_token });
        let call = Call::new(
            Method::POST,
            "/runtime/auth/verify_refresh_token",
            AuthMode::None,
        )
        .json(&body)?;
        let a: UserAnswer = self.db.call_decode(call).await?;
        a.user
            .ok_or_else(|| Error::decode("the answer has no user"))
    }

    /// Finds a user (`GET /admin/users`); `None` when there is none.
    pub async fn get_user(&self, who: UserRef) -> Result<Option<User>, Error> {
        let (k, v) = who.key();
        let call = Call::new(Method::GET, "/admin/users", AuthMode::Admin).param(k, v);
        let a: UserAnswer = self.db.call_decode(call).await?;
        Ok(a.user)
    }

    /// Deletes a user (`DELETE /admin/users`) and returns it; `None` when there was none. The app
    /// data that refers to the user stays.
    pub async fn delete_user(&self, who: UserRef) -> Result<Option<User>, Error> {
        let (k, v) = who.key();
        let call = Call::new(Method::DELETE, "/admin/users", AuthMode::Admin)
            .param(k, v)
            .repeat(Repeat::Unsafe);
        let a: DeletedAnswer = self.db.call_decode(call).await?;
        Ok(a.deleted)
    }

    /// Signs a user out (`POST /admin/sign_out`): by email or id every refresh token goes, by
    /// refresh token only that one.
    pub async fn sign_out(&self, who: UserRef) -> Result<(), Error> {
        let (k, v) = who.key();
        let mut body = Map::new();
        body.insert(k.to_owned(), Value::String(v.to_owned()));
        let call = Call::new(Method::POST, "/admin/sign_out", AuthMode::Admin).json(&body)?;
        let _: Value = self.db.call_decode(call).await?;
        Ok(())
    }

    /// Creates a magic code for an email without sending it (`POST /admin/magic_code`).
    pub async fn generate_magic_code(&self, email: &str) -> Result<String, Error> {
        let call = Call::new(Method::POST, "/admin/magic_code", AuthMode::Admin)
            .json(&json!({ "email": email }))?
            .repeat(Repeat::Unsafe);
        let a: CodeAnswer = self.db.call_decode(call).await?;
        Ok(a.code)
    }

    /// Creates a magic code and emails it (`POST /admin/send_magic_code`); returns the code too.
    pub async fn send_magic_code(&self, email: &str) -> Result<String, Error> {
        let call = Call::new(Method::POST, "/admin/send_magic_code", AuthMode::Admin)
            .json(&json!({ "email": email }))?
            .repeat(Repeat::Unsafe);
        let a: CodeAnswer = self.db.call_decode(call).await?;
        Ok(a.code)
    }

    /// Checks a magic code (`POST /admin/verify_magic_code`), creating the user on first sign-in
    /// with the optional `extra_fields` (custom `$users` attributes).
    pub async fn check_magic_code(
        &self,
        email: &str,
        code: &str,
        extra_fields: Option<Value>,
    ) -> Result<SignedInUser, Error> {
        let mut body = Map::new();
        body.insert("email".into(), Value::String(email.to_owned()));
        body.insert("code".into(), Value::String(code.to_owned()));
        if let Some(extra) = extra_fields {
            body.insert("extra-fields".into(), extra);
        }
        let call = Call::new(Method::POST, "/admin/verify_magic_code", AuthMode::Admin)
            .json(&body)?
            .repeat(Repeat::Unsafe);
        self.db.call_decode(call).await
    }

    /// Creates a guest user (`POST /admin/sign_in_guest`, a server route the official SDKs do
    /// not call) with optional custom `$users` fields; the user comes with a refresh token.
    pub async fn sign_in_guest(&self, extra_fields: Option<Value>) -> Result<User, Error> {
        let mut body = Map::new();
        if let Some(extra) = extra_fields {
            body.insert("extra-fields".into(), extra);
        }
        let call = Call::new(Method::POST, "/admin/sign_in_guest", AuthMode::Admin)
            .json(&body)?
            .repeat(Repeat::Unsafe);
        let a: UserAnswer = self.db.call_decode(call).await?;
        a.user
            .ok_or_else(|| Error::decode("the answer has no user"))
    }

    /// Checks a magic code and returns only the user (the older form of
    /// [`Auth::check_magic_code`], kept for parity with the official SDK).
    pub async fn verify_magic_code(&self, email: &str, code: &str) -> Result<User, Error> {
        Ok(self.check_magic_code(email, code, None).await?.user)
    }

    /// The signed-in user of a web request, from its `Cookie` header: reads the
    /// `instant_user_<app id>` cookie that Instant's client SDKs set, and (unless `validate` is
    /// false) checks its refresh token with [`Auth::verify_token`]. `None` when there is no such
    /// cookie or it holds no refresh token.
    pub async fn get_user_from_cookie(
        &self,
        cookie_header: &str,
        validate: bool,
    ) -> Result<Option<User>, Error> {
        let name = format!("instant_user_{}", self.db.app_id());
        let Some(raw) = cookie_value(cookie_header, &name) else {
            return Ok(None);
        };
        let Ok(json) = serde_json::from_str::<Value>(&raw) else {
            return Err(Error::InvalidInput(format!(
                "the {name} cookie is not JSON"
            )));
        };
        let Some(token) = json
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            return Ok(None);
        };
        if validate {
            return self.verify_token(token).await.map(Some);
        }
        serde_json::from_value(json.clone())
            .map(Some)
            .map_err(Error::decode)
    }
}

/// The value of cookie `name` in a `Cookie` header, percent-decoded and unquoted.
fn cookie_value(header: &str, name: &str) -> Option<String> {
    header.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        if k.trim() != name {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        Some(percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        let h = "a=1; instant_user_app=%7B%22refresh_token%22%3A%22t1%22%7D; b=\"2\"";
        assert_eq!(
            cookie_value(h, "instant_user_app").as_deref(),
            Some("{\"refresh_token\":\"t1\"}")
        );
        assert_eq!(cookie_value(h, "b").as_deref(), Some("2"));
        assert_eq!(cookie_value(h, "c"), None);
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%e2%9c%93 ok"), "✓ ok");
    }
}
