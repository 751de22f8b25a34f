//! Import 100,000 entities of 5 attributes in chunks of 500 through HTTP, then query 1,000 of
//! them by an indexed attribute. Prints the figures (run with `cargo bench -p instant-local`).
//! Set `INSTANT_LOCAL_BENCH_DATA=DIR` to measure with SQLite files instead of memory.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ENTITIES: usize = 100_000;
const CHUNK: usize = 500;
const GROUPS: usize = 100;
const QUERIES: usize = 100;

fn schema() -> Value {
    let attr = |t: &str, indexed: bool| json!({"valueType": t, "config": {"unique": false, "indexed": indexed}, "required": false});
    json!({"entities": {"items": {"attrs": {
        "name": attr("string", false), "group": attr("number", true), "n": attr("number", false),
        "flag": attr("boolean", false), "note": attr("string", false)}}}, "links": {}})
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut config = instant_local::Config::default().schema_json(schema());
    if let Ok(dir) = std::env::var("INSTANT_LOCAL_BENCH_DATA") {
        let _ = std::fs::remove_dir_all(&dir);
        config = config.data_dir(dir);
    }
    let server = instant_local::LocalServer::start(config).expect("start");
    let http = reqwest::Client::new();
    let post = |path: &str, body: String| {
        http.post(format!("{}{}", server.base_url(), path))
            .header("app-id", server.app_id())
            .header("authorization", format!("Bearer {}", server.admin_token()))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    // Bodies are built before timing so the figure is the server's.
    let bodies: Vec<String> = (0..ENTITIES / CHUNK)
        .map(|c| {
            let steps: Vec<Value> = (0..CHUNK)
                .map(|k| {
                    let i = c * CHUNK + k;
                    json!(["update", "items", uuid::Uuid::new_v4().to_string(),
                           {"name": format!("item {i}"), "group": i % GROUPS, "n": i, "flag": i.is_multiple_of(2), "note": "bench"}])
                })
                .collect();
            json!({"steps": steps}).to_string()
        })
        .collect();
    let start = Instant::now();
    for b in bodies {
        let r = post("/admin/transact", b).await.expect("transact");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    let import = start.elapsed();
    let rate = ENTITIES as f64 / import.as_secs_f64();
    println!(
        "import: {ENTITIES} entities x 5 attrs in chunks of {CHUNK}: {:.2?} ({rate:.0} entities/s)",
        import
    );

    let mut times: Vec<Duration> = Vec::new();
    let queries = std::env::var("INSTANT_LOCAL_BENCH_QUERIES")
        .ok()
        .and_then(|q| q.parse().ok())
        .unwrap_or(QUERIES);
    for q in 0..queries {
        let body = json!({"query": {"items": {"$": {"where": {"group": q % GROUPS}}}}}).to_string();
        let t = Instant::now();
        let r = post("/admin/query", body).await.expect("query");
        assert_eq!(r.status(), 200);
        let bytes = r.bytes().await.expect("body");
        times.push(t.elapsed());
        let v: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["items"].as_array().map(Vec::len), Some(ENTITIES / GROUPS));
    }
    times.sort();
    let median = times[times.len() / 2];
    let p95 = times[times.len() * 95 / 100];
    println!("query: 1,000 of {ENTITIES} by an indexed attribute (HTTP round trip until the last byte of the ~100 KB answer): median {median:.2?}, p95 {p95:.2?}, min {:.2?}", times[0]);
}
