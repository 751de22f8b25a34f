//! The client side of `scripts/compare-client-cpu.sh`: import N entities of 5 attributes in chunks of
//! 500, query the 1% of them in one group by an indexed attribute, then all of them twice: once into
//! an untyped `serde_json::Value`, once into plain structs through [`TypedQuery`] (decoded straight
//! from the HTTP body); then the untyped full query 5 more times for a steady-state median. Prints
//! the CPU time this process used for each phase. Reads INSTANT_APP_ID,
//! INSTANT_APP_ADMIN_TOKEN and INSTANT_API_URI.
//!
//! Usage: `cargo run --release -p instant-admin --example import_query -- <entities> <namespace>`

use std::collections::HashMap;

use instant_admin::{Instant, Step, TypedQuery};
use serde::Deserialize;
use serde_json::{json, Value};

/// One row of the typed query-all phase: two of the five attributes (serde skips the others).
#[derive(Deserialize)]
struct Item {
    id: String,
    group: f64,
}

/// User plus system CPU time of this process (all threads), in milliseconds, from `getrusage`
/// (microsecond resolution, like node's `process.cpuUsage()`).
#[cfg(unix)]
fn cpu_ms() -> Option<f64> {
    // SAFETY: an all-zero `rusage` is a valid value, and getrusage writes into it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF and a pointer to a live `rusage`.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return None;
    }
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    Some((micros(ru.ru_utime) + micros(ru.ru_stime)) / 1000.0)
}

#[cfg(not(unix))]
fn cpu_ms() -> Option<f64> {
    None
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
    let (some_rows, all_rows) = (count(&some), count(&all));
    drop((some, all));

    let before_typed = cpu_ms().unwrap_or(0.0);
    let typed: HashMap<String, Vec<Item>> = db
        .query(TypedQuery::<HashMap<String, Vec<Item>>>::new(
            json!({ ns.as_str(): {} }),
        ))
        .await?;
    let queried_typed = cpu_ms().unwrap_or(0.0);
    let rows = typed.get(ns.as_str()).map_or(&[][..], Vec::as_slice);
    // Use the decoded fields, so the comparison cannot be skipped: every row has an id and a group
    // in 0..100.
    let valid = rows
        .iter()
        .filter(|r| !r.id.is_empty() && (0.0..100.0).contains(&r.group))
        .count();
    drop(typed);

    // Steady state: the same full query again, each answer freed before the next (node frees its
    // answers in later garbage collections, which land in later runs). The median of 5 runs.
    let mut warm = Vec::new();
    for _ in 0..5 {
        let before = cpu_ms().unwrap_or(0.0);
        let again: Value = db.query(json!({ ns.as_str(): {} })).await?;
        if count(&again) != all_rows {
            return Err("the full query changed between runs".into());
        }
        drop(again);
        warm.push(cpu_ms().unwrap_or(0.0) - before);
    }
    warm.sort_by(f64::total_cmp);
    let warm_median = warm[warm.len() / 2];

    println!(
        "{}",
        json!({"client": "rust", "entities": n, "import_cpu_ms": imported - start,
               "query_rows": some_rows, "query_cpu_ms": queried - imported,
               "query_all_rows": all_rows, "query_all_cpu_ms": queried_all - queried,
               "query_all_typed_rows": valid, "query_all_typed_cpu_ms": queried_typed - before_typed,
               "query_all_warm_cpu_ms": warm_median})
    );
    Ok(())
}
