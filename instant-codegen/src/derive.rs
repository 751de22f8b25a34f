//! `#[derive(Entity)]`: typed projections of an entity, checked against the schema.

use crate::naming::{did_you_mean, pascal, snake};
use instant_schema::{Has, Schema, ValueType};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use std::path::{Path, PathBuf};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, GenericArgument, LitStr, PathArguments, Type};

const CONTAINER_KEYS: &[&str] = &["entity", "schema", "module"];
const FIELD_KEYS: &[&str] = &["rename"];

struct Container {
    entity: LitStr,
    schema: Option<LitStr>,
    module: syn::Path,
}

fn parse_container(input: &DeriveInput) -> syn::Result<Container> {
    let mut entity = None;
    let mut schema = None;
    let mut module = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("instant")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            match key.as_str() {
                "entity" if entity.is_none() => entity = Some(meta.value()?.parse::<LitStr>()?),
                "schema" if schema.is_none() => schema = Some(meta.value()?.parse::<LitStr>()?),
                "module" if module.is_none() => module = Some(meta.value()?.parse::<syn::Path>()?),
                "entity" | "schema" | "module" => {
                    return Err(meta.error(format!("duplicate `{key}` in #[instant(...)]")))
                }
                _ => {
                    return Err(meta.error(format!(
                        "unknown key `{key}` in #[instant(...)]; expected one of `entity`, `schema`, `module`.{}",
                        did_you_mean(&key, CONTAINER_KEYS.iter().copied())
                    )))
                }
            }
            Ok(())
        })?;
    }
    let entity = entity.ok_or_else(|| {
        syn::Error::new(
            input.ident.span(),
            "#[derive(Entity)] needs the namespace it projects: #[instant(entity = \"todos\")]",
        )
    })?;
    let module = module.unwrap_or_else(|| syn::parse_quote!(crate::schema));
    Ok(Container {
        entity,
        schema,
        module,
    })
}

fn field_rename(field: &syn::Field) -> syn::Result<Option<LitStr>> {
    let mut rename = None;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("instant")) {
        attr.parse_nested_meta(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            if key == "rename" && rename.is_none() {
                rename = Some(meta.value()?.parse::<LitStr>()?);
                Ok(())
            } else if key == "rename" {
                Err(meta.error("duplicate `rename`"))
            } else {
                Err(meta.error(format!(
                    "unknown key `{key}` in a field's #[instant(...)]; expected `rename`.{}",
                    did_you_mean(&key, FIELD_KEYS.iter().copied())
                )))
            }
        })?;
    }
    Ok(rename)
}

/// The type argument of `Wrapper<T>` when `ty`'s last path segment is `wrapper`.
fn inner_of<'a>(ty: &'a Type, wrapper: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    if seg.ident != wrapper {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &seg.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

fn last_ident_is(ty: &Type, name: &str) -> bool {
    matches!(ty, Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == name))
}

fn kind_tokens(value_type: ValueType) -> TokenStream {
    match value_type {
        ValueType::String => quote! { ::instant_admin::typed::kind::String },
        ValueType::Number => quote! { ::instant_admin::typed::kind::Number },
        ValueType::Boolean => quote! { ::instant_admin::typed::kind::Boolean },
        ValueType::Date => quote! { ::instant_admin::typed::kind::Date },
        ValueType::Json | ValueType::Any => quote! { ::instant_admin::typed::kind::Json },
    }
}

/// Expand `#[derive(Entity)]`, reading the schema relative to `manifest_dir`.
pub fn derive_entity(input: TokenStream, manifest_dir: Option<&Path>) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(input)?;
    let container = parse_container(&input)?;
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(
            input.generics.span(),
            "#[derive(Entity)] does not support generic structs",
        ));
    }
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named.named.iter().collect::<Vec<_>>(),
            _ => {
                return Err(syn::Error::new(
                    input.ident.span(),
                    "#[derive(Entity)] needs a struct with named fields",
                ))
            }
        },
        _ => {
            return Err(syn::Error::new(
                input.ident.span(),
                "#[derive(Entity)] applies to structs only",
            ))
        }
    };

    let (schema_path, schema_span) = match &container.schema {
        Some(lit) => (lit.value(), lit.span()),
        None => ("instant.schema.ts".to_string(), input.ident.span()),
    };
    let schema = load(&schema_path, schema_span, manifest_dir)?;
    let ns = container.entity.value();
    let Some(entity) = schema.entities.get(&ns) else {
        return Err(syn::Error::new(
            container.entity.span(),
            format!(
                "the schema has no namespace `{ns}`.{}",
                did_you_mean(&ns, schema.entities.keys().map(String::as_str))
            ),
        ));
    };
    let ends = schema.link_ends(&ns);

    let ident = &input.ident;
    let module = &container.module;
    let row = syn::Ident::new(&pascal(&ns), Span::call_site());
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };

    let mut wire_fields = Vec::new();
    let mut moves = Vec::new();
    let mut checks = Vec::new();
    let mut field_names = Vec::new();
    let mut children = Vec::new();

    for field in &fields {
        let Some(fident) = &field.ident else { continue };
        let ty = &field.ty;
        let rust_name = fident.to_string();
        let rust_name = rust_name
            .strip_prefix("r#")
            .unwrap_or(&rust_name)
            .to_string();
        let rename = match field_rename(field) {
            Ok(r) => r,
            Err(e) => {
                push(e);
                continue;
            }
        };
        let wanted = rename.as_ref().map(LitStr::value);
        let name_span = rename
            .as_ref()
            .map(LitStr::span)
            .unwrap_or_else(|| fident.span());
        let matches = |wire: &str| match &wanted {
            Some(w) => w == wire,
            None => wire == rust_name || snake(wire) == rust_name,
        };
        moves.push(quote! { #fident: __wire.#fident, });

        if wanted.as_deref().map_or(rust_name == "id", |w| w == "id") {
            wire_fields.push(quote! { #[serde(rename = "id")] #fident: #ty, });
            checks.push(quote_spanned! {ty.span()=>
                ::instant_admin::typed::fits::<#ty, ::instant_admin::typed::kind::String>();
            });
            continue;
        }

        if let Some((wire, attr)) = entity.attrs.iter().find(|(w, _)| matches(w)) {
            let optional = !attr.required && !attr.client_required;
            let kind = kind_tokens(attr.value_type);
            let kind = if optional {
                quote! { ::instant_admin::typed::kind::Optional<#kind> }
            } else {
                kind
            };
            checks.push(quote_spanned! {ty.span()=>
                ::instant_admin::typed::fits::<#ty, #kind>();
            });
            let is_option = inner_of(ty, "Option").is_some();
            let date_with = if attr.value_type == ValueType::Date {
                let inner = inner_of(ty, "Option").unwrap_or(ty);
                if last_ident_is(inner, "DateTime") {
                    if is_option {
                        quote! { , with = "::instant_admin::typed::date::option" }
                    } else {
                        quote! { , with = "::instant_admin::typed::date" }
                    }
                } else {
                    quote! {}
                }
            } else {
                quote! {}
            };
            let default = if is_option {
                quote! { , default }
            } else {
                quote! {}
            };
            wire_fields.push(quote! { #[serde(rename = #wire #default #date_with)] #fident: #ty, });
            field_names.push(wire.clone());
            continue;
        }

        if let Some(end) = ends.iter().find(|e| matches(e.label)) {
            let label = end.label;
            let target = end.target;
            let (inner, helper) = if end.has == Has::One {
                match inner_of(ty, "Option") {
                    Some(inner) => match inner_of(inner, "Box") {
                        Some(boxed) => (boxed, quote! { "::instant_admin::typed::de::has_one" }),
                        None => (
                            inner,
                            quote! { "::instant_admin::typed::de::has_one_unboxed" },
                        ),
                    },
                    None => {
                        push(syn::Error::new(
                            ty.span(),
                            format!("`{label}` links to at most one `{target}`: its field must be an `Option<T>` (or `Option<Box<T>>`) where `T` projects `{target}`"),
                        ));
                        continue;
                    }
                }
            } else {
                match inner_of(ty, "Vec") {
                    Some(inner) => (inner, quote! { "::instant_admin::typed::de::has_many" }),
                    None => {
                        push(syn::Error::new(
                            ty.span(),
                            format!("`{label}` links to many `{target}`: its field must be a `Vec<T>` where `T` projects `{target}`"),
                        ));
                        continue;
                    }
                }
            };
            let helper: TokenStream = helper;
            checks.push(quote_spanned! {inner.span()=>
                const _: () = ::instant_admin::typed::assert_projection_of::<#inner>(#target);
            });
            wire_fields.push(quote! {
                #[serde(rename = #label, default, deserialize_with = #helper)] #fident: #ty,
            });
            children.push(quote! {
                __node.insert(#label.into(), <#inner as ::instant_admin::typed::Projection>::node());
            });
            continue;
        }

        let candidates: Vec<String> = entity
            .attrs
            .keys()
            .map(|k| snake(k))
            .chain(ends.iter().map(|e| snake(e.label)))
            .collect();
        let shown = wanted.clone().unwrap_or(rust_name.clone());
        push(syn::Error::new(
            name_span,
            format!(
                "namespace `{ns}` has no attribute or link `{shown}`.{}",
                did_you_mean(&shown, candidates.iter().map(String::as_str))
            ),
        ));
    }
    if let Some(e) = errors {
        return Err(e);
    }

    let ns_lit = ns.as_str();
    let wire_ident = syn::Ident::new(&format!("__{ident}Wire"), Span::call_site());
    let fields_json = if field_names.is_empty() {
        vec!["id".to_string()]
    } else {
        field_names
    };
    Ok(quote! {
        const _: () = {
            #[derive(::instant_admin::typed::__private::serde::Deserialize)]
            #[serde(crate = "::instant_admin::typed::__private::serde")]
            struct #wire_ident {
                #(#wire_fields)*
            }

            impl<'de> ::instant_admin::typed::__private::serde::Deserialize<'de> for #ident {
                fn deserialize<__D>(__d: __D) -> ::core::result::Result<Self, __D::Error>
                where
                    __D: ::instant_admin::typed::__private::serde::Deserializer<'de>,
                {
                    let __wire = <#wire_ident as ::instant_admin::typed::__private::serde::Deserialize>::deserialize(__d)?;
                    ::core::result::Result::Ok(#ident { #(#moves)* })
                }
            }

            impl ::instant_admin::typed::Projection for #ident {
                type Namespace = #module::#row;
                const NAMESPACE: &'static ::core::primitive::str = #ns_lit;
                fn node() -> ::instant_admin::typed::__private::serde_json::Value {
                    let mut __node = ::instant_admin::typed::__private::serde_json::Map::new();
                    let mut __options = ::instant_admin::typed::__private::serde_json::Map::new();
                    __options.insert(
                        "fields".into(),
                        ::instant_admin::typed::__private::serde_json::json!([#(#fields_json),*]),
                    );
                    __node.insert("$".into(), ::instant_admin::typed::__private::serde_json::Value::Object(__options));
                    #(#children)*
                    ::instant_admin::typed::__private::serde_json::Value::Object(__node)
                }
            }

            #[allow(dead_code)]
            fn __check_field_types() {
                #(#checks)*
            }
        };
    })
}

fn load(path: &str, span: Span, manifest_dir: Option<&Path>) -> syn::Result<Schema> {
    let rel = PathBuf::from(path);
    let full = if rel.is_absolute() {
        rel
    } else {
        let root = manifest_dir.ok_or_else(|| {
            syn::Error::new(span, "CARGO_MANIFEST_DIR is not set: build with cargo")
        })?;
        root.join(rel)
    };
    if !full.exists() {
        return Err(syn::Error::new(
            span,
            format!(
                "schema file not found: {} (set it with #[instant(schema = \"path/relative/to/Cargo.toml\")])",
                full.display()
            ),
        ));
    }
    let full = full.canonicalize().unwrap_or(full);
    instant_schema::read_file(&full)
        .map(|l| l.schema.with_system_namespaces())
        .map_err(|e| syn::Error::new(span, format!("cannot read the schema:\n{e}")))
}
