//! The declarative half of `include_schema!`.
//!
//! instant-codegen reads the schema, applies the naming rules and checks them, then emits one compact
//! `__namespace!` invocation per namespace: names, types and capabilities, nothing else. These
//! macros turn that description into the module of typed items, inside rustc. Keeping the repeated
//! boilerplate here makes the proc macro's output (and its time) about ten times smaller. Not part
//! of the public API: the input format may change in any release.
//!
//! Attribute handles are constants named like the attributes (`todos::title`), and a constant in
//! scope turns a binding of the same name into a pattern. So parameters, locals and generics of the
//! items written here start with `__`, which no schema name maps to, and the row's `Deserialize`
//! impl, which names its locals freely, lives in a child module where the handles are not in scope.

/// One namespace's module, re-exports, row struct, markers, handles and builders.
///
/// Input, as instant-codegen writes it:
///
/// ```text
/// "todos" mod todos, struct Todos;
/// attrs {
///     title: __p::String = "title" as title, value __p::String, req, [Comparable Likeable], "string, indexed";
///     #[serde(default, with = "__t::date::option")]
///     due_date: __p::Option<__t::DateTime> = "dueDate" as due_date, value __t::DateTime, opt clear_due_date,
///         [Comparable], "date, optional, indexed";
/// }
/// links { owner = "owner" as owner: One SysUsers, "link `owner` to one `$users`"; }
/// enums { TodosStatus = "status" { Open = "open", Done = "done" } }
/// ```
///
/// Per attribute: the row field's extra serde attributes, then `field: row type = wire name as handle`,
/// the value type, `req` / `creq` (client-required) / `opt` with the clear setter's name unless
/// required, the capability traits, and a description for the docs.
/// ```
#[doc(hidden)]
#[macro_export]
macro_rules! __namespace {
    (
        $ns:literal mod $module:ident, struct $row:ident;
        attrs {$(
            $(#[$meta:meta])*
            $field:ident: $rty:ty = $wire:literal as $handle:ident,
                value $ty:ty, $kind:ident $($clear:ident)?,
                [$($cap:ident)*], $desc:literal;
        )*}
        links {$(
            $lfield:ident = $label:literal as $lhandle:ident: $card:ident $target:ident, $ldesc:literal;
        )*}
        enums {$(
            $enum:ident = $enum_attr:literal { $($variant:ident = $lit:literal),* }
        )*}
    ) => {
        pub use self::$module::{$row $(, $enum)*};

        #[doc = concat!("Typed handles, queries and transaction builders for namespace `", $ns, "`.")]
        #[allow(non_upper_case_globals)]
        pub mod $module {
            use $crate::typed as __t;
            use $crate::typed::__private as __p;
            use $crate::typed::__private::serde as __serde;
            use $crate::typed::__private::serde_json as __json;

            /// The namespace's name on the wire.
            pub const NAME: &str = $ns;

            #[doc = concat!("One `", $ns, "` entity: its id and attributes, as a query returns them \
                (links are joined with `query().with(..)`).")]
            #[derive(Debug, Clone, PartialEq, __serde::Serialize)]
            #[serde(crate = "__serde")]
            pub struct $row {
                /// The entity's id.
                pub id: __t::Id<$row>,
                $(
                    #[doc = concat!("`", $wire, "` (", $desc, ").")]
                    #[serde(rename = $wire)]
                    $(#[$meta])*
                    pub $field: $rty,
                )*
            }

            impl __t::Namespace for $row {
                const NAME: &'static str = $ns;
            }

            impl __t::Projection for $row {
                type Namespace = $row;
                const NAMESPACE: &'static str = $ns;
                fn node() -> __json::Value {
                    __json::Value::Object(__json::Map::new())
                }
            }

            $(
                $crate::__literal_enum! { $ns $enum_attr $enum { $($variant = $lit),* } }
            )*

            /// Marker types of this namespace's attributes and links.
            #[allow(non_camel_case_types)]
            pub mod fields {
                /// The entity's id.
                pub struct id;
                $(
                    #[doc = concat!("`", $ns, ".", $wire, "` (", $desc, ").")]
                    pub struct $field;
                )*
                $(
                    #[doc = concat!("The ", $ldesc, ".")]
                    pub struct $lfield;
                )*
            }

            impl __t::Attribute for fields::id {
                type Namespace = $row;
                type Value = __t::Id<$row>;
                const NAME: &'static str = "id";
            }
            impl __t::Unique for fields::id {}
            $(
                impl __t::Attribute for fields::$field {
                    type Namespace = $row;
                    type Value = $ty;
                    const NAME: &'static str = $wire;
                }
                $(impl __t::$cap for fields::$field {})*
            )*
            $(
                impl __t::LinkLabel for fields::$lfield {
                    type From = $row;
                    type To = super::$target;
                    type Has = __t::$card;
                    const LABEL: &'static str = $label;
                }
            )*

            /// The entity's id, for conditions and lookups.
            pub const id: __t::Attr<fields::id, $row> = __t::Attr::new("id");
            $(
                #[doc = concat!("`", $wire, "` (", $desc, ").")]
                pub const $handle: __t::Attr<fields::$field, $row> = __t::Attr::new($wire);
            )*
            $(
                #[doc = concat!("The ", $ldesc, ": `query().with(..)` joins it, `.at(attr)` builds \
                    conditions through it.")]
                pub const $lhandle: __t::Link<fields::$lfield> = __t::Link::new();
            )*

            /// A query for entities of this namespace.
            pub fn query() -> __t::Select<$row> {
                __t::Select::new()
            }

            /// `update`: set attributes, creating the entity if it does not exist.
            pub fn update(__target: impl __t::IntoTarget<$row>) -> Write {
                Write(__t::Write::update(__target))
            }

            /// `update` with `upsert: false`: fails if the entity does not exist.
            pub fn update_existing(__target: impl __t::IntoTarget<$row>) -> Write {
                Write(__t::Write::update_existing(__target))
            }

            /// `merge`: deep-merge into json attributes; others are set as by `update`.
            pub fn merge(__target: impl __t::IntoTarget<$row>) -> Write {
                Write(__t::Write::merge(__target))
            }

            /// `merge` with `upsert: false`.
            pub fn merge_existing(__target: impl __t::IntoTarget<$row>) -> Write {
                Write(__t::Write::merge_existing(__target))
            }

            /// `create`: a new entity with these attributes; fails if it exists.
            pub fn create(__target: impl __t::IntoTarget<$row>, __new: New) -> Write {
                Write(__t::Write::create(__target, __new.into_attrs()))
            }

            /// `delete`: the entity, its links, and entities linked with `onDelete: 'cascade'`.
            pub fn delete(__target: impl __t::IntoTarget<$row>) -> $crate::Step {
                __t::step(__t::delete_json::<$row>(__target))
            }

            /// `link`: add links from the entity, with a typed setter per link label.
            pub fn link(__target: impl __t::IntoTarget<$row>) -> Links {
                Links(__t::LinkWrite::link(__target))
            }

            /// `unlink`: remove links from the entity.
            pub fn unlink(__target: impl __t::IntoTarget<$row>) -> Links {
                Links(__t::LinkWrite::unlink(__target))
            }

            /// An `update`, `merge` or `create` step, with a typed setter per attribute.
            #[derive(Debug, Clone)]
            #[must_use = "a step does nothing until it is passed to `transact`"]
            pub struct Write(__t::Write<$row>);

            impl Write {
                $(
                    #[doc = concat!("`", $wire, "` (", $desc, ").")]
                    pub fn $field(self, __value: impl __t::IntoAttr<$ty>) -> Self {
                        Write(self.0.set($wire, __t::IntoAttr::into_attr(__value)))
                    }
                    $(
                        #[doc = concat!("Set `", $wire, "` to null.")]
                        pub fn $clear(self) -> Self {
                            Write(self.0.set($wire, __json::Value::Null))
                        }
                    )?
                )*
            }

            impl ::core::convert::From<Write> for $crate::Step {
                fn from(__write: Write) -> Self {
                    __t::step(__write.0.to_json())
                }
            }

            impl $crate::IntoSteps for Write {
                fn push_steps(self, __out: &mut ::std::vec::Vec<$crate::Step>) {
                    __out.push(::core::convert::From::from(self));
                }
            }

            /// A `link` or `unlink` step, with a typed setter per link label.
            #[derive(Debug, Clone)]
            #[must_use = "a step does nothing until it is passed to `transact`"]
            pub struct Links(__t::LinkWrite<$row>);

            impl Links {
                $(
                    #[doc = concat!("The ", $ldesc, ": add or remove this target (call again for \
                        more).")]
                    pub fn $lfield(self, __target: impl __t::IntoTarget<super::$target>) -> Self {
                        Links(self.0.add($label, __t::IntoTarget::into_target(__target)))
                    }
                )*
            }

            impl ::core::convert::From<Links> for $crate::Step {
                fn from(__links: Links) -> Self {
                    __t::step(__links.0.to_json())
                }
            }

            impl $crate::IntoSteps for Links {
                fn push_steps(self, __out: &mut ::std::vec::Vec<$crate::Step>) {
                    __out.push(::core::convert::From::from(self));
                }
            }

            #[doc = concat!("A new `", $ns, "` entity: required attributes are required fields.")]
            #[derive(Debug, Clone, PartialEq)]
            pub struct New {
                $(
                    #[doc = concat!("`", $wire, "` (", $desc, ").")]
                    pub $field: $rty,
                )*
            }

            impl New {
                fn into_attrs(self) -> __json::Map<::std::string::String, __json::Value> {
                    #[allow(unused_mut)]
                    let mut __attrs = __json::Map::new();
                    $(
                        $crate::__new_attr!($kind, __attrs, self.$field, $wire, $ty);
                    )*
                    __attrs
                }
            }

            /// The row's `Deserialize` impl, in a module of its own so that the attribute handles
            /// (constants named like attributes) are not in scope where its locals are named.
            mod __de {
                #[allow(unused_imports)]
                use super::{__json, __p, __serde, __t, $row $(, $enum)*};
                // Written out rather than derived: serde's derive adds a field enum and a sequence
                // visitor per row type, which a large schema pays for in compile time.
                impl<'de> __serde::Deserialize<'de> for $row {
                    fn deserialize<__D: __serde::Deserializer<'de>>(
                        deserializer: __D,
                    ) -> ::core::result::Result<Self, __D::Error> {
                        struct Visitor;
                        impl<'de> __serde::de::Visitor<'de> for Visitor {
                            type Value = $row;
                            fn expecting(
                                &self,
                                f: &mut ::core::fmt::Formatter<'_>,
                            ) -> ::core::fmt::Result {
                                f.write_str(concat!("a `", $ns, "` entity"))
                            }
                            fn visit_map<__M: __serde::de::MapAccess<'de>>(
                                self,
                                mut map: __M,
                            ) -> ::core::result::Result<$row, __M::Error> {
                                // Fields of a struct rather than locals named after attributes.
                                struct Slots {
                                    id: ::core::option::Option<__t::Id<$row>>,
                                    $($field: ::core::option::Option<$rty>,)*
                                }
                                let mut slots = Slots {
                                    id: ::core::option::Option::None,
                                    $($field: ::core::option::Option::None,)*
                                };
                                while let ::core::option::Option::Some(key) =
                                    map.next_key::<__t::de::Key<'de>>()?
                                {
                                    match key.as_str() {
                                        "id" => {
                                            slots.id = ::core::option::Option::Some(map.next_value()?);
                                        }
                                        $($wire => {
                                            let wire = map.next_value::<
                                                <$rty as __t::de::RowField>::Wire
                                            >()?;
                                            slots.$field = ::core::option::Option::Some(
                                                <$rty as __t::de::RowField>::from_wire(wire),
                                            );
                                        })*
                                        _ => {
                                            map.next_value::<__serde::de::IgnoredAny>()?;
                                        }
                                    }
                                }
                                let missing = <__M::Error as __serde::de::Error>::missing_field;
                                ::core::result::Result::Ok($row {
                                    id: slots.id.ok_or_else(|| missing("id"))?,
                                    $($field: match slots.$field {
                                        ::core::option::Option::Some(value) => value,
                                        ::core::option::Option::None => {
                                            <$rty as __t::de::RowField>::missing()
                                                .ok_or_else(|| missing($wire))?
                                        }
                                    },)*
                                })
                            }
                        }
                        __serde::Deserializer::deserialize_map(deserializer, Visitor)
                    }
                }
            }
        }
    };
}

/// Put one `New` field into the attribute map: required fields always, optional ones when set.
#[doc(hidden)]
#[macro_export]
macro_rules! __new_attr {
    (opt, $attrs:ident, $value:expr, $wire:literal, $ty:ty) => {
        if let ::core::option::Option::Some(__value) = $value {
            $attrs.insert(
                $wire.into(),
                $crate::typed::IntoAttr::<$ty>::into_attr(__value),
            );
        }
    };
    ($required:ident, $attrs:ident, $value:expr, $wire:literal, $ty:ty) => {
        $attrs.insert(
            $wire.into(),
            $crate::typed::IntoAttr::<$ty>::into_attr($value),
        );
    };
}

/// The enum of a string attribute whose type parameter is a union of literals.
#[doc(hidden)]
#[macro_export]
macro_rules! __literal_enum {
    ($ns:literal $attr:literal $enum:ident { $($variant:ident = $lit:literal),* }) => {
        #[doc = concat!("The values of `", $ns, ".", $attr, "`:" $(, " `", stringify!($lit), "`")*, ".")]
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            __serde::Serialize, __serde::Deserialize,
        )]
        #[serde(crate = "__serde")]
        pub enum $enum {
            $(
                #[doc = concat!("`", stringify!($lit), "`")]
                #[serde(rename = $lit)]
                $variant,
            )*
        }

        impl $enum {
            /// Every value, in schema order.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            /// The value as stored.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($enum::$variant => $lit,)*
                }
            }
        }

        impl __t::Fits<__t::kind::String> for $enum {}

        impl __t::de::RowField for $enum {
            type Wire = $enum;
            // `__`: no attribute handle (a constant in scope here) can have that name.
            fn from_wire(__wire: $enum) -> $enum {
                __wire
            }
        }

        impl __t::IntoAttr<$enum> for $enum {
            fn into_attr(self) -> __json::Value {
                __json::Value::String(::std::string::String::from(self.as_str()))
            }
        }
    };
}
