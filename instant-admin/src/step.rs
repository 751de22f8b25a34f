//! Transaction steps as they go on the wire, lookups, and [`IntoSteps`].

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::Error;

/// A lookup: a unique attribute and its value, usable instead of an entity id.
///
/// In entity position (the `eid` of a step) it is sent as `[attr, value]`, exactly as the official
/// builder does for `tx.users[lookup('email', …)]`. In link position (a value inside `link`/`unlink`
/// args) it is sent as the encoded string `lookup__<attr>__<JSON value>`, as `lookup()` produces.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    attr: String,
    value: Value,
}

impl Lookup {
    /// A lookup of `attr` (a unique attribute, or `"<link>.id"`) equal to `value`.
    pub fn new(attr: impl Into<String>, value: impl Into<Value>) -> Lookup {
        Lookup {
            attr: attr.into(),
            value: value.into(),
        }
    }

    /// The attribute name.
    pub fn attr(&self) -> &str {
        &self.attr
    }

    /// The looked-up value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The string form used in link position: `lookup__<attr>__<compact JSON>`.
    pub fn encode(&self) -> String {
        format!("lookup__{}__{}", self.attr, self.value)
    }

    /// Parses the string form produced by [`Lookup::encode`] (or the official `lookup()`).
    pub fn parse(s: &str) -> Option<Lookup> {
        let rest = s.strip_prefix("lookup__")?;
        let (attr, json) = rest.split_once("__")?;
        let value: Value = serde_json::from_str(json).ok()?;
        Some(Lookup::new(attr, value))
    }
}

/// Serializes as the link-position string, so `json!({"owner": Lookup::new(..)})` works.
impl Serialize for Lookup {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl From<Lookup> for Value {
    /// The link-position form: the encoded string.
    fn from(l: Lookup) -> Value {
        Value::String(l.encode())
    }
}

/// The entity a step applies to: an id or a lookup.
#[derive(Debug, Clone, PartialEq)]
pub enum EntityId {
    /// An entity id (a UUID string).
    Id(String),
    /// A lookup by a unique attribute.
    Lookup(Lookup),
}

impl EntityId {
    fn into_value(self) -> Value {
        match self {
            EntityId::Id(s) => match Lookup::parse(&s) {
                // The official builder parses encoded lookup strings used as ids.
                Some(l) => json!([l.attr, l.value]),
                None => Value::String(s),
            },
            EntityId::Lookup(l) => Value::Array(vec![Value::String(l.attr), l.value]),
        }
    }
}

impl From<&str> for EntityId {
    fn from(s: &str) -> EntityId {
        EntityId::Id(s.to_owned())
    }
}
impl From<String> for EntityId {
    fn from(s: String) -> EntityId {
        EntityId::Id(s)
    }
}
impl From<&String> for EntityId {
    fn from(s: &String) -> EntityId {
        EntityId::Id(s.clone())
    }
}
impl From<uuid::Uuid> for EntityId {
    fn from(u: uuid::Uuid) -> EntityId {
        EntityId::Id(u.hyphenated().to_string())
    }
}
impl From<Lookup> for EntityId {
    fn from(l: Lookup) -> EntityId {
        EntityId::Lookup(l)
    }
}

/// The action names the server knows.
pub mod action {
    /// Set attributes, creating the entity if needed.
    pub const UPDATE: &str = "update";
    /// Deep-merge JSON attributes.
    pub const MERGE: &str = "merge";
    /// Strict insert.
    pub const CREATE: &str = "create";
    /// Delete an entity and its links.
    pub const DELETE: &str = "delete";
    /// Add links.
    pub const LINK: &str = "link";
    /// Remove links.
    pub const UNLINK: &str = "unlink";
    /// Rule params for the checks on an entity.
    pub const RULE_PARAMS: &str = "ruleParams";
    /// Add an attribute (schema change).
    pub const ADD_ATTR: &str = "add-attr";
    /// Soft-delete an attribute (schema change).
    pub const DELETE_ATTR: &str = "delete-attr";
}

/// One transaction step as sent on the wire, e.g. `["update", "todos", id, {...}, {"upsert": true}]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Step(Value);

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Step {
    fn entity(
        action: &str,
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        args: Value,
    ) -> Step {
        Step(Value::Array(vec![
            Value::String(action.to_owned()),
            Value::String(etype.into()),
            eid.into().into_value(),
            args,
        ]))
    }

    /// `["update", etype, eid, attrs]`: set attributes; creates the entity if missing (upsert).
    pub fn update(
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        attrs: impl Into<Value>,
    ) -> Step {
        Step::entity(action::UPDATE, etype, eid, attrs.into())
    }

    /// `["merge", etype, eid, attrs]`: deep-merge JSON values into the existing ones.
    pub fn merge(
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        attrs: impl Into<Value>,
    ) -> Step {
        Step::entity(action::MERGE, etype, eid, attrs.into())
    }

    /// `["create", etype, eid, attrs]`: strict insert; fails if the entity exists.
    pub fn create(
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        attrs: impl Into<Value>,
    ) -> Step {
        Step::entity(action::CREATE, etype, eid, attrs.into())
    }

    /// `["delete", etype, eid, null]`: delete the entity and all its links.
    pub fn delete(etype: impl Into<String>, eid: impl Into<EntityId>) -> Step {
        Step::entity(action::DELETE, etype, eid, Value::Null)
    }

    /// `["link", etype, eid, {label: target | [targets]}]`. Targets are ids, [`Lookup`]s (converted
    /// with `Value::from(lookup)`) or one-key objects.
    pub fn link(
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        links: impl Into<Value>,
    ) -> Step {
        Step::entity(action::LINK, etype, eid, links.into())
    }

    /// `["unlink", etype, eid, {label: target | [targets]}]`.
    pub fn unlink(
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        links: impl Into<Value>,
    ) -> Step {
        Step::entity(action::UNLINK, etype, eid, links.into())
    }

    /// `["ruleParams", etype, eid, params]`: rule params for the permission checks on that entity.
    pub fn rule_params(
        etype: impl Into<String>,
        eid: impl Into<EntityId>,
        params: impl Into<Value>,
    ) -> Step {
        Step::entity(action::RULE_PARAMS, etype, eid, params.into())
    }

    /// `["add-attr", attr]`: add an attribute (`{"id", "forward-identity", "value-type", ...}`).
    pub fn add_attr(attr: impl Into<Value>) -> Step {
        Step(Value::Array(vec![
            Value::String(action::ADD_ATTR.to_owned()),
            attr.into(),
        ]))
    }

    /// `["delete-attr", attr_id]`: soft-delete an attribute.
    pub fn delete_attr(attr_id: impl Into<String>) -> Step {
        Step(Value::Array(vec![
            Value::String(action::DELETE_ATTR.to_owned()),
            Value::String(attr_id.into()),
        ]))
    }

    /// Sets the `upsert` option (the fifth element, `{"upsert": b}`). `upsert(false)` makes an
    /// `update`/`merge` fail when the entity does not exist. No effect on other actions (the server
    /// rejects options on them).
    pub fn upsert(mut self, upsert: bool) -> Step {
        let is_update = matches!(self.action(), Some(action::UPDATE | action::MERGE));
        if let (true, Value::Array(a)) = (is_update, &mut self.0) {
            let mut opts = Map::new();
            opts.insert("upsert".to_owned(), Value::Bool(upsert));
            a.truncate(4);
            a.push(Value::Object(opts));
        }
        self
    }

    /// Checks and wraps a step given as JSON: an array whose first element is the action name; for
    /// entity actions at least `[action, etype, eid]` with a string etype.
    pub fn from_value(v: Value) -> Result<Step, Error> {
        let Value::Array(a) = &v else {
            return Err(Error::InvalidInput(format!(
                "a step must be an array, got {}",
                short(&v)
            )));
        };
        let Some(Value::String(act)) = a.first() else {
            return Err(Error::InvalidInput(format!(
                "a step must start with its action name: {}",
                short(&v)
            )));
        };
        match act.as_str() {
            action::ADD_ATTR | action::DELETE_ATTR | "update-attr" => {
                if a.len() < 2 {
                    return Err(Error::InvalidInput(format!("{act} needs an argument")));
                }
            }
            _ => {
                if a.len() < 3 {
                    return Err(Error::InvalidInput(format!(
                        "step `{act}` needs [action, etype, eid, args]"
                    )));
                }
                if !matches!(a.get(1), Some(Value::String(_))) {
                    return Err(Error::InvalidInput(format!(
                        "step `{act}`: the etype must be a string"
                    )));
                }
            }
        }
        Ok(Step(v))
    }

    /// Wraps any JSON value as a step without checking it (the server validates).
    pub fn raw(v: Value) -> Step {
        Step(v)
    }

    /// The action name, e.g. `"update"`, if the step has one.
    pub fn action(&self) -> Option<&str> {
        self.0
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
    }

    /// The entity type, for entity actions.
    pub fn etype(&self) -> Option<&str> {
        self.0
            .as_array()
            .and_then(|a| a.get(1))
            .and_then(Value::as_str)
    }

    /// Whether sending this step twice leaves the same state as sending it once: true for
    /// update, merge, delete, link, unlink and ruleParams; false for create (the second one fails
    /// after the first succeeded), schema changes and anything unknown.
    pub fn is_idempotent(&self) -> bool {
        matches!(
            self.action(),
            Some(
                action::UPDATE
                    | action::MERGE
                    | action::DELETE
                    | action::LINK
                    | action::UNLINK
                    | action::RULE_PARAMS
            )
        )
    }

    /// The JSON form.
    pub fn as_value(&self) -> &Value {
        &self.0
    }

    /// Unwraps the JSON form.
    pub fn into_value(self) -> Value {
        self.0
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let mut cut = 80;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &s[..cut])
    } else {
        s
    }
}

impl From<Step> for Value {
    fn from(s: Step) -> Value {
        s.0
    }
}

/// Anything that turns into a list of steps: one [`Step`], collections of them, a JSON array of
/// steps (or of chunks of steps), and tuples of these (up to 12) so builders of different types can
/// go into one transaction.
pub trait IntoSteps {
    /// Appends the steps, in order, to `out`.
    fn push_steps(self, out: &mut Vec<Step>);

    /// The steps, in order.
    fn into_steps(self) -> Vec<Step>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        self.push_steps(&mut out);
        out
    }
}

impl IntoSteps for Step {
    fn push_steps(self, out: &mut Vec<Step>) {
        out.push(self);
    }
}

impl<T: IntoSteps> IntoSteps for Vec<T> {
    fn push_steps(self, out: &mut Vec<Step>) {
        out.reserve(self.len());
        for s in self {
            s.push_steps(out);
        }
    }
}

impl<T: IntoSteps, const N: usize> IntoSteps for [T; N] {
    fn push_steps(self, out: &mut Vec<Step>) {
        for s in self {
            s.push_steps(out);
        }
    }
}

impl<T: IntoSteps> IntoSteps for Option<T> {
    fn push_steps(self, out: &mut Vec<Step>) {
        if let Some(s) = self {
            s.push_steps(out);
        }
    }
}

impl IntoSteps for &[Step] {
    fn push_steps(self, out: &mut Vec<Step>) {
        out.extend_from_slice(self);
    }
}

/// A JSON step (`["update", ...]`), an array of steps, or an array of chunks (arrays of steps), as
/// the official `transact` accepts. Anything else is sent as one step, for the server to reject.
impl IntoSteps for Value {
    fn push_steps(self, out: &mut Vec<Step>) {
        match self {
            Value::Array(a) if matches!(a.first(), Some(Value::String(_))) => {
                out.push(Step(Value::Array(a)))
            }
            Value::Array(a) => {
                for item in a {
                    item.push_steps(out);
                }
            }
            other => out.push(Step(other)),
        }
    }
}

impl IntoSteps for &Value {
    fn push_steps(self, out: &mut Vec<Step>) {
        self.clone().push_steps(out);
    }
}

macro_rules! tuple_into_steps {
    ($($t:ident),+) => {
        impl<$($t: IntoSteps),+> IntoSteps for ($($t,)+) {
            #[allow(non_snake_case)]
            fn push_steps(self, out: &mut Vec<Step>) {
                let ($($t,)+) = self;
                $($t.push_steps(out);)+
            }
        }
    };
}
tuple_into_steps!(A);
tuple_into_steps!(A, B);
tuple_into_steps!(A, B, C);
tuple_into_steps!(A, B, C, D);
tuple_into_steps!(A, B, C, D, E);
tuple_into_steps!(A, B, C, D, E, F);
tuple_into_steps!(A, B, C, D, E, F, G);
tuple_into_steps!(A, B, C, D, E, F, G, H);
tuple_into_steps!(A, B, C, D, E, F, G, H, I);
tuple_into_steps!(A, B, C, D, E, F, G, H, I, J);
tuple_into_steps!(A, B, C, D, E, F, G, H, I, J, K);
tuple_into_steps!(A, B, C, D, E, F, G, H, I, J, K, L);

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8aa64e4c-64f9-472e-8a61-3fa28870e6cb";

    #[test]
    fn constructors_match_the_wire_shapes() {
        assert_eq!(
            Step::update("goals", ID, json!({"title": "Get fit"})).into_value(),
            json!(["update", "goals", ID, {"title": "Get fit"}])
        );
        assert_eq!(
            Step::update("goals", ID, json!({}))
                .upsert(false)
                .into_value(),
            json!(["update", "goals", ID, {}, {"upsert": false}])
        );
        assert_eq!(
            Step::delete("goals", ID).into_value(),
            json!(["delete", "goals", ID, null])
        );
        assert_eq!(
            Step::create("goals", ID, json!({"a": 1}))
                .upsert(true)
                .into_value(),
            json!(["create", "goals", ID, {"a": 1}]),
            "create takes no options"
        );
        assert_eq!(
            Step::merge(
                "users",
                Lookup::new("email", "a@b.c"),
                json!({"p": {"x": 1}})
            )
            .into_value(),
            json!(["merge", "users", ["email", "a@b.c"], {"p": {"x": 1}}])
        );
        assert_eq!(
            Step::link("users", ID, json!({"owner": Lookup::new("email", "a@b.c")})).into_value(),
            json!(["link", "users", ID, {"owner": "lookup__email__\"a@b.c\""}])
        );
        assert_eq!(
            Step::update("users", "lookup__handle__\"stopa\"", json!({})).into_value(),
            json!(["update", "users", ["handle", "stopa"], {}])
        );
        assert_eq!(
            Step::delete_attr("a1").into_value(),
            json!(["delete-attr", "a1"])
        );
    }

    #[test]
    fn lookup_roundtrip_and_idempotency() {
        let l = Lookup::new("n", json!({"a": [1, 2]}));
        assert_eq!(Lookup::parse(&l.encode()), Some(l));
        assert_eq!(Lookup::parse("nope"), None);
        assert!(Step::update("a", ID, json!({})).is_idempotent());
        assert!(Step::link("a", ID, json!({})).is_idempotent());
        assert!(!Step::create("a", ID, json!({})).is_idempotent());
        assert!(!Step::add_attr(json!({})).is_idempotent());
    }

    #[test]
    fn from_value_checks_shape() {
        assert!(Step::from_value(json!(["update", "goals", ID, {}])).is_ok());
        assert!(Step::from_value(json!(["add-attr", {}])).is_ok());
        assert!(matches!(
            Step::from_value(json!({"a": 1})),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Step::from_value(json!([1, 2, 3])),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Step::from_value(json!(["update", 1, ID])),
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            Step::from_value(json!(["update"])),
            Err(Error::InvalidInput(_))
        ));
    }

    #[test]
    fn into_steps_flattens_values_and_tuples() {
        let v = json!([[["update", "a", ID, {}]], ["delete", "b", ID, null]]);
        let steps = v.into_steps();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].action(), Some("delete"));
        let t = (
            Step::update("a", ID, json!({})),
            vec![Step::delete("b", ID)],
            [Step::link("c", ID, json!({}))],
            json!(["unlink", "d", ID, {}]),
        );
        let names: Vec<_> = t
            .into_steps()
            .iter()
            .map(|s| s.action().map(str::to_owned))
            .collect();
        assert_eq!(
            names,
            ["update", "delete", "link", "unlink"]
                .map(|s| Some(s.to_owned()))
                .to_vec()
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_\\-\"]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        // Attribute names holding `__` cannot round-trip: the encoding splits on it (as the
        // official `parseLookup` does), so they are left out.
        fn lookups_round_trip(attr in "[a-z.]{1,4}(_[a-z.]{1,4}){0,2}", value in json_value()) {
            let l = Lookup::new(attr, value);
            proptest::prop_assert_eq!(Lookup::parse(&l.encode()), Some(l));
        }

        #[test]
        fn arbitrary_json_never_panics(v in json_value(), s in ".{0,40}") {
            let _ = Step::from_value(v.clone());
            let steps = v.into_steps();
            let _ = steps.iter().map(Step::is_idempotent).count();
            let _ = Lookup::parse(&s);
            let _ = Step::update("a", s.as_str(), json!({}));
        }
    }
}
