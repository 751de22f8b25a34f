//! An auth server (axum) on Instant's admin auth API:
//!
//! | route | what |
//! |---|---|
//! | `POST /api/sign-in` `{email, password}` | checks the app's own credentials, then `create_token` |
//! | `POST /api/send-magic-code` `{email}` | `generate_magic_code`, sent through a pluggable [`MailSender`] |
//! | `POST /api/verify-magic-code` `{email, code}` | `check_magic_code`: a refresh token |
//! | `GET /api/orders` (bearer refresh token) | `verify_token`, then the user's orders queried as them |
//! | `POST /api/sign-out` (bearer refresh token) | `sign_out` of that token |
//!
//! `cargo run -p instant-examples --bin auth-server -- [--port 3000] [--user email:password]...`

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use instant_admin::typed::Id;
use instant_admin::{AsUser, Error, Instant, UserRef};
// The derives below find the generated types through `crate::schema`.
use instant_examples::schema;
use instant_examples::schema::{items, orders, profiles, Orders, OrdersStatus, Profiles};

/// An order as the API returns it (a projection).
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "orders", schema = "schemas/instant.schema.ts")]
struct OrderView {
    number: String,
    status: OrdersStatus,
    items: Vec<ItemName>,
}

/// An item's name.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "items", schema = "schemas/instant.schema.ts")]
struct ItemName {
    name: String,
}
use instant_examples::{connect_and_announce, now, Result};
use serde::Deserialize;
use serde_json::{json, Value};

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(about = "An HTTP auth server on Instant's admin auth API")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 picks a free one; the chosen address is printed).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// A user of the demo credential store, as `email:password` (repeatable).
    #[arg(long = "user", default_value = "ada@example.com:correct-horse")]
    users: Vec<String>,
}

/// Where the app keeps its own credentials. A real app checks a password hash in its database;
/// Instant only issues the token once the app says who the user is.
trait Credentials: Send + Sync {
    /// Whether `password` is the password of `email`.
    fn check(&self, email: &str, password: &str) -> bool;
}

/// Credentials held in memory, from the command line.
struct InMemoryCredentials(HashMap<String, String>);

impl Credentials for InMemoryCredentials {
    fn check(&self, email: &str, password: &str) -> bool {
        self.0.get(email).is_some_and(|p| p == password)
    }
}

/// A boxed future returned by [`MailSender::send`].
type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// How magic codes reach users: plug in an SMTP or mail-API client here.
trait MailSender: Send + Sync {
    /// Sends one email.
    fn send<'a>(&'a self, to: &'a str, subject: &'a str, body: &'a str) -> SendFuture<'a>;
}

/// A mail sender that only logs the mail (to standard output), for development.
struct LogMailer;

impl MailSender for LogMailer {
    fn send<'a>(&'a self, to: &'a str, subject: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            println!("mail to {to}: {subject}: {body}");
            Ok(())
        })
    }
}

/// What the handlers share.
struct AppState {
    db: Instant,
    credentials: Box<dyn Credentials>,
    mailer: Box<dyn MailSender>,
}

type Shared = Arc<AppState>;

/// An error answer: a status and a message, sent as `{"error": message}`.
struct ApiFailure(StatusCode, String);

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<Error> for ApiFailure {
    fn from(e: Error) -> Self {
        tracing::warn!(error = %e, "instant call failed");
        match e.status() {
            Some(s) if (400..500).contains(&s) => {
                ApiFailure(StatusCode::BAD_REQUEST, e.to_string())
            }
            _ => ApiFailure(
                StatusCode::BAD_GATEWAY,
                "the database is unavailable".into(),
            ),
        }
    }
}

fn unauthorized(message: &str) -> ApiFailure {
    ApiFailure(StatusCode::UNAUTHORIZED, message.into())
}

#[derive(Deserialize)]
struct SignIn {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct EmailOnly {
    email: String,
}

#[derive(Deserialize)]
struct CodeCheck {
    email: String,
    code: String,
}

/// `POST /api/sign-in`: the app checks the credentials; Instant issues the refresh token.
async fn sign_in(
    State(app): State<Shared>,
    Json(req): Json<SignIn>,
) -> Result<Json<Value>, ApiFailure> {
    if !app.credentials.check(&req.email, &req.password) {
        return Err(unauthorized("invalid email or password"));
    }
    let token = app.db.auth().create_token(req.email.as_str()).await?;
    println!("signed in {}", req.email);
    Ok(Json(json!({ "email": req.email, "refreshToken": token })))
}

/// `POST /api/send-magic-code`: a code from Instant, mailed by the app's own sender.
async fn send_magic_code(
    State(app): State<Shared>,
    Json(req): Json<EmailOnly>,
) -> Result<Json<Value>, ApiFailure> {
    if !req.email.contains('@') {
        return Err(ApiFailure(StatusCode::BAD_REQUEST, "not an email".into()));
    }
    let code = app.db.auth().generate_magic_code(&req.email).await?;
    let body = format!("your sign-in code is {code}");
    app.mailer
        .send(&req.email, "Sign in", &body)
        .await
        .map_err(|e| ApiFailure(StatusCode::BAD_GATEWAY, format!("could not send mail: {e}")))?;
    Ok(Json(json!({ "sent": true })))
}

/// `POST /api/verify-magic-code`: the code for a refresh token.
async fn verify_magic_code(
    State(app): State<Shared>,
    Json(req): Json<CodeCheck>,
) -> Result<Json<Value>, ApiFailure> {
    match app
        .db
        .auth()
        .check_magic_code(&req.email, &req.code, None)
        .await
    {
        Ok(signed_in) => {
            let token = signed_in.refresh_token()?.to_owned();
            Ok(Json(json!({
                "email": req.email,
                "refreshToken": token,
                "created": signed_in.created,
            })))
        }
        Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => {
            Err(unauthorized("wrong or expired code"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiFailure> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("a bearer refresh token is required"))
}

/// `GET /api/orders`: a protected resource. The token is verified, then the query runs as the
/// user, so the permission rules decide what comes back (only the user's own orders).
async fn my_orders(
    State(app): State<Shared>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiFailure> {
    let token = bearer(&headers)?;
    let user = match app.db.auth().verify_token(token).await {
        Ok(user) => user,
        Err(e) if e.status().is_some_and(|s| (400..500).contains(&s)) => {
            return Err(unauthorized("invalid or revoked token"));
        }
        Err(e) => return Err(e.into()),
    };
    let rows: Vec<OrderView> = app
        .db
        .as_user(AsUser::Token(token.to_owned()))
        .query(
            orders::query()
                .order(orders::created_at.asc())
                .project::<OrderView>(),
        )
        .await?;
    let orders: Vec<Value> = rows
        .iter()
        .map(|o| {
            json!({
                "number": o.number,
                "status": o.status.as_str(),
                "items": o.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "user": user.email, "orders": orders })))
}

/// `POST /api/sign-out`: revokes the bearer refresh token.
async fn sign_out(State(app): State<Shared>, headers: HeaderMap) -> Result<StatusCode, ApiFailure> {
    let token = bearer(&headers)?;
    app.db
        .auth()
        .sign_out(UserRef::RefreshToken(token.to_owned()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/sign-in", post(sign_in))
        .route("/api/send-magic-code", post(send_magic_code))
        .route("/api/verify-magic-code", post(verify_magic_code))
        .route("/api/orders", get(my_orders))
        .route("/api/sign-out", post(sign_out))
        .with_state(state)
}

/// Demo orders for the protected resource: one for each of two customers.
async fn seed(db: &Instant) -> Result {
    let (ada, bob): (Id<Profiles>, Id<Profiles>) = (Id::new(), Id::new());
    let (o1, o2): (Id<Orders>, Id<Orders>) = (Id::new(), Id::new());
    let (i1, i2) = (Id::new(), Id::new());
    let order = |number: &str| orders::New {
        number: number.into(),
        status: OrdersStatus::Pending,
        created_at: now(),
        total: None,
        error: None,
    };
    let item = |name: &str| items::New {
        name: name.into(),
        quantity: 1.0,
        price: 10.0,
        expires_at: None,
    };
    db.transact((
        profiles::update(&ada)
            .email("ada@example.com")
            .handle("ada"),
        profiles::update(&bob)
            .email("bob@example.com")
            .handle("bob"),
        orders::create(&o1, order("B-2001")),
        orders::create(&o2, order("B-2002")),
        items::create(&i1, item("notebook")),
        items::create(&i2, item("pencil")),
        orders::link(&o1).customer(&ada).items(&i1),
        orders::link(&o2).customer(&bob).items(&i2),
    ))
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result {
    let conn = connect_and_announce()?;
    if conn.is_embedded() {
        seed(conn.db()).await?;
        println!("seeded orders B-2001 (ada@example.com) and B-2002 (bob@example.com)");
    }
    let mut users = HashMap::new();
    for spec in &args.users {
        let Some((email, password)) = spec.split_once(':') else {
            return Err(instant_examples::fail(format!(
                "--user {spec}: expected email:password"
            )));
        };
        users.insert(email.to_owned(), password.to_owned());
    }
    let state = Arc::new(AppState {
        db: conn.db().clone(),
        credentials: Box::new(InMemoryCredentials(users)),
        mailer: Box::new(LogMailer),
    });

    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            // If the handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    println!("stopped");
    Ok(())
}
