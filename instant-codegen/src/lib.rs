//! Schema -> Rust code. Filled by the typed-codegen issue.
