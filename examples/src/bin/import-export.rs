//! Import and export: a batch import of many todos in chunks, with a progress bar and per-chunk
//! error handling, then an export of a profile with its posts, their comments and tags to JSON.
//!
//! `cargo run -p instant-examples --bin import-export -- [--count 10000] [--chunk-size 500] [--out export.json]`

use std::path::PathBuf;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use instant_admin::typed::Id;
use instant_admin::{ChunkOptions, Instant, IntoSteps, Step};
// The derives below find the generated types through `crate::schema`.
use instant_examples::schema;
use instant_examples::schema::{comments, posts, profiles, tags, todos, Todos};
use instant_examples::{connect_and_announce, fail, now, run_tag, Result};
use serde::Serialize;

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(about = "Batch import in chunks, then export a profile with its posts to JSON")]
struct Args {
    /// How many todos to import.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Steps per transaction.
    #[arg(long, default_value_t = 500)]
    chunk_size: usize,
    /// Transactions in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Replace this many evenly spaced rows by invalid ones (no `text`), to see the per-chunk
    /// error handling at work.
    #[arg(long, default_value_t = 0)]
    invalid_rows: usize,
    /// Where to write the export (standard output if not given).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// A projection of a profile for the export: just what the file needs, checked against the schema
/// at compile time.
#[derive(instant_admin::Entity, Serialize, Debug)]
#[instant(entity = "profiles", schema = "schemas/instant.schema.ts")]
struct ExportProfile {
    email: String,
    handle: String,
    bio: Option<String>,
    posts: Vec<ExportPost>,
}

/// A post in the export, with its comments and tags.
#[derive(instant_admin::Entity, Serialize, Debug)]
#[instant(entity = "posts", schema = "schemas/instant.schema.ts")]
struct ExportPost {
    title: String,
    body: String,
    published: bool,
    #[instant(rename = "createdAt")]
    #[serde(
        rename = "createdAt",
        serialize_with = "instant_admin::typed::date::serialize"
    )]
    created_at: instant_admin::typed::DateTime,
    comments: Vec<ExportComment>,
    tags: Vec<ExportTag>,
}

/// A comment in the export.
#[derive(instant_admin::Entity, Serialize, Debug)]
#[instant(entity = "comments", schema = "schemas/instant.schema.ts")]
struct ExportComment {
    body: String,
}

/// A tag in the export.
#[derive(instant_admin::Entity, Serialize, Debug)]
#[instant(entity = "tags", schema = "schemas/instant.schema.ts")]
struct ExportTag {
    label: String,
}

/// A profile's id and the ids of its posts, for the cleanup.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "profiles", schema = "schemas/instant.schema.ts")]
struct ProfilePosts {
    id: Id<schema::Profiles>,
    posts: Vec<PostId>,
}

/// A post's id.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "posts", schema = "schemas/instant.schema.ts")]
struct PostId {
    id: Id<schema::Posts>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result {
    let conn = connect_and_announce()?;
    let db = conn.db();
    let batch = run_tag();

    import(db, &args, &batch).await?;
    let email = seed_blog(db, &batch).await?;
    export(db, &email, args.out.as_ref()).await?;

    if !conn.is_embedded() {
        remove_run(db, &batch, &email, args.chunk_size).await?;
    }
    Ok(())
}

/// Imports `args.count` todos in chunks. A chunk that fails with a retryable error (rate limit,
/// connection) is sent again; one the server rejects (bad data) is imported row by row, so that
/// only the bad rows are left out and reported.
async fn import(db: &Instant, args: &Args, batch: &str) -> Result {
    let invalid = invalid_rows(args.count, args.invalid_rows);
    let steps: Vec<Step> = (0..args.count)
        .flat_map(|n| {
            if invalid.contains(&n) {
                // A source row without the required `text`: the typed API cannot even express
                // it, so it is written through the untyped layer.
                return Step::create(
                    todos::NAME,
                    instant_admin::id(),
                    serde_json::json!({"done": false, "priority": 0, "batch": batch}),
                )
                .into_steps();
            }
            todos::create(
                Id::<Todos>::new(),
                todos::New {
                    text: format!("imported todo {n}"),
                    done: n % 3 == 0,
                    priority: (n % 5) as f64,
                    due_date: None,
                    batch: Some(batch.to_owned()),
                },
            )
            .into_steps()
        })
        .collect();

    let bar = ProgressBar::new(steps.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} todos ({per_sec}) {msg}")
            .map_err(|e| fail(format!("progress bar template: {e}")))?,
    );
    let progress = bar.clone();
    let opts = ChunkOptions::new(args.chunk_size)
        .concurrency(args.concurrency)
        .on_progress(move |p| {
            progress.set_position(p.done_steps as u64);
            if p.failed_chunks > 0 {
                progress.set_message(format!("{} chunk(s) failed", p.failed_chunks));
            }
        });
    let outcomes = db.transact_chunked(steps, opts).await;
    bar.finish_and_clear();

    let chunks = outcomes.len();
    let (mut imported, mut failed_chunks, mut rejected) = (0, 0, 0);
    for outcome in outcomes {
        let error = match &outcome.result {
            Ok(_) => {
                imported += outcome.steps.len();
                continue;
            }
            Err(e) => e,
        };
        failed_chunks += 1;
        println!(
            "chunk {} (rows {}..{}) failed: {error}",
            outcome.index, outcome.range.start, outcome.range.end
        );
        let outcome = if error.is_retryable() {
            // `retry_chunk` sends only what is not committed yet.
            let retried = db.retry_chunk(outcome).await;
            if retried.is_ok() {
                println!("  sent again: ok");
                imported += retried.steps.len();
                continue;
            }
            retried
        } else {
            outcome
        };
        // Row by row, from the first step not committed.
        imported += outcome.committed_steps;
        let first_row = outcome.range.start;
        for (offset, step) in outcome
            .steps
            .iter()
            .enumerate()
            .skip(outcome.committed_steps)
        {
            match db.transact(step.clone()).await {
                Ok(_) => imported += 1,
                Err(e) => {
                    rejected += 1;
                    println!("  rejected row {}: {e}", first_row + offset);
                }
            }
        }
    }
    println!(
        "imported {imported} todos in {chunks} chunks of up to {} \
         ({failed_chunks} chunks failed, {rejected} rows rejected)",
        args.chunk_size
    );

    let open: Vec<Todos> = db
        .query(todos::query().filter(todos::batch.eq(batch).and(todos::done.eq(false))))
        .await?;
    println!("the server holds {} open imported todos", open.len());
    Ok(())
}

/// The positions of `n` evenly spaced rows among `count`.
fn invalid_rows(count: usize, n: usize) -> Vec<usize> {
    (1..=n).map(|k| k * count / (n + 1)).collect()
}

/// Writes a profile with two posts, their comments and tags; returns the profile's email.
async fn seed_blog(db: &Instant, batch: &str) -> Result<String> {
    let email = format!("ada-{batch}@example.com");
    let ada: Id<instant_examples::schema::Profiles> = Id::new();
    let (p1, p2) = (Id::new(), Id::new());
    let (c1, c2, c3) = (Id::new(), Id::new(), Id::new());
    let (rust, db_tag) = (Id::new(), Id::new());
    let at = now();
    db.transact((
        (
            profiles::update(&ada)
                .email(email.as_str())
                .handle(format!("ada-{batch}"))
                .bio("Writes about databases"),
            tags::update(&rust).label(format!("rust-{batch}")),
            tags::update(&db_tag).label(format!("databases-{batch}")),
            posts::update(&p1)
                .title("Typed queries")
                .body("Schemas become Rust types.")
                .published(true)
                .created_at(at),
            posts::update(&p2)
                .title("Chunked imports")
                .body("Ten thousand rows, twenty transactions.")
                .published(false)
                .created_at(at + chrono::Duration::seconds(1)),
        ),
        posts::link(&p1).author(&ada).tags(&rust).tags(&db_tag),
        posts::link(&p2).author(&ada).tags(&db_tag),
        comments::update(&c1).body("Nice!").created_at(at),
        comments::update(&c2).body("Which server?").created_at(at),
        comments::update(&c3)
            .body("Waiting for part two")
            .created_at(at),
        comments::link(&c1).post(&p1).author(&ada),
        comments::link(&c2).post(&p1).author(&ada),
        comments::link(&c3).post(&p2).author(&ada),
    ))
    .await?;
    println!("wrote a profile with 2 posts, 3 comments and 2 tags");
    Ok(email)
}

/// Exports the profile with its posts (oldest first), their comments and tags as JSON.
async fn export(db: &Instant, email: &str, out: Option<&PathBuf>) -> Result {
    let rows: Vec<ExportProfile> = db
        .query(
            profiles::query()
                .filter(profiles::email.eq(email))
                .project::<ExportProfile>(),
        )
        .await?;
    let Some(mut profile) = rows.into_iter().next() else {
        return Err(fail(format!("no profile with email {email}")));
    };
    // Oldest post first, comments and tags in a stable order.
    profile.posts.sort_by_key(|p| p.created_at);
    for post in &mut profile.posts {
        post.comments.sort_by(|a, b| a.body.cmp(&b.body));
        post.tags.sort_by(|a, b| a.label.cmp(&b.label));
    }
    let comments: usize = profile.posts.iter().map(|p| p.comments.len()).sum();
    let json = serde_json::to_string_pretty(&profile)?;
    match out {
        Some(path) => {
            std::fs::write(path, &json)?;
            println!(
                "exported {} with {} posts and {comments} comments to {}",
                profile.handle,
                profile.posts.len(),
                path.display()
            );
        }
        None => {
            println!(
                "exported {} with {} posts and {comments} comments:",
                profile.handle,
                profile.posts.len()
            );
            println!("{json}");
        }
    }
    Ok(())
}

/// Removes what this run wrote (for a real server, which keeps data between runs).
async fn remove_run(db: &Instant, batch: &str, email: &str, chunk_size: usize) -> Result {
    let imported: Vec<Todos> = db
        .query(todos::query().filter(todos::batch.eq(batch)))
        .await?;
    let deletes: Vec<Step> = imported.iter().map(|t| todos::delete(&t.id)).collect();
    let outcomes = db
        .transact_chunked(deletes, ChunkOptions::new(chunk_size).concurrency(4))
        .await;
    if let Some(Err(e)) = outcomes.into_iter().map(|o| o.result).find(Result::is_err) {
        return Err(e.into());
    }
    let people: Vec<ProfilePosts> = db
        .query(
            profiles::query()
                .filter(profiles::email.eq(email))
                .project::<ProfilePosts>(),
        )
        .await?;
    let mut steps = Vec::new();
    for p in &people {
        // Deleting a post cascades to its comments.
        steps.extend(p.posts.iter().map(|post| posts::delete(&post.id)));
        steps.push(profiles::delete(&p.id));
    }
    steps.push(tags::delete(tags::label.lookup(format!("rust-{batch}"))));
    steps.push(tags::delete(
        tags::label.lookup(format!("databases-{batch}")),
    ));
    db.transact(steps).await?;
    println!("removed this run's data from the server");
    Ok(())
}
