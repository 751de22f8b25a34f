mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use schema::todos;

fn main() {
    let _ = todos::query().filter(todos::priority.like("1%"));
}
