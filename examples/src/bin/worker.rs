//! A background worker: on every tick it processes pending orders older than 30 minutes (with
//! their customer profile and items), marking each processed or in error, and removes expired
//! items. It runs until Ctrl-C (finishing the tick in progress) or for `--ticks` ticks.
//!
//! `cargo run -p instant-examples --bin worker -- [--ticks 2] [--interval-ms 50]`
//!
//! On the embedded server it first writes demo data: five orders and three cart items.

use std::time::Duration;

use clap::Parser;
use instant_admin::typed::Id;
use instant_admin::{ChunkOptions, Instant, Step};
// The derives below find the generated types through `crate::schema`.
use instant_examples::schema;
use instant_examples::schema::{items, orders, profiles, Items, Orders, OrdersStatus, Profiles};

/// An order to process, with its customer and items (a projection).
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "orders", schema = "schemas/instant.schema.ts")]
struct PendingOrder {
    id: Id<Orders>,
    number: String,
    customer: Option<Customer>,
    items: Vec<LineItem>,
}

/// The customer of an order.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "profiles", schema = "schemas/instant.schema.ts")]
struct Customer {
    handle: String,
}

/// An item of an order.
#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "items", schema = "schemas/instant.schema.ts")]
struct LineItem {
    name: String,
    quantity: f64,
    price: f64,
}
use instant_examples::{connect_and_announce, now, Result};

/// Command-line flags.
#[derive(Parser, Debug)]
#[command(about = "Process old pending orders and remove expired items, on an interval")]
struct Args {
    /// Stop after this many ticks (default: run until Ctrl-C).
    #[arg(long)]
    ticks: Option<u64>,
    /// Time between ticks, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    interval_ms: u64,
    /// Pending orders older than this many minutes are processed.
    #[arg(long, default_value_t = 30)]
    min_age_minutes: i64,
    /// Orders handled per tick at most.
    #[arg(long, default_value_t = 100)]
    batch: u32,
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
    // A long-running job first checks that the server has the attributes this build was compiled
    // against (the indexes it filters on, the links it follows), and says what differs.
    let drift = db.schema_drift(schema::SCHEMA_JSON).await?;
    if drift.is_empty() {
        println!("the server's schema matches the compiled one");
    }
    for d in &drift {
        println!("schema drift: {d}");
    }
    if conn.is_embedded() {
        seed(db).await?;
        println!("seeded 5 orders and 3 cart items");
    }

    let mut interval = tokio::time::interval(Duration::from_millis(args.interval_ms.max(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    let mut ticks = 0u64;
    loop {
        if args.ticks.is_some_and(|n| ticks >= n) {
            break;
        }
        tokio::select! {
            // Polled first, so the Ctrl-C handler is installed before the first tick runs.
            biased;
            signal = &mut shutdown => {
                signal?;
                println!("Ctrl-C: stopping");
                break;
            }
            _ = interval.tick() => {}
        }
        ticks += 1;
        // A failed tick is reported and the next one tries again.
        if let Err(e) = tick(db, ticks, &args).await {
            println!("tick {ticks}: failed: {e}");
        }
    }
    println!("stopped after {ticks} tick(s)");

    if conn.is_embedded() {
        let all: Vec<Orders> = db
            .query(orders::query().order(orders::created_at.asc()))
            .await?;
        let mut listed: Vec<String> = all
            .iter()
            .map(|o| format!("{} {}", o.number, o.status.as_str()))
            .collect();
        listed.sort();
        println!("orders now: {}", listed.join(", "));
    }
    Ok(())
}

async fn tick(db: &Instant, n: u64, args: &Args) -> Result {
    let (processed, failed) = process_orders(db, args).await?;
    let removed = remove_expired_items(db).await?;
    println!(
        "tick {n}: {processed} order(s) processed, {failed} marked as errors, \
         {removed} expired item(s) removed"
    );
    Ok(())
}

/// Processes pending orders older than the minimum age, oldest first.
async fn process_orders(db: &Instant, args: &Args) -> Result<(usize, usize)> {
    let cutoff = now() - chrono::Duration::minutes(args.min_age_minutes);
    let pending: Vec<PendingOrder> = db
        .query(
            orders::query()
                .filter(
                    orders::status
                        .eq(OrdersStatus::Pending)
                        .and(orders::created_at.lt(cutoff)),
                )
                .order(orders::created_at.asc())
                .limit(args.batch)
                .project::<PendingOrder>(),
        )
        .await?;
    let (mut processed, mut failed) = (0, 0);
    for order in &pending {
        let verdict = check(order);
        let ok = verdict.is_ok();
        let write = match verdict {
            Ok(total) => {
                println!(
                    "  {}: processed for {}, total {total:.2}",
                    order.number,
                    order.customer.as_ref().map_or("?", |c| c.handle.as_str())
                );
                orders::update(&order.id)
                    .status(OrdersStatus::Processed)
                    .total(total)
            }
            Err(reason) => {
                println!("  {}: error: {reason}", order.number);
                orders::update(&order.id)
                    .status(OrdersStatus::Error)
                    .error(reason)
            }
        };
        match db.transact(write).await {
            Ok(_) if ok => processed += 1,
            Ok(_) => failed += 1,
            Err(e) => {
                // Record the failure on the order so it is not retried forever.
                println!("  {}: could not be saved: {e}", order.number);
                db.transact(
                    orders::update(&order.id)
                        .status(OrdersStatus::Error)
                        .error(format!("processing failed: {e}")),
                )
                .await?;
                failed += 1;
            }
        }
    }
    Ok((processed, failed))
}

/// An order's total, or why it cannot be processed.
fn check(order: &PendingOrder) -> Result<f64, String> {
    if order.customer.is_none() {
        return Err("no customer".into());
    }
    if order.items.is_empty() {
        return Err("no items".into());
    }
    if let Some(bad) = order.items.iter().find(|i| i.quantity <= 0.0) {
        return Err(format!("item {} has quantity {}", bad.name, bad.quantity));
    }
    Ok(order.items.iter().map(|i| i.quantity * i.price).sum())
}

/// Deletes items whose `expiresAt` has passed; returns how many.
async fn remove_expired_items(db: &Instant) -> Result<usize> {
    let expired: Vec<Items> = db
        .query(items::query().filter(items::expires_at.lt(now())))
        .await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let steps: Vec<Step> = expired.iter().map(|i| items::delete(&i.id)).collect();
    let outcomes = db
        .transact_chunked(steps, ChunkOptions::new(100).concurrency(2))
        .await;
    let mut removed = 0;
    for outcome in outcomes {
        match &outcome.result {
            Ok(_) => removed += outcome.steps.len(),
            Err(e) => println!(
                "  could not remove {} expired items: {e}",
                outcome.steps.len()
            ),
        }
    }
    Ok(removed)
}

/// Demo data: five orders of different ages and states, and cart items, two of them expired.
async fn seed(db: &Instant) -> Result {
    let t = now();
    let ago = |minutes: i64| t - chrono::Duration::minutes(minutes);
    let (carol, dave): (Id<Profiles>, Id<Profiles>) = (Id::new(), Id::new());
    let ids: Vec<Id<Orders>> = (0..5).map(|_| Id::new()).collect();
    let item_ids: Vec<Id<Items>> = (0..7).map(|_| Id::new()).collect();
    let order = |number: &str, status: OrdersStatus, age: i64| orders::New {
        number: number.into(),
        status,
        created_at: ago(age),
        total: None,
        error: None,
    };
    let item = |name: &str, quantity: f64, price: f64, expires: Option<i64>| items::New {
        name: name.into(),
        quantity,
        price,
        expires_at: expires.map(|m| t + chrono::Duration::minutes(m)),
    };
    let [o1, o2, o3, o4, o5] = ids.as_slice() else {
        return Err(instant_examples::fail("five order ids"));
    };
    let [i1, i2, i3, i4, i5, i6, i7] = item_ids.as_slice() else {
        return Err(instant_examples::fail("seven item ids"));
    };
    db.transact((
        (
            profiles::update(&carol)
                .email("carol@example.com")
                .handle("carol"),
            profiles::update(&dave)
                .email("dave@example.com")
                .handle("dave"),
            // Old enough, with a customer and items: processed.
            orders::create(o1, order("A-1001", OrdersStatus::Pending, 45)),
            // Old enough, no items: an error.
            orders::create(o2, order("A-1002", OrdersStatus::Pending, 40)),
            // Too recent: left pending.
            orders::create(o3, order("A-1003", OrdersStatus::Pending, 5)),
            // Old, no customer: an error.
            orders::create(o4, order("A-1004", OrdersStatus::Pending, 120)),
            // Already processed: left alone.
            orders::create(o5, order("A-1005", OrdersStatus::Processed, 180)),
        ),
        (
            items::create(i1, item("widget", 2.0, 9.5, None)),
            items::create(i2, item("gadget", 1.0, 20.0, None)),
            items::create(i3, item("gizmo", 1.0, 5.0, None)),
            items::create(i7, item("bolt", 10.0, 0.25, None)),
            // Cart items: two expired, one not yet.
            items::create(i4, item("cart: lamp", 1.0, 30.0, Some(-10))),
            items::create(i5, item("cart: chair", 1.0, 80.0, Some(-1))),
            items::create(i6, item("cart: desk", 1.0, 200.0, Some(60))),
        ),
        (
            orders::link(o1).customer(&carol).items(i1).items(i2),
            orders::link(o2).customer(&dave),
            orders::link(o3).customer(&carol).items(i3),
            orders::link(o4).items(i7),
        ),
    ))
    .await?;
    Ok(())
}
