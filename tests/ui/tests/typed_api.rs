//! Every typed feature compiles, builds the wire JSON the official SDK would send, and decodes
//! answers into the generated and derived types.
use instant_admin::typed::{Direction, Id, Order};
use instant_admin::{IntoSteps, Query};
use serde_json::json;

mod schema {
    instant_admin::include_schema!("app.schema.ts");
}
use schema::{profiles, tags, todos, Profiles, Tags, Todos, TodosStatus};

#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "todos", schema = "app.schema.ts")]
#[allow(dead_code)] // read through Debug and the assertions below
struct TodoCard {
    id: Id<Todos>,
    title: String,
    #[instant(rename = "dueDate")]
    due: Option<instant_admin::typed::DateTime>,
    status: TodosStatus,
    owner: Option<OwnerName>,
    tags: Vec<Tags>,
}

#[derive(instant_admin::Entity, Debug)]
#[instant(entity = "profiles", schema = "app.schema.ts")]
struct OwnerName {
    name: String,
}

#[test]
fn queries_encode_as_instaql() {
    let q = todos::query()
        .filter(
            todos::completed
                .eq(false)
                .and(todos::owner.at(profiles::email).eq("a@b.c")),
        )
        .filter(
            todos::priority
                .gte(2)
                .or(todos::status.eq(TodosStatus::Open)),
        )
        .order(todos::due_date.desc())
        .limit(10)
        .with(todos::owner)
        .with(
            todos::tags
                .query()
                .filter(tags::label.like("w%"))
                .order(tags::label.asc())
                .limit(3),
        );
    assert!(q.inference());
    assert_eq!(
        q.instaql(),
        json!({"todos": {
            "$": {
                "where": {"and": [
                    {"completed": false},
                    {"owner.email": "a@b.c"},
                    {"or": [{"priority": {"$gte": 2}}, {"status": "open"}]}
                ]},
                "order": {"dueDate": "desc"},
                "limit": 10
            },
            "owner": {},
            "tags": {"$": {"where": {"label": {"$like": "w%"}}, "order": {"label": "asc"}}}
        }})
    );
}

#[test]
fn projections_ask_for_their_fields_and_decode() {
    let cards = todos::query()
        .order(Order::created(Direction::Desc))
        .project::<TodoCard>();
    assert_eq!(
        cards.instaql(),
        json!({"todos": {
            "$": {"order": {"serverCreatedAt": "desc"}, "fields": ["title", "dueDate", "status"]},
            "owner": {"$": {"fields": ["name"]}},
            "tags": {}
        }})
    );
    let decoded: Vec<TodoCard> = cards
        .decode(json!({"todos": [{
            "id": "00000000-0000-4000-8000-000000000001", "title": "t", "dueDate": 0,
            "status": "done", "owner": {"id": "x", "name": "Ann"}, "tags": []
        }]}))
        .unwrap();
    assert_eq!(
        decoded[0].owner.as_ref().map(|o| o.name.as_str()),
        Some("Ann")
    );
    assert_eq!(decoded[0].status, TodosStatus::Done);
    assert!(decoded[0].due.is_some());
    let rows: Vec<Todos> = todos::query()
        .decode(json!({"todos": [{
            "id": "00000000-0000-4000-8000-000000000002", "title": "t", "completed": true,
            "status": "open", "dueDate": "2024-01-02T00:00:00.000Z",
            "owner": "00000000-0000-4000-8000-000000000003"
        }]}))
        .unwrap();
    assert_eq!(rows[0].title, "t");
    assert_eq!(rows[0].due_date.map(|d| d.timestamp()), Some(1_704_153_600));
    assert!(todos::query()
        .decode(json!({"todos": [{"id": "x"}]}))
        .is_err());
}

#[test]
fn transactions_encode_every_step_kind() {
    let todo: Id<Todos> = Id::new();
    let owner: Id<Profiles> = Id::new();
    let steps = (
        todos::update(&todo)
            .title("Buy milk")
            .completed(false)
            .priority(3)
            .clear_due_date(),
        todos::create(
            Id::<Todos>::new(),
            todos::New {
                title: "New".into(),
                completed: false,
                due_date: None,
                status: TodosStatus::Open,
                priority: Some(1.0),
                notes: None,
            },
        ),
        todos::link(&todo)
            .owner(profiles::email.lookup("a@b.c"))
            .tags(tags::label.lookup("work")),
        profiles::merge(profiles::email.lookup("a@b.c")).prefs(json!({"theme": "dark"})),
        todos::unlink(&todo).owner(&owner),
        todos::delete(&todo),
    )
        .into_steps();
    let wire: Vec<serde_json::Value> = steps.into_iter().map(Into::into).collect();
    assert_eq!(
        wire[0],
        json!(["update", "todos", todo.as_str(), {"title": "Buy milk", "completed": false, "priority": 3, "dueDate": null}])
    );
    assert_eq!(wire[1][0], json!("create"));
    assert_eq!(
        wire[1][3],
        json!({"title": "New", "completed": false, "status": "open", "priority": 1.0})
    );
    assert_eq!(
        wire[2],
        json!(["link", "todos", todo.as_str(), {"owner": "lookup__email__\"a@b.c\"", "tags": "lookup__label__\"work\""}])
    );
    assert_eq!(
        wire[3],
        json!(["merge", "profiles", ["email", "a@b.c"], {"prefs": {"theme": "dark"}}])
    );
    assert_eq!(
        wire[4],
        json!(["unlink", "todos", todo.as_str(), {"owner": owner.as_str()}])
    );
    assert_eq!(wire[5], json!(["delete", "todos", todo.as_str(), null]));
    assert_eq!(schema::NAMESPACES.len(), 6);
}
