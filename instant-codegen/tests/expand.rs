//! Snapshot tests of the pretty-printed expansion of `include_schema!`.

use std::path::Path;

fn expand(fixture: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let input: proc_macro2::TokenStream = format!("{fixture:?}").parse().unwrap();
    let tokens = instant_codegen::include_schema(input, Some(&dir)).unwrap();
    let file: syn::File = syn::parse2(tokens).unwrap();
    let mut out = String::new();
    for item in file.items {
        match &item {
            // prettyplease prints macro bodies on long wrapped lines; one entry per line reads better.
            syn::Item::Macro(m) if m.mac.path.segments.last().unwrap().ident == "__namespace" => {
                out.push_str("::instant_admin::__namespace! {\n");
                print_entries(m.mac.tokens.clone(), 1, &mut out);
                out.push_str("}\n");
            }
            _ => out.push_str(&prettyplease::unparse(&syn::File {
                shebang: None,
                attrs: Vec::new(),
                items: vec![item],
            })),
        }
    }
    out.replace(dir.to_str().unwrap(), "<fixtures>")
}

/// Print a macro body with one `;`-terminated entry per line, braces opening indented blocks.
fn print_entries(tokens: proc_macro2::TokenStream, depth: usize, out: &mut String) {
    use proc_macro2::{Delimiter, TokenTree};
    let mut line = String::new();
    let mut prev = None;
    let indent = "    ".repeat(depth);
    for tt in tokens {
        match tt {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace && depth < 2 => {
                out.push_str(&format!("{indent}{} {{\n", line.trim()));
                print_entries(g.stream(), depth + 1, out);
                out.push_str(&format!("{indent}}}\n"));
                line.clear();
                prev = None;
            }
            TokenTree::Punct(p) if p.as_char() == ';' => {
                out.push_str(&format!("{indent}{};\n", line.trim()));
                line.clear();
                prev = None;
            }
            tt => print_inline(tt, &mut prev, &mut line),
        }
    }
    if !line.trim().is_empty() {
        out.push_str(&format!("{indent}{}\n", line.trim()));
    }
}

/// Append one token with Rust's usual spacing: none around `::`, inside `<>` and brackets, before
/// `,`, or after `#`.
fn print_inline(tt: proc_macro2::TokenTree, prev: &mut Option<String>, line: &mut String) {
    use proc_macro2::{Delimiter, Spacing, TokenTree};
    let text = match &tt {
        TokenTree::Punct(p) => p.as_char().to_string(),
        TokenTree::Group(_) => String::new(),
        other => other.to_string(),
    };
    let glued = match (prev.as_deref(), &tt) {
        (None, _) => true,
        (Some("::" | "<" | "#" | "(" | "[" | "{" | "&" | "joint"), _) => true,
        (_, TokenTree::Punct(p)) => matches!(p.as_char(), ',' | '<' | '>' | ':'),
        (_, TokenTree::Group(g)) => g.delimiter() == Delimiter::Parenthesis,
        _ => false,
    };
    if !glued {
        line.push(' ');
    }
    match tt {
        TokenTree::Group(g) => {
            let (open, close) = match g.delimiter() {
                Delimiter::Parenthesis => ("(", ")"),
                Delimiter::Bracket => ("[", "]"),
                Delimiter::Brace => ("{ ", " }"),
                Delimiter::None => ("", ""),
            };
            line.push_str(open);
            let mut inner = Some(open.trim().to_string());
            for t in g.stream() {
                print_inline(t, &mut inner, line);
            }
            line.push_str(close);
            *prev = Some(close.trim().to_string());
        }
        TokenTree::Punct(p) if p.spacing() == Spacing::Joint => {
            line.push_str(&text);
            *prev = Some("joint".into());
        }
        TokenTree::Punct(p) if p.as_char() == ':' && prev.as_deref() == Some("joint") => {
            line.push(':');
            *prev = Some("::".into());
        }
        _ => {
            line.push_str(&text);
            *prev = Some(text);
        }
    }
}

#[test]
fn small_schema() {
    insta::assert_snapshot!(expand("small.schema.ts"));
}

#[test]
fn links_heavy_schema() {
    insta::assert_snapshot!(expand("links.schema.ts"));
}

#[test]
fn system_namespaces_odd_names_and_rooms() {
    insta::assert_snapshot!(expand("system.schema.ts"));
}

#[test]
fn a_missing_file_is_an_error_at_the_literal() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let input: proc_macro2::TokenStream = "\"nope.schema.ts\"".parse().unwrap();
    let err = instant_codegen::include_schema(input, Some(&dir)).unwrap_err();
    assert!(
        err.to_string().starts_with("schema file not found:"),
        "{err}"
    );
}

#[test]
fn a_non_literal_argument_is_an_error() {
    let input: proc_macro2::TokenStream = "some_path".parse().unwrap();
    let err = instant_codegen::include_schema(input, None).unwrap_err();
    assert!(err.to_string().contains("string literal"), "{err}");
}

#[test]
fn names_that_collide_after_mapping_are_reported() {
    let json = serde_json::json!({
        "entities": {
            "blogPosts": {"attrs": {}, "links": {}},
            "blog_posts": {"attrs": {}, "links": {}}
        },
        "links": {}
    });
    let schema = instant_schema::from_json_value(&json).unwrap();
    let errors = instant_codegen::expand_schema(&schema, &[]).unwrap_err();
    let text: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
    assert!(
        text.iter()
            .any(|m| m
                .contains("`blogPosts` and `blog_posts` both map to the Rust name `BlogPosts`")),
        "{text:?}"
    );
}

#[test]
fn a_namespace_named_like_a_builder_is_reported() {
    let json = serde_json::json!({
        "entities": {"write": {"attrs": {}, "links": {}}},
        "links": {}
    });
    let schema = instant_schema::from_json_value(&json).unwrap();
    let errors = instant_codegen::expand_schema(&schema, &[]).unwrap_err();
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("`Write builder` and `write`")),
        "{errors:?}"
    );
}
