//! Evaluating an expression of the supported subset to a JSON value, as `JSON.stringify` would.

use crate::diag::Error;
use crate::eval::{describe, At, Loader, ModId};
use crate::parse::{Expr, Span};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// Where each JSON path of an evaluated value came from.
#[derive(Debug, Default)]
pub struct Tracker {
    path: Vec<String>,
    /// Path -> (module, span of the key or value).
    pub locs: HashMap<Vec<String>, (ModId, Span)>,
}

/// A JavaScript number as a JSON number (`null` for NaN and infinities, like `JSON.stringify`).
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        // exact integer
        #[allow(clippy::cast_possible_truncation)]
        let i = n as i64;
        Value::from(i)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn js_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(_) => String::new(),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// Evaluate `at` to JSON. `None` means `undefined` (dropped from objects).
pub fn eval(l: &Loader, at: At<'_>, mut tr: Option<&mut Tracker>) -> Result<Option<Value>, Error> {
    let r = l.resolve(at)?;
    if let Some(t) = tr.as_deref_mut() {
        t.locs.entry(t.path.clone()).or_insert((r.m, r.e.span()));
    }
    Ok(Some(match r.e {
        Expr::Str(s, _) => Value::String(s.clone()),
        Expr::Num(n, _) => number(*n),
        Expr::Bool(b, _) => Value::Bool(*b),
        Expr::Null(_) => Value::Null,
        Expr::Undefined(_) => return Ok(None),
        Expr::Arr(items, _) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(t) = tr.as_deref_mut() {
                    t.path.push(i.to_string());
                }
                let v = eval(l, At { m: r.m, e: item }, tr.as_deref_mut());
                if let Some(t) = tr.as_deref_mut() {
                    t.path.pop();
                }
                out.push(v?.unwrap_or(Value::Null));
            }
            Value::Array(out)
        }
        Expr::Obj(..) => {
            let mut map = Map::new();
            for ent in l.entries(r)? {
                if let Some(t) = tr.as_deref_mut() {
                    t.path.push(ent.key.to_string());
                    t.locs.insert(t.path.clone(), (ent.key_m, ent.key_span));
                }
                let v = eval(l, ent.value, tr.as_deref_mut());
                if let Some(t) = tr.as_deref_mut() {
                    t.path.pop();
                }
                match v? {
                    Some(v) => {
                        map.insert(ent.key.to_string(), v);
                    }
                    None => {
                        map.remove(ent.key);
                    }
                }
            }
            Value::Object(map)
        }
        Expr::Concat(a, b, _) => {
            let a = eval(l, At { m: r.m, e: a }, None)?.unwrap_or(Value::Null);
            let b = eval(l, At { m: r.m, e: b }, None)?.unwrap_or(Value::Null);
            match (&a, &b) {
                (Value::Number(x), Value::Number(y)) => {
                    number(x.as_f64().unwrap_or(f64::NAN) + y.as_f64().unwrap_or(f64::NAN))
                }
                (Value::String(_), _) | (_, Value::String(_)) => {
                    Value::String(js_to_string(&a) + &js_to_string(&b))
                }
                _ => {
                    return Err(Error::new(l.err(
                        r.m,
                        r.e.span(),
                        "`+` is only supported on strings and numbers",
                    )))
                }
            }
        }
        Expr::Call { .. } | Expr::Method { .. } | Expr::Ident(..) | Expr::Member(..) | Expr::Opaque(..) => {
            return Err(Error::new(l.err(
                r.m,
                r.e.span(),
                format!("cannot evaluate {}: only literals, names of constants and `+` of strings are supported here", describe(r.e)),
            )))
        }
    }))
}

/// Evaluate `at` to JSON (`undefined` becomes `null`).
pub fn to_json(l: &Loader, at: At<'_>, tr: Option<&mut Tracker>) -> Result<Value, Error> {
    Ok(eval(l, at, tr)?.unwrap_or(Value::Null))
}
