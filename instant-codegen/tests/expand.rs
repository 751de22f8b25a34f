//! Snapshot tests of the pretty-printed expansion of `include_schema!`.

use std::path::Path;

fn expand(fixture: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let input: proc_macro2::TokenStream = format!("{fixture:?}").parse().unwrap();
    let tokens = instant_codegen::include_schema(input, Some(&dir)).unwrap();
    let file: syn::File = syn::parse2(tokens).unwrap();
    prettyplease::unparse(&file).replace(dir.to_str().unwrap(), "<fixtures>")
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
