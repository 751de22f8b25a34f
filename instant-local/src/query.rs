//! InstaQL: validation and evaluation of queries (semantics.md §1).

use crate::attrs::{AttrDef, Attrs};
use crate::error::ApiError;
use crate::perms::PermCtx;
use crate::store::{Ent, Reader};
use crate::values::{self, compare, date_ms, is_uuid, json_eq, like, sort_cmp};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;
use std::rc::Rc;

const OPTION_KEYS: &[&str] = &[
    "where",
    "order",
    "limit",
    "first",
    "last",
    "offset",
    "after",
    "afterInclusive",
    "before",
    "beforeInclusive",
    "fields",
    "aggregate",
];

/// Where the query runs: the app, its URL (for `$files` urls) and the caller.
pub struct QueryEnv<'a> {
    /// Base URL of this server (no trailing slash).
    pub base_url: &'a str,
    /// App id.
    pub app_id: &'a str,
    /// `inference?`: has-one links come back as objects.
    pub inference: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    In(Vec<Value>),
    Not(Value),
    IsNull(bool),
    Cmp(&'static str, Value),
    Like(String, bool),
}

impl Op {
    fn negative(&self) -> bool {
        matches!(self, Op::Not(_) | Op::IsNull(true))
    }
}

type CondRef<'a> = (&'a [String], &'a Op);

#[derive(Debug, Clone)]
enum W {
    Cond(Vec<String>, Op),
    And(Vec<Vec<W>>),
    Or(Vec<Vec<W>>),
}

#[derive(Debug, Clone)]
enum OrderKey {
    Created,
    Attr(AttrDef),
}

#[derive(Debug, Clone)]
struct Node {
    etype: String,
    wheres: Vec<W>,
    unknown_where: bool,
    order: OrderKey,
    desc: bool,
    limit: Option<usize>,
    last: Option<usize>,
    offset: usize,
    after: Option<(Value, bool)>,
    before: Option<(Value, bool)>,
    fields: Option<Vec<String>>,
    paginated: bool,
    children: Vec<(String, Node)>,
}

fn qerr(query: &Value, msg: impl Into<String>) -> ApiError {
    ApiError::validation_msg("query", query.clone(), msg)
}

fn coerced(query: &Value, path: Vec<Value>) -> ApiError {
    ApiError::validation(
        "coerced-query",
        query.clone(),
        vec![json!({"expected": "valid where clause", "in": path})],
    )
}

fn pos_int(v: &Value) -> Option<usize> {
    v.as_u64().map(|n| n as usize).or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0)
            .map(|f| f as usize)
    })
}

fn jtext(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

struct Parser<'a> {
    attrs: &'a Attrs,
    query: &'a Value,
}

impl Parser<'_> {
    fn node(
        &self,
        etype: &str,
        v: &Value,
        path: &mut Vec<Value>,
        top: bool,
    ) -> Result<Node, ApiError> {
        let obj = v.as_object().ok_or_else(|| {
            ApiError::validation(
                "query",
                self.query.clone(),
                vec![json!({"expected": "map?", "in": path.clone()})],
            )
        })?;
        let mut node = Node {
            etype: etype.to_string(),
            wheres: Vec::new(),
            unknown_where: false,
            order: OrderKey::Created,
            desc: false,
            limit: None,
            last: None,
            offset: 0,
            after: None,
            before: None,
            fields: None,
            paginated: false,
            children: Vec::new(),
        };
        if let Some(opts) = obj.get("$") {
            let o = opts.as_object().ok_or_else(|| {
                let mut p = path.clone();
                p.push(json!("$"));
                ApiError::validation(
                    "query",
                    self.query.clone(),
                    vec![json!({"expected": "map?", "in": p})],
                )
            })?;
            self.options(&mut node, o, top)?;
        }
        for (k, child) in obj {
            if k == "$" {
                continue;
            }
            path.push(json!(k));
            let target = match self.attrs.link_end(etype, k) {
                Some(end) => end.target.clone(),
                None => String::new(),
            };
            let n = self.node(&target, child, path, false)?;
            path.pop();
            node.children.push((k.clone(), n));
        }
        Ok(node)
    }

    fn options(&self, node: &mut Node, o: &Map<String, Value>, top: bool) -> Result<(), ApiError> {
        let q = self.query;
        for k in o.keys() {
            if !OPTION_KEYS.contains(&k.as_str()) {
                return Err(qerr(
                    q,
                    "We only support `where`, `order`, `limit`, `offset`, `before`, and `after` clauses.",
                ));
            }
        }
        let present: Vec<&str> = ["limit", "first", "last"]
            .into_iter()
            .filter(|k| o.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        for k in &present {
            let v = o.get(*k).unwrap_or(&Value::Null);
            match pos_int(v) {
                Some(n) if n > 0 => {}
                _ => {
                    return Err(qerr(
                        q,
                        format!(
                            "The {k} field must be a positive integer. Got {}.",
                            jtext(v)
                        ),
                    ))
                }
            }
        }
        if present.len() > 1 {
            let names: Vec<String> = present.iter().map(|k| format!("`{k}`")).collect();
            return Err(qerr(
                q,
                format!("Only provide one of {}.", names.join(" or ")),
            ));
        }
        if let Some(v) = o.get("offset").filter(|v| !v.is_null()) {
            if pos_int(v).is_none() {
                return Err(qerr(
                    q,
                    format!(
                        "The offset field must be a non-negative integer. Got {}.",
                        jtext(v)
                    ),
                ));
            }
        }
        let has_page = ["offset", "before", "after"]
            .iter()
            .any(|k| o.get(*k).is_some_and(|v| !v.is_null()));
        if has_page && !top {
            return Err(qerr(q, "We currently only support `offset`, `before`, and `after` clauses on the top-level field. Limit fields will be ignored"));
        }
        if top {
            node.limit = o.get("limit").or(o.get("first")).and_then(pos_int);
            node.last = o.get("last").and_then(pos_int);
            node.offset = o.get("offset").and_then(pos_int).unwrap_or(0);
            for (k, inc) in [("after", "afterInclusive"), ("before", "beforeInclusive")] {
                if let Some(c) = o.get(k).filter(|v| !v.is_null()) {
                    let ok = c.as_array().is_some_and(|a| (3..=4).contains(&a.len()));
                    if !ok {
                        return Err(qerr(
                            q,
                            format!("Expected a join row for the cursor, got {}", jtext(c)),
                        ));
                    }
                    let inclusive = o.get(inc).and_then(Value::as_bool).unwrap_or(false);
                    if k == "after" {
                        node.after = Some((c.clone(), inclusive));
                    } else {
                        node.before = Some((c.clone(), inclusive));
                    }
                }
            }
            node.paginated = !present.is_empty() || has_page || o.contains_key("order");
        }
        if let Some(order) = o.get("order").filter(|v| !v.is_null()) {
            let om = order
                .as_object()
                .ok_or_else(|| qerr(q, "The `order` clause must be an object."))?;
            if om.len() != 1 {
                let keys: Vec<&str> = om.keys().map(String::as_str).collect();
                return Err(qerr(
                    q,
                    format!(
                        "We only support a single key in the `order` clause. Got {}.",
                        keys.join(",")
                    ),
                ));
            }
            if let Some((k, dir)) = om.iter().next() {
                match dir.as_str() {
                    Some("asc") => node.desc = false,
                    Some("desc") => node.desc = true,
                    _ => {
                        return Err(qerr(
                            q,
                            format!(
                            "We only support \"asc\" or \"desc\" in the `order` clause. Got {}.",
                            jtext(dir)
                        ),
                        ))
                    }
                }
                if k != "serverCreatedAt" {
                    let a = self.attrs.fwd(&node.etype, k).filter(|a| !a.is_ref);
                    let Some(a) = a else {
                        return Err(qerr(
                            q,
                            format!("There is no `{k}` attribute for {}.", node.etype),
                        ));
                    };
                    if top {
                        let name = a.name();
                        if !a.indexed {
                            return Err(qerr(q, format!("The `{name}` attribute is not indexed. Only indexed and typed attributes can be used to order by.")));
                        }
                        if a.checked.is_none() {
                            return Err(qerr(q, format!("The `{name}` attribute is not typed. Only typed and indexed attributes can be used to order by.")));
                        }
                        if !a.card_one {
                            return Err(qerr(q, format!("The `{name}` attribute has cardinality `many`. Only attributes with cardinality `one` can be used to order by.")));
                        }
                    }
                    node.order = OrderKey::Attr(a.clone());
                }
            }
        }
        if let Some(f) = o.get("fields").filter(|v| !v.is_null()) {
            let arr = f.as_array().ok_or_else(|| {
                qerr(
                    q,
                    "The `fields` property should be an array of field names.",
                )
            })?;
            node.fields = Some(
                arr.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            );
        }
        if let Some(agg) = o.get("aggregate").filter(|v| !v.is_null()) {
            if agg.as_str() != Some("count") {
                return Err(qerr(
                    q,
                    format!(
                        "The aggregate field only accepts \"count\", got {}",
                        jtext(agg)
                    ),
                ));
            }
        }
        if let Some(w) = o.get("where").filter(|v| !v.is_null()) {
            let mut unknown = false;
            node.wheres =
                self.where_map(&node.etype, w, &mut vec![json!("where")], &mut unknown)?;
            node.unknown_where = unknown;
        }
        Ok(())
    }

    fn where_map(
        &self,
        etype: &str,
        w: &Value,
        path: &mut Vec<Value>,
        unknown: &mut bool,
    ) -> Result<Vec<W>, ApiError> {
        let q = self.query;
        let m = w.as_object().ok_or_else(|| coerced(q, path.clone()))?;
        let mut out = Vec::new();
        for (k, v) in m {
            if k == "and" || k == "or" {
                let list = v.as_array().ok_or_else(|| coerced(q, path.clone()))?;
                if list.is_empty() {
                    return Err(qerr(
                        q,
                        format!("The list of `{k}` conditions can't be empty."),
                    ));
                }
                let mut subs = Vec::new();
                for (i, s) in list.iter().enumerate() {
                    path.push(json!(k));
                    path.push(json!(i));
                    subs.push(self.where_map(etype, s, path, unknown)?);
                    path.pop();
                    path.pop();
                }
                out.push(if k == "and" {
                    W::And(subs)
                } else {
                    W::Or(subs)
                });
                continue;
            }
            if k == "$entityIdStartsWith" {
                continue;
            }
            path.push(json!(k));
            let segs: Vec<String> = k.split('.').map(str::to_string).collect();
            let op = self.op(v, path)?;
            let resolved = self.check_path(etype, &segs, &op)?;
            if !resolved {
                *unknown = true;
            }
            path.pop();
            out.push(W::Cond(segs, op));
        }
        Ok(out)
    }

    fn op(&self, v: &Value, path: &[Value]) -> Result<Op, ApiError> {
        let q = self.query;
        match v {
            Value::Null | Value::Array(_) => Err(coerced(q, path.to_vec())),
            Value::Object(m) => {
                let Some((k, arg)) = m.iter().next() else {
                    return Err(coerced(q, path.to_vec()));
                };
                let op = match k.as_str() {
                    "$in" | "in" => match arg {
                        Value::Array(a) => {
                            Op::In(a.iter().cloned().map(values::normalize).collect())
                        }
                        _ => return Err(coerced(q, path.to_vec())),
                    },
                    "$not" | "$ne" if !arg.is_null() && !arg.is_object() && !arg.is_array() => {
                        Op::Not(values::normalize(arg.clone()))
                    }
                    "$isNull" => match arg {
                        Value::Bool(b) => Op::IsNull(*b),
                        _ => return Err(coerced(q, path.to_vec())),
                    },
                    "$gt" | "$gte" | "$lt" | "$lte"
                        if !arg.is_null() && !arg.is_object() && !arg.is_array() =>
                    {
                        let name = match k.as_str() {
                            "$gt" => "$gt",
                            "$gte" => "$gte",
                            "$lt" => "$lt",
                            _ => "$lte",
                        };
                        Op::Cmp(name, values::normalize(arg.clone()))
                    }
                    "$like" | "$ilike" if !arg.is_null() => match arg {
                        Value::String(s) => Op::Like(s.clone(), k == "$ilike"),
                        other => {
                            Op::Cmp(if k == "$like" { "$like" } else { "$ilike" }, other.clone())
                        }
                    },
                    _ => return Err(coerced(q, path.to_vec())),
                };
                Ok(op)
            }
            other => Ok(Op::Eq(values::normalize(other.clone()))),
        }
    }

    /// Resolves a where path; false when some segment is unknown (the namespace is then empty).
    fn check_path(&self, etype: &str, segs: &[String], op: &Op) -> Result<bool, ApiError> {
        let q = self.query;
        let mut cur = etype.to_string();
        let n = segs.len();
        for (i, s) in segs.iter().enumerate() {
            let last = i + 1 == n;
            if !last {
                match self.attrs.link_end(&cur, s) {
                    Some(end) => cur = end.target.clone(),
                    None => return Ok(false),
                }
                continue;
            }
            if s == "id" {
                return Ok(self.attrs.id_attr(&cur).is_some());
            }
            if self.attrs.link_end(&cur, s).is_some() {
                match op {
                    Op::Eq(v) | Op::Not(v) if !v.as_str().is_some_and(is_uuid) => {
                        return Err(qerr(
                            q,
                            format!("Expected {s} to be a uuid, got {}", jtext(v)),
                        ));
                    }
                    Op::In(vs) => {
                        if let Some(bad) = vs.iter().find(|v| !v.as_str().is_some_and(is_uuid)) {
                            return Err(qerr(
                                q,
                                format!(
                                    "Expected {s} to match on a uuid, found {} in {}",
                                    jtext(bad),
                                    jtext(&Value::Array(vs.clone()))
                                ),
                            ));
                        }
                    }
                    _ => {}
                }
                return Ok(true);
            }
            let Some(a) = self.attrs.fwd(&cur, s) else {
                return Ok(false);
            };
            self.check_operand(a, op)?;
            return Ok(true);
        }
        Ok(true)
    }

    fn check_operand(&self, a: &AttrDef, op: &Op) -> Result<(), ApiError> {
        let q = self.query;
        let name = a.name();
        let type_err = |t: &str, v: &Value| -> ApiError {
            if t == "date" {
                qerr(q, format!("The data type of `{name}` is `date`, but the query got value `{}` of type `{}`.", jtext(v), values::type_name(v)))
            } else {
                qerr(q, format!("The data type of `{name}` is `{t}`, but the query got the value `{}` of type `{}`.", jtext(v), values::type_name(v)))
            }
        };
        // Comparison operators need an indexed attribute with an enforced type; gives the type.
        let comparable = || -> Result<&String, ApiError> {
            if !a.indexed {
                return Err(qerr(
                    q,
                    format!("The `{name}` attribute must be indexed to use comparison operators."),
                ));
            }
            a.checked.as_ref().ok_or_else(|| {
                qerr(q, format!("The `{name}` attribute must have an enforced type to use comparison operators."))
            })
        };
        match op {
            Op::In(vs) => {
                if vs.iter().any(Value::is_null) && !a.indexed {
                    return Err(qerr(q, format!("Only indexed attrs can check for `nil` in `$in`. {name} is not indexed.")));
                }
                if let Some(t) = &a.checked {
                    if let Some(bad) = vs
                        .iter()
                        .find(|v| !v.is_null() && !values::matches_type(t, v))
                    {
                        return Err(type_err(t, bad));
                    }
                }
            }
            Op::Eq(v) | Op::Not(v) => {
                if let Some(t) = &a.checked {
                    if !values::matches_type(t, v) {
                        return Err(type_err(t, v));
                    }
                }
            }
            Op::IsNull(_) => {}
            Op::Cmp(k, v) => {
                let t = comparable()?;
                if *k == "$like" || *k == "$ilike" {
                    return Err(qerr(q, format!("The {k} value for `{name}` must be a string, but the query got the value `{}` of type `{}`.", jtext(v), values::type_name(v))));
                }
                if !values::matches_type(t, v) {
                    return Err(type_err(t, v));
                }
            }
            Op::Like(s, ci) => {
                let t = comparable()?;
                if t != "string" {
                    let k = if *ci { "$ilike" } else { "$like" };
                    return Err(qerr(q, format!("The {k} operator can only be used on string attributes, but `{name}` has type `{t}`. Got {}.", jtext(&Value::String(s.clone())))));
                }
            }
        }
        Ok(())
    }
}

/// Evaluates queries against one app.
pub struct Evaluator<'r, 'c> {
    /// Storage.
    pub reader: &'r mut Reader<'c>,
    /// The app's attributes.
    pub attrs: &'r Attrs,
    /// Permission context (None for admin).
    pub perms: Option<&'r PermCtx>,
}

/// The result of a query: the tree and the page info of paginated top-level namespaces.
pub struct QueryResult {
    /// `{ns: [...]}`.
    pub tree: Value,
    /// `{ns: {start-cursor, end-cursor, has-next-page?, has-previous-page?}}`.
    pub page_info: Map<String, Value>,
}

/// Validates a query (its `$$ruleParams` already removed) and returns it parsed.
fn parse(attrs: &Attrs, query: &Value) -> Result<Vec<(String, Node)>, ApiError> {
    let p = Parser { attrs, query };
    let obj = query.as_object().ok_or_else(|| {
        ApiError::validation(
            "query",
            query.clone(),
            vec![json!({"expected": "map?", "in": []})],
        )
    })?;
    let mut out = Vec::new();
    for (k, v) in obj {
        let mut path = vec![json!(k)];
        out.push((k.clone(), p.node(k, v, &mut path, true)?));
    }
    Ok(out)
}

/// Splits `$$ruleParams` off a query.
pub fn split_rule_params(query: &Value) -> (Value, Value) {
    let mut q = query.clone();
    let rp = q
        .as_object_mut()
        .and_then(|m| m.remove("$$ruleParams"))
        .unwrap_or(Value::Null);
    (q, rp)
}

/// The entities a top-level node may answer, and whether they answer its where clause exactly.
struct Cands {
    ids: Vec<String>,
    exact: bool,
    /// The entities of `ids`, when already loaded (otherwise read through the reader's cache).
    loaded: Option<Vec<Rc<Ent>>>,
}

impl Cands {
    fn ids(ids: Vec<String>, exact: bool) -> Cands {
        Cands {
            ids,
            exact,
            loaded: None,
        }
    }
}

struct Row {
    e: String,
    t: i64,
    sort: Option<Value>,
    ent: Rc<Ent>,
}

/// One object of a query answer.
///
/// Without permission rules (and outside `$files`) an object is not built as a JSON map: it keeps
/// the loaded entity and the labels of its attributes, and is written straight from the stored
/// document when serialized. Both forms serialize (and convert to [`Value`]) identically: an
/// object with its keys in order.
pub enum Out<'r> {
    /// A built JSON object.
    Map(Map<String, Value>),
    /// An entity read from storage.
    Ent(EntOut<'r>),
}

/// An entity of a query answer, read from its stored document.
pub struct EntOut<'r> {
    id: Value,
    ent: Rc<Ent>,
    /// The object's keys (sorted, unique) and where each value comes from.
    fields: Vec<(Cow<'r, str>, Field<'r>)>,
}

enum Field<'r> {
    /// The entity id.
    Id,
    /// The document's value of this attribute key.
    Doc(i64),
    /// A value held here (a has-one link's target id).
    Val(Value),
    /// Nested objects (a link in the query).
    Many(Vec<Out<'r>>),
    /// The first nested object, or null (`inference?` on a has-one link).
    One(Option<Box<Out<'r>>>),
}

impl<'r> EntOut<'r> {
    fn new(e: &str, ent: Rc<Ent>) -> EntOut<'r> {
        EntOut {
            id: Value::String(e.to_string()),
            fields: Vec::with_capacity(ent.doc.len() + 1),
            ent,
        }
    }

    /// Sets a key (replacing an earlier value, like a map insert).
    fn put(&mut self, k: Cow<'r, str>, f: Field<'r>) {
        match self.fields.iter_mut().find(|(x, _)| *x == k) {
            Some(slot) => slot.1 = f,
            None => self.fields.push((k, f)),
        }
    }

    fn finish(&mut self) {
        self.fields.sort_by(|a, b| a.0.cmp(&b.0));
    }

    fn value<'a>(&'a self, f: &'a Field<'_>) -> Option<&'a Value> {
        match f {
            Field::Id => Some(&self.id),
            Field::Doc(k) => self.ent.doc.get(*k),
            Field::Val(v) => Some(v),
            Field::Many(_) | Field::One(_) => None,
        }
    }
}

impl Out<'_> {
    /// The object's `id`.
    fn id(&self) -> &str {
        match self {
            Out::Map(m) => m.get("id").and_then(Value::as_str).unwrap_or_default(),
            Out::Ent(x) => x.id.as_str().unwrap_or_default(),
        }
    }

    /// The value of a key, for sorting. Nested objects read as absent: every object of a list
    /// has the same nested keys, and lists compare equal to each other as absent values do.
    fn get(&self, k: &str) -> Option<&Value> {
        match self {
            Out::Map(m) => m.get(k),
            Out::Ent(x) => x
                .fields
                .iter()
                .find(|(key, _)| key == k)
                .and_then(|(_, f)| x.value(f)),
        }
    }

    /// The object as a JSON value.
    pub fn into_value(self) -> Value {
        match self {
            Out::Map(m) => Value::Object(m),
            Out::Ent(x) => {
                let mut m = Map::new();
                for (k, f) in &x.fields {
                    let v = match f {
                        Field::Many(_) | Field::One(_) => continue,
                        f => x.value(f).cloned().unwrap_or(Value::Null),
                    };
                    m.insert(k.to_string(), v);
                }
                for (k, f) in x.fields {
                    let v = match f {
                        Field::Many(items) => {
                            Value::Array(items.into_iter().map(Out::into_value).collect())
                        }
                        Field::One(o) => o.map(|o| o.into_value()).unwrap_or(Value::Null),
                        _ => continue,
                    };
                    m.insert(k.into_owned(), v);
                }
                Value::Object(m)
            }
        }
    }
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Map(m) => m.serialize(s),
            Out::Ent(x) => {
                let mut map = s.serialize_map(Some(x.fields.len()))?;
                for (k, f) in &x.fields {
                    match f {
                        Field::Many(items) => map.serialize_entry(k.as_ref(), items)?,
                        Field::One(o) => map.serialize_entry(k.as_ref(), o)?,
                        f => map.serialize_entry(k.as_ref(), &x.value(f))?,
                    }
                }
                map.end()
            }
        }
    }
}

/// A query answer before it is written out: `{ns: [...]}` and the page info.
pub struct QueryOut<'r> {
    /// Namespaces of the query (sorted) and their objects.
    pub tree: Vec<(String, Vec<Out<'r>>)>,
    /// `{ns: {start-cursor, end-cursor, has-next-page?, has-previous-page?}}`.
    pub page_info: Map<String, Value>,
}

impl QueryOut<'_> {
    /// The answer as a JSON value and the page info.
    pub fn into_result(self) -> QueryResult {
        let tree = self
            .tree
            .into_iter()
            .map(|(k, items)| {
                let items = items.into_iter().map(Out::into_value).collect();
                (k, Value::Array(items))
            })
            .collect();
        QueryResult {
            tree: Value::Object(tree),
            page_info: self.page_info,
        }
    }

    /// The answer tree as JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        struct Tree<'a, 'r>(&'a [(String, Vec<Out<'r>>)]);
        impl Serialize for Tree<'_, '_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (k, items) in self.0 {
                    map.serialize_entry(k, &Items(items))?;
                }
                map.end()
            }
        }
        struct Items<'a, 'r>(&'a [Out<'r>]);
        impl Serialize for Items<'_, '_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.len()))?;
                for o in self.0 {
                    seq.serialize_element(o)?;
                }
                seq.end()
            }
        }
        let objects: usize = self.tree.iter().map(|(_, items)| items.len()).sum();
        let mut out = Vec::with_capacity(64 + objects * 128);
        if serde_json::to_writer(&mut out, &Tree(&self.tree)).is_err() {
            out.clear();
            out.extend_from_slice(b"{}");
        }
        out
    }
}

impl<'r> Evaluator<'r, '_> {
    /// Runs a whole query.
    pub fn run(&mut self, query: &Value, env: &QueryEnv<'_>) -> Result<QueryResult, ApiError> {
        Ok(self.run_out(query, env)?.into_result())
    }

    /// Runs a whole query; the answer is left unbuilt (see [`Out`]).
    pub fn run_out(&mut self, query: &Value, env: &QueryEnv<'_>) -> Result<QueryOut<'r>, ApiError> {
        let nodes = parse(self.attrs, query)?;
        let mut tree: Vec<(String, Vec<Out<'r>>)> = Vec::with_capacity(nodes.len());
        let mut page_info = Map::new();
        for (k, node) in nodes {
            let (items, info) = self.top(&node, env)?;
            if let Some(i) = info {
                page_info.insert(k.clone(), i);
            }
            match tree.iter_mut().find(|(x, _)| *x == k) {
                Some(slot) => slot.1 = items,
                None => tree.push((k, items)),
            }
        }
        tree.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(QueryOut { tree, page_info })
    }

    /// Entities that may match, and whether they match the whole where clause already (a single
    /// condition answered by the value index).
    fn candidates(&mut self, node: &Node) -> Result<Cands, ApiError> {
        let Some(id) = self.attrs.id_attr(&node.etype) else {
            return Ok(Cands::ids(Vec::new(), true));
        };
        // Narrow with the (app, a, v) index when a top-level equality or $in applies.
        for w in &node.wheres {
            if let W::Cond(segs, op) = w {
                let [seg] = segs.as_slice() else {
                    continue;
                };
                let a = if seg == "id" {
                    Some(id)
                } else {
                    self.attrs.fwd(&node.etype, seg).filter(|a| !a.is_ref)
                };
                let Some(a) = a else { continue };
                if a.checked.as_deref() == Some("date")
                    || !(a.label == "id" || a.indexed || a.unique)
                {
                    continue;
                }
                let vals: Vec<Value> = match op {
                    Op::Eq(v) => vec![v.clone()],
                    Op::In(vs) if !vs.iter().any(Value::is_null) => vs.clone(),
                    _ => continue,
                };
                let exact = node.wheres.len() == 1
                    && matches!(
                        op,
                        Op::Eq(Value::String(_) | Value::Bool(_) | Value::Number(_))
                    );
                if exact && self.perms.is_none() && a.label != "id" {
                    // The answer is exactly these entities and nothing else reads them through
                    // the reader: they are handed on rather than cached.
                    if let Op::Eq(v) = op {
                        let found = self.reader.ents_with_value_uncached(id.key, a.key, v)?;
                        let (ids, ents) = found.into_iter().unzip();
                        return Ok(Cands {
                            ids,
                            exact,
                            loaded: Some(ents),
                        });
                    }
                }
                let mut out: Vec<String> = Vec::new();
                let mut seen: rustc_hash::FxHashSet<String> = Default::default();
                let several = vals.len() > 1;
                for v in vals {
                    let found = if a.label != "id" && !v.is_null() {
                        self.reader.ents_with_value(id.key, a.key, &v)?
                    } else {
                        self.reader.entities_with(self.attrs, a, &v)?
                    };
                    if !several {
                        // One value: the index holds each entity once.
                        out = found;
                        break;
                    }
                    for e in found {
                        if seen.insert(e.clone()) {
                            out.push(e);
                        }
                    }
                }
                return Ok(Cands::ids(out, exact));
            }
        }
        let et = id.key;
        let all = self
            .reader
            .all_of(et)?
            .into_iter()
            .map(|(e, _)| e)
            .collect();
        Ok(Cands::ids(all, node.wheres.is_empty()))
    }

    fn rows(&mut self, node: &Node, ids: Vec<String>, exact: bool) -> Result<Vec<Row>, ApiError> {
        self.rows_of(node, Cands::ids(ids, exact))
    }

    fn rows_of(&mut self, node: &Node, cands: Cands) -> Result<Vec<Row>, ApiError> {
        let Some(id_key) = self.attrs.id_attr(&node.etype).map(|a| a.key) else {
            return Ok(Vec::new());
        };
        let Cands { ids, exact, loaded } = cands;
        let mut loaded = loaded.map(Vec::into_iter);
        if loaded.is_none() {
            self.reader.prefetch(id_key, &ids)?;
        }
        let mut rows = Vec::with_capacity(ids.len());
        for e in ids {
            let ent = match loaded.as_mut() {
                Some(l) => l.next(),
                None => self.reader.ent(id_key, &e)?,
            };
            let Some(ent) = ent else {
                continue;
            };
            let t = ent.t;
            if !exact && !node.unknown_where && !self.eval_map(&node.etype, &e, &node.wheres)? {
                continue;
            }
            if node.unknown_where && !node.wheres.is_empty() {
                continue;
            }
            let sort = match &node.order {
                OrderKey::Created => None,
                OrderKey::Attr(a) => ent.doc.get(a.key).cloned(),
            };
            rows.push(Row { e, t, sort, ent });
        }
        let checked = match &node.order {
            OrderKey::Attr(a) => a.checked.clone(),
            OrderKey::Created => None,
        };
        let by_attr = matches!(node.order, OrderKey::Attr(_));
        rows.sort_by(|x, y| {
            let o = if by_attr {
                sort_cmp(checked.as_deref(), x.sort.as_ref(), y.sort.as_ref())
            } else {
                x.t.cmp(&y.t)
            };
            let o = o.then_with(|| x.e.cmp(&y.e));
            if node.desc {
                o.reverse()
            } else {
                o
            }
        });
        Ok(rows)
    }

    fn cursor_cmp(&self, node: &Node, row: &Row, cursor: &Value) -> Ordering {
        let ce = cursor.get(0).and_then(Value::as_str).unwrap_or_default();
        let o = match &node.order {
            OrderKey::Created => {
                let ct = cursor.get(3).and_then(Value::as_i64).unwrap_or(i64::MIN);
                row.t.cmp(&ct)
            }
            OrderKey::Attr(a) => sort_cmp(a.checked.as_deref(), row.sort.as_ref(), cursor.get(2)),
        };
        let o = o.then_with(|| row.e.as_str().cmp(ce));
        if node.desc {
            o.reverse()
        } else {
            o
        }
    }

    fn cursor_of(&self, node: &Node, row: &Row) -> Value {
        match &node.order {
            OrderKey::Created => {
                let id = self
                    .attrs
                    .id_attr(&node.etype)
                    .map(|a| a.id.clone())
                    .unwrap_or_default();
                json!([row.e, id, row.e, row.t])
            }
            OrderKey::Attr(a) => {
                json!([row.e, a.id, row.sort.clone().unwrap_or(Value::Null), row.t])
            }
        }
    }

    fn top(
        &mut self,
        node: &Node,
        env: &QueryEnv<'_>,
    ) -> Result<(Vec<Out<'r>>, Option<Value>), ApiError> {
        let cands = if node.unknown_where {
            Cands::ids(Vec::new(), true)
        } else {
            self.candidates(node)?
        };
        let rows = self.rows_of(node, cands)?;
        let total = rows.len();
        let mut start = 0usize;
        let mut end = total;
        if let Some((c, inc)) = &node.after {
            start = rows
                .iter()
                .position(|r| {
                    let o = self.cursor_cmp(node, r, c);
                    o == Ordering::Greater || (*inc && o == Ordering::Equal)
                })
                .unwrap_or(total);
        }
        if let Some((c, inc)) = &node.before {
            end = rows
                .iter()
                .position(|r| {
                    let o = self.cursor_cmp(node, r, c);
                    o == Ordering::Greater || (!*inc && o == Ordering::Equal)
                })
                .unwrap_or(total)
                .max(start);
        }
        start = (start + node.offset).min(end);
        if let Some(n) = node.last {
            start = start.max(end.saturating_sub(n));
        } else if let Some(n) = node.limit {
            end = end.min(start + n);
        }
        let page: Vec<&Row> = rows
            .get(start..end)
            .map(|s| s.iter().collect())
            .unwrap_or_default();
        let info = if node.paginated {
            let has_next = end < total
                && (node.limit.is_some() || node.before.is_some() || node.last.is_some());
            let has_prev =
                start > 0 && (node.after.is_some() || node.offset > 0 || node.last.is_some());
            let has_prev =
                has_prev || (page.is_empty() && (node.offset > 0 || node.after.is_some()));
            Some(json!({
                "start-cursor": page.first().map(|r| self.cursor_of(node, r)),
                "end-cursor": page.last().map(|r| self.cursor_of(node, r)),
                "has-next-page?": has_next,
                "has-previous-page?": has_prev,
            }))
        } else {
            None
        };
        let mut out = Vec::with_capacity(page.len());
        for r in page {
            if let Some(obj) = self.object(node, &r.e, &r.ent, env)? {
                out.push((obj, r.t));
            }
        }
        self.resort(node, &mut out);
        Ok((out.into_iter().map(|(o, _)| o).collect(), info))
    }

    /// The in-memory re-sort of a result list by the values in the returned objects.
    fn resort(&self, node: &Node, items: &mut [(Out<'_>, i64)]) {
        match &node.order {
            OrderKey::Created => {
                items.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.id().cmp(b.0.id())))
            }
            OrderKey::Attr(at) => items.sort_by(|a, b| {
                sort_cmp(
                    at.checked.as_deref(),
                    a.0.get(&at.label),
                    b.0.get(&at.label),
                )
                .then_with(|| a.0.id().cmp(b.0.id()))
            }),
        }
        if node.desc {
            items.reverse();
        }
    }

    /// The objects of the entities `ids` linked through a nested query node, sorted.
    fn nested(
        &mut self,
        child: &Node,
        ids: Vec<String>,
        env: &QueryEnv<'_>,
    ) -> Result<Vec<Out<'r>>, ApiError> {
        let rows = self.rows(child, ids, false)?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            if let Some(o) = self.object(child, &r.e, &r.ent, env)? {
                items.push((o, r.t));
            }
        }
        self.resort(child, &mut items);
        Ok(items.into_iter().map(|(o, _)| o).collect())
    }

    /// The entities linked to `e` through `label`, and whether that side of the link is has-one.
    fn linked_ids(
        &mut self,
        etype: &str,
        e: &str,
        label: &str,
    ) -> Result<(Vec<String>, bool), ApiError> {
        let linked = self.reader.linked(self.attrs, etype, e, label)?;
        let singular = self
            .attrs
            .link_end(etype, label)
            .is_some_and(|l| l.singular());
        Ok((linked.map(|(_, ids)| ids).unwrap_or_default(), singular))
    }

    /// The answer object of entity `e` (loaded as `ent`), or None when it is hidden.
    fn object(
        &mut self,
        node: &Node,
        e: &str,
        ent: &Rc<Ent>,
        env: &QueryEnv<'_>,
    ) -> Result<Option<Out<'r>>, ApiError> {
        if self.perms.is_none() && node.etype != "$files" {
            return self.ent_object(node, e, ent.clone(), env).map(Some);
        }
        let Some(full) = self.reader.entity(self.attrs, &node.etype, e)? else {
            return Ok(None);
        };
        if let Some(p) = self.perms {
            if !p.allows_view(self.reader, self.attrs, &node.etype, &full)? {
                return Ok(None);
            }
        }
        // Reached only under rules or for `$files` (see above), which both read the whole entity.
        let mut obj = full.clone();
        if let Some(fields) = &node.fields {
            let want_url = node.etype == "$files" && fields.iter().any(|f| f == "url");
            obj.retain(|k, _| k == "id" || fields.contains(k) || (want_url && k == "location-id"));
        }
        if node.etype == "$files" {
            if let Some(loc) = full.get("location-id").and_then(Value::as_str) {
                obj.insert(
                    "url".into(),
                    Value::String(format!(
                        "{}/storage/download/{}/{}",
                        env.base_url, env.app_id, loc
                    )),
                );
            }
            if let Some(fields) = &node.fields {
                if !fields.iter().any(|f| f == "location-id") {
                    obj.remove("location-id");
                }
            }
        }
        if let Some(p) = self.perms {
            p.apply_field_rules(self.reader, self.attrs, &node.etype, &full, &mut obj)?;
        }
        for (label, child) in &node.children {
            let (ids, singular) = self.linked_ids(&node.etype, e, label)?;
            if self.perms.is_some() && ids.is_empty() {
                obj.remove(label);
                continue;
            }
            let items = self.nested(child, ids, env)?;
            let items: Vec<Value> = items.into_iter().map(Out::into_value).collect();
            if env.inference && singular {
                obj.insert(
                    label.clone(),
                    items.into_iter().next().unwrap_or(Value::Null),
                );
            } else {
                obj.insert(label.clone(), Value::Array(items));
            }
        }
        Ok(Some(Out::Map(obj)))
    }

    /// [`Evaluator::object`] without permission rules outside `$files`: the same keys and
    /// values as [`Reader::entity`] gives (`id`, the document's attributes, has-one links),
    /// kept `fields`, then the nested nodes, without building a map.
    fn ent_object(
        &mut self,
        node: &Node,
        e: &str,
        ent: Rc<Ent>,
        env: &QueryEnv<'_>,
    ) -> Result<Out<'r>, ApiError> {
        let attrs: &'r Attrs = self.attrs;
        let mut obj = EntOut::new(e, ent.clone());
        obj.put(Cow::Borrowed("id"), Field::Id);
        for (k, _) in ent.doc.iter() {
            if let Some(a) = attrs.by_key(k) {
                obj.put(Cow::Borrowed(a.label.as_str()), Field::Doc(k));
            }
        }
        for a in attrs.has_one_of(&node.etype) {
            if let Some(t) = self.reader.refs_from(e, a.key)?.into_iter().next() {
                obj.put(
                    Cow::Borrowed(a.label.as_str()),
                    Field::Val(Value::String(t)),
                );
            }
        }
        if let Some(fields) = &node.fields {
            obj.fields
                .retain(|(k, _)| k == "id" || fields.iter().any(|f| f == k));
        }
        for (label, child) in &node.children {
            let (ids, singular) = self.linked_ids(&node.etype, e, label)?;
            let items = self.nested(child, ids, env)?;
            let f = if env.inference && singular {
                Field::One(items.into_iter().next().map(Box::new))
            } else {
                Field::Many(items)
            };
            obj.put(Cow::Owned(label.clone()), f);
        }
        obj.finish();
        Ok(Out::Ent(obj))
    }

    fn eval_map(&mut self, etype: &str, e: &str, ws: &[W]) -> Result<bool, ApiError> {
        let mut conds: Vec<(&[String], &Op)> = Vec::new();
        for w in ws {
            match w {
                W::Cond(segs, op) => conds.push((segs.as_slice(), op)),
                W::And(subs) => {
                    for s in subs {
                        if !self.eval_map(etype, e, s)? {
                            return Ok(false);
                        }
                    }
                }
                W::Or(subs) => {
                    let mut any = false;
                    for s in subs {
                        if self.eval_map(etype, e, s)? {
                            any = true;
                            break;
                        }
                    }
                    if !any {
                        return Ok(false);
                    }
                }
            }
        }
        self.eval_conds(etype, e, &conds)
    }

    /// Conditions sharing link variables: sibling paths with the same first link segment must
    /// be satisfied by one linked entity.
    fn eval_conds(
        &mut self,
        etype: &str,
        e: &str,
        conds: &[(&[String], &Op)],
    ) -> Result<bool, ApiError> {
        let mut groups: Vec<(&str, Vec<CondRef<'_>>)> = Vec::new();
        for (segs, op) in conds {
            match segs {
                [label] => {
                    if !self.leaf(etype, e, label, op)? {
                        return Ok(false);
                    }
                }
                [first, rest @ ..] => {
                    if op.negative() {
                        if !self.negative_path(etype, e, segs, op)? {
                            return Ok(false);
                        }
                        continue;
                    }
                    match groups.iter_mut().find(|(l, _)| *l == first.as_str()) {
                        Some((_, g)) => g.push((rest, op)),
                        None => groups.push((first.as_str(), vec![(rest, op)])),
                    }
                }
                [] => {}
            }
        }
        for (label, sub) in groups {
            let Some((target, ids)) = self.reader.linked(self.attrs, etype, e, label)? else {
                return Ok(false);
            };
            let ids = self.visible(&target, ids)?;
            let mut ok = false;
            for t in ids {
                if self.eval_conds(&target, &t, &sub)? {
                    ok = true;
                    break;
                }
            }
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Linked entities a where path may go through: as a user, only those the user may view
    /// (a row joined through a hidden entity is dropped, semantics.md §1.10).
    fn visible(&mut self, etype: &str, ids: Vec<String>) -> Result<Vec<String>, ApiError> {
        let Some(p) = self.perms else {
            return Ok(ids);
        };
        let mut out = Vec::new();
        for id in ids {
            if let Some(m) = self.reader.entity(self.attrs, etype, &id)? {
                if p.allows_view(self.reader, self.attrs, etype, &m)? {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }

    fn negative_path(
        &mut self,
        etype: &str,
        e: &str,
        segs: &[String],
        op: &Op,
    ) -> Result<bool, ApiError> {
        match segs {
            [label] => self.leaf(etype, e, label, op),
            [first, rest @ ..] => {
                let Some((target, ids)) = self.reader.linked(self.attrs, etype, e, first)? else {
                    return Ok(false);
                };
                if ids.is_empty() {
                    return Ok(true);
                }
                let ids = self.visible(&target, ids)?;
                for t in ids {
                    if self.negative_path(&target, &t, rest, op)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            [] => Ok(true),
        }
    }

    fn leaf(&mut self, etype: &str, e: &str, label: &str, op: &Op) -> Result<bool, ApiError> {
        if label == "id" {
            let v = Value::String(e.to_string());
            return Ok(apply(op, Some(&v), None, false));
        }
        if self.attrs.link_end(etype, label).is_some() {
            let ids = self
                .reader
                .linked(self.attrs, etype, e, label)?
                .map(|(_, ids)| ids)
                .unwrap_or_default();
            let has = |v: &Value| v.as_str().is_some_and(|s| ids.iter().any(|i| i == s));
            return Ok(match op {
                Op::Eq(v) => has(v),
                Op::In(vs) => vs.iter().any(has),
                Op::Not(v) => !has(v),
                Op::IsNull(b) => ids.is_empty() == *b,
                _ => false,
            });
        }
        let Some(a) = self.attrs.fwd(etype, label) else {
            return Ok(false);
        };
        let date_eq = a.indexed && a.checked.as_deref() == Some("date");
        let v = self.reader.value(self.attrs, a, e)?;
        Ok(apply(op, v.as_ref(), a.checked.as_deref(), date_eq))
    }
}

fn eq_val(a: &Value, b: &Value, date_eq: bool) -> bool {
    if date_eq {
        if let (Some(x), Some(y)) = (date_ms(a), date_ms(b)) {
            return x == y;
        }
    }
    json_eq(a, b)
}

fn apply(op: &Op, v: Option<&Value>, checked: Option<&str>, date_eq: bool) -> bool {
    let nonnull = v.filter(|x| !x.is_null());
    match op {
        Op::Eq(x) => nonnull.is_some_and(|v| eq_val(v, x, date_eq)),
        Op::In(xs) => xs.iter().any(|x| {
            if x.is_null() {
                nonnull.is_none()
            } else {
                nonnull.is_some_and(|v| eq_val(v, x, date_eq))
            }
        }),
        Op::Not(x) => !nonnull.is_some_and(|v| eq_val(v, x, date_eq)),
        Op::IsNull(b) => nonnull.is_none() == *b,
        Op::Cmp(k, x) => nonnull.is_some_and(|v| match compare(checked, v, x) {
            Some(o) => match *k {
                "$gt" => o == Ordering::Greater,
                "$gte" => o != Ordering::Less,
                "$lt" => o == Ordering::Less,
                "$lte" => o != Ordering::Greater,
                _ => false,
            },
            None => false,
        }),
        Op::Like(p, ci) => nonnull
            .and_then(Value::as_str)
            .is_some_and(|s| like(s, p, *ci)),
    }
}
