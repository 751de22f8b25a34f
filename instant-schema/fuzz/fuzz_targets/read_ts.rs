//! Any text given to the TypeScript readers (schema and rules) must give a value or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = Path::new("fuzz/instant.schema.ts");
        if let Ok(l) = instant_schema::parse_ts(text, path) {
            let _ = l.schema.to_json();
            let _ = l.schema.with_system_namespaces().validate();
        }
        if let Ok(r) = instant_schema::perms::parse_ts(text, path) {
            let _ = r.to_json();
        }
    }
});
