mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use schema::todos;

fn main() {
    let _ = todos::query().order(todos::title.desc());
}
