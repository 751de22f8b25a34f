//! The client side of `scripts/compare-client-cpu.sh`: import N entities of 5 attributes in chunks of
//! 500, query the 1% of them in one group by an indexed attribute, then all of them, and print the CPU
//! time this process used for each phase. Reads INSTANT_APP_ID, INSTANT_APP_ADMIN_TOKEN and INSTANT_API_URI.
//!
//! Usage: `cargo run --release -p instant-admin --example import_query -- <entities> <namespace>`

use instant_admin::{Instant, Step};
use serde_json::{json, Value};

/// User plus system CPU time of this process, in milliseconds (Linux: from /proc/self/stat).
fn cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 Hz on Linux.
    Some((utime + stime) * 10.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let ns = args.next().unwrap_or_else(|| "rust_items".into());
    let db = Instant::from_env()?;

    let start = cpu_ms().unwrap_or(0.0);
    let mut chunk = Vec::with_capacity(500);
    for i in 0..n {
        chunk.push(Step::update(
            ns.as_str(),
            instant_admin::id(),
            json!({"name": format!("item {i}"), "rank": i, "group": (i % 100) as i64,
                   "active": i % 2 == 0, "note": "imported"}),
        ));
        if chunk.len() == 500 || i + 1 == n {
            db.transact(std::mem::take(&mut chunk)).await?;
        }
    }
    let imported = cpu_ms().unwrap_or(0.0);
    let some: Value = db
        .query(json!({ ns.as_str(): {"$": {"where": {"group": 7}}} }))
        .await?;
    let queried = cpu_ms().unwrap_or(0.0);
    let all: Value = db.query(json!({ ns.as_str(): {} })).await?;
    let queried_all = cpu_ms().unwrap_or(0.0);
    let count = |v: &Value| v[ns.as_str()].as_array().map_or(0, Vec::len);
    println!(
        "{}",
        json!({"client": "rust", "entities": n, "import_cpu_ms": imported - start,
               "query_rows": count(&some), "query_cpu_ms": queried - imported,
               "query_all_rows": count(&all), "query_all_cpu_ms": queried_all - queried})
    );
    Ok(())
}
