mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use schema::{profiles, todos};

fn main() {
    let _ = todos::query().filter(todos::title.gt("m"));
    let _ = profiles::query().filter(profiles::prefs.lt(3));
}
