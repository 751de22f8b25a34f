mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use schema::todos;

fn main() {
    let _ = todos::create(
        instant_admin::typed::Id::new(),
        todos::New {
            title: "t".into(),
            due_date: None,
            status: schema::TodosStatus::Open,
            priority: None,
            notes: None,
        },
    );
}
