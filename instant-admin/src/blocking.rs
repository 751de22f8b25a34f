//! A blocking facade over the async client, for programs without an async runtime (scripts,
//! CLIs, build steps).

use std::future::Future;

use crate::query::{Query, QueryOptions, TransactOptions, TransactResult};
use crate::step::IntoSteps;
use crate::{Error, Instant};

/// Runs [`Instant`] calls to completion on its own single-threaded runtime.
///
/// Must not be used from inside an async runtime (every call then returns [`Error::Config`]);
/// use [`Instant`] there. Its connections live on its own runtime, so give it a client of its own
/// rather than one that async code uses at the same time.
///
/// ```no_run
/// # fn main() -> Result<(), instant_admin::Error> {
/// let db = instant_admin::BlockingInstant::new(instant_admin::Instant::from_env()?)?;
/// let goals = db.query(serde_json::json!({"goals": {}}))?;
/// let token = db.run(|db| async move { db.auth().create_token("a@b.c").await })?;
/// # let _ = (goals, token); Ok(()) }
/// ```
#[derive(Debug)]
pub struct BlockingInstant {
    db: Instant,
    rt: tokio::runtime::Runtime,
}

impl BlockingInstant {
    /// Wraps a client.
    pub fn new(db: Instant) -> Result<BlockingInstant, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("could not start a runtime: {e}")))?;
        Ok(BlockingInstant { db, rt })
    }

    /// The async client inside.
    pub fn client(&self) -> &Instant {
        &self.db
    }

    /// Runs any async call of the client to completion, e.g.
    /// `db.run(|db| async move { db.storage().list().await })`.
    pub fn run<T, E, F>(&self, f: impl FnOnce(Instant) -> F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Error>,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(E::from(Error::Config(
                "BlockingInstant cannot be used inside an async runtime; use Instant".to_owned(),
            )));
        }
        self.rt.block_on(f(self.db.clone()))
    }

    /// [`Instant::query`], blocking.
    pub fn query<Q: Query>(&self, q: Q) -> Result<Q::Output, Error> {
        self.run(|db| async move { db.query(q).await })
    }

    /// [`Instant::query_with`], blocking.
    pub fn query_with<Q: Query>(&self, q: Q, opts: QueryOptions) -> Result<Q::Output, Error> {
        self.run(|db| async move { db.query_with(q, opts).await })
    }

    /// [`Instant::transact`], blocking.
    pub fn transact(&self, steps: impl IntoSteps) -> Result<TransactResult, Error> {
        let steps = steps.into_steps();
        self.run(|db| async move { db.transact(steps).await })
    }

    /// [`Instant::transact_with`], blocking.
    pub fn transact_with(
        &self,
        steps: impl IntoSteps,
        opts: TransactOptions,
    ) -> Result<TransactResult, Error> {
        let steps = steps.into_steps();
        self.run(|db| async move { db.transact_with(steps, opts).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_to_block_inside_a_runtime() {
        let db = Instant::new(crate::Config::new(
            "1c9d1e0b-4d39-4b4e-8e5c-3f2b8a1f0e11",
            "t",
        ))
        .unwrap();
        let b = tokio::task::spawn_blocking(move || BlockingInstant::new(db))
            .await
            .unwrap()
            .unwrap();
        let r = b.query(serde_json::json!({"goals": {}}));
        assert!(matches!(r, Err(Error::Config(_))));
        // Dropping a runtime inside another is not allowed either: drop it on a blocking thread.
        tokio::task::spawn_blocking(move || drop(b)).await.unwrap();
    }
}
