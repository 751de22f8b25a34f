//! Procedural macros of instant-rs: a thin shim over `instant-codegen`, where the logic and its tests
//! live. Use them through `instant_admin`, which re-exports them. Compiled examples of both macros are
//! in `tests/ui/tests/typed_api.rs` and `tests/tests/e2e_typed.rs` of the repository.

use proc_macro::TokenStream;
use std::path::PathBuf;

/// Generates the typed API of an InstantDB schema file.
///
/// The path is relative to the crate's `Cargo.toml` directory; `instant.schema.ts` and the JSON forms
/// of a schema both work. Call it inside a module of its own:
///
/// ```text
/// mod schema {
///     instant_admin::include_schema!("instant.schema.ts");
/// }
/// ```
#[proc_macro]
pub fn include_schema(input: TokenStream) -> TokenStream {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    instant_codegen::include_schema(input.into(), manifest_dir.as_deref())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives a typed projection of an entity: a struct whose fields are some attributes and links of
/// one namespace, checked against the schema at compile time.
///
/// ```text
/// #[derive(instant_admin::Entity)]
/// #[instant(entity = "todos")]            // schema = "instant.schema.ts", module = crate::schema
/// struct TodoCard { title: String, owner: Option<OwnerName> }
/// ```
#[proc_macro_derive(Entity, attributes(instant))]
pub fn derive_entity(input: TokenStream) -> TokenStream {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    instant_codegen::derive_entity(input.into(), manifest_dir.as_deref())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
