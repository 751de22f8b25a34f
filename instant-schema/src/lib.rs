//! The InstantDB schema: one model ([`Schema`]) and its readers.
//!
//! * [`read_file`], [`parse_ts`]: `instant.schema.ts` (a hand-written reader of the DSL, no JS
//!   engine), following relative imports;
//! * [`parse_json`], [`from_json_value`]: the JSON forms (`JSON.stringify(i.schema(...))`, the
//!   API `{refs, blobs}` form, a backup config);
//! * [`perms`]: `instant.perms.ts` and its JSON form;
//! * [`Schema::to_json`]: what `JSON.stringify(schema)` gives with the official package.
//!
//! Every problem is a [`Diagnostic`] with file, line, column and the source line.

#![warn(missing_docs)]

pub mod diag;
mod eval;
mod json;
pub mod lexer;
pub mod model;
mod parse;
pub mod perms;
mod schema_ts;
mod system;
mod validate;
mod value;

pub use diag::{Diagnostic, Error, Severity};
pub use json::{from_json_value, parse_json};
pub use model::{
    Attr, Entity, Has, Link, LinkEnd, LinkSide, Loc, Room, Schema, TypeParam, ValueType,
};
pub use schema_ts::parse_ts;
pub use system::{is_system_namespace, system_schema, SYSTEM_NAMESPACES};

use std::path::Path;

/// A schema read from a file, with the warnings found while reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The schema.
    pub schema: Schema,
    /// Problems that did not stop reading.
    pub warnings: Vec<Diagnostic>,
}

/// Whether a file is JSON: by extension, else by its first non-blank character.
pub(crate) fn looks_like_json(path: &Path, src: &str) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("ts" | "tsx" | "mts" | "cts" | "js" | "mjs" | "cjs" | "jsx") => false,
        _ => src.trim_start().starts_with('{'),
    }
}

/// Read a schema file: TypeScript/JavaScript or JSON, detected by extension and content.
pub fn read_file(path: &Path) -> Result<Loaded, Error> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, format!("cannot read file: {e}")))?;
    if looks_like_json(path, &src) {
        parse_json(&src, path)
    } else {
        parse_ts(&src, path)
    }
}

/// Which kind of file a path holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A schema (`instant.schema.ts` or a JSON form).
    Schema,
    /// Permission rules (`instant.perms.ts` or JSON).
    Perms,
}

/// Guess whether `path` (with text `src`) holds a schema or rules: by file name (`perms`), then by
/// content (a schema mentions `.schema(`/`.graph(`/`.entity(` or, in JSON, `entities`/`blobs`/
/// `schema`).
pub fn detect_kind(path: &Path, src: &str) -> FileKind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.contains("perms") || name.contains("rules") {
        return FileKind::Perms;
    }
    if name.contains("schema") {
        return FileKind::Schema;
    }
    if looks_like_json(path, src) {
        let v: Option<serde_json::Value> = serde_json::from_str(src).ok();
        let schema_like = v.as_ref().and_then(|v| v.as_object()).is_some_and(|o| {
            o.contains_key("entities") || o.contains_key("blobs") || o.contains_key("schema")
        });
        return if schema_like || v.is_none() {
            FileKind::Schema
        } else {
            FileKind::Perms
        };
    }
    if src.contains(".schema(")
        || src.contains(".graph(")
        || src.contains(".entity(")
        || !src.contains("allow")
    {
        FileKind::Schema
    } else {
        FileKind::Perms
    }
}

impl Schema {
    /// Semantic problems of this schema (unknown namespaces, label collisions, `onDelete` on a
    /// has-many side, unknown `$` namespaces, ...), positioned with the model's locations.
    pub fn validate(&self) -> Vec<Diagnostic> {
        validate::check_schema(self, &ModelLocator { schema: self })
    }
}

struct ModelLocator<'a> {
    schema: &'a Schema,
}

impl validate::Locator for ModelLocator<'_> {
    fn diag(&self, target: &validate::Target, severity: Severity, message: String) -> Diagnostic {
        use validate::Target;
        let loc = match target {
            Target::Entity(ns) => self.schema.entities.get(ns).and_then(|e| e.loc.clone()),
            Target::Attr(ns, a) => self.schema.attr(ns, a).and_then(|a| a.loc.clone()),
            Target::Link(l) | Target::Side(l, _) | Target::SideKey(l, _, _) => {
                self.schema.links.get(l).and_then(|l| l.loc.clone())
            }
        };
        match loc {
            None => Diagnostic::nowhere(severity, Path::new("<schema>"), message),
            Some(loc) => {
                let line = std::fs::read_to_string(loc.file.as_path())
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .nth(loc.line.saturating_sub(1) as usize)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                Diagnostic {
                    severity,
                    file: loc.file.as_path().to_path_buf(),
                    line: loc.line,
                    col: loc.col,
                    message,
                    source_line: line,
                    width: 1,
                }
            }
        }
    }
}
