//! Entity ids, lookups and transaction targets.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::marker::PhantomData;

/// The id of an entity of namespace `N`: a lowercase UUID string on the wire.
///
/// Typed ids keep a todo's id from being linked where a profile's id is expected.
pub struct Id<N> {
    uuid: String,
    marker: PhantomData<fn() -> N>,
}

impl<N> Id<N> {
    /// A new random id (UUID v4), as the official SDK's `id()`.
    pub fn new() -> Self {
        Id::from_uuid(uuid::Uuid::new_v4())
    }

    /// The id with this UUID.
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Id {
            uuid: uuid.as_hyphenated().to_string(),
            marker: PhantomData,
        }
    }

    /// Parse a UUID string (any case, hyphenated or not); `None` if it is not a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        uuid::Uuid::parse_str(s.trim()).ok().map(Id::from_uuid)
    }

    /// The id as the server sends it.
    pub fn as_str(&self) -> &str {
        &self.uuid
    }

    /// The same id, seen as an id of another namespace (for untyped code).
    pub fn cast<M>(self) -> Id<M> {
        Id {
            uuid: self.uuid,
            marker: PhantomData,
        }
    }
}

impl<N> Default for Id<N> {
    fn default() -> Self {
        Id::new()
    }
}

impl<N> Clone for Id<N> {
    fn clone(&self) -> Self {
        Id {
            uuid: self.uuid.clone(),
            marker: PhantomData,
        }
    }
}

impl<N> PartialEq for Id<N> {
    fn eq(&self, other: &Self) -> bool {
        self.uuid == other.uuid
    }
}

impl<N> Eq for Id<N> {}

impl<N> PartialOrd for Id<N> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<N> Ord for Id<N> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.uuid.cmp(&other.uuid)
    }
}

impl<N> std::hash::Hash for Id<N> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.uuid.hash(state)
    }
}

impl<N> std::fmt::Debug for Id<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Id({})", self.uuid)
    }
}

impl<N> std::fmt::Display for Id<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.uuid)
    }
}

impl<N> AsRef<str> for Id<N> {
    fn as_ref(&self) -> &str {
        &self.uuid
    }
}

impl<N> From<uuid::Uuid> for Id<N> {
    fn from(uuid: uuid::Uuid) -> Self {
        Id::from_uuid(uuid)
    }
}

impl<N> From<Id<N>> for String {
    fn from(id: Id<N>) -> String {
        id.uuid
    }
}

impl<N> Serialize for Id<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.uuid)
    }
}

impl<'de, N> Deserialize<'de> for Id<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let uuid = String::deserialize(d)?;
        Ok(Id {
            uuid,
            marker: PhantomData,
        })
    }
}

/// An entity of namespace `N` identified by a unique attribute's value instead of its id.
///
/// Build one from a unique attribute's handle: `profiles::email.lookup("a@b.c")`.
pub struct Lookup<N> {
    attr: &'static str,
    value: Value,
    marker: PhantomData<fn() -> N>,
}

impl<N> Clone for Lookup<N> {
    fn clone(&self) -> Self {
        Lookup {
            attr: self.attr,
            value: self.value.clone(),
            marker: PhantomData,
        }
    }
}

impl<N> std::fmt::Debug for Lookup<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lookup({} = {})", self.attr, self.value)
    }
}

impl<N> Lookup<N> {
    /// A lookup of `attr = value` (prefer the typed `<attr handle>.lookup(value)`).
    pub fn new(attr: &'static str, value: Value) -> Self {
        Lookup {
            attr,
            value,
            marker: PhantomData,
        }
    }

    /// As a step's entity: `[attr, value]`.
    pub fn eid_json(&self) -> Value {
        Value::Array(vec![Value::String(self.attr.into()), self.value.clone()])
    }

    /// As a link target: the encoded `lookup__<attr>__<json>` string the official SDK sends.
    pub fn link_json(&self) -> Value {
        Value::String(format!("lookup__{}__{}", self.attr, self.value))
    }
}

/// Which entity of `N` a transaction step applies to: an id or a lookup.
pub enum Target<N> {
    /// By id.
    Id(Id<N>),
    /// By a unique attribute's value.
    Lookup(Lookup<N>),
    /// By an id string that was not checked here (the server validates it).
    Raw(String),
}

impl<N> Clone for Target<N> {
    fn clone(&self) -> Self {
        match self {
            Target::Id(i) => Target::Id(i.clone()),
            Target::Lookup(l) => Target::Lookup(l.clone()),
            Target::Raw(s) => Target::Raw(s.clone()),
        }
    }
}

impl<N> std::fmt::Debug for Target<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Id(i) => i.fmt(f),
            Target::Lookup(l) => l.fmt(f),
            Target::Raw(s) => write!(f, "Raw({s})"),
        }
    }
}

impl<N> Target<N> {
    /// As a step's entity (third element of the step).
    pub fn eid_json(&self) -> Value {
        match self {
            Target::Id(i) => Value::String(i.uuid.clone()),
            Target::Lookup(l) => l.eid_json(),
            Target::Raw(s) => Value::String(s.clone()),
        }
    }

    /// As a link target (value under a label in `link`/`unlink`).
    pub fn link_json(&self) -> Value {
        match self {
            Target::Lookup(l) => l.link_json(),
            other => other.eid_json(),
        }
    }
}

/// Anything that can name an entity of `N` in a transaction: [`Id<N>`], [`Lookup<N>`], a
/// `uuid::Uuid`, or an id string.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not identify an entity of `{N}`",
    label = "expected an `Id<{N}>`, a `Lookup<{N}>`, a `uuid::Uuid` or an id string",
    note = "ids and lookups are typed by namespace: an id of one namespace cannot stand for another's"
)]
pub trait IntoTarget<N> {
    /// The target.
    fn into_target(self) -> Target<N>;
}

impl<N> IntoTarget<N> for Target<N> {
    fn into_target(self) -> Target<N> {
        self
    }
}

impl<N> IntoTarget<N> for Id<N> {
    fn into_target(self) -> Target<N> {
        Target::Id(self)
    }
}

impl<N> IntoTarget<N> for &Id<N> {
    fn into_target(self) -> Target<N> {
        Target::Id(self.clone())
    }
}

impl<N> IntoTarget<N> for Lookup<N> {
    fn into_target(self) -> Target<N> {
        Target::Lookup(self)
    }
}

impl<N> IntoTarget<N> for uuid::Uuid {
    fn into_target(self) -> Target<N> {
        Target::Id(Id::from_uuid(self))
    }
}

impl<N> IntoTarget<N> for &str {
    fn into_target(self) -> Target<N> {
        Target::Raw(self.to_string())
    }
}

impl<N> IntoTarget<N> for String {
    fn into_target(self) -> Target<N> {
        Target::Raw(self)
    }
}

impl<N> IntoTarget<N> for &String {
    fn into_target(self) -> Target<N> {
        Target::Raw(self.clone())
    }
}

impl<N> super::IntoAttr<Id<N>> for Id<N> {
    fn into_attr(self) -> Value {
        Value::String(self.uuid)
    }
}

impl<N> super::IntoAttr<Id<N>> for &Id<N> {
    fn into_attr(self) -> Value {
        Value::String(self.uuid.clone())
    }
}

impl<N> super::IntoAttr<Id<N>> for &str {
    fn into_attr(self) -> Value {
        Value::String(self.to_string())
    }
}

impl<N> super::IntoAttr<Id<N>> for String {
    fn into_attr(self) -> Value {
        Value::String(self)
    }
}

impl<N> super::IntoAttr<Id<N>> for uuid::Uuid {
    fn into_attr(self) -> Value {
        Value::String(self.as_hyphenated().to_string())
    }
}
