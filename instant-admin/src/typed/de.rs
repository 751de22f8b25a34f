//! Serde helpers for the link fields of generated row structs.
//!
//! The server puts a has-one link's target id (a string) into every row even when the link was not
//! queried, returns a single object or `null` for a queried has-one link under `inference?: true`,
//! and an array otherwise. These helpers read all of those shapes.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

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
