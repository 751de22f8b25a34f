//! Encoding a 100,000-step transaction; decoding a 100,000-row query result into `Value` and
//! into structs, with serde_json directly and through the client's decoding (`Query::decode_bytes`,
//! what `Instant::query` runs on the body it received).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use instant_admin::{encode_transact_body, IntoSteps, Lookup, Query, Step, TypedQuery};
use serde_json::{json, Value};
use std::hint::black_box;

const N: usize = 100_000;

fn ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i, i * 7919))
        .collect()
}

fn steps(ids: &[String]) -> Vec<Step> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| match i % 4 {
            0 => Step::update(
                "todos",
                id,
                json!({"title": format!("todo {i}"), "done": i % 3 == 0, "rank": i}),
            ),
            1 => Step::merge(
                "todos",
                id,
                json!({"meta": {"tags": ["a", "b"], "score": 0.5}}),
            ),
            2 => Step::link(
                "todos",
                id,
                json!({"owner": Lookup::new("email", format!("u{i}@example.com"))}),
            ),
            _ => Step::update(
                "profiles",
                Lookup::new("handle", format!("h{i}")),
                json!({"seen": i}),
            )
            .upsert(true),
        })
        .collect()
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Todo {
    id: String,
    title: String,
    done: bool,
    rank: i64,
    #[serde(default)]
    note: Option<String>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Todos {
    todos: Vec<Todo>,
}

fn result_body(ids: &[String]) -> Vec<u8> {
    let rows: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| json!({"id": id, "title": format!("todo number {i}"), "done": i % 2 == 0, "rank": i, "note": null}))
        .collect();
    serde_json::to_vec(&json!({ "todos": rows })).unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let ids = ids(N);
    let built = steps(&ids);

    let mut g = c.benchmark_group("transact_100k");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("build_steps", |b| {
        b.iter(|| black_box(steps(black_box(&ids))))
    });
    g.bench_function("encode_body", |b| {
        b.iter(|| black_box(encode_transact_body(black_box(&built), false).map(|v| v.len())))
    });
    let as_value = Value::Array(built.iter().map(|s| s.as_value().clone()).collect());
    g.bench_function("value_into_steps_and_encode", |b| {
        b.iter(|| {
            let s = black_box(as_value.clone()).into_steps();
            black_box(encode_transact_body(&s, false).map(|v| v.len()))
        })
    });
    g.finish();

    let body = result_body(&ids);
    let mut g = c.benchmark_group("query_result_100k");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.sample_size(10);
    g.bench_function("decode_value", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<Value>(black_box(&body)).map(|v| v.is_object()))
        })
    });
    // The same, without the cost of dropping the decoded tree inside the timing.
    g.bench_function("decode_value_without_drop", |b| {
        b.iter_with_large_drop(|| serde_json::from_slice::<Value>(black_box(&body)))
    });
    g.bench_function("decode_structs", |b| {
        b.iter(|| {
            black_box(serde_json::from_slice::<Todos>(black_box(&body)).map(|t| t.todos.len()))
        })
    });
    let untyped = json!({"todos": {}});
    g.bench_function("query_decode_value", |b| {
        b.iter(|| {
            black_box(
                untyped
                    .decode_bytes(black_box(&body))
                    .map(|v| v.is_object()),
            )
        })
    });
    let typed = TypedQuery::<Todos>::new(json!({"todos": {}}));
    g.bench_function("typed_query_decode_structs", |b| {
        b.iter(|| black_box(typed.decode_bytes(black_box(&body)).map(|t| t.todos.len())))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
