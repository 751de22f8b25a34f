//! The auth-server example, driven over HTTP: sign-in with credentials, magic codes through the
//! logging mail sender, the protected resource with a bearer refresh token, sign-out.

mod common;
use common::{assert_embedded_notice, embedded};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

/// The server process; killed when dropped so a failing test leaves nothing behind.
struct Server {
    child: Child,
    lines: Receiver<String>,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Server {
    fn start() -> Server {
        let mut child = embedded(env!("CARGO_BIN_EXE_auth-server"))
            .args(["--port", "0", "--user", "ada@example.com:correct-horse"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines,
            base: String::new(),
        };
        let notice = server.next_line();
        assert_embedded_notice(&notice);
        assert_eq!(
            server.next_line(),
            "seeded orders B-2001 (ada@example.com) and B-2002 (bob@example.com)"
        );
        let listening = server.next_line();
        server.base = listening
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{listening}"))
            .to_owned();
        server
    }

    /// The next line the server prints (waiting at most a minute, so a hang fails the test).
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a line from the server")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let res = http.post(url).json(&body).send().await.expect("a response");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn orders(http: &reqwest::Client, server: &Server, token: Option<&str>) -> (u16, Value) {
    let mut req = http.get(server.url("/api/orders"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("a response");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_magic_codes_protected_resource_and_sign_out_over_http() {
    let server = Server::start();
    let http = reqwest::Client::new();

    // Custom credentials: a wrong password is refused, the right one gets a refresh token.
    let (status, body) = post(
        &http,
        &server.url("/api/sign-in"),
        json!({"email": "ada@example.com", "password": "wrong"}),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = post(
        &http,
        &server.url("/api/sign-in"),
        json!({"email": "ada@example.com", "password": "correct-horse"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ada = body["refreshToken"].as_str().expect("a token").to_owned();
    assert_eq!(server.next_line(), "signed in ada@example.com");

    // The protected resource: no token, a bad token, then ada's own orders only (the rules).
    assert_eq!(orders(&http, &server, None).await.0, 401);
    assert_eq!(orders(&http, &server, Some("not-a-token")).await.0, 401);
    let (status, body) = orders(&http, &server, Some(&ada)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"user": "ada@example.com", "orders": [
            {"number": "B-2001", "status": "pending", "items": ["notebook"]}
        ]})
    );

    // Magic codes: the logging mail sender prints the mail; the code signs bob in.
    let (status, body) = post(
        &http,
        &server.url("/api/send-magic-code"),
        json!({"email": "bob@example.com"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mail = server.next_line();
    let code = mail
        .strip_prefix("mail to bob@example.com: Sign in: your sign-in code is ")
        .unwrap_or_else(|| panic!("{mail}"))
        .to_owned();
    let (status, _) = post(
        &http,
        &server.url("/api/verify-magic-code"),
        json!({"email": "bob@example.com", "code": "not-the-code"}),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = post(
        &http,
        &server.url("/api/verify-magic-code"),
        json!({"email": "bob@example.com", "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], true);
    let bob = body["refreshToken"].as_str().expect("a token").to_owned();
    let (_, body) = orders(&http, &server, Some(&bob)).await;
    assert_eq!(body["user"], "bob@example.com");
    assert_eq!(body["orders"][0]["number"], "B-2002");
    assert_eq!(body["orders"].as_array().map(Vec::len), Some(1));

    // Sign-out revokes ada's token only.
    let res = http
        .post(server.url("/api/sign-out"))
        .bearer_auth(&ada)
        .send()
        .await
        .expect("a response");
    assert_eq!(res.status().as_u16(), 204);
    assert_eq!(orders(&http, &server, Some(&ada)).await.0, 401);
    assert_eq!(orders(&http, &server, Some(&bob)).await.0, 200);
    let res = http
        .post(server.url("/api/sign-out"))
        .send()
        .await
        .expect("a response");
    assert_eq!(res.status().as_u16(), 401, "sign-out needs a token");
}
