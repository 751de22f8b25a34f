mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}

#[derive(instant_admin::Entity)]
#[instant(entity = "tags", schema = "../../../../tests/ui/app.schema.ts")]
struct Tag {
    label: String,
}

#[derive(instant_admin::Entity)]
#[instant(entity = "todos", schema = "../../../../tests/ui/app.schema.ts")]
struct Card {
    owner: Option<Tag>,
}

fn main() {}
