//! The InstantDB schema: one model ([`Schema`]) and its readers.
//!
//! Readers for `instant.schema.ts`, the JSON forms of a schema and `instant.perms.ts` land with the
//! workspace issue; see README.md for what works today.

pub mod model;

pub use model::{Attr, Entity, Has, Link, LinkEnd, LinkSide, Loc, Room, Schema, TypeParam, ValueType};
