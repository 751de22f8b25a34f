// The schema of every example: todos, a small blog (profiles, posts, comments, tags) and a shop
// (orders and their items). Push it to a real app with `npx instant-cli push schema`.
import { i } from "@instantdb/admin";

const _schema = i.schema({
  entities: {
    todos: i.entity({
      text: i.string(),
      done: i.boolean().indexed(),
      priority: i.number().indexed(),
      dueDate: i.date().indexed().optional(),
      batch: i.string().indexed().optional(),
    }),
    profiles: i.entity({
      email: i.string().unique().indexed(),
      handle: i.string().unique().indexed(),
      bio: i.string().optional(),
    }),
    posts: i.entity({
      title: i.string(),
      body: i.string(),
      published: i.boolean().indexed(),
      createdAt: i.date().indexed(),
    }),
    comments: i.entity({
      body: i.string(),
      createdAt: i.date().indexed(),
    }),
    tags: i.entity({
      label: i.string().unique().indexed(),
    }),
    orders: i.entity({
      number: i.string().unique().indexed(),
      status: i.string<"pending" | "processed" | "error">().indexed(),
      createdAt: i.date().indexed(),
      total: i.number().optional(),
      error: i.string().optional(),
    }),
    items: i.entity({
      name: i.string(),
      quantity: i.number(),
      price: i.number(),
      expiresAt: i.date().indexed().optional(),
    }),
  },
  links: {
    postAuthor: {
      forward: { on: "posts", has: "one", label: "author" },
      reverse: { on: "profiles", has: "many", label: "posts" },
    },
    commentPost: {
      forward: { on: "comments", has: "one", label: "post", onDelete: "cascade" },
      reverse: { on: "posts", has: "many", label: "comments" },
    },
    commentAuthor: {
      forward: { on: "comments", has: "one", label: "author" },
      reverse: { on: "profiles", has: "many", label: "comments" },
    },
    postTags: {
      forward: { on: "posts", has: "many", label: "tags" },
      reverse: { on: "tags", has: "many", label: "posts" },
    },
    orderCustomer: {
      forward: { on: "orders", has: "one", label: "customer" },
      reverse: { on: "profiles", has: "many", label: "orders" },
    },
    orderItems: {
      forward: { on: "orders", has: "many", label: "items" },
      reverse: { on: "items", has: "one", label: "order" },
    },
  },
});

export default _schema;
