//! Procedural macros of instant-rs. Filled by the typed-codegen issue.
