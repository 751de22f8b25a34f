use std::fmt::Write;
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

fn main() {
    sizes();
    let src = generate(5_000);
    let n: usize = std::env::args().nth(1).unwrap().parse().unwrap();
    let what = std::env::args().nth(2).unwrap();
    let path = Path::new("instant.schema.ts");
    let l = instant_schema::parse_ts(&src, path).unwrap();
    let mut k = 0;
    let mut times = Vec::new();
    for _ in 0..n {
        let t0 = std::time::Instant::now();
        if what == "lex" {
            k += instant_schema::lexer::lex(&src).unwrap().len();
        } else if what == "parse" {
            k += instant_schema::parse_ts(&src, path)
                .unwrap()
                .schema
                .entities
                .len();
        } else {
            k += l.schema.to_json().as_object().unwrap().len();
        }
        times.push(t0.elapsed());
    }
    times.sort();
    eprintln!(
        "{what}: min {:?} median {:?}",
        times[0],
        times[times.len() / 2]
    );
    println!("{k}");
}
#[allow(dead_code)]
fn sizes() {
    eprintln!(
        "token {}",
        std::mem::size_of::<instant_schema::lexer::Token>()
    );
}
