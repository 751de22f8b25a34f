//! InstaML: validation and execution of transaction steps (semantics.md §2).

use crate::attrs::{AttrDef, Attrs};
use crate::error::ApiError;
use crate::perms::{PermCtx, Vars};
use crate::store::{delete_attr, insert_attr, Db, Doc, Reader};
use crate::values::{self, encode, matches_type, parse_uuid};
use rusqlite::params;
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

/// Shared text of a transaction's ops (a namespace or entity id named by many ops).
type Str = Rc<str>;

/// Options of one transaction call.
pub struct TxOptions<'a> {
    /// `throw-on-missing-attrs?`
    pub throw_on_missing_attrs: bool,
    /// Rules of the caller; None runs as admin.
    pub perms: Option<&'a PermCtx>,
    /// Roll back even when everything passes (`transact_perms_check` dry run).
    pub dry_run: bool,
    /// Internal writes (storage) may set system columns.
    pub internal: bool,
}

impl TxOptions<'_> {
    /// The server's own writes to system namespaces (`$users`, `$files`): as admin, committed,
    /// allowed to set system columns.
    pub fn internal() -> Self {
        TxOptions {
            throw_on_missing_attrs: false,
            perms: None,
            dry_run: false,
            internal: true,
        }
    }
}

/// What a transaction did.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    /// The transaction id.
    pub tx_id: i64,
    /// Permission check results (only when impersonating).
    pub check_results: Vec<Value>,
    /// Whether every check passed.
    pub all_ok: bool,
    /// Whether the transaction was committed.
    pub committed: bool,
    /// The entities it changed, only when the app has webhooks (empty otherwise).
    pub changes: Vec<crate::webhooks::Change>,
}

type RuleParams = HashMap<(String, String), Value>;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Create,
    Update,
    Merge,
    Delete,
    Link,
    Unlink,
    RuleParams,
    AddAttr,
    DeleteAttr,
}

/// An entity named by id or by a lookup (a unique attribute and its value), in entity or link
/// position.
#[derive(Debug, Clone)]
enum Eid {
    Id(String),
    Lookup(String, Value),
}

/// Reads an id or lookup: a uuid, a lookup string, `[attr, value]` or `{attr: value}`. `None` for
/// any other shape; each position reports that with its own error.
fn parse_ref(v: &Value, steps: &Value) -> Result<Option<Eid>, ApiError> {
    Ok(match v {
        Value::String(s) => match parse_uuid(s) {
            Some(u) => Some(Eid::Id(u)),
            None => parse_lookup_str(s, steps)?.map(|(a, val)| Eid::Lookup(a, val)),
        },
        Value::Array(a) => match a.as_slice() {
            [Value::String(attr), val] => {
                Some(Eid::Lookup(attr.clone(), values::normalize(val.clone())))
            }
            _ => None,
        },
        Value::Object(m) if m.len() == 1 => m
            .iter()
            .next()
            .map(|(k, val)| Eid::Lookup(k.clone(), values::normalize(val.clone()))),
        _ => None,
    })
}

#[derive(Debug, Clone)]
struct Step<'a> {
    action: Action,
    etype: Str,
    eid: Eid,
    args: Cow<'a, Value>,
    upsert: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Create,
    Strict,
    Upsert,
}

#[derive(Debug, Clone)]
enum TOp {
    Add {
        etype: Str,
        e: Str,
        attr: Arc<AttrDef>,
        v: Value,
        mode: Mode,
    },
    Merge {
        etype: Str,
        e: Str,
        attr: Arc<AttrDef>,
        v: Value,
    },
    Retract {
        e: Str,
        attr: Arc<AttrDef>,
        v: Value,
    },
    Delete {
        etype: Str,
        e: Str,
    },
}

impl TOp {
    fn kind(&self) -> u8 {
        match self {
            TOp::Add { .. } => 0,
            TOp::Merge { .. } => 1,
            TOp::Retract { .. } => 2,
            TOp::Delete { .. } => 3,
        }
    }
}

fn steps_err(steps: &Value, entry: Value) -> ApiError {
    ApiError::validation("steps", steps.clone(), vec![entry])
}

fn render_id(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => encode(other),
    }
}

/// Parses `lookup__<attr>__<json>`.
fn parse_lookup_str(s: &str, steps: &Value) -> Result<Option<(String, Value)>, ApiError> {
    let Some(rest) = s.strip_prefix("lookup__") else {
        return Ok(None);
    };
    let Some((attr, json)) = rest.split_once("__") else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(json) {
        Ok(v) => Ok(Some((attr.to_string(), values::normalize(v)))),
        Err(_) => Err(steps_err(
            steps,
            json!({"message": "lookup value is invalid", "hint": {"attribute": attr, "value": json}}),
        )),
    }
}

fn parse_eid(v: &Value, idx: usize, steps: &Value) -> Result<Eid, ApiError> {
    let invalid = || {
        steps_err(
            steps,
            json!({"message": format!("Invalid entity ID '{}'. Entity IDs must be UUIDs or lookup references.", render_id(v)), "in": [idx, 2]}),
        )
    };
    if matches!(v, Value::Object(m) if m.len() > 1) {
        return Err(steps_err(
            steps,
            json!({"message": "lookup must be an object with a single unique attr and value.", "in": [idx, 2]}),
        ));
    }
    parse_ref(v, steps)?.ok_or_else(invalid)
}

fn parse_steps(steps: &Value) -> Result<Vec<Step<'_>>, ApiError> {
    let arr = steps
        .as_array()
        .ok_or_else(|| steps_err(steps, json!({"expected": "coll?", "in": []})))?;
    let mut out = Vec::new();
    for (i, s) in arr.iter().enumerate() {
        let Some(parts) = s.as_array() else {
            return Err(steps_err(steps, json!({"expected": "vector?", "in": [i]})));
        };
        let action = match parts.first().and_then(Value::as_str) {
            Some("create") => Action::Create,
            Some("update") => Action::Update,
            Some("merge") => Action::Merge,
            Some("delete") => Action::Delete,
            Some("link") => Action::Link,
            Some("unlink") => Action::Unlink,
            Some("ruleParams") => Action::RuleParams,
            Some("add-attr") => Action::AddAttr,
            Some("delete-attr") => Action::DeleteAttr,
            Some("update-attr") => {
                return Err(ApiError::validation(
                    "action",
                    steps.clone(),
                    vec![
                        json!({"message": "Unsupported action update-attr", "hint": {"value": "update-attr"}}),
                    ],
                ))
            }
            _ => {
                return Err(steps_err(
                    steps,
                    json!({"expected": "#{\"add-attr\" \"delete-attr\" \"update-attr\" \"add-triple\" \"deep-merge-triple\" \"retract-triple\" \"delete-entity\" \"rule-params\" \"create\" \"update\" \"merge\" \"delete\" \"link\" \"unlink\" \"ruleParams\"}", "in": [i, 0]}),
                ))
            }
        };
        if action == Action::AddAttr {
            let Some(arg) = parts.get(1).filter(|a| a.is_object()) else {
                return Err(steps_err(steps, json!({"expected": "map?", "in": [i, 1]})));
            };
            out.push(Step {
                action,
                etype: "".into(),
                eid: Eid::Id(String::new()),
                args: Cow::Borrowed(arg),
                upsert: None,
            });
            continue;
        }
        if action == Action::DeleteAttr {
            let arg = parts.get(1).and_then(Value::as_str).and_then(parse_uuid);
            let Some(id) = arg else {
                return Err(steps_err(steps, json!({"expected": "uuid?", "in": [i, 1]})));
            };
            out.push(Step {
                action,
                etype: "".into(),
                eid: Eid::Id(id),
                args: Cow::Owned(Value::Null),
                upsert: None,
            });
            continue;
        }
        let Some(etype) = parts.get(1).and_then(Value::as_str) else {
            return Err(steps_err(
                steps,
                json!({"expected": "string?", "in": [i, 1]}),
            ));
        };
        let eid = parse_eid(parts.get(2).unwrap_or(&Value::Null), i, steps)?;
        let args = match parts.get(3) {
            Some(a) => Cow::Borrowed(a),
            None => Cow::Owned(Value::Null),
        };
        if action != Action::Delete && !args.is_object() {
            return Err(steps_err(steps, json!({"expected": "map?", "in": [i, 3]})));
        }
        let mut upsert = None;
        if let Some(opts) = parts.get(4).filter(|v| !v.is_null()) {
            match action {
                Action::Update | Action::Merge => match opts.get("upsert") {
                    None | Some(Value::Null) => {}
                    Some(Value::Bool(b)) => upsert = Some(*b),
                    Some(_) => {
                        return Err(steps_err(
                            steps,
                            json!({"expected": "boolean?", "in": [i, 4, "upsert"]}),
                        ))
                    }
                },
                Action::Delete => {}
                _ => return Err(steps_err(steps, json!({"expected": "nil?", "in": [i, 4]}))),
            }
        }
        out.push(Step {
            action,
            etype: etype.into(),
            eid,
            args,
            upsert,
        });
    }
    Ok(out)
}

fn parse_add_attr(m: &Value) -> Result<AttrDef, String> {
    let fwd = m
        .get("forward-identity")
        .and_then(Value::as_array)
        .ok_or("forward-identity is required")?;
    let etype = fwd
        .get(1)
        .and_then(Value::as_str)
        .ok_or("forward-identity needs an etype")?;
    let label = fwd
        .get(2)
        .and_then(Value::as_str)
        .ok_or("forward-identity needs a label")?;
    let mut a = AttrDef::blob(etype, label);
    if let Some(id) = m.get("id").and_then(Value::as_str).and_then(parse_uuid) {
        a.id = id;
    }
    a.is_ref = m.get("value-type").and_then(Value::as_str) == Some("ref");
    a.card_one = m.get("cardinality").and_then(Value::as_str) != Some("many");
    a.unique = m.get("unique?").and_then(Value::as_bool).unwrap_or(false);
    a.indexed = m.get("index?").and_then(Value::as_bool).unwrap_or(false);
    a.required = m.get("required?").and_then(Value::as_bool).unwrap_or(false);
    a.checked = m
        .get("checked-data-type")
        .and_then(Value::as_str)
        .map(str::to_string);
    a.on_delete = m.get("on-delete").and_then(Value::as_str) == Some("cascade");
    a.on_delete_reverse = m.get("on-delete-reverse").and_then(Value::as_str) == Some("cascade");
    if let Some(r) = m.get("reverse-identity").and_then(Value::as_array) {
        if let (Some(e), Some(l)) = (
            r.get(1).and_then(Value::as_str),
            r.get(2).and_then(Value::as_str),
        ) {
            a.rev = Some((e.to_string(), l.to_string()));
        }
    }
    Ok(a)
}

fn link_targets(v: &Value, steps: &Value, admin: bool) -> Result<Vec<Eid>, ApiError> {
    let bad = || {
        ApiError::validation_msg(
            "tx-step",
            steps.clone(),
            if admin {
                "Linked value must be a valid uuid."
            } else {
                "Expected link value to be a uuid."
            },
        )
    };
    let one = |x: &Value| parse_ref(x, steps)?.ok_or_else(bad);
    match v {
        Value::Array(a) => a.iter().map(one).collect(),
        Value::Object(m) => Ok(m
            .iter()
            .map(|(k, val)| Eid::Lookup(k.clone(), values::normalize(val.clone())))
            .collect()),
        other => Ok(vec![one(other)?]),
    }
}

fn lookup_err(msg: impl Into<String>, input: &Value) -> ApiError {
    ApiError::validation_msg("lookup", input.clone(), msg)
}

struct Exec<'a, 'c> {
    reader: Reader<'c>,
    attrs: Attrs,
    app: i64,
    t: i64,
    steps_json: &'a Value,
    created_lookups: HashMap<(String, String, String), String>,
    touched: Vec<(String, String)>,
    written: Vec<(String, String, Vec<String>)>,
    required_etypes: FxHashSet<String>,
    docs: FxHashMap<i64, FxHashMap<String, DocBuf>>,
}

impl Exec<'_, '_> {
    fn ensure_attr(
        &mut self,
        a: AttrDef,
        missing: &mut Vec<String>,
        throw: bool,
    ) -> Result<(), ApiError> {
        if self.attrs.fwd(&a.etype, &a.label).is_some() {
            return Ok(());
        }
        let name = a.name();
        if throw {
            if !missing.contains(&name) {
                missing.push(name);
            }
            return Ok(());
        }
        let stored = insert_attr(self.reader.conn, self.app, a)?;
        self.attrs.push(stored);
        missing.push(name);
        Ok(())
    }

    /// Creates the attributes the steps need (schemaless writes); returns their names.
    fn create_missing(&mut self, steps: &[Step], throw: bool) -> Result<Vec<String>, ApiError> {
        let mut missing = Vec::new();
        for s in steps {
            match s.action {
                Action::AddAttr => {
                    let a = parse_add_attr(&s.args).map_err(|m| {
                        ApiError::validation_msg("steps", self.steps_json.clone(), m)
                    })?;
                    if self.attrs.fwd(&a.etype, &a.label).is_none()
                        && self.attrs.by_id(&a.id).is_none()
                    {
                        let stored = insert_attr(self.reader.conn, self.app, a)?;
                        self.attrs.push(stored);
                    }
                    continue;
                }
                Action::DeleteAttr => {
                    if let Eid::Id(id) = &s.eid {
                        if let Some(a) = self.attrs.remove_id(id) {
                            delete_attr(self.reader.conn, self.app, &a)?;
                        }
                    }
                    continue;
                }
                Action::RuleParams => continue,
                _ => {}
            }
            if self.attrs.id_attr(&s.etype).is_none() {
                self.ensure_attr(AttrDef::id_attr(&s.etype), &mut missing, throw)?;
            }
            if let Eid::Lookup(attr, _) = &s.eid {
                if self.attrs.fwd(&s.etype, attr).is_none() {
                    match attr.split_once('.') {
                        Some((label, "id")) => {
                            if self.attrs.link_end(&s.etype, label).is_none() {
                                let mut a = AttrDef::link(&s.etype, label, label, &s.etype);
                                a.card_one = true;
                                a.unique = true;
                                self.ensure_attr(a, &mut missing, throw)?;
                            }
                        }
                        Some(_) => {}
                        None => {
                            let mut a = AttrDef::blob(&s.etype, attr);
                            a.unique = true;
                            a.indexed = true;
                            self.ensure_attr(a, &mut missing, throw)?;
                        }
                    }
                }
            }
            if let Some(m) = s.args.as_object() {
                for k in m.keys() {
                    if k == "id" {
                        continue;
                    }
                    let known = self.attrs.fwd(&s.etype, k).is_some()
                        || self.attrs.rev(&s.etype, k).is_some();
                    if known {
                        continue;
                    }
                    match s.action {
                        Action::Create | Action::Update | Action::Merge => {
                            self.ensure_attr(AttrDef::blob(&s.etype, k), &mut missing, throw)?;
                        }
                        Action::Link | Action::Unlink => {
                            self.ensure_attr(
                                AttrDef::link(&s.etype, k, k, &s.etype),
                                &mut missing,
                                throw,
                            )?;
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(missing)
    }

    fn find_lookup(
        &mut self,
        etype: &str,
        attr: &str,
        v: &Value,
    ) -> Result<Option<String>, ApiError> {
        let key = (etype.to_string(), attr.to_string(), encode(v));
        if let Some(e) = self.created_lookups.get(&key) {
            return Ok(Some(e.clone()));
        }
        if attr == "id" {
            return match v.as_str().and_then(parse_uuid) {
                Some(u) => Ok(Some(u)),
                None => Err(lookup_err(
                    format!(
                        "Invalid lookup: the value for id must be a uuid, got {}",
                        encode(v)
                    ),
                    self.steps_json,
                )),
            };
        }
        if let Some(a) = self.attrs.fwd(etype, attr) {
            if !a.unique {
                return Err(lookup_err(
                    format!("{attr} is not a unique attribute on {etype}"),
                    self.steps_json,
                ));
            }
            if a.is_ref {
                return Err(lookup_err(
                    format!("{attr} is not a valid lookup attribute."),
                    self.steps_json,
                ));
            }
            let a = a.clone();
            let found = self.reader.entities_with(&self.attrs, &a, v)?;
            for e in found {
                if self.reader.exists(&self.attrs, etype, &e)? {
                    return Ok(Some(e));
                }
            }
            return Ok(None);
        }
        match attr.split_once('.') {
            Some((label, "id")) => {
                let Some(end) = self.attrs.link_end(etype, label) else {
                    return Err(lookup_err(
                        format!("{attr} is not a valid lookup attribute."),
                        self.steps_json,
                    ));
                };
                let (key, forward) = (end.attr.key, end.forward);
                let Some(target) = v.as_str().and_then(parse_uuid) else {
                    return Ok(None);
                };
                let cands: Vec<String> = if forward {
                    self.reader.refs_to(key, &target)?
                } else {
                    self.reader.refs_from(&target, key)?
                };
                for e in cands {
                    if self.reader.exists(&self.attrs, etype, &e)? {
                        return Ok(Some(e));
                    }
                }
                Ok(None)
            }
            _ => Err(lookup_err(
                format!("{attr} is not a valid lookup attribute."),
                self.steps_json,
            )),
        }
    }

    /// Resolves the entity of a step; creates it (random id) for an unresolved lookup.
    fn resolve_eid(&mut self, s: &Step, ops: &mut Vec<TOp>) -> Result<Option<String>, ApiError> {
        let (attr, v) = match &s.eid {
            Eid::Id(id) => return Ok(Some(id.clone())),
            Eid::Lookup(a, v) => (a.clone(), v.clone()),
        };
        if let Some(e) = self.find_lookup(&s.etype, &attr, &v)? {
            return Ok(Some(e));
        }
        if s.action == Action::Delete {
            return Ok(None);
        }
        if let Some(new_v) = s.args.get(&attr) {
            if !values::json_eq(&values::normalize(new_v.clone()), &v) {
                return Err(lookup_err(
                    "Updates with lookups can only update the lookup attribute if an entity with the unique attribute value already exists.",
                    self.steps_json,
                ));
            }
        }
        let e = uuid::Uuid::new_v4().to_string();
        self.created_lookups
            .insert((s.etype.to_string(), attr.clone(), encode(&v)), e.clone());
        let id_attr = self.attr_or_err(&s.etype, "id")?;
        ops.push(TOp::Add {
            etype: s.etype.clone(),
            e: e.clone().into(),
            attr: id_attr,
            v: Value::String(e.clone()),
            mode: Mode::Upsert,
        });
        if let Some(a) = self.attrs.fwd_arc(&s.etype, &attr) {
            ops.push(TOp::Add {
                etype: s.etype.clone(),
                e: e.clone().into(),
                attr: a,
                v,
                mode: Mode::Upsert,
            });
        } else if let Some((label, _)) = attr.split_once('.') {
            if let Some(end) = self.attrs.link_end(&s.etype, label) {
                let Some(a) = self.attrs.arc_by_key(end.attr.key) else {
                    return Ok(Some(e));
                };
                let target = v.as_str().unwrap_or_default().to_string();
                if end.forward {
                    ops.push(TOp::Add {
                        etype: s.etype.clone(),
                        e: e.clone().into(),
                        attr: a,
                        v: Value::String(target),
                        mode: Mode::Upsert,
                    });
                } else {
                    let et = a.etype.clone();
                    ops.push(TOp::Add {
                        etype: et.into(),
                        e: target.into(),
                        attr: a,
                        v: Value::String(e.clone()),
                        mode: Mode::Upsert,
                    });
                }
            }
        }
        Ok(Some(e))
    }

    fn attr_or_err(&self, etype: &str, label: &str) -> Result<Arc<AttrDef>, ApiError> {
        self.attrs.fwd_arc(etype, label).ok_or_else(|| {
            ApiError::validation(
                "steps",
                self.steps_json.clone(),
                vec![json!({"message": "Attributes are missing in your schema", "hint": {"attributes": [format!("{etype}.{label}")]}})],
            )
        })
    }

    fn resolve_target(&mut self, target_etype: &str, t: Eid) -> Result<String, ApiError> {
        match t {
            Eid::Id(id) => Ok(id),
            Eid::Lookup(attr, v) => {
                if self.attrs.fwd(target_etype, &attr).is_none()
                    && !attr.contains('.')
                    && attr != "id"
                {
                    return Err(lookup_err(
                        "The entity for the lookup does not exist.",
                        self.steps_json,
                    ));
                }
                match self.find_lookup(target_etype, &attr, &v)? {
                    Some(e) => Ok(e),
                    None => Err(lookup_err(
                        "The entity for the lookup does not exist.",
                        self.steps_json,
                    )),
                }
            }
        }
    }

    fn link_ops(
        &mut self,
        s: &Step,
        e: &str,
        admin: bool,
        ops: &mut Vec<TOp>,
    ) -> Result<(), ApiError> {
        let Some(m) = s.args.as_object() else {
            return Ok(());
        };
        for (label, val) in m {
            let Some(end) = self.attrs.link_end(&s.etype, label) else {
                return Err(ApiError::validation_msg(
                    "tx-step",
                    self.steps_json.clone(),
                    format!("{}.{label} is not a link.", s.etype),
                ));
            };
            let (forward, target_etype) = (end.forward, end.target.clone());
            let Some(attr) = self.attrs.arc_by_key(end.attr.key) else {
                continue;
            };
            for t in link_targets(val, self.steps_json, admin)? {
                let target = self.resolve_target(&target_etype, t)?;
                let (src_etype, src, dst) = if forward {
                    (s.etype.to_string(), e.to_string(), target)
                } else {
                    (attr.etype.clone(), target, e.to_string())
                };
                if s.action == Action::Unlink {
                    ops.push(TOp::Retract {
                        e: src.into(),
                        attr: attr.clone(),
                        v: Value::String(dst),
                    });
                } else {
                    ops.push(TOp::Add {
                        etype: src_etype.into(),
                        e: src.into(),
                        attr: attr.clone(),
                        v: Value::String(dst),
                        mode: Mode::Upsert,
                    });
                }
            }
        }
        Ok(())
    }

    fn expand(
        &mut self,
        steps: &[Step],
        perms: Option<&PermCtx>,
        internal: bool,
    ) -> Result<(Vec<TOp>, RuleParams), ApiError> {
        let admin = perms.is_none();
        let mut ops = Vec::new();
        let mut rule_params: HashMap<(String, String), Value> = HashMap::new();
        for s in steps {
            if matches!(s.action, Action::AddAttr | Action::DeleteAttr) {
                continue;
            }
            let Some(e) = self.resolve_eid(s, &mut ops)? else {
                continue;
            };
            match s.action {
                Action::Create | Action::Update | Action::Merge => {
                    let mode = match (s.action, s.upsert) {
                        (Action::Create, _) => Mode::Create,
                        (_, Some(false)) => Mode::Strict,
                        _ => Mode::Upsert,
                    };
                    let id_attr = self.attr_or_err(&s.etype, "id")?;
                    let e_rc: Str = e.as_str().into();
                    ops.push(TOp::Add {
                        etype: s.etype.clone(),
                        e: e_rc.clone(),
                        attr: id_attr,
                        v: Value::String(e.clone()),
                        mode,
                    });
                    let mut labels = Vec::new();
                    let mut link_args = Map::new();
                    if let Some(m) = s.args.as_object() {
                        for (k, v) in m {
                            if k == "id" {
                                continue;
                            }
                            // One lookup answers both "is it a link?" and "which attribute?".
                            let fwd = self.attrs.fwd_arc(&s.etype, k);
                            let is_link = match &fwd {
                                Some(a) => a.is_ref,
                                None => self.attrs.rev(&s.etype, k).is_some(),
                            };
                            if is_link {
                                link_args.insert(k.clone(), v.clone());
                                if perms.is_some() {
                                    labels.push(k.clone());
                                }
                                continue;
                            }
                            let a = match fwd {
                                Some(a) => a,
                                None => self.attr_or_err(&s.etype, k)?,
                            };
                            if a.system
                                && !internal
                                && matches!(&*s.etype, "$files" | "$streams")
                                && k == "path"
                                && v.as_str().is_some_and(|p| p.starts_with("$stream/"))
                            {
                                return Err(ApiError::validation_msg(
                                    "tx-step",
                                    self.steps_json.clone(),
                                    "The path for stream files can't be edited.",
                                ));
                            }
                            // No one changes `$files` and `$streams` columns but the server
                            // itself (a file's path excepted); admins may change `$users`.
                            if a.system
                                && !internal
                                && (matches!(&*s.etype, "$files" | "$streams")
                                    || (!admin && &*s.etype == "$users"))
                                && !(&*s.etype == "$files" && k == "path")
                            {
                                return Err(ApiError::validation_msg(
                                    "tx-step",
                                    self.steps_json.clone(),
                                    format!("{}.{} is a system column. You aren't allowed to change this directly.", s.etype, k),
                                ));
                            }
                            let v = values::normalize(v.clone());
                            if let Some(t) = &a.checked {
                                if s.action != Action::Merge && !matches_type(t, &v) {
                                    return Err(ApiError::new(
                                        400,
                                        "validation-failed",
                                        format!("Invalid value type for {}. Value must be a {t} but the provided value type is {}.", a.name(), values::type_name(&v)),
                                        json!({"data-type": "tx-step", "input": self.steps_json, "errors": [{"message": "invalid value type"}]}),
                                    ));
                                }
                            }
                            if let Value::String(st) = &v {
                                if st.contains('\0') {
                                    return Err(ApiError::validation_msg(
                                        "tx-step",
                                        self.steps_json.clone(),
                                        "Null bytes are not allowed in strings.",
                                    ));
                                }
                            }
                            if perms.is_some() {
                                labels.push(k.clone());
                            }
                            if s.action == Action::Merge {
                                if a.is_ref {
                                    return Err(ApiError::new(400, "sql-raise", "Raised Exception: merge operation is not supported for links", Value::Null));
                                }
                                ops.push(TOp::Merge {
                                    etype: s.etype.clone(),
                                    e: e_rc.clone(),
                                    attr: a,
                                    v,
                                });
                            } else {
                                ops.push(TOp::Add {
                                    etype: s.etype.clone(),
                                    e: e_rc.clone(),
                                    attr: a,
                                    v,
                                    mode,
                                });
                            }
                        }
                    }
                    if !link_args.is_empty() {
                        let ls = Step {
                            action: Action::Link,
                            etype: s.etype.clone(),
                            eid: Eid::Id(e.clone()),
                            args: Cow::Owned(Value::Object(link_args)),
                            upsert: None,
                        };
                        self.link_ops(&ls, &e, admin, &mut ops)?;
                    }
                    if perms.is_some() {
                        self.written.push((s.etype.to_string(), e.clone(), labels));
                    }
                }
                Action::Delete => ops.push(TOp::Delete {
                    etype: s.etype.clone(),
                    e: e.into(),
                }),
                Action::Link | Action::Unlink => self.link_ops(s, &e, admin, &mut ops)?,
                Action::RuleParams => {
                    let entry = rule_params
                        .entry((s.etype.to_string(), e))
                        .or_insert_with(|| json!({}));
                    if let (Some(dst), Some(src)) = (entry.as_object_mut(), s.args.as_object()) {
                        for (k, v) in src {
                            dst.insert(k.clone(), v.clone());
                        }
                    }
                }
                Action::AddAttr | Action::DeleteAttr => {}
            }
        }
        Ok((ops, rule_params))
    }

    fn exists(&mut self, etype: &str, e: &str) -> Result<bool, ApiError> {
        self.reader.exists(&self.attrs, etype, e)
    }

    fn run_adds(&mut self, group: &[&TOp]) -> Result<(), ApiError> {
        // Create/strict-update checks against the state before this group.
        let mut exist_errs: Vec<String> = Vec::new();
        let mut missing_errs: Vec<String> = Vec::new();
        let mut seen: HashMap<(Str, Str), bool> = HashMap::new();
        for op in group {
            if let TOp::Add { etype, e, mode, .. } = op {
                if *mode == Mode::Upsert {
                    continue;
                }
                let key = (etype.clone(), e.clone());
                let ex = match seen.get(&key) {
                    Some(x) => *x,
                    None => {
                        let x = self.exists(etype, e)?;
                        seen.insert(key, x);
                        x
                    }
                };
                if *mode == Mode::Create && ex {
                    exist_errs.push(e.to_string());
                }
                if *mode == Mode::Strict && !ex {
                    missing_errs.push(e.to_string());
                }
            }
        }
        if !exist_errs.is_empty() {
            return Err(ApiError::validation_msg(
                "tx-step",
                self.steps_json.clone(),
                format!("Creating entities that exist: {}", exist_errs.join(", ")),
            ));
        }
        if !missing_errs.is_empty() {
            return Err(ApiError::validation_msg(
                "tx-step",
                self.steps_json.clone(),
                format!(
                    "Updating entities that don't exist: {}",
                    missing_errs.join(", ")
                ),
            ));
        }
        for op in group {
            if let TOp::Add {
                etype, e, attr, v, ..
            } = op
            {
                self.add_triple(etype, e, attr, v)?;
            }
        }
        Ok(())
    }

    fn et_of(&self, etype: &str) -> Option<i64> {
        self.attrs.id_attr(etype).map(|a| a.key)
    }

    /// The buffered document of `(et, e)`, loaded from storage or created.
    fn doc_mut(&mut self, et: i64, e: &str) -> Result<&mut DocBuf, ApiError> {
        let present = self.docs.get(&et).is_some_and(|m| m.contains_key(e));
        if !present {
            let loaded = self.reader.ent(et, e)?;
            let buf = match loaded {
                Some(ent) => DocBuf {
                    doc: ent.doc.clone(),
                    dirty: false,
                },
                None => DocBuf {
                    doc: Doc::new(),
                    dirty: true,
                },
            };
            self.docs.entry(et).or_default().insert(e.to_string(), buf);
        }
        self.docs
            .get_mut(&et)
            .and_then(|m| m.get_mut(e))
            .ok_or_else(|| ApiError::internal("document buffer"))
    }

    /// Writes buffered documents and forgets cached reads.
    fn flush(&mut self) -> Result<(), ApiError> {
        let docs = std::mem::take(&mut self.docs);
        {
            let mut st = self.reader.conn.prepare_cached(
                "INSERT INTO ents (app, et, e, t, doc) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(app, et, e) DO UPDATE SET doc = excluded.doc",
            )?;
            for (et, m) in docs {
                for (e, buf) in m {
                    if buf.dirty {
                        st.execute(params![self.app, et, e, self.t, buf.doc.encode()])?;
                    }
                }
            }
        }
        self.reader.clear();
        Ok(())
    }

    fn unique_clash(&self, attr: &AttrDef, e: &str, enc: &str, v: &Value) -> Result<(), ApiError> {
        let sql = if attr.is_ref {
            "SELECT e FROM refs WHERE app = ?1 AND a = ?2 AND v = ?3 AND e != ?4 LIMIT 1"
        } else {
            "SELECT e FROM vals WHERE app = ?1 AND a = ?2 AND v = ?3 AND e != ?4 LIMIT 1"
        };
        let mut st = self.reader.conn.prepare_cached(sql)?;
        let other: Option<String> = st
            .query_map(params![self.app, attr.key, enc, e], |r| {
                r.get::<_, String>(0)
            })?
            .next()
            .transpose()?;
        if other.is_some() {
            let (et, label) = (&attr.etype, &attr.label);
            let shown = if attr.is_ref {
                encode(v)
            } else {
                enc.to_string()
            };
            return Err(ApiError::new(
                400,
                "record-not-unique",
                format!("`{label}` is a unique attribute on `{et}` and an entity already exists with `{et}.{label}` = {shown}"),
                json!({"record-type": "triple", "attr": attr.name(), "value": v}),
            ));
        }
        Ok(())
    }

    /// Sets a cardinality-one data attribute, keeping the value index in step.
    fn set_value(&mut self, attr: &AttrDef, e: &str, v: Value) -> Result<(), ApiError> {
        let Some(et) = self.et_of(&attr.etype) else {
            return Err(ApiError::internal("attribute of a namespace without id"));
        };
        let indexed = attr.indexed || attr.unique;
        let enc = if indexed { encode(&v) } else { String::new() };
        if attr.unique && !v.is_null() {
            self.unique_clash(attr, e, &enc, &v)?;
        }
        let (app, key) = (self.app, attr.key);
        let conn = self.reader.conn;
        let v_null = v.is_null();
        let buf = self.doc_mut(et, e)?;
        let old = buf.doc.insert(key, v);
        buf.dirty = true;
        if indexed {
            if let Some(o) = old.filter(|o| !o.is_null()) {
                if !buf.doc.get(key).is_some_and(|v| values::json_eq(&o, v)) {
                    conn.prepare_cached(
                        "DELETE FROM vals WHERE app = ?1 AND a = ?2 AND v = ?3 AND e = ?4",
                    )?
                    .execute(params![app, key, encode(&o), e])?;
                }
            }
            if !v_null {
                conn.prepare_cached("INSERT INTO vals (app, a, v, e) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")?
                    .execute(params![app, key, enc, e])?;
            }
        }
        Ok(())
    }

    fn add_triple(
        &mut self,
        etype: &str,
        e: &str,
        attr: &AttrDef,
        v: &Value,
    ) -> Result<(), ApiError> {
        if attr.label == "id" && !attr.is_ref {
            let et = attr.key;
            self.doc_mut(et, e)?;
        } else if attr.is_ref {
            let Some(target) = v.as_str() else {
                return Err(ApiError::validation_msg(
                    "tx-step",
                    self.steps_json.clone(),
                    "Linked value must be a valid uuid.",
                ));
            };
            if attr.unique {
                self.unique_clash(attr, e, target, v)?;
            }
            let conn = self.reader.conn;
            if attr.card_one {
                conn.prepare_cached("DELETE FROM refs WHERE app = ?1 AND e = ?2 AND a = ?3")?
                    .execute(params![self.app, e, attr.key])?;
            }
            conn.prepare_cached("INSERT INTO refs (app, e, a, v, t) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING")?
                .execute(params![self.app, e, attr.key, target, self.t])?;
            if let Some((rev_etype, _)) = &attr.rev {
                self.touch(rev_etype, target);
            }
        } else {
            self.set_value(attr, e, v.clone())?;
        }
        self.touch(etype, e);
        Ok(())
    }

    fn merge_triple(
        &mut self,
        etype: &str,
        e: &str,
        attr: &AttrDef,
        v: &Value,
    ) -> Result<(), ApiError> {
        let Some(et) = self.et_of(&attr.etype) else {
            return Err(ApiError::internal("attribute of a namespace without id"));
        };
        let current = self.doc_mut(et, e)?.doc.get(attr.key).cloned();
        let merged = match current {
            Some(c) => values::deep_merge(Some(&c), v),
            None => v.clone(),
        };
        if let Some(t) = &attr.checked {
            if !matches_type(t, &merged) {
                return Err(ApiError::new(
                    400,
                    "validation-failed",
                    format!("Invalid value type for {}. Value must be a {t} but the provided value type is {}.", attr.name(), values::type_name(&merged)),
                    json!({"data-type": "tx-step", "input": self.steps_json, "errors": [{"message": "invalid value type"}]}),
                ));
            }
        }
        self.set_value(attr, e, merged)?;
        self.touch(etype, e);
        Ok(())
    }

    fn retract(&mut self, e: &str, attr: &AttrDef, v: &Value) -> Result<(), ApiError> {
        if attr.is_ref {
            if let Some(target) = v.as_str() {
                self.reader
                    .conn
                    .prepare_cached(
                        "DELETE FROM refs WHERE app = ?1 AND e = ?2 AND a = ?3 AND v = ?4",
                    )?
                    .execute(params![self.app, e, attr.key, target])?;
            }
        }
        self.touch(&attr.etype, e);
        Ok(())
    }

    fn delete_entity(
        &mut self,
        etype: &str,
        e: &str,
        seen: &mut HashSet<(String, String)>,
    ) -> Result<(), ApiError> {
        if !seen.insert((etype.to_string(), e.to_string())) {
            return Ok(());
        }
        self.reader.clear();
        let Some(et) = self.et_of(etype) else {
            return Ok(());
        };
        let Some(ent) = self.reader.ent(et, e)? else {
            return Ok(());
        };
        let mut cascade: Vec<(String, String)> = Vec::new();
        let own_refs: Vec<Arc<AttrDef>> = self
            .attrs
            .all()
            .iter()
            .filter(|a| a.is_ref && a.etype == etype)
            .cloned()
            .collect();
        let incoming: Vec<Arc<AttrDef>> = self
            .attrs
            .all()
            .iter()
            .filter(|a| a.is_ref && a.rev.as_ref().is_some_and(|r| r.0 == etype))
            .cloned()
            .collect();
        for a in &own_refs {
            if a.on_delete_reverse {
                if let Some((rev_etype, _)) = &a.rev {
                    for target in self.reader.refs_from(e, a.key)? {
                        cascade.push((rev_etype.clone(), target));
                    }
                }
            }
        }
        for a in &incoming {
            for s in self.reader.refs_to(a.key, e)? {
                if a.on_delete {
                    cascade.push((a.etype.clone(), s.clone()));
                }
                self.touch(&a.etype, &s);
            }
        }
        let conn = self.reader.conn;
        if etype == "$files" {
            let loc = self
                .attrs
                .fwd("$files", "location-id")
                .and_then(|a| ent.doc.get(a.key))
                .and_then(Value::as_str);
            if let Some(loc) = loc {
                conn.execute(
                    "DELETE FROM blobs WHERE app = ?1 AND location_id = ?2",
                    params![self.app, loc],
                )?;
            }
        }
        if etype == "$users" {
            conn.execute(
                "DELETE FROM refresh_tokens WHERE app = ?1 AND user_id = ?2",
                params![self.app, e],
            )?;
        }
        conn.prepare_cached("DELETE FROM ents WHERE app = ?1 AND et = ?2 AND e = ?3")?
            .execute(params![self.app, et, e])?;
        {
            let mut st = conn.prepare_cached(
                "DELETE FROM vals WHERE app = ?1 AND a = ?2 AND v = ?3 AND e = ?4",
            )?;
            for (k, v) in ent.doc.iter() {
                if !v.is_null() && self.attrs.by_key(k).is_some_and(|a| a.indexed || a.unique) {
                    st.execute(params![self.app, k, encode(v), e])?;
                }
            }
        }
        {
            let mut st =
                conn.prepare_cached("DELETE FROM refs WHERE app = ?1 AND e = ?2 AND a = ?3")?;
            for a in &own_refs {
                st.execute(params![self.app, e, a.key])?;
            }
            let mut st2 =
                conn.prepare_cached("DELETE FROM refs WHERE app = ?1 AND a = ?2 AND v = ?3")?;
            for a in &incoming {
                st2.execute(params![self.app, a.key, e])?;
            }
        }
        self.reader.clear();
        for (et2, id) in cascade {
            self.delete_entity(&et2, &id, seen)?;
        }
        Ok(())
    }

    /// The entities a delete of `(etype, e)` would remove through `onDelete: cascade` links.
    fn cascade_closure(&mut self, etype: &str, e: &str) -> Result<Vec<(String, String)>, ApiError> {
        let mut out: Vec<(String, String)> = Vec::new();
        let mut seen: HashSet<(String, String)> = HashSet::new();
        seen.insert((etype.to_string(), e.to_string()));
        let mut stack = vec![(etype.to_string(), e.to_string())];
        while let Some((et, id)) = stack.pop() {
            let mut next: Vec<(String, String)> = Vec::new();
            for a in self.attrs.all().iter().filter(|a| a.is_ref) {
                if a.etype == et && a.on_delete_reverse {
                    if let Some((rev_etype, _)) = &a.rev {
                        for t in self.reader.refs_from(&id, a.key)? {
                            next.push((rev_etype.clone(), t));
                        }
                    }
                }
                if a.on_delete && a.rev.as_ref().is_some_and(|r| r.0 == et) {
                    for src in self.reader.refs_to(a.key, &id)? {
                        next.push((a.etype.clone(), src));
                    }
                }
            }
            for n in next {
                if seen.insert(n.clone()) {
                    out.push(n.clone());
                    stack.push(n);
                }
            }
        }
        Ok(out)
    }

    fn touch(&mut self, etype: &str, e: &str) {
        if self.required_etypes.contains(etype) {
            self.touched.push((etype.to_string(), e.to_string()));
        }
    }

    /// Writes explicit nulls for the indexed attributes an entity whose id was written lacks,
    /// then checks required attributes of the touched entities.
    fn null_fill_and_required(
        &mut self,
        created: &[(Str, Str)],
        written: &FxHashSet<(&str, i64)>,
        check_exists: bool,
    ) -> Result<(), ApiError> {
        self.flush()?;
        let mut fills: FxHashMap<&str, Vec<i64>> = FxHashMap::default();
        for (etype, e) in created {
            if !fills.contains_key(&**etype) {
                let keys = self
                    .attrs
                    .of_etype(etype)
                    .filter(|a| a.indexed && !a.is_ref && !a.system && a.label != "id")
                    .map(|a| a.key)
                    .collect();
                fills.insert(&**etype, keys);
            }
            let keys: Vec<i64> = fills
                .get(&**etype)
                .map(|ks| {
                    ks.iter()
                        .copied()
                        .filter(|k| !written.contains(&(&**e, *k)))
                        .collect()
                })
                .unwrap_or_default();
            if keys.is_empty() || (check_exists && !self.exists(etype, e)?) {
                continue;
            }
            let Some(et) = self.et_of(etype) else {
                continue;
            };
            let buf = self.doc_mut(et, e)?;
            for k in keys {
                if !buf.doc.contains_key(k) {
                    buf.doc.insert(k, Value::Null);
                    buf.dirty = true;
                }
            }
        }
        self.flush()?;
        let mut missing: Vec<(String, Vec<String>)> = Vec::new();
        let mut checked: HashSet<(String, String)> = HashSet::new();
        let touched = std::mem::take(&mut self.touched);
        for (etype, e) in touched {
            if !checked.insert((etype.clone(), e.clone())) {
                continue;
            }
            let required: Vec<AttrDef> = self
                .attrs
                .of_etype(&etype)
                .filter(|a| a.required)
                .cloned()
                .collect();
            if required.is_empty() || !self.exists(&etype, &e)? {
                continue;
            }
            for a in required {
                let ok = self
                    .reader
                    .value(&self.attrs, &a, &e)?
                    .is_some_and(|v| !v.is_null());
                if !ok {
                    let name = format!("{}/{}", a.etype, a.label);
                    match missing.iter_mut().find(|(n, _)| *n == name) {
                        Some((_, ids)) => ids.push(e.clone()),
                        None => missing.push((name, vec![e.clone()])),
                    }
                }
            }
        }
        if let Some((name, ids)) = missing.first() {
            let msg = if ids.len() == 1 {
                format!("Missing required attribute `{name}`: {}", ids.join(", "))
            } else {
                format!("Missing required attributes `{name}`: {}", ids.join(", "))
            };
            return Err(ApiError::new(
                400,
                "validation-failed",
                msg,
                json!({"data-type": "tx-step", "input": self.steps_json, "errors": [{"message": "Missing required attribute", "hint": {"attribute": name, "entity-ids": ids}}]}),
            ));
        }
        Ok(())
    }
}

/// A document being written in this transaction.
struct DocBuf {
    doc: Doc,
    dirty: bool,
}

fn check_entry(
    etype: &str,
    eid: &str,
    action: &str,
    code: Option<&str>,
    bindings: Value,
    ok: bool,
) -> Value {
    let program = match code {
        Some(c) => json!({"etype": etype, "action": action, "code": c, "display-code": c}),
        None => json!({}),
    };
    json!({"scope": "object", "action": action, "etype": etype, "eid": eid, "program": program,
           "bindings": bindings, "check-result": ok, "check-pass?": ok})
}

/// Runs a transaction against app `app_id`. Everything happens in one SQLite transaction.
pub fn transact(
    db: &mut Db,
    app_id: &str,
    steps_json: &Value,
    opts: &TxOptions<'_>,
) -> Result<TxOutcome, ApiError> {
    let steps = parse_steps(steps_json)?;
    let meta = db
        .apps
        .get(app_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("app", json!({"id": app_id}), None))?;
    let counters = db.counters();
    let capture = db.webhooks.watches(app_id);
    db.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    // The counters are written inside the transaction: a rolled-back one leaves them as they were.
    let result = db.next_tx().map_err(ApiError::from).and_then(|(t, tx_id)| {
        Ok((
            run(&db.conn, &meta, steps_json, &steps, t, opts, capture)?,
            tx_id,
        ))
    });
    match result {
        Ok(((outcome, attrs), tx_id)) => {
            if outcome.committed {
                let done = db.conn.prepare_cached("COMMIT")?.execute([]);
                if let Err(e) = done {
                    let _ = db.conn.execute_batch("ROLLBACK");
                    db.restore_counters(counters.0, counters.1);
                    return Err(e.into());
                }
                if let Some(m) = db.apps.get_mut(app_id) {
                    m.attrs = attrs;
                }
                if !outcome.changes.is_empty() {
                    crate::webhooks::committed(db, app_id, tx_id, &outcome.changes);
                }
                Ok(TxOutcome { tx_id, ..outcome })
            } else {
                db.conn.prepare_cached("ROLLBACK")?.execute([])?;
                db.restore_counters(counters.0, counters.1);
                Ok(TxOutcome { tx_id, ..outcome })
            }
        }
        Err(e) => {
            let _ = db.conn.execute_batch("ROLLBACK");
            db.restore_counters(counters.0, counters.1);
            Err(e)
        }
    }
}

fn run(
    conn: &rusqlite::Connection,
    meta: &crate::store::AppMeta,
    steps_json: &Value,
    steps: &[Step],
    t: i64,
    opts: &TxOptions<'_>,
    capture: bool,
) -> Result<(TxOutcome, Attrs), ApiError> {
    let mut ex = Exec {
        reader: Reader::new(conn, meta.key),
        attrs: meta.attrs.clone(),
        app: meta.key,
        t,
        steps_json,
        created_lookups: HashMap::new(),
        touched: Vec::new(),
        written: Vec::new(),
        required_etypes: meta
            .attrs
            .all()
            .iter()
            .filter(|a| a.required)
            .map(|a| a.etype.clone())
            .collect(),
        docs: FxHashMap::default(),
    };
    let created_attrs = ex.create_missing(steps, opts.throw_on_missing_attrs)?;
    if opts.throw_on_missing_attrs && !created_attrs.is_empty() {
        return Err(ApiError::validation(
            "steps",
            steps_json.clone(),
            vec![
                json!({"message": "Attributes are missing in your schema", "hint": {"attributes": created_attrs}}),
            ],
        ));
    }
    let perms = opts.perms;
    let mut checks: Vec<Value> = Vec::new();
    let mut all_ok = true;
    if let (Some(p), false) = (perms, created_attrs.is_empty()) {
        let code = p
            .rules
            .get("attrs")
            .and_then(|a| a.get("allow"))
            .and_then(|a| a.get("create"));
        let code = match code {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        if let Some(code) = code {
            let ok = p.eval(
                &mut ex.reader,
                &ex.attrs,
                "attrs",
                "create",
                &code,
                &Vars::default(),
            )?;
            checks.push(check_entry(
                "attrs",
                "",
                "create",
                Some(&code),
                json!({}),
                ok,
            ));
            if !ok {
                all_ok = false;
                if !opts.dry_run {
                    return Err(ApiError::permission_denied("attrs", "object"));
                }
            }
        }
    }
    let (ops, rule_params) = ex.expand(steps, perms, opts.internal)?;

    // Snapshots before any write, for permission checks.
    let mut before: HashMap<(String, String), Option<Map<String, Value>>> = HashMap::new();
    if perms.is_some() {
        for op in &ops {
            let keys: Vec<(String, String)> = match op {
                TOp::Add {
                    etype, e, attr, v, ..
                } => {
                    let mut k = vec![(etype.to_string(), e.to_string())];
                    if let (true, Some((re, _)), Some(tv)) = (attr.is_ref, &attr.rev, v.as_str()) {
                        k.push((re.clone(), tv.to_string()));
                    }
                    k
                }
                TOp::Merge { etype, e, .. } | TOp::Delete { etype, e } => {
                    vec![(etype.to_string(), e.to_string())]
                }
                TOp::Retract { e, attr, v } => {
                    let mut k = vec![(attr.etype.clone(), e.to_string())];
                    if let (Some((re, _)), Some(tv)) = (&attr.rev, v.as_str()) {
                        k.push((re.clone(), tv.to_string()));
                    }
                    k
                }
            };
            for k in keys {
                if let std::collections::hash_map::Entry::Vacant(slot) = before.entry(k) {
                    let (et, id) = slot.key().clone();
                    slot.insert(ex.reader.entity(&ex.attrs, &et, &id)?);
                }
            }
        }
    }
    let rp_for = |etype: &str, e: &str| {
        rule_params
            .get(&(etype.to_string(), e.to_string()))
            .cloned()
    };

    // System entities and delete checks (against the state before the transaction).
    if let Some(p) = perms {
        for op in &ops {
            match op {
                TOp::Delete { etype, e } => {
                    if etype.starts_with('$') && **etype != *"$files" {
                        return Err(ApiError::validation_msg("tx-step", steps_json.clone(), format!("{etype} is a system entity. You aren't allowed to delete this directly.")));
                    }
                    let empty = Map::new();
                    let data = before
                        .get(&(etype.to_string(), e.to_string()))
                        .cloned()
                        .flatten()
                        .unwrap_or(empty);
                    let rp = rp_for(etype, e);
                    let vars = Vars {
                        data: Some(&data),
                        rule_params: rp.as_ref(),
                        ..Vars::default()
                    };
                    let out = p.check(&mut ex.reader, &ex.attrs, etype, "delete", &vars)?;
                    checks.push(check_entry(
                        etype,
                        e,
                        "delete",
                        out.code.as_deref(),
                        json!({"data": data}),
                        out.ok,
                    ));
                    if !out.ok {
                        all_ok = false;
                        if !opts.dry_run {
                            return Err(ApiError::permission_denied(etype, "object"));
                        }
                    }
                    // Entities removed by onDelete cascade are checked too, with the params of
                    // the entity that triggered them.
                    for (cet, ce) in ex.cascade_closure(etype, e)? {
                        let Some(cdata) = ex.reader.entity(&ex.attrs, &cet, &ce)? else {
                            continue;
                        };
                        let vars = Vars {
                            data: Some(&cdata),
                            rule_params: rp.as_ref(),
                            ..Vars::default()
                        };
                        let out = p.check(&mut ex.reader, &ex.attrs, &cet, "delete", &vars)?;
                        checks.push(check_entry(
                            &cet,
                            &ce,
                            "delete",
                            out.code.as_deref(),
                            json!({"data": cdata}),
                            out.ok,
                        ));
                        if !out.ok {
                            all_ok = false;
                            if !opts.dry_run {
                                return Err(ApiError::permission_denied(&cet, "object"));
                            }
                        }
                    }
                }
                TOp::Add { etype, e, .. }
                    if **etype == *"$users"
                        && before
                            .get(&(etype.to_string(), e.to_string()))
                            .is_some_and(Option::is_none) =>
                {
                    return Err(ApiError::validation_msg(
                        "tx-step",
                        steps_json.clone(),
                        "$users is a system entity. You aren't allowed to create this directly.",
                    ));
                }
                _ => {}
            }
        }
    }

    // With webhooks, the data of every entity written or deleted (cascades too), before.
    let mut changes: Vec<crate::webhooks::Change> = Vec::new();
    if capture {
        let mut keys: Vec<(String, String)> = Vec::new();
        for op in &ops {
            match op {
                TOp::Add { etype, e, attr, .. } if !attr.is_ref => {
                    keys.push((etype.to_string(), e.to_string()));
                }
                TOp::Merge { etype, e, .. } => keys.push((etype.to_string(), e.to_string())),
                TOp::Delete { etype, e } => {
                    keys.push((etype.to_string(), e.to_string()));
                    keys.extend(ex.cascade_closure(etype, e)?);
                }
                _ => {}
            }
        }
        let mut seen: HashSet<(String, String)> = HashSet::new();
        for (et, e) in keys {
            if seen.insert((et.clone(), e.clone())) {
                let before = crate::webhooks::snapshot(&mut ex.reader, &ex.attrs, &et, &e)?;
                changes.push(crate::webhooks::Change {
                    namespace: et,
                    id: e,
                    before,
                    after: None,
                });
            }
        }
    }

    // Execute, grouped by kind in order of first appearance.
    let mut kinds: Vec<u8> = Vec::new();
    for op in &ops {
        if !kinds.contains(&op.kind()) {
            kinds.push(op.kind());
        }
    }
    let mut created: Vec<(Str, Str)> = Vec::new();
    let mut created_set: FxHashSet<(&str, &str)> = FxHashSet::default();
    let mut written_attrs: FxHashSet<(&str, i64)> = FxHashSet::default();
    for op in &ops {
        if let TOp::Add {
            etype, e, attr, v, ..
        } = op
        {
            if attr.label == "id" && !attr.is_ref && created_set.insert((etype, e)) {
                created.push((etype.clone(), e.clone()));
            } else if attr.indexed && !v.is_null() {
                written_attrs.insert((&e[..], attr.key));
            }
        }
    }
    let has_delete = ops.iter().any(|o| matches!(o, TOp::Delete { .. }));
    for kind in kinds {
        let group: Vec<&TOp> = ops.iter().filter(|o| o.kind() == kind).collect();
        ex.flush()?;
        match kind {
            0 => {
                // Load every document this group writes with one statement per namespace.
                let mut by_et: FxHashMap<i64, Vec<String>> = FxHashMap::default();
                let mut asked: FxHashSet<(i64, &str)> = FxHashSet::default();
                for op in &group {
                    if let TOp::Add { etype, e, attr, .. } = *op {
                        if !attr.is_ref {
                            if let Some(et) = ex.et_of(etype) {
                                if asked.insert((et, &e[..])) {
                                    by_et.entry(et).or_default().push(e.to_string());
                                }
                            }
                        }
                    }
                }
                for (et, ids) in by_et {
                    ex.reader.prefetch(et, &ids)?;
                }
                ex.run_adds(&group)?
            }
            1 => {
                for op in &group {
                    if let TOp::Merge { etype, e, attr, v } = *op {
                        ex.merge_triple(etype, e, attr, v)?;
                    }
                }
            }
            2 => {
                for op in &group {
                    if let TOp::Retract { e, attr, v } = *op {
                        ex.retract(e, attr, v)?;
                    }
                }
            }
            _ => {
                let mut seen = HashSet::new();
                for op in &group {
                    if let TOp::Delete { etype, e } = *op {
                        ex.delete_entity(etype, e, &mut seen)?;
                    }
                }
            }
        }
    }
    ex.null_fill_and_required(&created, &written_attrs, has_delete)?;
    ex.reader.clear();
    for c in &mut changes {
        c.after = crate::webhooks::snapshot(&mut ex.reader, &ex.attrs, &c.namespace, &c.id)?;
    }

    // Checks on the state after the writes (create/update, links).
    if let Some(p) = perms {
        let mut done: HashSet<(String, String, String)> = HashSet::new();
        let written = ex.written.clone();
        for (etype, e, labels) in &written {
            let after = ex.reader.entity(&ex.attrs, etype, e)?;
            let Some(after) = after else { continue };
            let prev = before.get(&(etype.clone(), e.clone())).cloned().flatten();
            let action = if prev.is_some() { "update" } else { "create" };
            if !done.insert((etype.clone(), e.clone(), action.to_string())) {
                continue;
            }
            let rp = rp_for(etype, e);
            let mut modified: Vec<String> = labels.clone();
            modified.dedup();
            let vars = Vars {
                data: Some(prev.as_ref().unwrap_or(&after)),
                new_data: Some(&after),
                modified,
                rule_params: rp.as_ref(),
                ..Vars::default()
            };
            let out = p.check(&mut ex.reader, &ex.attrs, etype, action, &vars)?;
            checks.push(check_entry(
                etype,
                e,
                action,
                out.code.as_deref(),
                json!({"data": prev, "new-data": after, "rule-params": rp}),
                out.ok,
            ));
            if !out.ok {
                all_ok = false;
                if !opts.dry_run {
                    return Err(ApiError::permission_denied(etype, "object"));
                }
            }
        }
        for op in &ops {
            let (src, attr, dst, action) = match op {
                TOp::Add { e, attr, v, .. } if attr.is_ref => (e, attr, v, "link"),
                TOp::Retract { e, attr, v } if attr.is_ref => (e, attr, v, "unlink"),
                _ => continue,
            };
            let Some(dst) = dst.as_str() else { continue };
            let Some((rev_etype, rev_label)) = attr.rev.clone() else {
                continue;
            };
            let fwd_rule = p.link_rule(&attr.etype, action, &attr.label);
            let rev_rule = p.link_rule(&rev_etype, action, &rev_label);
            let src_now = ex.reader.entity(&ex.attrs, &attr.etype, src)?;
            let dst_now = ex.reader.entity(&ex.attrs, &rev_etype, dst)?;
            let src_data = src_now.clone().or_else(|| {
                before
                    .get(&(attr.etype.clone(), src.to_string()))
                    .cloned()
                    .flatten()
            });
            let dst_data = dst_now.clone().or_else(|| {
                before
                    .get(&(rev_etype.clone(), dst.to_string()))
                    .cloned()
                    .flatten()
            });
            let mut rp = rp_for(&attr.etype, src).unwrap_or_else(|| json!({}));
            if let (Some(m), Some(other)) = (rp.as_object_mut(), rp_for(&rev_etype, dst)) {
                if let Some(o) = other.as_object() {
                    for (k, v) in o {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            let mut run_check = |etype: &str,
                                 eid: &str,
                                 act: &str,
                                 code: Option<String>,
                                 data: &Map<String, Value>,
                                 linked: Option<(&str, &Map<String, Value>)>,
                                 ex: &mut Exec<'_, '_>|
             -> Result<bool, ApiError> {
                let vars = Vars {
                    data: Some(data),
                    new_data: Some(data),
                    linked,
                    modified: vec![],
                    rule_params: Some(&rp),
                };
                let (code, ok) = match code {
                    Some(c) => {
                        let ok = p.eval(&mut ex.reader, &ex.attrs, etype, act, &c, &vars)?;
                        (Some(c), ok)
                    }
                    None => {
                        let o = p.check(&mut ex.reader, &ex.attrs, etype, act, &vars)?;
                        (o.code, o.ok)
                    }
                };
                checks.push(check_entry(
                    etype,
                    eid,
                    act,
                    code.as_deref(),
                    json!({"data": data}),
                    ok,
                ));
                Ok(ok)
            };
            let mut ok = true;
            if fwd_rule.is_some() || rev_rule.is_some() {
                if let (Some(code), Some(d)) = (fwd_rule, src_data.as_ref()) {
                    ok &= run_check(
                        &attr.etype,
                        src,
                        action,
                        Some(code),
                        d,
                        dst_data.as_ref().map(|m| (rev_etype.as_str(), m)),
                        &mut ex,
                    )?;
                }
                if let (Some(code), Some(d)) = (rev_rule, dst_data.as_ref()) {
                    ok &= run_check(
                        &rev_etype,
                        dst,
                        action,
                        Some(code),
                        d,
                        src_data.as_ref().map(|m| (attr.etype.as_str(), m)),
                        &mut ex,
                    )?;
                }
            } else {
                if let Some(d) = src_data.as_ref() {
                    let existed = before
                        .get(&(attr.etype.clone(), src.to_string()))
                        .cloned()
                        .flatten()
                        .is_some();
                    let act = if existed { "update" } else { "create" };
                    if done.insert((attr.etype.clone(), src.to_string(), act.to_string())) {
                        ok &= run_check(&attr.etype, src, act, None, d, None, &mut ex)?;
                    }
                }
                if let Some(d) = dst_now.as_ref() {
                    if done.insert((rev_etype.clone(), dst.to_string(), "view".into())) {
                        ok &= run_check(&rev_etype, dst, "view", None, d, None, &mut ex)?;
                    }
                }
            }
            if !ok {
                all_ok = false;
                if !opts.dry_run {
                    return Err(ApiError::permission_denied(&attr.etype, "object"));
                }
            }
        }
    }
    let committed = !opts.dry_run && all_ok;
    Ok((
        TxOutcome {
            tx_id: 0,
            check_results: checks,
            all_ok,
            committed,
            changes,
        },
        ex.attrs,
    ))
}
