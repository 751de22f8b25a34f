mod schema {
    instant_admin::include_schema!("../../../../tests/ui/broken.schema.ts");
}

fn main() {}
