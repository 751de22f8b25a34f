import { i } from "@instantdb/admin";

const _schema = i.schema({
  entities: {
    todos: i.entity({
      title: i.strng(),
    }),
  },
});

export default _schema;
