//! Permission rules evaluated with CEL (semantics.md §3).

use crate::attrs::Attrs;
use crate::error::ApiError;
use crate::store::Reader;
use cel::extractors::This;
use cel::objects::Key;
use cel::{Context, Env, ExecutionError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

const USERS_SELF: &str =
    "auth.id == data.id || (data.linkedPrimaryUser != null && auth.id == data.linkedPrimaryUser)";

fn env() -> Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        let _ = env.add_extension(cel::extensions::strings);
        Arc::new(env)
    })
    .clone()
}

/// Converts JSON into a CEL value.
pub fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => cel::Value::Int(i),
            (None, Some(u), _) => cel::Value::UInt(u),
            (_, _, Some(f)) => cel::Value::Float(f),
            _ => cel::Value::Null,
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(m) => {
            let map: HashMap<Key, cel::Value> = m
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            cel::Value::from(map)
        }
    }
}

/// Converts a CEL value back into JSON (for bind results in debug output).
pub fn from_cel(v: &cel::Value) -> Value {
    match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => Value::from(*i),
        cel::Value::UInt(u) => Value::from(*u),
        cel::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        cel::Value::String(s) => Value::String(s.to_string()),
        cel::Value::List(l) => Value::Array(l.iter().map(from_cel).collect()),
        cel::Value::Map(m) => {
            let mut out = Map::new();
            for (k, v) in m.map.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                out.insert(key, from_cel(v));
            }
            Value::Object(out)
        }
        _ => Value::Null,
    }
}

/// The variables one rule sees.
#[derive(Default)]
pub struct Vars<'a> {
    /// `data`
    pub data: Option<&'a Map<String, Value>>,
    /// `newData`
    pub new_data: Option<&'a Map<String, Value>>,
    /// `linkedData` and its namespace.
    pub linked: Option<(&'a str, &'a Map<String, Value>)>,
    /// `request.modifiedFields`
    pub modified: Vec<String>,
    /// `ruleParams` (overrides the context's).
    pub rule_params: Option<&'a Value>,
}

/// One evaluated rule (for the debug endpoints).
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The rule code, or None when no rule applies (then the check passes).
    pub code: Option<String>,
    /// Whether it passed.
    pub ok: bool,
}

/// Who is asking, and the rules that apply.
#[derive(Debug, Clone)]
pub struct PermCtx {
    /// The rules document (`{}` when none).
    pub rules: Value,
    /// The user (`$users` entity) or None for guests.
    pub auth: Option<Map<String, Value>>,
    /// Rule params of a query.
    pub rule_params: Value,
    /// `request.ip`
    pub ip: Option<String>,
    /// `request.origin`
    pub origin: Option<String>,
}

fn rule_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The string literals passed to `.ref(...)` in CEL code.
fn ref_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(".ref(") {
        rest = rest.get(i + 5..).unwrap_or_default();
        let t = rest.trim_start();
        let Some(q) = t.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            continue;
        };
        let body = t.get(1..).unwrap_or_default();
        if let Some(end) = body.find(q) {
            let p = body.get(..end).unwrap_or_default().to_string();
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

/// Keys read with `var.key` on the given variable.
fn member_keys(code: &str, var: &str) -> Vec<String> {
    let mut out = Vec::new();
    let pat = format!("{var}.");
    let mut start = 0;
    while let Some(i) = code.get(start..).and_then(|s| s.find(&pat)) {
        let at = start + i;
        let before_ok = at == 0
            || !code
                .get(..at)
                .and_then(|s| s.chars().last())
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '$');
        let after = code.get(at + pat.len()..).unwrap_or_default();
        let key: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '$')
            .collect();
        if before_ok && !key.is_empty() && key != "ref" && !out.contains(&key) {
            out.push(key);
        }
        start = at + pat.len();
    }
    out
}

fn with_null_keys(m: Option<&Map<String, Value>>, keys: &[String]) -> Value {
    let mut out = m.cloned().unwrap_or_default();
    for k in keys {
        out.entry(k.clone()).or_insert(Value::Null);
    }
    Value::Object(out)
}

/// Values reached from entity `e` of `etype` through a dotted path of links ending in an
/// attribute (or `id`, or a link label, which yields ids).
pub fn ref_values(
    reader: &mut Reader<'_>,
    attrs: &Attrs,
    etype: &str,
    e: &str,
    path: &str,
) -> Result<Vec<Value>, ApiError> {
    let segs: Vec<&str> = path.split('.').collect();
    let mut frontier: Vec<(String, String)> = vec![(etype.to_string(), e.to_string())];
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let mut next = Vec::new();
        let mut vals = Vec::new();
        for (et, id) in &frontier {
            if let Some((target, ids)) = reader.linked(attrs, et, id, seg)? {
                for t in ids {
                    if last {
                        vals.push(Value::String(t.clone()));
                    }
                    next.push((target.clone(), t));
                }
            } else if last {
                if *seg == "id" {
                    vals.push(Value::String(id.clone()));
                } else if let Some(m) = reader.entity(attrs, et, id)? {
                    if let Some(v) = m.get(*seg) {
                        if !v.is_null() {
                            vals.push(v.clone());
                        }
                    }
                }
            }
        }
        if last {
            return Ok(vals);
        }
        frontier = next;
    }
    Ok(Vec::new())
}

impl PermCtx {
    /// The rule code for `(etype, action)`, following the `$default` chain and the
    /// system fallbacks; None when everything is allowed.
    pub fn rule(&self, etype: &str, action: &str) -> Option<String> {
        let r = &self.rules;
        let chain = [
            r.get(etype)
                .and_then(|e| e.get("allow"))
                .and_then(|a| a.get(action)),
            r.get(etype)
                .and_then(|e| e.get("allow"))
                .and_then(|a| a.get("$default")),
            r.get("$default")
                .and_then(|e| e.get("allow"))
                .and_then(|a| a.get(action)),
            r.get("$default")
                .and_then(|e| e.get("allow"))
                .and_then(|a| a.get("$default")),
        ];
        for c in chain.into_iter().flatten() {
            if let Some(code) = rule_value(c) {
                return Some(code);
            }
        }
        match (etype, action) {
            ("$users", "view") | ("$users", "update") => Some(USERS_SELF.to_string()),
            ("$users", "create") => None,
            ("$users", _) => Some("false".into()),
            (e, _) if e.starts_with('$') => Some("false".into()),
            _ => None,
        }
    }

    /// The `link`/`unlink` rule for a label on one side, if any.
    pub fn link_rule(&self, etype: &str, action: &str, label: &str) -> Option<String> {
        let allow = self.rules.get(etype)?.get("allow")?.get(action)?;
        allow
            .get(label)
            .and_then(rule_value)
            .or_else(|| allow.get("$default").and_then(rule_value))
    }

    fn binds(&self, etype: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for src in [self.rules.get("$default"), self.rules.get(etype)]
            .into_iter()
            .flatten()
        {
            let mut pairs = Vec::new();
            match src.get("bind") {
                Some(Value::Array(a)) => {
                    for ch in a.chunks(2) {
                        if let [Value::String(n), v] = ch {
                            if let Some(c) = rule_value(v) {
                                pairs.push((n.clone(), c));
                            }
                        }
                    }
                }
                Some(Value::Object(m)) => {
                    for (n, v) in m {
                        if let Some(c) = rule_value(v) {
                            pairs.push((n.clone(), c));
                        }
                    }
                }
                _ => {}
            }
            for (n, c) in pairs {
                out.retain(|(x, _)| *x != n);
                out.push((n, c));
            }
        }
        out
    }

    /// Evaluates `code` for `(etype, action)`; a null result denies, an error fails.
    pub fn eval(
        &self,
        reader: &mut Reader<'_>,
        attrs: &Attrs,
        etype: &str,
        action: &str,
        code: &str,
        vars: &Vars<'_>,
    ) -> Result<bool, ApiError> {
        match code.trim() {
            "true" => return Ok(true),
            "false" => return Ok(false),
            _ => {}
        }
        let binds = self.binds(etype);
        let mut all_code = code.to_string();
        for (_, c) in &binds {
            all_code.push('\n');
            all_code.push_str(c);
        }
        let fail = |detail: String| ApiError::rule_failed(etype, action, code, &detail);
        let env = env();
        let program = env.compile(code).map_err(|e| fail(format!("{e}")))?;
        let mut ctx = Context::with_env(env.clone());
        let rp_default = &self.rule_params;
        let rp = vars.rule_params.unwrap_or(rp_default);
        let rp_map = rp.as_object().cloned();
        let auth = with_null_keys(self.auth.as_ref(), &member_keys(&all_code, "auth"));
        ctx.add_variable_from_value("auth", to_cel(&auth));
        ctx.add_variable_from_value(
            "data",
            to_cel(&with_null_keys(vars.data, &member_keys(&all_code, "data"))),
        );
        ctx.add_variable_from_value(
            "newData",
            to_cel(&with_null_keys(
                vars.new_data.or(vars.data),
                &member_keys(&all_code, "newData"),
            )),
        );
        ctx.add_variable_from_value(
            "linkedData",
            to_cel(&with_null_keys(
                vars.linked.map(|l| l.1),
                &member_keys(&all_code, "linkedData"),
            )),
        );
        ctx.add_variable_from_value(
            "ruleParams",
            to_cel(&with_null_keys(
                rp_map.as_ref(),
                &member_keys(&all_code, "ruleParams"),
            )),
        );
        let request = serde_json::json!({
            "time": crate::values::now_ms(),
            "modifiedFields": vars.modified,
            "ip": self.ip,
            "origin": self.origin,
        });
        ctx.add_variable_from_value("request", to_cel(&request));
        // data.ref(...) and friends: the paths are read from the code and resolved up front.
        let paths = ref_paths(&all_code);
        let mut table: HashMap<(String, String), Value> = HashMap::new();
        if !paths.is_empty() {
            let mut sources: Vec<(String, String)> = Vec::new();
            for m in [vars.data, vars.new_data].into_iter().flatten() {
                if let Some(id) = m.get("id").and_then(Value::as_str) {
                    sources.push((etype.to_string(), id.to_string()));
                }
            }
            if let Some((le, m)) = vars.linked {
                if let Some(id) = m.get("id").and_then(Value::as_str) {
                    sources.push((le.to_string(), id.to_string()));
                }
            }
            for p in &paths {
                for (et, id) in &sources {
                    let vals = ref_values(reader, attrs, et, id, p)?;
                    table.insert((id.clone(), p.clone()), Value::Array(vals));
                }
                if let Some(uid) = self
                    .auth
                    .as_ref()
                    .and_then(|a| a.get("id"))
                    .and_then(Value::as_str)
                {
                    if let Some(rest) = p.strip_prefix("$user.") {
                        let vals = ref_values(reader, attrs, "$users", uid, rest)?;
                        table.insert((uid.to_string(), p.clone()), Value::Array(vals));
                    }
                }
            }
        }
        let table = Arc::new(table);
        let _ = ctx.add_function(
            "ref",
            move |This(this): This<cel::Value>,
                  path: Arc<String>|
                  -> Result<cel::Value, ExecutionError> {
                let id = match &this {
                    cel::Value::Map(m) => match m.map.get(&Key::String(Arc::new("id".to_string())))
                    {
                        Some(cel::Value::String(s)) => s.to_string(),
                        _ => String::new(),
                    },
                    _ => String::new(),
                };
                Ok(table
                    .get(&(id, path.to_string()))
                    .map(to_cel)
                    .unwrap_or_else(|| cel::Value::List(Arc::new(Vec::new()))))
            },
        );
        for (name, bcode) in &binds {
            let p = env.compile(bcode).map_err(|e| fail(format!("{e}")))?;
            let v = p.execute(&ctx).map_err(|e| fail(format!("{e}")))?;
            ctx.add_variable_from_value(name.clone(), v);
        }
        match program.execute(&ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(_) => Ok(false),
            Err(e) => Err(fail(format!("{e}"))),
        }
    }

    /// Runs the rule for `(etype, action)`; no rule means allowed.
    pub fn check(
        &self,
        reader: &mut Reader<'_>,
        attrs: &Attrs,
        etype: &str,
        action: &str,
        vars: &Vars<'_>,
    ) -> Result<CheckOutcome, ApiError> {
        match self.rule(etype, action) {
            None => Ok(CheckOutcome {
                code: None,
                ok: true,
            }),
            Some(code) => {
                let ok = self.eval(reader, attrs, etype, action, &code, vars)?;
                Ok(CheckOutcome {
                    code: Some(code),
                    ok,
                })
            }
        }
    }

    /// Whether the entity may be seen.
    pub fn allows_view(
        &self,
        reader: &mut Reader<'_>,
        attrs: &Attrs,
        etype: &str,
        data: &Map<String, Value>,
    ) -> Result<bool, ApiError> {
        let vars = Vars {
            data: Some(data),
            ..Vars::default()
        };
        Ok(self.check(reader, attrs, etype, "view", &vars)?.ok)
    }

    /// Removes the attributes whose field rule fails.
    pub fn apply_field_rules(
        &self,
        reader: &mut Reader<'_>,
        attrs: &Attrs,
        etype: &str,
        data: &Map<String, Value>,
        obj: &mut Map<String, Value>,
    ) -> Result<(), ApiError> {
        let Some(fields) = self
            .rules
            .get(etype)
            .and_then(|e| e.get("fields"))
            .and_then(Value::as_object)
        else {
            return Ok(());
        };
        for (field, rule) in fields {
            if field == "id" || !obj.contains_key(field) {
                continue;
            }
            let Some(code) = rule_value(rule) else {
                continue;
            };
            let vars = Vars {
                data: Some(data),
                ..Vars::default()
            };
            if !self.eval(reader, attrs, etype, "view", &code, &vars)? {
                obj.remove(field);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_code() {
        assert_eq!(
            ref_paths("a in data.ref('users.handle') && auth.ref(\"$user.x\")"),
            vec!["users.handle", "$user.x"]
        );
        assert_eq!(
            member_keys("auth.id == data.id && mydata.x", "data"),
            vec!["id"]
        );
        assert_eq!(member_keys("auth.isAdmin", "auth"), vec!["isAdmin"]);
    }
}
