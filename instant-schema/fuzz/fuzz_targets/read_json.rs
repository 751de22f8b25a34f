//! Any text given to the JSON readers (schema and rules) must give a value or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = Path::new("fuzz/schema.json");
        if let Ok(l) = instant_schema::parse_json(text, path) {
            // what we print reads back to the same schema
            let json = l.schema.to_json();
            let again = instant_schema::from_json_value(&json).map(|s| s.to_json());
            assert_eq!(again.ok(), Some(json));
        }
        let _ = instant_schema::perms::parse_json(text, path);
    }
});
