//! Generates typed Rust code from an InstantDB schema: the library behind `instant-macros`.
//!
//! [`include_schema`] reads `instant.schema.ts` (or a JSON form) through `instant-schema` and expands
//! to entity structs, typed attribute and link handles, query builders and transaction builders that
//! plug into `instant_admin::typed`. Everything that needs the schema is decided here (Rust names,
//! types, capabilities, collisions); each namespace then becomes one compact
//! `::instant_admin::__namespace!` invocation, and that `macro_rules!` writes the items that are the
//! same for every attribute. This keeps the proc macro's output, and the time spent building it, about
//! ten times smaller. Keeping this a plain library lets its output be snapshot-tested and benchmarked
//! without a compiler in the loop. See [`naming`] for how schema names map to Rust.

mod derive;
mod expand;
pub mod naming;

pub use derive::derive_entity;
pub use expand::{expand_schema, ExpandError};

use proc_macro2::TokenStream;
use std::path::{Path, PathBuf};
use syn::LitStr;

/// Expand `include_schema!("path")`: read the schema file (relative to `manifest_dir`) and generate
/// its typed API. Errors are spanned on the path literal.
pub fn include_schema(input: TokenStream, manifest_dir: Option<&Path>) -> syn::Result<TokenStream> {
    let lit: LitStr = syn::parse2(input).map_err(|e| {
        syn::Error::new(
            e.span(),
            "expected the schema file's path as a string literal, e.g. include_schema!(\"instant.schema.ts\")",
        )
    })?;
    let path = resolve(&lit, manifest_dir)?;
    let loaded = instant_schema::read_file(&path)
        .map_err(|e| syn::Error::new(lit.span(), format!("cannot read the schema:\n{e}")))?;
    let tracked = vec![path.to_string_lossy().into_owned()];
    expand_schema(&loaded.schema, &tracked).map_err(|errors| {
        let mut it = errors.into_iter();
        let mut all = match it.next() {
            Some(first) => syn::Error::new(lit.span(), first.message),
            None => syn::Error::new(lit.span(), "schema expansion failed"),
        };
        for e in it {
            all.combine(syn::Error::new(lit.span(), e.message));
        }
        all
    })
}

/// The absolute path of the schema file named by `lit`, relative to the crate's manifest directory.
fn resolve(lit: &LitStr, manifest_dir: Option<&Path>) -> syn::Result<PathBuf> {
    let rel = PathBuf::from(lit.value());
    if rel.is_absolute() {
        return Ok(rel);
    }
    let root = manifest_dir.ok_or_else(|| {
        syn::Error::new(
            lit.span(),
            "CARGO_MANIFEST_DIR is not set: build with cargo",
        )
    })?;
    let path = root.join(&rel);
    if !path.exists() {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "schema file not found: {} (paths are relative to the crate's Cargo.toml directory, {})",
                path.display(),
                root.display()
            ),
        ));
    }
    // A canonical path reads better in messages and is what `include_str!` tracks.
    Ok(path.canonicalize().unwrap_or(path))
}
