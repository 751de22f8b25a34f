//! Reading a whole namespace page by page ([`Instant::pages`]), since `/admin/query` returns no
//! cursors.

use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::{Error, Instant};

struct PageState {
    db: Instant,
    namespace: String,
    query: Map<String, Value>,
    page_size: usize,
    offset: usize,
    done: bool,
}

impl Instant {
    /// Reads every entity of `namespace` that `query` selects, `page_size` at a time, as a stream
    /// of pages. `query` is the namespace's own sub-query (e.g. `{"$": {"where": {...}}, "todos":
    /// {}}`, or `{}`); its `limit`/`offset` are replaced, and without an `order` the pages follow
    /// server creation time. Pages come from `limit`/`offset` queries, so rows written while
    /// paging may be skipped or repeated. The stream ends after the first short page or error.
    pub fn pages(
        &self,
        namespace: &str,
        query: Value,
        page_size: usize,
    ) -> BoxStream<'static, Result<Vec<Value>, Error>> {
        let (query, done, first) = match query {
            Value::Object(m) => (m, false, None),
            Value::Null => (Map::new(), false, None),
            _ => (
                Map::new(),
                true,
                Some(Err(Error::InvalidInput(
                    "a page query must be a JSON object".to_owned(),
                ))),
            ),
        };
        let state = PageState {
            db: self.clone(),
            namespace: namespace.to_owned(),
            query,
            page_size: page_size.max(1),
            offset: 0,
            done,
        };
        let rest = futures::stream::unfold(state, |mut st| async move {
            if st.done {
                return None;
            }
            let mut sub = st.query.clone();
            let opts = sub
                .entry("$".to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(o) = opts {
                o.remove("first");
                o.remove("last");
                o.insert("limit".into(), Value::from(st.page_size));
                o.insert("offset".into(), Value::from(st.offset));
                o.entry("order".to_owned())
                    .or_insert_with(|| serde_json::json!({"serverCreatedAt": "asc"}));
            }
            let mut q = Map::new();
            q.insert(st.namespace.clone(), Value::Object(sub));
            let result = st.db.query(Value::Object(q)).await.and_then(|mut v| {
                match v.get_mut(&st.namespace).map(Value::take) {
                    Some(Value::Array(rows)) => Ok(rows),
                    _ => Err(Error::decode(format!(
                        "the answer has no `{}` list",
                        st.namespace
                    ))),
                }
            });
            match &result {
                Ok(rows) if rows.is_empty() && st.offset > 0 => return None,
                Ok(rows) => {
                    st.offset += rows.len();
                    st.done = rows.len() < st.page_size;
                }
                Err(_) => st.done = true,
            }
            Some((result, st))
        });
        futures::stream::iter(first).chain(rest).boxed()
    }
}
