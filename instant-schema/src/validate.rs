//! Semantic checks of a schema: namespaces, link ends, labels, `onDelete`, system namespaces.

use crate::diag::{Diagnostic, Severity};
use crate::model::{Has, Schema};
use crate::system::{is_system_namespace, system_schema};
use std::collections::HashMap;

/// A part of a schema a diagnostic can point at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// The namespace's key.
    Entity(String),
    /// An attribute's key: (namespace, attribute).
    Attr(String, String),
    /// A link's name.
    Link(String),
    /// One side of a link: (link, is forward).
    Side(String, bool),
    /// A key of one side: (link, is forward, key).
    SideKey(String, bool, String),
}

impl Target {
    /// The enclosing target, if any.
    pub fn parent(&self) -> Option<Target> {
        match self {
            Target::Attr(ns, _) => Some(Target::Entity(ns.clone())),
            Target::Side(l, _) => Some(Target::Link(l.clone())),
            Target::SideKey(l, f, _) => Some(Target::Side(l.clone(), *f)),
            Target::Entity(_) | Target::Link(_) => None,
        }
    }
}

/// Turns a [`Target`] into a positioned diagnostic.
pub trait Locator {
    /// A diagnostic about `target`.
    fn diag(&self, target: &Target, severity: Severity, message: String) -> Diagnostic;
}

/// Every semantic problem of `schema` (errors and warnings).
pub fn check_schema(schema: &Schema, loc: &dyn Locator) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let system = system_schema();
    for (ns, entity) in &schema.entities {
        if ns.starts_with('$') {
            if !is_system_namespace(ns) {
                out.push(loc.diag(
                    &Target::Entity(ns.clone()),
                    Severity::Error,
                    format!("unknown system namespace `{ns}`: names starting with `$` are reserved (known: $users, $files, $streams)"),
                ));
                continue;
            }
            for (name, attr) in &entity.attrs {
                if system.attr(ns, name).is_none() && attr.required {
                    out.push(loc.diag(
                        &Target::Attr(ns.clone(), name.clone()),
                        Severity::Error,
                        format!("custom attribute `{name}` on system namespace `{ns}` must be `.optional()`"),
                    ));
                }
            }
        }
    }
    // (namespace, label) -> link name that claimed it
    let mut ends: HashMap<(&str, &str), &str> = HashMap::new();
    for (name, link) in &schema.links {
        for (side, forward) in [(&link.forward, true), (&link.reverse, false)] {
            let key = |k: &str| Target::SideKey(name.clone(), forward, k.to_string());
            let which = if forward { "forward" } else { "reverse" };
            let Some(entity) = schema.entities.get(&side.on) else {
                out.push(loc.diag(
                    &key("on"),
                    Severity::Error,
                    format!("link `{name}` {which} is on unknown namespace `{}`: declare it in `entities`", side.on),
                ));
                continue;
            };
            if side.on_delete_cascade && side.has == Has::Many {
                out.push(loc.diag(
                    &key("onDelete"),
                    Severity::Error,
                    format!("`onDelete: 'cascade'` is only allowed on a side with `has: 'one'` (link `{name}` {which} has 'many')"),
                ));
            }
            if side.label == "id" || entity.attrs.contains_key(&side.label) {
                out.push(loc.diag(
                    &key("label"),
                    Severity::Error,
                    format!(
                        "link label `{}` collides with the attribute `{}.{}`",
                        side.label, side.on, side.label
                    ),
                ));
            } else if let Some(other) =
                ends.insert((side.on.as_str(), side.label.as_str()), name.as_str())
            {
                let what = if other == name {
                    "its other side".to_string()
                } else {
                    format!("link `{other}`")
                };
                out.push(loc.diag(
                    &key("label"),
                    Severity::Error,
                    format!(
                        "link label `{}.{}` is already used by {what}",
                        side.on, side.label
                    ),
                ));
            }
        }
        if link.forward.required == Some(true) && link.forward.on.starts_with('$') {
            out.push(loc.diag(
                &Target::SideKey(name.clone(), true, "required".into()),
                Severity::Error,
                format!("link `{name}` adds an attribute to system namespace `{}` and may not be `required`", link.forward.on),
            ));
        }
    }
    out
}
