mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use schema::profiles;

fn main() {
    let _ = profiles::update(profiles::name.lookup("Ann"));
}
