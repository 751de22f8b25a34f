//! Large writes: [`Instant::transact_chunked`] splits steps into transactions and runs them
//! concurrently, reporting per-chunk outcomes.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::StreamExt;

use crate::query::{TransactOptions, TransactResult};
use crate::step::{IntoSteps, Step};
use crate::{Error, Instant};

/// Progress of a chunked write, passed to the progress callback after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkProgress {
    /// Chunks finished (either way).
    pub done_chunks: usize,
    /// Chunks that failed so far.
    pub failed_chunks: usize,
    /// All chunks.
    pub total_chunks: usize,
    /// Steps in finished chunks.
    pub done_steps: usize,
    /// All steps.
    pub total_steps: usize,
}

/// The outcome of one chunk.
#[derive(Debug)]
pub struct ChunkOutcome {
    /// The chunk's position, from 0.
    pub index: usize,
    /// Which of the input steps it held.
    pub range: Range<usize>,
    /// Its steps, so a failed chunk can be sent again alone ([`Instant::retry_chunk`]).
    pub steps: Vec<Step>,
    /// How many of its leading steps are committed: all of them on success; on failure, those
    /// of the parts that went through before a split part failed (see
    /// [`ChunkOptions::split_on_limit`]).
    pub committed_steps: usize,
    /// How many transactions were sent for it, rejected ones included (more than one when it
    /// was split or retried).
    pub transactions: usize,
    /// The answer of its last transaction, or the error that stopped it.
    pub result: Result<TransactResult, Error>,
    /// The options it was sent with, which [`Instant::retry_chunk`] sends it with again.
    transact: TransactOptions,
}

impl ChunkOutcome {
    /// Whether the chunk was committed.
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Options of [`Instant::transact_chunked`].
pub struct ChunkOptions {
    chunk_size: usize,
    concurrency: usize,
    transact: TransactOptions,
    split_on_limit: bool,
    on_progress: Option<Box<dyn Fn(ChunkProgress) + Send + Sync>>,
}

impl std::fmt::Debug for ChunkOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkOptions")
            .field("chunk_size", &self.chunk_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl ChunkOptions {
    /// Chunks of `chunk_size` steps (at least 1), one at a time.
    pub fn new(chunk_size: usize) -> ChunkOptions {
        ChunkOptions {
            chunk_size: chunk_size.max(1),
            concurrency: 1,
            transact: TransactOptions::default(),
            split_on_limit: true,
            on_progress: None,
        }
    }

    /// How many chunks may be in flight at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Options of each transaction.
    pub fn transact_options(mut self, opts: TransactOptions) -> Self {
        self.transact = opts;
        self
    }

    /// Whether a chunk the server rejects with `parameter-limit-exceeded` (nothing committed) is
    /// split in halves and sent again, recursively (default on). The parts commit separately,
    /// in order.
    pub fn split_on_limit(mut self, on: bool) -> Self {
        self.split_on_limit = on;
        self
    }

    /// Called after each chunk finishes.
    pub fn on_progress(mut self, f: impl Fn(ChunkProgress) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Box::new(f));
        self
    }
}

impl Instant {
    /// Writes many steps as several transactions of at most `chunk_size` steps each, with up to
    /// `concurrency` in flight. **Not atomic as a whole**: each chunk commits or fails on its
    /// own, and the outcomes (in chunk order) say which; a failed chunk can be sent again alone.
    /// Each chunk gets the client's usual retries.
    pub async fn transact_chunked(
        &self,
        steps: impl IntoSteps,
        opts: ChunkOptions,
    ) -> Vec<ChunkOutcome> {
        let steps = steps.into_steps();
        let total_steps = steps.len();
        let mut chunks = Vec::new();
        let mut it = steps.into_iter();
        let mut start = 0;
        loop {
            let chunk: Vec<Step> = it.by_ref().take(opts.chunk_size).collect();
            if chunk.is_empty() {
                break;
            }
            let range = start..start + chunk.len();
            start = range.end;
            chunks.push((chunks.len(), range, chunk));
        }
        let total_chunks = chunks.len();
        let done_chunks = Arc::new(AtomicUsize::new(0));
        let failed_chunks = Arc::new(AtomicUsize::new(0));
        let done_steps = Arc::new(AtomicUsize::new(0));
        let opts = Arc::new(opts);
        let mut outcomes: Vec<ChunkOutcome> = futures::stream::iter(chunks)
            .map(|(index, range, steps)| {
                let db = self.clone();
                let opts = Arc::clone(&opts);
                let (done_chunks, failed_chunks, done_steps) = (
                    Arc::clone(&done_chunks),
                    Arc::clone(&failed_chunks),
                    Arc::clone(&done_steps),
                );
                async move {
                    let sent =
                        send_splitting(&db, &steps, &opts.transact, opts.split_on_limit).await;
                    let result = sent.result;
                    let failed = if result.is_err() {
                        failed_chunks.fetch_add(1, Ordering::SeqCst) + 1
                    } else {
                        failed_chunks.load(Ordering::SeqCst)
                    };
                    let ds = done_steps.fetch_add(steps.len(), Ordering::SeqCst) + steps.len();
                    let dc = done_chunks.fetch_add(1, Ordering::SeqCst) + 1;
                    if let Some(f) = &opts.on_progress {
                        f(ChunkProgress {
                            done_chunks: dc,
                            failed_chunks: failed,
                            total_chunks,
                            done_steps: ds,
                            total_steps,
                        });
                    }
                    ChunkOutcome {
                        index,
                        range,
                        steps,
                        committed_steps: sent.committed,
                        transactions: sent.transactions,
                        result,
                        transact: opts.transact.clone(),
                    }
                }
            })
            .buffer_unordered(opts.concurrency)
            .collect()
            .await;
        outcomes.sort_by_key(|o| o.index);
        outcomes
    }

    /// Sends again the steps of a chunk that are not committed yet (typically after a failure),
    /// with the transaction options the chunk was first sent with, splitting on
    /// `parameter-limit-exceeded`; returns the updated outcome.
    pub async fn retry_chunk(&self, chunk: ChunkOutcome) -> ChunkOutcome {
        let from = chunk.committed_steps.min(chunk.steps.len());
        let rest = chunk.steps.get(from..).unwrap_or_default();
        let sent = send_splitting(self, rest, &chunk.transact, true).await;
        ChunkOutcome {
            committed_steps: from + sent.committed,
            transactions: chunk.transactions + sent.transactions,
            result: sent.result,
            ..chunk
        }
    }
}

struct Sent {
    committed: usize,
    transactions: usize,
    result: Result<TransactResult, Error>,
}

/// Sends steps as one transaction; if the server says they are too many
/// (`parameter-limit-exceeded`, nothing committed), sends each half in turn, recursively.
fn send_splitting<'a>(
    db: &'a Instant,
    steps: &'a [Step],
    opts: &'a TransactOptions,
    split: bool,
) -> futures::future::BoxFuture<'a, Sent> {
    Box::pin(async move {
        match db.transact_slice(steps, opts).await {
            Ok(r) => Sent {
                committed: steps.len(),
                transactions: 1,
                result: Ok(r),
            },
            Err(Error::ParameterLimitExceeded(_)) if split && steps.len() > 1 => {
                tracing::info!(
                    steps = steps.len(),
                    "parameter limit exceeded; splitting the chunk"
                );
                let mid = steps.len() / 2;
                let (left, right) = steps.split_at(mid);
                let first = send_splitting(db, left, opts, split).await;
                if first.result.is_err() {
                    return Sent {
                        transactions: first.transactions + 1,
                        ..first
                    };
                }
                let second = send_splitting(db, right, opts, split).await;
                Sent {
                    committed: first.committed + second.committed,
                    transactions: 1 + first.transactions + second.transactions,
                    result: second.result,
                }
            }
            Err(e) => Sent {
                committed: 0,
                transactions: 1,
                result: Err(e),
            },
        }
    })
}
