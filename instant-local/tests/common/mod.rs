//! Helpers shared by the integration tests: an HTTP client and a conformance-case runner.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::PathBuf;

/// The repository root (parent of this crate).
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(|p| p.to_path_buf()).unwrap_or(here)
}

/// A tiny admin API client.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

/// Who a call runs as.
#[derive(Clone, Debug)]
pub enum As {
    Admin,
    Guest,
    Email(String),
    None,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        app: Option<(&str, &str)>,
        who: &As,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let mut rb = self.http.request(method, &url);
        if let Some((id, token)) = app {
            rb = rb.header("app-id", id);
            match who {
                As::Admin => rb = rb.header("authorization", format!("Bearer {token}")),
                As::Guest => rb = rb.header("as-guest", "true"),
                As::Email(e) => {
                    rb = rb
                        .header("authorization", format!("Bearer {token}"))
                        .header("as-email", e.as_str())
                }
                As::None => {}
            }
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = rb.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn post(
        &self,
        path: &str,
        app: (&str, &str),
        who: &As,
        body: &Value,
    ) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(app), who, Some(body))
            .await
    }

    pub async fn ephemeral(&self, schema: &Value, rules: Option<&Value>) -> (String, String) {
        let mut body = json!({"title": "conformance", "schema": schema});
        if let Some(r) = rules {
            body["rules"] = json!({"code": r});
        }
        let (status, v) = self
            .call(
                reqwest::Method::POST,
                "/dash/apps/ephemeral",
                None,
                &As::None,
                Some(&body),
            )
            .await;
        assert_eq!(status, 200, "ephemeral app: {v}");
        let id = v["app"]["id"].as_str().expect("app id").to_string();
        let token = v["app"]["admin-token"].as_str().expect("token").to_string();
        (id, token)
    }
}

/// Compares `actual` with `expected`, where `"<any-number>"` and `"<any-uuid>"` match any
/// number / uuid. Returns a description of the first difference.
pub fn matches(expected: &Value, actual: &Value, path: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(s), a) if s == "<any-number>" => {
            if a.is_number() {
                Ok(())
            } else {
                Err(format!("{path}: expected a number, got {a}"))
            }
        }
        (Value::String(s), a) if s == "<any-uuid>" => {
            if a.as_str().is_some_and(|x| uuid::Uuid::parse_str(x).is_ok()) {
                Ok(())
            } else {
                Err(format!("{path}: expected a uuid, got {a}"))
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .ok_or_else(|| format!("{path}.{k}: missing in {actual}"))?;
                matches(ev, av, &format!("{path}.{k}"))?;
            }
            for k in a.keys() {
                if !e.contains_key(k) {
                    return Err(format!("{path}.{k}: unexpected key in {actual}"));
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}: {actual}",
                    e.len(),
                    a.len()
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, av, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => Ok(()),
        (e, a) => {
            if e == a {
                Ok(())
            } else {
                Err(format!("{path}: expected {e}, got {a}"))
            }
        }
    }
}

fn check_expect(expect: &Value, status: u16, body: &Value) -> Result<(), String> {
    let want = expect["status"].as_u64().unwrap_or(200) as u16;
    if status != want {
        return Err(format!("status {status} (expected {want}): {body}"));
    }
    if let Some(err) = expect.get("error") {
        if body["type"] != err["type"] {
            return Err(format!(
                "error type {} (expected {}): {body}",
                body["type"], err["type"]
            ));
        }
        if let Some(m) = err.get("message").and_then(Value::as_str) {
            if body["message"].as_str() != Some(m) {
                return Err(format!("message {} (expected {m:?})", body["message"]));
            }
        }
        if let Some(m) = err.get("messageContains").and_then(Value::as_str) {
            if !body["message"].as_str().is_some_and(|b| b.contains(m)) {
                return Err(format!(
                    "message {} does not contain {m:?}",
                    body["message"]
                ));
            }
        }
        if body.get("hint").is_none() {
            return Err(format!("no hint in error envelope {body}"));
        }
    }
    if let Some(b) = expect.get("body") {
        matches(b, body, "body")?;
    }
    Ok(())
}

/// Runs one conformance case against a server; Err describes the mismatch.
pub async fn run_case(api: &Api, case: &Value) -> Result<(), String> {
    let rules = case["op"].get("rules");
    let (id, token) = api.ephemeral(&case["schema"], rules).await;
    let app = (id.as_str(), token.as_str());
    for (i, tx) in case["seed"].as_array().into_iter().flatten().enumerate() {
        let (s, b) = api
            .post("/admin/transact", app, &As::Admin, &json!({"steps": tx}))
            .await;
        if s != 200 {
            return Err(format!("seed {i} failed: {s} {b}"));
        }
    }
    let op = &case["op"];
    let who = match op["auth"]["as"].as_str() {
        Some("guest") => As::Guest,
        Some("email") => As::Email(op["auth"]["email"].as_str().unwrap_or_default().to_string()),
        _ => As::Admin,
    };
    let endpoint = op["endpoint"].as_str().unwrap_or("/admin/query");
    let (status, body) = api.post(endpoint, app, &who, &op["body"]).await;
    check_expect(&case["expect"], status, &body)?;
    for (i, after) in case["expect"]
        .get("after")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let (s, b) = api
            .post("/admin/query", app, &As::Admin, &after["body"])
            .await;
        check_expect(&after["expect"], s, &b).map_err(|e| format!("after[{i}]: {e}"))?;
    }
    Ok(())
}

/// Every conformance case.
pub fn cases() -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance-cases.json");
    let text = std::fs::read_to_string(path).expect("conformance-cases.json");
    serde_json::from_str::<Value>(&text)
        .expect("json")
        .as_array()
        .cloned()
        .expect("array")
}

/// Runs every case; returns the failures.
pub async fn run_all(api: &Api) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases() {
        let name = case["name"].as_str().unwrap_or("?").to_string();
        if let Err(e) = run_case(api, &case).await {
            failures.push(format!("{name}: {e}"));
        }
    }
    failures
}

/// A spawned `instant-local serve` process, killed on drop.
pub struct Spawned {
    pub child: std::process::Child,
    pub base: String,
    pub app_id: String,
    pub token: String,
}

impl Spawned {
    /// Spawns the binary with `args` after `serve` and reads the three lines it prints.
    pub fn start(args: &[&str]) -> Spawned {
        use std::io::{BufRead, BufReader};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_instant-local"))
            .arg("serve")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn instant-local");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let (mut base, mut app_id, mut token) = (String::new(), String::new(), String::new());
        while token.is_empty() {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(v) = line.strip_prefix("INSTANT_API_URI=") {
                base = v.to_string();
            } else if let Some(v) = line.strip_prefix("INSTANT_APP_ID=") {
                app_id = v.to_string();
            } else if let Some(v) = line.strip_prefix("INSTANT_APP_ADMIN_TOKEN=") {
                token = v.to_string();
            }
        }
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        assert!(base.starts_with("http://"), "instant-local printed no URL");
        Spawned {
            child,
            base,
            app_id,
            token,
        }
    }

    /// Sends SIGKILL and waits.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        self.kill9();
    }
}
