//! The ledger feed: one task per instance follows the ledger's tail in position
//! order and fans new entries out to WatchAvailability streams (`grpc::watch`),
//! invalidating their SKUs' cached availability as it goes.
//!
//! `position` is the feed's high-water mark: every entry at or below it is
//! committed (or rolled back for good) and has been published. GetAvailability
//! reports it as the position of its snapshot, read before the snapshot, so a
//! watcher resuming from it may see an entry twice but never misses one.
//! Commits of this instance wake the feed at once; other instances' commits are
//! picked up by polling. A position still being written (a gap) is looked at
//! again after [`GAP_RETRY`], not a whole poll later, so a change behind a
//! short transaction of another instance is not held back for long.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::{
    cache::AvailabilityCache,
    error::InventoryError,
    store::{Store, ledger::TailRow},
};

/// Entries read per query, by the feed and by watchers catching up.
pub(crate) const TAIL_BATCH: i64 = 1000;
/// Entries a slow watcher may fall behind before it catches up from Postgres.
const FANOUT_CAPACITY: usize = 4096;
/// How soon the feed looks again at a position still being written.
pub const GAP_RETRY: Duration = Duration::from_millis(5);

/// A handle on the feed, cheap to clone.
#[derive(Clone)]
pub struct LedgerFeed {
    inner: Arc<Inner>,
}

struct Inner {
    position: AtomicI64,
    sender: broadcast::Sender<Arc<TailRow>>,
    wake: Notify,
    started: Notify,
}

impl LedgerFeed {
    /// A feed that has not found its start yet; [`LedgerFeed::run`] follows the tail.
    pub fn new() -> LedgerFeed {
        let (sender, _) = broadcast::channel(FANOUT_CAPACITY);
        LedgerFeed {
            inner: Arc::new(Inner {
                position: AtomicI64::new(-1),
                sender,
                wake: Notify::new(),
                started: Notify::new(),
            }),
        }
    }

    /// The high-water mark; waits until the feed has found its start.
    pub async fn position(&self) -> i64 {
        loop {
            let started = self.inner.started.notified();
            let position = self.inner.position.load(Ordering::Acquire);
            if position >= 0 {
                return position;
            }
            started.await;
        }
    }

    /// New entries from now on, in position order.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<TailRow>> {
        self.inner.sender.subscribe()
    }

    /// Tells the feed that this instance committed a change.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Follows the tail until `shutdown`, polling every `poll` when not woken.
    pub async fn run(
        self,
        store: Store,
        cache: Arc<AvailabilityCache>,
        poll: Duration,
        shutdown: CancellationToken,
    ) {
        let mut follower = Follower {
            store,
            cache,
            feed: self,
            gap: None,
            start: None,
        };
        loop {
            let step = tokio::select! {
                () = shutdown.cancelled() => return,
                step = follower.step() => step,
            };
            let wait = match step {
                Ok(Step::Moved { more: true }) => continue,
                // A short batch read all there was: a commit of this instance
                // since then has left a wake-up, so the next read can wait
                // for it (or the poll) like an idle one.
                Ok(Step::Moved { more: false } | Step::Idle) => poll,
                Ok(Step::Gap) => GAP_RETRY.min(poll),
                Err(err) => {
                    tracing::warn!(error = %err, "ledger feed: reading the tail failed; retrying");
                    poll
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = follower.feed.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

impl Default for LedgerFeed {
    fn default() -> Self {
        LedgerFeed::new()
    }
}

/// What one step of the follower found.
enum Step {
    /// The high-water mark moved; `more` when the read was a full batch, so
    /// more entries may follow at once.
    Moved { more: bool },
    /// It stopped before a position still being written.
    Gap,
    /// Nothing new.
    Idle,
}

struct Follower {
    store: Store,
    /// Invalidated for every entry published, whichever instance wrote it.
    cache: Arc<AvailabilityCache>,
    feed: LedgerFeed,
    /// The first missing position and the snapshot in which it was missing.
    gap: Option<(i64, String)>,
    /// Before the start: the last position and the snapshot it was read in.
    start: Option<(i64, String)>,
}

impl Follower {
    /// Reads and publishes what follows the high-water mark.
    async fn step(&mut self) -> Result<Step, InventoryError> {
        let inner = &self.feed.inner;
        let mut position = inner.position.load(Ordering::Acquire);
        if position < 0 {
            return Ok(if self.start().await? {
                Step::Moved { more: true }
            } else {
                Step::Gap
            });
        }
        let settled = match &self.gap {
            Some((_, snapshot)) => self.store.snapshot_settled(snapshot).await?,
            None => false,
        };
        let tail = self.store.tail(position, TAIL_BATCH).await?;
        let full = i64::try_from(tail.rows.len()).is_ok_and(|read| read >= TAIL_BATCH);
        let start = position;
        let mut changed = std::collections::BTreeSet::new();
        for row in tail.rows {
            let sequence = row.movement.sequence;
            if sequence != position + 1 {
                let gap_is_known = self
                    .gap
                    .as_ref()
                    .is_some_and(|(first, _)| *first == position + 1);
                if !(gap_is_known && settled) {
                    if !gap_is_known {
                        self.gap = Some((position + 1, tail.snapshot.clone()));
                    }
                    break;
                }
                // Every writer that could fill the gap has finished: it stays empty.
            }
            self.gap = None;
            position = sequence;
            changed.insert(row.movement.sku.clone());
            inner.position.store(position, Ordering::Release);
            // No subscriber is fine: nobody is watching.
            let _ = inner.sender.send(Arc::new(row));
        }
        self.cache
            .invalidate(changed.iter().map(String::as_str))
            .await;
        Ok(if self.gap.is_some() {
            Step::Gap
        } else if position > start {
            Step::Moved { more: full }
        } else {
            Step::Idle
        })
    }

    /// Starts at the last position of a snapshot once every transaction that
    /// was running in it has finished: nothing at or below it can appear later.
    async fn start(&mut self) -> Result<bool, InventoryError> {
        let (last, snapshot) = match self.start.take() {
            Some(start) => start,
            None => self.store.last_position().await?,
        };
        // The same snapshot until it settles: a fresh one each time might never.
        if !self.store.snapshot_settled(&snapshot).await? {
            self.start = Some((last, snapshot));
            return Ok(false);
        }
        self.feed.inner.position.store(last, Ordering::Release);
        self.feed.inner.started.notify_waiters();
        Ok(true)
    }
}
