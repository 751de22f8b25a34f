//! Generated code uses fully qualified paths: user items named like prelude items do not break it.
#![allow(dead_code, non_camel_case_types)]

struct Result;
struct Option;
struct Some;
struct String;
struct Vec;
struct Box;
#[allow(non_upper_case_globals)]
const Ok: () = ();
mod serde {}
mod core {}
mod std {}

mod schema {
    struct Result;
    struct Option;
    struct Some;
    struct String;
    #[allow(non_upper_case_globals)]
    const Ok: () = ();
    instant_admin::include_schema!("app.schema.ts");
}

#[test]
fn generated_code_ignores_user_items_named_like_prelude_items() {
    let q = schema::todos::query().filter(schema::todos::completed.eq(true));
    let _ = ::instant_admin::Query::instaql(&q);
}

/// Attributes named like the parameters and locals of generated code, and rows named `Option`,
/// `String`, `D` and `M`.
mod names {
    instant_admin::include_schema!("names.schema.ts");
}

#[test]
fn attributes_named_like_generated_bindings_compile_and_decode() {
    use names::settings;
    let row: names::Settings = serde_json::from_value(serde_json::json!({
        "id": "6f7f4c2e-0b51-4a59-9a3c-3c4f1f0b8e0a",
        "key": "theme", "value": {"dark": true}, "map": 3, "d": 0, "m": "b", "self": "me",
        "unknown": [1, 2]
    }))
    .unwrap();
    assert_eq!(row.key, "theme");
    assert_eq!(row.value, serde_json::json!({"dark": true}));
    assert_eq!(row.map, 3.0);
    assert_eq!(row.m, ::core::option::Option::Some(names::SettingsM::B));
    assert_eq!(row.self_.as_deref(), ::core::option::Option::Some("me"));
    assert!(row.target.is_none());
    assert!(row.d.is_some());

    let missing = serde_json::from_value::<names::Settings>(serde_json::json!({
        "id": "6f7f4c2e-0b51-4a59-9a3c-3c4f1f0b8e0a", "key": "k", "map": 1
    }))
    .unwrap_err();
    assert!(
        missing.to_string().contains("missing field `value`"),
        "{missing}"
    );

    let q = settings::query()
        .filter(settings::map.gt(1.0))
        .with(settings::opt)
        .with(settings::strs);
    let _ = ::instant_admin::Query::instaql(&q);
    let write = settings::update(settings::key.lookup("theme"))
        .value(serde_json::json!(1))
        .target("t")
        .new(true)
        .clear_target();
    let _: ::instant_admin::Step = write.into();
    let _: ::instant_admin::Step = settings::link(settings::key.lookup("theme"))
        .opt(names::option::id.lookup("6f7f4c2e-0b51-4a59-9a3c-3c4f1f0b8e0a"))
        .into();
    let _: ::instant_admin::Step = names::option::create(
        instant_admin::id(),
        names::option::New {
            some: ::core::option::Option::None,
        },
    )
    .into();
}

/// A projection derived in a module whose items are named like the derive's bindings and generics.
mod projection {
    #![allow(dead_code, non_upper_case_globals)]
    const d: () = ();
    const node: () = ();
    const options: () = ();
    const wire: () = ();
    struct D;

    #[derive(instant_admin::Entity, Debug)]
    #[instant(entity = "todos", schema = "app.schema.ts")]
    pub struct TodoTitle {
        pub title: String,
    }
}

#[test]
fn derived_projections_ignore_user_items_named_like_their_bindings() {
    let row: projection::TodoTitle =
        serde_json::from_value(serde_json::json!({"id": "x", "title": "hi"})).unwrap();
    assert_eq!(row.title, "hi");
    let node = <projection::TodoTitle as instant_admin::typed::Projection>::node();
    assert_eq!(node, serde_json::json!({"$": {"fields": ["title"]}}));
}
