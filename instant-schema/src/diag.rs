//! Diagnostics: problems found while reading a schema or rules file, with their position.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The input cannot be used; reading fails.
    Error,
    /// The input is accepted (the official package accepts it) but something looks wrong.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem at one place of a file.
///
/// Its `Display` is `FILE:LINE:COL: message`, then the source line and a caret under the spot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line (0 when the input has no position, e.g. a JSON value built in memory).
    pub line: u32,
    /// 1-based column in characters (0 when unknown).
    pub col: u32,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The text of the line the problem is on (without its line break), empty when unknown.
    pub source_line: String,
    /// How many characters the caret underlines (at least 1).
    pub width: u32,
}

impl Diagnostic {
    /// A diagnostic at byte offset `start..end` of `source`.
    pub fn at(
        severity: Severity,
        file: &Path,
        source: &str,
        start: usize,
        end: usize,
        message: impl Into<String>,
    ) -> Diagnostic {
        let start = floor_char_boundary(source, start.min(source.len()));
        let end = floor_char_boundary(source, end.clamp(start, source.len()));
        let line_start = source
            .get(..start)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = source
            .get(start..)
            .and_then(|s| s.find('\n'))
            .map_or(source.len(), |i| start + i);
        let line = source
            .get(..start)
            .map_or(0, |s| s.bytes().filter(|b| *b == b'\n').count())
            + 1;
        let col = source
            .get(line_start..start)
            .map_or(0, |s| s.chars().count())
            + 1;
        let source_line = source
            .get(line_start..line_end)
            .unwrap_or("")
            .trim_end_matches('\r')
            .to_string();
        let span_end = end.min(line_end);
        let width = source
            .get(start..span_end)
            .map_or(1, |s| s.chars().count().max(1));
        Diagnostic {
            severity,
            file: file.to_path_buf(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
            message: message.into(),
            source_line,
            width: u32::try_from(width).unwrap_or(1),
        }
    }

    /// A diagnostic without a position (for inputs that have no source text).
    pub fn nowhere(severity: Severity, file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: message.into(),
            source_line: String::new(),
            width: 1,
        }
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )?;
        if !self.source_line.is_empty() || self.col > 0 {
            write!(f, "\n{}\n", self.source_line)?;
            // Keep tabs so the caret lines up with the source line.
            for c in self
                .source_line
                .chars()
                .take(self.col.saturating_sub(1) as usize)
            {
                f.write_str(if c == '\t' { "\t" } else { " " })?;
            }
            for _ in 0..self.width.max(1) {
                f.write_str("^")?;
            }
        }
        Ok(())
    }
}

/// Reading failed: one or more error [`Diagnostic`]s (the first is the most relevant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The errors, in the order they were found (never empty).
    pub diagnostics: Vec<Diagnostic>,
}

impl Error {
    /// An error made of one diagnostic.
    pub fn new(diagnostic: Diagnostic) -> Error {
        Error {
            diagnostics: vec![diagnostic],
        }
    }

    /// An error about a file that has no position (I/O, unreadable file).
    pub fn io(file: &Path, message: impl Into<String>) -> Error {
        Error::new(Diagnostic::nowhere(Severity::Error, file, message))
    }
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Error {
        Error::new(d)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
