//! Typed InstaQL: conditions, ordering, and the query builders.

use super::{
    Attr, Attribute, Comparable, IntoAttr, Likeable, Link, LinkLabel, Lookup, Namespace,
    Projection, Unique,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::marker::PhantomData;

/// A `where` condition on namespace `R`.
pub struct Cond<R> {
    json: Map<String, Value>,
    marker: PhantomData<fn() -> R>,
}

impl<R> Clone for Cond<R> {
    fn clone(&self) -> Self {
        Cond {
            json: self.json.clone(),
            marker: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Cond<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cond({})", Value::Object(self.json.clone()))
    }
}

impl<R> PartialEq for Cond<R> {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl<R> Cond<R> {
    /// A condition on `path` (used by link handles).
    pub(crate) fn on_path(path: &str, value: Value) -> Self {
        Cond::single(path, value)
    }

    fn single(key: &str, value: Value) -> Self {
        let mut json = Map::new();
        json.insert(key.to_string(), value);
        Cond {
            json,
            marker: PhantomData,
        }
    }

    /// Both conditions. Each side gets its own link traversal, as with InstaQL's `and: [...]`.
    pub fn and(self, other: Cond<R>) -> Cond<R> {
        all([self, other])
    }

    /// Either condition (`or: [...]`).
    pub fn or(self, other: Cond<R>) -> Cond<R> {
        any([self, other])
    }

    /// The InstaQL `where` object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.json.clone())
    }

    fn into_list(self, key: &str) -> Vec<Value> {
        if self.json.len() == 1 {
            if let Some(Value::Array(items)) = self.json.get(key) {
                return items.clone();
            }
        }
        vec![Value::Object(self.json)]
    }
}

fn combine<R>(key: &str, conds: impl IntoIterator<Item = Cond<R>>) -> Cond<R> {
    let mut items = Vec::new();
    for c in conds {
        items.extend(c.into_list(key));
    }
    if items.len() == 1 {
        if let Some(Value::Object(json)) = items.pop() {
            return Cond {
                json,
                marker: PhantomData,
            };
        }
    }
    Cond::single(key, Value::Array(items))
}

/// All of the conditions (`and: [...]`). An empty list matches everything.
pub fn all<R>(conds: impl IntoIterator<Item = Cond<R>>) -> Cond<R> {
    let c = combine("and", conds);
    if matches!(c.json.get("and"), Some(Value::Array(a)) if a.is_empty()) {
        return Cond {
            json: Map::new(),
            marker: PhantomData,
        };
    }
    c
}

/// Any of the conditions (`or: [...]`). An empty list matches nothing.
pub fn any<R>(conds: impl IntoIterator<Item = Cond<R>>) -> Cond<R> {
    let c = combine("or", conds);
    if matches!(c.json.get("or"), Some(Value::Array(a)) if a.is_empty()) {
        return Cond::single("id", serde_json::json!({ "$in": [] }));
    }
    c
}

impl<A, R> Attr<A, R> {
    /// A handle on the attribute named `name` (used by generated code).
    pub const fn new(name: &'static str) -> Self {
        Attr {
            path: std::borrow::Cow::Borrowed(name),
            marker: PhantomData,
        }
    }

    /// The attribute's path in a `where` clause, e.g. `"title"` or `"owner.email"`.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl<A: Attribute, R> Attr<A, R> {
    /// Equal to `value`.
    pub fn eq(self, value: impl IntoAttr<A::Value>) -> Cond<R> {
        Cond::single(&self.path, value.into_attr())
    }

    /// Not equal to `value`; also matches entities where the attribute is null or missing.
    pub fn ne(self, value: impl IntoAttr<A::Value>) -> Cond<R> {
        Cond::single(&self.path, op("$ne", value.into_attr()))
    }

    /// Equal to any of `values` (`$in`); an empty list matches nothing.
    pub fn is_in<V: IntoAttr<A::Value>>(self, values: impl IntoIterator<Item = V>) -> Cond<R> {
        let list = values.into_iter().map(IntoAttr::into_attr).collect();
        Cond::single(&self.path, op("$in", Value::Array(list)))
    }

    /// Null or missing (`true`), or set to a non-null value (`false`).
    pub fn is_null(self, null: bool) -> Cond<R> {
        Cond::single(&self.path, op("$isNull", Value::Bool(null)))
    }
}

// Methods that need a capability are defined for every attribute with a `where` bound (not in
// an impl block restricted to capable attributes), so that misuse reports the capability trait's
// own message ("not indexed: add `.indexed()`") instead of "method not found".
impl<A: Attribute, R> Attr<A, R> {
    /// Greater than `value`. Needs an indexed, typed attribute.
    pub fn gt(self, value: impl IntoAttr<A::Value>) -> Cond<R>
    where
        A: Comparable,
    {
        Cond::single(&self.path, op("$gt", value.into_attr()))
    }

    /// Greater than or equal to `value`. Needs an indexed, typed attribute.
    pub fn gte(self, value: impl IntoAttr<A::Value>) -> Cond<R>
    where
        A: Comparable,
    {
        Cond::single(&self.path, op("$gte", value.into_attr()))
    }

    /// Less than `value`. Needs an indexed, typed attribute.
    pub fn lt(self, value: impl IntoAttr<A::Value>) -> Cond<R>
    where
        A: Comparable,
    {
        Cond::single(&self.path, op("$lt", value.into_attr()))
    }

    /// Less than or equal to `value`. Needs an indexed, typed attribute.
    pub fn lte(self, value: impl IntoAttr<A::Value>) -> Cond<R>
    where
        A: Comparable,
    {
        Cond::single(&self.path, op("$lte", value.into_attr()))
    }

    /// SQL `LIKE`, case-sensitive: `%` matches any run of characters, `_` one character. Needs an
    /// indexed string attribute.
    pub fn like(self, pattern: impl Into<String>) -> Cond<R>
    where
        A: Likeable,
    {
        Cond::single(&self.path, op("$like", Value::String(pattern.into())))
    }

    /// Case-insensitive `like`. Needs an indexed string attribute.
    pub fn ilike(self, pattern: impl Into<String>) -> Cond<R>
    where
        A: Likeable,
    {
        Cond::single(&self.path, op("$ilike", Value::String(pattern.into())))
    }

    /// Ascending order by this attribute. Needs an indexed, typed attribute of the queried
    /// namespace (the server does not order by linked attributes).
    pub fn asc(self) -> Order<R>
    where
        A: Comparable + Attribute<Namespace = R>,
    {
        Order::by(self.path, Direction::Asc)
    }

    /// Descending order by this attribute. Needs an indexed, typed attribute of the queried
    /// namespace.
    pub fn desc(self) -> Order<R>
    where
        A: Comparable + Attribute<Namespace = R>,
    {
        Order::by(self.path, Direction::Desc)
    }

    /// The entity whose value of this unique attribute is `value`. Needs a unique attribute.
    pub fn lookup(self, value: impl IntoAttr<A::Value>) -> Lookup<R>
    where
        A: Unique + Attribute<Namespace = R>,
    {
        Lookup::new(A::NAME, value.into_attr())
    }
}

fn op(name: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(name.to_string(), value);
    Value::Object(m)
}

/// A sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Smallest first; null and missing values come first.
    Asc,
    /// Largest first; null and missing values come last.
    Desc,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}

/// An `order` clause for namespace `R`.
pub struct Order<R> {
    key: std::borrow::Cow<'static, str>,
    direction: Direction,
    marker: PhantomData<fn() -> R>,
}

impl<R> Clone for Order<R> {
    fn clone(&self) -> Self {
        Order {
            key: self.key.clone(),
            direction: self.direction,
            marker: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for Order<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Order({} {})", self.key, self.direction.as_str())
    }
}

impl<R> Order<R> {
    fn by(key: std::borrow::Cow<'static, str>, direction: Direction) -> Self {
        Order {
            key,
            direction,
            marker: PhantomData,
        }
    }

    /// Order by creation time on the server (`serverCreatedAt`), which needs no index.
    pub fn created(direction: Direction) -> Self {
        Order::by("serverCreatedAt".into(), direction)
    }
}

/// The options and children of one query node.
#[derive(Debug, Clone, Default)]
struct Node {
    options: Map<String, Value>,
    children: Map<String, Value>,
    /// Limits the server ignores below the top level, applied to the answer instead.
    local_limits: Vec<LocalLimit>,
    /// The fields and children a projection asks for.
    projection: Option<Value>,
}

#[derive(Debug, Clone)]
struct LocalLimit {
    label: String,
    limit: Option<usize>,
    nested: Vec<LocalLimit>,
}

impl Node {
    fn set_where(&mut self, cond: Map<String, Value>) {
        let merged = match self.options.remove("where") {
            Some(Value::Object(prev)) if !prev.is_empty() => {
                let prev = Cond::<()> {
                    json: prev,
                    marker: PhantomData,
                };
                prev.and(Cond {
                    json: cond,
                    marker: PhantomData,
                })
                .json
            }
            _ => cond,
        };
        if !merged.is_empty() {
            self.options.insert("where".into(), Value::Object(merged));
        }
    }

    fn set_order(&mut self, key: &str, direction: Direction) {
        let mut m = Map::new();
        m.insert(key.to_string(), Value::String(direction.as_str().into()));
        self.options.insert("order".into(), Value::Object(m));
    }

    fn to_json(&self) -> Value {
        let mut options = self.options.clone();
        let mut children = Map::new();
        if let Some(Value::Object(p)) = &self.projection {
            for (k, v) in p {
                if k == "$" {
                    if let Value::Object(popts) = v {
                        for (ok, ov) in popts {
                            options.insert(ok.clone(), ov.clone());
                        }
                    }
                } else {
                    children.insert(k.clone(), v.clone());
                }
            }
        }
        // The server re-sorts rows by the order attribute as returned, so a projection must fetch it.
        let order_key = options
            .get("order")
            .and_then(Value::as_object)
            .and_then(|o| o.keys().next().cloned());
        if let (Some(key), Some(Value::Array(fields))) = (order_key, options.get_mut("fields")) {
            if key != "serverCreatedAt" && !fields.iter().any(|f| f.as_str() == Some(key.as_str()))
            {
                fields.push(Value::String(key));
            }
        }
        for (k, v) in &self.children {
            children.insert(k.clone(), v.clone());
        }
        let mut m = Map::new();
        if !options.is_empty() {
            m.insert("$".into(), Value::Object(options));
        }
        for (k, v) in children {
            m.insert(k, v);
        }
        Value::Object(m)
    }
}

fn apply_limits(entity: &mut Value, limits: &[LocalLimit]) {
    let Value::Object(obj) = entity else { return };
    for l in limits {
        let Some(child) = obj.get_mut(&l.label) else {
            continue;
        };
        match child {
            Value::Array(items) => {
                if let Some(n) = l.limit {
                    items.truncate(n);
                }
                for item in items.iter_mut() {
                    apply_limits(item, &l.nested);
                }
            }
            Value::Object(_) => apply_limits(child, &l.nested),
            _ => {}
        }
    }
}

/// A typed query for the entities of namespace `N`, decoding each row into `O` (by default the
/// generated row struct `N`; [`Select::project`] picks a derived projection).
///
/// Generated code gives every namespace a `query()` function returning one. Sends `inference?: true`,
/// so has-one links come back as a single object.
pub struct Select<N, O = N> {
    node: Node,
    marker: PhantomData<fn() -> (N, O)>,
}

impl<N, O> Clone for Select<N, O> {
    fn clone(&self) -> Self {
        Select {
            node: self.node.clone(),
            marker: PhantomData,
        }
    }
}

impl<N: Namespace, O> std::fmt::Debug for Select<N, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Select({})", self.instaql_json())
    }
}

impl<N: Namespace> Default for Select<N> {
    fn default() -> Self {
        Select::new()
    }
}

impl<N: Namespace> Select<N> {
    /// Every entity of `N`.
    pub fn new() -> Self {
        Select {
            node: Node::default(),
            marker: PhantomData,
        }
    }
}

impl<N: Namespace, O> Select<N, O> {
    /// Decode rows into projection `P` instead, asking the server only for `P`'s fields and links.
    pub fn project<P: Projection<Namespace = N>>(self) -> Select<N, P> {
        let mut node = self.node;
        node.projection = Some(P::node());
        Select {
            node,
            marker: PhantomData,
        }
    }

    /// Keep the entities matching `cond`; calling it again adds another condition (and).
    pub fn filter(mut self, cond: Cond<N>) -> Self {
        self.node.set_where(cond.json);
        self
    }

    /// Same as [`Select::filter`], named like InstaQL's `where`.
    pub fn r#where(self, cond: Cond<N>) -> Self {
        self.filter(cond)
    }

    /// Sort by an indexed attribute (`todos::due_date.desc()`) or by creation time
    /// (`Order::created(Direction::Desc)`).
    pub fn order(mut self, order: Order<N>) -> Self {
        self.node.set_order(&order.key, order.direction);
        self
    }

    /// At most `n` entities.
    pub fn limit(mut self, n: u32) -> Self {
        self.node.options.insert("limit".into(), n.into());
        self
    }

    /// Skip the first `n` entities.
    pub fn offset(mut self, n: u32) -> Self {
        self.node.options.insert("offset".into(), n.into());
        self
    }

    /// The first `n` entities (after the `after` cursor, if any).
    pub fn first(mut self, n: u32) -> Self {
        self.node.options.insert("first".into(), n.into());
        self
    }

    /// The last `n` entities (before the `before` cursor, if any).
    pub fn last(mut self, n: u32) -> Self {
        self.node.options.insert("last".into(), n.into());
        self
    }

    /// Entities after `cursor` (a cursor from a live query's page info).
    pub fn after(mut self, cursor: Value) -> Self {
        self.node.options.insert("after".into(), cursor);
        self
    }

    /// Entities before `cursor`.
    pub fn before(mut self, cursor: Value) -> Self {
        self.node.options.insert("before".into(), cursor);
        self
    }

    /// Also fetch the entities linked through `link`, decoded into the row's link field.
    pub fn with<L: LinkLabel<From = N>>(mut self, link: impl Into<Nested<L>>) -> Self {
        let nested: Nested<L> = link.into();
        self.node.local_limits.push(LocalLimit {
            label: L::LABEL.to_string(),
            limit: nested.limit,
            nested: nested.node.local_limits.clone(),
        });
        self.node
            .children
            .insert(L::LABEL.to_string(), nested.node.to_json());
        self
    }

    /// The InstaQL object sent to the server, e.g. `{"todos": {"$": {"limit": 10}}}`.
    pub fn instaql_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(N::NAME.to_string(), self.node.to_json());
        Value::Object(m)
    }

    /// Take this namespace's rows out of a query answer, applying nested limits.
    pub fn rows_json(&self, mut answer: Value) -> Value {
        let mut rows = match answer.get_mut(N::NAME) {
            Some(v) => v.take(),
            None => Value::Array(Vec::new()),
        };
        if let Value::Array(items) = &mut rows {
            for item in items.iter_mut() {
                apply_limits(item, &self.node.local_limits);
            }
        }
        rows
    }
}

impl<N: Namespace, O: DeserializeOwned + Send + 'static> crate::Query for Select<N, O> {
    type Output = Vec<O>;

    fn instaql(&self) -> Value {
        self.instaql_json()
    }

    fn inference(&self) -> bool {
        true
    }

    fn decode(&self, answer: Value) -> Result<Vec<O>, serde_json::Error> {
        serde_json::from_value(self.rows_json(answer))
    }
}

/// A nested query through link `L`, with its own where, order and limit.
pub struct Nested<L: LinkLabel> {
    node: Node,
    limit: Option<usize>,
    marker: PhantomData<fn() -> L>,
}

impl<L: LinkLabel> Clone for Nested<L> {
    fn clone(&self) -> Self {
        Nested {
            node: self.node.clone(),
            limit: self.limit,
            marker: PhantomData,
        }
    }
}

impl<L: LinkLabel> std::fmt::Debug for Nested<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nested({}: {})", L::LABEL, self.node.to_json())
    }
}

impl<L: LinkLabel> Default for Nested<L> {
    fn default() -> Self {
        Nested::new()
    }
}

impl<L: LinkLabel> From<Link<L>> for Nested<L> {
    fn from(_: Link<L>) -> Self {
        Nested::new()
    }
}

impl<L: LinkLabel> Nested<L> {
    /// Every linked entity.
    pub fn new() -> Self {
        Nested {
            node: Node::default(),
            limit: None,
            marker: PhantomData,
        }
    }

    /// Keep the linked entities matching `cond`.
    pub fn filter(mut self, cond: Cond<L::To>) -> Self {
        self.node.set_where(cond.json);
        self
    }

    /// Same as [`Nested::filter`], named like InstaQL's `where`.
    pub fn r#where(self, cond: Cond<L::To>) -> Self {
        self.filter(cond)
    }

    /// Sort the linked entities.
    pub fn order(mut self, order: Order<L::To>) -> Self {
        self.node.set_order(&order.key, order.direction);
        self
    }

    /// At most `n` linked entities per parent. The server ignores limits below the top level (the
    /// official client applies them itself), so this one is applied to the answer, after ordering.
    pub fn limit(mut self, n: u32) -> Self {
        self.limit = Some(n as usize);
        self
    }

    /// Also fetch the entities linked to the linked ones.
    pub fn with<M: LinkLabel<From = L::To>>(mut self, link: impl Into<Nested<M>>) -> Self {
        let nested: Nested<M> = link.into();
        self.node.local_limits.push(LocalLimit {
            label: M::LABEL.to_string(),
            limit: nested.limit,
            nested: nested.node.local_limits.clone(),
        });
        self.node
            .children
            .insert(M::LABEL.to_string(), nested.node.to_json());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Todos;
    impl Namespace for Todos {
        const NAME: &'static str = "todos";
    }
    struct Title;
    impl Attribute for Title {
        type Namespace = Todos;
        type Value = String;
        const NAME: &'static str = "title";
    }
    impl Comparable for Title {}
    impl Likeable for Title {}
    impl Unique for Title {}
    struct Done;
    impl Attribute for Done {
        type Namespace = Todos;
        type Value = bool;
        const NAME: &'static str = "done";
    }
    struct Tags;
    impl LinkLabel for Tags {
        type From = Todos;
        type To = Todos;
        const LABEL: &'static str = "tags";
        const HAS_ONE: bool = false;
    }
    const TITLE: Attr<Title, Todos> = Attr::new("title");
    const DONE: Attr<Done, Todos> = Attr::new("done");
    struct Parent;
    impl LinkLabel for Parent {
        type From = Todos;
        type To = Todos;
        const LABEL: &'static str = "parent";
        const HAS_ONE: bool = true;
    }
    const PARENT: Link<Parent> = Link::new();
    const TAGS: Link<Tags> = Link::new();

    #[test]
    fn conditions_encode_as_instaql() {
        assert_eq!(TITLE.eq("a").to_json(), json!({"title": "a"}));
        assert_eq!(DONE.ne(true).to_json(), json!({"done": {"$ne": true}}));
        assert_eq!(
            TITLE.is_in(["a", "b"]).to_json(),
            json!({"title": {"$in": ["a", "b"]}})
        );
        assert_eq!(TITLE.gt("m").to_json(), json!({"title": {"$gt": "m"}}));
        assert_eq!(
            TITLE.ilike("%x%").to_json(),
            json!({"title": {"$ilike": "%x%"}})
        );
        assert_eq!(
            DONE.is_null(true).to_json(),
            json!({"done": {"$isNull": true}})
        );
        let c = TITLE.eq("a").and(DONE.eq(false)).and(TITLE.ne("b"));
        assert_eq!(
            c.to_json(),
            json!({"and": [{"title": "a"}, {"done": false}, {"title": {"$ne": "b"}}]})
        );
        let c = TITLE.eq("a").or(TITLE.eq("b"));
        assert_eq!(c.to_json(), json!({"or": [{"title": "a"}, {"title": "b"}]}));
        assert_eq!(any::<Todos>([]).to_json(), json!({"id": {"$in": []}}));
        assert_eq!(
            PARENT.at(TITLE).eq("a").to_json(),
            json!({"parent.title": "a"})
        );
        assert_eq!(
            PARENT
                .then(TAGS)
                .then(PARENT)
                .at(DONE)
                .is_null(true)
                .to_json(),
            json!({"parent.tags.parent.done": {"$isNull": true}})
        );
        assert_eq!(
            PARENT.is_null(false).to_json(),
            json!({"parent": {"$isNull": false}})
        );
        assert_eq!(all::<Todos>([]).to_json(), json!({}));
    }

    #[test]
    fn select_builds_nested_queries() {
        let q = Select::<Todos>::new()
            .filter(DONE.eq(false))
            .filter(TITLE.like("a%"))
            .order(TITLE.desc())
            .limit(10)
            .with(TAGS.query().filter(TITLE.eq("x")).limit(2));
        assert_eq!(
            q.instaql_json(),
            json!({"todos": {
                "$": {"where": {"and": [{"done": false}, {"title": {"$like": "a%"}}]},
                      "order": {"title": "desc"}, "limit": 10},
                "tags": {"$": {"where": {"title": "x"}}}
            }})
        );
        let answer =
            json!({"todos": [{"id": "1", "tags": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}]});
        assert_eq!(
            q.rows_json(answer),
            json!([{"id": "1", "tags": [{"id": "a"}, {"id": "b"}]}])
        );
        assert_eq!(
            Select::<Todos>::new()
                .order(Order::created(Direction::Desc))
                .instaql_json(),
            json!({"todos": {"$": {"order": {"serverCreatedAt": "desc"}}}})
        );
        assert_eq!(Select::<Todos>::new().rows_json(json!({})), json!([]));
    }

    #[test]
    fn lookups_use_the_attribute_name() {
        let l = TITLE.lookup("a");
        assert_eq!(l.eid_json(), json!(["title", "a"]));
        assert_eq!(l.link_json(), json!("lookup__title__\"a\""));
    }
}
