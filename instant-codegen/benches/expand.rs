//! Expansion time of `include_schema!` for a large schema: 200 entities, 3,000 attributes, links.

use criterion::{criterion_group, criterion_main, Criterion};
use std::fmt::Write as _;
use std::hint::black_box;

/// A schema of `entities` namespaces with 15 attributes each (every type and modifier) and a link
/// from each namespace to the next.
pub fn large_schema(entities: usize) -> String {
    let kinds = [
        "i.string()",
        "i.string().indexed()",
        "i.string().unique().indexed()",
        "i.number().indexed()",
        "i.number().optional()",
        "i.boolean()",
        "i.date().indexed().optional()",
        "i.json().optional()",
        "i.any()",
        "i.string<'a' | 'b' | 'c'>().indexed()",
        "i.string().optional()",
        "i.number()",
        "i.boolean().indexed().optional()",
        "i.date()",
        "i.string().clientRequired()",
    ];
    let mut s = String::from(
        "import { i } from '@instantdb/admin';\nconst _schema = i.schema({\n  entities: {\n",
    );
    for e in 0..entities {
        let _ = writeln!(s, "    ns{e}: i.entity({{");
        for (a, kind) in kinds.iter().enumerate() {
            let _ = writeln!(s, "      attr{a}x{e}: {kind},");
        }
        s.push_str("    }),\n");
    }
    s.push_str("  },\n  links: {\n");
    for e in 0..entities.saturating_sub(1) {
        let _ = writeln!(
            s,
            "    link{e}: {{ forward: {{ on: 'ns{e}', has: 'one', label: 'next' }}, reverse: {{ on: 'ns{}', has: 'many', label: 'prev' }} }},",
            e + 1
        );
    }
    s.push_str("  },\n});\nexport default _schema;\n");
    s
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("instant-codegen-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("instant.schema.ts");
    if let Err(e) = std::fs::write(&path, large_schema(200)) {
        panic!("cannot write the bench schema: {e}");
    }
    let input: proc_macro2::TokenStream = format!("{:?}", path.to_string_lossy())
        .parse()
        .unwrap_or_default();
    c.bench_function("include_schema 200 entities x 15 attrs", |b| {
        b.iter(|| {
            let out = instant_codegen::include_schema(black_box(input.clone()), None);
            black_box(out.map(|t| t.into_iter().count()).unwrap_or(0))
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
