//! Reserve by group commit: the reservations that arrive while a transaction
//! is in flight are decided together in the next transaction, the way
//! databases group commits. A flash sale (one SKU, every channel at once) then
//! costs one commit per group, not one per order, and so does a busy hour
//! spread over many SKUs; each order still gets its own answer, its own
//! reservation and its own ledger entries.
//!
//! # How
//! Each instance keeps [`SHARDS`] queues. An order goes to the queue of its
//! first (sku, location) in sorted order, by hash, so the orders of a hot row
//! always meet in one queue, and orders of other rows join them or fill the
//! other queues. The first Reserve to find a queue idle starts its worker; the
//! worker takes everything waiting (at most [`MAX_GROUP`]) and settles it as
//! one group while later arrivals wait for the next one, until the queue is
//! empty:
//! 1. Sold out (a group of the queue left a row the group names with nothing
//!    free): one read of the group's rows without any lock. An order that the
//!    committed figures show cannot fit is refused at once, or gets its
//!    reservation back when its order has one; the others go on.
//! 2. A group of one: the guarded statement of [`reservations::reserve`],
//!    which is what a lone Reserve always did.
//! 3. A larger group: one transaction. Claim every order (insert its HELD
//!    reservation, in order id order, `ON CONFLICT (order_id) DO NOTHING`);
//!    lock the stock rows the group names in (sku, location) order and read
//!    them; decide each order in arrival order ([`crate::domain::group`]):
//!    held when every line fits what the orders before it left free; write
//!    the held orders' lines, one RESERVE ledger entry per line and the stock
//!    rows; delete the claims of the others; commit; answer each waiter.
//!
//! # Invariant
//! For every stock row, at every commit: reserved is the sum of the units of
//! its HELD reservation lines, and a Reserve is held only if on hand minus
//! reserved covered each of its lines at the moment it was decided, under the
//! row's lock. Every order has at most one reservation; an order's lines are
//! all held or none is.
//!
//! # Why it cannot oversell
//! - A group decides under the locks of every row it names, on figures read
//!   after the locks were granted (the latest committed version). Until it
//!   commits nobody else can change those rows, and each held order's units
//!   come off the free count before the next order is decided: the units held
//!   by a group never exceed what was free when it locked.
//! - Every writer, in every instance, takes the same row locks: groups, the
//!   single statement, Release, CommitReservation, expiry, counts and
//!   transfers. Redis plays no part, so losing its keys changes nothing, and
//!   two or more instances are as safe as one.
//! - The read without locks (step 1) only ever refuses, never holds; and it is
//!   taken after every order it refuses arrived, so a refusal is never older
//!   than its request: stock that Redis or this instance forgot about is never
//!   refused.
//!
//! # Every waiter gets one correct answer
//! - Idempotency: the order id is unique. An order already reserved (by an
//!   earlier call, another instance, or the same order twice in a group) is
//!   not claimed and gets its reservation back as Reserve always did (the
//!   same lines), or the reason why not ([`reservations::existing`]).
//! - Lock order: every writer claims order ids (sorted) before it locks stock
//!   rows (sorted), and a group never claims after it locked: no cycle, no
//!   deadlock.
//! - A failed group (a statement fails, the connection drops, a commit whose
//!   outcome is unknown) is never assumed to have held or refused anything:
//!   each of its waiters decides alone with the single statement. An order the
//!   failed group did reserve after all is then found by its claim and
//!   returned, never reserved twice. A worker that dies drops its waiters'
//!   answers; they too decide alone.

use std::{
    collections::HashSet,
    hash::{BuildHasher, RandomState},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::{
    cache::AvailabilityCache,
    domain::{
        Actor, Channel, OrderId, ReservationLine, ReservationState,
        group::{Decision, FreeUnits, ShortLine},
    },
    error::{InventoryError, Shortage},
    feed::LedgerFeed,
    reservations,
    store::{
        Store,
        group::rows_of,
        reservations::{NewReservation, ReservationRecord},
    },
};

/// The most orders decided in one transaction.
pub const MAX_GROUP: usize = 256;
/// Queues per instance: at most this many group transactions in flight. Two
/// let one group be decided while the other waits for its commit; on two
/// cores, spread Reserves ran faster with two queues than with one or four
/// (bigger groups against more of them in flight).
pub const SHARDS: usize = 2;
/// Sold-out marks kept per queue before they are forgotten (a row without its
/// mark is decided under its lock, which is only slower).
const MAX_SOLD_OUT_MARKS: usize = 4096;

/// A Reserve as it waits for its group.
#[derive(Debug)]
pub struct Reservation {
    /// The order to hold stock for.
    pub order_id: OrderId,
    /// Exact units at exact locations, each (SKU, location) once, at least one.
    pub lines: Vec<ReservationLine>,
    /// How long the hold lasts unless committed.
    pub ttl: Duration,
    /// The channel it is made for, if named.
    pub channel: Option<Channel>,
    /// Who asks.
    pub actor: Actor,
}

impl Reservation {
    fn request(&self) -> NewReservation<'_> {
        NewReservation {
            order_id: &self.order_id,
            lines: &self.lines,
            ttl: self.ttl,
            channel: self.channel.as_ref(),
            actor: &self.actor,
        }
    }

    fn shortages(&self, short: Vec<ShortLine>) -> InventoryError {
        let shortages = short
            .into_iter()
            .filter_map(|short| {
                let line = self.lines.get(short.line)?;
                Some(Shortage {
                    sku: line.sku.to_string(),
                    location_id: line.location_id.to_string(),
                    requested: line.quantity.get(),
                    available: short.available,
                })
            })
            .collect();
        InventoryError::InsufficientStock(shortages)
    }
}

/// The Reserve queues of one instance.
pub struct GroupCommit {
    store: Store,
    cache: Arc<AvailabilityCache>,
    feed: LedgerFeed,
    queues: [Mutex<Queue>; SHARDS],
    hasher: RandomState,
}

/// A stock row: (SKU, location).
type RowKey = (String, String);

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    /// A worker settles this queue's groups.
    running: bool,
    /// Rows that the last group to read them left with nothing free.
    sold_out: HashSet<RowKey>,
}

impl Queue {
    /// Whether a row of these lines is marked sold out.
    fn names_sold_out(&self, lines: &[ReservationLine]) -> bool {
        !self.sold_out.is_empty()
            && lines
                .iter()
                .any(|line| self.sold_out.contains(&row_key(line)))
    }

    /// Marks rows sold out, or not, as a group found them.
    fn mark(&mut self, rows: Vec<(RowKey, bool)>) {
        for (row, sold_out) in rows {
            if sold_out {
                if self.sold_out.len() >= MAX_SOLD_OUT_MARKS {
                    self.sold_out.clear();
                }
                self.sold_out.insert(row);
            } else {
                self.sold_out.remove(&row);
            }
        }
    }
}

struct Waiter {
    reservation: Arc<Reservation>,
    answer: oneshot::Sender<Verdict>,
}

/// What a group decided for one of its waiters.
enum Verdict {
    /// The answer.
    Done(Result<ReservationRecord, InventoryError>),
    /// The order has a reservation: the waiter looks it up.
    Exists,
    /// Not decided in the group: the waiter decides alone.
    Alone,
}

impl GroupCommit {
    /// Queues over `store`; a group that held stock marks its SKUs changed in
    /// `cache` and wakes `feed`.
    pub fn new(store: Store, cache: Arc<AvailabilityCache>, feed: LedgerFeed) -> GroupCommit {
        GroupCommit {
            store,
            cache,
            feed,
            queues: Default::default(),
            hasher: RandomState::new(),
        }
    }

    /// Holds every line for the order, or nothing, decided with the other
    /// Reserves of its queue that wait at the same time. A retry with
    /// the same lines returns the reservation made first.
    pub async fn reserve(
        self: &Arc<Self>,
        reservation: Reservation,
    ) -> Result<ReservationRecord, InventoryError> {
        let Some(key) = reservation
            .lines
            .iter()
            .map(|line| (line.sku.as_str(), line.location_id.as_str()))
            .min()
            .map(|(sku, location_id)| (sku.to_owned(), location_id.to_owned()))
        else {
            return Err(InventoryError::invalid(
                "lines",
                "at least one line is required",
            ));
        };
        let shard = self.shard_of(&key);
        let reservation = Arc::new(reservation);
        let (answer, verdict) = oneshot::channel();
        let start = {
            let mut queue = self.queue(shard);
            queue.waiting.push(Waiter {
                reservation: reservation.clone(),
                answer,
            });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            tokio::spawn(self.clone().work(shard));
        }
        match verdict.await {
            Ok(Verdict::Done(result)) => result,
            Ok(Verdict::Exists) => {
                reservations::existing(&self.store, &reservation.request()).await
            }
            Ok(Verdict::Alone) | Err(_) => {
                let held = reservations::reserve(&self.store, &reservation.request()).await;
                if held.is_ok() {
                    self.changed([reservation.lines.as_slice()]).await;
                }
                held
            }
        }
    }

    /// The queue of the orders whose first stock row is `key`.
    fn shard_of(&self, key: &RowKey) -> usize {
        let shards = u64::try_from(SHARDS).unwrap_or(1);
        usize::try_from(self.hasher.hash_one(key) % shards).unwrap_or(0)
    }

    fn queue(&self, shard: usize) -> MutexGuard<'_, Queue> {
        self.queues[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Settles the queue of `shard`, one group after the other, until it is
    /// empty.
    async fn work(self: Arc<Self>, shard: usize) {
        let mut shift = Shift {
            owner: &self,
            shard,
            done: false,
        };
        loop {
            let (group, suspect) = {
                let mut queue = self.queue(shard);
                if queue.waiting.is_empty() {
                    queue.running = false;
                    shift.done = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_GROUP);
                let group: Vec<Waiter> = queue.waiting.drain(..take).collect();
                let suspect = group
                    .iter()
                    .any(|waiter| queue.names_sold_out(&waiter.reservation.lines));
                (group, suspect)
            };
            let rows = self.settle(group, suspect).await;
            self.queue(shard).mark(rows);
        }
    }

    /// Settles one group, read first without locks when `suspect` (it names a
    /// row marked sold out); returns the rows it found with nothing free, or
    /// with some.
    async fn settle(&self, mut group: Vec<Waiter>, suspect: bool) -> Vec<(RowKey, bool)> {
        let mut found = Vec::new();
        if suspect {
            match self.refuse_sold_out(&mut group).await {
                Ok(rows) => found = rows,
                // The locked path decides them, or finds the database gone.
                Err(err) => tracing::warn!(error = %err, "sold-out read failed"),
            }
        }
        if group.is_empty() {
            return found;
        }
        if group.len() == 1 {
            let waiter = group.remove(0);
            let lines = &waiter.reservation.lines;
            let held = reservations::reserve(&self.store, &waiter.reservation.request()).await;
            match &held {
                Ok(_) => {
                    self.changed([lines.as_slice()]).await;
                    found.extend(lines.iter().map(|line| (row_key(line), false)));
                }
                Err(InventoryError::InsufficientStock(shortages)) => {
                    found.extend(shortages.iter().map(|short| {
                        (
                            (short.sku.clone(), short.location_id.clone()),
                            short.available <= 0,
                        )
                    }));
                }
                Err(_) => {}
            }
            // A waiter that went away (its call was cancelled) needs no answer.
            let _ = waiter.answer.send(Verdict::Done(held));
            return found;
        }
        match self.decide_together(&group).await {
            Ok((verdicts, rows)) => {
                for (waiter, verdict) in group.into_iter().zip(verdicts) {
                    let _ = waiter.answer.send(verdict);
                }
                found.extend(rows);
            }
            Err(err) => {
                tracing::warn!(error = %err, orders = group.len(), "grouped reserve failed: each order is decided alone");
                for waiter in group {
                    let _ = waiter.answer.send(Verdict::Alone);
                }
            }
        }
        found
    }

    /// Refuses the orders of `group` that cannot fit what is free now, read
    /// without locks, and answers those whose order has a reservation; leaves
    /// the others in `group`. Returns the rows read, each with whether it has
    /// nothing free.
    async fn refuse_sold_out(
        &self,
        group: &mut Vec<Waiter>,
    ) -> Result<Vec<(RowKey, bool)>, InventoryError> {
        let rows = rows_of(
            group
                .iter()
                .map(|waiter| waiter.reservation.lines.as_slice()),
        );
        let orders: Vec<&str> = group
            .iter()
            .map(|waiter| waiter.reservation.order_id.as_str())
            .collect();
        let (free, reserved) = self.store.free_units(&rows, &orders).await?;
        let free = FreeUnits::new(free);
        let mut rest = Vec::with_capacity(group.len());
        for waiter in group.drain(..) {
            let order = waiter.reservation.order_id.as_str();
            match free.short_lines(&waiter.reservation.lines) {
                Some(short) if !short.is_empty() => {
                    let verdict = if reserved.iter().any(|held| held == order) {
                        Verdict::Exists
                    } else {
                        Verdict::Done(Err(waiter.reservation.shortages(short)))
                    };
                    // A waiter that went away needs no answer.
                    let _ = waiter.answer.send(verdict);
                }
                _ => rest.push(waiter),
            }
        }
        *group = rest;
        Ok(sold_out_rows(&rows, &free))
    }

    /// Decides `group` in one transaction; returns each waiter's verdict and
    /// the rows it locked, each with whether it was left with nothing free.
    async fn decide_together(
        &self,
        group: &[Waiter],
    ) -> Result<(Vec<Verdict>, Vec<(RowKey, bool)>), InventoryError> {
        let requests: Vec<(Uuid, NewReservation<'_>)> = group
            .iter()
            .map(|waiter| (Uuid::now_v7(), waiter.reservation.request()))
            .collect();
        let claiming: Vec<(Uuid, &NewReservation<'_>)> = requests
            .iter()
            .map(|(id, request)| (*id, request))
            .collect();
        let rows = rows_of(
            group
                .iter()
                .map(|waiter| waiter.reservation.lines.as_slice()),
        );

        let mut tx = self.store.begin_group().await?;
        let (claims, locked) = Store::claim_and_lock(&mut tx, &claiming, &rows).await?;
        let mut free = FreeUnits::new(locked.iter().map(|row| {
            (
                row.sku.clone(),
                row.location_id.clone(),
                row.on_hand - row.reserved,
            )
        }));
        let mut held = Vec::new();
        let mut dropped = Vec::new();
        let mut decided = Vec::with_capacity(requests.len());
        for (id, request) in &claiming {
            // Unclaimed: the order has a reservation, or is earlier in the group.
            let decision = claims.get(id).map(|_| free.decide(request.lines));
            match &decision {
                Some(Decision::Hold) => held.push((*id, *request)),
                Some(Decision::Short(_) | Decision::Unknown) => dropped.push(*id),
                None => {}
            }
            decided.push(decision);
        }
        if !held.is_empty() || !dropped.is_empty() {
            Store::write_group(&mut tx, &locked, &held, &dropped).await?;
        }
        tx.commit().await?;

        if !held.is_empty() {
            self.changed(held.iter().map(|(_, request)| request.lines))
                .await;
        }
        let unheld: Vec<&str> = claiming
            .iter()
            .filter(|(id, _)| dropped.contains(id))
            .map(|(_, request)| request.order_id.as_str())
            .collect();
        let verdicts = group
            .iter()
            .zip(&claiming)
            .zip(decided)
            .map(
                |((waiter, (id, request)), decision)| match (decision, claims.get(id)) {
                    (Some(Decision::Hold), Some(claim)) => Verdict::Done(Ok(ReservationRecord {
                        reservation_id: *id,
                        order_id: request.order_id.to_string(),
                        channel: request.channel.cloned(),
                        state: ReservationState::Held,
                        lines: request.lines.to_vec(),
                        create_time: claim.create_time,
                        expire_time: claim.expire_time,
                        update_time: claim.create_time,
                        release_reason: String::new(),
                    })),
                    (Some(Decision::Short(short)), _) => {
                        Verdict::Done(Err(waiter.reservation.shortages(short)))
                    }
                    (Some(Decision::Unknown), _) => Verdict::Alone,
                    // The same order earlier in this group, and not held there:
                    // its claim is gone, so this one decides alone.
                    (None, _) if unheld.contains(&request.order_id.as_str()) => Verdict::Alone,
                    (Some(Decision::Hold), None) | (None, _) => Verdict::Exists,
                },
            )
            .collect();
        let left = if locked.is_empty() {
            // Nothing was claimed, so nothing was locked or read.
            Vec::new()
        } else {
            sold_out_rows(&rows, &free)
        };
        Ok((verdicts, left))
    }

    /// After a commit that held stock of these lines: their cached
    /// availability is stale, and the ledger feed has news.
    async fn changed<'a>(&self, orders: impl IntoIterator<Item = &'a [ReservationLine]>) {
        let mut skus: Vec<&str> = orders
            .into_iter()
            .flatten()
            .map(|line| line.sku.as_str())
            .collect();
        skus.sort_unstable();
        skus.dedup();
        self.cache.invalidate(skus).await;
        self.feed.wake();
    }
}

/// A worker's turn at its queue. Should the worker die before its queue is
/// empty, the queue is handed back: its waiters' answers are dropped (they
/// decide alone) and the next Reserve starts a new worker.
struct Shift<'a> {
    owner: &'a GroupCommit,
    shard: usize,
    done: bool,
}

impl Drop for Shift<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut queue = self.owner.queue(self.shard);
        queue.running = false;
        queue.waiting.clear();
    }
}

/// The (SKU, location) row of a line.
fn row_key(line: &ReservationLine) -> RowKey {
    (line.sku.to_string(), line.location_id.to_string())
}

/// Each of `rows` (two columns) with whether `free` shows nothing free there
/// (a row not read does not exist, or its location is inactive).
fn sold_out_rows(rows: &(Vec<String>, Vec<String>), free: &FreeUnits) -> Vec<(RowKey, bool)> {
    rows.0
        .iter()
        .zip(&rows.1)
        .map(|(sku, location_id)| {
            let sold_out = free.at(sku, location_id).is_none_or(|free| free <= 0);
            ((sku.clone(), location_id.clone()), sold_out)
        })
        .collect()
}
