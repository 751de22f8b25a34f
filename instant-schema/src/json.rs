//! The JSON forms of a schema: writing the canonical `JSON.stringify(i.schema(...))` form and
//! reading the three forms of schema-formats.md §2 (defs, API `{refs, blobs}`, backup config).

use crate::diag::{Diagnostic, Error, Severity};
use crate::model::{Attr, Entity, Has, Link, LinkSide, Room, Schema, ValueType};
use crate::parse::{parse_expr_file, Expr, Member, Module};
use crate::validate::{check_schema, Locator, Target};
use crate::Loaded;
use indexmap::IndexMap;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn attr_json(a: &Attr) -> Value {
    let mut config = Map::new();
    config.insert("indexed".into(), Value::Bool(a.indexed));
    config.insert("unique".into(), Value::Bool(a.unique));
    let mut m = Map::new();
    m.insert(
        "valueType".into(),
        Value::String(a.value_type.json_name().into()),
    );
    m.insert("required".into(), Value::Bool(a.required));
    m.insert("isIndexed".into(), Value::Bool(a.indexed));
    m.insert("config".into(), Value::Object(config));
    m.insert("metadata".into(), Value::Object(Map::new()));
    Value::Object(m)
}

fn entity_json(e: &Entity, links: Map<String, Value>) -> Value {
    let attrs: Map<String, Value> = e
        .attrs
        .iter()
        .map(|(k, a)| (k.clone(), attr_json(a)))
        .collect();
    json!({ "attrs": attrs, "links": links })
}

fn side_json(s: &LinkSide) -> Value {
    let mut m = Map::new();
    m.insert("on".into(), Value::String(s.on.clone()));
    m.insert("has".into(), Value::String(s.has.as_str().into()));
    m.insert("label".into(), Value::String(s.label.clone()));
    if let Some(r) = s.required {
        m.insert("required".into(), Value::Bool(r));
    }
    if s.on_delete_cascade {
        m.insert("onDelete".into(), Value::String("cascade".into()));
    }
    for (k, v) in &s.extra {
        m.insert(k.clone(), v.clone());
    }
    Value::Object(m)
}

/// Serialisers for [`Schema::to_defs_string`]: the model, borrowed, in the defs form's shape.
mod defs {
    use crate::model::{Attr, Entity, Link, LinkSide, Schema};
    use serde::ser::{Serialize, SerializeMap, Serializer};

    pub(super) struct Defs<'a>(pub &'a Schema);
    struct Attrs<'a>(&'a Entity);
    struct AttrDef<'a>(&'a Attr);
    struct Config<'a>(&'a Attr);
    struct LinkDef<'a>(&'a Link);
    struct Side<'a>(&'a LinkSide);

    impl Serialize for Defs<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            struct Entities<'a>(&'a Schema);
            impl Serialize for Entities<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_map(self.0.entities.iter().map(|(k, e)| (k, Attrs(e))))
                }
            }
            struct Links<'a>(&'a Schema);
            impl Serialize for Links<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_map(self.0.links.iter().map(|(k, l)| (k, LinkDef(l))))
                }
            }
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("entities", &Entities(self.0))?;
            m.serialize_entry("links", &Links(self.0))?;
            m.end()
        }
    }

    impl Serialize for Attrs<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            struct List<'a>(&'a Entity);
            impl Serialize for List<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    s.collect_map(self.0.attrs.iter().map(|(k, a)| (k, AttrDef(a))))
                }
            }
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("attrs", &List(self.0))?;
            m.end()
        }
    }

    impl Serialize for AttrDef<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(3))?;
            m.serialize_entry("valueType", self.0.value_type.json_name())?;
            m.serialize_entry("required", &self.0.required)?;
            m.serialize_entry("config", &Config(self.0))?;
            m.end()
        }
    }

    impl Serialize for Config<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("indexed", &self.0.indexed)?;
            m.serialize_entry("unique", &self.0.unique)?;
            m.end()
        }
    }

    impl Serialize for LinkDef<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(2))?;
            m.serialize_entry("forward", &Side(&self.0.forward))?;
            m.serialize_entry("reverse", &Side(&self.0.reverse))?;
            m.end()
        }
    }

    impl Serialize for Side<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let side = self.0;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("on", &side.on)?;
            m.serialize_entry("has", side.has.as_str())?;
            m.serialize_entry("label", &side.label)?;
            if let Some(r) = side.required {
                m.serialize_entry("required", &r)?;
            }
            if side.on_delete_cascade {
                m.serialize_entry("onDelete", "cascade")?;
            }
            m.end()
        }
    }
}

impl Schema {
    /// The entities' attributes and the links in Instant's JSON (defs) form, as compact text:
    /// `{"entities": {ns: {"attrs": {..}}}, "links": {..}}`, each attribute with `valueType`,
    /// `required` and `config`. Leaves out what [`Schema::to_json`] derives (`isIndexed`,
    /// `metadata`, each entity's `links`) and rooms, and writes the text without building a
    /// `Value` first (several times faster for a large schema).
    pub fn to_defs_string(&self) -> String {
        // Serialising into a String cannot fail: every map key is a string.
        serde_json::to_string(&defs::Defs(self)).unwrap_or_default()
    }

    /// The schema as `JSON.stringify(schema)` gives it with the official `@instantdb/core`:
    /// entities with their attrs and derived `links` map, links as written, rooms.
    pub fn to_json(&self) -> Value {
        let mut fwd: IndexMap<&str, Map<String, Value>> = IndexMap::new();
        let mut rev: IndexMap<&str, Map<String, Value>> = IndexMap::new();
        for l in self.links.values() {
            fwd.entry(l.forward.on.as_str()).or_default().insert(
                l.forward.label.clone(),
                json!({ "entityName": l.reverse.on, "cardinality": l.forward.has.as_str() }),
            );
            rev.entry(l.reverse.on.as_str()).or_default().insert(
                l.reverse.label.clone(),
                json!({ "entityName": l.forward.on, "cardinality": l.reverse.has.as_str() }),
            );
        }
        let mut entities = Map::new();
        for (name, e) in &self.entities {
            let mut links = fwd.get(name.as_str()).cloned().unwrap_or_default();
            for (k, v) in rev.get(name.as_str()).cloned().unwrap_or_default() {
                links.insert(k, v);
            }
            entities.insert(name.clone(), entity_json(e, links));
        }
        let links: Map<String, Value> = self
            .links
            .iter()
            .map(|(k, l)| {
                (
                    k.clone(),
                    json!({ "forward": side_json(&l.forward), "reverse": side_json(&l.reverse) }),
                )
            })
            .collect();
        let mut out = Map::new();
        out.insert("entities".into(), Value::Object(entities));
        out.insert("links".into(), Value::Object(links));
        if let Some(rooms) = &self.rooms {
            let rooms: Map<String, Value> = rooms
                .iter()
                .map(|(k, r)| {
                    let mut m = Map::new();
                    m.insert("presence".into(), entity_json(&r.presence, Map::new()));
                    if let Some(t) = &r.topics {
                        let topics: Map<String, Value> = t
                            .iter()
                            .map(|(tk, te)| (tk.clone(), entity_json(te, Map::new())))
                            .collect();
                        m.insert("topics".into(), Value::Object(topics));
                    }
                    (k.clone(), Value::Object(m))
                })
                .collect();
            out.insert("rooms".into(), Value::Object(rooms));
        }
        Value::Object(out)
    }
}

/// Points diagnostics at JSON paths of a source text (when there is one).
pub(crate) struct JsonLocator {
    file: PathBuf,
    src: Option<(Module, Expr)>,
}

impl JsonLocator {
    pub(crate) fn new(file: &Path, src: Option<(Module, Expr)>) -> JsonLocator {
        JsonLocator {
            file: file.to_path_buf(),
            src,
        }
    }

    /// A diagnostic at the JSON path `path` (the deepest existing prefix).
    pub(crate) fn at(&self, path: &[String], severity: Severity, message: String) -> Diagnostic {
        let Some((m, root)) = &self.src else {
            let p = if path.is_empty() {
                String::new()
            } else {
                format!(" (at /{})", path.join("/"))
            };
            return Diagnostic::nowhere(severity, &self.file, format!("{message}{p}"));
        };
        let mut span = root.span();
        let mut e = root;
        for key in path {
            let next = match e {
                Expr::Obj(members, _) => members.iter().rev().find_map(|mem| match mem {
                    Member::Prop {
                        key: k,
                        key_span,
                        value,
                    } if m.name(k, *key_span) == key => Some((*key_span, value)),
                    _ => None,
                }),
                Expr::Arr(items, _) => key
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| items.get(i))
                    .map(|v| (v.span(), v)),
                _ => None,
            };
            match next {
                Some((s, v)) => {
                    span = s;
                    e = v;
                }
                None => break,
            }
        }
        m.diag(severity, span, message)
    }
}

struct SchemaJsonLocator<'a> {
    inner: &'a JsonLocator,
    prefix: Vec<String>,
}

impl Locator for SchemaJsonLocator<'_> {
    fn diag(&self, target: &Target, severity: Severity, message: String) -> Diagnostic {
        let mut p = self.prefix.clone();
        let s = |x: &str| x.to_string();
        let side = |f: bool| if f { s("forward") } else { s("reverse") };
        match target {
            Target::Entity(ns) => p.extend([s("entities"), ns.clone()]),
            Target::Attr(ns, a) => p.extend([s("entities"), ns.clone(), s("attrs"), a.clone()]),
            Target::Link(l) => p.extend([s("links"), l.clone()]),
            Target::Side(l, f) => p.extend([s("links"), l.clone(), side(*f)]),
            Target::SideKey(l, f, k) => p.extend([s("links"), l.clone(), side(*f), k.clone()]),
        }
        self.inner.at(&p, severity, message)
    }
}

struct JsonReader<'a> {
    loc: &'a JsonLocator,
    warnings: Vec<Diagnostic>,
}

fn path_of(base: &[String], more: &[&str]) -> Vec<String> {
    base.iter()
        .cloned()
        .chain(more.iter().map(|s| (*s).to_string()))
        .collect()
}

impl JsonReader<'_> {
    fn err(&self, path: &[String], msg: impl Into<String>) -> Error {
        Error::new(self.loc.at(path, Severity::Error, msg.into()))
    }

    fn obj<'v>(
        &self,
        v: &'v Value,
        path: &[String],
        what: &str,
    ) -> Result<&'v Map<String, Value>, Error> {
        v.as_object()
            .ok_or_else(|| self.err(path, format!("{what} must be an object")))
    }

    /// Detect the form and read it. Returns the path prefix the schema was found under.
    fn read(&mut self, v: &Value, path: Vec<String>) -> Result<(Schema, Vec<String>), Error> {
        let o = self.obj(v, &path, "a schema")?;
        if o.contains_key("blobs") && o.contains_key("refs") {
            return Ok((self.api(o, &path)?, path));
        }
        if o.contains_key("entities") {
            return Ok((self.defs(o, &path)?, path));
        }
        if let Some(inner) = o.get("schema") {
            return self.read(inner, path_of(&path, &["schema"]));
        }
        Err(self.err(&path, "not a schema: expected an `entities` key (JSON of `i.schema`), `blobs` and `refs` (API form), or a `schema` key"))
    }

    fn value_type(&mut self, v: Option<&Value>, path: &[String]) -> Result<ValueType, Error> {
        Ok(match v.and_then(Value::as_str) {
            Some("string") => ValueType::String,
            Some("number") => ValueType::Number,
            Some("boolean") => ValueType::Boolean,
            Some("date") => ValueType::Date,
            Some("json") => ValueType::Json,
            Some("any") | None if v.is_none_or(|x| x.is_string()) => ValueType::Any,
            Some(other) => {
                self.warnings.push(self.loc.at(
                    path,
                    Severity::Warning,
                    format!("unknown valueType `{other}` read as json"),
                ));
                ValueType::Json
            }
            None => return Err(self.err(path, "`valueType` must be a string")),
        })
    }

    fn bool_at(&self, o: &Map<String, Value>, key: &str, path: &[String]) -> Result<bool, Error> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.err(
                &path_of(path, &[key]),
                format!("`{key}` must be true or false"),
            )),
        }
    }

    fn attrs(&mut self, e: &Value, path: &[String]) -> Result<Entity, Error> {
        let eo = self.obj(e, path, "an entity")?;
        let mut attrs = IndexMap::new();
        if let Some(a) = eo.get("attrs") {
            let ap = path_of(path, &["attrs"]);
            for (name, def) in self.obj(a, &ap, "`attrs`")? {
                let p = path_of(&ap, &[name]);
                let d = self.obj(def, &p, "an attribute")?;
                let vt = self.value_type(d.get("valueType"), &path_of(&p, &["valueType"]))?;
                let mut attr = Attr::new(vt);
                attr.required = self.bool_at(d, "required", &p)?;
                let mut indexed = self.bool_at(d, "isIndexed", &p)?;
                if let Some(c) = d.get("config") {
                    let cp = path_of(&p, &["config"]);
                    let co = self.obj(c, &cp, "`config`")?;
                    indexed |= self.bool_at(co, "indexed", &cp)?;
                    attr.unique = self.bool_at(co, "unique", &cp)?;
                }
                attr.indexed = indexed;
                attrs.insert(name.clone(), attr);
            }
        }
        Ok(Entity { attrs, loc: None })
    }

    fn side(&mut self, v: Option<&Value>, path: &[String], link: &str) -> Result<LinkSide, Error> {
        let Some(v) = v else {
            return Err(self.err(
                path,
                format!(
                    "link `{link}` has no `{}` side",
                    path.last().map_or("", String::as_str)
                ),
            ));
        };
        let o = self.obj(v, path, "a link side")?;
        let forward = path.last().is_some_and(|s| s == "forward");
        let s = |k: &str| -> Result<String, Error> {
            match o.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(self.err(&path_of(path, &[k]), format!("`{k}` must be a string"))),
                None => Err(self.err(path, format!("link `{link}` side is missing `{k}`"))),
            }
        };
        let on = s("on")?;
        let label = s("label")?;
        let has = match s("has")?.as_str() {
            "one" => Has::One,
            "many" => Has::Many,
            other => {
                return Err(self.err(
                    &path_of(path, &["has"]),
                    format!("`has` must be 'one' or 'many', found '{other}'"),
                ))
            }
        };
        let required = match o.get("required") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                return Err(self.err(
                    &path_of(path, &["required"]),
                    "`required` must be true or false",
                ))
            }
        };
        if required.is_some() && !forward {
            self.warnings.push(self.loc.at(
                &path_of(path, &["required"]),
                Severity::Warning,
                format!("`required` on the reverse side of link `{link}` is ignored by the server"),
            ));
        }
        let cascade = match o.get("onDelete") {
            None | Some(Value::Null) => false,
            Some(Value::String(c)) if c == "cascade" => true,
            Some(_) => {
                return Err(self.err(
                    &path_of(path, &["onDelete"]),
                    "`onDelete` must be 'cascade'",
                ))
            }
        };
        let mut extra = IndexMap::new();
        for (k, v) in o {
            if !matches!(k.as_str(), "on" | "label" | "has" | "required" | "onDelete") {
                self.warnings.push(self.loc.at(
                    &path_of(path, &[k]),
                    Severity::Warning,
                    format!("unknown key `{k}` in link `{link}` (ignored by the server)"),
                ));
                extra.insert(k.clone(), v.clone());
            }
        }
        Ok(LinkSide {
            on,
            label,
            has,
            required,
            on_delete_cascade: cascade,
            extra,
        })
    }

    fn defs(&mut self, o: &Map<String, Value>, path: &[String]) -> Result<Schema, Error> {
        let mut schema = Schema::default();
        let ep = path_of(path, &["entities"]);
        for (ns, e) in self.obj(o.get("entities").unwrap_or(&Value::Null), &ep, "`entities`")? {
            let ent = self.attrs(e, &path_of(&ep, &[ns]))?;
            schema.entities.insert(ns.clone(), ent);
        }
        if let Some(links) = o.get("links").filter(|v| !v.is_null()) {
            let lp = path_of(path, &["links"]);
            for (name, l) in self.obj(links, &lp, "`links`")? {
                let p = path_of(&lp, &[name]);
                let lo = self.obj(l, &p, "a link")?;
                let forward = self.side(lo.get("forward"), &path_of(&p, &["forward"]), name)?;
                let reverse = self.side(lo.get("reverse"), &path_of(&p, &["reverse"]), name)?;
                schema.links.insert(
                    name.clone(),
                    Link {
                        forward,
                        reverse,
                        loc: None,
                    },
                );
            }
        }
        if let Some(rooms) = o.get("rooms").filter(|v| !v.is_null()) {
            let rp = path_of(path, &["rooms"]);
            let mut out = IndexMap::new();
            for (name, r) in self.obj(rooms, &rp, "`rooms`")? {
                let p = path_of(&rp, &[name]);
                let ro = self.obj(r, &p, "a room")?;
                let Some(pres) = ro.get("presence") else {
                    return Err(self.err(&p, format!("room `{name}` has no `presence`")));
                };
                let presence = self.attrs(pres, &path_of(&p, &["presence"]))?;
                let topics = match ro.get("topics") {
                    None => None,
                    Some(t) => {
                        let tp = path_of(&p, &["topics"]);
                        let mut m = IndexMap::new();
                        for (tn, te) in self.obj(t, &tp, "`topics`")? {
                            m.insert(tn.clone(), self.attrs(te, &path_of(&tp, &[tn]))?);
                        }
                        Some(m)
                    }
                };
                out.insert(name.clone(), Room { presence, topics });
            }
            schema.rooms = Some(out);
        }
        Ok(schema)
    }

    fn api(&mut self, o: &Map<String, Value>, path: &[String]) -> Result<Schema, Error> {
        let system = crate::system::system_schema();
        let mut schema = Schema::default();
        let bp = path_of(path, &["blobs"]);
        for (ns, attrs) in self.obj(o.get("blobs").unwrap_or(&Value::Null), &bp, "`blobs`")? {
            let np = path_of(&bp, &[ns]);
            let mut names: Vec<(&String, &Value)> = self
                .obj(attrs, &np, "a namespace of `blobs`")?
                .iter()
                .collect();
            names.sort_by(|a, b| a.0.cmp(b.0));
            let mut entity = Entity::default();
            for (label, a) in names {
                if label == "id" {
                    continue;
                }
                let p = path_of(&np, &[label]);
                let ao = self.obj(a, &p, "an attribute")?;
                let system_catalog = ao.get("catalog").and_then(Value::as_str) == Some("system");
                if ns.starts_with('$') && system_catalog && system.attr(ns, label).is_none() {
                    continue; // hidden system attribute
                }
                let vt = match ao.get("checked-data-type").and_then(Value::as_str) {
                    Some("string") => ValueType::String,
                    Some("number") => ValueType::Number,
                    Some("boolean") => ValueType::Boolean,
                    Some("date") => ValueType::Date,
                    // system attributes may come without a checked type: use their known one
                    _ => system
                        .attr(ns, label)
                        .filter(|_| system_catalog)
                        .map_or(ValueType::Any, |a| a.value_type),
                };
                let mut attr = Attr::new(vt);
                attr.unique = self.bool_at(ao, "unique?", &p)?;
                attr.indexed = self.bool_at(ao, "index?", &p)?;
                attr.required = self.bool_at(ao, "required?", &p)?;
                entity.attrs.insert(label.clone(), attr);
            }
            schema.entities.insert(ns.clone(), entity);
        }
        let rp = path_of(path, &["refs"]);
        for (key, r) in self.obj(o.get("refs").unwrap_or(&Value::Null), &rp, "`refs`")? {
            let p = path_of(&rp, &[key]);
            let ro = self.obj(r, &p, "a ref attribute")?;
            let ident = |k: &str| -> Result<(String, String), Error> {
                let arr = ro.get(k).and_then(Value::as_array);
                match arr.map(|a| {
                    (
                        a.get(1).and_then(Value::as_str),
                        a.get(2).and_then(Value::as_str),
                    )
                }) {
                    Some((Some(ns), Some(label))) => Ok((ns.to_string(), label.to_string())),
                    _ => Err(self.err(
                        &path_of(&p, &[k]),
                        format!("`{k}` must be [id, namespace, label]"),
                    )),
                }
            };
            let (fns, flabel) = ident("forward-identity")?;
            let (rns, rlabel) = ident("reverse-identity")?;
            let has = match ro.get("cardinality").and_then(Value::as_str) {
                Some("many") => Has::Many,
                _ => Has::One,
            };
            let unique = self.bool_at(ro, "unique?", &p)?;
            let required = self.bool_at(ro, "required?", &p)?;
            let cascade = |k: &str| ro.get(k).and_then(Value::as_str) == Some("cascade");
            let mut cap = flabel.clone();
            if let Some(f) = cap.get(..1) {
                let up = f.to_uppercase();
                cap.replace_range(..1, &up);
            }
            let name = format!("{fns}{cap}");
            let link = Link {
                forward: LinkSide {
                    on: fns,
                    label: flabel,
                    has,
                    required: required.then_some(true),
                    on_delete_cascade: cascade("on-delete"),
                    extra: IndexMap::new(),
                },
                reverse: LinkSide {
                    on: rns,
                    label: rlabel,
                    has: if unique { Has::One } else { Has::Many },
                    required: None,
                    on_delete_cascade: cascade("on-delete-reverse"),
                    extra: IndexMap::new(),
                },
                loc: None,
            };
            schema.links.insert(name, link);
        }
        Ok(schema)
    }
}

fn finish(v: &Value, loc: &JsonLocator) -> Result<Loaded, Error> {
    let mut r = JsonReader {
        loc,
        warnings: Vec::new(),
    };
    let (schema, prefix) = r.read(v, Vec::new())?;
    let sl = SchemaJsonLocator { inner: loc, prefix };
    let mut diags = check_schema(&schema, &sl);
    diags.append(&mut r.warnings);
    let (errors, warnings): (Vec<_>, Vec<_>) = diags.into_iter().partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(Error {
            diagnostics: errors,
        });
    }
    Ok(Loaded { schema, warnings })
}

/// Parse JSON text strictly, with a positioned error on failure.
pub(crate) fn parse_json_text(source: &str, path: &Path) -> Result<(Value, JsonLocator), Error> {
    let v: Value = serde_json::from_str(source).map_err(|e| {
        let line = e.line().max(1);
        let col = e.column().max(1);
        let start: usize = source
            .split_inclusive('\n')
            .take(line - 1)
            .map(str::len)
            .sum();
        let offset = source
            .get(start..)
            .and_then(|l| l.char_indices().nth(col - 1).map(|(i, _)| start + i))
            .unwrap_or(source.len());
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        Error::new(Diagnostic::at(
            Severity::Error,
            path,
            source,
            offset,
            offset + 1,
            format!("invalid JSON: {msg}"),
        ))
    })?;
    let located = parse_expr_file(source, Arc::new(path.to_path_buf())).ok();
    Ok((v, JsonLocator::new(path, located)))
}

/// Read a schema from JSON text (any of the three forms, detected by content).
pub fn parse_json(source: &str, path: &Path) -> Result<Loaded, Error> {
    let (v, loc) = parse_json_text(source, path)?;
    finish(&v, &loc)
}

/// Read a schema from a JSON value (the §2.a form, the looser conformance form, the API form or a
/// backup config).
pub fn from_json_value(v: &Value) -> Result<Schema, Error> {
    let loc = JsonLocator::new(Path::new("<json>"), None);
    finish(v, &loc).map(|l| l.schema)
}
