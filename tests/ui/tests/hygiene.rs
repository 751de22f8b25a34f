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
