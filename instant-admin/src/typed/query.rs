//! Typed InstaQL: conditions, ordering, and the query builders.

use super::{
    Attr, Attribute, Comparable, IntoAttr, Likeable, Link, LinkLabel, Lookup, Namespace,
    Projection, Unique,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::marker::PhantomData;
use std::sync::Arc;

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
    /// The fields and children a projection asks for.
    projection: Option<Value>,
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

/// Turns one row of an answer (a JSON object) into a Rust value.
type Decoder<O> = Arc<dyn Fn(Value) -> Result<O, serde_json::Error> + Send + Sync>;

fn serde_decoder<O: DeserializeOwned + 'static>() -> Decoder<O> {
    Arc::new(serde_json::from_value::<O>)
}

/// Wrap `inner` so that it first takes the child `label` out of the row and decodes it with
/// `child`, keeping at most `limit` children.
fn join_decoder<O, C, H>(
    inner: Decoder<O>,
    label: &'static str,
    child: Decoder<C>,
    limit: Option<usize>,
) -> Decoder<(O, H::Of<C>)>
where
    O: 'static,
    C: 'static,
    H: Cardinality,
{
    Arc::new(move |row: Value| {
        let mut row = row;
        let linked = match &mut row {
            Value::Object(m) => m.remove(label),
            _ => None,
        };
        let linked = H::decode(linked, limit, &*child)?;
        Ok((inner(row)?, linked))
    })
}

/// How many entities a link end sees, as a type: it decides what a joined link decodes into
/// (`Option<C>` for [`One`], `Vec<C>` for [`Many`]).
pub trait Cardinality: Send + Sync + 'static {
    /// The decoded form of the linked entities, given the decoded form `C` of one of them.
    type Of<C>;

    /// Whether this is [`One`].
    const ONE: bool;

    /// Decode the link's value in a row (`None` when the key is absent).
    fn decode<C>(
        value: Option<Value>,
        limit: Option<usize>,
        item: &dyn Fn(Value) -> Result<C, serde_json::Error>,
    ) -> Result<Self::Of<C>, serde_json::Error>;
}

/// A has-one link end: at most one linked entity.
pub struct One;

/// A has-many link end: any number of linked entities.
pub struct Many;

impl Cardinality for One {
    type Of<C> = Option<C>;
    const ONE: bool = true;

    fn decode<C>(
        value: Option<Value>,
        _limit: Option<usize>,
        item: &dyn Fn(Value) -> Result<C, serde_json::Error>,
    ) -> Result<Option<C>, serde_json::Error> {
        match value {
            Some(v @ Value::Object(_)) => item(v).map(Some),
            Some(Value::Array(mut items)) if !items.is_empty() => {
                item(items.swap_remove(0)).map(Some)
            }
            // null, absent, or a bare id string (the server's link column): nothing linked.
            _ => Ok(None),
        }
    }
}

impl Cardinality for Many {
    type Of<C> = Vec<C>;
    const ONE: bool = false;

    fn decode<C>(
        value: Option<Value>,
        limit: Option<usize>,
        item: &dyn Fn(Value) -> Result<C, serde_json::Error>,
    ) -> Result<Vec<C>, serde_json::Error> {
        let mut items = match value {
            Some(Value::Array(items)) => items,
            Some(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        if let Some(n) = limit {
            items.truncate(n);
        }
        items.into_iter().map(item).collect()
    }
}

/// A typed query for the entities of namespace `N`, decoding each row into `O`.
///
/// `O` starts as the generated row struct `N` (or a derived projection, with [`Select::project`]);
/// each [`Select::with`] pairs it with the linked entities, like a join:
/// `todos::query().with(todos::owner).with(todos::tags)` decodes rows of
/// `((Todos, Option<Profiles>), Vec<Tags>)`. Generated code gives every namespace a `query()`
/// function returning one. Sends `inference?: true`, so has-one links come back as a single object.
pub struct Select<N, O = N> {
    node: Node,
    decode: Decoder<O>,
    /// Decodes the HTTP body straight into rows, without building a `Value` first; only for rows
    /// that serde decodes alone (no joins).
    direct: Option<DirectDecoder<O>>,
    marker: PhantomData<fn() -> N>,
}

/// Decodes `{"<ns>": [rows]}` from the body's bytes.
type DirectDecoder<O> = fn(&[u8], &str) -> Result<Vec<O>, serde_json::Error>;

/// Reads the rows of namespace `ns` from an answer's bytes, skipping every other key unparsed.
fn decode_rows_direct<O: DeserializeOwned>(
    body: &[u8],
    ns: &str,
) -> Result<Vec<O>, serde_json::Error> {
    struct Rows<'a, O> {
        ns: &'a str,
        marker: PhantomData<fn() -> O>,
    }
    impl<'de, O: DeserializeOwned> serde::de::DeserializeSeed<'de> for Rows<'_, O> {
        type Value = Vec<O>;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<O>, D::Error> {
            d.deserialize_map(self)
        }
    }
    impl<'de, O: DeserializeOwned> serde::de::Visitor<'de> for Rows<'_, O> {
        type Value = Vec<O>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a query answer object with a `{}` list", self.ns)
        }
        fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Vec<O>, M::Error> {
            let mut rows = None;
            while let Some(key) = map.next_key::<super::de::Key<'de>>()? {
                if key.as_str() == self.ns {
                    rows = map.next_value::<Option<Vec<O>>>()?;
                } else {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(rows.unwrap_or_default())
        }
    }
    crate::query::from_body_seed(
        body,
        Rows {
            ns,
            marker: PhantomData,
        },
    )
}

impl<N, O> Clone for Select<N, O> {
    fn clone(&self) -> Self {
        Select {
            node: self.node.clone(),
            decode: Arc::clone(&self.decode),
            direct: self.direct,
            marker: PhantomData,
        }
    }
}

impl<N: Namespace, O: 'static> std::fmt::Debug for Select<N, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Select({})", self.instaql_json())
    }
}

impl<N: Namespace + DeserializeOwned> Default for Select<N> {
    fn default() -> Self {
        Select::new()
    }
}

impl<N: Namespace + DeserializeOwned> Select<N> {
    /// Every entity of `N`, decoded into the row struct.
    pub fn new() -> Self {
        Select {
            node: Node::default(),
            decode: serde_decoder::<N>(),
            direct: Some(decode_rows_direct::<N>),
            marker: PhantomData,
        }
    }
}

impl<N: Namespace, O: 'static> Select<N, O> {
    /// Decode rows into projection `P` instead, asking the server only for `P`'s fields and links.
    pub fn project<P: Projection<Namespace = N>>(self) -> Select<N, P> {
        let mut node = self.node;
        node.projection = Some(P::node());
        Select {
            node,
            decode: serde_decoder::<P>(),
            direct: Some(decode_rows_direct::<P>),
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

    /// Also fetch the entities linked through `link`: each row becomes `(row, linked)`, where
    /// `linked` is an `Option` for a has-one link and a `Vec` for a has-many link.
    pub fn with<L, C>(
        self,
        link: impl Into<Nested<L, C>>,
    ) -> Select<N, (O, <L::Has as Cardinality>::Of<C>)>
    where
        L: LinkLabel<From = N>,
        C: 'static,
    {
        let nested: Nested<L, C> = link.into();
        let mut node = self.node;
        node.children
            .insert(L::LABEL.to_string(), nested.node.to_json());
        Select {
            node,
            decode: join_decoder::<O, C, L::Has>(
                self.decode,
                L::LABEL,
                nested.decode,
                nested.limit,
            ),
            direct: None,
            marker: PhantomData,
        }
    }

    /// The InstaQL object sent to the server, e.g. `{"todos": {"$": {"limit": 10}}}`.
    pub fn instaql_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(N::NAME.to_string(), self.node.to_json());
        Value::Object(m)
    }

    /// Decode an answer (`{"<ns>": [...]}`) into rows.
    pub fn decode_answer(&self, mut answer: Value) -> Result<Vec<O>, serde_json::Error> {
        let rows = match answer.get_mut(N::NAME) {
            Some(Value::Array(rows)) => std::mem::take(rows),
            Some(Value::Null) | None => Vec::new(),
            Some(other) => {
                return Err(serde::de::Error::custom(format!(
                    "expected a list of `{}` rows, got {other}",
                    N::NAME
                )))
            }
        };
        rows.into_iter().map(|row| (self.decode)(row)).collect()
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
        self.decode_answer(answer)
    }

    fn decode_bytes(&self, body: &[u8]) -> Result<Vec<O>, serde_json::Error> {
        match self.direct {
            Some(direct) => direct(body, N::NAME),
            None => self.decode_answer(crate::query::from_body(body)?),
        }
    }
}

/// A nested query through link `L`, with its own where, order, limit and joins, decoding each linked
/// entity into `C` (by default the target's row struct).
pub struct Nested<L: LinkLabel, C = <L as LinkLabel>::To> {
    node: Node,
    limit: Option<usize>,
    decode: Decoder<C>,
    marker: PhantomData<fn() -> L>,
}

impl<L: LinkLabel, C> Clone for Nested<L, C> {
    fn clone(&self) -> Self {
        Nested {
            node: self.node.clone(),
            limit: self.limit,
            decode: Arc::clone(&self.decode),
            marker: PhantomData,
        }
    }
}

impl<L: LinkLabel, C> std::fmt::Debug for Nested<L, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nested({}: {})", L::LABEL, self.node.to_json())
    }
}

impl<L: LinkLabel> Default for Nested<L>
where
    L::To: DeserializeOwned,
{
    fn default() -> Self {
        Nested::new()
    }
}

impl<L: LinkLabel> From<Link<L>> for Nested<L>
where
    L::To: DeserializeOwned,
{
    fn from(_: Link<L>) -> Self {
        Nested::new()
    }
}

impl<L: LinkLabel> Nested<L>
where
    L::To: DeserializeOwned,
{
    /// Every linked entity, decoded into the target's row struct.
    pub fn new() -> Self {
        Nested {
            node: Node::default(),
            limit: None,
            decode: serde_decoder::<L::To>(),
            marker: PhantomData,
        }
    }
}

impl<L: LinkLabel, C: 'static> Nested<L, C> {
    /// Decode the linked entities into projection `P`, asking only for its fields and links.
    pub fn project<P: Projection<Namespace = L::To>>(self) -> Nested<L, P> {
        let mut node = self.node;
        node.projection = Some(P::node());
        Nested {
            node,
            limit: self.limit,
            decode: serde_decoder::<P>(),
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

    /// Also fetch the entities linked to the linked ones: each linked entity becomes `(entity,
    /// linked)`.
    pub fn with<M, D>(
        self,
        link: impl Into<Nested<M, D>>,
    ) -> Nested<L, (C, <M::Has as Cardinality>::Of<D>)>
    where
        M: LinkLabel<From = L::To>,
        D: 'static,
    {
        let nested: Nested<M, D> = link.into();
        let mut node = self.node;
        node.children
            .insert(M::LABEL.to_string(), nested.node.to_json());
        Nested {
            node,
            limit: self.limit,
            decode: join_decoder::<C, D, M::Has>(
                self.decode,
                M::LABEL,
                nested.decode,
                nested.limit,
            ),
            marker: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Todos {
        id: String,
        #[serde(default)]
        title: Option<String>,
    }
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
        type Has = Many;
        const LABEL: &'static str = "tags";
        const HAS_ONE: bool = false;
    }
    struct Parent;
    impl LinkLabel for Parent {
        type From = Todos;
        type To = Todos;
        type Has = One;
        const LABEL: &'static str = "parent";
        const HAS_ONE: bool = true;
    }
    const TITLE: Attr<Title, Todos> = Attr::new("title");
    const DONE: Attr<Done, Todos> = Attr::new("done");
    const TAGS: Link<Tags> = Link::new();
    const PARENT: Link<Parent> = Link::new();

    fn todo(id: &str, title: Option<&str>) -> Todos {
        Todos {
            id: id.into(),
            title: title.map(Into::into),
        }
    }

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
        assert_eq!(all::<Todos>([]).to_json(), json!({}));
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
    }

    #[test]
    fn select_builds_nested_queries_and_decodes_joins() {
        let q = Select::<Todos>::new()
            .filter(DONE.eq(false))
            .filter(TITLE.like("a%"))
            .order(TITLE.desc())
            .limit(10)
            .with(PARENT)
            .with(TAGS.query().filter(TITLE.eq("x")).limit(2).with(PARENT));
        assert_eq!(
            q.instaql_json(),
            json!({"todos": {
                "$": {"where": {"and": [{"done": false}, {"title": {"$like": "a%"}}]},
                      "order": {"title": "desc"}, "limit": 10},
                "parent": {},
                "tags": {"$": {"where": {"title": "x"}}, "parent": {}}
            }})
        );
        let answer = json!({"todos": [
            {"id": "1", "parent": "p-id-as-the-server-sends-when-not-asked",
             "tags": [{"id": "a", "parent": {"id": "1"}}, {"id": "b", "parent": null}, {"id": "c"}]},
            {"id": "2", "title": "t", "parent": {"id": "1"}, "tags": []}
        ]});
        let rows = q.decode_answer(answer).unwrap();
        assert_eq!(rows.len(), 2);
        let ((first, parent), tags) = &rows[0];
        assert_eq!(first, &todo("1", None));
        assert_eq!(parent, &None);
        assert_eq!(
            tags,
            &vec![
                (todo("a", None), Some(todo("1", None))),
                (todo("b", None), None)
            ]
        );
        let ((second, parent), tags) = &rows[1];
        assert_eq!(second, &todo("2", Some("t")));
        assert_eq!(parent, &Some(todo("1", None)));
        assert!(tags.is_empty());

        assert_eq!(
            Select::<Todos>::new()
                .order(Order::created(Direction::Desc))
                .instaql_json(),
            json!({"todos": {"$": {"order": {"serverCreatedAt": "desc"}}}})
        );
        assert_eq!(
            Select::<Todos>::new().decode_answer(json!({})).unwrap(),
            vec![]
        );
        assert!(Select::<Todos>::new()
            .decode_answer(json!({"todos": 3}))
            .is_err());
        assert!(Select::<Todos>::new()
            .decode_answer(json!({"todos": [{"title": 1}]}))
            .is_err());
    }

    #[test]
    fn rows_decode_straight_from_bytes_like_through_a_value() {
        use crate::Query;
        let body = br#"{"other": [{"x": {"deep": [1, 2]}}], "todos": [{"id": "1", "title": "t", "extra": {"a": 1}}, {"id": "2"}]}"#;
        let q = Select::<Todos>::new();
        let direct = q.decode_bytes(body).unwrap();
        let via_value = q
            .decode_answer(serde_json::from_slice(body).unwrap())
            .unwrap();
        assert_eq!(direct, via_value);
        assert_eq!(direct, vec![todo("1", Some("t")), todo("2", None)]);
        assert_eq!(q.decode_bytes(b"{}").unwrap(), vec![]);
        assert_eq!(q.decode_bytes(br#"{"todos": null}"#).unwrap(), vec![]);
        assert!(q.decode_bytes(br#"{"todos": [{"title": 1}]}"#).is_err());
        assert!(q.decode_bytes(br#"{"todos": []} trailing"#).is_err());
        let joined = Select::<Todos>::new().with(PARENT);
        let rows = joined
            .decode_bytes(br#"{"todos": [{"id": "1", "parent": {"id": "0"}}]}"#)
            .unwrap();
        assert_eq!(rows, vec![(todo("1", None), Some(todo("0", None)))]);
    }

    #[test]
    fn lookups_use_the_attribute_name() {
        let l = TITLE.lookup("a");
        assert_eq!(l.eid_json(), json!(["title", "a"]));
        assert_eq!(l.link_json(), json!("lookup__title__\"a\""));
    }
}
