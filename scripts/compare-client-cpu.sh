#!/usr/bin/env bash
# Client CPU per row, instant-admin vs the official @instantdb/admin, against the same instant-local:
# each imports N entities of 5 attributes in chunks of 500, queries the 1% of them in one group (by an
# indexed attribute) 20 times and reports the median, then queries all of them. Prints each client's
# CPU time (user + system, all threads, from getrusage in Rust and process.cpuUsage() in node, both in
# microseconds) and the ratio. The Rust client runs each query both into an untyped serde_json::Value
# (query, query_all: what node's JS objects compare with) and into plain structs through TypedQuery
# (query_typed, query_all_typed), each compared with node's same query. Both clients then run the
# query of all rows 5 more times (Rust: each way) and report the median (query_all_warm,
# query_all_typed_warm: the steady state of a long-running process, where freed memory is reused and
# node's JIT is warm).
# Usage: scripts/compare-client-cpu.sh [entities]   (from the repository root, after npm ci --prefix node)
set -euo pipefail
n=${1:-100000}
cargo build --release -q -p instant-local --bin instant-local
cargo build --release -q -p instant-admin --example import_query
schema=$(mktemp)
cat > "$schema" <<'JSON'
{"entities": {
  "rust_items": {"attrs": {"group": {"valueType": "number", "required": false, "config": {"indexed": true, "unique": false}}}},
  "node_items": {"attrs": {"group": {"valueType": "number", "required": false, "config": {"indexed": true, "unique": false}}}}
}, "links": {}}
JSON
out=$(mktemp)
target/release/instant-local serve --port 0 --schema "$schema" > "$out" &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$schema" "$out"' EXIT
for _ in $(seq 50); do grep -q INSTANT_APP_ADMIN_TOKEN "$out" && break; sleep 0.1; done
set -a
# shellcheck disable=SC1090
. "$out"
set +a
rust=$(target/release/examples/import_query "$n" rust_items)
node=$(node node/parity/import_query.mjs "$n" node_items)
echo "$rust"
echo "$node"
python3 - "$rust" "$node" <<'PY'
import json, sys
r, n = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for phase, node_phase in (("import_cpu_ms", "import_cpu_ms"), ("query_cpu_ms", "query_cpu_ms"),
                          ("query_typed_cpu_ms", "query_cpu_ms"),
                          ("query_all_cpu_ms", "query_all_cpu_ms"),
                          ("query_all_typed_cpu_ms", "query_all_cpu_ms"),
                          ("query_all_warm_cpu_ms", "query_all_warm_cpu_ms"),
                          ("query_all_typed_warm_cpu_ms", "query_all_warm_cpu_ms")):
    ratio = n[node_phase] / r[phase] if r[phase] else float("inf")
    print(f"{phase}: rust {r[phase]:.2f} ms, node {n[node_phase]:.2f} ms, node/rust {ratio:.1f}x")
PY
