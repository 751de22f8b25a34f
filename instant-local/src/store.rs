//! SQLite storage: apps, attributes and entities.
//!
//! The server's model is triples `(entity, attr, value, created_at)`; they are stored grouped:
//! - `ents(app, et, e, t, doc)`: one row per entity of a namespace (`et` is the key of the
//!   namespace's `id` attribute, `t` the entity's creation time), its cardinality-one data
//!   attributes in `doc`, a JSON object keyed by attribute key;
//! - `vals(app, a, v, e)`: the index of indexed and unique data attributes (non-null values);
//! - `refs(app, e, a, v, t)`: link triples, with an `(app, a, v)` index for reverse traversal;
//! - `stream_state(app, stream, size, parted, parts)` and `stream_chunks(app, stream, off, bytes)`:
//!   the offsets of durable streams and their bytes not yet flushed into `$files` parts.
//!
//! Values are canonical JSON text and are only ever bound as statement parameters.

use crate::attrs::{AttrDef, Attrs};
use crate::error::ApiError;
use crate::values::{encode, now_ms};
use rusqlite::{params, Connection, OptionalExtension};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS apps (
  key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
  admin_token TEXT NOT NULL, rules TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attrs (
  key INTEGER PRIMARY KEY, app INTEGER NOT NULL, def TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ents (
  app INTEGER NOT NULL, et INTEGER NOT NULL, e TEXT NOT NULL, t INTEGER NOT NULL,
  doc TEXT NOT NULL, PRIMARY KEY (app, et, e)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vals (
  app INTEGER NOT NULL, a INTEGER NOT NULL, v TEXT NOT NULL, e TEXT NOT NULL,
  PRIMARY KEY (app, a, v, e)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refs (
  app INTEGER NOT NULL, e TEXT NOT NULL, a INTEGER NOT NULL, v TEXT NOT NULL, t INTEGER NOT NULL,
  PRIMARY KEY (app, e, a, v)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS refs_av ON refs (app, a, v);
CREATE TABLE IF NOT EXISTS refresh_tokens (
  app INTEGER NOT NULL, token TEXT NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (app, token));
CREATE TABLE IF NOT EXISTS magic_codes (
  app INTEGER NOT NULL, email TEXT NOT NULL, code TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
  app INTEGER NOT NULL, location_id TEXT NOT NULL, bytes BLOB NOT NULL,
  PRIMARY KEY (app, location_id));
CREATE TABLE IF NOT EXISTS upload_urls (
  token TEXT PRIMARY KEY, app INTEGER NOT NULL, path TEXT NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stream_state (
  app INTEGER NOT NULL, stream TEXT NOT NULL, size INTEGER NOT NULL, parted INTEGER NOT NULL,
  parts INTEGER NOT NULL, PRIMARY KEY (app, stream)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stream_chunks (
  app INTEGER NOT NULL, stream TEXT NOT NULL, off INTEGER NOT NULL, bytes BLOB NOT NULL,
  PRIMARY KEY (app, stream, off)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
";

/// One app: its credentials, rules and attributes.
#[derive(Debug, Clone)]
pub struct AppMeta {
    /// Local integer key.
    pub key: i64,
    /// The app id (uuid).
    pub id: String,
    /// Title given at creation.
    pub title: String,
    /// The admin token (uuid).
    pub admin_token: String,
    /// The permission rules document, if any.
    pub rules: Option<Value>,
    /// Live attributes.
    pub attrs: Attrs,
    /// Creation time (ms).
    pub created_at: i64,
}

/// The database: one SQLite connection plus the in-memory app catalog.
pub struct Db {
    /// The connection (used under the server's mutex).
    pub conn: Connection,
    /// Apps by id.
    pub apps: HashMap<String, AppMeta>,
    /// Active webhooks and the webhook signing key.
    pub webhooks: crate::webhooks::Registry,
    last_t: i64,
    last_tx: i64,
}

impl Db {
    /// Opens (or creates) the database: in memory, or `DIR/instant-local.sqlite`.
    pub fn open(dir: Option<&Path>) -> Result<Db, rusqlite::Error> {
        let conn = match dir {
            Some(d) => Connection::open(d.join("instant-local.sqlite"))?,
            None => Connection::open_in_memory()?,
        };
        if dir.is_none() {
            // In memory, larger pages make the b-trees shallower: faster point lookups (the join
            // of a query by an indexed value). Files keep SQLite's default: every page a
            // transaction touches is written to the WAL, and small pages keep that short.
            conn.pragma_update(None, "page_size", 16384)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "wal_autocheckpoint", 16384)?;
        conn.pragma_update(None, "cache_size", -65536)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.execute_batch(SCHEMA_SQL)?;
        conn.execute_batch(crate::webhooks::SCHEMA_SQL)?;
        let webhooks = crate::webhooks::Registry::load(&conn)?;
        conn.set_prepared_statement_cache_capacity(128);
        let mut db = Db {
            conn,
            apps: HashMap::new(),
            webhooks,
            last_t: 0,
            last_tx: 0,
        };
        db.load()?;
        Ok(db)
    }

    fn load(&mut self) -> Result<(), rusqlite::Error> {
        let mut apps = Vec::new();
        {
            let mut st = self
                .conn
                .prepare("SELECT key, id, title, admin_token, rules, created_at FROM apps")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            for row in rows {
                apps.push(row?);
            }
        }
        for (key, id, title, admin_token, rules, created_at) in apps {
            let mut list = Vec::new();
            let mut st = self
                .conn
                .prepare("SELECT key, def FROM attrs WHERE app = ?1 ORDER BY key")?;
            let rows =
                st.query_map([key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (k, def) = row?;
                if let Ok(mut a) = serde_json::from_str::<AttrDef>(&def) {
                    a.key = k;
                    list.push(a);
                }
            }
            let rules = rules.and_then(|r| serde_json::from_str(&r).ok());
            self.apps.insert(
                id.clone(),
                AppMeta {
                    key,
                    id,
                    title,
                    admin_token,
                    rules,
                    attrs: Attrs::new(list),
                    created_at,
                },
            );
        }
        let t: Option<i64> = self
            .conn
            .query_row("SELECT v FROM meta WHERE k = 'last_t'", [], |r| r.get(0))
            .optional()?;
        self.last_t = t.unwrap_or(0);
        let tx: Option<i64> = self
            .conn
            .query_row("SELECT v FROM meta WHERE k = 'last_tx'", [], |r| r.get(0))
            .optional()?;
        self.last_tx = tx.unwrap_or(0);
        Ok(())
    }

    /// Creates an app with the given attributes (system attributes must be included).
    pub fn create_app(
        &mut self,
        id: &str,
        admin_token: &str,
        title: &str,
        attrs: Vec<AttrDef>,
        rules: Option<Value>,
    ) -> Result<AppMeta, rusqlite::Error> {
        let created_at = now_ms();
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO apps (id, title, admin_token, rules, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, title, admin_token, rules.as_ref().map(encode), created_at],
        )?;
        let key = tx.last_insert_rowid();
        let mut stored = Vec::new();
        for mut a in attrs {
            a.key = 0;
            tx.execute(
                "INSERT INTO attrs (app, def) VALUES (?1, ?2)",
                params![key, serde_json::to_string(&a).unwrap_or_default()],
            )?;
            a.key = tx.last_insert_rowid();
            stored.push(a);
        }
        tx.commit()?;
        let meta = AppMeta {
            key,
            id: id.to_string(),
            title: title.to_string(),
            admin_token: admin_token.to_string(),
            rules,
            attrs: Attrs::new(stored),
            created_at,
        };
        self.apps.insert(id.to_string(), meta.clone());
        Ok(meta)
    }

    /// Adds the attributes of `attrs` that the app lacks and replaces its rules when given.
    pub fn update_app(
        &mut self,
        id: &str,
        attrs: Vec<AttrDef>,
        rules: Option<Value>,
    ) -> Result<(), rusqlite::Error> {
        let Some(meta) = self.apps.get(id).cloned() else {
            return Ok(());
        };
        let mut current = meta.attrs.clone();
        for a in attrs {
            if current.fwd(&a.etype, &a.label).is_none() {
                let a = insert_attr(&self.conn, meta.key, a)?;
                current.push(a);
            }
        }
        if let Some(r) = &rules {
            self.conn.execute(
                "UPDATE apps SET rules = ?1 WHERE key = ?2",
                params![encode(r), meta.key],
            )?;
        }
        if let Some(m) = self.apps.get_mut(id) {
            m.attrs = current;
            if rules.is_some() {
                m.rules = rules;
            }
        }
        Ok(())
    }

    /// The next transaction's timestamp (strictly increasing) and id.
    pub fn next_tx(&mut self) -> Result<(i64, i64), rusqlite::Error> {
        let t = now_ms().max(self.last_t + 1);
        self.last_t = t;
        self.last_tx += 1;
        self.conn
            .prepare_cached(
                "INSERT INTO meta (k, v) VALUES ('last_t', ?1), ('last_tx', ?2)
                 ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            )?
            .execute(params![t, self.last_tx])?;
        Ok((t, self.last_tx))
    }

    /// A stored setting.
    pub fn setting(&self, k: &str) -> Result<Option<String>, rusqlite::Error> {
        self.conn
            .query_row("SELECT v FROM settings WHERE k = ?1", [k], |r| r.get(0))
            .optional()
    }

    /// Stores a setting.
    pub fn set_setting(&self, k: &str, v: &str) -> Result<(), rusqlite::Error> {
        self.conn.execute(
            "INSERT INTO settings (k, v) VALUES (?1, ?2) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            params![k, v],
        )?;
        Ok(())
    }

    /// Replaces an app's admin token.
    pub fn set_admin_token(&mut self, app_id: &str, token: &str) -> Result<(), rusqlite::Error> {
        self.conn.execute(
            "UPDATE apps SET admin_token = ?1 WHERE id = ?2",
            params![token, app_id],
        )?;
        if let Some(a) = self.apps.get_mut(app_id) {
            a.admin_token = token.to_string();
        }
        Ok(())
    }

    /// The id of the last committed transaction.
    pub fn last_tx(&self) -> i64 {
        self.last_tx
    }

    /// Rolls the in-memory counters back after a failed transaction.
    pub fn restore_counters(&mut self, t: i64, tx: i64) {
        self.last_t = t;
        self.last_tx = tx;
    }

    /// The current counters (to restore on rollback).
    pub fn counters(&self) -> (i64, i64) {
        (self.last_t, self.last_tx)
    }
}

/// Stores one attribute and returns it with its key.
pub fn insert_attr(
    conn: &Connection,
    app: i64,
    mut a: AttrDef,
) -> Result<AttrDef, rusqlite::Error> {
    a.key = 0;
    conn.execute(
        "INSERT INTO attrs (app, def) VALUES (?1, ?2)",
        params![app, serde_json::to_string(&a).unwrap_or_default()],
    )?;
    a.key = conn.last_insert_rowid();
    Ok(a)
}

/// The first `etype` entity whose attribute `label` holds `value` (a unique attribute's lookup:
/// a file by path, a user by e-mail, a stream by client id); `None` when the attribute is unknown.
pub fn entity_by_value(
    db: &Db,
    app: &AppMeta,
    etype: &str,
    label: &str,
    value: &Value,
) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
    let Some(a) = app.attrs.fwd(etype, label) else {
        return Ok(None);
    };
    let mut r = Reader::new(&db.conn, app.key);
    for e in r.entities_with(&app.attrs, a, value)? {
        if let Some(m) = r.entity(&app.attrs, etype, &e)? {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// Deletes one attribute and its values.
pub fn delete_attr(conn: &Connection, app: i64, a: &AttrDef) -> Result<(), rusqlite::Error> {
    conn.execute(
        "DELETE FROM attrs WHERE key = ?1 AND app = ?2",
        params![a.key, app],
    )?;
    conn.execute(
        "DELETE FROM vals WHERE app = ?1 AND a = ?2",
        params![app, a.key],
    )?;
    conn.execute(
        "DELETE FROM refs WHERE app = ?1 AND a = ?2",
        params![app, a.key],
    )?;
    Ok(())
}

/// The stored row of one entity in one namespace.
#[derive(Debug, Clone)]
pub struct Ent {
    /// Creation time (ms) of the entity (its `id` triple).
    pub t: i64,
    /// Cardinality-one data attributes by attribute key.
    pub doc: Doc,
}

/// The cardinality-one data attributes of one entity, by attribute key (kept sorted by key).
///
/// Stored as a JSON object whose keys are the attribute keys in decimal. A handful of entries per
/// entity: a sorted vector is cheaper to build, search and copy than a hash map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Doc(Vec<(i64, Value)>);

impl Doc {
    /// An empty document.
    pub fn new() -> Doc {
        Doc(Vec::new())
    }

    fn pos(&self, k: i64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&k, |(key, _)| *key)
    }

    /// The value of attribute `k`.
    pub fn get(&self, k: i64) -> Option<&Value> {
        self.pos(k).ok().and_then(|i| self.0.get(i)).map(|(_, v)| v)
    }

    /// Whether attribute `k` has an entry (possibly null).
    pub fn contains_key(&self, k: i64) -> bool {
        self.pos(k).is_ok()
    }

    /// Sets attribute `k`; returns the previous value.
    pub fn insert(&mut self, k: i64, v: Value) -> Option<Value> {
        match self.pos(k) {
            Ok(i) => self
                .0
                .get_mut(i)
                .map(|slot| std::mem::replace(&mut slot.1, v)),
            Err(i) => {
                self.0.insert(i, (k, v));
                None
            }
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Value)> + '_ {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a stored document (an unreadable one reads as empty).
    pub fn parse(text: &str) -> Doc {
        serde_json::from_str::<Doc>(text).unwrap_or_default()
    }

    /// The stored text of this document.
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(16 + 24 * self.0.len());
        out.push(b'{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice(k.to_string().as_bytes());
            out.extend_from_slice(b"\":");
            if serde_json::to_writer(&mut out, v).is_err() {
                return "{}".to_string();
            }
        }
        out.push(b'}');
        String::from_utf8(out).unwrap_or_else(|_| "{}".to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Doc {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Doc, D::Error> {
        struct Key(i64);
        impl<'de> serde::Deserialize<'de> for Key {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = Key;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("an attribute key")
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key, E> {
                        s.parse().map(Key).map_err(E::custom)
                    }
                }
                d.deserialize_str(V)
            }
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Doc;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a document")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Doc, A::Error> {
                let mut doc = Doc(Vec::with_capacity(m.size_hint().unwrap_or(8)));
                while let Some((Key(k), v)) = m.next_entry::<Key, Value>()? {
                    doc.insert(k, v);
                }
                Ok(doc)
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads the document in column `i` of a row (parsed from the borrowed text, no copy).
fn doc_col(r: &rusqlite::Row<'_>, i: usize) -> Result<Doc, rusqlite::Error> {
    let text = r.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Doc::parse(text))
}

/// Read access to one app's data, with a per-request cache of entities.
pub struct Reader<'c> {
    /// The connection.
    pub conn: &'c Connection,
    /// App key.
    pub app: i64,
    cache: FxHashMap<i64, FxHashMap<String, Option<Rc<Ent>>>>,
}

impl<'c> Reader<'c> {
    /// A reader for app `app`.
    pub fn new(conn: &'c Connection, app: i64) -> Reader<'c> {
        Reader {
            conn,
            app,
            cache: FxHashMap::default(),
        }
    }

    /// Forgets cached entities (after writes).
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    /// The entity `e` of the namespace whose id attribute has key `et`.
    pub fn ent(&mut self, et: i64, e: &str) -> Result<Option<Rc<Ent>>, ApiError> {
        if let Some(x) = self.cache.get(&et).and_then(|m| m.get(e)) {
            return Ok(x.clone());
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT t, doc FROM ents WHERE app = ?1 AND et = ?2 AND e = ?3")?;
        let ent = st
            .query_row(params![self.app, et, e], |r| {
                Ok(Rc::new(Ent {
                    t: r.get(0)?,
                    doc: doc_col(r, 1)?,
                }))
            })
            .optional()?;
        self.cache
            .entry(et)
            .or_default()
            .insert(e.to_string(), ent.clone());
        Ok(ent)
    }

    /// Loads many entities of one namespace with one statement.
    pub fn prefetch(&mut self, et: i64, es: &[String]) -> Result<(), ApiError> {
        let cached = self.cache.get(&et);
        // A transaction names an entity once per attribute it writes: ask for each id once, or the
        // second copy would overwrite the loaded entity with "not found".
        let mut asked: rustc_hash::FxHashSet<&str> = Default::default();
        let missing: Vec<&String> = es
            .iter()
            .filter(|e| !cached.is_some_and(|m| m.contains_key(e.as_str())))
            .filter(|e| asked.insert(e.as_str()))
            .collect();
        if missing.len() < 4 {
            for e in missing {
                self.ent(et, e)?;
            }
            return Ok(());
        }
        let ids = serde_json::to_string(&missing).unwrap_or_else(|_| "[]".into());
        let mut found: FxHashMap<String, Rc<Ent>> = FxHashMap::default();
        {
            let mut st = self.conn.prepare_cached(
                "SELECT e, t, doc FROM ents WHERE app = ?1 AND et = ?2 AND e IN (SELECT value FROM json_each(?3))",
            )?;
            let mut rows = st.query(params![self.app, et, ids])?;
            while let Some(r) = rows.next()? {
                let e: String = r.get(0)?;
                found.insert(
                    e,
                    Rc::new(Ent {
                        t: r.get(1)?,
                        doc: doc_col(r, 2)?,
                    }),
                );
            }
        }
        let slot = self.cache.entry(et).or_default();
        for e in missing {
            let ent = found.remove(e.as_str());
            slot.insert(e.clone(), ent);
        }
        Ok(())
    }

    /// Every entity of the namespace `et`, with its creation time.
    pub fn all_of(&mut self, et: i64) -> Result<Vec<(String, i64)>, ApiError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT e, t, doc FROM ents WHERE app = ?1 AND et = ?2")?;
        let mut rows = st.query(params![self.app, et])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let e: String = r.get(0)?;
            let t: i64 = r.get(1)?;
            let doc = doc_col(r, 2)?;
            self.cache
                .entry(et)
                .or_default()
                .insert(e.clone(), Some(Rc::new(Ent { t, doc })));
            out.push((e, t));
        }
        Ok(out)
    }

    /// Link targets of `e` through link attribute `a` (forward direction).
    pub fn refs_from(&self, e: &str, a: i64) -> Result<Vec<String>, ApiError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT v FROM refs WHERE app = ?1 AND e = ?2 AND a = ?3")?;
        let rows = st.query_map(params![self.app, e, a], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Link sources pointing at `v` through link attribute `a` (reverse direction).
    pub fn refs_to(&self, a: i64, v: &str) -> Result<Vec<String>, ApiError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT e FROM refs WHERE app = ?1 AND a = ?2 AND v = ?3")?;
        let rows = st.query_map(params![self.app, a, v], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    /// Entities having value `v` for attribute `a` (ids, indexed/unique data attrs, links).
    /// For unindexed data attributes the namespace is scanned.
    pub fn entities_with(
        &mut self,
        attrs: &Attrs,
        a: &AttrDef,
        v: &Value,
    ) -> Result<Vec<String>, ApiError> {
        if a.is_ref {
            return match v.as_str() {
                Some(s) => self.refs_to(a.key, s),
                None => Ok(Vec::new()),
            };
        }
        let Some(et) = attrs.id_attr(&a.etype).map(|x| x.key) else {
            return Ok(Vec::new());
        };
        if a.label == "id" {
            let Some(e) = v.as_str() else {
                return Ok(Vec::new());
            };
            return Ok(if self.ent(et, e)?.is_some() {
                vec![e.to_string()]
            } else {
                Vec::new()
            });
        }
        if (a.indexed || a.unique) && !v.is_null() {
            let mut st = self
                .conn
                .prepare_cached("SELECT e FROM vals WHERE app = ?1 AND a = ?2 AND v = ?3")?;
            let rows = st.query_map(params![self.app, a.key, encode(v)], |r| {
                r.get::<_, String>(0)
            })?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?);
            }
            return Ok(out);
        }
        let mut out = Vec::new();
        for (e, _) in self.all_of(et)? {
            if let Some(ent) = self.ent(et, &e)? {
                if ent
                    .doc
                    .get(a.key)
                    .is_some_and(|x| crate::values::json_eq(x, v))
                {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Entities of namespace `et` whose indexed/unique data attribute `a` equals `v`, loaded
    /// (and cached) with one joined statement.
    pub fn ents_with_value(&mut self, et: i64, a: i64, v: &Value) -> Result<Vec<String>, ApiError> {
        let found = self.ents_with_value_uncached(et, a, v)?;
        let slot = self.cache.entry(et).or_default();
        let mut out = Vec::with_capacity(found.len());
        for (e, ent) in found {
            slot.insert(e.clone(), Some(ent));
            out.push(e);
        }
        Ok(out)
    }

    /// Like [`Reader::ents_with_value`], but the entities are returned instead of cached (for
    /// a caller that hands them on itself).
    pub fn ents_with_value_uncached(
        &mut self,
        et: i64,
        a: i64,
        v: &Value,
    ) -> Result<Vec<(String, Rc<Ent>)>, ApiError> {
        let mut st = self.conn.prepare_cached(
            "SELECT x.e, x.t, x.doc FROM vals AS i JOIN ents AS x ON x.app = i.app AND x.et = ?3 AND x.e = i.e
             WHERE i.app = ?1 AND i.a = ?2 AND i.v = ?4",
        )?;
        let mut rows = st.query(params![self.app, a, et, encode(v)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let ent = Ent {
                t: r.get(1)?,
                doc: doc_col(r, 2)?,
            };
            out.push((r.get(0)?, Rc::new(ent)));
        }
        Ok(out)
    }

    /// Whether `e` exists in the namespace `etype`.
    pub fn exists(&mut self, attrs: &Attrs, etype: &str, e: &str) -> Result<bool, ApiError> {
        let Some(id) = attrs.id_attr(etype) else {
            return Ok(false);
        };
        Ok(self.ent(id.key, e)?.is_some())
    }

    /// The value of a cardinality-one attribute (data, or a forward has-one link id).
    pub fn value(
        &mut self,
        attrs: &Attrs,
        a: &AttrDef,
        e: &str,
    ) -> Result<Option<Value>, ApiError> {
        if a.is_ref {
            return Ok(self
                .refs_from(e, a.key)?
                .into_iter()
                .next()
                .map(Value::String));
        }
        let Some(et) = attrs.id_attr(&a.etype).map(|x| x.key) else {
            return Ok(None);
        };
        Ok(self.ent(et, e)?.and_then(|ent| ent.doc.get(a.key).cloned()))
    }

    /// The entity as a map of its cardinality-one attributes (links as ids), or None.
    pub fn entity(
        &mut self,
        attrs: &Attrs,
        etype: &str,
        e: &str,
    ) -> Result<Option<serde_json::Map<String, Value>>, ApiError> {
        let Some(id) = attrs.id_attr(etype) else {
            return Ok(None);
        };
        let Some(ent) = self.ent(id.key, e)? else {
            return Ok(None);
        };
        let mut m = serde_json::Map::new();
        m.insert("id".into(), Value::String(e.to_string()));
        for (k, v) in ent.doc.iter() {
            if let Some(a) = attrs.by_key(k) {
                m.insert(a.label.clone(), v.clone());
            }
        }
        for a in attrs.has_one_of(etype) {
            if let Some(t) = self.refs_from(e, a.key)?.into_iter().next() {
                m.insert(a.label.clone(), Value::String(t));
            }
        }
        Ok(Some(m))
    }

    /// Entity ids linked to `e` (in namespace `etype`) through `label`, existing in the target.
    pub fn linked(
        &mut self,
        attrs: &Attrs,
        etype: &str,
        e: &str,
        label: &str,
    ) -> Result<Option<(String, Vec<String>)>, ApiError> {
        let Some(end) = attrs.link_end(etype, label) else {
            return Ok(None);
        };
        let key = end.attr.key;
        let target = end.target.clone();
        let ids: Vec<String> = if end.forward {
            self.refs_from(e, key)?
        } else {
            self.refs_to(key, e)?
        };
        let Some(tet) = attrs.id_attr(&target).map(|a| a.key) else {
            return Ok(Some((target, Vec::new())));
        };
        self.prefetch(tet, &ids)?;
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            if self.ent(tet, &id)?.is_some() && seen.insert(id.clone()) {
                out.push(id);
            }
        }
        Ok(Some((target, out)))
    }
}
