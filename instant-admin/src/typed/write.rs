//! Typed transaction builders: the generic state behind each namespace's generated `Write` and
//! `LinkWrite` types.

use super::{IntoTarget, Namespace, Target};
use serde_json::{Map, Value};

/// An `update` or `merge` step on one entity of `N`, filled by generated typed setters.
pub struct Write<N> {
    action: &'static str,
    target: Target<N>,
    attrs: Map<String, Value>,
    upsert: Option<bool>,
}

impl<N> Clone for Write<N> {
    fn clone(&self) -> Self {
        Write {
            action: self.action,
            target: self.target.clone(),
            attrs: self.attrs.clone(),
            upsert: self.upsert,
        }
    }
}

impl<N> std::fmt::Debug for Write<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write")
            .field("action", &self.action)
            .field("target", &self.target)
            .field("attrs", &self.attrs)
            .field("upsert", &self.upsert)
            .finish()
    }
}

impl<N: Namespace> Write<N> {
    /// `update`: set attributes, creating the entity if it does not exist.
    pub fn update(target: impl IntoTarget<N>) -> Self {
        Write::new("update", target.into_target(), None)
    }

    /// `update` with `upsert: false`: fails if the entity does not exist.
    pub fn update_existing(target: impl IntoTarget<N>) -> Self {
        Write::new("update", target.into_target(), Some(false))
    }

    /// `merge`: deep-merge object values into json attributes (a `null` deletes a key).
    pub fn merge(target: impl IntoTarget<N>) -> Self {
        Write::new("merge", target.into_target(), None)
    }

    /// `merge` with `upsert: false`.
    pub fn merge_existing(target: impl IntoTarget<N>) -> Self {
        Write::new("merge", target.into_target(), Some(false))
    }

    /// `create` with these attribute values: fails if the entity already exists.
    pub fn create(target: impl IntoTarget<N>, attrs: Map<String, Value>) -> Self {
        Write {
            action: "create",
            target: target.into_target(),
            attrs,
            upsert: None,
        }
    }

    fn new(action: &'static str, target: Target<N>, upsert: Option<bool>) -> Self {
        Write {
            action,
            target,
            attrs: Map::new(),
            upsert,
        }
    }

    /// Set attribute `name` to an already-encoded value (used by generated setters).
    pub fn set(mut self, name: &str, value: Value) -> Self {
        self.attrs.insert(name.to_string(), value);
        self
    }

    /// The step as sent on the wire: `[action, namespace, eid, attrs]` plus `{"upsert": ..}` if set.
    pub fn to_json(&self) -> Value {
        let mut step = vec![
            Value::String(self.action.into()),
            Value::String(N::NAME.into()),
            self.target.eid_json(),
            Value::Object(self.attrs.clone()),
        ];
        if let Some(upsert) = self.upsert {
            let mut opts = Map::new();
            opts.insert("upsert".into(), Value::Bool(upsert));
            step.push(Value::Object(opts));
        }
        Value::Array(step)
    }
}

/// A `link` or `unlink` step on one entity of `N`, filled by generated typed link setters.
pub struct LinkWrite<N> {
    action: &'static str,
    target: Target<N>,
    links: Map<String, Value>,
}

impl<N> Clone for LinkWrite<N> {
    fn clone(&self) -> Self {
        LinkWrite {
            action: self.action,
            target: self.target.clone(),
            links: self.links.clone(),
        }
    }
}

impl<N> std::fmt::Debug for LinkWrite<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkWrite")
            .field("action", &self.action)
            .field("target", &self.target)
            .field("links", &self.links)
            .finish()
    }
}

impl<N: Namespace> LinkWrite<N> {
    /// `link`: add links from this entity.
    pub fn link(target: impl IntoTarget<N>) -> Self {
        LinkWrite {
            action: "link",
            target: target.into_target(),
            links: Map::new(),
        }
    }

    /// `unlink`: remove links from this entity.
    pub fn unlink(target: impl IntoTarget<N>) -> Self {
        LinkWrite {
            action: "unlink",
            target: target.into_target(),
            links: Map::new(),
        }
    }

    /// Add `to` under `label`; a label given several targets sends them as a list.
    pub fn add<M>(mut self, label: &str, to: Target<M>) -> Self {
        let value = to.link_json();
        match self.links.get_mut(label) {
            None => {
                self.links.insert(label.to_string(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
        self
    }

    /// The step as sent on the wire: `[action, namespace, eid, {label: target(s)}]`.
    pub fn to_json(&self) -> Value {
        Value::Array(vec![
            Value::String(self.action.into()),
            Value::String(N::NAME.into()),
            self.target.eid_json(),
            Value::Object(self.links.clone()),
        ])
    }
}

/// A `delete` step: `["delete", namespace, eid, null]`.
pub fn delete_json<N: Namespace>(target: impl IntoTarget<N>) -> Value {
    Value::Array(vec![
        Value::String("delete".into()),
        Value::String(N::NAME.into()),
        target.into_target().eid_json(),
        Value::Null,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed::{Id, Lookup};
    use serde_json::json;

    struct Todos;
    impl Namespace for Todos {
        const NAME: &'static str = "todos";
    }

    #[test]
    fn steps_encode_like_the_official_sdk() {
        let id = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";
        let w = Write::<Todos>::update(id).set("title", json!("a"));
        assert_eq!(w.to_json(), json!(["update", "todos", id, {"title": "a"}]));
        let w = Write::<Todos>::merge_existing(id).set("meta", json!({"a": null}));
        assert_eq!(
            w.to_json(),
            json!(["merge", "todos", id, {"meta": {"a": null}}, {"upsert": false}])
        );
        let other = Id::<Todos>::parse(id).unwrap();
        let l = LinkWrite::<Todos>::link(Lookup::new("slug", json!("x")))
            .add("tags", Target::<Todos>::Id(other.clone()))
            .add(
                "tags",
                Target::<Todos>::Lookup(Lookup::new("slug", json!("y"))),
            )
            .add("owner", Target::<Todos>::Id(other));
        assert_eq!(
            l.to_json(),
            json!(["link", "todos", ["slug", "x"], {
                "tags": [id, "lookup__slug__\"y\""], "owner": id}])
        );
        assert_eq!(
            delete_json::<Todos>(id),
            json!(["delete", "todos", id, null])
        );
    }
}
