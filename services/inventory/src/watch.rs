//! The ledger feed: one task per instance follows the ledger's tail in position
//! order and fans new entries out to WatchAvailability streams.
//!
//! `position` is the feed's high-water mark: every entry at or below it is
//! committed (or rolled back for good) and has been published. GetAvailability
//! reports it as the position of its snapshot, read before the snapshot, so a
//! watcher resuming from it may see an entry twice but never misses one.
//! Commits of this instance wake the feed at once; other instances' commits are
//! picked up by polling.

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

/// Entries read per query.
const TAIL_BATCH: i64 = 1000;
/// Entries a slow watcher may fall behind before it catches up from Postgres.
const FANOUT_CAPACITY: usize = 4096;

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
            let idle = match step {
                Ok(progressed) => !progressed,
                Err(err) => {
                    tracing::warn!(error = %err, "ledger feed: reading the tail failed; retrying");
                    true
                }
            };
            if idle {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = follower.feed.inner.wake.notified() => {}
                    () = tokio::time::sleep(poll) => {}
                }
            }
        }
    }
}

impl Default for LedgerFeed {
    fn default() -> Self {
        LedgerFeed::new()
    }
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
    /// Reads and publishes what follows the high-water mark; true when it moved.
    async fn step(&mut self) -> Result<bool, InventoryError> {
        let inner = &self.feed.inner;
        let mut position = inner.position.load(Ordering::Acquire);
        if position < 0 {
            return self.start().await;
        }
        let settled = match &self.gap {
            Some((_, snapshot)) => self.store.snapshot_settled(snapshot).await?,
            None => false,
        };
        let tail = self.store.tail(position, TAIL_BATCH).await?;
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
        Ok(position > start)
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

/// Settings of WatchAvailability streams.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// A heartbeat is sent after this long without anything else.
    pub heartbeat: Duration,
    /// How often a watcher looks for changed locations or channel policy.
    pub view_check: Duration,
}

/// What one watcher follows.
#[derive(Debug, Default)]
pub struct WatchFilter {
    pub skus: std::collections::HashSet<String>,
    pub location_ids: std::collections::HashSet<String>,
    pub channel: Option<(crate::domain::Channel, pb::ChannelAvailabilityPolicy)>,
    /// The locations' and the channel policy's version when the call came in
    /// (read before the policy): a change after it means ResyncRequired.
    pub view_version: String,
}

impl WatchFilter {
    fn wants(&self, row: &TailRow) -> bool {
        let movement = &row.movement;
        let before = movement.figures_before(row.low_stock_threshold);
        let after = movement.figures_after(row.low_stock_threshold);
        let changed =
            before.available() != after.available() || before.sellable() != after.sellable();
        let visible = self.channel.as_ref().is_none_or(|(_, policy)| {
            policy.location_ids.is_empty() || policy.location_ids.contains(&movement.location_id)
        });
        changed
            && visible
            && (self.skus.is_empty() || self.skus.contains(&movement.sku))
            && (self.location_ids.is_empty() || self.location_ids.contains(&movement.location_id))
    }
}

use oms_proto::inventory::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

type Sender = mpsc::Sender<Result<pb::WatchAvailabilityResponse, Status>>;

/// The stream of one WatchAvailability call: a replay of the ledger after
/// `start_after` (0: from now), then live changes, heartbeats when idle.
pub fn watch(
    store: Store,
    feed: LedgerFeed,
    filter: WatchFilter,
    start_after: i64,
    config: WatchConfig,
    shutdown: CancellationToken,
) -> ReceiverStream<Result<pb::WatchAvailabilityResponse, Status>> {
    let (sender, receiver) = mpsc::channel(256);
    tokio::spawn(async move {
        let closed = sender.clone();
        let mut watcher = Watcher {
            store,
            filter,
            sender,
            last: start_after,
            last_sent: tokio::time::Instant::now(),
        };
        let result = tokio::select! {
            result = watcher.run(&feed, start_after, &config) => result,
            () = shutdown.cancelled() => Err(Status::unavailable("shutting down; reconnect with the last sequence")),
            () = closed.closed() => Ok(()),
        };
        if let Err(status) = result {
            // The watcher may be gone already; then nobody needs the status.
            let _ = closed.send(Err(status)).await;
        }
    });
    ReceiverStream::new(receiver)
}

struct Watcher {
    store: Store,
    filter: WatchFilter,
    sender: Sender,
    /// The last position delivered or skipped.
    last: i64,
    /// When the watcher was last sent anything; heartbeats fill the silence.
    last_sent: tokio::time::Instant,
}

impl Watcher {
    async fn run(
        &mut self,
        feed: &LedgerFeed,
        start_after: i64,
        config: &WatchConfig,
    ) -> Result<(), Status> {
        let mut live = feed.subscribe();
        let head = feed.position().await;
        if start_after == 0 {
            self.last = head;
        } else {
            let oldest = self.store.oldest_position().await.map_err(Status::from)?;
            if start_after + 1 < oldest {
                self.resync(pb::ResyncReason::HistoryExpired, head).await?;
                self.last = head;
            }
        }
        let channel = self
            .filter
            .channel
            .as_ref()
            .map(|(channel, _)| channel.clone());
        let mut view = self.filter.view_version.clone();
        self.catch_up(head).await?;
        let mut view_check = tokio::time::interval(config.view_check);
        loop {
            let heartbeat_due = self.last_sent + config.heartbeat;
            let received = tokio::select! {
                received = live.recv() => received,
                () = tokio::time::sleep_until(heartbeat_due) => {
                    let heartbeat = pb::Heartbeat {
                        sequence: self.last,
                        time: Some(crate::grpc::timestamp(chrono::Utc::now())),
                    };
                    self.send(pb::watch_availability_response::Event::Heartbeat(heartbeat)).await?;
                    continue;
                }
                _ = view_check.tick() => {
                    let now = self.store.view_version(channel.as_ref()).await.map_err(Status::from)?;
                    if now != view {
                        view = now;
                        self.refresh_policy().await?;
                    }
                    continue;
                }
            };
            match received {
                Ok(row) => {
                    if row.movement.sequence > self.last {
                        self.deliver(&row).await?;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let head = feed.position().await;
                    self.catch_up(head).await?;
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(Status::unavailable(
                        "ledger feed stopped; reconnect with the last sequence",
                    ));
                }
            }
        }
    }

    /// Replays the ledger from the last position up to `head` from Postgres.
    async fn catch_up(&mut self, head: i64) -> Result<(), Status> {
        while self.last < head {
            let rows = self
                .store
                .movements_between(self.last, head, TAIL_BATCH)
                .await
                .map_err(Status::from)?;
            if rows.is_empty() {
                self.last = head;
                break;
            }
            for row in rows {
                self.deliver(&row).await?;
            }
        }
        Ok(())
    }

    async fn deliver(&mut self, row: &TailRow) -> Result<(), Status> {
        self.last = row.movement.sequence;
        if !self.filter.wants(row) {
            return Ok(());
        }
        let movement = &row.movement;
        let before = movement.figures_before(row.low_stock_threshold);
        let after = movement.figures_after(row.low_stock_threshold);
        let channel = match &self.filter.channel {
            Some((channel, policy)) => {
                let rows = self
                    .store
                    .levels(std::slice::from_ref(&movement.sku))
                    .await
                    .map_err(Status::from)?;
                Some(crate::grpc::channel_view(
                    channel,
                    policy,
                    rows.iter().map(|row| (&row.stock, row.active)),
                ))
            }
            None => None,
        };
        let change = pb::AvailabilityChange {
            sequence: movement.sequence,
            sku: movement.sku.clone(),
            location_id: movement.location_id.clone(),
            cause: i32::from(movement.kind),
            reference_id: movement.reference_id.clone(),
            available_before: before.available(),
            sellable_before: before.sellable(),
            stock: Some(crate::grpc::level_from(
                &movement.sku,
                &movement.location_id,
                after,
                movement.sequence,
                movement.create_time,
            )),
            channel,
            change_time: Some(crate::grpc::timestamp(movement.create_time)),
        };
        self.send(pb::watch_availability_response::Event::Change(change))
            .await
    }

    /// The channel's policy or a location changed: re-read the policy and tell
    /// the watcher to re-read availability.
    async fn refresh_policy(&mut self) -> Result<(), Status> {
        let reason = match &mut self.filter.channel {
            Some((channel, policy)) => {
                let now = match self
                    .store
                    .get_channel_policy(channel)
                    .await
                    .map_err(Status::from)?
                {
                    Some(row) => crate::grpc::policy_to_proto(row),
                    None => pb::ChannelAvailabilityPolicy {
                        channel: Some(crate::grpc::channel_to_proto(channel)),
                        ..Default::default()
                    },
                };
                let changed = (now.safety_buffer, &now.location_ids)
                    != (policy.safety_buffer, &policy.location_ids);
                *policy = now;
                if changed {
                    pb::ResyncReason::ChannelPolicyChanged
                } else {
                    pb::ResyncReason::LocationChanged
                }
            }
            None => pb::ResyncReason::LocationChanged,
        };
        self.resync(reason, self.last).await
    }

    async fn resync(&mut self, reason: pb::ResyncReason, sequence: i64) -> Result<(), Status> {
        let resync = pb::ResyncRequired {
            reason: reason as i32,
            sequence,
        };
        self.send(pb::watch_availability_response::Event::ResyncRequired(
            resync,
        ))
        .await
    }

    async fn send(&mut self, event: pb::watch_availability_response::Event) -> Result<(), Status> {
        let response = pb::WatchAvailabilityResponse { event: Some(event) };
        self.last_sent = tokio::time::Instant::now();
        self.sender
            .send(Ok(response))
            .await
            .map_err(|_| Status::cancelled("watcher went away"))
    }
}
