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

/// The Rust name of an attribute or link handle in a namespace module.
fn handle_name(wire: &str) -> String {
    let s = snake(wire);
    if MODULE_FNS.contains(&s.as_str()) || s == "NAME" {
        format!("{s}_")
    } else {
        s
    }
}

/// Generate the typed API for `schema` (system namespaces are added when missing).
///
/// `tracked` lists the files the schema was read from; the expansion `include_str!`s each of them so
/// that cargo rebuilds when one changes.
pub fn expand_schema(schema: &Schema, tracked: &[String]) -> Result<TokenStream, Vec<ExpandError>> {
    let schema = schema.with_system_namespaces();
    let mut errors = Vec::new();
    let mut root_types = Scope::new("types at the schema module's root");
    let mut modules = Scope::new("namespace modules");

    let mut items = Vec::new();
    for (ns, entity) in &schema.entities {
        root_types.claim(&pascal(ns), ns);
        modules.claim(&snake(ns), ns);
        for (name, attr) in &entity.attrs {
            if attr
                .type_param
                .as_ref()
                .and_then(|t| t.literals.as_ref())
                .is_some()
            {
                root_types.claim(
                    &format!("{}{}", pascal(ns), pascal(name)),
                    &format!("{ns}.{name}"),
                );
            }
        }
        match expand_namespace(&schema, ns, entity) {
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
        #(#tracked)*
        #(#items)*
        #rooms
    })
}

/// The Rust type of an attribute's values (without `Option`), as written inside the namespace's
/// module (where `__t` and `__json` are imported).
fn value_type(ns: &str, name: &str, attr: &Attr) -> TokenStream {
    if attr
        .type_param
        .as_ref()
        .and_then(|t| t.literals.as_ref())
        .is_some()
        && attr.value_type == ValueType::String
    {
        let e = format_ident!("{}{}", pascal(ns), pascal(name));
        return quote! { #e };
    }
    match attr.value_type {
        ValueType::String => quote! { ::std::string::String },
        ValueType::Number => quote! { f64 },
        ValueType::Boolean => quote! { bool },
        ValueType::Date => quote! { __t::DateTime },
        ValueType::Json | ValueType::Any => quote! { __json::Value },
    }
}

/// The same type as written inside the `fields` module, where only `super::` items are in scope
/// and marker structs may shadow primitive names.
fn value_type_in_fields(ns: &str, name: &str, attr: &Attr) -> TokenStream {
    if attr
        .type_param
        .as_ref()
        .and_then(|t| t.literals.as_ref())
        .is_some()
        && attr.value_type == ValueType::String
    {
        let e = format_ident!("{}{}", pascal(ns), pascal(name));
        return quote! { super::#e };
    }
    match attr.value_type {
        ValueType::String => quote! { ::std::string::String },
        ValueType::Number => quote! { ::core::primitive::f64 },
        ValueType::Boolean => quote! { ::core::primitive::bool },
        ValueType::Date => quote! { super::__t::DateTime },
        ValueType::Json | ValueType::Any => quote! { super::__json::Value },
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

fn expand_namespace(
    schema: &Schema,
    ns: &str,
    entity: &Entity,
) -> Result<TokenStream, Vec<ExpandError>> {
    let row = ident(&pascal(ns));
    let module = ident(&snake(ns));
    let mut fields_scope = Scope::new(format!("fields of `{ns}`"));
    let mut handles_scope = Scope::new(format!("handles in module `{}`", snake(ns)));
    let mut setters_scope = Scope::new(format!("setters of `{}::Write`", snake(ns)));
    fields_scope.claim("id", "id");
    handles_scope.claim("id", "id");

    let attrs: Vec<(&String, &Attr)> = entity
        .attrs
        .iter()
        .filter(|(n, _)| n.as_str() != "id")
        .collect();
    let ends = schema.link_ends(ns);

    let mut row_fields = Vec::new();
    let mut enums = Vec::new();
    let mut enum_names = Vec::new();
    let mut markers = Vec::new();
    let mut handles = Vec::new();
    let mut setters = Vec::new();
    let mut new_fields = Vec::new();
    let mut new_inserts = Vec::new();
    let mut link_setters = Vec::new();

    for (name, attr) in &attrs {
        let name = name.as_str();
        let field = ident(&snake(name));
        let handle = ident(&handle_name(name));
        fields_scope.claim(&snake(name), name);
        handles_scope.claim(&handle_name(name), name);
        setters_scope.claim(&snake(name), name);
        let ty = value_type(ns, name, attr);
        let ty_in_fields = value_type_in_fields(ns, name, attr);
        let described = describe(attr);
        let doc = format!("`{name}` ({described}).");
        let optional = is_optional_field(attr);
        let is_date = attr.value_type == ValueType::Date;

        // Row field: serde attributes only where needed.
        let mut serde_args = Vec::new();
        if field != name {
            serde_args.push(quote! { rename = #name });
        }
        if optional {
            serde_args.push(quote! { default });
        }
        if is_date {
            let with = if optional {
                "__t::date::option"
            } else {
                "__t::date"
            };
            serde_args.push(quote! { with = #with });
        }
        let serde_attr = if serde_args.is_empty() {
            quote! {}
        } else {
            quote! { #[serde(#(#serde_args),*)] }
        };
        let field_ty = if optional {
            quote! { ::core::option::Option<#ty> }
        } else {
            quote! { #ty }
        };
        row_fields.push(quote! {
            #[doc = #doc]
            #serde_attr
            pub #field: #field_ty,
        });

        // Enum for a string-literal union.
        if let Some(lits) = attr.type_param.as_ref().and_then(|t| t.literals.as_ref()) {
            if attr.value_type == ValueType::String {
                enums.push(expand_enum(ns, name, lits));
                enum_names.push(format_ident!("{}{}", pascal(ns), pascal(name)));
            }
        }

        // Marker type and its capabilities.
        let marker_doc = format!("`{ns}.{name}` ({described}).");
        let checked = attr.value_type.checked_data_type().is_some();
        let comparable = attr.indexed && checked;
        let likeable = attr.indexed && attr.value_type == ValueType::String;
        let mut caps = Vec::new();
        if comparable {
            caps.push(quote! { impl super::__t::Comparable for #field {} });
        }
        if likeable {
            caps.push(quote! { impl super::__t::Likeable for #field {} });
        }
        if attr.unique {
            caps.push(quote! { impl super::__t::Unique for #field {} });
        }
        markers.push(quote! {
            #[doc = #marker_doc]
            pub struct #field;
            impl super::__t::Attribute for #field {
                type Namespace = super::#row;
                type Value = #ty_in_fields;
                const NAME: &'static ::core::primitive::str = #name;
            }
            #(#caps)*
        });
        handles.push(quote! {
            #[doc = #doc]
            pub const #handle: __t::Attr<fields::#field, #row> = __t::Attr::new(#name);
        });

        // Typed setters on Write.
        setters.push(quote! {
            #[doc = #doc]
            pub fn #field(self, value: impl __t::IntoAttr<#ty>) -> Self {
                Write(self.0.set(#name, __t::IntoAttr::into_attr(value)))
            }
        });
        if !attr.required {
            let clear = format_ident!("clear_{}", snake(name));
            setters_scope.claim(&clear.to_string(), &format!("clear of {name}"));
            let clear_doc = format!("Set `{name}` to null.");
            setters.push(quote! {
                #[doc = #clear_doc]
                pub fn #clear(self) -> Self {
                    Write(self.0.set(#name, __json::Value::Null))
                }
            });
        }

        // `New` fields: required attributes are required fields.
        if attr.required || attr.client_required {
            new_fields.push(quote! { #[doc = #doc] pub #field: #ty, });
            new_inserts.push(quote! {
                attrs.insert(#name.into(), __t::IntoAttr::<#ty>::into_attr(self.#field));
            });
        } else {
            new_fields.push(quote! { #[doc = #doc] pub #field: ::core::option::Option<#ty>, });
            new_inserts.push(quote! {
                if let ::core::option::Option::Some(value) = self.#field {
                    attrs.insert(#name.into(), __t::IntoAttr::<#ty>::into_attr(value));
                }
            });
        }
    }

    // Links.
    for end in &ends {
        let label = end.label;
        let field = ident(&snake(label));
        let handle = ident(&handle_name(label));
        fields_scope.claim(&snake(label), label);
        handles_scope.claim(&handle_name(label), label);
        let target_row = ident(&pascal(end.target));
        let has_one = end.has == Has::One;
        let desc = format!(
            "link `{label}` to {} `{}`",
            if has_one { "one" } else { "many" },
            end.target
        );
        let cardinality = if has_one {
            format_ident!("One")
        } else {
            format_ident!("Many")
        };
        let marker_doc = format!("The {desc}.");
        markers.push(quote! {
            #[doc = #marker_doc]
            pub struct #field;
            impl super::__t::LinkLabel for #field {
                type From = super::#row;
                type To = super::super::#target_row;
                type Has = super::__t::#cardinality;
                const LABEL: &'static ::core::primitive::str = #label;
                const HAS_ONE: ::core::primitive::bool = #has_one;
            }
        });
        let handle_doc = format!(
            "The {desc}: `query().with(..)` joins it (as {}), `.at(attr)` builds conditions through it.",
            if has_one { "an `Option`" } else { "a `Vec`" }
        );
        handles.push(quote! {
            #[doc = #handle_doc]
            pub const #handle: __t::Link<fields::#field> = __t::Link::new();
        });
        let link_doc = format!("The {desc}: add or remove this target (call again for more).");
        link_setters.push(quote! {
            #[doc = #link_doc]
            pub fn #field(self, target: impl __t::IntoTarget<super::#target_row>) -> Self {
                Links(self.0.add(#label, __t::IntoTarget::into_target(target)))
            }
        });
    }

    let mut errors = Vec::new();
    errors.append(&mut fields_scope.errors);
    errors.append(&mut handles_scope.errors);
    errors.append(&mut setters_scope.errors);
    if !errors.is_empty() {
        return Err(errors);
    }

    let row_doc = format!("One `{ns}` entity: its id and attributes, as a query returns them (links are joined with `query().with(..)`).");
    let mod_doc = format!("Typed handles, queries and transaction builders for namespace `{ns}`.");
    let new_doc = format!("A new `{ns}` entity: required attributes are required fields.");
    Ok(quote! {
        pub use self::#module::#row;
        #(pub use self::#module::#enum_names;)*

        #[doc = #mod_doc]
        #[allow(non_upper_case_globals)]
        pub mod #module {
            use ::instant_admin::typed as __t;
            use ::instant_admin::typed::__private::serde as __serde;
            use ::instant_admin::typed::__private::serde_json as __json;

            /// The namespace's name on the wire.
            pub const NAME: &str = #ns;

            #[doc = #row_doc]
            #[derive(Debug, Clone, PartialEq, __serde::Serialize, __serde::Deserialize)]
            #[serde(crate = "__serde")]
            pub struct #row {
                /// The entity's id.
                pub id: __t::Id<#row>,
                #(#row_fields)*
            }

            impl __t::Namespace for #row {
                const NAME: &'static str = #ns;
            }

            impl __t::Projection for #row {
                type Namespace = #row;
                const NAMESPACE: &'static str = #ns;
                fn node() -> __json::Value {
                    __json::Value::Object(__json::Map::new())
                }
            }

            #(#enums)*

            /// Marker types of this namespace's attributes and links.
            #[allow(non_camel_case_types)]
            pub mod fields {
                /// The entity's id.
                pub struct id;
                impl super::__t::Attribute for id {
                    type Namespace = super::#row;
                    type Value = super::__t::Id<super::#row>;
                    const NAME: &'static ::core::primitive::str = "id";
                }
                impl super::__t::Unique for id {}
                #(#markers)*
            }

            /// The entity's id, for conditions and lookups.
            pub const id: __t::Attr<fields::id, #row> = __t::Attr::new("id");
            #(#handles)*

            /// A query for entities of this namespace.
            pub fn query() -> __t::Select<#row> {
                __t::Select::new()
            }

            /// `update`: set attributes, creating the entity if it does not exist.
            pub fn update(target: impl __t::IntoTarget<#row>) -> Write {
                Write(__t::Write::update(target))
            }

            /// `update` with `upsert: false`: fails if the entity does not exist.
            pub fn update_existing(target: impl __t::IntoTarget<#row>) -> Write {
                Write(__t::Write::update_existing(target))
            }

            /// `merge`: deep-merge into json attributes; others are set as by `update`.
            pub fn merge(target: impl __t::IntoTarget<#row>) -> Write {
                Write(__t::Write::merge(target))
            }

            /// `merge` with `upsert: false`.
            pub fn merge_existing(target: impl __t::IntoTarget<#row>) -> Write {
                Write(__t::Write::merge_existing(target))
            }

            /// `create`: a new entity with these attributes; fails if it exists.
            pub fn create(target: impl __t::IntoTarget<#row>, new: New) -> Write {
                Write(__t::Write::create(target, new.into_attrs()))
            }

            /// `delete`: the entity, its links, and entities linked with `onDelete: 'cascade'`.
            pub fn delete(target: impl __t::IntoTarget<#row>) -> ::instant_admin::Step {
                __t::step(__t::delete_json::<#row>(target))
            }

            /// `link`: add links from the entity, with a typed setter per link label.
            pub fn link(target: impl __t::IntoTarget<#row>) -> Links {
                Links(__t::LinkWrite::link(target))
            }

            /// `unlink`: remove links from the entity.
            pub fn unlink(target: impl __t::IntoTarget<#row>) -> Links {
                Links(__t::LinkWrite::unlink(target))
            }

            /// An `update`, `merge` or `create` step, with a typed setter per attribute.
            #[derive(Debug, Clone)]
            #[must_use = "a step does nothing until it is passed to `transact`"]
            pub struct Write(__t::Write<#row>);

            impl Write {
                #(#setters)*
            }

            impl ::core::convert::From<Write> for ::instant_admin::Step {
                fn from(w: Write) -> Self {
                    __t::step(w.0.to_json())
                }
            }

            impl ::instant_admin::IntoSteps for Write {
                fn push_steps(self, out: &mut ::std::vec::Vec<::instant_admin::Step>) {
                    out.push(::core::convert::From::from(self));
                }
            }

            /// A `link` or `unlink` step, with a typed setter per link label.
            #[derive(Debug, Clone)]
            #[must_use = "a step does nothing until it is passed to `transact`"]
            pub struct Links(__t::LinkWrite<#row>);

            impl Links {
                #(#link_setters)*
            }

            impl ::core::convert::From<Links> for ::instant_admin::Step {
                fn from(l: Links) -> Self {
                    __t::step(l.0.to_json())
                }
            }

            impl ::instant_admin::IntoSteps for Links {
                fn push_steps(self, out: &mut ::std::vec::Vec<::instant_admin::Step>) {
                    out.push(::core::convert::From::from(self));
                }
            }

            #[doc = #new_doc]
            #[derive(Debug, Clone, PartialEq)]
            pub struct New {
                #(#new_fields)*
            }

            impl New {
                fn into_attrs(self) -> __json::Map<::std::string::String, __json::Value> {
                    #[allow(unused_mut)]
                    let mut attrs = __json::Map::new();
                    #(#new_inserts)*
                    attrs
                }
            }
        }
    })
}

fn expand_enum(ns: &str, name: &str, literals: &[String]) -> TokenStream {
    let ty = format_ident!("{}{}", pascal(ns), pascal(name));
    let mut used = BTreeMap::new();
    let variants: Vec<Ident> = literals
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
        .collect();
    let doc = format!(
        "The values of `{ns}.{name}`: {}.",
        literals
            .iter()
            .map(|l| format!("`{l:?}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let variant_docs: Vec<String> = literals.iter().map(|l| format!("`{l:?}`")).collect();
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, __serde::Serialize, __serde::Deserialize)]
        #[serde(crate = "__serde")]
        pub enum #ty {
            #(
                #[doc = #variant_docs]
                #[serde(rename = #literals)]
                #variants,
            )*
        }

        impl #ty {
            /// Every value, in schema order.
            pub const ALL: &'static [#ty] = &[#(#ty::#variants),*];

            /// The value as stored.
            pub fn as_str(&self) -> &'static str {
                match self {
                    #(#ty::#variants => #literals,)*
                }
            }
        }

        impl __t::Fits<__t::kind::String> for #ty {}

        impl __t::IntoAttr<#ty> for #ty {
            fn into_attr(self) -> __json::Value {
                __json::Value::String(::std::string::String::from(self.as_str()))
            }
        }
    }
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
