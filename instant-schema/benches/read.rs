//! Reading a generated 5,000-line `instant.schema.ts` (entities with many attributes of every
//! kind, type arguments, links, comments), and its canonical JSON.

use criterion::{criterion_group, criterion_main, Criterion};
use std::fmt::Write;
use std::hint::black_box;
use std::path::Path;

/// A schema of about `lines` lines.
fn generate(lines: usize) -> String {
    let mut s = String::from(
        "// Docs: https://www.instantdb.com/docs/modeling-data\nimport { i } from \"@instantdb/react\";\n\ntype Status = 'todo' | 'doing' | 'done';\n\nconst _schema = i.schema({\n  entities: {\n",
    );
    let kinds = [
        "i.string()",
        "i.string().optional()",
        "i.string<Status>().indexed()",
        "i.string<'a' | 'b' | 'c'>().optional().indexed()",
        "i.number().indexed()",
        "i.number().optional()",
        "i.boolean()",
        "i.boolean().clientRequired()",
        "i.date().indexed().optional()",
        "i.json<{ tags: string[]; meta: Record<string, Array<number>> }>().optional()",
        "i.json()",
        "i.any().optional()",
        "i.string().unique().indexed()",
    ];
    let per_entity = 40;
    // entity: header + attrs + footer + comment lines (every 5th attr) ~ 50 lines; links ~ 6 lines
    let entities = lines / (per_entity + per_entity / 5 + 3 + 6);
    for e in 0..entities {
        let _ = writeln!(s, "    /** Entity number {e}. */\n    ent{e}: i.entity({{");
        for a in 0..per_entity {
            if a % 5 == 0 {
                let _ = writeln!(s, "      // attribute group {}", a / 5);
            }
            let _ = writeln!(s, "      attr{a}: {},", kinds[(a + e) % kinds.len()]);
        }
        s.push_str("    }),\n");
    }
    s.push_str("  },\n  links: {\n");
    for e in 1..entities {
        let _ = writeln!(
            s,
            "    ent{e}Parent: {{\n      // parent link\n      forward: {{ on: \"ent{e}\", has: \"one\", label: \"parent\", onDelete: \"cascade\" }},\n      reverse: {{ on: \"ent{p}\", has: \"many\", label: \"children{e}\" }},\n    }},",
            p = e - 1
        );
    }
    s.push_str("  },\n  rooms: {},\n});\n\ntype _AppSchema = typeof _schema;\ninterface AppSchema extends _AppSchema {}\nconst schema: AppSchema = _schema;\nexport type { AppSchema };\nexport default schema;\n");
    s
}

fn bench(c: &mut Criterion) {
    let src = generate(5_000);
    let n = src.lines().count();
    assert!((4_500..=5_500).contains(&n), "{n} lines");
    let path = Path::new("instant.schema.ts");
    let loaded = instant_schema::parse_ts(&src, path).expect("generated schema reads");
    assert!(loaded.schema.entities.len() > 50);
    c.bench_function("parse_ts 5000-line schema", |b| {
        b.iter(|| instant_schema::parse_ts(black_box(&src), path).map(|l| l.schema.entities.len()))
    });
    c.bench_function("to_json 5000-line schema", |b| {
        b.iter(|| black_box(&loaded.schema).to_json())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
