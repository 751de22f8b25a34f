mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}

#[derive(instant_admin::Entity)]
#[instant(entity = "profiles", schema = "../../../../tests/ui/app.schema.ts")]
struct Person {
    name: String,
}

#[derive(instant_admin::Entity)]
#[instant(entity = "todos", schema = "../../../../tests/ui/app.schema.ts")]
struct Card {
    owner: Person,
    tags: Option<Person>,
}

fn main() {}
