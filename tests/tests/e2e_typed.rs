//! End to end: the typed API generated from `ui/app.schema.ts` against instant-local, covering typed
//! queries with nested links, every transaction step, lookups, projections and impersonation.

use instant_admin::typed::{Direction, Id, Order};
use instant_admin::{AsUser, Config, Error, Instant};
use instant_local::LocalServer;
use serde_json::json;

mod schema {
    instant_admin::include_schema!("ui/app.schema.ts");
}
use schema::{profiles, tags, todos, Profiles, Tags, Todos, TodosStatus};

#[derive(instant_admin::Entity, Debug, PartialEq)]
#[instant(entity = "todos", schema = "ui/app.schema.ts")]
struct Card {
    title: String,
    status: TodosStatus,
    owner: Option<Owner>,
}

#[derive(instant_admin::Entity, Debug, PartialEq)]
#[instant(entity = "profiles", schema = "ui/app.schema.ts")]
struct Owner {
    email: String,
}

/// A todo joined with its owner (`todos::query().with(todos::owner)`).
type TodoWithOwner = (Todos, Option<Profiles>);
/// A todo joined with its owner, then its tags.
type TodoWithOwnerAndTags = (TodoWithOwner, Vec<Tags>);

/// Everyone may read profiles; a todo is visible to its owner only.
fn rules() -> serde_json::Value {
    json!({
        "todos": {"allow": {"view": "auth.email in data.ref('owner.email')"}},
        "profiles": {"allow": {"view": "true"}}
    })
}

fn start() -> (LocalServer, Instant) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/app.schema.ts");
    let srv = LocalServer::start(
        instant_local::Config::default()
            .schema_file(schema)
            .perms_json(rules()),
    )
    .expect("instant-local starts");
    let db =
        Instant::new(Config::new(srv.app_id(), srv.admin_token()).api_uri(srv.base_url())).unwrap();
    (srv, db)
}

fn new_todo(title: &str, status: TodosStatus, priority: f64) -> todos::New {
    todos::New {
        title: title.into(),
        completed: false,
        due_date: None,
        status,
        priority: Some(priority),
        notes: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_queries_and_every_transaction_step() {
    let (_srv, db) = start();
    let ann: Id<Profiles> = Id::new();
    let bob: Id<Profiles> = Id::new();
    let (t1, t2, t3): (Id<Todos>, Id<Todos>, Id<Todos>) = (Id::new(), Id::new(), Id::new());
    let work: Id<Tags> = Id::new();

    db.transact((
        profiles::create(
            &ann,
            profiles::New {
                email: "ann@x.io".into(),
                name: "Ann".into(),
                prefs: None,
            },
        ),
        profiles::update(&bob).email("bob@x.io").name("Bob"),
        tags::update(&work).label("work"),
        todos::create(&t1, new_todo("Write", TodosStatus::Open, 3.0)),
        todos::create(&t2, new_todo("Read", TodosStatus::Done, 1.0)),
        todos::create(&t3, new_todo("Ship", TodosStatus::Open, 2.0)),
        todos::link(&t1).owner(&ann).tags(&work),
    ))
    .await
    .unwrap();
    // Link-position lookups resolve against entities that existed before the transaction (as on
    // the real server), so these go in a second one.
    db.transact((
        todos::link(&t2).owner(profiles::email.lookup("ann@x.io")),
        todos::link(&t3)
            .owner(&bob)
            .tags(tags::label.lookup("work")),
    ))
    .await
    .unwrap();

    // where through a link, order by an indexed attribute, limit, joined links.
    let rows: Vec<TodoWithOwnerAndTags> = db
        .query(
            todos::query()
                .filter(todos::owner.at(profiles::email).eq("ann@x.io"))
                .order(todos::priority.desc())
                .limit(5)
                .with(todos::owner)
                .with(todos::tags),
        )
        .await
        .unwrap();
    let titles: Vec<&str> = rows.iter().map(|((t, _), _)| t.title.as_str()).collect();
    assert_eq!(titles, ["Write", "Read"]);
    let ((_, owner), tags) = &rows[0];
    assert_eq!(owner.as_ref().map(|o| o.name.as_str()), Some("Ann"));
    assert_eq!(
        tags.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(),
        ["work"]
    );
    let ((_, owner), tags) = &rows[1];
    assert_eq!(owner.as_ref().map(|o| o.id.clone()), Some(ann.clone()));
    assert!(tags.is_empty());

    // Two levels: each tag with its todos, each todo with its owner.
    let tags_deep: Vec<(Tags, Vec<TodoWithOwner>)> = db
        .query(tags::query().with(tags::todos.query().with(todos::owner)))
        .await
        .unwrap();
    assert_eq!(tags_deep.len(), 1);
    let mut owners: Vec<String> = tags_deep[0]
        .1
        .iter()
        .filter_map(|(_, o)| o.as_ref().map(|o| o.name.clone()))
        .collect();
    owners.sort();
    assert_eq!(owners, ["Ann", "Bob"]);

    // Comparisons and enums; a nested query with its own where and limit.
    let open: Vec<Todos> = db
        .query(
            todos::query()
                .filter(
                    todos::status
                        .eq(TodosStatus::Open)
                        .and(todos::priority.gte(2)),
                )
                .order(todos::priority.asc()),
        )
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(),
        ["Ship", "Write"]
    );
    let people: Vec<(Profiles, Vec<Todos>)> = db
        .query(
            profiles::query()
                .filter(profiles::email.like("%@x.io"))
                .with(todos_of_status(TodosStatus::Open)),
        )
        .await
        .unwrap();
    assert_eq!(people.len(), 2);
    for (p, todos) in &people {
        assert_eq!(todos.len(), 1, "{}: one open todo each", p.name);
    }

    // A projection decodes just what it asked for.
    let cards: Vec<Card> = db
        .query(
            todos::query()
                .order(Order::created(Direction::Asc))
                .project::<Card>(),
        )
        .await
        .unwrap();
    assert_eq!(cards.len(), 3);
    assert!(cards.contains(&Card {
        title: "Ship".into(),
        status: TodosStatus::Open,
        owner: Some(Owner {
            email: "bob@x.io".into()
        }),
    }));

    // merge deep-merges json; update_existing fails on a missing entity.
    db.transact(profiles::merge(&ann).prefs(json!({"theme": "dark", "lang": "en"})))
        .await
        .unwrap();
    db.transact(profiles::merge(&ann).prefs(json!({"lang": null, "size": 2})))
        .await
        .unwrap();
    let ann_row: Vec<Profiles> = db
        .query(profiles::query().filter(profiles::id.eq(&ann)))
        .await
        .unwrap();
    assert_eq!(ann_row[0].prefs, Some(json!({"theme": "dark", "size": 2})));
    let missing = db
        .transact(todos::update_existing(Id::<Todos>::new()).title("nope"))
        .await;
    assert!(
        matches!(missing, Err(Error::ValidationFailed(_))),
        "{missing:?}"
    );

    // unlink, then delete with cascade: deleting Bob deletes his todos (onDelete: cascade).
    db.transact(todos::unlink(&t1).tags(&work)).await.unwrap();
    db.transact(profiles::delete(&bob)).await.unwrap();
    let left: Vec<(Todos, Vec<Tags>)> = db.query(todos::query().with(todos::tags)).await.unwrap();
    let mut titles: Vec<&str> = left.iter().map(|(t, _)| t.title.as_str()).collect();
    titles.sort();
    assert_eq!(titles, ["Read", "Write"]);
    assert!(left.iter().all(|(_, tags)| tags.is_empty()));
    db.transact(todos::delete(&t2)).await.unwrap();
    let left: Vec<Todos> = db.query(todos::query()).await.unwrap();
    assert_eq!(left.len(), 1);
}

fn todos_of_status(status: TodosStatus) -> instant_admin::typed::Nested<profiles::fields::todos> {
    profiles::todos
        .query()
        .filter(todos::status.eq(status))
        .limit(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_applies_the_rules_to_typed_queries() {
    let (_srv, db) = start();
    let ann: Id<Profiles> = Id::new();
    let t1: Id<Todos> = Id::new();
    let t2: Id<Todos> = Id::new();
    db.transact((
        profiles::update(&ann).email("ann@x.io").name("Ann"),
        todos::create(&t1, new_todo("Mine", TodosStatus::Open, 1.0)),
        todos::create(&t2, new_todo("Nobody's", TodosStatus::Open, 1.0)),
        todos::link(&t1).owner(&ann),
    ))
    .await
    .unwrap();
    let token = db.auth().create_token("ann@x.io").await.unwrap();

    let as_email: Vec<Todos> = db
        .as_user(AsUser::Email("ann@x.io".into()))
        .query(todos::query())
        .await
        .unwrap();
    assert_eq!(
        as_email
            .iter()
            .map(|t| t.title.as_str())
            .collect::<Vec<_>>(),
        ["Mine"]
    );

    let as_token: Vec<Todos> = db
        .as_user(AsUser::Token(token))
        .query(todos::query())
        .await
        .unwrap();
    assert_eq!(as_token.len(), 1);

    let as_guest: Vec<Todos> = db
        .as_user(AsUser::Guest)
        .query(todos::query())
        .await
        .unwrap();
    assert!(as_guest.is_empty());
    let profiles_as_guest: Vec<Profiles> = db
        .as_user(AsUser::Guest)
        .query(profiles::query())
        .await
        .unwrap();
    assert_eq!(profiles_as_guest.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compiled_schema_matches_the_server_until_it_drifts() {
    let (_srv, db) = start();
    let drift = db.schema_drift(schema::SCHEMA_JSON).await.unwrap();
    assert_eq!(drift, vec![], "{drift:?}");

    // An untyped write auto-creates an attribute the schema does not have.
    let id = instant_admin::id();
    db.transact(instant_admin::Step::update(
        "tags",
        &id,
        json!({"label": "x", "colour": "red"}),
    ))
    .await
    .unwrap();
    let drift = db.schema_drift(schema::SCHEMA_JSON).await.unwrap();
    assert_eq!(
        drift,
        vec![instant_admin::SchemaDrift::ExtraAttr {
            namespace: "tags".into(),
            attr: "colour".into()
        }]
    );

    // A server whose app was pushed another schema.
    let other = LocalServer::start(instant_local::Config::default().schema_json(json!({
        "entities": {
            "todos": {"attrs": {
                "title": {"valueType": "string", "required": true, "config": {"indexed": true, "unique": false}},
                "completed": {"valueType": "boolean", "required": true, "config": {"indexed": true, "unique": false}}}},
            "profiles": {"attrs": {}}},
        "links": {}})))
    .expect("instant-local starts");
    let db =
        Instant::new(Config::new(other.app_id(), other.admin_token()).api_uri(other.base_url()))
            .unwrap();
    let drift: Vec<String> = db
        .schema_drift(schema::SCHEMA_JSON)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    for expected in [
        "`todos.title`: indexed is false in the schema but true on the server",
        "`todos.status` is in the schema but not on the server",
        "`profiles.email` is in the schema but not on the server",
        "namespace `tags` is in the schema but not on the server",
        "link `todos.owner` <-> `profiles.todos` is in the schema but not on the server",
    ] {
        assert!(
            drift.iter().any(|d| d == expected),
            "{expected} in {drift:#?}"
        );
    }
    assert!(
        !drift.iter().any(|d| d.contains("todos.completed")),
        "{drift:#?}"
    );
}
