mod schema {
    instant_admin::include_schema!("no/such/instant.schema.ts");
}

fn main() {}
