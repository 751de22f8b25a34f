//! Fixture schemas and rules: each is read by this crate and compared with its expected JSON
//! (`<fixture>.expected.json` next to it), and evaluated by the official @instantdb/core 1.0.67 (through
//! node + esbuild, one process for all fixtures) and compared with `instant-schema print`.
//!
//! Set `INSTANT_SCHEMA_BLESS=1` to (re)write the expected files from this crate's output.

use instant_schema::perms::{self, Action};
use instant_schema::{read_file, Has, ValueType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate is inside the repository")
        .to_path_buf()
}

/// Top-level fixture files (helper modules live in subfolders).
fn fixture_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !name(p).ends_with(".expected.json"))
        .collect();
    files.sort();
    files
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn is_perms(p: &Path) -> bool {
    name(p).contains(".perms.")
}

fn print_with_binary(file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_instant-schema"))
        .arg("print")
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "instant-schema print {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn read_with_library(file: &Path) -> Value {
    if is_perms(file) {
        perms::read_file(file)
            .unwrap_or_else(|e| panic!("{e}"))
            .to_json()
    } else {
        read_file(file)
            .unwrap_or_else(|e| panic!("{e}"))
            .schema
            .to_json()
    }
}

#[test]
fn every_fixture_matches_its_expected_json() {
    let bless = std::env::var_os("INSTANT_SCHEMA_BLESS").is_some();
    let files = fixture_files();
    assert!(files.len() >= 15, "fixtures are missing");
    for file in files {
        let got = read_with_library(&file);
        let expected_path = fixtures_dir().join(format!("{}.expected.json", name(&file)));
        if bless {
            let text = serde_json::to_string_pretty(&got).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let expected: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            got,
            expected,
            "{} differs from its expected JSON",
            name(&file)
        );
        // the binary prints the same JSON
        assert_eq!(print_with_binary(&file), expected, "{}", name(&file));
    }
}

/// Evaluate files with the official package; returns file argument -> Ok(json) | Err(message).
fn evaluate_with_official_package(args: &[String]) -> BTreeMap<String, Result<Value, String>> {
    let root = repo_root();
    let node_modules = root.join("node/node_modules");
    assert!(
        node_modules.join("@instantdb/core").is_dir() && node_modules.join("esbuild").is_dir(),
        "run `npm ci --prefix node` first"
    );
    let out = Command::new("node")
        .arg(fixtures_dir().join("../support/evaluate.mjs"))
        .arg(&node_modules)
        .args(args)
        .output()
        .expect("node must be on PATH");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all: BTreeMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    all.into_iter()
        .map(|(k, v)| {
            let r = match v.get("ok") {
                Some(ok) => Ok(ok.clone()),
                None => Err(v["error"].as_str().unwrap_or("").to_string()),
            };
            (k, r)
        })
        .collect()
}

/// The legacy 3-argument `i.graph(appId, entities, links)` crashes the current official package
/// (schema-formats.md §1.10), so that fixture is only compared with its expected JSON above.
const CRASHES_OFFICIAL_PACKAGE: &str = "legacy-graph-appid.schema.ts";

#[test]
fn fixtures_match_the_official_package() {
    let mut args = Vec::new();
    for f in fixture_files() {
        let n = name(&f);
        let ext = f.extension().unwrap().to_string_lossy().into_owned();
        if ext == "json" {
            // defs-shaped JSON forms are rebuilt with the package's parseSchemaFromJSON
            if !is_perms(&f) && !n.starts_with("api") {
                args.push(format!("json:{}", f.display()));
            }
        } else {
            args.push(f.display().to_string());
        }
    }
    let results = evaluate_with_official_package(&args);
    let mut compared = 0;
    for (arg, result) in &results {
        let path = Path::new(arg.strip_prefix("json:").unwrap_or(arg));
        if name(path) == CRASHES_OFFICIAL_PACKAGE {
            let err = result
                .as_ref()
                .expect_err("the official package crashes on it");
            assert!(err.contains("Cannot read properties of undefined"), "{err}");
            continue;
        }
        let official = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{arg}: the official package failed: {e}"));
        let mut ours = print_with_binary(path);
        if arg.starts_with("json:") {
            // parseSchemaFromJSON always builds an i.schema (rooms {} when absent)
            ours.as_object_mut()
                .unwrap()
                .entry("rooms")
                .or_insert_with(|| serde_json::json!({}));
        }
        assert_eq!(&ours, official, "{arg}: differs from @instantdb/core");
        compared += 1;
    }
    assert!(compared >= 15, "only {compared} fixtures compared");
}

#[test]
fn type_parameters_keep_raw_text_and_literal_sets() {
    let l = read_file(&fixtures_dir().join("modifiers.schema.ts")).unwrap();
    let todos = &l.schema.entities["todos"];
    let tp = |a: &str| todos.attrs[a].type_param.clone().unwrap();
    let lits = |a: &str| tp(a).literals.unwrap();
    assert_eq!(lits("status"), ["todo", "in-progress", "done"]);
    assert_eq!(lits("kind"), ["bug", "feature"]);
    assert_eq!(tp("kind").raw, "| 'bug' | 'feature'");
    assert_eq!(lits("priority"), ["low", "medium", "high"]); // imported type alias
    assert_eq!(lits("level"), ["todo", "in-progress", "done", "archived"]);
    assert_eq!(lits("escaped"), ["it's", "say \"hi\"", "café"]);
    assert_eq!(lits("type"), ["a"]);
    assert_eq!(tp("meta").raw, "{ tags: string[]; owner: { id: string } }");
    assert_eq!(tp("meta").literals, None);
    assert_eq!(tp("parts").raw, "Array<Map<string, Array<number>>>");
    assert_eq!(tp("callback").raw, "(x: number) => void");
    assert_eq!(tp("shape").literals, None);
    assert!(todos.attrs["title"].type_param.is_none());
    // modifiers
    let done = &todos.attrs["done"];
    assert!(done.client_required && !done.required);
    let code = &todos.attrs["code"];
    assert!(code.unique && code.indexed && !code.required);
    assert_eq!(todos.attrs["anything"].value_type, ValueType::Any);
    assert_eq!(todos.attrs["dueAt"].value_type, ValueType::Date);
    // names that are not Rust identifiers are kept
    for n in ["e2e-logging", "disabled?", "type", "id", "computed"] {
        assert!(todos.attrs.contains_key(n), "{n}");
    }
    // locations point at the keys
    let loc = todos.attrs["status"].loc.clone().unwrap();
    assert_eq!((loc.line, loc.col), (19, 7));
}

#[test]
fn modular_schema_follows_imports() {
    let l = read_file(&fixtures_dir().join("modular.schema.ts")).unwrap();
    let names: Vec<&str> = l.schema.entities.keys().map(String::as_str).collect();
    assert_eq!(names, ["members", "sessions", "tasks", "settings"]);
    let p = l.schema.entities["tasks"].attrs["priority"]
        .type_param
        .clone()
        .unwrap();
    assert_eq!(p.literals.unwrap(), ["low", "medium", "high"]);
    let loc = l.schema.entities["sessions"].loc.clone().unwrap();
    assert!(loc.file.ends_with("modules/auth.schema.ts"));
    let end = l.schema.link_end("members", "sessions").unwrap();
    assert_eq!(
        (end.target, end.has, end.is_forward),
        ("sessions", Has::Many, false)
    );
}

#[test]
fn warnings_are_reported_where_the_official_package_accepts_input() {
    let l = read_file(&fixtures_dir().join("system.schema.ts")).unwrap();
    let msgs: Vec<String> = l.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert!(msgs[0].contains("unknown key `optional` in link `avatarFile` forward"));
    assert!(msgs[2].contains("`required` on the reverse side"));
    let side = &l.schema.links["avatarFile"].forward;
    assert_eq!(side.extra["note"], serde_json::json!({ "why": "kept" }));
}

#[test]
fn legacy_graph_has_no_rooms_and_with_room_schema_gives_empty_rooms() {
    let dir = fixtures_dir();
    assert!(read_file(&dir.join("graph-no-rooms.schema.ts"))
        .unwrap()
        .schema
        .rooms
        .is_none());
    assert!(read_file(&dir.join("legacy-graph-appid.schema.ts"))
        .unwrap()
        .schema
        .rooms
        .is_none());
    let r = read_file(&dir.join("legacy-graph.schema.ts"))
        .unwrap()
        .schema
        .rooms;
    assert_eq!(r.map(|r| r.len()), Some(0));
    let r = read_file(&dir.join("with-room-schema.schema.ts"))
        .unwrap()
        .schema
        .rooms;
    assert_eq!(r.map(|r| r.len()), Some(0));
}

#[test]
fn json_forms_read_to_the_same_schema() {
    let dir = fixtures_dir();
    let api = read_file(&dir.join("api.schema.json")).unwrap().schema;
    let nested = read_file(&dir.join("api-nested.schema.json"))
        .unwrap()
        .schema;
    assert_eq!(api, nested);
    // hidden system attributes are dropped, pull-style link names are generated
    assert!(!api.entities["$files"].attrs.contains_key("size"));
    assert_eq!(
        api.entities["posts"].attrs["meta"].value_type,
        ValueType::Any
    );
    let l = &api.links["postsAuthor"];
    assert_eq!(
        (l.forward.required, l.forward.on_delete_cascade),
        (Some(true), true)
    );
    let l = &api.links["profilesAvatar"];
    assert_eq!(
        (l.reverse.has, l.reverse.on_delete_cascade),
        (Has::One, true)
    );
    // from_json_value accepts the conformance-cases form
    let text = std::fs::read_to_string(dir.join("conformance.schema.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let s = instant_schema::from_json_value(&v).unwrap();
    assert_eq!(
        s.to_json(),
        read_file(&dir.join("conformance.schema.json"))
            .unwrap()
            .schema
            .to_json()
    );
    // and every distinct schema of the reference conformance-cases.json (copied to tests/data)
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conformance-schemas.json"),
    )
    .unwrap();
    let schemas: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(schemas.len() > 10);
    for v in &schemas {
        let s = instant_schema::from_json_value(v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.entities.len(), v["entities"].as_object().unwrap().len());
        assert_eq!(
            s.links.len(),
            v.get("links")
                .and_then(Value::as_object)
                .map_or(0, |l| l.len())
        );
    }
}

#[test]
fn perms_lookups() {
    let rules = perms::read_file(&fixtures_dir().join("basic.perms.ts")).unwrap();
    assert_eq!(rules.rule("todos", Action::View), Some("true"));
    assert_eq!(
        rules.rule("todos", Action::Update),
        Some("auth.id != null && auth.id == data.creator || 'admin' in auth.ref('$user.role')")
    );
    // namespace without the action -> top-level $default
    assert_eq!(rules.rule("$users", Action::Delete), Some("false"));
    assert_eq!(rules.rule("unknown", Action::Create), Some("false"));
    assert_eq!(rules.rule("$files", Action::View), Some("true"));
    assert_eq!(rules.link_rule("todos", "tags"), Some("isOwner"));
    assert_eq!(rules.link_rule("todos", "other"), Some("false"));
    assert_eq!(rules.unlink_rule("todos", "other"), None);
    assert_eq!(rules.field_rule("todos", "secret"), Some("isOwner"));
    assert_eq!(rules.attrs_create_rule(), Some("false"));
    let binds = rules.binds("todos");
    assert_eq!(binds[0], ("isLoggedIn", "auth.id != null"));
    assert_eq!(binds[1].0, "isOwner");
    assert_eq!(binds.len(), 3);
    let limits = &rules.rate_limits["signups"];
    assert_eq!(limits[0].capacity, 10.0);
    assert_eq!(
        limits[0].refill.as_ref().unwrap().period.as_deref(),
        Some("1 hour")
    );

    let legacy = perms::read_file(&fixtures_dir().join("legacy.perms.ts")).unwrap();
    assert_eq!(legacy.rule("goals", Action::Update), Some("false"));
    assert_eq!(
        legacy.binds("goals"),
        [("isCreator", "auth.id in data.ref('creator.id')")]
    );
    assert_eq!(legacy.rule("other", Action::View), None);

    let helpers = perms::read_file(&fixtures_dir().join("helpers.perms.ts")).unwrap();
    assert_eq!(
        helpers.rule("posts", Action::Create),
        Some("auth.id != null")
    );
    assert_eq!(helpers.rule("profiles", Action::Delete), Some("false"));
    assert_eq!(helpers.rule("profiles", Action::Create), None);
    assert_eq!(helpers.rule("$streams", Action::Delete), Some("true"));
    assert_eq!(
        helpers.field_rule("profiles", "phone-number"),
        Some("isOwner || auth.email in data.ref('friends.email')")
    );
    assert_eq!(
        helpers.binds("posts"),
        [("isOwner", "auth.id == data.ownerId")]
    );

    let json = perms::read_file(&fixtures_dir().join("rules.perms.json")).unwrap();
    assert_eq!(json.rule("posts", Action::Create), Some("false"));
    assert_eq!(json.rule("comments", Action::View), Some("false"));
    let again = perms::Rules::from_json_value(&json.to_json()).unwrap();
    assert_eq!(again, json);
}

#[test]
fn system_namespaces() {
    let sys = instant_schema::system_schema();
    assert_eq!(
        sys.entities.keys().collect::<Vec<_>>(),
        ["$users", "$files", "$streams"]
    );
    assert!(sys.validate().is_empty());
    let l = read_file(&fixtures_dir().join("basic.schema.ts"))
        .unwrap()
        .schema;
    let with = l.with_system_namespaces();
    assert!(with.entities.contains_key("$streams"));
    assert_eq!(
        with.link_end("$files", "$stream").unwrap().target,
        "$streams"
    );
    assert_eq!(
        with.link_end("$users", "linkedPrimaryUser").unwrap().has,
        Has::One
    );
    // user declarations are kept
    let s = read_file(&fixtures_dir().join("system.schema.ts"))
        .unwrap()
        .schema;
    let with = s.with_system_namespaces();
    assert!(with.entities["$users"].attrs.contains_key("nickname"));
    assert_eq!(with.entities["$streams"].attrs.len(), 4);
    assert_eq!(with.links["profileUser"], s.links["profileUser"]);
    assert!(with.validate().is_empty());
}

#[test]
fn check_command_exit_codes() {
    let bin = env!("CARGO_BIN_EXE_instant-schema");
    let ok = Command::new(bin)
        .args(["check"])
        .arg(fixtures_dir().join("system.schema.ts"))
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stderr).contains("warning: "));
    let dir = std::env::temp_dir().join(format!("instant-schema-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("instant.schema.ts");
    std::fs::write(&bad, "import { i } from '@instantdb/core';\nexport default i.schema({ entities: { a: i.entity({ x: i.strin() }) } });\n").unwrap();
    let out = Command::new(bin).arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("instant.schema.ts:2:58: unknown attribute constructor `i.strin()`"),
        "{err}"
    );
    assert!(
        err.contains("\n                                                         ^^^^^\n"),
        "{err}"
    );
    let out = Command::new(bin).arg("print").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn file_kind_is_detected_by_name_then_content() {
    use instant_schema::{detect_kind, FileKind};
    let p = Path::new;
    assert_eq!(detect_kind(p("instant.perms.ts"), ""), FileKind::Perms);
    assert_eq!(
        detect_kind(p("instant.schema.ts"), "allow"),
        FileKind::Schema
    );
    assert_eq!(
        detect_kind(p("x.ts"), "export default i.schema({ entities: {} })"),
        FileKind::Schema
    );
    assert_eq!(
        detect_kind(
            p("x.ts"),
            "export default { a: { allow: { view: 'true' } } }"
        ),
        FileKind::Perms
    );
    assert_eq!(
        detect_kind(p("x.json"), r#"{"blobs": {}, "refs": {}}"#),
        FileKind::Schema
    );
    assert_eq!(
        detect_kind(p("x.json"), r#"{"todos": {"allow": {}}}"#),
        FileKind::Perms
    );
    // the binary prints rules for a rules file that is not named like one
    let dir = std::env::temp_dir().join(format!("instant-schema-kind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("config.ts");
    std::fs::write(
        &f,
        "export default { todos: { allow: { view: 'auth.id != null' } } };\n",
    )
    .unwrap();
    assert_eq!(
        print_with_binary(&f),
        serde_json::json!({ "todos": { "allow": { "view": "auth.id != null" } } })
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `to_defs_string` is `to_json` without its derived parts (`isIndexed`, `metadata`, each
/// entity's `links`, rooms), and reads back into the same entities and links.
#[test]
fn defs_string_is_the_json_form_without_derived_parts() {
    for file in fixture_files().into_iter().filter(|f| !is_perms(f)) {
        let schema = read_file(&file).unwrap_or_else(|e| panic!("{e}")).schema;
        let defs: Value = serde_json::from_str(&schema.to_defs_string()).unwrap();
        let mut full = schema.to_json();
        if let Some(m) = full.as_object_mut() {
            m.remove("rooms");
        }
        for entity in full["entities"].as_object_mut().unwrap().values_mut() {
            entity.as_object_mut().unwrap().remove("links");
            for attr in entity["attrs"].as_object_mut().unwrap().values_mut() {
                let attr = attr.as_object_mut().unwrap();
                attr.remove("isIndexed");
                attr.remove("metadata");
            }
        }
        for link in full["links"].as_object_mut().unwrap().values_mut() {
            for side in ["forward", "reverse"] {
                let side = link[side].as_object_mut().unwrap();
                side.retain(|k, _| {
                    matches!(k.as_str(), "on" | "has" | "label" | "required" | "onDelete")
                });
            }
        }
        assert_eq!(defs, full, "{}", name(&file));
        let again = instant_schema::from_json_value(&defs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            again.entities.len(),
            schema.entities.len(),
            "{}",
            name(&file)
        );
        assert_eq!(again.links.len(), schema.links.len(), "{}", name(&file));
    }
}
