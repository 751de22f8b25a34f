mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}
use instant_admin::typed::Id;
use schema::{todos, Todos};

fn main() {
    let other: Id<Todos> = Id::new();
    let _ = todos::link(&other).owner(other.clone());
}
