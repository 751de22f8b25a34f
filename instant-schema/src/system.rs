//! The system namespaces `$users`, `$files` and `$streams`: their visible default attributes and
//! built-in links, as the server exposes them (schema-formats.md §1.9).

use crate::model::{Attr, Entity, Has, Link, LinkSide, Schema, ValueType};
use indexmap::IndexMap;

/// The system namespaces a schema may declare.
pub const SYSTEM_NAMESPACES: [&str; 3] = ["$users", "$files", "$streams"];

/// Whether `ns` is one of [`SYSTEM_NAMESPACES`].
pub fn is_system_namespace(ns: &str) -> bool {
    SYSTEM_NAMESPACES.contains(&ns)
}

fn attr(vt: ValueType, unique: bool, indexed: bool, required: bool) -> Attr {
    Attr {
        unique,
        indexed,
        required,
        ..Attr::new(vt)
    }
}

fn side(on: &str, label: &str, has: Has, cascade: bool) -> LinkSide {
    LinkSide {
        on: on.to_string(),
        label: label.to_string(),
        has,
        required: None,
        on_delete_cascade: cascade,
        extra: IndexMap::new(),
    }
}

/// The system namespaces alone: `$users`, `$files`, `$streams` with their visible attributes and
/// the built-in links `$usersLinkedPrimaryUser` and `$streams$files`.
pub fn system_schema() -> Schema {
    use ValueType::{Boolean, Number, String};
    let mut entities = IndexMap::new();
    let mut users = IndexMap::new();
    users.insert("email".to_string(), attr(String, true, true, false));
    users.insert("imageURL".to_string(), attr(String, false, false, false));
    users.insert("type".to_string(), attr(String, false, false, false));
    entities.insert(
        "$users".to_string(),
        Entity {
            attrs: users,
            loc: None,
        },
    );
    let mut files = IndexMap::new();
    files.insert("path".to_string(), attr(String, true, true, true));
    files.insert("url".to_string(), attr(String, false, false, true));
    entities.insert(
        "$files".to_string(),
        Entity {
            attrs: files,
            loc: None,
        },
    );
    let mut streams = IndexMap::new();
    streams.insert("clientId".to_string(), attr(String, true, true, true));
    streams.insert("done".to_string(), attr(Boolean, false, false, false));
    streams.insert("size".to_string(), attr(Number, false, false, false));
    streams.insert("abortReason".to_string(), attr(String, false, false, false));
    entities.insert(
        "$streams".to_string(),
        Entity {
            attrs: streams,
            loc: None,
        },
    );
    let mut links = IndexMap::new();
    links.insert(
        "$usersLinkedPrimaryUser".to_string(),
        Link {
            forward: side("$users", "linkedPrimaryUser", Has::One, true),
            reverse: side("$users", "linkedGuestUsers", Has::Many, false),
            loc: None,
        },
    );
    links.insert(
        "$streams$files".to_string(),
        Link {
            forward: side("$streams", "$files", Has::Many, false),
            reverse: side("$files", "$stream", Has::One, true),
            loc: None,
        },
    );
    Schema {
        entities,
        links,
        rooms: None,
    }
}

impl Schema {
    /// This schema plus the system namespaces' default attributes and built-in links. Attributes
    /// and links the schema declares are kept as declared; missing ones are added.
    pub fn with_system_namespaces(&self) -> Schema {
        let mut out = self.clone();
        let system = system_schema();
        for (ns, sys_entity) in system.entities {
            let entity = out.entities.entry(ns).or_default();
            for (name, a) in sys_entity.attrs {
                entity.attrs.entry(name).or_insert(a);
            }
        }
        for (name, link) in system.links {
            let taken = out.links.contains_key(&name)
                || out.links.values().any(|l| {
                    [&l.forward, &l.reverse].iter().any(|s| {
                        (s.on == link.forward.on && s.label == link.forward.label)
                            || (s.on == link.reverse.on && s.label == link.reverse.label)
                    })
                });
            if !taken {
                out.links.insert(name, link);
            }
        }
        out
    }
}
