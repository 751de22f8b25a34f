//! The rendered error output (`FILE:LINE:COL: message`, source line, caret) for malformed inputs,
//! one snapshot per error class.

use instant_schema::{parse_json, parse_ts, perms};
use std::path::Path;

const HEAD: &str = "import { i } from \"@instantdb/core\";\n";

fn ts_error(name: &str, body: &str) -> String {
    let src = format!("{HEAD}{body}");
    match parse_ts(&src, Path::new(&format!("bad/{name}.schema.ts"))) {
        Ok(l) => panic!("{name}: expected an error, got {:?}", l.schema),
        Err(e) => e.to_string(),
    }
}

fn schema(entities: &str, links: &str) -> String {
    format!("export default i.schema({{\n  entities: {{\n{entities}\n  }},\n  links: {{\n{links}\n  }},\n}});\n")
}

macro_rules! ts_case {
    ($name:ident, $body:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(stringify!($name), ts_error(stringify!($name), &$body));
        }
    };
}

ts_case!(
    truncated_file,
    "const _schema = i.schema({\n  entities: {\n    todos: i.entity({\n      title: i.string(),\n"
);
ts_case!(
    unbalanced_brackets,
    "const _schema = i.schema({\n  entities: {\n    todos: i.entity({ title: i.string() )),\n  },\n});\nexport default _schema;\n"
);
ts_case!(
    unknown_constructor,
    schema("    todos: i.entity({ title: i.text() }),", "")
);
ts_case!(
    unknown_modifier,
    schema(
        "    todos: i.entity({\n      title: i.string().optional().required(),\n    }),",
        ""
    )
);
ts_case!(
    duplicate_attribute,
    schema(
        "    todos: i.entity({\n      title: i.string(),\n      title: i.number(),\n    }),",
        ""
    )
);
ts_case!(
    duplicate_entity,
    schema("    todos: i.entity({}),\n    \"todos\": i.entity({}),", "")
);
ts_case!(
    link_label_collides_with_attribute,
    schema(
        "    todos: i.entity({ owner: i.string() }),\n    users: i.entity({}),",
        "    todosOwner: {\n      forward: { on: 'todos', has: 'one', label: 'owner' },\n      reverse: { on: 'users', has: 'many', label: 'todos' },\n    },"
    )
);
ts_case!(
    link_label_collides_with_other_link,
    schema(
        "    todos: i.entity({}),\n    users: i.entity({}),",
        "    a: {\n      forward: { on: 'todos', has: 'one', label: 'owner' },\n      reverse: { on: 'users', has: 'many', label: 'todos' },\n    },\n    b: {\n      forward: { on: 'todos', has: 'many', label: 'owner' },\n      reverse: { on: 'users', has: 'many', label: 'ownedTodos' },\n    },"
    )
);
ts_case!(
    link_to_unknown_namespace,
    schema(
        "    todos: i.entity({}),",
        "    todosOwner: {\n      forward: { on: 'todos', has: 'one', label: 'owner' },\n      reverse: { on: 'user', has: 'many', label: 'todos' },\n    },"
    )
);
ts_case!(
    link_to_undeclared_system_namespace,
    schema(
        "    todos: i.entity({}),",
        "    todosOwner: {\n      forward: { on: 'todos', has: 'one', label: 'owner' },\n      reverse: { on: '$users', has: 'many', label: 'todos' },\n    },"
    )
);
ts_case!(
    on_delete_on_has_many_side,
    schema(
        "    todos: i.entity({}),\n    users: i.entity({}),",
        "    todosOwner: {\n      forward: { on: 'todos', has: 'one', label: 'owner' },\n      reverse: { on: 'users', has: 'many', label: 'todos', onDelete: 'cascade' },\n    },"
    )
);
ts_case!(
    has_not_one_or_many,
    schema(
        "    todos: i.entity({}),\n    users: i.entity({}),",
        "    todosOwner: {\n      forward: { on: 'todos', has: 'single', label: 'owner' },\n      reverse: { on: 'users', has: 'many', label: 'todos' },\n    },"
    )
);
ts_case!(
    link_side_missing_label,
    schema(
        "    todos: i.entity({}),\n    users: i.entity({}),",
        "    todosOwner: {\n      forward: { on: 'todos', has: 'one' },\n      reverse: { on: 'users', has: 'many', label: 'todos' },\n    },"
    )
);
ts_case!(
    unknown_system_namespace,
    schema("    $posts: i.entity({ title: i.string() }),", "")
);
ts_case!(
    required_attribute_on_system_namespace,
    schema("    $users: i.entity({ nickname: i.string() }),", "")
);
ts_case!(
    required_link_on_system_namespace,
    schema(
        "    $users: i.entity({}),\n    teams: i.entity({}),",
        "    usersTeam: {\n      forward: { on: '$users', has: 'one', label: 'team', required: true },\n      reverse: { on: 'teams', has: 'many', label: 'members' },\n    },"
    )
);
ts_case!(
    missing_schema_variable,
    "const _schema = i.schema({ entities: {} });\nexport default schema;\n"
);
ts_case!(
    no_schema_found,
    "// nothing here yet\nexport type Todo = { title: string };\n"
);
ts_case!(
    unresolvable_import,
    "import { entities } from './entities';\nexport default i.schema({ entities });\n"
);
ts_case!(
    identifier_from_a_package,
    "import { entities } from 'my-shared-schema';\nexport default i.schema({ entities });\n"
);
ts_case!(
    lookalike_define_schema,
    "export default defineSchema({\n  namespaces: { todos: i.namespace({ fields: {} }) },\n});\n"
);
ts_case!(
    lookalike_string_arguments,
    schema(
        "    todos: i.entity({ status: i.string(['todo', 'done']) }),",
        ""
    )
);
ts_case!(
    unterminated_string,
    schema("    todos: i.entity({ title: i.string<'a | 'b'>() }),", "")
);
ts_case!(
    template_with_substitution,
    schema(
        "    todos: i.entity({}),",
        "    l: { forward: { on: `${x}`, has: 'one', label: 'a' } },"
    )
);
ts_case!(
    type_argument_on_number,
    schema("    todos: i.entity({ n: i.number<1 | 2>() }),", "")
);
ts_case!(
    graph_with_wrong_arguments,
    "export default i.graph({}, {}, {}, {});\n"
);
ts_case!(
    unsupported_expression,
    schema(
        "    todos: i.entity({ title: flag ? i.string() : i.number() }),",
        ""
    )
);
ts_case!(not_a_schema, "export default { entities: {} };\n");

#[test]
fn json_syntax_error() {
    let src = "{\n  \"entities\": {\n    \"todos\": { \"attrs\": {} },\n  }\n}\n";
    let e = parse_json(src, Path::new("bad/schema.json")).unwrap_err();
    insta::assert_snapshot!("json_syntax_error", e.to_string());
}

#[test]
fn json_link_to_unknown_namespace() {
    let src = r#"{
  "entities": { "todos": { "attrs": {} } },
  "links": {
    "todosOwner": {
      "forward": { "on": "todos", "has": "one", "label": "owner" },
      "reverse": { "on": "users", "has": "many", "label": "todos" }
    }
  }
}
"#;
    let e = parse_json(src, Path::new("bad/schema.json")).unwrap_err();
    insta::assert_snapshot!("json_link_to_unknown_namespace", e.to_string());
}

#[test]
fn perms_rule_not_a_string() {
    let src = "export default {\n  todos: {\n    allow: { view: 42 },\n  },\n};\n";
    let e = perms::parse_ts(src, Path::new("bad/instant.perms.ts")).unwrap_err();
    insta::assert_snapshot!("perms_rule_not_a_string", e.to_string());
}

#[test]
fn perms_odd_bind_array() {
    let src = "{\n  \"todos\": {\n    \"bind\": [\"isOwner\", \"auth.id == data.owner\", \"dangling\"]\n  }\n}\n";
    let e = perms::parse_json(src, Path::new("bad/perms.json")).unwrap_err();
    insta::assert_snapshot!("perms_odd_bind_array", e.to_string());
}

#[test]
fn perms_unknown_system_namespace_and_id_field_rule() {
    let src = "const rules = {\n  $magicCodes: { allow: { view: 'true' } },\n  todos: { fields: { id: 'false' } },\n};\nexport default rules;\n";
    let e = perms::parse_ts(src, Path::new("bad/instant.perms.ts")).unwrap_err();
    insta::assert_snapshot!(
        "perms_unknown_system_namespace_and_id_field_rule",
        e.to_string()
    );
}

#[test]
fn validate_a_schema_built_in_code() {
    use instant_schema::{Attr, Entity, Has, Link, LinkSide, Schema, ValueType};
    let side = |on: &str, label: &str, has: Has, cascade: bool| LinkSide {
        on: on.into(),
        label: label.into(),
        has,
        required: None,
        on_delete_cascade: cascade,
        extra: Default::default(),
    };
    let mut s = Schema::default();
    let mut todos = Entity::default();
    todos
        .attrs
        .insert("owner".into(), Attr::new(ValueType::String));
    s.entities.insert("todos".into(), todos);
    s.entities.insert("$things".into(), Entity::default());
    s.links.insert(
        "todosOwner".into(),
        Link {
            forward: side("todos", "owner", Has::One, false),
            reverse: side("users", "todos", Has::Many, true),
            loc: None,
        },
    );
    let text: Vec<String> = s.validate().iter().map(ToString::to_string).collect();
    insta::assert_snapshot!("validate_a_schema_built_in_code", text.join("\n"));
    assert_eq!(
        instant_schema::perms::Rules::default().to_json(),
        serde_json::json!({})
    );
}

ts_case!(
    missing_comma_in_object,
    schema(
        "    todos: i.entity({ title: i.string() done: i.boolean() }),",
        ""
    )
);
ts_case!(
    missing_comma_in_arguments,
    "const _schema = i.schema({ entities: {}, links: {} } { rooms: {} });\nexport default _schema;\n"
);
ts_case!(
    missing_comma_in_array,
    "const _schema = i.schema({ entities: {}, links: {}, rooms: [\"a\" \"b\"] });\nexport default _schema;\n"
);
ts_case!(file_ends_after_an_array_item, "const tags = [\"a\"");
ts_case!(
    missing_comma_in_import_list,
    "import { a b } from \"./other\";\nconst _schema = i.schema({ entities: {}, links: {} });\nexport default _schema;\n"
);
