//! `instant-schema`: print the canonical JSON of a schema or rules file, or check it.

use clap::{Parser, Subcommand};
use instant_schema::{detect_kind, perms, Diagnostic, Error, FileKind};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Read InstantDB schema (`instant.schema.ts`, JSON) and rules (`instant.perms.ts`) files.
#[derive(Parser)]
#[command(name = "instant-schema", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the file as `JSON.stringify` of the official package would give it (pretty).
    Print {
        /// A schema or rules file (TS/JS or JSON).
        file: PathBuf,
    },
    /// List the problems of a file; exit status 0 when there are no errors.
    Check {
        /// A schema or rules file (TS/JS or JSON).
        file: PathBuf,
    },
}

enum Read {
    Schema(Box<instant_schema::Loaded>),
    Perms(Box<perms::LoadedRules>),
}

fn read(path: &Path) -> Result<Read, Error> {
    let src = std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, format!("cannot read file: {e}")))?;
    match detect_kind(path, &src) {
        FileKind::Schema => instant_schema::read_file(path).map(|l| Read::Schema(Box::new(l))),
        FileKind::Perms => perms::read_file_with_warnings(path).map(|r| Read::Perms(Box::new(r))),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (Command::Print { file } | Command::Check { file }) = &cli.command;
    let result = read(file);
    match (result, &cli.command) {
        (Err(e), _) => {
            let _ = writeln!(std::io::stderr().lock(), "{e}");
            ExitCode::from(1)
        }
        (Ok(r), Command::Print { .. }) => {
            let (json, warnings) = match r {
                Read::Schema(l) => (l.schema.to_json(), l.warnings),
                Read::Perms(l) => (l.rules.to_json(), l.warnings),
            };
            print_warnings(&warnings);
            match serde_json::to_string_pretty(&json) {
                Ok(s) => out(&format!("{s}\n")),
                Err(e) => {
                    let _ = writeln!(
                        std::io::stderr().lock(),
                        "{}: cannot print JSON: {e}",
                        file.display()
                    );
                    ExitCode::from(1)
                }
            }
        }
        (Ok(r), Command::Check { .. }) => {
            let warnings = match r {
                Read::Schema(l) => l.warnings,
                Read::Perms(l) => l.warnings,
            };
            print_warnings(&warnings);
            if warnings.is_empty() {
                out(&format!("{}: ok\n", file.display()))
            } else {
                out(&format!(
                    "{}: ok, {} warning(s)\n",
                    file.display(),
                    warnings.len()
                ))
            }
        }
    }
}

/// Write to stdout; a closed pipe (`instant-schema print x | head`) is not an error.
fn out(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

fn print_warnings(warnings: &[Diagnostic]) {
    let mut stderr = std::io::stderr().lock();
    for w in warnings {
        // stderr may be closed too; nothing better to do than stop writing
        if writeln!(stderr, "warning: {w}").is_err() {
            break;
        }
    }
}
