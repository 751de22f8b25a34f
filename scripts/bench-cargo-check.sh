#!/usr/bin/env bash
# Measures what a large schema costs a user's build: `cargo check` of a crate whose only code is
# `include_schema!` of a generated schema (200 entities x 15 attributes, 199 links), against the same
# crate with a 1-entity schema. Dependencies are built first and not counted.
# Usage: scripts/bench-cargo-check.sh [entities]   (run from the repository root)
set -euo pipefail
root=$(pwd)
n=${1:-200}
work="$root/target/bench-cargo-check"
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "bench-cargo-check"
version = "0.0.0"
edition = "2021"
publish = false
[dependencies]
instant-admin = { path = "$root/instant-admin" }
[workspace]
TOML
python3 - "$n" "$work/big.schema.ts" <<'PY'
import sys
n, out = int(sys.argv[1]), sys.argv[2]
kinds = ["i.string()", "i.string().indexed()", "i.string().unique().indexed()", "i.number().indexed()",
         "i.number().optional()", "i.boolean()", "i.date().indexed().optional()", "i.json().optional()",
         "i.any()", "i.string<'a' | 'b' | 'c'>().indexed()", "i.string().optional()", "i.number()",
         "i.boolean().indexed().optional()", "i.date()", "i.string().clientRequired()"]
s = "import { i } from '@instantdb/admin';\nconst _schema = i.schema({\n  entities: {\n"
for e in range(n):
    s += f"    ns{e}: i.entity({{\n" + "".join(f"      attr{a}x{e}: {k},\n" for a, k in enumerate(kinds)) + "    }),\n"
s += "  },\n  links: {\n"
for e in range(n - 1):
    s += f"    link{e}: {{ forward: {{ on: 'ns{e}', has: 'one', label: 'next' }}, reverse: {{ on: 'ns{e+1}', has: 'many', label: 'prev' }} }},\n"
s += "  },\n});\nexport default _schema;\n"
open(out, "w").write(s)
PY
printf 'import { i } from "@instantdb/admin";\nexport default i.schema({ entities: { todos: i.entity({ title: i.string() }) } });\n' > "$work/small.schema.ts"
export CARGO_TARGET_DIR="$work/target"
run() {
  printf 'mod schema { instant_admin::include_schema!("%s"); }\npub use schema::NAMESPACES;\n' "$1" > "$work/src/lib.rs"
  cargo check --quiet --manifest-path "$work/Cargo.toml" 2>/dev/null || true
  touch "$work/src/lib.rs"
  local TIMEFORMAT="$1: cargo check %R s wall, %U s user"
  time cargo check --quiet --manifest-path "$work/Cargo.toml"
}
run small.schema.ts
run big.schema.ts
