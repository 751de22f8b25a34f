// Permission rules of the examples. Admin requests bypass them; impersonated ones (`as_user`) and
// client apps are checked against them. Push with `npx instant-cli push perms`.
import type { InstantRules } from "@instantdb/admin";

const rules = {
  posts: {
    allow: {
      // Everyone sees published posts; authors also see their drafts.
      view: "data.published == true || auth.email in data.ref('author.email')",
      create: "auth.id != null",
      update: "auth.email in data.ref('author.email')",
      delete: "auth.email in data.ref('author.email')",
    },
  },
  comments: {
    allow: {
      view: "true",
      create: "auth.id != null",
      update: "auth.email in data.ref('author.email')",
      delete: "auth.email in data.ref('author.email')",
    },
  },
  profiles: {
    allow: { view: "true", update: "auth.email == data.email" },
  },
  todos: {
    allow: { view: "auth.id != null" },
  },
  orders: {
    allow: { view: "auth.email in data.ref('customer.email')" },
  },
} satisfies InstantRules;

export default rules;
