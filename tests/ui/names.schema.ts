// Attribute, link and entity names that generated code must not trip over: names of the bindings,
// parameters and generics it writes, and rows named like prelude types.
import { i } from "@instantdb/admin";

const _schema = i.schema({
  entities: {
    settings: i.entity({
      key: i.string().unique().indexed(),
      value: i.json(),
      target: i.string().optional(),
      new: i.boolean().optional(),
      map: i.number().indexed(),
      v: i.string().optional(),
      w: i.string().optional(),
      l: i.string().optional(),
      f: i.string().optional(),
      d: i.date().optional(),
      m: i.string<"a" | "b">().optional(),
      out: i.string().optional(),
      attrs: i.string().optional(),
      wire: i.string().optional(),
      missing: i.string().optional(),
      slots: i.string().optional(),
      deserializer: i.string().optional(),
      self: i.string().optional(),
    }),
    option: i.entity({ some: i.string().optional() }),
    string: i.entity({ none: i.number().optional() }),
    d: i.entity({ ok: i.boolean().optional() }),
    m: i.entity({ err: i.string().optional() }),
  },
  links: {
    settingsOption: {
      forward: { on: "settings", has: "one", label: "opt" },
      reverse: { on: "option", has: "many", label: "target" },
    },
    settingsString: {
      forward: { on: "settings", has: "many", label: "strs" },
      reverse: { on: "string", has: "one", label: "l" },
    },
  },
});

export default _schema;
