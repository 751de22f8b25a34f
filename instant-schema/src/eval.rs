//! Loading a module and the relative modules it imports, and resolving names: identifiers to
//! top-level constants and imports, member access into object literals and schema calls,
//! spreads of objects.

use crate::diag::{Diagnostic, Severity};
use crate::parse::{
    parse_expr_file, parse_module, Expr, ImportName, Member, Module, Span, UnionPart,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MAX_DEPTH: usize = 64;
const MAX_MODULES: usize = 256;

/// A module id in the [`Loader`].
pub type ModId = usize;

/// A resolved expression: where it lives and what it is.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    /// The module the expression is in.
    pub m: ModId,
    /// The expression.
    pub e: &'a Expr,
}

/// One property of a flattened object (spreads expanded, later keys override).
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The key.
    pub key: &'a str,
    /// The module and span of the key (of its last definition).
    pub key_m: ModId,
    /// Where the key is.
    pub key_span: Span,
    /// The value.
    pub value: At<'a>,
}

/// All modules of one read, the first being the file asked for.
#[derive(Debug)]
pub struct Loader {
    /// Parsed modules.
    pub modules: Vec<Module>,
    /// Per module: import local name -> the module it resolves to, or why it does not.
    targets: Vec<HashMap<String, Result<ModId, Diagnostic>>>,
}

impl Loader {
    /// Parse `source` (the file at `path`) and every relative module it imports, transitively.
    pub fn load(source: &str, path: &Path) -> Result<Loader, Diagnostic> {
        let root = parse_module(source, Arc::new(path.to_path_buf()))?;
        let mut loader = Loader {
            modules: vec![root],
            targets: vec![HashMap::new()],
        };
        let mut by_path: HashMap<PathBuf, ModId> = HashMap::new();
        by_path.insert(normalize(path), 0);
        let mut next = 0;
        while next < loader.modules.len() {
            let m = next;
            next += 1;
            let mut specs: Vec<(String, String, Span)> = Vec::new();
            if let Some(module) = loader.modules.get(m) {
                for (local, imp) in &module.imports {
                    specs.push((local.clone(), imp.source.clone(), imp.source_span));
                }
                for (i, (source, span)) in module.star_exports.iter().enumerate() {
                    specs.push((format!("\u{0}star:{i}"), source.clone(), *span));
                }
            }
            let base = loader
                .modules
                .get(m)
                .and_then(|md| md.path.parent().map(Path::to_path_buf))
                .unwrap_or_default();
            for (local, source, span) in specs {
                if !(source.starts_with("./")
                    || source.starts_with("../")
                    || source == "."
                    || source == "..")
                {
                    continue;
                }
                let target = match resolve_file(&base, &source) {
                    None => Err(loader.err(
                        m,
                        span,
                        format!("cannot resolve import `{source}`: no such file (tried .ts, .tsx, .js, .mts, .mjs, .json and index files)"),
                    )),
                    Some(file) => {
                        let key = normalize(&file);
                        if let Some(id) = by_path.get(&key) {
                            Ok(*id)
                        } else if loader.modules.len() >= MAX_MODULES {
                            Err(loader.err(m, span, "too many imported modules"))
                        } else {
                            match std::fs::read_to_string(&file) {
                                Err(e) => Err(loader.err(
                                    m,
                                    span,
                                    format!("cannot read `{}`: {e}", file.display()),
                                )),
                                Ok(text) => {
                                    let parsed = if file.extension().is_some_and(|x| x == "json") {
                                        parse_expr_file(&text, Arc::new(file.clone())).map(|(md, _)| md)
                                    } else {
                                        parse_module(&text, Arc::new(file.clone()))
                                    };
                                    match parsed {
                                        Err(d) => Err(d),
                                        Ok(md) => {
                                            let id = loader.modules.len();
                                            loader.modules.push(md);
                                            loader.targets.push(HashMap::new());
                                            by_path.insert(key, id);
                                            Ok(id)
                                        }
                                    }
                                }
                            }
                        }
                    }
                };
                if let Some(t) = loader.targets.get_mut(m) {
                    t.insert(local, target);
                }
            }
        }
        Ok(loader)
    }

    /// The module `m`.
    pub fn module(&self, m: ModId) -> Option<&Module> {
        self.modules.get(m)
    }

    /// An error at `span` of module `m`.
    pub fn err(&self, m: ModId, span: Span, msg: impl Into<String>) -> Diagnostic {
        self.diag(m, Severity::Error, span, msg)
    }

    /// A diagnostic at `span` of module `m`.
    pub fn diag(&self, m: ModId, sev: Severity, span: Span, msg: impl Into<String>) -> Diagnostic {
        match self.modules.get(m) {
            Some(md) => md.diag(sev, span, msg),
            None => Diagnostic::nowhere(sev, Path::new("<unknown>"), msg),
        }
    }

    /// The source text at `span` of module `m`.
    pub fn text(&self, m: ModId, span: Span) -> &str {
        self.modules.get(m).map_or("", |md| md.text(span))
    }

    /// The model location of `span` in module `m`.
    pub fn loc(&self, m: ModId, span: Span) -> Option<crate::model::Loc> {
        self.modules.get(m).map(|md| md.loc(span.start))
    }

    /// The export `name` of module `m` (`default` for the default export).
    pub fn export<'a>(
        &'a self,
        m: ModId,
        name: &str,
        span_for_err: (ModId, Span),
        depth: usize,
    ) -> Result<At<'a>, Diagnostic> {
        let md = self
            .modules
            .get(m)
            .ok_or_else(|| self.err(span_for_err.0, span_for_err.1, "unknown module"))?;
        if depth > MAX_DEPTH {
            return Err(self.err(span_for_err.0, span_for_err.1, "circular imports"));
        }
        if name == "default" {
            if let Some(e) = &md.default_export {
                return Ok(At { m, e });
            }
        }
        if let Some(local) = md.exports.get(name) {
            return self.ident(m, local, span_for_err, depth + 1);
        }
        for i in 0..md.star_exports.len() {
            if let Some(Ok(t)) = self
                .targets
                .get(m)
                .and_then(|t| t.get(&format!("\u{0}star:{i}")))
            {
                if let Ok(at) = self.export(*t, name, span_for_err, depth + 1) {
                    return Ok(at);
                }
            }
        }
        let what = if name == "default" {
            "has no default export".to_string()
        } else {
            format!("has no export named `{name}`")
        };
        Err(self.err(
            span_for_err.0,
            span_for_err.1,
            format!("`{}` {what}", md.path.display()),
        ))
    }

    /// Resolve the name `name` in module `m` to the expression it stands for.
    fn ident<'a>(
        &'a self,
        m: ModId,
        name: &str,
        at: (ModId, Span),
        depth: usize,
    ) -> Result<At<'a>, Diagnostic> {
        let md = self
            .modules
            .get(m)
            .ok_or_else(|| self.err(at.0, at.1, "unknown module"))?;
        if let Some(e) = md.consts.get(name) {
            return Ok(At { m, e });
        }
        if let Some(imp) = md.imports.get(name) {
            let target = self.targets.get(m).and_then(|t| t.get(name));
            return match target {
                Some(Ok(t)) => match &imp.name {
                    ImportName::Default => self.export(*t, "default", (m, imp.source_span), depth + 1),
                    ImportName::Named(n) => self.export(*t, n, (m, imp.source_span), depth + 1),
                    ImportName::Namespace => Err(self.err(
                        at.0,
                        at.1,
                        format!("`{name}` is a namespace import; use a member of it (`{name}.x`)"),
                    )),
                },
                Some(Err(d)) => Err(d.clone()),
                None => Err(self.err(
                    at.0,
                    at.1,
                    format!(
                        "cannot resolve `{name}`: it is imported from the package `{}`, which this reader does not evaluate",
                        imp.source
                    ),
                )),
            };
        }
        Err(self.err(
            at.0,
            at.1,
            format!("cannot resolve `{name}`: not a top-level constant or an import of this file"),
        ))
    }

    /// Follow names, member accesses and opaque values until a literal, call or object remains.
    pub fn resolve<'a>(&'a self, at: At<'a>) -> Result<At<'a>, Diagnostic> {
        self.resolve_depth(at, 0)
    }

    fn resolve_depth<'a>(&'a self, mut at: At<'a>, depth: usize) -> Result<At<'a>, Diagnostic> {
        for _ in 0..MAX_DEPTH {
            if depth > MAX_DEPTH {
                break;
            }
            match at.e {
                Expr::Ident(span) => {
                    let name = self.text(at.m, *span);
                    at = self.ident(at.m, name, (at.m, *span), depth + 1)?;
                }
                Expr::Opaque(msg, span) => return Err(self.err(at.m, *span, msg.clone())),
                Expr::Member(obj, given, span) => {
                    let prop = self
                        .modules
                        .get(at.m)
                        .map_or("", |md| md.name(given, *span));
                    // namespace import member
                    if let Expr::Ident(nspan) = obj.as_ref() {
                        let n = self.text(at.m, *nspan);
                        if let Some(md) = self.modules.get(at.m) {
                            if !md.consts.contains_key(n) {
                                if let Some(imp) = md.imports.get(n) {
                                    if imp.name == ImportName::Namespace {
                                        match self.targets.get(at.m).and_then(|t| t.get(n)) {
                                            Some(Ok(t)) => {
                                                at = self.export(
                                                    *t,
                                                    prop,
                                                    (at.m, *span),
                                                    depth + 1,
                                                )?;
                                                continue;
                                            }
                                            Some(Err(d)) => return Err(d.clone()),
                                            None => {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let base = self.resolve_depth(At { m: at.m, e: obj }, depth + 1)?;
                    at = self.member(base, prop, (at.m, *span), depth + 1)?;
                }
                _ => return Ok(at),
            }
        }
        Err(self.err(at.m, at.e.span(), "circular reference"))
    }

    fn member<'a>(
        &'a self,
        base: At<'a>,
        prop: &str,
        at: (ModId, Span),
        depth: usize,
    ) -> Result<At<'a>, Diagnostic> {
        match base.e {
            Expr::Obj(..) => {
                let entries = self.entries_depth(base, depth + 1)?;
                entries
                    .into_iter()
                    .rev()
                    .find(|e| e.key == prop)
                    .map(|e| e.value)
                    .ok_or_else(|| {
                        self.err(at.0, at.1, format!("the object has no property `{prop}`"))
                    })
            }
            Expr::Call { args, .. } | Expr::Method { args, .. } => {
                // `someSchema.entities` / `.links` / `.rooms`
                if let Some((head, _)) = self.schema_call_kind(base) {
                    match head {
                        "schema" => {
                            if let Some(arg) = args.first() {
                                let obj =
                                    self.resolve_depth(At { m: base.m, e: arg }, depth + 1)?;
                                return self.member(obj, prop, at, depth + 1);
                            }
                        }
                        _ => {
                            let offset = usize::from(args.len() >= 3);
                            let idx = match prop {
                                "entities" => Some(offset),
                                "links" => Some(offset + 1),
                                _ => None,
                            };
                            if let Some(arg) = idx.and_then(|i| args.get(i)) {
                                return Ok(At { m: base.m, e: arg });
                            }
                        }
                    }
                }
                Err(self.err(
                    at.0,
                    at.1,
                    format!("cannot read `.{prop}` of a call result"),
                ))
            }
            _ => Err(self.err(at.0, at.1, format!("cannot read `.{prop}` of this value"))),
        }
    }

    /// If `at` is `i.schema(...)`/`i.graph(...)` (possibly with `.withRoomSchema()` chained),
    /// which one and whether rooms were attached with `withRoomSchema`.
    pub fn schema_call_kind(&self, at: At<'_>) -> Option<(&'static str, bool)> {
        let Expr::Method {
            obj,
            name: given,
            name_span,
            ..
        } = at.e
        else {
            return None;
        };
        let name = self.modules.get(at.m)?.name(given, *name_span);
        if name == "withRoomSchema" {
            let inner = self.resolve(At { m: at.m, e: obj }).ok()?;
            return self.schema_call_kind(inner).map(|(k, _)| (k, true));
        }
        let Expr::Ident(bspan) = obj.as_ref() else {
            return None;
        };
        let md = self.modules.get(at.m)?;
        let base = md.text(*bspan);
        if !md.is_i(base) {
            return None;
        }
        match name {
            "schema" => Some(("schema", false)),
            "graph" => Some(("graph", false)),
            _ => None,
        }
    }

    /// The properties of the object `at` stands for, spreads expanded.
    pub fn entries<'a>(&'a self, at: At<'a>) -> Result<Vec<Entry<'a>>, Diagnostic> {
        self.entries_depth(at, 0)
    }

    fn entries_depth<'a>(&'a self, at: At<'a>, depth: usize) -> Result<Vec<Entry<'a>>, Diagnostic> {
        if depth > MAX_DEPTH {
            return Err(self.err(at.m, at.e.span(), "circular spread"));
        }
        let r = self.resolve_depth(at, depth + 1)?;
        let Expr::Obj(members, _) = r.e else {
            return Err(self.err(
                at.m,
                at.e.span(),
                format!("expected an object literal, found {}", describe(r.e)),
            ));
        };
        let mut out: Vec<Entry<'a>> = Vec::with_capacity(members.len());
        // key -> (index in `out`, defined by a property of this very literal)
        let mut index: HashMap<&'a str, (usize, bool)> = HashMap::with_capacity(members.len());
        for mem in members {
            match mem {
                Member::Prop {
                    key,
                    key_span,
                    value,
                } => {
                    let key: &'a str = match self.modules.get(r.m) {
                        Some(md) => md.name(key, *key_span),
                        None => "",
                    };
                    let ent = Entry {
                        key,
                        key_m: r.m,
                        key_span: *key_span,
                        value: At { m: r.m, e: value },
                    };
                    match index.get(key).copied() {
                        Some((_, true)) => {
                            let prev = out
                                .iter()
                                .find(|e| e.key == key)
                                .map_or(*key_span, |e| e.key_span);
                            let line = self
                                .modules
                                .get(r.m)
                                .map_or(0, |md| md.loc(prev.start).line);
                            return Err(self.err(
                                r.m,
                                *key_span,
                                format!("duplicate key `{key}` (first defined at line {line})"),
                            ));
                        }
                        Some((i, false)) => {
                            if let Some(slot) = out.get_mut(i) {
                                *slot = ent;
                            }
                            index.insert(key, (i, true));
                        }
                        None => {
                            index.insert(key, (out.len(), true));
                            out.push(ent);
                        }
                    }
                }
                Member::Spread(e) => {
                    let inner = self.resolve_depth(At { m: r.m, e }, depth + 1)?;
                    if matches!(inner.e, Expr::Null(_) | Expr::Undefined(_)) {
                        continue;
                    }
                    for ent in self.entries_depth(inner, depth + 1)? {
                        match index.get(ent.key).copied() {
                            Some((i, _)) => {
                                index.insert(ent.key, (i, false));
                                if let Some(slot) = out.get_mut(i) {
                                    *slot = ent;
                                }
                            }
                            None => {
                                index.insert(ent.key, (out.len(), false));
                                out.push(ent);
                            }
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Resolve a type name used in a type argument to a union of string literals.
    pub fn type_union(&self, m: ModId, name: &str, depth: usize) -> Option<Vec<String>> {
        if depth > 16 {
            return None;
        }
        let md = self.modules.get(m)?;
        if let Some(parts) = md.type_aliases.get(name) {
            return self.flatten_union(m, parts, depth + 1);
        }
        // through an import
        let imp = md.imports.get(name)?;
        let t = *self.targets.get(m)?.get(name)?.as_ref().ok()?;
        let exported = match &imp.name {
            ImportName::Named(n) => n.clone(),
            _ => return None,
        };
        let tm = self.modules.get(t)?;
        let local = tm.exports.get(&exported).cloned().unwrap_or(exported);
        self.type_union(t, &local, depth + 1)
    }

    /// Flatten a union's parts (resolving names) to its string literals.
    pub fn flatten_union(
        &self,
        m: ModId,
        parts: &[UnionPart],
        depth: usize,
    ) -> Option<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for p in parts {
            match p {
                UnionPart::Lit(s) => {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
                UnionPart::Name(n) => {
                    for s in self.type_union(m, n, depth + 1)? {
                        if !out.contains(&s) {
                            out.push(s);
                        }
                    }
                }
            }
        }
        Some(out)
    }
}

/// A short description of an expression for error messages.
pub fn describe(e: &Expr) -> &'static str {
    match e {
        Expr::Obj(..) => "an object",
        Expr::Arr(..) => "an array",
        Expr::Str(..) => "a string",
        Expr::Num(..) => "a number",
        Expr::Bool(..) => "a boolean",
        Expr::Null(_) => "`null`",
        Expr::Undefined(_) => "`undefined`",
        Expr::Ident(..) => "a name",
        Expr::Member(..) => "a member access",
        Expr::Call { .. } | Expr::Method { .. } => "a function call",
        Expr::Concat(..) => "a `+` expression",
        Expr::Opaque(..) => "an unsupported expression",
    }
}

fn normalize(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

const EXTS: [&str; 7] = ["ts", "tsx", "js", "mts", "mjs", "cts", "json"];

fn resolve_file(base: &Path, spec: &str) -> Option<PathBuf> {
    let p = base.join(spec);
    if p.is_file() {
        // TS ESM style: `./x.js` written for `x.ts`
        return Some(p);
    }
    if let Some(ext) = p.extension().and_then(|e| e.to_str()) {
        let stem = p.with_extension("");
        let alts: &[&str] = match ext {
            "js" => &["ts", "tsx"],
            "mjs" => &["mts"],
            "cjs" => &["cts"],
            _ => &[],
        };
        for a in alts {
            let c = stem.with_extension(a);
            if c.is_file() {
                return Some(c);
            }
        }
    }
    for ext in EXTS {
        let mut s = p.clone().into_os_string();
        s.push(".");
        s.push(ext);
        let c = PathBuf::from(s);
        if c.is_file() {
            return Some(c);
        }
    }
    for ext in ["ts", "tsx", "js"] {
        let c = p.join(format!("index.{ext}"));
        if c.is_file() {
            return Some(c);
        }
    }
    None
}
