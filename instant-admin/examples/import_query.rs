//! The client side of `scripts/compare-client-cpu.sh`: import N entities of 5 attributes in chunks of
//! 500; query the 1% of them in one group by an indexed attribute, 20 times (groups 0 to 19) into an
//! untyped `serde_json::Value` and 20 times into plain structs through [`TypedQuery`], reporting the
//! median of each; then query all of them twice: once into a `Value`, once into structs (decoded
//! straight from the HTTP body); then the full query 5 more times each way for a steady-state median.
//! Prints the CPU time this process used for each phase. Reads INSTANT_APP_ID,
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
    let count = |v: &Value| v[ns.as_str()].as_array().map_or(0, Vec::len);
    // Every decoded row is checked, so no decoding can be skipped: each has an id and a group in
    // 0..100.
    let valid = |rows: &HashMap<String, Vec<Item>>| {
        rows.get(ns.as_str()).map_or(0, |rows| {
            rows.iter()
                .filter(|r| !r.id.is_empty() && (0.0..100.0).contains(&r.group))
                .count()
        })
    };

    // The indexed query of one group, 20 times each way; the median.
    let by_group = |g: i64| json!({ ns.as_str(): {"$": {"where": {"group": g}}} });
    let (mut untyped_runs, mut typed_runs) = (Vec::new(), Vec::new());
    let (mut some_rows, mut some_typed_rows) = (0, 0);
    for g in 0..20 {
        let before = cpu_ms().unwrap_or(0.0);
        let some: Value = db.query(by_group(g)).await?;
        some_rows = count(&some);
        drop(some);
        untyped_runs.push(cpu_ms().unwrap_or(0.0) - before);

        let before = cpu_ms().unwrap_or(0.0);
        let some = db
            .query(TypedQuery::<HashMap<String, Vec<Item>>>::new(by_group(g)))
            .await?;
        some_typed_rows = valid(&some);
        drop(some);
        typed_runs.push(cpu_ms().unwrap_or(0.0) - before);
    }

    let queried = cpu_ms().unwrap_or(0.0);
    let all: Value = db.query(json!({ ns.as_str(): {} })).await?;
    let queried_all = cpu_ms().unwrap_or(0.0);
    let all_rows = count(&all);
    drop(all);

    let before_typed = cpu_ms().unwrap_or(0.0);
    let typed = db
        .query(TypedQuery::<HashMap<String, Vec<Item>>>::new(
            json!({ ns.as_str(): {} }),
        ))
        .await?;
    let queried_typed = cpu_ms().unwrap_or(0.0);
    let all_typed_rows = valid(&typed);
    drop(typed);

    // Steady state: the same full query again, each answer freed before the next (node frees its
    // answers in later garbage collections, which land in later runs). The median of 5 runs, into
    // a `Value` and into structs.
    let (mut warm, mut warm_typed) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let before = cpu_ms().unwrap_or(0.0);
        let again: Value = db.query(json!({ ns.as_str(): {} })).await?;
        let same = count(&again) == all_rows;
        drop(again);
        warm.push(cpu_ms().unwrap_or(0.0) - before);

        let before = cpu_ms().unwrap_or(0.0);
        let again = db
            .query(TypedQuery::<HashMap<String, Vec<Item>>>::new(
                json!({ ns.as_str(): {} }),
            ))
            .await?;
        let same_typed = valid(&again) == all_rows;
        drop(again);
        warm_typed.push(cpu_ms().unwrap_or(0.0) - before);
        if !same || !same_typed {
            return Err("the full query changed between runs".into());
        }
    }

    println!(
        "{}",
        json!({"client": "rust", "entities": n, "import_cpu_ms": imported - start,
               "query_rows": some_rows, "query_cpu_ms": median(untyped_runs),
               "query_typed_rows": some_typed_rows, "query_typed_cpu_ms": median(typed_runs),
               "query_all_rows": all_rows, "query_all_cpu_ms": queried_all - queried,
               "query_all_typed_rows": all_typed_rows,
               "query_all_typed_cpu_ms": queried_typed - before_typed,
               "query_all_warm_cpu_ms": median(warm),
               "query_all_typed_warm_cpu_ms": median(warm_typed)})
    );
    Ok(())
}

/// The median of some timings.
fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs.get(runs.len() / 2).copied().unwrap_or(0.0)
}
