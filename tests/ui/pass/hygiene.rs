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
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}

fn main() {
    let _ = schema::todos::query();
}
