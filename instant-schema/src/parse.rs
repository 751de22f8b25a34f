//! The file-level reader: statements of a TS/JS module (imports, top-level constants, type
//! aliases, exports) and the small expression language schema and rules files are written in
//! (object and array literals, strings, numbers, identifiers, member access, calls with type
//! arguments, spreads, `as`/`satisfies`/`!` suffixes). Everything else is skipped by a
//! balanced-bracket skipper.

use crate::diag::{Diagnostic, Severity};
use crate::lexer::{lex, Tok, Token};
use indexmap::IndexMap;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A byte range of a module's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// Just past the last byte.
    pub end: usize,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// One part of a type-level union: a string literal or a type name.
#[derive(Debug, Clone, PartialEq)]
pub enum UnionPart {
    /// `'a'`
    Lit(String),
    /// `Status` (resolved through local or imported `type` aliases)
    Name(String),
}

/// The type argument list of a call, kept as text.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeArgs {
    /// The text between `<` and `>`, comments removed, whitespace collapsed.
    pub raw: String,
    /// The span of the text between the brackets.
    pub span: Span,
    /// When the text is a union of string literals and names: its parts.
    pub union: Option<Vec<UnionPart>>,
}

/// An expression of the subset this reader evaluates.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `{ ... }`
    Obj(Vec<Member>, Span),
    /// `[ ... ]`
    Arr(Vec<Expr>, Span),
    /// A string or template literal.
    Str(String, Span),
    /// A number literal.
    Num(f64, Span),
    /// `true` / `false`
    Bool(bool, Span),
    /// `null`
    Null(Span),
    /// `undefined`
    Undefined(Span),
    /// A name (its text is the source at the span).
    Ident(Span),
    /// `obj.name`; the span is the property name's; the name is the source text at the span
    /// unless given (`obj["quoted"]`).
    Member(Box<Expr>, Option<String>, Span),
    /// `callee<T>(args)`; the span covers the whole call.
    Call {
        /// The function.
        callee: Box<Expr>,
        /// `<...>` if written.
        type_args: Option<Box<TypeArgs>>,
        /// The arguments.
        args: Vec<Expr>,
        /// The whole call.
        span: Span,
    },
    /// `obj.name<T>(args)`: a method call, kept as one node.
    Method {
        /// The receiver.
        obj: Box<Expr>,
        /// The method name when it differs from the source text at `name_span`.
        name: Option<String>,
        /// Where the method name is.
        name_span: Span,
        /// `<...>` if written.
        type_args: Option<Box<TypeArgs>>,
        /// The arguments.
        args: Vec<Expr>,
        /// The whole call.
        span: Span,
    },
    /// `a + b`
    Concat(Box<Expr>, Box<Expr>, Span),
    /// Something this reader does not evaluate; using it is an error with this message.
    Opaque(String, Span),
}

impl Expr {
    /// Where the expression is.
    pub fn span(&self) -> Span {
        match self {
            Expr::Obj(_, s)
            | Expr::Arr(_, s)
            | Expr::Str(_, s)
            | Expr::Num(_, s)
            | Expr::Bool(_, s)
            | Expr::Null(s)
            | Expr::Undefined(s)
            | Expr::Ident(s)
            | Expr::Member(_, _, s)
            | Expr::Concat(_, _, s)
            | Expr::Opaque(_, s) => *s,
            Expr::Call { span, .. } | Expr::Method { span, .. } => *span,
        }
    }

    /// The arguments, if this is a call.
    pub fn call_args(&self) -> Option<&[Expr]> {
        match self {
            Expr::Call { args, .. } | Expr::Method { args, .. } => Some(args),
            _ => None,
        }
    }
}

/// A member of an object literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    /// `key: value` (or shorthand `key`).
    Prop {
        /// The key when it differs from the source text at `key_span` (quoted or numeric keys).
        key: Option<String>,
        /// Where the key is.
        key_span: Span,
        /// The value.
        value: Expr,
    },
    /// `...expr`
    Spread(Expr),
}

/// What an import binds.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportName {
    /// `import x from`
    Default,
    /// `import { x }` / `import { x as y }`
    Named(String),
    /// `import * as x from`
    Namespace,
}

/// One imported binding.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The module specifier as written.
    pub source: String,
    /// Where the specifier is.
    pub source_span: Span,
    /// What is imported.
    pub name: ImportName,
}

/// A parsed module: what the schema and rules readers need from a file.
#[derive(Debug, Clone)]
pub struct Module {
    /// The file.
    pub path: Arc<PathBuf>,
    /// Its text.
    pub src: String,
    /// Byte offset of each line start.
    pub line_starts: Vec<usize>,
    /// Top-level `const`/`let`/`var` initialisers, in declaration order.
    pub consts: IndexMap<String, Expr>,
    /// Imported bindings by local name.
    pub imports: HashMap<String, Import>,
    /// Exported name -> local name (or `default` -> the default export).
    pub exports: HashMap<String, String>,
    /// `export * from '...'` specifiers.
    pub star_exports: Vec<(String, Span)>,
    /// `export default <expr>`.
    pub default_export: Option<Expr>,
    /// `type X = 'a' | 'b'` aliases that are unions of literals and names.
    pub type_aliases: HashMap<String, Vec<UnionPart>>,
    /// Local names bound to the `i` object of an `@instantdb/*` package.
    pub i_names: Vec<String>,
}

impl Module {
    /// A diagnostic at `span` of this module.
    pub fn diag(&self, severity: Severity, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(
            severity, &self.path, &self.src, span.start, span.end, message,
        )
    }

    /// An error at `span`.
    pub fn err(&self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.diag(Severity::Error, span, message)
    }

    /// The model location of byte offset `pos`.
    pub fn loc(&self, pos: usize) -> crate::model::Loc {
        let line = self.line_starts.partition_point(|s| *s <= pos).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self.src.get(start..pos).map_or(0, |s| s.chars().count()) + 1;
        crate::model::Loc {
            file: self.path.clone(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
        }
    }

    /// The source text at `span`.
    pub fn text(&self, span: Span) -> &str {
        self.src.get(span.start..span.end).unwrap_or("")
    }

    /// The name of a member access or object key: `given`, else the source text at `span`.
    pub fn name<'a>(&'a self, given: &'a Option<String>, span: Span) -> &'a str {
        match given {
            Some(s) => s.as_str(),
            None => self.text(span),
        }
    }

    /// Whether `name` is the `i` object here (an import of `i`, or `i` itself when nothing is
    /// imported under that name).
    pub fn is_i(&self, name: &str) -> bool {
        if self.i_names.is_empty() {
            // no import of `i` at all (e.g. a global in a JS file): the bare name `i`
            name == "i" && !self.imports.contains_key("i") && !self.consts.contains_key("i")
        } else {
            self.i_names.iter().any(|n| n == name)
        }
    }
}

type PResult<T> = Result<T, (String, Span)>;

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// How deeply expressions may nest (objects, arrays, calls, parentheses).
const MAX_NESTING: usize = 64;

/// Parse a TS/JS module.
pub fn parse_module(src: &str, path: Arc<PathBuf>) -> Result<Module, Diagnostic> {
    let mut m = Module {
        path,
        src: src.to_string(),
        line_starts: std::iter::once(0)
            .chain(src.match_indices('\n').map(|(i, _)| i + 1))
            .collect(),
        consts: IndexMap::new(),
        imports: HashMap::new(),
        exports: HashMap::new(),
        star_exports: Vec::new(),
        default_export: None,
        type_aliases: HashMap::new(),
        i_names: Vec::new(),
    };
    let toks = lex(src).map_err(|e| m.err(Span::new(e.start, e.end), e.message))?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
    };
    p.module(&mut m).map_err(|(msg, span)| m.err(span, msg))?;
    Ok(m)
}

/// Parse a whole file that is a single expression (a `.json` module).
pub fn parse_expr_file(src: &str, path: Arc<PathBuf>) -> Result<(Module, Expr), Diagnostic> {
    let mut m = parse_module("", path)?;
    m.src = src.to_string();
    m.line_starts = std::iter::once(0)
        .chain(src.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let toks = lex(src).map_err(|e| m.err(Span::new(e.start, e.end), e.message))?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expr().map_err(|(msg, span)| m.err(span, msg))?;
    if let Some(t) = p.peek() {
        return Err(m.err(Span::new(t.start, t.end), "unexpected text after the value"));
    }
    m.default_export = Some(e.clone());
    Ok((m, e))
}

const CONT_BEFORE: [&str; 16] = [
    ",", ".", "=", "=>", "(", "[", "{", "+", "|", "&", "?", ":", "&&", "||", "??", "<",
];
const CONT_AFTER: [&str; 14] = [
    ".", "?.", ")", "]", "}", "+", "|", "&", "=>", "?", ":", "=", "&&", "||",
];

impl<'s> Parser<'s> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }
    fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n)
    }
    fn text(&self, t: &Token) -> &'s str {
        self.src.get(t.start..t.end).unwrap_or("")
    }
    fn is_punct(&self, n: usize, p: &str) -> bool {
        matches!(self.peek_at(n), Some(Token { kind: Tok::Punct(q), .. }) if *q == p)
    }
    fn is_ident(&self, n: usize, name: &str) -> bool {
        matches!(self.peek_at(n), Some(t @ Token { kind: Tok::Ident, .. }) if self.text(t) == name)
    }
    fn ident_at(&self, n: usize) -> Option<&'s str> {
        match self.peek_at(n) {
            Some(
                t @ Token {
                    kind: Tok::Ident, ..
                },
            ) => Some(self.text(t)),
            _ => None,
        }
    }
    fn eof_span(&self) -> Span {
        let end = self.src.len();
        Span::new(end, end)
    }
    fn cur_span(&self) -> Span {
        self.peek()
            .map_or_else(|| self.eof_span(), |t| Span::new(t.start, t.end))
    }
    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.end)
    }
    fn describe_cur(&self) -> String {
        match self.peek() {
            None => "the end of the file".to_string(),
            Some(t) => match &t.kind {
                Tok::Str(_) | Tok::Template(_) => "a string".to_string(),
                Tok::Num(_) => "a number".to_string(),
                _ => format!("`{}`", self.text(t)),
            },
        }
    }
    fn expect_punct(&mut self, p: &str, what: &str) -> PResult<Span> {
        if self.is_punct(0, p) {
            let s = self.cur_span();
            self.pos += 1;
            Ok(s)
        } else {
            Err((
                format!("expected `{p}` {what}, found {}", self.describe_cur()),
                self.cur_span(),
            ))
        }
    }

    // ----- statements -----

    fn module(&mut self, m: &mut Module) -> PResult<()> {
        while let Some(t) = self.peek() {
            let t = t.clone();
            if matches!(t.kind, Tok::Punct(";")) {
                self.pos += 1;
                continue;
            }
            let word = if t.kind == Tok::Ident {
                self.text(&t)
            } else {
                ""
            };
            match word {
                "import" if !self.is_punct(1, "(") && !self.is_punct(1, ".") => self.import(m)?,
                "export" => self.export(m)?,
                "const" | "let" | "var" => {
                    self.pos += 1;
                    self.var_decl(m, false)?;
                }
                "type" if self.ident_at(1).is_some() && !t.nl_before_next(self) => {
                    self.pos += 1;
                    self.type_decl(m)?;
                }
                "interface" | "function" | "class" | "enum" | "declare" | "abstract"
                | "namespace" | "module" | "async" => {
                    self.skip_declaration()?;
                }
                _ => self.skip_statement()?,
            }
        }
        Ok(())
    }

    fn string_lit(&mut self, what: &str) -> PResult<(String, Span)> {
        match self.peek() {
            Some(Token {
                kind: Tok::Str(s),
                start,
                end,
                ..
            }) => {
                let r = (s.clone(), Span::new(*start, *end));
                self.pos += 1;
                Ok(r)
            }
            _ => Err((
                format!("expected a string {what}, found {}", self.describe_cur()),
                self.cur_span(),
            )),
        }
    }

    fn import(&mut self, m: &mut Module) -> PResult<()> {
        self.pos += 1; // import
        if matches!(
            self.peek(),
            Some(Token {
                kind: Tok::Str(_),
                ..
            })
        ) {
            self.pos += 1;
            return Ok(());
        }
        let mut type_only = false;
        if self.is_ident(0, "type") && !self.is_ident(1, "from") && !self.is_punct(1, ",") {
            type_only = true;
            self.pos += 1;
        }
        let mut bindings: Vec<(String, ImportName, bool)> = Vec::new();
        loop {
            if self.is_punct(0, "{") {
                let open = self.cur_span();
                self.pos += 1;
                while !self.is_punct(0, "}") {
                    let mut ty = type_only;
                    if self.is_ident(0, "type")
                        && self.ident_at(1).is_some()
                        && !self.is_ident(1, "as")
                    {
                        ty = true;
                        self.pos += 1;
                    }
                    let imported = match self.peek() {
                        Some(Token {
                            kind: Tok::Str(s), ..
                        }) => s.clone(),
                        _ => self
                            .ident_at(0)
                            .ok_or_else(|| {
                                (
                                    format!(
                                        "expected an imported name, found {}",
                                        self.describe_cur()
                                    ),
                                    self.cur_span(),
                                )
                            })?
                            .to_string(),
                    };
                    self.pos += 1;
                    let local = if self.is_ident(0, "as") {
                        self.pos += 1;
                        let l = self.ident_at(0).ok_or_else(|| {
                            (
                                format!(
                                    "expected a name after `as`, found {}",
                                    self.describe_cur()
                                ),
                                self.cur_span(),
                            )
                        })?;
                        self.pos += 1;
                        l.to_string()
                    } else {
                        imported.clone()
                    };
                    let name = if imported == "default" {
                        ImportName::Default
                    } else {
                        ImportName::Named(imported)
                    };
                    bindings.push((local, name, ty));
                    self.list_separator("}", "the import list", open)?;
                }
                self.pos += 1;
            } else if self.is_punct(0, "*") {
                self.pos += 1;
                if !self.is_ident(0, "as") {
                    return Err(("expected `as` after `import *`".into(), self.cur_span()));
                }
                self.pos += 1;
                let l = self
                    .ident_at(0)
                    .ok_or_else(|| ("expected a name after `as`".to_string(), self.cur_span()))?;
                self.pos += 1;
                bindings.push((l.to_string(), ImportName::Namespace, type_only));
            } else if let Some(l) = self.ident_at(0) {
                if l == "from" && !bindings.is_empty() {
                    break;
                }
                self.pos += 1;
                bindings.push((l.to_string(), ImportName::Default, type_only));
            } else {
                return Err((
                    format!("unexpected {} in import", self.describe_cur()),
                    self.cur_span(),
                ));
            }
            if self.is_punct(0, ",") {
                self.pos += 1;
                continue;
            }
            break;
        }
        if !self.is_ident(0, "from") {
            return Err((
                format!("expected `from` in import, found {}", self.describe_cur()),
                self.cur_span(),
            ));
        }
        self.pos += 1;
        let (source, source_span) = self.string_lit("module specifier")?;
        // `with { type: 'json' }` / `assert { ... }`
        if (self.is_ident(0, "with") || self.is_ident(0, "assert")) && self.is_punct(1, "{") {
            self.pos += 1;
            self.skip_balanced()?;
        }
        for (local, name, ty) in bindings {
            if ty {
                // Type-only imports matter only for type aliases used in type arguments.
                if let ImportName::Named(n) = &name {
                    m.imports.entry(local.clone()).or_insert(Import {
                        source: source.clone(),
                        source_span,
                        name: ImportName::Named(n.clone()),
                    });
                }
                continue;
            }
            if name == ImportName::Named("i".into()) && !source.starts_with('.') {
                m.i_names.push(local.clone());
            }
            m.imports.insert(
                local,
                Import {
                    source: source.clone(),
                    source_span,
                    name,
                },
            );
        }
        Ok(())
    }

    fn export(&mut self, m: &mut Module) -> PResult<()> {
        self.pos += 1; // export
        match self.ident_at(0) {
            Some("default") => {
                self.pos += 1;
                if matches!(
                    self.ident_at(0),
                    Some("function" | "class" | "async" | "abstract" | "interface")
                ) {
                    let start = self.cur_span();
                    self.skip_declaration()?;
                    m.default_export = Some(Expr::Opaque(
                        "the default export is a function or class, not a value this reader can evaluate"
                            .into(),
                        start,
                    ));
                    return Ok(());
                }
                let e = self.expr_statement_value()?;
                m.default_export = Some(e);
                Ok(())
            }
            Some("const" | "let" | "var") => {
                self.pos += 1;
                self.var_decl(m, true)
            }
            Some("type") if self.is_punct(1, "{") || self.is_punct(1, "*") => {
                self.pos += 1;
                self.skip_statement()
            }
            Some("type") => {
                self.pos += 1;
                self.type_decl(m)
            }
            Some(_) => {
                // interface, function, class, enum, declare, ...
                if let Some(n) = self.ident_at(1) {
                    if matches!(self.ident_at(0), Some("function" | "class" | "enum")) {
                        m.exports.insert(n.to_string(), n.to_string());
                    }
                }
                self.skip_declaration()
            }
            None if self.is_punct(0, "{") => {
                let open = self.cur_span();
                self.pos += 1;
                let mut pairs = Vec::new();
                while !self.is_punct(0, "}") {
                    if self.is_ident(0, "type")
                        && self.ident_at(1).is_some()
                        && !self.is_ident(1, "as")
                    {
                        self.pos += 1;
                    }
                    let local = self.ident_at(0).ok_or_else(|| {
                        (
                            format!(
                                "expected a name in export list, found {}",
                                self.describe_cur()
                            ),
                            self.cur_span(),
                        )
                    })?;
                    self.pos += 1;
                    let exported = if self.is_ident(0, "as") {
                        self.pos += 1;
                        let e = match self.peek() {
                            Some(Token {
                                kind: Tok::Str(s), ..
                            }) => s.clone(),
                            _ => self
                                .ident_at(0)
                                .ok_or_else(|| {
                                    ("expected a name after `as`".to_string(), self.cur_span())
                                })?
                                .to_string(),
                        };
                        self.pos += 1;
                        e
                    } else {
                        local.to_string()
                    };
                    pairs.push((local.to_string(), exported));
                    self.list_separator("}", "the export list", open)?;
                }
                self.pos += 1;
                if self.is_ident(0, "from") {
                    self.pos += 1;
                    let (source, source_span) = self.string_lit("module specifier")?;
                    for (imported, exported) in pairs {
                        let local = format!("\u{0}reexport:{exported}");
                        let name = if imported == "default" {
                            ImportName::Default
                        } else {
                            ImportName::Named(imported)
                        };
                        m.imports.insert(
                            local.clone(),
                            Import {
                                source: source.clone(),
                                source_span,
                                name,
                            },
                        );
                        m.exports.insert(exported, local);
                    }
                } else {
                    for (local, exported) in pairs {
                        m.exports.insert(exported, local);
                    }
                }
                Ok(())
            }
            None if self.is_punct(0, "*") => {
                self.pos += 1;
                if self.is_ident(0, "as") {
                    self.pos += 1;
                    let name = self.ident_at(0).unwrap_or("").to_string();
                    self.pos += 1;
                    if self.is_ident(0, "from") {
                        self.pos += 1;
                        let (source, source_span) = self.string_lit("module specifier")?;
                        let local = format!("\u{0}reexport:{name}");
                        m.imports.insert(
                            local.clone(),
                            Import {
                                source,
                                source_span,
                                name: ImportName::Namespace,
                            },
                        );
                        m.exports.insert(name, local);
                    }
                    return Ok(());
                }
                if self.is_ident(0, "from") {
                    self.pos += 1;
                    let (source, span) = self.string_lit("module specifier")?;
                    m.star_exports.push((source, span));
                }
                Ok(())
            }
            None => self.skip_statement(),
        }
    }

    /// Parse an expression that ends a statement; on failure keep an opaque value carrying the
    /// error and skip the statement.
    fn expr_statement_value(&mut self) -> PResult<Expr> {
        let start = self.pos;
        match self.expr().and_then(|e| self.end_of_value().map(|()| e)) {
            Ok(e) => Ok(e),
            Err((msg, span)) => {
                self.pos = start;
                self.skip_statement()?;
                Ok(Expr::Opaque(msg, span))
            }
        }
    }

    fn end_of_value(&mut self) -> PResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(t) if matches!(t.kind, Tok::Punct(";" | "," | "}")) || t.nl_before => Ok(()),
            Some(_) => Err((
                format!(
                    "unexpected {} after the value (this reader only evaluates literals, names, member access and calls)",
                    self.describe_cur()
                ),
                self.cur_span(),
            )),
        }
    }

    fn var_decl(&mut self, m: &mut Module, exported: bool) -> PResult<()> {
        loop {
            let Some(name) = self.ident_at(0) else {
                // destructuring or something else: skip
                return self.skip_statement();
            };
            self.pos += 1;
            if self.is_punct(0, "!") {
                self.pos += 1;
            }
            if self.is_punct(0, ":") {
                self.pos += 1;
                self.skip_type()?;
            }
            if self.is_punct(0, "=") {
                self.pos += 1;
                let e = self.expr_statement_value()?;
                m.consts.insert(name.to_string(), e);
            }
            if exported {
                m.exports.insert(name.to_string(), name.to_string());
            }
            if self.is_punct(0, ",") {
                self.pos += 1;
                continue;
            }
            if self.is_punct(0, ";") {
                self.pos += 1;
            }
            return Ok(());
        }
    }

    fn type_decl(&mut self, m: &mut Module) -> PResult<()> {
        let Some(name) = self.ident_at(0) else {
            return self.skip_statement();
        };
        self.pos += 1;
        if self.is_punct(0, "<") {
            self.skip_balanced()?;
        }
        if !self.is_punct(0, "=") {
            return self.skip_statement();
        }
        self.pos += 1;
        let start = self.pos;
        self.skip_type()?;
        if let Some(u) = self.union_of(start, self.pos) {
            m.type_aliases.insert(name.to_string(), u);
        }
        if self.is_punct(0, ";") {
            self.pos += 1;
        }
        Ok(())
    }

    /// Tokens `from..to` as a union of string literals and names, if they are one.
    fn union_of(&self, from: usize, to: usize) -> Option<Vec<UnionPart>> {
        let toks = self.toks.get(from..to)?;
        let mut parts = Vec::new();
        let mut want_item = true;
        for (k, t) in toks.iter().enumerate() {
            match &t.kind {
                Tok::Punct("|") if !want_item || (k == 0) => want_item = true,
                Tok::Str(s) | Tok::Template(s) if want_item => {
                    parts.push(UnionPart::Lit(s.clone()));
                    want_item = false;
                }
                Tok::Ident if want_item => {
                    parts.push(UnionPart::Name(self.text(t).to_string()));
                    want_item = false;
                }
                _ => return None,
            }
        }
        if want_item || parts.is_empty() {
            return None;
        }
        Some(parts)
    }

    fn at_statement_end(&self) -> bool {
        match self.peek() {
            None => true,
            Some(t) => {
                if matches!(t.kind, Tok::Punct(";")) {
                    return true;
                }
                if !t.nl_before {
                    return false;
                }
                let prev_cont = self
                    .pos
                    .checked_sub(1)
                    .and_then(|i| self.toks.get(i))
                    .is_some_and(|p| matches!(p.kind, Tok::Punct(q) if CONT_BEFORE.contains(&q)));
                let next_cont = matches!(t.kind, Tok::Punct(q) if CONT_AFTER.contains(&q));
                !prev_cont && !next_cont
            }
        }
    }

    /// Skip one statement (balanced), up to and including a `;` or an ASI line break.
    fn skip_statement(&mut self) -> PResult<()> {
        let first = self.pos;
        loop {
            if self.pos > first && self.at_statement_end() {
                if self.is_punct(0, ";") {
                    self.pos += 1;
                }
                return Ok(());
            }
            match self.peek().map(|t| t.kind.clone()) {
                None => return Ok(()),
                Some(Tok::Punct("{" | "(" | "[")) => self.skip_balanced()?,
                Some(Tok::Punct(p @ ("}" | ")" | "]"))) => {
                    return Err((format!("unmatched `{p}`"), self.cur_span()));
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Skip a declaration (function, class, interface, enum, namespace...): up to the end of its
    /// first top-level `{...}` block, or to the statement end if it has none.
    fn skip_declaration(&mut self) -> PResult<()> {
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                None => return Ok(()),
                Some(Tok::Punct("{")) => {
                    self.skip_balanced()?;
                    if self.is_punct(0, ";") {
                        self.pos += 1;
                    }
                    return Ok(());
                }
                Some(Tok::Punct(";")) => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(Tok::Punct("(" | "[" | "<")) => self.skip_balanced()?,
                Some(Tok::Punct(p @ ("}" | ")" | "]"))) => {
                    return Err((format!("unmatched `{p}`"), self.cur_span()));
                }
                Some(_) => {
                    self.pos += 1;
                    if self.at_statement_end() {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Skip from an opening bracket to its matching closing one (inclusive). `<` counts as a
    /// bracket only when it is the opener.
    fn skip_balanced(&mut self) -> PResult<()> {
        let mut stack: Vec<(&'static str, Span)> = Vec::new();
        let angle = self.is_punct(0, "<");
        loop {
            let Some(t) = self.peek() else {
                let (open, span) = stack.last().copied().unwrap_or(("(", self.eof_span()));
                return Err(unclosed(open, span));
            };
            let span = Span::new(t.start, t.end);
            match t.kind {
                Tok::Punct(p @ ("{" | "(" | "[")) => stack.push((p, span)),
                Tok::Punct("<") if angle => stack.push(("<", span)),
                Tok::Punct(p @ ("}" | ")" | "]" | ">")) => {
                    if p == ">" && !angle {
                        self.pos += 1;
                        continue;
                    }
                    let want = match p {
                        "}" => "{",
                        ")" => "(",
                        "]" => "[",
                        _ => "<",
                    };
                    match stack.pop() {
                        Some((open, _)) if open == want => {}
                        Some((open, ospan)) => {
                            if p == ">" {
                                // a `>` inside brackets of a type (e.g. comparison) – ignore
                                stack.push((open, ospan));
                                self.pos += 1;
                                continue;
                            }
                            return Err((
                                format!(
                                    "mismatched `{p}`: expected the `{}` closing `{open}` at line {}",
                                    closer(open),
                                    line_of(self.src, ospan.start)
                                ),
                                span,
                            ));
                        }
                        None => return Err((format!("unmatched `{p}`"), span)),
                    }
                }
                _ => {}
            }
            self.pos += 1;
            if stack.is_empty() {
                return Ok(());
            }
        }
    }

    /// Skip a TypeScript type (after `:`, `as`, `satisfies`, `=` of a type alias).
    fn skip_type(&mut self) -> PResult<()> {
        if self.depth >= MAX_NESTING {
            return Err((
                format!("types nest more than {MAX_NESTING} levels deep"),
                self.cur_span(),
            ));
        }
        self.depth += 1;
        let r = self.skip_type_inner();
        self.depth -= 1;
        r
    }

    fn skip_type_inner(&mut self) -> PResult<()> {
        loop {
            // prefixes
            while matches!(
                self.ident_at(0),
                Some("keyof" | "typeof" | "readonly" | "unique" | "infer")
            ) && self.peek_at(1).is_some_and(|t| {
                !matches!(t.kind, Tok::Punct(_)) || matches!(t.kind, Tok::Punct("{" | "(" | "["))
            }) {
                self.pos += 1;
            }
            if self.is_punct(0, "|") || self.is_punct(0, "&") {
                self.pos += 1;
            }
            match self.peek().map(|t| t.kind.clone()) {
                Some(Tok::Punct("{" | "(" | "[")) => self.skip_balanced()?,
                Some(Tok::Ident | Tok::Str(_) | Tok::Template(_) | Tok::Num(_)) => {
                    self.pos += 1;
                    while self.is_punct(0, ".") && self.ident_at(1).is_some() {
                        self.pos += 2;
                    }
                }
                Some(Tok::Punct("-"))
                    if matches!(self.peek_at(1).map(|t| &t.kind), Some(Tok::Num(_))) =>
                {
                    self.pos += 2;
                }
                _ => {
                    return Err((
                        format!("expected a type, found {}", self.describe_cur()),
                        self.cur_span(),
                    ))
                }
            }
            loop {
                let array_suffix =
                    self.is_punct(0, "[") && !self.peek().is_some_and(|t| t.nl_before);
                if self.is_punct(0, "<") || array_suffix {
                    self.skip_balanced()?;
                } else {
                    break;
                }
            }
            if self.is_punct(0, "=>") {
                self.pos += 1;
                continue;
            }
            if self.is_ident(0, "extends") && !self.peek().is_some_and(|t| t.nl_before) {
                // conditional type: A extends B ? C : D
                self.pos += 1;
                self.skip_type()?;
                self.expect_punct("?", "in a conditional type")?;
                self.skip_type()?;
                self.expect_punct(":", "in a conditional type")?;
                continue;
            }
            if self.is_ident(0, "is") && !self.peek().is_some_and(|t| t.nl_before) {
                self.pos += 1;
                continue;
            }
            if self.is_punct(0, "|") || self.is_punct(0, "&") {
                self.pos += 1;
                continue;
            }
            return Ok(());
        }
    }

    // ----- expressions -----

    fn expr(&mut self) -> PResult<Expr> {
        if self.depth >= MAX_NESTING {
            return Err((
                format!("expressions nest more than {MAX_NESTING} levels deep"),
                self.cur_span(),
            ));
        }
        self.depth += 1;
        let r = self.expr_inner();
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self) -> PResult<Expr> {
        let mut lhs = self.postfix()?;
        let mut n = 0;
        while self.is_punct(0, "+") {
            n += 1;
            if n > MAX_NESTING {
                return Err((
                    format!("more than {MAX_NESTING} `+` in a row"),
                    self.cur_span(),
                ));
            }
            self.pos += 1;
            let rhs = self.postfix()?;
            let span = Span::new(lhs.span().start, rhs.span().end);
            lhs = Expr::Concat(Box::new(lhs), Box::new(rhs), span);
        }
        if let Some(t) = self.peek() {
            if let Tok::Punct(
                p @ ("?" | "||" | "&&" | "??" | "==" | "===" | "!=" | "!==" | "-" | "*" | "/" | "%"
                | "<=" | "=>"),
            ) = t.kind
            {
                if !(t.nl_before && p == "-") {
                    return Err((
                        format!(
                            "unsupported operator `{p}`: this reader only evaluates literals, names, member access, calls and `+` of strings"
                        ),
                        Span::new(t.start, t.end),
                    ));
                }
            }
        }
        Ok(lhs)
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        let mut n = 0;
        loop {
            n += 1;
            if n > MAX_NESTING {
                return Err((
                    format!("a chain of more than {MAX_NESTING} member accesses or calls"),
                    self.cur_span(),
                ));
            }
            let Some(t) = self.peek() else { break };
            let nl = t.nl_before;
            match t.kind {
                Tok::Punct("." | "?.") => {
                    self.pos += 1;
                    if self.is_punct(0, "(") || self.is_punct(0, "<") {
                        continue; // `?.(`
                    }
                    if self.ident_at(0).is_none() {
                        return Err((
                            format!(
                                "expected a property name after `.`, found {}",
                                self.describe_cur()
                            ),
                            self.cur_span(),
                        ));
                    };
                    let span = self.cur_span();
                    self.pos += 1;
                    let type_args = if self.is_punct(0, "<") {
                        let open = self.pos;
                        let targs = self.type_args()?;
                        if !self.is_punct(0, "(") {
                            return Err(self.after_type_args_error(open));
                        }
                        Some(Box::new(targs))
                    } else {
                        None
                    };
                    if type_args.is_some()
                        || (self.is_punct(0, "(") && !self.peek().is_some_and(|t| t.nl_before))
                    {
                        let args = self.args()?;
                        let call_span = Span::new(e.span().start, self.prev_end());
                        e = Expr::Method {
                            obj: Box::new(e),
                            name: None,
                            name_span: span,
                            type_args,
                            args,
                            span: call_span,
                        };
                    } else {
                        e = Expr::Member(Box::new(e), None, span);
                    }
                }
                Tok::Punct("<") => {
                    let open = self.pos;
                    let targs = self.type_args()?;
                    if !self.is_punct(0, "(") {
                        return Err(self.after_type_args_error(open));
                    }
                    let args = self.args()?;
                    let span = Span::new(e.span().start, self.prev_end());
                    e = Expr::Call {
                        callee: Box::new(e),
                        type_args: Some(Box::new(targs)),
                        args,
                        span,
                    };
                }
                Tok::Punct("(") if !nl => {
                    let args = self.args()?;
                    let span = Span::new(e.span().start, self.prev_end());
                    e = Expr::Call {
                        callee: Box::new(e),
                        type_args: None,
                        args,
                        span,
                    };
                }
                Tok::Punct("[") if !nl => {
                    let open = self.cur_span();
                    self.pos += 1;
                    let key =
                        match self.peek().map(|t| t.kind.clone()) {
                            Some(Tok::Str(s) | Tok::Template(s)) => s,
                            Some(Tok::Num(n)) => js_number_key(n),
                            _ => return Err((
                                "computed member access is only supported with a string literal"
                                    .into(),
                                self.cur_span(),
                            )),
                        };
                    let span = self.cur_span();
                    self.pos += 1;
                    if !self.is_punct(0, "]") {
                        return Err((
                            format!(
                                "expected `]` closing the `[` at line {}",
                                line_of(self.src, open.start)
                            ),
                            self.cur_span(),
                        ));
                    }
                    self.pos += 1;
                    e = Expr::Member(Box::new(e), Some(key), span);
                }
                Tok::Punct("!") if !nl && !self.is_punct(1, "=") && !self.is_punct(1, "==") => {
                    self.pos += 1;
                }
                Tok::Ident if !nl && matches!(self.text(t), "as" | "satisfies") => {
                    self.pos += 1;
                    self.skip_type()?;
                }
                _ => break,
            }
        }
        Ok(e)
    }

    fn after_type_args_error(&self, open: usize) -> (String, Span) {
        let span = self
            .toks
            .get(open)
            .map_or(self.eof_span(), |t| Span::new(t.start, t.end));
        (
            format!(
                "expected `(` after type arguments, found {} (comparisons are not supported)",
                self.describe_cur()
            ),
            if self.peek().is_none() {
                span
            } else {
                self.cur_span()
            },
        )
    }

    fn type_args(&mut self) -> PResult<TypeArgs> {
        let open = self.pos;
        self.skip_balanced()?;
        let close = self.pos - 1;
        let inner_start = self.toks.get(open).map_or(0, |t| t.end);
        let inner_end = self.toks.get(close).map_or(inner_start, |t| t.start);
        let mut raw = String::new();
        let mut last_end: Option<usize> = None;
        for t in self.toks.get(open + 1..close).unwrap_or(&[]) {
            if let Some(le) = last_end {
                if t.start > le {
                    raw.push(' ');
                }
            }
            raw.push_str(self.text(t));
            last_end = Some(t.end);
        }
        Ok(TypeArgs {
            raw,
            span: Span::new(inner_start, inner_end.max(inner_start)),
            union: self.union_of(open + 1, close),
        })
    }

    fn args(&mut self) -> PResult<Vec<Expr>> {
        let open = self.cur_span();
        self.pos += 1; // (
        let mut args = Vec::new();
        loop {
            if self.is_punct(0, ")") {
                self.pos += 1;
                return Ok(args);
            }
            if self.peek().is_none() {
                return Err(unclosed("(", open));
            }
            if self.is_punct(0, "...") {
                return Err(("spread arguments are not supported".into(), self.cur_span()));
            }
            args.push(self.expr()?);
            self.list_separator(")", "the arguments of the call", open)?;
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let Some(t) = self.peek().cloned() else {
            return Err((
                "unexpected end of file: expected a value".into(),
                self.eof_span(),
            ));
        };
        let span = Span::new(t.start, t.end);
        match t.kind {
            Tok::Str(s) | Tok::Template(s) => {
                self.pos += 1;
                Ok(Expr::Str(s, span))
            }
            Tok::Num(n) => {
                self.pos += 1;
                Ok(Expr::Num(n, span))
            }
            Tok::Punct("-") if matches!(self.peek_at(1).map(|t| &t.kind), Some(Tok::Num(_))) => {
                let n = match self.peek_at(1).map(|t| &t.kind) {
                    Some(Tok::Num(n)) => *n,
                    _ => 0.0,
                };
                let end = self.peek_at(1).map_or(span.end, |t| t.end);
                self.pos += 2;
                Ok(Expr::Num(-n, Span::new(span.start, end)))
            }
            Tok::Punct("{") => self.object(),
            Tok::Punct("[") => self.array(),
            Tok::Punct("(") => {
                self.pos += 1;
                let e = self.expr()?;
                if !self.is_punct(0, ")") {
                    return Err((
                        format!(
                            "expected `)` closing the `(` at line {}, found {} (arrow functions are not supported)",
                            line_of(self.src, span.start),
                            self.describe_cur()
                        ),
                        if self.peek().is_none() { span } else { self.cur_span() },
                    ));
                }
                self.pos += 1;
                if self.is_punct(0, "=>") {
                    return Err(("arrow functions are not supported".into(), self.cur_span()));
                }
                Ok(e)
            }
            Tok::Ident => {
                let name = self.text(&t);
                match name {
                    "true" | "false" => {
                        self.pos += 1;
                        Ok(Expr::Bool(name == "true", span))
                    }
                    "null" => {
                        self.pos += 1;
                        Ok(Expr::Null(span))
                    }
                    "undefined" => {
                        self.pos += 1;
                        Ok(Expr::Undefined(span))
                    }
                    "new" | "function" | "class" | "await" | "typeof" | "void" | "delete"
                    | "yield" | "async" | "this" | "super" | "import" => Err((
                        format!("unsupported expression `{name}`: this reader does not run code"),
                        span,
                    )),
                    _ => {
                        self.pos += 1;
                        if self.is_punct(0, "=>") {
                            return Err((
                                "arrow functions are not supported".into(),
                                self.cur_span(),
                            ));
                        }
                        Ok(Expr::Ident(span))
                    }
                }
            }
            Tok::Punct("<") => Err((
                "type assertions written `<T>value` are not supported; use `value as T`".into(),
                span,
            )),
            _ => Err((
                format!("expected a value, found {}", self.describe_cur()),
                span,
            )),
        }
    }

    fn object(&mut self) -> PResult<Expr> {
        let open = self.cur_span();
        self.pos += 1;
        let mut members = Vec::new();
        loop {
            if self.is_punct(0, "}") {
                self.pos += 1;
                return Ok(Expr::Obj(members, Span::new(open.start, self.prev_end())));
            }
            let Some(t) = self.peek().cloned() else {
                return Err(unclosed("{", open));
            };
            let kspan = Span::new(t.start, t.end);
            if self.is_punct(0, "...") {
                self.pos += 1;
                members.push(Member::Spread(self.expr()?));
            } else {
                let key = match &t.kind {
                    Tok::Ident => None,
                    Tok::Str(s) => Some(s.clone()),
                    Tok::Num(n) => Some(js_number_key(*n)),
                    Tok::Punct("[") => {
                        self.pos += 1;
                        let k = match self.peek().map(|t| t.kind.clone()) {
                            Some(Tok::Str(s) | Tok::Template(s)) => s,
                            _ => {
                                return Err((
                                    "computed keys are only supported with a string literal (`[\"key\"]`)".into(),
                                    self.cur_span(),
                                ))
                            }
                        };
                        self.pos += 1;
                        if !self.is_punct(0, "]") {
                            return Err((
                                "expected `]` after the computed key".into(),
                                self.cur_span(),
                            ));
                        }
                        Some(k)
                    }
                    _ => {
                        return Err((
                            format!(
                                "expected a property name or `}}`, found {}",
                                self.describe_cur()
                            ),
                            kspan,
                        ))
                    }
                };
                self.pos += 1;
                if matches!(t.kind, Tok::Ident)
                    && matches!(self.text(&t), "get" | "set" | "async")
                    && self.ident_at(0).is_some()
                {
                    return Err((
                        "getters, setters and methods are not supported".into(),
                        kspan,
                    ));
                }
                if self.is_punct(0, "?") {
                    self.pos += 1;
                }
                let value = if self.is_punct(0, ":") {
                    self.pos += 1;
                    self.expr()?
                } else if self.is_punct(0, ",") || self.is_punct(0, "}") {
                    if !matches!(t.kind, Tok::Ident) {
                        return Err((
                            format!("expected `:` after the key, found {}", self.describe_cur()),
                            self.cur_span(),
                        ));
                    }
                    Expr::Ident(kspan)
                } else if self.is_punct(0, "(") || self.is_punct(0, "<") {
                    return Err(("methods are not supported in object literals".into(), kspan));
                } else {
                    return Err((
                        format!(
                            "expected `:` after the key `{}`, found {}",
                            key.as_deref().unwrap_or(self.text(&t)),
                            self.describe_cur()
                        ),
                        self.cur_span(),
                    ));
                };
                members.push(Member::Prop {
                    key,
                    key_span: kspan,
                    value,
                });
            }
            self.list_separator("}", "the object", open)?;
        }
    }

    fn array(&mut self) -> PResult<Expr> {
        let open = self.cur_span();
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.is_punct(0, "]") {
                self.pos += 1;
                return Ok(Expr::Arr(items, Span::new(open.start, self.prev_end())));
            }
            if self.peek().is_none() {
                return Err(unclosed("[", open));
            }
            if self.is_punct(0, "...") {
                return Err((
                    "spreads in arrays are not supported".into(),
                    self.cur_span(),
                ));
            }
            items.push(self.expr()?);
            self.list_separator("]", "the array", open)?;
        }
    }

    /// After an item of a list opened at `open` and closed by `close`: consumes a `,`, or checks
    /// that `close` comes next. `what` names the list in the error ("the array").
    fn list_separator(&mut self, close: &str, what: &str, open: Span) -> PResult<()> {
        if self.is_punct(0, ",") {
            self.pos += 1;
            return Ok(());
        }
        if self.is_punct(0, close) {
            return Ok(());
        }
        if self.peek().is_none() {
            let opener = match close {
                ")" => "(",
                "]" => "[",
                _ => "{",
            };
            return Err(unclosed(opener, open));
        }
        Err((
            format!(
                "expected `,` or `{close}` in {what} opened at line {}, found {}",
                line_of(self.src, open.start),
                self.describe_cur()
            ),
            self.cur_span(),
        ))
    }
}

/// The error for a file that ends inside the bracket `open` opened at `span`.
fn unclosed(open: &str, span: Span) -> (String, Span) {
    (
        format!("unclosed `{open}`: the file ends before it is closed"),
        span,
    )
}

trait NlNext {
    fn nl_before_next(&self, p: &Parser<'_>) -> bool;
}

impl NlNext for Token {
    /// Whether the token after this one (at the parser position) starts a new line.
    fn nl_before_next(&self, p: &Parser<'_>) -> bool {
        p.peek_at(1).is_some_and(|t| t.nl_before)
    }
}

fn closer(open: &str) -> &'static str {
    match open {
        "{" => "}",
        "(" => ")",
        "[" => "]",
        _ => ">",
    }
}

fn line_of(src: &str, pos: usize) -> usize {
    src.get(..pos)
        .map_or(0, |s| s.bytes().filter(|b| *b == b'\n').count())
        + 1
}

/// How JavaScript writes a number used as a property key.
pub fn js_number_key(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{n:.0}")
    } else {
        format!("{n}")
    }
}
