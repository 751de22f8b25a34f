//! Permission rules (`instant.perms.ts` and its JSON form): a typed model with the lookups a
//! server needs, and the exact JSON the file evaluates to.

use crate::diag::{Diagnostic, Error, Severity};
use crate::eval::{At, Loader};
use crate::json::{parse_json_text, JsonLocator};
use crate::parse::Span;
use crate::value::{to_json, Tracker};
use indexmap::IndexMap;
use serde_json::Value;
use std::path::Path;

/// An action a rule can guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `view`
    View,
    /// `create`
    Create,
    /// `update`
    Update,
    /// `delete`
    Delete,
}

impl Action {
    /// The key of the action in `allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

/// The `allow` block of a namespace. Rules are CEL expressions; JSON booleans are kept as
/// `"true"`/`"false"`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allow {
    /// `view`
    pub view: Option<String>,
    /// `create`
    pub create: Option<String>,
    /// `update`
    pub update: Option<String>,
    /// `delete`
    pub delete: Option<String>,
    /// `$default`: the rule for actions without their own.
    pub default: Option<String>,
    /// `link`: label -> rule (`$default` included as a key).
    pub link: IndexMap<String, String>,
    /// `unlink`: label -> rule (`$default` included as a key).
    pub unlink: IndexMap<String, String>,
}

impl Allow {
    /// The rule written for `action`, without fallbacks.
    pub fn get(&self, action: Action) -> Option<&str> {
        match action {
            Action::View => self.view.as_deref(),
            Action::Create => self.create.as_deref(),
            Action::Update => self.update.as_deref(),
            Action::Delete => self.delete.as_deref(),
        }
    }
}

/// The rules of one namespace (or of `$default` / `attrs`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamespaceRules {
    /// `allow`
    pub allow: Allow,
    /// `bind`: (name, expression) pairs in order, from the object or flat-array form.
    pub bind: Vec<(String, String)>,
    /// `fields`: attribute -> view rule.
    pub fields: IndexMap<String, String>,
}

/// One refill policy of a rate-limit bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refill {
    /// Tokens added per refill.
    pub amount: Option<f64>,
    /// Refill period, e.g. `"1 hour"`.
    pub period: Option<String>,
    /// `"greedy"` or `"interval"`.
    pub kind: Option<String>,
}

/// One limit of a rate-limit bucket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limit {
    /// Bucket capacity.
    pub capacity: f64,
    /// How it refills.
    pub refill: Option<Refill>,
}

/// The whole rules document.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Per-namespace rules, in file order.
    pub namespaces: IndexMap<String, NamespaceRules>,
    /// Top-level `$default`.
    pub default: Option<NamespaceRules>,
    /// `attrs` (rules for creating new attributes).
    pub attrs: Option<NamespaceRules>,
    /// `$rateLimits`: bucket -> limits.
    pub rate_limits: IndexMap<String, Vec<Limit>>,
    raw: Value,
}

impl Default for Rules {
    /// No rules at all (`{}`).
    fn default() -> Rules {
        Rules {
            namespaces: IndexMap::new(),
            default: None,
            attrs: None,
            rate_limits: IndexMap::new(),
            raw: Value::Object(serde_json::Map::new()),
        }
    }
}

impl Rules {
    /// The rule for `action` on `namespace`: the namespace's rule, its `$default`, then the
    /// top-level `$default`'s rule for the action and its `$default`. `None` when no rule applies
    /// (the server then uses its built-in default).
    pub fn rule(&self, namespace: &str, action: Action) -> Option<&str> {
        let ns = self.namespaces.get(namespace);
        ns.and_then(|n| n.allow.get(action))
            .or_else(|| ns.and_then(|n| n.allow.default.as_deref()))
            .or_else(|| self.default.as_ref().and_then(|d| d.allow.get(action)))
            .or_else(|| {
                self.default
                    .as_ref()
                    .and_then(|d| d.allow.default.as_deref())
            })
    }

    /// The `link` rule for `label` on `namespace` (`allow.link.<label>`, then `allow.link.$default`).
    pub fn link_rule(&self, namespace: &str, label: &str) -> Option<&str> {
        let l = &self.namespaces.get(namespace)?.allow.link;
        l.get(label)
            .or_else(|| l.get("$default"))
            .map(String::as_str)
    }

    /// The `unlink` rule for `label` on `namespace`.
    pub fn unlink_rule(&self, namespace: &str, label: &str) -> Option<&str> {
        let l = &self.namespaces.get(namespace)?.allow.unlink;
        l.get(label)
            .or_else(|| l.get("$default"))
            .map(String::as_str)
    }

    /// The binds visible to `namespace`: the top-level `$default` binds, overridden by the
    /// namespace's binds of the same name, in order.
    pub fn binds(&self, namespace: &str) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::new();
        let all = self.default.iter().flat_map(|d| d.bind.iter()).chain(
            self.namespaces
                .get(namespace)
                .into_iter()
                .flat_map(|n| n.bind.iter()),
        );
        for (k, v) in all {
            if let Some(slot) = out.iter_mut().find(|(n, _)| *n == k.as_str()) {
                slot.1 = v.as_str();
            } else {
                out.push((k.as_str(), v.as_str()));
            }
        }
        out
    }

    /// The field (view) rule of `attr` on `namespace`.
    pub fn field_rule(&self, namespace: &str, attr: &str) -> Option<&str> {
        self.namespaces
            .get(namespace)?
            .fields
            .get(attr)
            .map(String::as_str)
    }

    /// The rule for creating new attributes (`attrs.allow.create`, then `attrs.allow.$default`).
    pub fn attrs_create_rule(&self) -> Option<&str> {
        let a = &self.attrs.as_ref()?.allow;
        a.create.as_deref().or(a.default.as_deref())
    }

    /// Exactly what `JSON.stringify(rules)` gives.
    pub fn to_json(&self) -> Value {
        self.raw.clone()
    }

    /// Read rules from their JSON value.
    pub fn from_json_value(v: &Value) -> Result<Rules, Error> {
        let loc = PermLoc::Json(Box::new(JsonLocator::new(Path::new("<json>"), None)));
        read(v, &loc).map(|(r, _)| r)
    }
}

enum PermLoc<'a> {
    Json(Box<JsonLocator>),
    Ts(&'a Loader, &'a Tracker),
}

impl PermLoc<'_> {
    fn at(&self, path: &[String], sev: Severity, msg: String) -> Diagnostic {
        match self {
            PermLoc::Json(j) => j.at(path, sev, msg),
            PermLoc::Ts(l, t) => {
                let mut p = path.to_vec();
                loop {
                    if let Some((m, span)) = t.locs.get(&p) {
                        return l.diag(*m, sev, *span, msg);
                    }
                    if p.pop().is_none() {
                        return l.diag(0, sev, Span::default(), msg);
                    }
                }
            }
        }
    }
}

const SYSTEM_OK: [&str; 5] = ["$users", "$files", "$streams", "$default", "$rateLimits"];

struct PermReader<'a> {
    loc: &'a PermLoc<'a>,
    warnings: Vec<Diagnostic>,
    errors: Vec<Diagnostic>,
}

impl PermReader<'_> {
    fn p(base: &[&str]) -> Vec<String> {
        base.iter().map(|s| (*s).to_string()).collect()
    }
    fn error(&mut self, path: &[&str], msg: String) {
        self.errors
            .push(self.loc.at(&Self::p(path), Severity::Error, msg));
    }
    fn warn(&mut self, path: &[&str], msg: String) {
        self.warnings
            .push(self.loc.at(&Self::p(path), Severity::Warning, msg));
    }
    fn rule(&mut self, v: &Value, path: &[&str]) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => {
                self.error(
                    path,
                    format!(
                        "rule `{}` must be a string (a CEL expression) or a boolean",
                        path.join(".")
                    ),
                );
                None
            }
        }
    }
    fn rule_map(&mut self, v: &Value, path: &[&str]) -> IndexMap<String, String> {
        let mut out = IndexMap::new();
        let Some(o) = v.as_object() else {
            self.error(
                path,
                format!("`{}` must be an object of label -> rule", path.join(".")),
            );
            return out;
        };
        for (k, r) in o {
            let mut p = path.to_vec();
            p.push(k);
            if let Some(r) = self.rule(r, &p) {
                out.insert(k.clone(), r);
            }
        }
        out
    }
    fn namespace(&mut self, ns: &str, v: &Value) -> NamespaceRules {
        let mut out = NamespaceRules::default();
        let Some(o) = v.as_object() else {
            self.error(&[ns], format!("the rules of `{ns}` must be an object"));
            return out;
        };
        for (k, val) in o {
            match k.as_str() {
                "allow" => {
                    let Some(a) = val.as_object() else {
                        self.error(&[ns, "allow"], format!("`{ns}.allow` must be an object"));
                        continue;
                    };
                    for (ak, av) in a {
                        let path = [ns, "allow", ak.as_str()];
                        match ak.as_str() {
                            "view" => out.allow.view = self.rule(av, &path),
                            "create" => out.allow.create = self.rule(av, &path),
                            "update" => out.allow.update = self.rule(av, &path),
                            "delete" => out.allow.delete = self.rule(av, &path),
                            "$default" => out.allow.default = self.rule(av, &path),
                            "link" | "unlink" if ns == "attrs" => {
                                self.warn(&path, format!("`attrs.allow.{ak}` is ignored: attrs have no links"));
                            }
                            "link" => out.allow.link = self.rule_map(av, &path),
                            "unlink" => out.allow.unlink = self.rule_map(av, &path),
                            other => self.warn(&path, format!("unknown action `{other}` in `{ns}.allow` is ignored (expected view, create, update, delete, $default, link, unlink)")),
                        }
                    }
                }
                "bind" => match val {
                    Value::Object(b) => {
                        for (bk, bv) in b {
                            if let Some(r) = self.rule(bv, &[ns, "bind", bk]) {
                                out.bind.push((bk.clone(), r));
                            }
                        }
                    }
                    Value::Array(items) => {
                        if items.len() % 2 != 0 {
                            self.error(&[ns, "bind"], format!("`{ns}.bind` must list name, expression pairs: it has an odd number of items"));
                        }
                        for (i, pair) in items.chunks(2).enumerate() {
                            let idx = (i * 2).to_string();
                            match pair {
                                [Value::String(name), expr] => {
                                    let idx1 = (i * 2 + 1).to_string();
                                    if let Some(r) = self.rule(expr, &[ns, "bind", &idx1]) {
                                        out.bind.push((name.clone(), r));
                                    }
                                }
                                [_, _] => self.error(&[ns, "bind", &idx], "bind names must be strings".into()),
                                _ => {}
                            }
                        }
                    }
                    _ => self.error(&[ns, "bind"], format!("`{ns}.bind` must be an object or a flat array")),
                },
                "fields" => {
                    out.fields = self.rule_map(val, &[ns, "fields"]);
                    if out.fields.contains_key("id") {
                        self.error(&[ns, "fields", "id"], "`id` cannot have a field rule".into());
                    }
                }
                other => self.warn(&[ns, other], format!("unknown key `{other}` in the rules of `{ns}` is ignored (expected allow, bind, fields)")),
            }
        }
        out
    }
    fn rate_limits(&mut self, v: &Value) -> IndexMap<String, Vec<Limit>> {
        let mut out = IndexMap::new();
        let Some(o) = v.as_object() else {
            self.error(&["$rateLimits"], "`$rateLimits` must be an object".into());
            return out;
        };
        for (bucket, b) in o {
            let Some(limits) = b.get("limits").and_then(Value::as_array) else {
                self.error(
                    &["$rateLimits", bucket],
                    format!("rate limit `{bucket}` needs a `limits` array"),
                );
                continue;
            };
            let mut ls = Vec::new();
            for (i, l) in limits.iter().enumerate() {
                let idx = i.to_string();
                let Some(capacity) = l.get("capacity").and_then(Value::as_f64) else {
                    self.error(
                        &["$rateLimits", bucket, "limits", &idx],
                        "a limit needs a numeric `capacity`".into(),
                    );
                    continue;
                };
                let refill = l.get("refill").and_then(Value::as_object).map(|r| Refill {
                    amount: r.get("amount").and_then(Value::as_f64),
                    period: r.get("period").and_then(Value::as_str).map(str::to_string),
                    kind: r.get("type").and_then(Value::as_str).map(str::to_string),
                });
                ls.push(Limit { capacity, refill });
            }
            out.insert(bucket.clone(), ls);
        }
        out
    }
}

fn read(v: &Value, loc: &PermLoc<'_>) -> Result<(Rules, Vec<Diagnostic>), Error> {
    let mut r = PermReader {
        loc,
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let mut rules = Rules {
        raw: v.clone(),
        ..Rules::default()
    };
    let Some(o) = v.as_object() else {
        return Err(Error::new(loc.at(
            &[],
            Severity::Error,
            "rules must be an object of namespace -> rules".into(),
        )));
    };
    for (k, val) in o {
        match k.as_str() {
            "$default" => rules.default = Some(r.namespace(k, val)),
            "attrs" => rules.attrs = Some(r.namespace(k, val)),
            "$rateLimits" => rules.rate_limits = r.rate_limits(val),
            ns => {
                if ns.starts_with('$') && !SYSTEM_OK.contains(&ns) {
                    r.error(&[ns], format!("rules for system namespace `{ns}` are not allowed (only $users, $files, $streams)"));
                    continue;
                }
                let n = r.namespace(ns, val);
                rules.namespaces.insert(ns.to_string(), n);
            }
        }
    }
    if !r.errors.is_empty() {
        return Err(Error {
            diagnostics: r.errors,
        });
    }
    Ok((rules, r.warnings))
}

/// Rules read from a file, with warnings.
#[derive(Debug, Clone)]
pub struct LoadedRules {
    /// The rules.
    pub rules: Rules,
    /// Problems that did not stop reading.
    pub warnings: Vec<Diagnostic>,
}

/// Read rules from `instant.perms.ts` source (the default export, or a top-level `rules` const).
pub fn parse_ts(source: &str, path: &Path) -> Result<Rules, Error> {
    parse_ts_with_warnings(source, path).map(|l| l.rules)
}

/// Like [`parse_ts`], keeping warnings.
pub fn parse_ts_with_warnings(source: &str, path: &Path) -> Result<LoadedRules, Error> {
    let l = Loader::load(source, path)?;
    let md = l
        .module(0)
        .ok_or_else(|| Error::io(path, "nothing to read"))?;
    let root = if let Some(e) = &md.default_export {
        At { m: 0, e }
    } else if md.exports.contains_key("default") {
        l.export(0, "default", (0, Span::default()), 0)?
    } else if let Some(e) = md.consts.get("rules") {
        At { m: 0, e }
    } else {
        let end = md.src.len();
        return Err(Error::new(l.err(
            0,
            Span { start: end, end },
            "no rules found: expected `export default` of a rules object",
        )));
    };
    let mut tracker = Tracker::default();
    let v = to_json(&l, root, Some(&mut tracker))?;
    let loc = PermLoc::Ts(&l, &tracker);
    let (rules, warnings) = read(&v, &loc)?;
    Ok(LoadedRules { rules, warnings })
}

/// Read rules from JSON text.
pub fn parse_json(source: &str, path: &Path) -> Result<Rules, Error> {
    parse_json_with_warnings(source, path).map(|l| l.rules)
}

/// Like [`parse_json`], keeping warnings.
pub fn parse_json_with_warnings(source: &str, path: &Path) -> Result<LoadedRules, Error> {
    let (v, loc) = parse_json_text(source, path)?;
    let loc = PermLoc::Json(Box::new(loc));
    let (rules, warnings) = read(&v, &loc)?;
    Ok(LoadedRules { rules, warnings })
}

/// Read a rules file: JSON when it ends in `.json` or starts with `{`, TS/JS otherwise.
pub fn read_file(path: &Path) -> Result<Rules, Error> {
    read_file_with_warnings(path).map(|l| l.rules)
}

/// Like [`read_file`], keeping warnings.
pub fn read_file_with_warnings(path: &Path) -> Result<LoadedRules, Error> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, format!("cannot read file: {e}")))?;
    if crate::looks_like_json(path, &src) {
        parse_json_with_warnings(&src, path)
    } else {
        parse_ts_with_warnings(&src, path)
    }
}
