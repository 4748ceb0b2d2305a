//! WatchAvailability: the check of a call, what it follows (read when the
//! call comes in), and the stream of one watcher: a replay of the ledger from
//! Postgres after the asked position, then live entries from the ledger feed,
//! heartbeats when idle, and ResyncRequired when a location or the channel's
//! policy changes.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use oms_platform::error::FieldViolations;
use oms_proto::inventory::v1 as pb;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::{
    Inventory,
    availability::{self, channel_view},
    convert::*,
};
use crate::{
    domain::Channel,
    error::InventoryError,
    feed::{LedgerFeed, TAIL_BATCH},
    store::{Store, ledger::TailRow},
};

/// The stream of one WatchAvailability call.
pub(super) type WatchStream = ReceiverStream<Result<pb::WatchAvailabilityResponse, Status>>;

/// Settings of WatchAvailability streams.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// A heartbeat is sent after this long without anything else.
    pub heartbeat: Duration,
    /// How often a watcher looks for changed locations or channel policy.
    pub view_check: Duration,
}

/// A checked WatchAvailability.
pub(super) struct Watch {
    skus: Vec<String>,
    location_ids: Vec<String>,
    channel: Option<Channel>,
    start_after: i64,
}

impl Watch {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::WatchAvailabilityRequest,
    ) -> Option<Watch> {
        let skus = sku_list(violations, &request.skus, false);
        for (index, id) in request.location_ids.iter().enumerate() {
            location_id(violations, format!("location_ids[{index}]"), id);
        }
        let channel = channel(violations, "channel", request.channel.as_ref());
        if request.start_after_sequence < 0 {
            violations.add("start_after_sequence", "must be 0 or more");
        }
        Some(Watch {
            skus,
            location_ids: request.location_ids.clone(),
            channel,
            start_after: request.start_after_sequence,
        })
    }
}

impl Inventory {
    pub(super) async fn watch_availability(
        &self,
        watch: Watch,
    ) -> Result<WatchStream, InventoryError> {
        let Watch {
            skus,
            location_ids,
            channel,
            start_after,
        } = watch;
        self.require_locations(&location_ids).await?;
        // The database's position, not this instance's feed, which may lag.
        if start_after > self.store.latest_position().await? {
            return Err(InventoryError::invalid(
                "start_after_sequence",
                "after the latest ledger position",
            ));
        }
        // Read before the policy: a change after the call came in is then never missed.
        let view_version = self.store.view_version(channel.as_ref()).await?;
        let channel = match channel {
            Some(channel) => {
                let policy = availability::policy(&self.store, &channel).await?;
                Some((channel, policy))
            }
            None => None,
        };
        let filter = WatchFilter {
            skus: skus.into_iter().collect(),
            location_ids: location_ids.into_iter().collect(),
            channel,
            view_version,
        };
        Ok(stream(
            self.store.clone(),
            self.feed.clone(),
            filter,
            start_after,
            self.watch.clone(),
            self.shutdown.clone(),
        ))
    }
}

/// What one watcher follows.
#[derive(Debug, Default)]
struct WatchFilter {
    skus: HashSet<String>,
    location_ids: HashSet<String>,
    channel: Option<(Channel, pb::ChannelAvailabilityPolicy)>,
    /// The locations' and the channel policy's version when the call came in
    /// (read before the policy): a change after it means ResyncRequired.
    view_version: String,
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

type Sender = mpsc::Sender<Result<pb::WatchAvailabilityResponse, Status>>;

/// The stream of one WatchAvailability call: a replay of the ledger after
/// `start_after` (0: from now), then live changes, heartbeats when idle.
fn stream(
    store: Store,
    feed: LedgerFeed,
    filter: WatchFilter,
    start_after: i64,
    config: WatchConfig,
    shutdown: CancellationToken,
) -> WatchStream {
    let (sender, receiver) = mpsc::channel(256);
    tokio::spawn(async move {
        let closed = sender.clone();
        let mut watcher = Watcher {
            store,
            feed: feed.clone(),
            views: HashMap::new(),
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

/// Channel views kept per watcher before they are all read again.
const MAX_VIEWS: usize = 64;

struct Watcher {
    store: Store,
    /// Dates the channel views: one read after the feed's high-water mark
    /// shows every change up to it.
    feed: LedgerFeed,
    /// The channel view last read per SKU and the position it shows every
    /// change up to. A burst of changes of one SKU (a flash sale) costs one
    /// read, not one per change, so the watcher keeps up.
    views: HashMap<String, (i64, pb::ChannelAvailability)>,
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
                        time: Some(timestamp(chrono::Utc::now())),
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
                let cached = self
                    .views
                    .get(&movement.sku)
                    .filter(|(through, _)| *through >= movement.sequence)
                    .map(|(_, view)| view.clone());
                match cached {
                    Some(view) => Some(view),
                    None => {
                        // Read after the mark: the view shows this change and
                        // every one before the mark.
                        let through = self.feed.position().await;
                        let rows = self
                            .store
                            .levels(std::slice::from_ref(&movement.sku))
                            .await
                            .map_err(Status::from)?;
                        let view = channel_view(
                            channel,
                            policy,
                            rows.iter().map(|row| (&row.stock, row.active)),
                        );
                        if self.views.len() >= MAX_VIEWS {
                            self.views.clear();
                        }
                        self.views
                            .insert(movement.sku.clone(), (through, view.clone()));
                        Some(view)
                    }
                }
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
            stock: Some(level_from(
                &movement.sku,
                &movement.location_id,
                after,
                movement.sequence,
                movement.create_time,
            )),
            channel,
            change_time: Some(timestamp(movement.create_time)),
        };
        self.send(pb::watch_availability_response::Event::Change(change))
            .await
    }

    /// The channel's policy or a location changed: re-read the policy and tell
    /// the watcher to re-read availability.
    async fn refresh_policy(&mut self) -> Result<(), Status> {
        let reason = match &mut self.filter.channel {
            Some((channel, policy)) => {
                let now = availability::policy(&self.store, channel)
                    .await
                    .map_err(Status::from)?;
                let changed = (now.safety_buffer, &now.location_ids)
                    != (policy.safety_buffer, &policy.location_ids);
                *policy = now;
                self.views.clear();
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
