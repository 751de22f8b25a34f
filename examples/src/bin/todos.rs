//! Todos: create, query (where, order, limit), update and delete with the typed API.
//!
//! `cargo run -p instant-examples --bin todos`

use instant_admin::typed::Id;
use instant_examples::schema::{todos, Todos};
use instant_examples::{connect_and_announce, run_tag, Result};

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result {
    let conn = connect_and_announce()?;
    let db = conn.db();
    // Every todo of this run carries the same `batch`, so runs against a shared server stay apart.
    let batch = run_tag();

    // Create: one transaction, one `create` step per todo.
    let seed = [
        ("Write the report", 3.0),
        ("Buy milk", 1.0),
        ("Call the plumber", 5.0),
        ("Water the plants", 2.0),
        ("Book the flights", 4.0),
    ];
    let steps: Vec<todos::Write> = seed
        .iter()
        .map(|(text, priority)| {
            todos::create(
                Id::<Todos>::new(),
                todos::New {
                    text: (*text).into(),
                    done: false,
                    priority: *priority,
                    due_date: None,
                    batch: Some(batch.clone()),
                },
            )
        })
        .collect();
    db.transact(steps).await?;
    println!("created {} todos (batch {batch})", seed.len());

    // Query: open todos of this batch, most important first, at most 3.
    let top: Vec<Todos> = db
        .query(
            todos::query()
                .filter(todos::batch.eq(&batch).and(todos::done.eq(false)))
                .order(todos::priority.desc())
                .limit(3),
        )
        .await?;
    println!("top 3 open todos:");
    for t in &top {
        println!("  [ ] {} (priority {})", t.text, t.priority);
    }

    // Update: finish the most important one and give the next one a due date.
    let Some(first) = top.first() else {
        return Err(instant_examples::fail("the query returned no todos"));
    };
    // Both changes go in one transaction (steps of different builders go in a tuple or a Vec).
    let mut updates = vec![instant_admin::Step::from(
        todos::update(&first.id).done(true),
    )];
    let due_soon = top.get(1).map(|second| {
        let due = instant_examples::now() + chrono::Duration::days(1);
        updates.push(todos::update(&second.id).due_date(due).priority(10).into());
        second.text.clone()
    });
    db.transact(updates).await?;
    if let Some(text) = due_soon {
        println!("\"{text}\" is due tomorrow, priority 10");
    }
    println!("marked \"{}\" done", first.text);

    let done: Vec<Todos> = db
        .query(todos::query().filter(todos::batch.eq(&batch).and(todos::done.eq(true))))
        .await?;
    println!(
        "done: {}",
        done.iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // Delete: the finished todos.
    let deletes: Vec<instant_admin::Step> = done.iter().map(|t| todos::delete(&t.id)).collect();
    db.transact(deletes).await?;
    println!("deleted {} done todo(s)", done.len());

    let left: Vec<Todos> = db
        .query(
            todos::query()
                .filter(todos::batch.eq(&batch))
                .order(todos::priority.desc()),
        )
        .await?;
    println!("{} todos left:", left.len());
    for t in &left {
        let due = t
            .due_date
            .map(|d| format!(", due {}", d.format("%Y-%m-%d")))
            .unwrap_or_default();
        println!("  [ ] {} (priority {}{due})", t.text, t.priority);
    }

    // A real server keeps data between runs: remove this run's todos there.
    if !conn.is_embedded() {
        let cleanup: Vec<instant_admin::Step> = left.iter().map(|t| todos::delete(&t.id)).collect();
        db.transact(cleanup).await?;
        println!("removed this run's todos from the server");
    }
    Ok(())
}
