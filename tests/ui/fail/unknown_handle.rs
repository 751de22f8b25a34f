mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use schema::todos;

fn main() {
    let _ = todos::query().filter(todos::titel.eq("x"));
    let _ = todos::update("00000000-0000-4000-8000-000000000001").complete(true);
}
