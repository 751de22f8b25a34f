mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}

#[derive(instant_admin::Entity)]
#[instant(entity = "todos", schema = "../../../../tests/ui/app.schema.ts")]
struct Card {
    titel: String,
    ownr: Option<Card>,
}

fn main() {}
