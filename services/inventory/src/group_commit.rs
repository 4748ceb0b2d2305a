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
//! empty. The queue remembers how many units each row had free when a group
//! last saw it; that guess only chooses the way a group is decided:
//! 1. Sold out (a row the group names was left with nothing free): one read
//!    of the group's rows without any lock, once the worker has let the
//!    runtime run its other ready tasks (and so more of the waiters in). An order that the committed
//!    figures show cannot fit is refused at once, or gets its reservation
//!    back when its order has one; the others are decided order by order
//!    (steps 3 and 4).
//! 2. Whole (every row had enough free for the whole group, or is unknown):
//!    one statement that commits by itself ([`Store::hold_all`]). Where the
//!    queue has not seen some row, it first checks that each exists at an
//!    active location, and claims nothing if one does not. It claims every
//!    order that has no reservation, locks the group's rows, and only if
//!    every row's latest version covers what the claimed orders ask of it,
//!    writes them all held; otherwise it raises and rolls back, claims
//!    included. Either way the group is then decided order by order. The rows' locks are
//!    held while Postgres runs it and commits, never across a round trip to
//!    this process: this is what lets two instances share a hot row. It locks
//!    and updates the rows through two functions whose statements take their
//!    own snapshots (migration 0003): a group that waited for another
//!    instance's lock re-reads the row by a small query, not by setting up
//!    the whole statement again while it holds the lock (two instances' p50
//!    at 2,000 Reserves/s on one SKU fell from 8 to 11 ms to 5 to 6 ms).
//! 3. Order by order, a group of one: the guarded statement of
//!    [`reservations::reserve`], which is what a lone Reserve always did.
//! 4. Order by order, a larger group: one transaction. Claim every order
//!    (insert its HELD reservation, in order id order, `ON CONFLICT
//!    (order_id) DO NOTHING`); lock the stock rows the group names in (sku,
//!    location) order and read them; decide each order in arrival order
//!    ([`crate::domain::group`]): held when every line fits what the orders
//!    before it left free; write the held orders' lines, one RESERVE ledger
//!    entry per line and the stock rows; delete the claims of the others;
//!    commit; answer each waiter.
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
//!   by a group never exceed what was free when it locked. A group held whole
//!   (step 2) is decided before the locks, on a guess, but written only when
//!   each row's latest version, read under its lock in the same statement,
//!   covers the sum of what the group holds there; the guess can cost a
//!   statement that writes nothing, never a unit that was not free.
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
//!   a group that failed whole is decided order by order, and one that failed
//!   order by order has each of its waiters decide alone with the single
//!   statement. An order the failed group did reserve after all is then found
//!   by its claim and returned, never reserved twice. A worker that dies drops its waiters'
//!   answers; they too decide alone.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use sqlx::{PgConnection, Postgres, pool::PoolConnection};
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
        group::{Claim, rows_of},
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
/// How long a queue's worker keeps one connection while its queue stays busy
/// before it hands it back to the pool and takes one again (so the pool still
/// retires old connections and finds dead ones).
const KEEP_CONNECTION: Duration = Duration::from_secs(1);
/// How many times a worker lets the runtime run its other ready tasks before
/// the read of a sold-out group, as long as each time brought more waiters.
/// Each refusal waits for a read taken after it arrived, and each read is a
/// round trip to Postgres: the callers the last read answered are often
/// about to ask again, and a yield lets them join this read rather than wait
/// for the next one. A yield waits for no timer, so an idle runtime goes on
/// at once. Two instances' refusals, four interleaved pairs of the reserve
/// bench: medians 13,800 -> 19,000/s.
const MAX_GATHER_YIELDS: usize = 4;
/// Rows whose free units a queue remembers before it forgets them all (a row
/// it knows nothing of is tried whole first, which costs one failed statement
/// at worst).
const MAX_KNOWN_ROWS: usize = 4096;

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
    /// The free units of rows as the last group to read them left them: a
    /// guess (other instances, releases and counts change them), never a
    /// reason to hold or refuse, only the choice of how to decide.
    free: HashMap<RowKey, i32>,
}

/// How a group is decided, from what its queue knows of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// A row was left with nothing free: read first, refuse who cannot fit.
    SoldOut,
    /// Every row had enough for the whole group, or is unknown: hold it whole
    /// in one statement ([`Store::hold_all`]), order by order if that fails;
    /// `unknown` when the queue has not seen some row (the statement then
    /// first checks that each exists).
    Whole { unknown: bool },
    /// Some row had too little for the whole group: order by order.
    OneByOne,
}

impl Queue {
    /// How to decide `group`.
    fn plan(&self, group: &[Waiter]) -> Plan {
        if self.free.is_empty() {
            return Plan::Whole { unknown: true };
        }
        let mut asked: HashMap<(&str, &str), i64> = HashMap::new();
        for line in group.iter().flat_map(|waiter| &waiter.reservation.lines) {
            *asked
                .entry((line.sku.as_str(), line.location_id.as_str()))
                .or_insert(0) += i64::from(line.quantity.get());
        }
        let (mut short, mut unknown) = (false, false);
        for ((sku, location_id), units) in asked {
            match self.free.get(&(sku.to_owned(), location_id.to_owned())) {
                Some(free) if *free <= 0 => return Plan::SoldOut,
                Some(free) if i64::from(*free) < units => short = true,
                Some(_) => {}
                None => unknown = true,
            }
        }
        if short {
            Plan::OneByOne
        } else {
            Plan::Whole { unknown }
        }
    }

    /// Remembers the free units of rows as a group found them (`None`: not
    /// known).
    fn mark(&mut self, rows: Vec<(RowKey, Option<i32>)>) {
        for (row, free) in rows {
            match free {
                Some(free) => {
                    if self.free.len() >= MAX_KNOWN_ROWS {
                        self.free.clear();
                    }
                    self.free.insert(row, free);
                }
                None => {
                    self.free.remove(&row);
                }
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
        // The connection this turn keeps while its queue stays busy, and since
        // when: a connection handed back to the pool costs a ping.
        let mut kept: Option<(PoolConnection<Postgres>, Instant)> = None;
        // Waiters seen before the last yield, and yields, for this group.
        let (mut gathered, mut yields) = (0, 0);
        loop {
            let taken = {
                let mut queue = self.queue(shard);
                if queue.waiting.is_empty() {
                    queue.running = false;
                    shift.done = true;
                    return;
                }
                let take = queue.waiting.len().min(MAX_GROUP);
                let plan = queue.plan(&queue.waiting[..take]);
                let waiting = queue.waiting.len();
                if plan == Plan::SoldOut && yields < MAX_GATHER_YIELDS && waiting > gathered {
                    gathered = waiting;
                    None
                } else {
                    Some((queue.waiting.drain(..take).collect::<Vec<_>>(), plan))
                }
            };
            let Some((group, plan)) = taken else {
                yields += 1;
                tokio::task::yield_now().await;
                continue;
            };
            (gathered, yields) = (0, 0);
            if kept
                .as_ref()
                .is_some_and(|(_, since)| since.elapsed() >= KEEP_CONNECTION)
            {
                kept = None;
            }
            let connection = match &mut kept {
                Some((connection, _)) => connection,
                None => match self.store.group_connection().await {
                    Ok(connection) => &mut kept.insert((connection, Instant::now())).0,
                    Err(err) => {
                        tracing::warn!(error = %err, orders = group.len(), "no connection for a group: each order is decided alone");
                        for waiter in group {
                            let _ = waiter.answer.send(Verdict::Alone);
                        }
                        continue;
                    }
                },
            };
            let (rows, healthy) = self.settle(connection, group, plan).await;
            if !healthy {
                // Handed back, the pool pings it and closes it if it is dead.
                kept = None;
            }
            self.queue(shard).mark(rows);
        }
    }

    /// Settles one group on `connection` as `plan` says; returns the free
    /// units of the rows it found (`None`: not known), and false when a
    /// statement failed on the connection.
    async fn settle(
        &self,
        connection: &mut PgConnection,
        mut group: Vec<Waiter>,
        plan: Plan,
    ) -> (Vec<(RowKey, Option<i32>)>, bool) {
        let mut found = Vec::new();
        let mut healthy = true;
        if plan == Plan::SoldOut {
            match self.refuse_sold_out(connection, &mut group).await {
                Ok(rows) => found = rows,
                // The locked path decides them, or finds the database gone.
                Err(err) => {
                    healthy = false;
                    tracing::warn!(error = %err, "sold-out read failed");
                }
            }
        }
        if group.is_empty() {
            return (found, healthy);
        }
        if let Plan::Whole { unknown } = plan {
            match self.hold_whole(connection, &group, unknown).await {
                Ok(Some((verdicts, rows))) => {
                    for (waiter, verdict) in group.into_iter().zip(verdicts) {
                        // A waiter that went away (its call was cancelled)
                        // needs no answer.
                        let _ = waiter.answer.send(verdict);
                    }
                    found.extend(rows);
                    return (found, healthy);
                }
                // Not every order fits: order by order below.
                Ok(None) => {}
                Err(err) => {
                    healthy = false;
                    tracing::warn!(error = %err, orders = group.len(), "held whole, a group failed: it is decided order by order");
                }
            }
        }
        if group.len() == 1 {
            let waiter = group.remove(0);
            let lines = &waiter.reservation.lines;
            let held = reservations::reserve(&self.store, &waiter.reservation.request()).await;
            match &held {
                Ok(_) => {
                    self.changed([lines.as_slice()]).await;
                    found.extend(lines.iter().map(|line| (row_key(line), None)));
                }
                Err(InventoryError::InsufficientStock(shortages)) => {
                    found.extend(shortages.iter().map(|short| {
                        (
                            (short.sku.clone(), short.location_id.clone()),
                            Some(short.available),
                        )
                    }));
                }
                Err(_) => {}
            }
            // A waiter that went away (its call was cancelled) needs no answer.
            let _ = waiter.answer.send(Verdict::Done(held));
            return (found, healthy);
        }
        match self.decide_together(connection, &group).await {
            Ok((verdicts, rows)) => {
                for (waiter, verdict) in group.into_iter().zip(verdicts) {
                    let _ = waiter.answer.send(verdict);
                }
                found.extend(rows);
            }
            Err(err) => {
                healthy = false;
                tracing::warn!(error = %err, orders = group.len(), "grouped reserve failed: each order is decided alone");
                for waiter in group {
                    let _ = waiter.answer.send(Verdict::Alone);
                }
            }
        }
        (found, healthy)
    }

    /// Refuses the orders of `group` that cannot fit what is free now, read
    /// without locks, and answers those whose order has a reservation; leaves
    /// the others in `group`. Returns the rows read, each with whether it has
    /// nothing free.
    async fn refuse_sold_out(
        &self,
        connection: &mut PgConnection,
        group: &mut Vec<Waiter>,
    ) -> Result<Vec<(RowKey, Option<i32>)>, InventoryError> {
        let rows = rows_of(
            group
                .iter()
                .map(|waiter| waiter.reservation.lines.as_slice()),
        );
        let orders: Vec<&str> = group
            .iter()
            .map(|waiter| waiter.reservation.order_id.as_str())
            .collect();
        let (free, reserved) = Store::free_units(connection, &rows, &orders).await?;
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
        Ok(free_rows(&rows, &free))
    }

    /// Holds every order of `group` in one statement that checks each row
    /// under its lock ([`Store::hold_all`]); returns each waiter's verdict and
    /// the free units left on each row, or `None`, with nothing written, when
    /// not every order fits.
    async fn hold_whole(
        &self,
        connection: &mut PgConnection,
        group: &[Waiter],
        unknown: bool,
    ) -> Result<Option<(Vec<Verdict>, Vec<(RowKey, Option<i32>)>)>, InventoryError> {
        let requests = minted(group);
        let holding: Vec<(Uuid, &NewReservation<'_>)> = requests
            .iter()
            .map(|(id, request)| (*id, request))
            .collect();
        let Some(mut held) = Store::hold_all(connection, &holding, unknown).await? else {
            return Ok(None);
        };
        self.changed(requests.iter().map(|(_, request)| request.lines))
            .await;
        // An order without its claim has a reservation, made earlier or by
        // the same order earlier in this group: the waiter looks it up.
        let verdicts = requests
            .iter()
            .map(|(id, request)| match held.claims.remove(id) {
                Some(claim) => Verdict::Done(Ok(held_record(*id, request, &claim))),
                None => Verdict::Exists,
            })
            .collect();
        let rows = held
            .free
            .into_iter()
            .map(|(sku, location_id, free)| ((sku, location_id), Some(free)))
            .collect();
        Ok(Some((verdicts, rows)))
    }

    /// Decides `group` in one transaction; returns each waiter's verdict and
    /// the rows it locked, each with whether it was left with nothing free.
    async fn decide_together(
        &self,
        connection: &mut PgConnection,
        group: &[Waiter],
    ) -> Result<(Vec<Verdict>, Vec<(RowKey, Option<i32>)>), InventoryError> {
        let requests = minted(group);
        let claiming: Vec<(Uuid, &NewReservation<'_>)> = requests
            .iter()
            .map(|(id, request)| (*id, request))
            .collect();
        let rows = rows_of(
            group
                .iter()
                .map(|waiter| waiter.reservation.lines.as_slice()),
        );

        let mut tx = Store::begin_group(connection).await?;
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
                    (Some(Decision::Hold), Some(claim)) => {
                        Verdict::Done(Ok(held_record(*id, request, claim)))
                    }
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
            free_rows(&rows, &free)
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

/// Each of `rows` (two columns) with its units free in `free` (0 for a row
/// not read: it does not exist, or its location is inactive).
fn free_rows(rows: &(Vec<String>, Vec<String>), free: &FreeUnits) -> Vec<(RowKey, Option<i32>)> {
    rows.0
        .iter()
        .zip(&rows.1)
        .map(|(sku, location_id)| {
            let units = free.at(sku, location_id).unwrap_or(0);
            ((sku.clone(), location_id.clone()), Some(units))
        })
        .collect()
}

/// Each waiter's request with the id of the reservation it would get.
fn minted(group: &[Waiter]) -> Vec<(Uuid, NewReservation<'_>)> {
    group
        .iter()
        .map(|waiter| (Uuid::now_v7(), waiter.reservation.request()))
        .collect()
}

/// The reservation `claim` made for `request`, held.
fn held_record(id: Uuid, request: &NewReservation<'_>, claim: &Claim) -> ReservationRecord {
    ReservationRecord {
        reservation_id: id,
        order_id: request.order_id.to_string(),
        channel: request.channel.cloned(),
        state: ReservationState::Held,
        lines: request.lines.to_vec(),
        create_time: claim.create_time,
        expire_time: claim.expire_time,
        update_time: claim.create_time,
        release_reason: String::new(),
    }
}
