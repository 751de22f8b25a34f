//! How schema names become Rust names.
//!
//! Schema names are free-form strings (`$users`, `e2e-logging`, `disabled?`, `createdAt`, `type`).
//! The mapping is deterministic and documented here, and every generated item keeps its wire name in
//! serde attributes and `NAME` constants:
//!
//! 1. A leading `$` becomes `sys_` (`$users` -> `sys_users`, `$files` -> `sys_files`); a `$` elsewhere
//!    becomes `_` (`$streams$files` -> `sys_streams_files`).
//! 2. camelCase and PascalCase words are split (`createdAt` -> `created_at`, `imageURL` -> `image_url`).
//! 3. Every other character that cannot appear in a Rust identifier (`-`, `?`, `.`, spaces) becomes `_`;
//!    runs of `_` collapse, and `_` at either end is dropped (`e2e-logging` -> `e2e_logging`,
//!    `disabled?` -> `disabled`).
//! 4. The result is lower snake case for modules, functions, fields and attribute handles, and
//!    UpperCamelCase (from the snake form) for types (`sys_users` -> `SysUsers`).
//! 5. A name that starts with a digit gets a leading `_` (`2fa` -> `_2fa`); an empty result becomes `_x`
//!    followed by the hex of its bytes.
//! 6. Rust keywords become raw identifiers (`type` -> `r#type`); `self`, `super`, `crate` and `Self`,
//!    which cannot be raw, get a trailing `_`.
//!
//! When two schema names of one scope map to the same Rust name, expansion fails with an error naming
//! both.

use proc_macro2::{Ident, Span};

/// Rust's strict and reserved keywords (2021 edition), which need `r#` as identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern", "false",
    "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref",
    "return", "static", "struct", "trait", "true", "type", "unsafe", "use", "where", "while",
    "abstract", "become", "box", "do", "final", "gen", "macro", "override", "priv", "try",
    "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "super", "crate", "Self", "_"];

/// The snake_case form of a schema name (rules 1, 2, 3 and 5), without keyword escaping.
pub fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '$' {
            if i == 0 {
                out.push_str("sys_");
            } else {
                out.push('_');
            }
        } else if c.is_ascii_alphanumeric() || c == '_' {
            if c.is_ascii_uppercase() {
                let prev = if i > 0 {
                    chars.get(i - 1).copied()
                } else {
                    None
                };
                let next = chars.get(i + 1).copied();
                let prev_lower_or_digit =
                    prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit());
                let acronym_end = prev.is_some_and(|p| p.is_ascii_uppercase())
                    && next.is_some_and(|n| n.is_ascii_lowercase());
                if prev_lower_or_digit || acronym_end {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        } else {
            out.push('_');
        }
    }
    let mut collapsed = String::with_capacity(out.len());
    for c in out.chars() {
        if c == '_' && collapsed.ends_with('_') {
            continue;
        }
        collapsed.push(c);
    }
    let trimmed = collapsed.trim_matches('_');
    if trimmed.is_empty() {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        return format!("_x{hex}");
    }
    if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{trimmed}")
    } else {
        trimmed.to_string()
    }
}

/// The UpperCamelCase form of a schema name (rule 4), e.g. `sys_users` -> `SysUsers`.
pub fn pascal(name: &str) -> String {
    let snake = snake(name);
    let mut out = String::with_capacity(snake.len());
    let mut upper = true;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
            continue;
        }
        if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'N');
    }
    out
}

/// An identifier from an already-mapped Rust name, escaping keywords (rule 6).
pub fn ident(rust_name: &str) -> Ident {
    if NOT_RAW.contains(&rust_name) {
        Ident::new(&format!("{rust_name}_"), Span::call_site())
    } else if KEYWORDS.contains(&rust_name) {
        Ident::new_raw(rust_name, Span::call_site())
    } else {
        Ident::new(rust_name, Span::call_site())
    }
}

/// The snake_case identifier of a schema name.
pub fn snake_ident(name: &str) -> Ident {
    ident(&snake(name))
}

/// The UpperCamelCase identifier of a schema name.
pub fn pascal_ident(name: &str) -> Ident {
    ident(&pascal(name))
}

/// The closest of `candidates` to `name`, if one is close enough to suggest.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `" Did you mean `x`?"` when a suggestion exists, else an empty string.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    suggest(name, candidates)
        .map(|s| format!(" Did you mean `{s}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_cases() {
        let cases = [
            ("title", "title"),
            ("createdAt", "created_at"),
            ("imageURL", "image_url"),
            ("HTTPServer", "http_server"),
            ("$users", "sys_users"),
            ("$streams$files", "sys_streams_files"),
            ("e2e-logging", "e2e_logging"),
            ("disabled?", "disabled"),
            ("content-type", "content_type"),
            ("2fa", "_2fa"),
            ("linkedPrimaryUser", "linked_primary_user"),
            ("already_snake", "already_snake"),
            ("__private", "private"),
        ];
        for (input, want) in cases {
            assert_eq!(snake(input), want, "snake({input:?})");
        }
    }

    #[test]
    fn empty_and_symbol_names_stay_distinct() {
        assert_eq!(snake("?"), "_x3f");
        assert_eq!(snake("-"), "_x2d");
        assert_ne!(snake("?"), snake("-"));
    }

    #[test]
    fn pascal_cases() {
        assert_eq!(pascal("todos"), "Todos");
        assert_eq!(pascal("$users"), "SysUsers");
        assert_eq!(pascal("e2e-logging"), "E2eLogging");
        assert_eq!(pascal("blogPosts"), "BlogPosts");
        assert_eq!(pascal("2fa"), "N2fa");
    }

    #[test]
    fn keywords_are_escaped() {
        assert_eq!(ident("type").to_string(), "r#type");
        assert_eq!(ident("ref").to_string(), "r#ref");
        assert_eq!(ident("self").to_string(), "self_");
        assert_eq!(ident("Self").to_string(), "Self_");
        assert_eq!(ident("title").to_string(), "title");
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("titel", ["title", "done"]), Some("title"));
        assert_eq!(suggest("zzz", ["title", "done"]), None);
        assert_eq!(did_you_mean("ownr", ["owner"]), " Did you mean `owner`?");
    }
}
