//! A small JavaScript/TypeScript lexer: identifiers, strings, template literals without `${}`,
//! numbers and punctuation, with comments and whitespace skipped.
//!
//! `>` is always its own token (so `Array<X<any>>>` closes three type argument lists) and `=>` is
//! one token (so it is never mistaken for the end of a type argument list).

/// The kind of a token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword (the text is the source slice).
    Ident,
    /// A string literal with its escapes decoded.
    Str(String),
    /// A template literal without substitutions, escapes decoded.
    Template(String),
    /// A number literal and its value.
    Num(f64),
    /// Punctuation (`{`, `=>`, `...`, ...).
    Punct(&'static str),
    /// A regular expression literal (only skipped: it may appear in code the readers ignore).
    Regex,
}

/// One token and where it is in the source (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: Tok,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past its last character.
    pub end: usize,
    /// Whether a line break (or a comment holding one) precedes it: drives ASI.
    pub nl_before: bool,
}

/// A lexing failure: message and byte span.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    /// What is wrong.
    pub message: String,
    /// Byte offset of the problem.
    pub start: usize,
    /// Byte offset just past the problem.
    pub end: usize,
}

const PUNCTS3: [&str; 4] = ["...", "===", "!==", "**="];
const PUNCTS2: [&str; 11] = [
    "=>", "==", "!=", "&&", "||", "??", "?.", "++", "--", "**", "<=",
];
const PUNCTS1: &str = "{}()[]<>,:;.?!|&=+-*/%~^@#";

fn punct_static(s: &str) -> Option<&'static str> {
    PUNCTS3
        .iter()
        .chain(PUNCTS2.iter())
        .find(|p| **p == s)
        .copied()
        .or_else(|| {
            if s.len() != 1 {
                return None;
            }
            let c = s.chars().next()?;
            let i = PUNCTS1.find(c)?;
            PUNCTS1.get(i..i + 1)
        })
}

fn single_punct(b: u8) -> Option<&'static str> {
    Some(match b {
        b'{' => "{",
        b'}' => "}",
        b'(' => "(",
        b')' => ")",
        b'[' => "[",
        b']' => "]",
        b',' => ",",
        b':' => ":",
        b';' => ";",
        b'>' => ">",
        _ => return None,
    })
}

/// Whether `c` may start an identifier.
pub fn is_id_start(c: char) -> bool {
    c == '$' || c == '_' || c.is_alphabetic()
}

/// Whether `c` may continue an identifier.
pub fn is_id_continue(c: char) -> bool {
    c == '$' || c == '_' || c.is_alphanumeric() || c == '\u{200c}' || c == '\u{200d}'
}

/// Split `src` into tokens.
pub fn lex(src: &str) -> Result<Vec<Token>, LexError> {
    let bytes = src.as_bytes();
    // about one token per 3 bytes in schema files: avoid regrowing the vector
    let mut toks = Vec::with_capacity(src.len() / 3 + 16);
    let mut i = 0usize;
    let mut nl = false;
    if src.starts_with("#!") {
        i = src.find('\n').unwrap_or(src.len());
    }
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\n' => {
                nl = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => {
                i += 1;
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = src[i..].find('\n').map_or(src.len(), |n| i + n);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let Some(n) = src[i + 2..].find("*/") else {
                    return Err(LexError {
                        message: "unterminated comment: `/*` without `*/`".into(),
                        start: i,
                        end: i + 2,
                    });
                };
                if src[i + 2..i + 2 + n].contains('\n') {
                    nl = true;
                }
                i = i + 2 + n + 2;
                continue;
            }
            b'/' if regex_allowed(src, toks.last()) => {
                let end = lex_regex(src, i)?;
                toks.push(Token {
                    kind: Tok::Regex,
                    start: i,
                    end,
                    nl_before: nl,
                });
                i = end;
            }
            b'"' | b'\'' | b'`' => {
                let (kind, end) = lex_string(src, i)?;
                toks.push(Token {
                    kind,
                    start: i,
                    end,
                    nl_before: nl,
                });
                i = end;
            }
            b'0'..=b'9' => {
                let (v, end) = lex_number(src, i)?;
                toks.push(Token {
                    kind: Tok::Num(v),
                    start: i,
                    end,
                    nl_before: nl,
                });
                i = end;
            }
            b'.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let (v, end) = lex_number(src, i)?;
                toks.push(Token {
                    kind: Tok::Num(v),
                    start: i,
                    end,
                    nl_before: nl,
                });
                i = end;
            }
            _ => {
                if b.is_ascii_alphabetic() || b == b'_' || b == b'$' {
                    let mut end = i + 1;
                    while end < bytes.len()
                        && (bytes[end].is_ascii_alphanumeric()
                            || bytes[end] == b'_'
                            || bytes[end] == b'$')
                    {
                        end += 1;
                    }
                    if end >= bytes.len() || bytes[end].is_ascii() {
                        toks.push(Token {
                            kind: Tok::Ident,
                            start: i,
                            end,
                            nl_before: nl,
                        });
                        i = end;
                        nl = false;
                        continue;
                    }
                }
                let c = src[i..].chars().next().unwrap_or(' ');
                if is_id_start(c) || c == '\\' {
                    let mut end = i;
                    for (off, ch) in src[i..].char_indices() {
                        if is_id_continue(ch) {
                            end = i + off + ch.len_utf8();
                        } else {
                            break;
                        }
                    }
                    if end == i {
                        return Err(LexError {
                            message: "unexpected character `\\`".into(),
                            start: i,
                            end: i + 1,
                        });
                    }
                    toks.push(Token {
                        kind: Tok::Ident,
                        start: i,
                        end,
                        nl_before: nl,
                    });
                    i = end;
                } else if c.is_whitespace() {
                    if c == '\u{2028}' || c == '\u{2029}' {
                        nl = true;
                    }
                    i += c.len_utf8();
                    continue;
                } else {
                    let mut found = None;
                    // fast path: punctuation that never starts a longer token
                    if let Some(p) = single_punct(b) {
                        toks.push(Token {
                            kind: Tok::Punct(p),
                            start: i,
                            end: i + 1,
                            nl_before: nl,
                        });
                        i += 1;
                        nl = false;
                        continue;
                    }
                    for len in [3usize, 2, 1] {
                        if let Some(s) = src.get(i..i + len) {
                            if let Some(p) = punct_static(s) {
                                // `?.5` is `?` then `.5`
                                if p == "?." && bytes.get(i + 2).is_some_and(u8::is_ascii_digit) {
                                    continue;
                                }
                                found = Some(p);
                                break;
                            }
                        }
                    }
                    let Some(p) = found else {
                        return Err(LexError {
                            message: format!("unexpected character `{}`", c.escape_debug()),
                            start: i,
                            end: i + c.len_utf8(),
                        });
                    };
                    toks.push(Token {
                        kind: Tok::Punct(p),
                        start: i,
                        end: i + p.len(),
                        nl_before: nl,
                    });
                    i += p.len();
                }
            }
        }
        nl = false;
    }
    Ok(toks)
}

/// Whether a `/` after `prev` starts a regular expression (rather than a division).
fn regex_allowed(src: &str, prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(t) => match &t.kind {
            Tok::Punct(p) => !matches!(*p, ")" | "]" | ">" | "++" | "--"),
            Tok::Ident => matches!(
                src.get(t.start..t.end).unwrap_or(""),
                "return"
                    | "typeof"
                    | "case"
                    | "do"
                    | "else"
                    | "in"
                    | "of"
                    | "new"
                    | "delete"
                    | "void"
                    | "throw"
                    | "instanceof"
                    | "yield"
                    | "await"
            ),
            _ => false,
        },
    }
}

/// The end of the regular expression literal starting at `start` (flags included).
fn lex_regex(src: &str, start: usize) -> Result<usize, LexError> {
    let mut in_class = false;
    let mut chars = src.get(start + 1..).unwrap_or("").char_indices();
    let unterminated = |end: usize| LexError {
        message: "unterminated regular expression literal".into(),
        start,
        end,
    };
    loop {
        let Some((off, c)) = chars.next() else {
            return Err(unterminated(src.len()));
        };
        match c {
            // the guard consumes the escaped character
            '\\' if chars.next().is_none() => return Err(unterminated(src.len())),
            '\\' => {}
            '\n' | '\r' | '\u{2028}' | '\u{2029}' => return Err(unterminated(start + 1 + off)),
            '[' => in_class = true,
            ']' => in_class = false,
            '/' if !in_class => {
                let mut end = start + 1 + off + 1;
                for (o, f) in src.get(end..).unwrap_or("").char_indices() {
                    if !is_id_continue(f) {
                        end += o;
                        return Ok(end);
                    }
                }
                return Ok(src.len());
            }
            _ => {}
        }
    }
}

fn lex_number(src: &str, start: usize) -> Result<(f64, usize), LexError> {
    let bytes = src.as_bytes();
    let mut i = start;
    let err = |end: usize| LexError {
        message: "malformed number".into(),
        start,
        end,
    };
    let radix = if bytes.get(i) == Some(&b'0') {
        match bytes.get(i + 1).map(u8::to_ascii_lowercase) {
            Some(b'x') => Some(16),
            Some(b'o') => Some(8),
            Some(b'b') => Some(2),
            _ => None,
        }
    } else {
        None
    };
    if let Some(radix) = radix {
        i += 2;
        let digits_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
            i += 1;
        }
        let digits: String = src[digits_start..i].chars().filter(|c| *c != '_').collect();
        let digits = digits.strip_suffix('n').unwrap_or(&digits);
        let mut v = 0f64;
        if digits.is_empty() {
            return Err(err(i));
        }
        for c in digits.chars() {
            let d = c.to_digit(radix).ok_or_else(|| err(i))?;
            v = v * f64::from(radix) + f64::from(d);
        }
        return Ok((v, i));
    }
    while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
            i += 1;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        } else {
            return Err(err(j));
        }
    }
    let text: String = src[start..i].chars().filter(|c| *c != '_').collect();
    if bytes.get(i) == Some(&b'n') {
        i += 1;
    }
    if bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'$')
    {
        return Err(err(i + 1));
    }
    let v = text.parse::<f64>().map_err(|_| err(i))?;
    Ok((v, i))
}

fn lex_string(src: &str, start: usize) -> Result<(Tok, usize), LexError> {
    let bytes = src.as_bytes();
    let quote = bytes[start];
    let template = quote == b'`';
    let mut out = String::new();
    let mut i = start + 1;
    let unterminated = |end: usize| LexError {
        message: if template {
            "unterminated template literal".into()
        } else {
            "unterminated string literal".into()
        },
        start,
        end,
    };
    loop {
        let Some(c) = src[i..].chars().next() else {
            return Err(unterminated(src.len()));
        };
        let len = c.len_utf8();
        if c as u32 == u32::from(quote) {
            i += 1;
            break;
        }
        match c {
            '\\' => {
                let Some(e) = src[i + 1..].chars().next() else {
                    return Err(unterminated(src.len()));
                };
                i += 1 + e.len_utf8();
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'v' => out.push('\u{b}'),
                    '0' if !bytes.get(i).is_some_and(u8::is_ascii_digit) => out.push('\0'),
                    '\r' => {
                        if bytes.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    '\n' | '\u{2028}' | '\u{2029}' => {}
                    'x' => {
                        let hex = src.get(i..i + 2).unwrap_or("");
                        let v = u32::from_str_radix(hex, 16)
                            .ok()
                            .filter(|_| hex.len() == 2)
                            .ok_or(LexError {
                                message: "malformed `\\x` escape".into(),
                                start: i - 2,
                                end: i,
                            })?;
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        i += 2;
                    }
                    'u' => {
                        let esc_start = i - 2;
                        let bad = || LexError {
                            message: "malformed `\\u` escape".into(),
                            start: esc_start,
                            end: esc_start + 2,
                        };
                        let v = if bytes.get(i) == Some(&b'{') {
                            let close = src[i..].find('}').ok_or_else(bad)?;
                            let v = u32::from_str_radix(&src[i + 1..i + close], 16)
                                .map_err(|_| bad())?;
                            i += close + 1;
                            v
                        } else {
                            let hex = src.get(i..i + 4).ok_or_else(bad)?;
                            let v = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return Err(bad());
                            }
                            i += 4;
                            v
                        };
                        // Surrogate pair written as two escapes.
                        if (0xD800..0xDC00).contains(&v) && src.get(i..i + 2) == Some("\\u") {
                            if let Some(lo) = src
                                .get(i + 2..i + 6)
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .filter(|lo| (0xDC00..0xE000).contains(lo))
                            {
                                let c = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                                i += 6;
                                continue;
                            }
                        }
                        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    }
                    other => out.push(other),
                }
                continue;
            }
            '\n' if !template => return Err(unterminated(i)),
            '\r' if !template => return Err(unterminated(i)),
            '\r' if template => {
                // Template literals normalise CRLF and CR to LF.
                out.push('\n');
                i += 1;
                if bytes.get(i) == Some(&b'\n') {
                    i += 1;
                }
                continue;
            }
            '$' if template && bytes.get(i + 1) == Some(&b'{') => {
                return Err(LexError {
                    message: "template literals with `${...}` substitutions are not supported"
                        .into(),
                    start: i,
                    end: i + 2,
                });
            }
            _ => out.push(c),
        }
        i += len;
    }
    Ok((
        if template {
            Tok::Template(out)
        } else {
            Tok::Str(out)
        },
        i,
    ))
}
