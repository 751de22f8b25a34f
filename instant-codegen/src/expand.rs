//! Schema -> tokens: the code `include_schema!` expands to.

use crate::naming::{ident, pascal, snake};
use instant_schema::{Attr, Entity, Has, Room, Schema, ValueType};
use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// An error found while generating code: two schema names that map to one Rust name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    /// What went wrong, naming both schema items.
    pub message: String,
}

impl std::fmt::Display for ExpandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExpandError {}

/// Records which schema name claimed each Rust name of one scope.
struct Scope {
    what: String,
    taken: BTreeMap<String, String>,
    errors: Vec<ExpandError>,
}

impl Scope {
    fn new(what: impl Into<String>) -> Self {
        Scope {
            what: what.into(),
            taken: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    fn claim(&mut self, rust: &str, wire: &str) {
        if let Some(prev) = self.taken.get(rust) {
            if prev != wire {
                self.errors.push(ExpandError {
                    message: format!(
                        "{}: `{prev}` and `{wire}` both map to the Rust name `{rust}`; rename one of \
                         them in the schema",
                        self.what
                    ),
                });
            }
        } else {
            self.taken.insert(rust.to_string(), wire.to_string());
        }
    }
}

/// Names of the functions every namespace module defines; attribute and link handles with these
/// names get a trailing `_`.
const MODULE_FNS: &[&str] = &[
    "query",
    "update",
    "update_existing",
    "merge",
    "merge_existing",
    "create",
    "delete",
    "link",
    "unlink",
    "fields",
];

/// The Rust name of an attribute or link handle in a namespace module, from its snake form.
fn handle_name(snake: &str) -> String {
    if MODULE_FNS.contains(&snake) || snake == "NAME" {
        format!("{snake}_")
    } else {
        snake.to_string()
    }
}

/// Generate the typed API for `schema` (system namespaces are added when missing).
///
/// `tracked` lists the files the schema was read from; the expansion `include_str!`s each of them so
/// that cargo rebuilds when one changes.
pub fn expand_schema(schema: &Schema, tracked: &[String]) -> Result<TokenStream, Vec<ExpandError>> {
    let schema_json = raw_str_literal(&schema.to_defs_string());
    let schema = schema.with_system_namespaces();
    let mut errors = Vec::new();
    let mut root_types = Scope::new("types at the schema module's root");
    let mut modules = Scope::new("namespace modules");

    let mut items = Vec::new();
    for (ns, entity) in &schema.entities {
        root_types.claim(&pascal(ns), ns);
        modules.claim(&snake(ns), ns);
        match expand_namespace(&schema, ns, entity, &mut root_types) {
            Ok(ts) => items.push(ts),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let rooms = match &schema.rooms {
        Some(rooms) if !rooms.is_empty() => match expand_rooms(rooms) {
            Ok(ts) => ts,
            Err(mut e) => {
                errors.append(&mut e);
                TokenStream::new()
            }
        },
        _ => TokenStream::new(),
    };
    errors.append(&mut root_types.errors);
    errors.append(&mut modules.errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let names: Vec<&String> = schema.entities.keys().collect();
    let tracked = tracked.iter().map(|path| {
        quote! { const _: &::core::primitive::str = ::core::include_str!(#path); }
    });
    Ok(quote! {
        /// The name of every namespace in the schema, system namespaces included.
        pub const NAMESPACES: &[&::core::primitive::str] = &[#(#names),*];
        /// The schema's entities and links in Instant's JSON form (see
        /// `instant_schema::Schema::to_defs_string`), e.g. for `Instant::schema_drift`.
        pub const SCHEMA_JSON: &::core::primitive::str = #schema_json;
        #(#tracked)*
        #(#items)*
        #rooms
    })
}

/// `text` as a raw string literal: nothing to escape, which for a large text is several times
/// faster than `Literal::string`.
fn raw_str_literal(text: &str) -> proc_macro2::Literal {
    let mut hashes = String::from("#");
    while text.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{text}\"{hashes}")
        .parse()
        .unwrap_or_else(|_| proc_macro2::Literal::string(text))
}

/// The Rust type of an attribute's values (without `Option`), as written inside the namespace's
/// module (where `__t`, `__p` and `__json` are imported; `__p` holds `String` and `Option`, which
/// a namespace's row struct could shadow).
fn value_type(ns: &str, name: &str, attr: &Attr) -> TokenStream {
    if attr
        .type_param
        .as_ref()
        .and_then(|t| t.literals.as_ref())
        .is_some()
        && attr.value_type == ValueType::String
    {
        let e = enum_name(ns, name);
        return quote! { #e };
    }
    match attr.value_type {
        ValueType::String => quote! { __p::String },
        ValueType::Number => quote! { f64 },
        ValueType::Boolean => quote! { bool },
        ValueType::Date => quote! { __t::DateTime },
        ValueType::Json | ValueType::Any => quote! { __json::Value },
    }
}

fn describe(attr: &Attr) -> String {
    let mut flags = vec![match attr.value_type {
        ValueType::String => "string",
        ValueType::Number => "number",
        ValueType::Boolean => "boolean",
        ValueType::Date => "date",
        ValueType::Json => "json",
        ValueType::Any => "any",
    }
    .to_string()];
    if !attr.required {
        flags.push(
            if attr.client_required {
                "client-required"
            } else {
                "optional"
            }
            .into(),
        );
    }
    if attr.unique {
        flags.push("unique".into());
    }
    if attr.indexed {
        flags.push("indexed".into());
    }
    if let Some(lits) = attr.type_param.as_ref().and_then(|t| t.literals.as_ref()) {
        let list: Vec<String> = lits.iter().map(|l| format!("`{l:?}`")).collect();
        flags.push(format!("one of {}", list.join(", ")));
    }
    flags.join(", ")
}

fn is_optional_field(attr: &Attr) -> bool {
    !attr.required && !attr.client_required
}

/// One namespace as a compact `::instant_admin::__namespace!` invocation: the names, types and
/// capabilities decided here, the repeated items written by that declarative macro.
fn expand_namespace(
    schema: &Schema,
    ns: &str,
    entity: &Entity,
    root_types: &mut Scope,
) -> Result<TokenStream, Vec<ExpandError>> {
    let row = ident(&pascal(ns));
    let module = ident(&snake(ns));
    let mut types_scope = Scope::new(format!("types in module `{}`", snake(ns)));
    let mut fields_scope = Scope::new(format!("fields of `{ns}`"));
    let mut handles_scope = Scope::new(format!("handles in module `{}`", snake(ns)));
    let mut setters_scope = Scope::new(format!("setters of `{}::Write`", snake(ns)));
    for builder in ["Write", "Links", "New"] {
        types_scope.claim(builder, &format!("{builder} builder"));
    }
    types_scope.claim(&pascal(ns), ns);
    fields_scope.claim("id", "id");
    handles_scope.claim("id", "id");

    let mut attrs = Vec::new();
    let mut enums = Vec::new();
    for (name, attr) in entity.attrs.iter().filter(|(n, _)| n.as_str() != "id") {
        let name = name.as_str();
        let rust = snake(name);
        let handle_rust = handle_name(&rust);
        let field = ident(&rust);
        let handle = ident(&handle_rust);
        fields_scope.claim(&rust, name);
        handles_scope.claim(&handle_rust, name);
        setters_scope.claim(&rust, name);
        let ty = value_type(ns, name, attr);
        let described = describe(attr);
        let optional = is_optional_field(attr);

        // Extra serde attributes of the row field (the macro adds `rename`).
        let date_with = match (attr.value_type == ValueType::Date, optional) {
            (false, _) => None,
            (true, false) => Some("__t::date"),
            (true, true) => Some("__t::date::option"),
        };
        let meta = match (optional, date_with) {
            (false, None) => quote! {},
            (false, Some(with)) => quote! { #[serde(with = #with)] },
            (true, None) => quote! { #[serde(default)] },
            (true, Some(with)) => quote! { #[serde(default, with = #with)] },
        };
        let row_ty = if optional {
            quote! { __p::Option<#ty> }
        } else {
            ty.clone()
        };
        let kind = format_ident!(
            "{}",
            if attr.required {
                "req"
            } else if optional {
                "opt"
            } else {
                "creq"
            }
        );
        let clear = if attr.required {
            None
        } else {
            let clear = format!("clear_{rust}");
            setters_scope.claim(&clear, &format!("clear of {name}"));
            Some(ident(&clear))
        };
        let checked = attr.value_type.checked_data_type().is_some();
        let mut caps = Vec::new();
        if attr.indexed && checked {
            caps.push(format_ident!("Comparable"));
        }
        if attr.indexed && attr.value_type == ValueType::String {
            caps.push(format_ident!("Likeable"));
        }
        if attr.unique {
            caps.push(format_ident!("Unique"));
        }
        attrs.push(quote! {
            #meta
            #field: #row_ty = #name as #handle, value #ty, #kind #clear, [#(#caps)*], #described;
        });

        if let Some(lits) = attr.type_param.as_ref().and_then(|t| t.literals.as_ref()) {
            if attr.value_type == ValueType::String {
                let ty = enum_name(ns, name);
                // Enums are re-exported beside the row structs, so they share the root's scope.
                root_types.claim(&ty.to_string(), &format!("{ns}.{name}"));
                let variants = enum_variants(lits);
                enums.push(quote! { #ty = #name { #(#variants = #lits),* } });
            }
        }
    }

    let mut links = Vec::new();
    for end in schema.link_ends(ns) {
        let label = end.label;
        let rust = snake(label);
        let handle_rust = handle_name(&rust);
        let field = ident(&rust);
        let handle = ident(&handle_rust);
        fields_scope.claim(&rust, label);
        handles_scope.claim(&handle_rust, label);
        let target = ident(&pascal(end.target));
        let (card, how_many) = if end.has == Has::One {
            (format_ident!("One"), "one")
        } else {
            (format_ident!("Many"), "many")
        };
        let desc = format!("link `{label}` to {how_many} `{}`", end.target);
        links.push(quote! { #field = #label as #handle: #card #target, #desc; });
    }

    let mut errors = Vec::new();
    for scope in [types_scope, fields_scope, handles_scope, setters_scope] {
        errors.extend(scope.errors);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(quote! {
        ::instant_admin::__namespace! {
            #ns mod #module, struct #row;
            attrs { #(#attrs)* }
            links { #(#links)* }
            enums { #(#enums)* }
        }
    })
}

/// The name of the enum generated for a string attribute whose type is a union of literals.
fn enum_name(ns: &str, name: &str) -> Ident {
    format_ident!("{}{}", pascal(ns), pascal(name))
}

/// Variant names for literals: PascalCase, or `V<index>` when that is taken or not a name.
fn enum_variants(literals: &[String]) -> Vec<Ident> {
    let mut used = BTreeMap::new();
    literals
        .iter()
        .enumerate()
        .map(|(i, lit)| {
            let mut v = pascal(lit);
            if used.contains_key(&v) || snake(lit).starts_with("_x") {
                v = format!("V{i}");
            }
            used.insert(v.clone(), ());
            ident(&v)
        })
        .collect()
}

fn expand_rooms(rooms: &indexmap::IndexMap<String, Room>) -> Result<TokenStream, Vec<ExpandError>> {
    let mut scope = Scope::new("room modules");
    let mut out = Vec::new();
    for (room, def) in rooms {
        scope.claim(&snake(room), room);
        let module = ident(&snake(room));
        let presence = shape_struct(
            &format_ident!("Presence"),
            &def.presence,
            &format!("Presence in a `{room}` room."),
        );
        let mut topics = Vec::new();
        let mut topic_scope = Scope::new(format!("topics of room `{room}`"));
        if let Some(t) = &def.topics {
            for (topic, entity) in t {
                topic_scope.claim(&pascal(topic), topic);
                let ty = ident(&pascal(topic));
                let doc = format!("A message on topic `{topic}` of a `{room}` room.");
                let st = shape_struct(&ty, entity, &doc);
                let name_doc = format!("The wire name of topic `{topic}`.");
                let const_name = format_ident!("TOPIC_{}", snake(topic).to_uppercase());
                topics.push(quote! {
                    #st
                    #[doc = #name_doc]
                    pub const #const_name: &::core::primitive::str = #topic;
                });
            }
        }
        scope.errors.append(&mut topic_scope.errors);
        let doc = format!("Presence and topics of room type `{room}`.");
        out.push(quote! {
            #[doc = #doc]
            pub mod #module {
                /// The room type on the wire.
                pub const ROOM_TYPE: &::core::primitive::str = #room;
                #presence
                #(#topics)*
            }
        });
    }
    if !scope.errors.is_empty() {
        return Err(scope.errors);
    }
    Ok(quote! {
        /// Room types: the shape of presence and topic messages (rooms are client-side only).
        pub mod rooms {
            #(#out)*
        }
    })
}

fn shape_struct(ty: &Ident, entity: &Entity, doc: &str) -> TokenStream {
    let fields = entity.attrs.iter().map(|(name, attr)| {
        let field = ident(&snake(name));
        let vt = match attr.value_type {
            ValueType::String => quote! { ::std::string::String },
            ValueType::Number => quote! { f64 },
            ValueType::Boolean => quote! { bool },
            ValueType::Date => quote! { ::instant_admin::typed::DateTime },
            ValueType::Json | ValueType::Any => quote! { ::instant_admin::typed::__private::serde_json::Value },
        };
        let fdoc = format!("`{name}` ({}).", describe(attr));
        let is_date = attr.value_type == ValueType::Date;
        if is_optional_field(attr) {
            let with = if is_date { quote! { , with = "::instant_admin::typed::date::option" } } else { quote! {} };
            quote! {
                #[doc = #fdoc]
                #[serde(rename = #name, default, skip_serializing_if = "::core::option::Option::is_none" #with)]
                pub #field: ::core::option::Option<#vt>,
            }
        } else {
            let with = if is_date { quote! { , with = "::instant_admin::typed::date" } } else { quote! {} };
            quote! {
                #[doc = #fdoc]
                #[serde(rename = #name #with)]
                pub #field: #vt,
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, PartialEq,
            ::instant_admin::typed::__private::serde::Serialize,
            ::instant_admin::typed::__private::serde::Deserialize)]
        #[serde(crate = "::instant_admin::typed::__private::serde")]
        pub struct #ty {
            #(#fields)*
        }
    }
}

#[cfg(test)]
mod tests {
    use super::raw_str_literal;

    #[test]
    fn raw_literals_outlast_the_quotes_and_hashes_in_their_text() {
        for text in ["{}", r##"{"a":"#b"}"##, r###"{"a":"#b","c":"##d"}"###, ""] {
            let lit = raw_str_literal(text);
            let parsed: syn::LitStr = syn::parse_str(&lit.to_string()).unwrap();
            assert_eq!(parsed.value(), text);
        }
    }
}
