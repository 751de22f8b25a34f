//! Every misuse the typed API rejects at compile time, with the exact compiler message.
//!
//! The `.stderr` files are the compiler's output; regenerate them with `TRYBUILD=overwrite`. The
//! cases read `tests/ui/app.schema.ts` through a path relative to trybuild's project directory
//! (`target/tests/trybuild/instant-ui-tests`).

#[test]
fn compile_fail() {
    trybuild::TestCases::new().compile_fail("fail/*.rs");
}
