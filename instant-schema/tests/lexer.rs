//! Lexer edge cases, token by token, and the same cases through the schema reader.

use instant_schema::lexer::{lex, Tok};
use instant_schema::parse_ts;
use std::path::Path;

fn kinds(src: &str) -> Vec<String> {
    lex(src)
        .unwrap()
        .into_iter()
        .map(|t| match t.kind {
            Tok::Ident => src[t.start..t.end].to_string(),
            Tok::Str(s) => format!("str:{s}"),
            Tok::Template(s) => format!("tpl:{s}"),
            Tok::Num(n) => format!("num:{n}"),
            Tok::Punct(p) => p.to_string(),
            Tok::Regex => format!("re:{}", &src[t.start..t.end]),
        })
        .collect()
}

#[test]
fn closing_angle_brackets_are_never_fused() {
    assert_eq!(
        kinds("Array<X<Y<any>>>()"),
        ["Array", "<", "X", "<", "Y", "<", "any", ">", ">", ">", "(", ")"]
    );
    assert_eq!(kinds("a >>= b"), ["a", ">", ">", "=", "b"]);
}

#[test]
fn arrow_is_one_token_inside_type_args() {
    assert_eq!(
        kinds("i.json<(x: number) => void>()"),
        ["i", ".", "json", "<", "(", "x", ":", "number", ")", "=>", "void", ">", "(", ")"]
    );
}

#[test]
fn comments_between_chained_calls() {
    assert_eq!(
        kinds("i.string() /* a */ // b\n  .optional() /** doc */ .unique()"),
        ["i", ".", "string", "(", ")", ".", "optional", "(", ")", ".", "unique", "(", ")"]
    );
}

#[test]
fn crlf_and_line_breaks_drive_asi_flags() {
    let toks = lex("a\r\nb /* x\r\n */ c d").unwrap();
    let nl: Vec<bool> = toks.iter().map(|t| t.nl_before).collect();
    assert_eq!(nl, [false, true, true, false]);
}

#[test]
fn string_escapes() {
    assert_eq!(
        kinds(
            r#"'it\'s' "q\"\\\n\t" '\x41\u0042\u{1F600}' '\uD83D\uDE00' 'a\
b'"#
        ),
        [
            "str:it's",
            "str:q\"\\\n\t",
            "str:AB\u{1F600}",
            "str:\u{1F600}",
            "str:ab"
        ]
    );
}

#[test]
fn templates_without_substitutions() {
    assert_eq!(kinds("`a\r\nb\\`c`"), ["tpl:a\nb`c"]);
    let err = lex("`a ${b}`").unwrap_err();
    assert_eq!(err.start, 3);
    assert!(err.message.contains("${"));
}

#[test]
fn numbers_and_punctuation() {
    assert_eq!(
        kinds("1_000 0x1F .5 1e3 ...x?.y ?.5"),
        ["num:1000", "num:31", "num:0.5", "num:1000", "...", "x", "?.", "y", "?", "num:0.5"]
    );
}

#[test]
fn unterminated_things_fail_with_position() {
    assert_eq!(lex("a 'abc").unwrap_err().start, 2);
    assert_eq!(lex("a /* x").unwrap_err().start, 2);
    assert_eq!(lex("'a\nb'").unwrap_err().start, 0);
    assert!(lex("a \u{1} b").is_err());
}

#[test]
fn shebang_and_unicode_identifiers() {
    assert_eq!(
        kinds("#!/usr/bin/env node\n$users é_1 $streams$files"),
        ["$users", "é_1", "$streams$files"]
    );
}

fn read(src: &str) -> instant_schema::Schema {
    parse_ts(src, Path::new("lexer.schema.ts"))
        .unwrap_or_else(|e| panic!("{e}"))
        .schema
}

#[test]
fn nested_type_arguments_close_with_three_angle_brackets() {
    let s = read("import { i } from '@instantdb/core'\nexport default i.schema({ entities: { a: i.entity({ x: i.json<Array<UIMessagePart<any, Map<string, any>>>>().optional() }) } })");
    let tp = s.entities["a"].attrs["x"].type_param.clone().unwrap();
    assert_eq!(tp.raw, "Array<UIMessagePart<any, Map<string, any>>>");
    assert!(!s.entities["a"].attrs["x"].required);
}

#[test]
fn arrow_types_inside_type_arguments() {
    let s = read("import { i } from '@instantdb/core'\nexport default i.schema({ entities: { a: i.entity({ f: i.json<{ cb: (a: string) => Promise<void> }>() }) } })");
    let tp = s.entities["a"].attrs["f"].type_param.clone().unwrap();
    assert_eq!(tp.raw, "{ cb: (a: string) => Promise<void> }");
}

#[test]
fn comments_between_chained_calls_and_keys() {
    let s = read(
        "import { i } from '@instantdb/core'\nexport default i.schema({ /* a */ entities /* b */ : { // c\n a: i /* d */ . /* e */ entity({ x: i.string() // f\n .optional() /** g */ .indexed() }) } })",
    );
    let a = &s.entities["a"].attrs["x"];
    assert!(!a.required && a.indexed);
}

#[test]
fn asi_without_any_semicolon() {
    let src = "import { i } from '@instantdb/core'\nconst a = i.entity({ x: i.number() })\nconst _schema = i.schema({ entities: { a } })\ntype S = typeof _schema\nconst schema: S = _schema\nexport default schema\n";
    let s = read(src);
    assert_eq!(
        s.entities["a"].attrs["x"].value_type,
        instant_schema::ValueType::Number
    );
}

#[test]
fn crlf_positions_count_lines_and_columns() {
    let src = "import { i } from '@instantdb/core'\r\n\r\nexport default i.schema({\r\n  entities: { a: i.entity({ x: i.strng() }) },\r\n})\r\n";
    let e = parse_ts(src, Path::new("crlf.ts")).unwrap_err();
    let d = &e.diagnostics[0];
    assert_eq!((d.line, d.col), (4, 34));
    assert_eq!(
        d.source_line,
        "  entities: { a: i.entity({ x: i.strng() }) },"
    );
}

#[test]
fn string_escapes_and_templates_in_values() {
    let s = read("import { i } from '@instantdb/core'\nexport default i.schema({ entities: { 'a\\u0062': i.entity({}), [`c`]: i.entity({}) }, links: { l: { forward: { on: `ab`, has: 'one', label: 'x\\'y' }, reverse: { on: \"c\", has: \"many\", label: \"z\" } } } })");
    assert!(s.entities.contains_key("ab"));
    assert_eq!(s.links["l"].forward.label, "x'y");
    assert_eq!(s.links["l"].forward.on, "ab");
}

#[test]
fn regular_expressions_in_code_the_reader_skips() {
    assert_eq!(
        kinds(r#"x = /['"]+\/[/]/gi; y = a / b / c; z = (1) / 2"#),
        [
            "x",
            "=",
            r#"re:/['"]+\/[/]/gi"#,
            ";",
            "y",
            "=",
            "a",
            "/",
            "b",
            "/",
            "c",
            ";",
            "z",
            "=",
            "(",
            "num:1",
            ")",
            "/",
            "num:2"
        ]
    );
    assert!(lex("f(/abc").is_err());
    let s = read(
        "import { i } from '@instantdb/core'\nfunction slug(s: string) {\n  return s.replace(/[\"']/g, '').split(/\\s+/)\n}\nexport default i.schema({ entities: { a: i.entity({}) } })\n",
    );
    assert!(s.entities.contains_key("a"));
}
