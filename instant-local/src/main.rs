//! The `instant-local` command: an InstantDB-compatible admin API server on SQLite.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "instant-local",
    about = "An InstantDB-compatible admin API server on SQLite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the admin API and print the URL, app id and admin token.
    Serve {
        /// Port to listen on (0 picks a free one).
        #[arg(long, default_value_t = 8888)]
        port: u16,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Schema of the default app (`instant.schema.ts` or JSON).
        #[arg(long)]
        schema: Option<PathBuf>,
        /// Permission rules of the default app (`instant.perms.ts` or JSON).
        #[arg(long)]
        perms: Option<PathBuf>,
        /// Keep data in SQLite files under this directory (default: in memory).
        #[arg(long)]
        data: Option<PathBuf>,
        /// The default app's id.
        #[arg(long = "app-id")]
        app_id: Option<uuid::Uuid>,
        /// The default app's admin token.
        #[arg(long = "admin-token")]
        admin_token: Option<uuid::Uuid>,
    },
}

/// Prints INFO and more severe events to stderr (magic codes, errors), one line each.
struct StderrLog;

struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value:?}"));
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(&format!(" {value}"));
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl tracing::Subscriber for StderrLog {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(format!("instant-local {}:", event.metadata().level()));
        event.record(&mut line);
        eprintln!("{}", line.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}

fn main() {
    let _ = tracing::subscriber::set_global_default(StderrLog);
    let cli = Cli::parse();
    let Command::Serve {
        port,
        host,
        schema,
        perms,
        data,
        app_id,
        admin_token,
    } = cli.command;
    let mut config = instant_local::Config::default().port(port).host(host);
    if let Some(s) = schema {
        config = config.schema_file(s);
    }
    if let Some(p) = perms {
        config = config.perms_file(p);
    }
    if let Some(d) = data {
        config = config.data_dir(d);
    }
    if let Some(a) = app_id {
        config = config.app_id(a);
    }
    if let Some(t) = admin_token {
        config = config.admin_token(t);
    }
    let server = match instant_local::LocalServer::start(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("instant-local: {e}");
            std::process::exit(1);
        }
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "INSTANT_API_URI={}", server.base_url());
        let _ = writeln!(out, "INSTANT_APP_ID={}", server.app_id());
        let _ = writeln!(out, "INSTANT_APP_ADMIN_TOKEN={}", server.admin_token());
        let _ = out.flush();
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("instant-local: {e}");
            std::process::exit(1);
        }
    };
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    server.stop();
}
