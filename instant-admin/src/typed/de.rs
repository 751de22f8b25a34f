//! Serde helpers for generated row structs and projections.
//!
//! [`RowField`] and [`Key`] let the `Deserialize` impl that `include_schema!` writes for each row
//! struct stay small (one `match` on the key per row type, no per-type field enum).
//!
//! For link fields: the server puts a has-one link's target id (a string) into every row even when
//! the link was not queried, returns a single object or `null` for a queried has-one link under
//! `inference?: true`, and an array otherwise. [`has_one`] and [`has_many`] read all of those shapes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::borrow::Cow;

/// The type of a row struct's attribute field: how it is read from the wire, and whether it may be
/// missing (only `Option<T>` may: a missing optional attribute is `None`).
pub trait RowField: Sized {
    /// What the wire value deserializes into.
    type Wire: DeserializeOwned;
    /// The field from the wire value.
    fn from_wire(wire: Self::Wire) -> Self;
    /// The field's value when the key is absent, or `None` when it is required.
    fn missing() -> Option<Self> {
        None
    }
}

macro_rules! row_field_as_is {
    ($($t:ty),*) => {$(
        impl RowField for $t {
            type Wire = $t;
            fn from_wire(wire: $t) -> $t {
                wire
            }
        }
    )*};
}

row_field_as_is!(String, f64, bool, Value);

impl<T: RowField> RowField for Option<T> {
    type Wire = Option<T::Wire>;
    fn from_wire(wire: Option<T::Wire>) -> Self {
        wire.map(T::from_wire)
    }
    fn missing() -> Option<Self> {
        Some(None)
    }
}

/// A date attribute's wire value: a ms timestamp or an ISO-8601 string.
#[cfg(any(feature = "chrono", feature = "time"))]
pub struct WireDate(super::DateTime);

#[cfg(any(feature = "chrono", feature = "time"))]
impl<'de> Deserialize<'de> for WireDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::date::deserialize(d).map(WireDate)
    }
}

#[cfg(any(feature = "chrono", feature = "time"))]
impl RowField for super::DateTime {
    type Wire = WireDate;
    fn from_wire(wire: WireDate) -> Self {
        wire.0
    }
}

/// A key of a JSON object, borrowed from the input when it has no escapes.
pub struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// `deserialize_with` for a has-one link field (`Option<Box<T>>`): an object is `Some`; `null`, a
/// bare id string (link not queried) or an empty array is `None`; an array gives its first element.
pub fn has_one<'de, D, T>(d: D) -> Result<Option<Box<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    let obj = match v {
        Value::Object(_) => v,
        Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
        _ => return Ok(None),
    };
    serde_json::from_value(obj)
        .map(|t| Some(Box::new(t)))
        .map_err(serde::de::Error::custom)
}

/// `deserialize_with` for a has-one link field declared as `Option<T>` (no box), as in projections.
pub fn has_one_unboxed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    has_one(d).map(|o| o.map(|b| *b))
}

/// `deserialize_with` for a has-many link field (`Vec<T>`): an array; a single object becomes a
/// one-element list; `null` or a bare id string (not queried) is empty.
pub fn has_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    let items = match v {
        Value::Array(items) => items,
        Value::Object(_) => vec![v],
        _ => return Ok(Vec::new()),
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).map_err(serde::de::Error::custom))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Owner {
        id: String,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Row {
        #[serde(default, deserialize_with = "has_one")]
        owner: Option<Box<Owner>>,
        #[serde(default, deserialize_with = "has_many")]
        tags: Vec<Owner>,
    }

    #[test]
    fn link_shapes_decode() {
        let r: Row = serde_json::from_value(json!({"owner": "some-id"})).unwrap();
        assert_eq!(
            r,
            Row {
                owner: None,
                tags: vec![]
            }
        );
        let r: Row =
            serde_json::from_value(json!({"owner": {"id": "a"}, "tags": [{"id": "b"}]})).unwrap();
        assert_eq!(r.owner.map(|o| o.id), Some("a".to_string()));
        assert_eq!(r.tags, vec![Owner { id: "b".into() }]);
        let r: Row =
            serde_json::from_value(json!({"owner": [{"id": "a"}], "tags": {"id": "c"}})).unwrap();
        assert_eq!(r.owner.map(|o| o.id), Some("a".to_string()));
        assert_eq!(r.tags.len(), 1);
        let r: Row = serde_json::from_value(json!({"owner": null, "tags": null})).unwrap();
        assert_eq!(
            r,
            Row {
                owner: None,
                tags: vec![]
            }
        );
        assert!(serde_json::from_value::<Row>(json!({"owner": {"id": 3}})).is_err());
    }
}
