//! Reserve by group commit: the reservations of one stock row that arrive
//! while a transaction on that row is in flight are decided together in the
//! next transaction, the way databases group commits. A flash sale (one SKU,
//! every channel at once) then costs one commit per group, not one per order,
//! and each order still gets its own answer, its own reservation and its own
//! ledger entries.
//!
//! # How
//! Each instance keeps one queue per stock row, keyed by the first
//! (sku, location) of an order's lines in sorted order. The first Reserve to
//! find a queue idle starts its worker; the worker takes everything waiting
//! (at most [`MAX_GROUP`]) and settles it as one group while later arrivals
//! wait for the next one, until the queue is empty:
//! 1. Sold out (the last group left the row with nothing free): one read of
//!    the group's rows without any lock. An order that the committed figures
//!    show cannot fit is refused at once, or gets its reservation back when
//!    its order has one; the others go on.
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
    collections::HashMap,
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
/// Idle queues kept (for their sold-out mark) before they are forgotten.
const MAX_IDLE_QUEUES: usize = 4096;

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
    queues: Mutex<HashMap<RowKey, Queue>>,
}

/// A stock row: (SKU, location).
type RowKey = (String, String);

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiter>,
    /// A worker settles this queue's groups.
    running: bool,
    /// The last group left the row with nothing free.
    sold_out: bool,
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
            queues: Mutex::new(HashMap::new()),
        }
    }

    /// Holds every line for the order, or nothing, decided with the other
    /// Reserves of its first stock row that wait at the same time. A retry with
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
        let reservation = Arc::new(reservation);
        let (answer, verdict) = oneshot::channel();
        let start = {
            let mut queues = self.queues();
            let queue = queues.entry(key.clone()).or_default();
            queue.waiting.push(Waiter {
                reservation: reservation.clone(),
                answer,
            });
            !std::mem::replace(&mut queue.running, true)
        };
        if start {
            tokio::spawn(self.clone().work(key));
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

    fn queues(&self) -> MutexGuard<'_, HashMap<RowKey, Queue>> {
        self.queues
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Settles the queue of `key`, one group after the other, until it is empty.
    async fn work(self: Arc<Self>, key: RowKey) {
        let mut shift = Shift {
            owner: &self,
            key: &key,
            done: false,
        };
        loop {
            let (group, sold_out) = {
                let mut queues = self.queues();
                let Some(queue) = queues.get_mut(&key) else {
                    shift.done = true;
                    return;
                };
                if queue.waiting.is_empty() {
                    queue.running = false;
                    if queues.len() > MAX_IDLE_QUEUES {
                        queues.retain(|_, queue| queue.running || !queue.waiting.is_empty());
                    }
                    shift.done = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_GROUP);
                let group: Vec<Waiter> = queue.waiting.drain(..take).collect();
                (group, queue.sold_out)
            };
            let sold_out = self.settle(&key, group, sold_out).await;
            if let (Some(sold_out), Some(queue)) = (sold_out, self.queues().get_mut(&key)) {
                queue.sold_out = sold_out;
            }
        }
    }

    /// Settles one group; returns whether the row of `key` was left with
    /// nothing free, when that is known.
    async fn settle(&self, key: &RowKey, mut group: Vec<Waiter>, sold_out: bool) -> Option<bool> {
        let mut left_sold_out = None;
        if sold_out {
            match self.refuse_sold_out(key, &mut group).await {
                Ok(still) => left_sold_out = Some(still),
                // The locked path decides them, or finds the database gone.
                Err(err) => tracing::warn!(error = %err, "sold-out read failed"),
            }
        }
        if group.is_empty() {
            return left_sold_out;
        }
        if group.len() == 1 {
            let waiter = group.remove(0);
            let held = reservations::reserve(&self.store, &waiter.reservation.request()).await;
            let left = match &held {
                Ok(_) => {
                    self.changed([waiter.reservation.lines.as_slice()]).await;
                    Some(false)
                }
                Err(InventoryError::InsufficientStock(shortages)) => Some(
                    shortages
                        .iter()
                        .any(|s| (&s.sku, &s.location_id) == (&key.0, &key.1) && s.available <= 0),
                ),
                Err(_) => None,
            };
            // A waiter that went away (its call was cancelled) needs no answer.
            let _ = waiter.answer.send(Verdict::Done(held));
            return left;
        }
        match self.decide_together(key, &group).await {
            Ok((verdicts, left)) => {
                for (waiter, verdict) in group.into_iter().zip(verdicts) {
                    let _ = waiter.answer.send(verdict);
                }
                left
            }
            Err(err) => {
                tracing::warn!(error = %err, orders = group.len(), "grouped reserve failed: each order is decided alone");
                for waiter in group {
                    let _ = waiter.answer.send(Verdict::Alone);
                }
                None
            }
        }
    }

    /// Refuses the orders of `group` that cannot fit what is free now, read
    /// without locks, and answers those whose order has a reservation; leaves
    /// the others in `group`. Returns whether the row of `key` has nothing free.
    async fn refuse_sold_out(
        &self,
        key: &RowKey,
        group: &mut Vec<Waiter>,
    ) -> Result<bool, InventoryError> {
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
        Ok(free.at(&key.0, &key.1).is_none_or(|free| free <= 0))
    }

    /// Decides `group` in one transaction; returns each waiter's verdict and
    /// whether the row of `key` was left with nothing free, when known.
    async fn decide_together(
        &self,
        key: &RowKey,
        group: &[Waiter],
    ) -> Result<(Vec<Verdict>, Option<bool>), InventoryError> {
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

        let mut tx = self.store.begin().await?;
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
        let left =
            (!locked.is_empty()).then(|| free.at(&key.0, &key.1).is_none_or(|free| free <= 0));
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
    key: &'a RowKey,
    done: bool,
}

impl Drop for Shift<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Some(queue) = self.owner.queues().get_mut(self.key) {
            queue.running = false;
            queue.waiting.clear();
        }
    }
}
