//! The schema model: entities, attributes, links and rooms.
//!
//! Every reader of this crate produces a [`Schema`]; instant-codegen and instant-local consume it.
//! Maps keep declaration order (`IndexMap`), so generated code and listings follow the source file.

use indexmap::IndexMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A position in a source file (1-based line and column, column counted in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Loc {
    /// The file the item was read from (a schema may be spread over imported files).
    pub file: Arc<PathBuf>,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

/// A whole app schema: what `i.schema({ entities, links, rooms })` describes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// Namespaces by name, in declaration order.
    pub entities: IndexMap<String, Entity>,
    /// Links by (cosmetic) link name, in declaration order.
    pub links: IndexMap<String, Link>,
    /// Room types. `None` for a legacy `i.graph(...)` without `.withRoomSchema()`, which has no
    /// `rooms` key in its JSON form.
    pub rooms: Option<IndexMap<String, Room>>,
}

/// One namespace (`i.entity({...})`). The implicit `id` attribute is not listed in `attrs`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entity {
    /// Data attributes by name, in declaration order.
    pub attrs: IndexMap<String, Attr>,
    /// Where the entity was declared, when read from a TypeScript file.
    pub loc: Option<Loc>,
}

/// The value type of an attribute, as its constructor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `i.string()`
    String,
    /// `i.number()`
    Number,
    /// `i.boolean()`
    Boolean,
    /// `i.date()`: a millisecond timestamp or an ISO-8601 string on the wire.
    Date,
    /// `i.json()`: any JSON value.
    Json,
    /// `i.any()`: any JSON value; `"json"` in every JSON form, like [`ValueType::Json`].
    Any,
}

impl ValueType {
    /// The `valueType` written in the JSON form of a schema (`any` is written as `json`).
    pub fn json_name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Number => "number",
            ValueType::Boolean => "boolean",
            ValueType::Date => "date",
            ValueType::Json | ValueType::Any => "json",
        }
    }

    /// The type the server checks values against (`checked-data-type`), if any.
    pub fn checked_data_type(self) -> Option<&'static str> {
        match self {
            ValueType::String => Some("string"),
            ValueType::Number => Some("number"),
            ValueType::Boolean => Some("boolean"),
            ValueType::Date => Some("date"),
            ValueType::Json | ValueType::Any => None,
        }
    }
}

/// The type argument of an attribute constructor, e.g. `i.string<'todo' | 'done'>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeParam {
    /// The TypeScript text between the angle brackets, trimmed, comments removed.
    pub raw: String,
    /// When the type is a union of string literals (directly or through a local `type X = ...`
    /// alias), the closed set of values in source order.
    pub literals: Option<Vec<String>>,
}

/// One data attribute of an entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    /// The constructor's value type.
    pub value_type: ValueType,
    /// Required by the server: true unless `.optional()` or `.clientRequired()` was called.
    pub required: bool,
    /// `.clientRequired()`: typed as required, not enforced by the server (`required` is false).
    pub client_required: bool,
    /// `.unique()`
    pub unique: bool,
    /// `.indexed()`: enables comparisons and ordering.
    pub indexed: bool,
    /// The constructor's type argument, if any.
    pub type_param: Option<TypeParam>,
    /// Where the attribute was declared, when read from a TypeScript file.
    pub loc: Option<Loc>,
}

impl Attr {
    /// A required, non-unique, unindexed attribute of the given type.
    pub fn new(value_type: ValueType) -> Attr {
        Attr {
            value_type,
            required: true,
            client_required: false,
            unique: false,
            indexed: false,
            type_param: None,
            loc: None,
        }
    }
}

/// How many entities one side of a link sees on the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Has {
    /// `has: 'one'`
    One,
    /// `has: 'many'`
    Many,
}

impl Has {
    /// `"one"` or `"many"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Has::One => "one",
            Has::Many => "many",
        }
    }
}

/// A link between two namespaces, stored by the server as one `ref` attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// The side that owns the attribute (`forward`).
    pub forward: LinkSide,
    /// The other side (`reverse`).
    pub reverse: LinkSide,
    /// Where the link was declared, when read from a TypeScript file.
    pub loc: Option<Loc>,
}

/// One side of a link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSide {
    /// The namespace this side lives on.
    pub on: String,
    /// The attribute name this side adds to `on`.
    pub label: String,
    /// How many entities of the other side this side sees.
    pub has: Has,
    /// `required`, exactly as written (meaningful on the forward side only).
    pub required: Option<bool>,
    /// `onDelete: 'cascade'`: deleting the entity on the other side deletes entities on this side.
    pub on_delete_cascade: bool,
    /// Other keys written in the source (kept verbatim in the JSON form; ignored by the server).
    pub extra: IndexMap<String, serde_json::Value>,
}

/// A room type: the shape of presence and of each topic. Rooms are client-only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Room {
    /// The presence entity.
    pub presence: Entity,
    /// Topics by name; `None` when the room has no `topics` key.
    pub topics: Option<IndexMap<String, Entity>>,
}

/// One end of a link as seen from a namespace: the derived `links` map of an entity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkEnd<'a> {
    /// The label on this namespace (the attribute name used in queries).
    pub label: &'a str,
    /// The namespace on the other side.
    pub target: &'a str,
    /// The label of the other side.
    pub target_label: &'a str,
    /// How many entities of `target` this namespace sees.
    pub has: Has,
    /// Whether this namespace holds the forward side.
    pub is_forward: bool,
    /// The link's name in the schema.
    pub link_name: &'a str,
    /// The whole link.
    pub link: &'a Link,
}

impl Schema {
    /// Every link end visible from namespace `ns`, forward ends first, in declaration order.
    pub fn link_ends<'a>(&'a self, ns: &str) -> Vec<LinkEnd<'a>> {
        let mut ends = Vec::new();
        for (name, link) in &self.links {
            if link.forward.on == ns {
                ends.push(LinkEnd {
                    label: &link.forward.label,
                    target: &link.reverse.on,
                    target_label: &link.reverse.label,
                    has: link.forward.has,
                    is_forward: true,
                    link_name: name,
                    link,
                });
            }
        }
        for (name, link) in &self.links {
            if link.reverse.on == ns {
                ends.push(LinkEnd {
                    label: &link.reverse.label,
                    target: &link.forward.on,
                    target_label: &link.forward.label,
                    has: link.reverse.has,
                    is_forward: false,
                    link_name: name,
                    link,
                });
            }
        }
        ends
    }

    /// The link end labelled `label` on namespace `ns`.
    pub fn link_end<'a>(&'a self, ns: &str, label: &str) -> Option<LinkEnd<'a>> {
        self.link_ends(ns).into_iter().find(|e| e.label == label)
    }

    /// The attribute `name` of namespace `ns`.
    pub fn attr(&self, ns: &str, name: &str) -> Option<&Attr> {
        self.entities.get(ns)?.attrs.get(name)
    }
}
