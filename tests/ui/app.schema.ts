// The schema every UI test compiles against.
import { i } from "@instantdb/admin";

const _schema = i.schema({
  entities: {
    todos: i.entity({
      title: i.string(),
      completed: i.boolean().indexed(),
      dueDate: i.date().indexed().optional(),
      status: i.string<"open" | "done">().indexed(),
      priority: i.number().indexed().optional(),
      notes: i.json().optional(),
    }),
    profiles: i.entity({
      email: i.string().unique().indexed(),
      name: i.string(),
      prefs: i.json().optional(),
    }),
    tags: i.entity({
      label: i.string().unique().indexed(),
    }),
  },
  links: {
    todoOwner: {
      forward: { on: "todos", has: "one", label: "owner", onDelete: "cascade" },
      reverse: { on: "profiles", has: "many", label: "todos" },
    },
    todoTags: {
      forward: { on: "todos", has: "many", label: "tags" },
      reverse: { on: "tags", has: "many", label: "todos" },
    },
  },
});

export default _schema;
