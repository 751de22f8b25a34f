//! Reading `instant.schema.ts`: from the parsed modules to a [`Schema`].

use crate::diag::{Diagnostic, Error, Severity};
use crate::eval::{describe, At, Loader, ModId};
use crate::model::{Attr, Entity, Has, Link, LinkSide, Room, Schema, TypeParam, ValueType};
use crate::parse::{Expr, Span, TypeArgs};
use crate::validate::{check_schema, Locator, Target};
use crate::Loaded;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::Path;

/// Read a schema from TypeScript/JavaScript source.
pub fn parse_ts(source: &str, path: &Path) -> Result<Loaded, Error> {
    let loader = Loader::load(source, path)?;
    let mut r = Reader {
        l: &loader,
        warnings: Vec::new(),
        locs: HashMap::new(),
    };
    let root = r.find_schema()?;
    let schema = r.schema(root)?;
    let locator = TsLocator {
        l: &loader,
        locs: &r.locs,
    };
    let mut diags = check_schema(&schema, &locator);
    diags.append(&mut r.warnings);
    let (errors, warnings): (Vec<_>, Vec<_>) = diags.into_iter().partition(Diagnostic::is_error);
    if !errors.is_empty() {
        return Err(Error {
            diagnostics: errors,
        });
    }
    Ok(Loaded { schema, warnings })
}

struct TsLocator<'a> {
    l: &'a Loader,
    locs: &'a HashMap<Target, (ModId, Span)>,
}

impl Locator for TsLocator<'_> {
    fn diag(&self, target: &Target, severity: Severity, message: String) -> Diagnostic {
        let mut t = target.clone();
        loop {
            if let Some((m, span)) = self.locs.get(&t) {
                return self.l.diag(*m, severity, *span, message);
            }
            match t.parent() {
                Some(p) => t = p,
                None => {
                    let path = self
                        .l
                        .module(0)
                        .map(|m| m.path.as_path().to_path_buf())
                        .unwrap_or_default();
                    return Diagnostic::nowhere(severity, &path, message);
                }
            }
        }
    }
}

struct Reader<'a> {
    l: &'a Loader,
    warnings: Vec<Diagnostic>,
    locs: HashMap<Target, (ModId, Span)>,
}

/// A chain of calls `base.a<T>(...).b(...)`.
struct Seg<'a> {
    m: ModId,
    name: &'a str,
    span: Span,
    type_args: Option<&'a TypeArgs>,
    args: &'a [Expr],
    called: bool,
}

const LOOKALIKE: &str = "this is not the InstantDB schema DSL (`defineSchema`, `i.namespace` and `i.room` come from forks such as @mszr/idb-dux); write `i.schema({ entities, links, rooms })` with `i.entity(...)`";

impl<'a> Reader<'a> {
    fn err(&self, m: ModId, span: Span, msg: impl Into<String>) -> Error {
        Error::new(self.l.err(m, span, msg))
    }

    fn warn(&mut self, m: ModId, span: Span, msg: impl Into<String>) {
        let d = self.l.diag(m, Severity::Warning, span, msg);
        self.warnings.push(d);
    }

    /// Decompose `base.a().b<T>().c()` into the base name and its segments, following a base
    /// that is a constant holding a chain (`const s = i.string(); s.optional()`).
    fn chain(&self, at: At<'a>, depth: usize) -> Option<(ModId, &'a str, Span, Vec<Seg<'a>>)> {
        if depth > 32 {
            return None;
        }
        let mut segs = Vec::new();
        let mut e = at.e;
        loop {
            match e {
                Expr::Method {
                    obj,
                    name: given,
                    name_span: span,
                    type_args,
                    args,
                    ..
                } => {
                    let name = self.l.module(at.m)?.name(given, *span);
                    segs.push(Seg {
                        m: at.m,
                        name,
                        span: *span,
                        type_args: type_args.as_deref(),
                        args,
                        called: true,
                    });
                    e = obj;
                }
                Expr::Member(obj, given, span) => {
                    let name = self.l.module(at.m)?.name(given, *span);
                    segs.push(Seg {
                        m: at.m,
                        name,
                        span: *span,
                        type_args: None,
                        args: &[],
                        called: false,
                    });
                    e = obj;
                }
                Expr::Ident(span) => {
                    segs.reverse();
                    let md = self.l.module(at.m)?;
                    let name = md.text(*span);
                    if md.is_i(name) {
                        return Some((at.m, name, *span, segs));
                    }
                    // a constant holding the start of the chain
                    let inner = self.l.resolve(At { m: at.m, e }).ok()?;
                    if std::ptr::eq(inner.e, e) {
                        return None;
                    }
                    let (bm, base, bspan, mut first) = self.chain(inner, depth + 1)?;
                    first.extend(segs);
                    return Some((bm, base, bspan, first));
                }
                _ => return None,
            }
        }
    }

    fn find_schema(&mut self) -> Result<At<'a>, Error> {
        let l = self.l;
        let md = l
            .module(0)
            .ok_or_else(|| Error::io(Path::new("<input>"), "nothing to read"))?;
        let default = if let Some(e) = &md.default_export {
            Some(At { m: 0, e })
        } else if md.exports.contains_key("default") {
            Some(l.export(0, "default", (0, Span::default()), 0)?)
        } else {
            None
        };
        if let Some(d) = default {
            let r = l.resolve(d)?;
            self.reject_lookalike(r)?;
            if l.schema_call_kind(r).is_some() {
                return Ok(r);
            }
            return Err(self.err(
                r.m,
                r.e.span(),
                format!(
                    "the default export is {}, not a schema: expected `i.schema({{ ... }})` or `i.graph(...)`",
                    describe(r.e)
                ),
            ));
        }
        // No default export: the first top-level constant holding a schema call.
        let mut first_err: Option<Error> = None;
        for e in md.consts.values() {
            let at = At { m: 0, e };
            match l.resolve(at) {
                Ok(r) => {
                    self.reject_lookalike(r)?;
                    if l.schema_call_kind(r).is_some() {
                        return Ok(r);
                    }
                }
                Err(d) => {
                    if first_err.is_none() && mentions_schema_call(md, e) {
                        first_err = Some(Error::new(d));
                    }
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        if md.src.contains("defineSchema(") {
            let pos = md.src.find("defineSchema(").unwrap_or(0);
            return Err(self.err(
                0,
                Span {
                    start: pos,
                    end: pos + "defineSchema".len(),
                },
                LOOKALIKE,
            ));
        }
        // point just past the last non-blank text
        let end = md.src.trim_end().len();
        Err(self.err(
            0,
            Span { start: end, end },
            "no schema found: expected `export default` of an `i.schema({ ... })` (or legacy `i.graph(...)`) value",
        ))
    }

    fn reject_lookalike(&self, r: At<'a>) -> Result<(), Error> {
        let text = |span: Span| self.l.text(r.m, span);
        match r.e {
            Expr::Call { callee, .. } => {
                if let Expr::Ident(span) = callee.as_ref() {
                    if text(*span) == "defineSchema" {
                        return Err(self.err(r.m, *span, LOOKALIKE));
                    }
                }
            }
            Expr::Method {
                name, name_span, ..
            } if matches!(
                name.as_deref().unwrap_or(text(*name_span)),
                "namespace" | "room"
            ) =>
            {
                return Err(self.err(r.m, *name_span, LOOKALIKE))
            }
            _ => {}
        }
        Ok(())
    }

    fn schema(&mut self, root: At<'a>) -> Result<Schema, Error> {
        let l = self.l;
        let Some((kind, with_rooms)) = l.schema_call_kind(root) else {
            return Err(self.err(
                root.m,
                root.e.span(),
                "expected `i.schema(...)` or `i.graph(...)`",
            ));
        };
        // the call itself (below any .withRoomSchema())
        let mut call = root;
        if with_rooms {
            if let Expr::Method {
                obj,
                args,
                name_span,
                ..
            } = root.e
            {
                if !args.is_empty() {
                    return Err(self.err(
                        root.m,
                        *name_span,
                        "`withRoomSchema` takes no arguments (its room shape is a type argument)",
                    ));
                }
                call = l.resolve(At { m: root.m, e: obj })?;
                while let Expr::Method {
                    obj: o,
                    name: n,
                    name_span: nspan,
                    ..
                } = call.e
                {
                    if n.as_deref().unwrap_or(l.text(call.m, *nspan)) != "withRoomSchema" {
                        break;
                    }
                    call = l.resolve(At { m: call.m, e: o })?;
                }
            }
        }
        let (Some(args), call_span) = (call.e.call_args(), call.e.span()) else {
            return Err(self.err(call.m, call.e.span(), "expected a call"));
        };
        let call_span = &call_span;
        let mut schema = Schema::default();
        match kind {
            "schema" => {
                let [obj] = args else {
                    return Err(self.err(
                        call.m,
                        *call_span,
                        format!(
                            "`i.schema` takes one object argument, found {} arguments",
                            args.len()
                        ),
                    ));
                };
                let mut entities = None;
                let mut links = None;
                let mut rooms = None;
                for ent in l.entries(At { m: call.m, e: obj })? {
                    match ent.key {
                        "entities" => entities = Some(ent.value),
                        "links" => links = Some(ent.value),
                        "rooms" => rooms = Some(ent.value),
                        other => self.warn(ent.key_m, ent.key_span, format!("unknown key `{other}` in `i.schema({{ ... }})` is ignored (expected entities, links, rooms)")),
                    }
                }
                let Some(entities) = entities else {
                    return Err(self.err(
                        call.m,
                        obj.span(),
                        "`i.schema({ ... })` needs an `entities` key",
                    ));
                };
                schema.entities = self.entities(entities)?;
                if let Some(links) = links {
                    if !self.is_undefined(links) {
                        schema.links = self.links(links)?;
                    }
                }
                let mut room_map = IndexMap::new();
                if let Some(rooms) = rooms {
                    if !self.is_undefined(rooms) {
                        room_map = self.rooms(rooms)?;
                    }
                }
                schema.rooms = Some(if with_rooms {
                    IndexMap::new()
                } else {
                    room_map
                });
            }
            _ => {
                let (ents, links) = match args {
                    [e, lk] => (e, Some(lk)),
                    [_app, e, lk] => (e, Some(lk)),
                    [e] => (e, None),
                    _ => {
                        return Err(self.err(
                            call.m,
                            *call_span,
                            format!("`i.graph` takes (entities, links) or legacy (appId, entities, links), found {} arguments", args.len()),
                        ))
                    }
                };
                schema.entities = self.entities(At { m: call.m, e: ents })?;
                if let Some(lk) = links {
                    schema.links = self.links(At { m: call.m, e: lk })?;
                }
                schema.rooms = if with_rooms {
                    Some(IndexMap::new())
                } else {
                    None
                };
            }
        }
        Ok(schema)
    }

    fn is_undefined(&self, at: At<'a>) -> bool {
        matches!(self.l.resolve(at).map(|r| r.e), Ok(Expr::Undefined(_)))
    }

    fn entities(&mut self, at: At<'a>) -> Result<IndexMap<String, Entity>, Error> {
        let entries = self.l.entries(at)?;
        let mut out = IndexMap::with_capacity(entries.len());
        for ent in entries {
            self.locs.insert(
                Target::Entity(ent.key.to_string()),
                (ent.key_m, ent.key_span),
            );
            let entity = self.entity(ent.value, ent.key, ent.key_m, ent.key_span)?;
            out.insert(ent.key.to_string(), entity);
        }
        Ok(out)
    }

    fn entity(
        &mut self,
        at: At<'a>,
        name: &str,
        key_m: ModId,
        key_span: Span,
    ) -> Result<Entity, Error> {
        let r = self.l.resolve(at)?;
        let Some((_, _, _, segs)) = self.chain(r, 0) else {
            return Err(self.err(
                r.m,
                r.e.span(),
                format!(
                    "expected `i.entity({{ ... }})` for `{name}`, found {}",
                    describe(r.e)
                ),
            ));
        };
        let mut it = segs.iter();
        let Some(first) = it.next() else {
            return Err(self.err(r.m, r.e.span(), "expected `i.entity({ ... })`"));
        };
        if first.name != "entity" || !first.called {
            return Err(self.err(
                first.m,
                first.span,
                format!("expected `i.entity({{ ... }})`, found `i.{}`", first.name),
            ));
        }
        for s in it {
            if s.name != "asType" || !s.called {
                return Err(self.err(
                    s.m,
                    s.span,
                    format!(
                        "unknown entity method `.{}()` (only `.asType<T>()` is allowed)",
                        s.name
                    ),
                ));
            }
        }
        let [attrs_obj] = first.args else {
            return Err(self.err(
                first.m,
                first.span,
                format!(
                    "`i.entity` takes one object argument, found {} arguments",
                    first.args.len()
                ),
            ));
        };
        let entries = self.l.entries(At {
            m: first.m,
            e: attrs_obj,
        })?;
        let mut attrs = IndexMap::with_capacity(entries.len());
        for ent in entries {
            if name.starts_with('$') {
                // only system namespaces have attribute-level checks
                self.locs.insert(
                    Target::Attr(name.to_string(), ent.key.to_string()),
                    (ent.key_m, ent.key_span),
                );
            }
            let attr = self.attr(ent.value, ent.key)?;
            let mut attr = attr;
            attr.loc = self.l.loc(ent.key_m, ent.key_span);
            attrs.insert(ent.key.to_string(), attr);
        }
        Ok(Entity {
            attrs,
            loc: self.l.loc(key_m, key_span),
        })
    }

    fn attr(&mut self, at: At<'a>, name: &str) -> Result<Attr, Error> {
        let r = self.l.resolve(at)?;
        let Some((_, _, _, segs)) = self.chain(r, 0) else {
            return Err(self.err(
                r.m,
                r.e.span(),
                format!(
                    "expected an attribute like `i.string()` for `{name}`, found {}",
                    describe(r.e)
                ),
            ));
        };
        let mut it = segs.iter();
        let Some(ctor) = it.next() else {
            return Err(self.err(
                r.m,
                r.e.span(),
                "expected an attribute constructor like `i.string()`",
            ));
        };
        let vt = match ctor.name {
            "string" => ValueType::String,
            "number" => ValueType::Number,
            "boolean" => ValueType::Boolean,
            "date" => ValueType::Date,
            "json" => ValueType::Json,
            "any" => ValueType::Any,
            "entity" => return Err(self.err(ctor.m, ctor.span, format!("`{name}` is an attribute: `i.entity` cannot be nested inside an entity"))),
            other => {
                return Err(self.err(
                    ctor.m,
                    ctor.span,
                    format!("unknown attribute constructor `i.{other}()`; expected one of string, number, boolean, date, json, any"),
                ))
            }
        };
        if !ctor.called {
            return Err(self.err(
                ctor.m,
                ctor.span,
                format!("`i.{}` must be called: `i.{}()`", ctor.name, ctor.name),
            ));
        }
        if let Some(a) = ctor.args.first() {
            let hint = if vt == ValueType::String {
                " (a set of values is written `i.string<'a' | 'b'>()`)"
            } else {
                ""
            };
            return Err(self.err(
                ctor.m,
                a.span(),
                format!("`i.{}()` takes no arguments{hint}", ctor.name),
            ));
        }
        let mut attr = Attr::new(vt);
        if let Some(ta) = ctor.type_args {
            if !matches!(vt, ValueType::String | ValueType::Json) {
                return Err(self.err(ctor.m, ta.span, format!("`i.{}()` takes no type argument (only `i.string<...>()` and `i.json<...>()` do)", ctor.name)));
            }
            let literals = ta
                .union
                .as_ref()
                .and_then(|u| self.l.flatten_union(ctor.m, u, 0));
            attr.type_param = Some(TypeParam {
                raw: ta.raw.clone(),
                literals,
            });
        }
        for s in it {
            if !s.called {
                return Err(self.err(
                    s.m,
                    s.span,
                    format!("`.{}` must be called: `.{}()`", s.name, s.name),
                ));
            }
            if let Some(ta) = s.type_args {
                return Err(self.err(
                    s.m,
                    ta.span,
                    format!("`.{}()` takes no type argument", s.name),
                ));
            }
            if let Some(a) = s.args.first() {
                return Err(self.err(s.m, a.span(), format!("`.{}()` takes no arguments", s.name)));
            }
            match s.name {
                "optional" => attr.required = false,
                "clientRequired" => {
                    attr.required = false;
                    attr.client_required = true;
                }
                "unique" => attr.unique = true,
                "indexed" => attr.indexed = true,
                other => {
                    return Err(self.err(
                        s.m,
                        s.span,
                        format!("unknown attribute modifier `.{other}()`; expected one of optional, unique, indexed, clientRequired"),
                    ))
                }
            }
        }
        Ok(attr)
    }

    fn links(&mut self, at: At<'a>) -> Result<IndexMap<String, Link>, Error> {
        let entries = self.l.entries(at)?;
        let mut out = IndexMap::with_capacity(entries.len());
        for ent in entries {
            self.locs
                .insert(Target::Link(ent.key.to_string()), (ent.key_m, ent.key_span));
            let mut forward = None;
            let mut reverse = None;
            for side in self.l.entries(ent.value)? {
                match side.key {
                    "forward" => forward = Some(self.link_side(side.value, ent.key, true)?),
                    "reverse" => reverse = Some(self.link_side(side.value, ent.key, false)?),
                    other => self.warn(side.key_m, side.key_span, format!("unknown key `{other}` in link `{}` is ignored (expected forward and reverse)", ent.key)),
                }
            }
            let r = self.l.resolve(ent.value)?;
            let (Some(forward), Some(reverse)) = (forward, reverse) else {
                let missing = if self
                    .locs
                    .contains_key(&Target::Side(ent.key.to_string(), true))
                {
                    "reverse"
                } else {
                    "forward"
                };
                return Err(self.err(
                    r.m,
                    r.e.span(),
                    format!("link `{}` has no `{missing}` side", ent.key),
                ));
            };
            out.insert(
                ent.key.to_string(),
                Link {
                    forward,
                    reverse,
                    loc: self.l.loc(ent.key_m, ent.key_span),
                },
            );
        }
        Ok(out)
    }

    fn link_side(&mut self, at: At<'a>, link: &str, forward: bool) -> Result<LinkSide, Error> {
        let r = self.l.resolve(at)?;
        self.locs
            .insert(Target::Side(link.to_string(), forward), (r.m, r.e.span()));
        let side_name = if forward { "forward" } else { "reverse" };
        let mut on = None;
        let mut label = None;
        let mut has = None;
        let mut required = None;
        let mut cascade = false;
        let mut extra = IndexMap::new();
        for f in self.l.entries(r)? {
            let v = self.l.resolve(f.value)?;
            if matches!(v.e, Expr::Undefined(_)) {
                continue;
            }
            let key = f.key;
            let tgt = |k: &str| Target::SideKey(link.to_string(), forward, k.to_string());
            match key {
                "on" | "label" | "has" | "onDelete" => {
                    let Expr::Str(s, sspan) = v.e else {
                        return Err(self.err(
                            v.m,
                            v.e.span(),
                            format!(
                                "`{key}` of link `{link}` {side_name} must be a string, found {}",
                                describe(v.e)
                            ),
                        ));
                    };
                    self.locs.insert(tgt(key), (v.m, *sspan));
                    match key {
                        "on" => on = Some(s.clone()),
                        "label" => label = Some(s.clone()),
                        "has" => {
                            has = Some(match s.as_str() {
                                "one" => Has::One,
                                "many" => Has::Many,
                                _ => {
                                    return Err(self.err(
                                        v.m,
                                        *sspan,
                                        format!("`has` must be 'one' or 'many', found '{s}'"),
                                    ))
                                }
                            })
                        }
                        _ => {
                            if s != "cascade" {
                                return Err(self.err(
                                    v.m,
                                    *sspan,
                                    format!("`onDelete` must be 'cascade', found '{s}'"),
                                ));
                            }
                            self.locs.insert(tgt("onDelete"), (f.key_m, f.key_span));
                            cascade = true;
                        }
                    }
                }
                "required" => {
                    let Expr::Bool(b, _) = v.e else {
                        return Err(self.err(
                            v.m,
                            v.e.span(),
                            format!(
                                "`required` of link `{link}` must be true or false, found {}",
                                describe(v.e)
                            ),
                        ));
                    };
                    self.locs.insert(tgt(key), (f.key_m, f.key_span));
                    if !forward {
                        self.warn(f.key_m, f.key_span, format!("`required` on the reverse side of link `{link}` is ignored by the server"));
                    }
                    required = Some(*b);
                }
                other => {
                    self.warn(f.key_m, f.key_span, format!("unknown key `{other}` in link `{link}` {side_name} (ignored by the server)"));
                    let value = crate::value::to_json(self.l, v, None)?;
                    extra.insert(other.to_string(), value);
                }
            }
        }
        let missing = |k: &str| {
            self.err(
                r.m,
                r.e.span(),
                format!("link `{link}` {side_name} is missing `{k}`"),
            )
        };
        let on = on.ok_or_else(|| missing("on"))?;
        let label = label.ok_or_else(|| missing("label"))?;
        let has = has.ok_or_else(|| missing("has"))?;
        Ok(LinkSide {
            on,
            label,
            has,
            required,
            on_delete_cascade: cascade,
            extra,
        })
    }

    fn rooms(&mut self, at: At<'a>) -> Result<IndexMap<String, Room>, Error> {
        let mut out = IndexMap::new();
        for ent in self.l.entries(at)? {
            let mut presence = None;
            let mut topics = None;
            for k in self.l.entries(ent.value)? {
                match k.key {
                    "presence" => {
                        presence = Some(self.entity(
                            k.value,
                            &format!("{}.presence", ent.key),
                            k.key_m,
                            k.key_span,
                        )?)
                    }
                    "topics" => {
                        let mut t = IndexMap::new();
                        for tp in self.l.entries(k.value)? {
                            let e = self.entity(tp.value, tp.key, tp.key_m, tp.key_span)?;
                            t.insert(tp.key.to_string(), e);
                        }
                        topics = Some(t);
                    }
                    other => {
                        return Err(self.err(
                            k.key_m,
                            k.key_span,
                            format!(
                                "unknown key `{other}` in room `{}` (expected presence and topics)",
                                ent.key
                            ),
                        ))
                    }
                }
            }
            let Some(presence) = presence else {
                return Err(self.err(
                    ent.key_m,
                    ent.key_span,
                    format!("room `{}` has no `presence` entity", ent.key),
                ));
            };
            out.insert(ent.key.to_string(), Room { presence, topics });
        }
        Ok(out)
    }
}

fn mentions_schema_call(md: &crate::parse::Module, e: &Expr) -> bool {
    let span = e.span();
    let text = md
        .src
        .get(span.start..md.src.len().min(span.end.max(span.start) + 200_000))
        .unwrap_or("");
    let text = if matches!(e, Expr::Opaque(..)) {
        // opaque spans cover only the error token: look at the statement around it
        md.src.get(..span.start).map_or("", |s| {
            let from = s.rfind("const ").or_else(|| s.rfind("let ")).unwrap_or(0);
            md.src.get(from..span.start).unwrap_or("")
        })
    } else {
        text
    };
    md.i_names
        .iter()
        .chain(std::iter::once(&"i".to_string()))
        .any(|n| text.contains(&format!("{n}.schema")) || text.contains(&format!("{n}.graph")))
}
