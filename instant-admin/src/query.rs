//! The [`Query`] contract and the options and results of queries and debug calls.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Anything that can be sent as an InstaQL query.
pub trait Query: Send + Sync {
    /// What the answer decodes into.
    type Output: serde::de::DeserializeOwned + Send + 'static;
    /// The InstaQL object, e.g. `{"todos": {"$": {"where": {...}}}}`.
    fn instaql(&self) -> Value;
    /// Whether to send `inference?: true` (typed queries do; schemaless ones don't).
    fn inference(&self) -> bool {
        false
    }
    /// Decodes the server's answer (`{"<ns>": [...], ...}`) into [`Query::Output`].
    fn decode(&self, answer: Value) -> Result<Self::Output, serde_json::Error> {
        serde_json::from_value(answer)
    }
    /// Decodes the answer straight from the HTTP body. The default goes through
    /// [`Query::decode`]; implementations whose output deserializes directly override it to skip
    /// the intermediate `Value` (several times faster on large results).
    fn decode_bytes(&self, body: &[u8]) -> Result<Self::Output, serde_json::Error> {
        self.decode(from_body(body)?)
    }
}

impl Query for Value {
    type Output = Value;
    fn instaql(&self) -> Value {
        self.clone()
    }
    fn decode(&self, answer: Value) -> Result<Value, serde_json::Error> {
        Ok(answer)
    }
    fn decode_bytes(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        from_body(body)
    }
}

impl Query for &Value {
    type Output = Value;
    fn instaql(&self) -> Value {
        (*self).clone()
    }
    fn decode(&self, answer: Value) -> Result<Value, serde_json::Error> {
        Ok(answer)
    }
    fn decode_bytes(&self, body: &[u8]) -> Result<Value, serde_json::Error> {
        from_body(body)
    }
}

/// Decodes a JSON answer straight from the HTTP body.
///
/// The body is checked to be UTF-8 once, in one pass, and then parsed as a `&str`, for which
/// serde_json skips the UTF-8 check of every string it reads (8% fewer instructions decoding a
/// 100,000-row answer into a `Value`, 15% into structs). A body that is not UTF-8 goes to
/// `serde_json::from_slice`, so what is accepted and the error reported stay exactly as before.
pub(crate) fn from_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
) -> Result<T, serde_json::Error> {
    from_body_seed(body, std::marker::PhantomData::<T>)
}

/// [`from_body`] for a value that needs state to decode (a [`serde::de::DeserializeSeed`]).
pub(crate) fn from_body_seed<'de, S: serde::de::DeserializeSeed<'de>>(
    body: &'de [u8],
    seed: S,
) -> Result<S::Value, serde_json::Error> {
    fn read<'de, R: serde_json::de::Read<'de>, S: serde::de::DeserializeSeed<'de>>(
        mut de: serde_json::Deserializer<R>,
        seed: S,
    ) -> Result<S::Value, serde_json::Error> {
        let value = seed.deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
    match std::str::from_utf8(body) {
        Ok(text) => read(serde_json::Deserializer::from_str(text), seed),
        Err(_) => read(serde_json::Deserializer::from_slice(body), seed),
    }
}

/// A schemaless query whose answer decodes into a caller-chosen type `T`.
///
/// ```
/// # use instant_admin::{Query, TypedQuery};
/// #[derive(serde::Deserialize)]
/// struct Goals { goals: Vec<serde_json::Value> }
/// let q = TypedQuery::<Goals>::new(serde_json::json!({"goals": {}}));
/// assert_eq!(q.instaql(), serde_json::json!({"goals": {}}));
/// ```
pub struct TypedQuery<T> {
    query: Value,
    inference: bool,
    _out: std::marker::PhantomData<fn() -> T>,
}

impl<T> TypedQuery<T> {
    /// Wraps an InstaQL object.
    pub fn new(query: Value) -> TypedQuery<T> {
        TypedQuery {
            query,
            inference: false,
            _out: std::marker::PhantomData,
        }
    }

    /// Sets `inference?` (has-one links come back as an object or null instead of an array).
    pub fn inference(mut self, on: bool) -> TypedQuery<T> {
        self.inference = on;
        self
    }
}

impl<T: serde::de::DeserializeOwned + Send + 'static> Query for TypedQuery<T> {
    type Output = T;
    fn instaql(&self) -> Value {
        self.query.clone()
    }
    fn inference(&self) -> bool {
        self.inference
    }
    fn decode_bytes(&self, body: &[u8]) -> Result<T, serde_json::Error> {
        from_body(body)
    }
}

/// Options of [`crate::Instant::query_with`] and [`crate::Instant::subscribe_query_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct QueryOptions {
    /// Rule params, sent as `$$ruleParams` inside the query (where the server reads them).
    pub rule_params: Option<Value>,
}

impl QueryOptions {
    /// No options.
    pub fn new() -> QueryOptions {
        QueryOptions::default()
    }

    /// Sets the rule params (a JSON object).
    pub fn rule_params(mut self, params: impl Into<Value>) -> QueryOptions {
        self.rule_params = Some(params.into());
        self
    }
}

/// Options of [`crate::Instant::debug_query`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DebugQueryOptions {
    /// Rules to evaluate instead of the app's (`rules-override`).
    pub rules: Option<Value>,
    /// Rule params (`$$ruleParams` inside the query).
    pub rule_params: Option<Value>,
    /// `request.ip` seen by the rules (`ip-override`).
    pub ip: Option<String>,
    /// `request.origin` seen by the rules (`origin-override`).
    pub origin: Option<String>,
    /// `inference?`; defaults to the query's own setting.
    pub cardinality_inference: Option<bool>,
}

impl DebugQueryOptions {
    /// No options.
    pub fn new() -> DebugQueryOptions {
        DebugQueryOptions::default()
    }
    /// Sets `rules-override`.
    pub fn rules(mut self, rules: impl Into<Value>) -> Self {
        self.rules = Some(rules.into());
        self
    }
    /// Sets the rule params.
    pub fn rule_params(mut self, params: impl Into<Value>) -> Self {
        self.rule_params = Some(params.into());
        self
    }
    /// Sets `ip-override`.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
    /// Sets `origin-override`.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
    /// Sets `inference?`.
    pub fn cardinality_inference(mut self, on: bool) -> Self {
        self.cardinality_inference = Some(on);
        self
    }
}

/// Options of [`crate::Instant::debug_transact`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DebugTransactOptions {
    /// Rules to evaluate instead of the app's (`rules-override`).
    pub rules: Option<Value>,
    /// `request.ip` seen by the rules.
    pub ip: Option<String>,
    /// `request.origin` seen by the rules.
    pub origin: Option<String>,
    /// Commit the transaction when every check passes (`dangerously-commit-tx`). Off by default:
    /// the server then always rolls back.
    pub dangerously_commit: bool,
}

impl DebugTransactOptions {
    /// No options.
    pub fn new() -> DebugTransactOptions {
        DebugTransactOptions::default()
    }
    /// Sets `rules-override`.
    pub fn rules(mut self, rules: impl Into<Value>) -> Self {
        self.rules = Some(rules.into());
        self
    }
    /// Sets `ip-override`.
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }
    /// Sets `origin-override`.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }
    /// Commits when all checks pass.
    pub fn dangerously_commit(mut self, on: bool) -> Self {
        self.dangerously_commit = on;
        self
    }
}

/// Options of [`crate::Instant::transact_with`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TransactOptions {
    /// `throw-on-missing-attrs?`: reject steps that use attributes the app does not have, instead
    /// of creating them. Defaults to the client's setting.
    pub throw_on_missing_attrs: Option<bool>,
}

impl TransactOptions {
    /// No options.
    pub fn new() -> TransactOptions {
        TransactOptions::default()
    }
    /// Sets `throw-on-missing-attrs?`.
    pub fn throw_on_missing_attrs(mut self, on: bool) -> Self {
        self.throw_on_missing_attrs = Some(on);
        self
    }
}

/// The answer of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TransactResult {
    /// The transaction id (`tx-id`).
    #[serde(rename = "tx-id")]
    pub tx_id: i64,
}

/// One entry of `check-results` from [`crate::Instant::debug_query`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DebugCheckResult {
    /// The record's id.
    #[serde(default)]
    pub id: Value,
    /// The namespace.
    #[serde(default)]
    pub entity: Option<String>,
    /// The field a field-level rule checked; `None` for entity-level rules.
    #[serde(default)]
    pub label: Option<String>,
    /// The record.
    #[serde(default)]
    pub record: Value,
    /// The rule program (`etype`, `action`, `code`, `display-code`); empty when no rule exists.
    #[serde(default)]
    pub program: Value,
    /// The result of the rule.
    #[serde(default)]
    pub check: Value,
}

/// The answer of [`crate::Instant::debug_query`].
#[derive(Debug, Clone, PartialEq)]
pub struct DebugQueryResult<T> {
    /// The query result as the impersonated user sees it.
    pub result: T,
    /// One entry per permission check.
    pub check_results: Vec<DebugCheckResult>,
}

/// The answer of [`crate::Instant::debug_transact`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DebugTransactResult {
    /// The transaction id.
    #[serde(rename = "tx-id")]
    pub tx_id: Option<i64>,
    /// Whether every check passed.
    #[serde(rename = "all-checks-ok?", default)]
    pub all_checks_ok: bool,
    /// Whether the transaction was committed.
    #[serde(rename = "committed?", default)]
    pub committed: bool,
    /// One entry per check (`scope`, `action`, `etype`, `eid`, `program`, `check-pass?`, ...).
    #[serde(rename = "check-results", default)]
    pub check_results: Vec<Value>,
}

impl<T> DebugQueryResult<T> {
    /// The records the rules hid from the user: the checks whose result is not `true`. Empty when
    /// the user sees everything the query matched; handy in permission tests.
    pub fn denied(&self) -> Vec<&DebugCheckResult> {
        self.check_results
            .iter()
            .filter(|c| c.check != Value::Bool(true))
            .collect()
    }
}

impl DebugTransactResult {
    /// The checks that failed (`check-pass?` is not `true`), each with its action, namespace,
    /// entity and rule. Empty when the user may run the transaction; handy in permission tests:
    /// `assert!(r.failed_checks().is_empty(), "{:?}", r.failed_checks())`.
    pub fn failed_checks(&self) -> Vec<FailedCheck> {
        self.check_results
            .iter()
            .filter(|c| c.get("check-pass?") != Some(&Value::Bool(true)))
            .map(|c| {
                let text = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
                FailedCheck {
                    action: text("action").unwrap_or_default(),
                    namespace: text("etype").unwrap_or_default(),
                    id: c.get("eid").map(|e| match e {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    }),
                    rule: c
                        .get("program")
                        .and_then(|p| p.get("display-code").or_else(|| p.get("code")))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                }
            })
            .collect()
    }
}

/// A permission check that failed in [`crate::Instant::debug_transact`]; see
/// [`DebugTransactResult::failed_checks`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCheck {
    /// The action checked: `create`, `update`, `delete`, `link`, ...
    pub action: String,
    /// The namespace.
    pub namespace: String,
    /// The entity's id (a lookup is shown as its JSON).
    pub id: Option<String>,
    /// The rule that denied it, as written; `None` when the server gave none.
    pub rule: Option<String>,
}

impl std::fmt::Display for FailedCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.action, self.namespace)?;
        if let Some(id) = &self.id {
            write!(f, " {id}")?;
        }
        match &self.rule {
            Some(rule) => write!(f, ": denied by `{rule}`"),
            None => f.write_str(": denied"),
        }
    }
}

/// Page info of one top-level namespace, from live query results.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PageInfo {
    /// Cursor of the first row.
    #[serde(rename = "start-cursor", default)]
    pub start_cursor: Value,
    /// Cursor of the last row.
    #[serde(rename = "end-cursor", default)]
    pub end_cursor: Value,
    /// Whether more rows follow.
    #[serde(rename = "has-next-page?", default)]
    pub has_next_page: bool,
    /// Whether rows precede.
    #[serde(rename = "has-previous-page?", default)]
    pub has_previous_page: bool,
}

/// Page info per top-level namespace.
pub type PageInfoMap = BTreeMap<String, PageInfo>;

/// Puts `$$ruleParams` first inside the query object, as the official SDK does.
pub(crate) fn with_rule_params(
    query: Value,
    rule_params: Option<Value>,
) -> Result<Value, crate::Error> {
    let Value::Object(q) = query else {
        return Err(crate::Error::InvalidInput(
            "an InstaQL query must be a JSON object".to_owned(),
        ));
    };
    match rule_params {
        None => Ok(Value::Object(q)),
        Some(params) => {
            let mut m = Map::new();
            m.insert("$$ruleParams".to_owned(), params);
            // As in the official SDK (`{$$ruleParams, ...query}`), a `$$ruleParams` already in
            // the query wins, keeping the first position.
            for (k, v) in q {
                m.insert(k, v);
            }
            Ok(Value::Object(m))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Goals {
        goals: Vec<Goal>,
    }
    #[derive(Debug, PartialEq, Deserialize)]
    struct Goal {
        id: String,
    }

    #[test]
    fn decoding_from_bytes_and_values_agree() {
        let body = br#"{"goals":[{"id":"a"},{"id":"b"}]}"#;
        let q = TypedQuery::<Goals>::new(json!({"goals": {}}));
        let direct = q.decode_bytes(body).unwrap();
        let via_value = q.decode(serde_json::from_slice(body).unwrap()).unwrap();
        assert_eq!(direct, via_value);
        assert_eq!(direct.goals.len(), 2);
        assert!(q.decode_bytes(b"{\"goals\": 3}").is_err());
        let v = json!({"goals": {}});
        assert_eq!(v.decode_bytes(body).unwrap()["goals"][1]["id"], "b");
        assert_eq!(
            with_rule_params(json!({"goals": {}}), Some(json!({"k": 1}))).unwrap(),
            json!({"$$ruleParams": {"k": 1}, "goals": {}})
        );
        assert!(with_rule_params(json!([]), None).is_err());
    }

    #[test]
    fn failed_checks_name_the_action_entity_and_rule() {
        let r: DebugTransactResult = serde_json::from_value(json!({
            "tx-id": 3, "all-checks-ok?": false, "committed?": false,
            "check-results": [
                {"scope": "object", "action": "update", "etype": "goals", "eid": "8aa6",
                 "program": {"code": "auth.id != null", "display-code": "auth.id != null"},
                 "check-pass?": false},
                {"action": "create", "etype": "goals", "eid": "8aa6", "program": {}, "check-pass?": true},
                {"action": "link", "etype": "todos", "eid": ["slug", "a"]}]}))
        .unwrap();
        let failed: Vec<String> = r.failed_checks().iter().map(ToString::to_string).collect();
        assert_eq!(
            failed,
            [
                "update goals 8aa6: denied by `auth.id != null`",
                r#"link todos ["slug","a"]: denied"#
            ]
        );
    }
}
