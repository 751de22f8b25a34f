#[allow(dead_code)]
mod schema {
    instant_admin::include_schema!("../../../../tests/ui/app.schema.ts");
}

#[derive(instant_admin::Entity)]
#[instant(entity = "todo", schema = "../../../../tests/ui/app.schema.ts")]
struct Card {
    title: String,
}

fn main() {}
