//! Attributes (the server's `attrs` table) and the conversion of a schema into attributes.

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// One attribute of an app, as the server stores it (semantics.md §0).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AttrDef {
    /// Local integer key (SQLite rowid); 0 until stored.
    #[serde(default)]
    pub key: i64,
    /// The attribute's uuid.
    pub id: String,
    /// Forward namespace.
    pub etype: String,
    /// Forward label.
    pub label: String,
    /// Reverse identity `(namespace, label)` for links.
    pub rev: Option<(String, String)>,
    /// `value-type: ref`.
    pub is_ref: bool,
    /// `cardinality: one`.
    pub card_one: bool,
    /// `unique?`
    pub unique: bool,
    /// `index?`
    pub indexed: bool,
    /// `required?`
    pub required: bool,
    /// `checked-data-type`: string, number, boolean or date.
    pub checked: Option<String>,
    /// Forward `onDelete: cascade`: deleting the target deletes the source.
    pub on_delete: bool,
    /// Reverse `onDelete: cascade`: deleting the source deletes the target.
    pub on_delete_reverse: bool,
    /// A system attribute (no indexed-null fill, not writable by rules).
    #[serde(default)]
    pub system: bool,
}

impl AttrDef {
    /// A plain data attribute.
    pub fn blob(etype: &str, label: &str) -> AttrDef {
        AttrDef {
            key: 0,
            id: uuid::Uuid::new_v4().to_string(),
            etype: etype.to_string(),
            label: label.to_string(),
            rev: None,
            is_ref: false,
            card_one: true,
            unique: false,
            indexed: false,
            required: false,
            checked: None,
            on_delete: false,
            on_delete_reverse: false,
            system: false,
        }
    }

    /// The `id` attribute of a namespace.
    pub fn id_attr(etype: &str) -> AttrDef {
        let mut a = AttrDef::blob(etype, "id");
        a.unique = true;
        a
    }

    /// A link attribute `etype.label -> target.rev_label`.
    pub fn link(etype: &str, label: &str, target: &str, rev_label: &str) -> AttrDef {
        let mut a = AttrDef::blob(etype, label);
        a.is_ref = true;
        a.card_one = false;
        a.rev = Some((target.to_string(), rev_label.to_string()));
        a
    }

    /// `etype.label`, as error messages print it.
    pub fn name(&self) -> String {
        format!("{}.{}", self.etype, self.label)
    }

    /// The wire form of this attribute (`refresh-ok` attrs, `add-attr`).
    pub fn to_wire(&self) -> Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "forward-identity": [self.id, self.etype, self.label],
            "value-type": if self.is_ref { "ref" } else { "blob" },
            "cardinality": if self.card_one { "one" } else { "many" },
            "unique?": self.unique,
            "index?": self.indexed,
            "required?": self.required,
        });
        if let (Some((e, l)), Some(o)) = (&self.rev, v.as_object_mut()) {
            o.insert(
                "reverse-identity".into(),
                serde_json::json!([self.id, e, l]),
            );
        }
        if let Some(o) = v.as_object_mut() {
            if let Some(c) = &self.checked {
                o.insert("checked-data-type".into(), Value::String(c.clone()));
            }
            if self.on_delete {
                o.insert("on-delete".into(), "cascade".into());
            }
            if self.on_delete_reverse {
                o.insert("on-delete-reverse".into(), "cascade".into());
            }
            let catalog = if self.system { "system" } else { "user" };
            o.insert("catalog".into(), catalog.into());
        }
        v
    }

    /// Whether the server's schema view (`GET /admin/schema`) leaves this attribute out: the
    /// internal columns of `$files` and `$streams`, as the real server's `remove-hidden` does.
    pub fn is_hidden(&self) -> bool {
        match self.etype.as_str() {
            "$files" => matches!(
                self.label.as_str(),
                "content-type" | "content-disposition" | "size" | "location-id" | "key-version"
            ),
            "$streams" => matches!(self.label.as_str(), "machineId" | "hashedReconnectToken"),
            _ => false,
        }
    }
}

/// All live attributes of one app, indexed for lookups.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    list: Vec<Arc<AttrDef>>,
    fwd: FxHashMap<String, FxHashMap<String, usize>>,
    rev: FxHashMap<String, FxHashMap<String, usize>>,
    ids: FxHashMap<String, usize>,
    by_key: FxHashMap<i64, usize>,
    has_one: FxHashMap<String, Vec<usize>>,
}

impl Attrs {
    /// Builds the index over `list`.
    pub fn new(list: Vec<AttrDef>) -> Attrs {
        let mut a = Attrs {
            list: list.into_iter().map(Arc::new).collect(),
            ..Attrs::default()
        };
        a.reindex();
        a
    }

    fn reindex(&mut self) {
        self.fwd.clear();
        self.rev.clear();
        self.ids.clear();
        self.by_key.clear();
        self.has_one.clear();
        for (i, a) in self.list.iter().enumerate() {
            if a.is_ref && a.card_one {
                self.has_one.entry(a.etype.clone()).or_default().push(i);
            }
            self.fwd
                .entry(a.etype.clone())
                .or_default()
                .insert(a.label.clone(), i);
            if let Some((e, l)) = &a.rev {
                self.rev.entry(e.clone()).or_default().insert(l.clone(), i);
            }
            if a.label == "id" {
                self.ids.insert(a.etype.clone(), i);
            }
            self.by_key.insert(a.key, i);
        }
    }

    /// Adds one attribute (already keyed).
    pub fn push(&mut self, a: AttrDef) {
        self.list.push(Arc::new(a));
        self.reindex();
    }

    /// Removes the attribute with this uuid.
    pub fn remove_id(&mut self, id: &str) -> Option<Arc<AttrDef>> {
        let pos = self.list.iter().position(|a| a.id == id)?;
        let a = self.list.remove(pos);
        self.reindex();
        Some(a)
    }

    /// Every attribute.
    pub fn all(&self) -> &[Arc<AttrDef>] {
        &self.list
    }

    /// The attribute whose forward identity is `etype.label`, shared.
    pub fn fwd_arc(&self, etype: &str, label: &str) -> Option<Arc<AttrDef>> {
        self.fwd
            .get(etype)
            .and_then(|m| m.get(label))
            .and_then(|i| self.list.get(*i))
            .cloned()
    }

    /// The attribute whose forward identity is `etype.label`.
    pub fn fwd(&self, etype: &str, label: &str) -> Option<&AttrDef> {
        self.fwd
            .get(etype)
            .and_then(|m| m.get(label))
            .and_then(|i| self.list.get(*i))
            .map(|a| a.as_ref())
    }

    /// The link attribute whose reverse identity is `etype.label`.
    pub fn rev(&self, etype: &str, label: &str) -> Option<&AttrDef> {
        self.rev
            .get(etype)
            .and_then(|m| m.get(label))
            .and_then(|i| self.list.get(*i))
            .map(|a| a.as_ref())
    }

    /// The link attribute whose reverse identity is `etype.label`, shared.
    pub fn rev_arc(&self, etype: &str, label: &str) -> Option<Arc<AttrDef>> {
        self.rev
            .get(etype)
            .and_then(|m| m.get(label))
            .and_then(|i| self.list.get(*i))
            .cloned()
    }

    /// The attribute with this local key.
    pub fn by_key(&self, key: i64) -> Option<&AttrDef> {
        self.by_key
            .get(&key)
            .and_then(|i| self.list.get(*i))
            .map(|a| a.as_ref())
    }

    /// The forward has-one link attributes of a namespace (their target id is part of the
    /// entity's row).
    pub fn has_one_of<'a>(&'a self, etype: &str) -> impl Iterator<Item = &'a AttrDef> + 'a {
        self.has_one
            .get(etype)
            .into_iter()
            .flatten()
            .filter_map(|i| self.list.get(*i))
            .map(|a| a.as_ref())
    }

    /// The attribute with this local key, shared.
    pub fn arc_by_key(&self, key: i64) -> Option<Arc<AttrDef>> {
        self.by_key
            .get(&key)
            .and_then(|i| self.list.get(*i))
            .cloned()
    }

    /// The attribute with this uuid.
    pub fn by_id(&self, id: &str) -> Option<&AttrDef> {
        self.list.iter().find(|a| a.id == id).map(|a| a.as_ref())
    }

    /// The `id` attribute of a namespace.
    pub fn id_attr(&self, etype: &str) -> Option<&AttrDef> {
        self.ids
            .get(etype)
            .and_then(|i| self.list.get(*i))
            .map(|a| a.as_ref())
    }

    /// Whether `label` names a link (either side) on `etype`.
    pub fn link_end(&self, etype: &str, label: &str) -> Option<LinkEnd<'_>> {
        if let Some(a) = self.fwd(etype, label) {
            if a.is_ref {
                let target = a.rev.as_ref().map(|r| r.0.clone()).unwrap_or_default();
                return Some(LinkEnd {
                    attr: a,
                    forward: true,
                    target,
                });
            }
            return None;
        }
        self.rev(etype, label).map(|a| LinkEnd {
            attr: a,
            forward: false,
            target: a.etype.clone(),
        })
    }

    /// Forward attributes of a namespace (its own data and forward links).
    pub fn of_etype<'a>(&'a self, etype: &'a str) -> impl Iterator<Item = &'a AttrDef> + 'a {
        self.list
            .iter()
            .filter(move |a| a.etype == etype)
            .map(|a| a.as_ref())
    }

    /// Whether `key` needs the `(app, a, v)` index: ids, indexed, unique and link attributes.
    pub fn wants_index(a: &AttrDef) -> bool {
        a.label == "id" || a.indexed || a.unique || a.is_ref
    }
}

/// A link seen from one namespace.
#[derive(Debug, Clone)]
pub struct LinkEnd<'a> {
    /// The link attribute.
    pub attr: &'a AttrDef,
    /// Whether the namespace holds the forward side.
    pub forward: bool,
    /// The namespace on the other side.
    pub target: String,
}

impl LinkEnd<'_> {
    /// Whether this side sees at most one entity.
    pub fn singular(&self) -> bool {
        if self.forward {
            self.attr.card_one
        } else {
            self.attr.unique
        }
    }
}

/// The attributes of the system namespaces (`$users`, `$files`, `$streams`).
pub fn system_attrs() -> Vec<AttrDef> {
    let mut out = Vec::new();
    let mut sys = |mut a: AttrDef| {
        a.system = true;
        out.push(a);
    };
    let mut uid = AttrDef::id_attr("$users");
    uid.indexed = true;
    sys(uid);
    let mut email = AttrDef::blob("$users", "email");
    email.unique = true;
    email.indexed = true;
    email.checked = Some("string".into());
    sys(email);
    let mut t = AttrDef::blob("$users", "type");
    t.checked = Some("string".into());
    sys(t);
    let mut img = AttrDef::blob("$users", "imageURL");
    img.checked = Some("string".into());
    sys(img);
    let mut lpu = AttrDef::link("$users", "linkedPrimaryUser", "$users", "linkedGuestUsers");
    lpu.card_one = true;
    lpu.on_delete = true;
    sys(lpu);
    sys(AttrDef::id_attr("$files"));
    let mut path = AttrDef::blob("$files", "path");
    path.unique = true;
    path.indexed = true;
    path.required = true;
    path.checked = Some("string".into());
    sys(path);
    let mut size = AttrDef::blob("$files", "size");
    size.indexed = true;
    size.checked = Some("number".into());
    sys(size);
    for l in ["content-type", "content-disposition"] {
        let mut a = AttrDef::blob("$files", l);
        a.indexed = true;
        a.checked = Some("string".into());
        sys(a);
    }
    let mut loc = AttrDef::blob("$files", "location-id");
    loc.unique = true;
    loc.checked = Some("string".into());
    sys(loc);
    let mut kv = AttrDef::blob("$files", "key-version");
    kv.checked = Some("number".into());
    sys(kv);
    out.extend(stream_attrs());
    out
}

/// The `$streams` attributes of the real server's system catalog. Apps stored by an earlier
/// instant-local (a `--data` folder) get them when they first open a stream session.
pub fn stream_attrs() -> Vec<AttrDef> {
    let typed = |label: &str, t: &str| {
        let mut a = AttrDef::blob("$streams", label);
        a.checked = Some(t.into());
        a
    };
    let mut id = AttrDef::id_attr("$streams");
    id.indexed = true;
    let mut client_id = typed("clientId", "string");
    client_id.unique = true;
    client_id.indexed = true;
    client_id.required = true;
    let mut files = AttrDef::link("$streams", "$files", "$files", "$stream");
    files.unique = true;
    files.on_delete_reverse = true;
    let mut out = vec![
        id,
        client_id,
        typed("machineId", "string"),
        files,
        typed("done", "boolean"),
        typed("size", "number"),
        typed("hashedReconnectToken", "string"),
        typed("abortReason", "string"),
    ];
    for a in &mut out {
        a.system = true;
    }
    out
}

/// Reads a schema in any JSON form (`{entities, links}` as sent to `/dash/apps/ephemeral`, the API
/// form, a backup config) into attributes, through `instant-schema`.
pub fn attrs_from_schema_json(schema: &Value) -> Result<Vec<AttrDef>, String> {
    let schema = instant_schema::from_json_value(schema).map_err(|e| e.to_string())?;
    Ok(attrs_from_model(&schema))
}

/// Converts a schema read by `instant-schema` (from `instant.schema.ts` or any JSON form) into
/// attributes.
pub fn attrs_from_model(schema: &instant_schema::Schema) -> Vec<AttrDef> {
    let mut out = Vec::new();
    for (etype, ent) in &schema.entities {
        out.push(AttrDef::id_attr(etype));
        for (label, a) in &ent.attrs {
            if label == "id" {
                continue;
            }
            let mut d = AttrDef::blob(etype, label);
            d.checked = a.value_type.checked_data_type().map(str::to_string);
            d.unique = a.unique;
            d.indexed = a.indexed;
            d.required = a.required;
            out.push(d);
        }
    }
    for link in schema.links.values() {
        let (f, r) = (&link.forward, &link.reverse);
        let mut d = AttrDef::link(&f.on, &f.label, &r.on, &r.label);
        d.card_one = f.has == instant_schema::Has::One;
        d.unique = r.has == instant_schema::Has::One;
        d.required = f.required == Some(true);
        d.on_delete = f.on_delete_cascade;
        d.on_delete_reverse = r.on_delete_cascade;
        out.push(d);
    }
    out
}

/// Merges schema attributes into the system attributes: a schema may redeclare system attrs
/// (e.g. `$users.email`), which keeps the system definition; app attrs on `$users` are added.
pub fn merge_with_system(schema_attrs: Vec<AttrDef>) -> Vec<AttrDef> {
    let mut out = system_attrs();
    for a in schema_attrs {
        let dup = out.iter().any(|b| b.etype == a.etype && b.label == a.label);
        if !dup {
            out.push(a);
        }
    }
    out
}
