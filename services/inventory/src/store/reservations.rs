//! Reservations, the hot path: the statements of Reserve, Release,
//! CommitReservation and expiry, and the reads around them.
//!
//! Each change is one guarded statement in the caller's short transaction
//! ([`crate::reservations`] owns them). The statement locks
//! the stock rows it touches in (sku, location_id) order, so concurrent
//! multi-line reservations never deadlock, and the guard
//! `on_hand - reserved >= quantity` is evaluated on the latest row version
//! after the lock: that guard, not any lock in Redis, is what makes oversell
//! impossible.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::Store;
use crate::{
    domain::{
        Actor, Channel, LocationId, MovementKind, OrderId, Quantity, ReservationLine,
        ReservationState, Sku,
    },
    error::{InventoryError, Shortage},
};

/// A reservation and its lines.
#[derive(Debug, Clone)]
pub struct ReservationRecord {
    /// The id the service minted.
    pub reservation_id: Uuid,
    /// The order it holds stock for; one reservation per order.
    pub order_id: String,
    /// The channel it was made for, if named.
    pub channel: Option<Channel>,
    /// Held, committed, released or expired.
    pub state: ReservationState,
    /// Its lines; none for a release recorded before any reserve.
    pub lines: Vec<ReservationLine>,
    /// When it was made.
    pub create_time: DateTime<Utc>,
    /// When a hold lapses; `None` for a release recorded before any reserve.
    pub expire_time: Option<DateTime<Utc>>,
    /// The last change.
    pub update_time: DateTime<Utc>,
    /// Why it was released, when it was.
    pub release_reason: String,
}

#[derive(FromRow)]
struct ReservationRow {
    reservation_id: Uuid,
    order_id: String,
    channel_kind: i16,
    channel_name: String,
    state: String,
    create_time: DateTime<Utc>,
    expire_time: Option<DateTime<Utc>>,
    update_time: DateTime<Utc>,
    release_reason: String,
    skus: Vec<String>,
    location_ids: Vec<String>,
    quantities: Vec<i32>,
}

const RESERVATION_SELECT: &str = "SELECT r.reservation_id, r.order_id, r.channel_kind,
        r.channel_name, r.state, r.create_time, r.expire_time, r.update_time, r.release_reason,
        coalesce(array_agg(l.sku ORDER BY l.position) FILTER (WHERE l.sku IS NOT NULL), '{}') AS skus,
        coalesce(array_agg(l.location_id ORDER BY l.position) FILTER (WHERE l.sku IS NOT NULL), '{}') AS location_ids,
        coalesce(array_agg(l.quantity ORDER BY l.position) FILTER (WHERE l.sku IS NOT NULL), '{}') AS quantities
    FROM reservations r LEFT JOIN reservation_lines l USING (reservation_id)";

impl TryFrom<ReservationRow> for ReservationRecord {
    type Error = InventoryError;

    fn try_from(row: ReservationRow) -> Result<Self, Self::Error> {
        let corrupt = |what: &str| {
            InventoryError::Corrupt(format!("reservation {}: {what}", row.reservation_id))
        };
        let state = ReservationState::parse(&row.state).ok_or_else(|| corrupt("state"))?;
        let lines = row
            .skus
            .iter()
            .zip(&row.location_ids)
            .zip(&row.quantities)
            .map(|((sku, location_id), quantity)| {
                Some(ReservationLine {
                    sku: Sku::parse(sku).ok()?,
                    location_id: LocationId::parse(location_id).ok()?,
                    quantity: Quantity::new(*quantity).ok()?,
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| corrupt("line"))?;
        let channel = (row.channel_kind != 0).then(|| Channel {
            kind: row.channel_kind,
            name: row.channel_name.clone(),
        });
        Ok(ReservationRecord {
            reservation_id: row.reservation_id,
            order_id: row.order_id,
            channel,
            state,
            lines,
            create_time: row.create_time,
            expire_time: row.expire_time,
            update_time: row.update_time,
            release_reason: row.release_reason,
        })
    }
}

/// What Reserve asks for.
#[derive(Debug)]
pub struct NewReservation<'a> {
    /// The order to hold stock for.
    pub order_id: &'a OrderId,
    /// Exact units at exact locations, each (SKU, location) once.
    pub lines: &'a [ReservationLine],
    /// How long the hold lasts unless committed.
    pub ttl: Duration,
    /// The channel it is made for, if named.
    pub channel: Option<&'a Channel>,
    /// Who asks.
    pub actor: &'a Actor,
}

/// Filters of ListReservations.
#[derive(Debug, Default)]
pub struct ReservationFilter {
    /// Any of these states, as stored (`held`, ...).
    pub states: Vec<String>,
    /// Reservations with a line of this SKU.
    pub sku: Option<String>,
    /// Reservations with a line at this location.
    pub location_id: Option<String>,
    /// Reservations made for this channel.
    pub channel: Option<Channel>,
    /// Reservations that lapse before this time.
    pub expire_before: Option<DateTime<Utc>>,
}

/// What Reserve's guarded statement did.
#[derive(Debug)]
pub enum Hold {
    /// Every line is held: the reservation as made. Commit.
    Held(ReservationRecord),
    /// The order has a reservation already; nothing was written.
    Exists,
    /// A line's guard refused: roll back, and diagnose outside the transaction.
    Short,
}

/// What re-committing an expired reservation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recommit {
    /// Every line came off hand. Commit.
    Committed,
    /// The reservation was not expired (any more): nothing was written.
    NotExpired,
    /// Some line is not available any more: roll back.
    Short,
}

impl Store {
    /// Holds every line for the order in `tx`, or nothing: one guarded
    /// statement that creates the reservation and moves its stock rows.
    pub async fn hold(
        tx: &mut PgConnection,
        request: &NewReservation<'_>,
    ) -> Result<Hold, InventoryError> {
        let skus: Vec<&str> = request.lines.iter().map(|line| line.sku.as_str()).collect();
        let locations: Vec<&str> = request
            .lines
            .iter()
            .map(|line| line.location_id.as_str())
            .collect();
        let quantities: Vec<i32> = request
            .lines
            .iter()
            .map(|line| line.quantity.get())
            .collect();
        let (channel_kind, channel_name) = request
            .channel
            .map_or((0, ""), |channel| (channel.kind, channel.name.as_str()));
        let reservation_id = Uuid::now_v7();
        let held: Option<(DateTime<Utc>, Option<DateTime<Utc>>, i64)> = sqlx::query_as(
            "WITH request AS (
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int4[]) WITH ORDINALITY
                     AS r(sku, location_id, quantity, position)
             ),
             inserted AS (
                 INSERT INTO reservations (reservation_id, order_id, channel_kind, channel_name,
                     state, expire_time)
                 VALUES ($4, $5, $6, $7, 'held', now() + make_interval(secs => $8))
                 ON CONFLICT (order_id) DO NOTHING
                 RETURNING reservation_id, create_time, expire_time
             ),
             lines AS (
                 INSERT INTO reservation_lines (reservation_id, position, sku, location_id, quantity)
                 SELECT i.reservation_id, r.position, r.sku, r.location_id, r.quantity
                 FROM inserted i, request r
             ),
             locked AS (
                 SELECT s.sku, s.location_id
                 FROM stock s
                 JOIN request r ON r.sku = s.sku AND r.location_id = s.location_id
                 JOIN locations l ON l.location_id = s.location_id AND l.active
                 WHERE EXISTS (SELECT 1 FROM inserted)
                 ORDER BY s.sku, s.location_id
                 FOR UPDATE OF s
             ),
             updated AS (
                 UPDATE stock s
                 SET reserved = s.reserved + r.quantity,
                     sequence = nextval('stock_ledger_sequence'),
                     update_time = now()
                 FROM request r, locked k
                 WHERE s.sku = r.sku AND s.location_id = r.location_id
                   AND k.sku = r.sku AND k.location_id = r.location_id
                   AND s.on_hand - s.reserved >= r.quantity
                 RETURNING s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock,
                     s.sequence, r.quantity
             ),
             moved AS (
                 INSERT INTO stock_movements (sequence, movement_id, sku, location_id, kind,
                     on_hand_before, on_hand_after, reserved_before, reserved_after,
                     safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id)
                 SELECT sequence, gen_random_uuid(), sku, location_id, $9, on_hand, on_hand,
                     reserved - quantity, reserved, safety_stock, safety_stock, $10, $11, $5
                 FROM updated
                 RETURNING 1
             )
             SELECT i.create_time, i.expire_time, (SELECT count(*) FROM moved)
             FROM inserted i",
        )
        .bind(&skus)
        .bind(&locations)
        .bind(&quantities)
        .bind(reservation_id)
        .bind(request.order_id.as_str())
        .bind(channel_kind)
        .bind(channel_name)
        .bind(request.ttl.as_secs_f64())
        .bind(MovementKind::Reserve.code())
        .bind(request.actor.kind.code())
        .bind(&request.actor.id)
        .fetch_optional(&mut *tx)
        .await?;

        let Some((create_time, expire_time, moved)) = held else {
            return Ok(Hold::Exists);
        };
        if usize::try_from(moved).ok() != Some(request.lines.len()) {
            return Ok(Hold::Short);
        }
        Ok(Hold::Held(ReservationRecord {
            reservation_id,
            order_id: request.order_id.to_string(),
            channel: request.channel.cloned(),
            state: ReservationState::Held,
            lines: request.lines.to_vec(),
            create_time,
            expire_time,
            update_time: create_time,
            release_reason: String::new(),
        }))
    }

    /// Why a Reserve was refused: an unknown location or SKU, an inactive
    /// location, or else the units available for each line now.
    pub async fn diagnose(&self, lines: &[ReservationLine]) -> Result<Vec<i32>, InventoryError> {
        let skus: Vec<&str> = lines.iter().map(|line| line.sku.as_str()).collect();
        let locations: Vec<&str> = lines.iter().map(|line| line.location_id.as_str()).collect();
        let rows: Vec<(String, String, bool, bool, bool, i32)> = sqlx::query_as(
            "SELECT r.sku, r.location_id, l.location_id IS NOT NULL, coalesce(l.active, false),
                 EXISTS (SELECT 1 FROM stock x WHERE x.sku = r.sku),
                 coalesce(greatest(s.on_hand - s.reserved, 0), 0)
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS r(sku, location_id, position)
             LEFT JOIN locations l ON l.location_id = r.location_id
             LEFT JOIN stock s ON s.sku = r.sku AND s.location_id = r.location_id
             ORDER BY r.position",
        )
        .bind(&skus)
        .bind(&locations)
        .fetch_all(&self.pool)
        .await?;
        if let Some((_, location_id, ..)) = rows.iter().find(|row| !row.2) {
            return Err(InventoryError::not_found("location", location_id));
        }
        if let Some((sku, ..)) = rows.iter().find(|row| !row.4) {
            return Err(InventoryError::not_found("sku", sku));
        }
        if let Some((_, location_id, ..)) = rows.iter().find(|row| !row.3) {
            return Err(InventoryError::LocationInactive(location_id.clone()));
        }
        Ok(rows.into_iter().map(|row| row.5).collect())
    }

    /// Records a RELEASED reservation without lines for an order that has
    /// none, in `tx`, so a late Reserve holds nothing; false when the order
    /// has a reservation.
    pub async fn insert_released(
        tx: &mut PgConnection,
        order_id: &OrderId,
        reason: &str,
    ) -> Result<bool, InventoryError> {
        let inserted = sqlx::query(
            "INSERT INTO reservations (reservation_id, order_id, state, release_reason)
             VALUES ($1, $2, 'released', $3)
             ON CONFLICT (order_id) DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(order_id.as_str())
        .bind(reason)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    /// Commits an expired reservation again in `tx`: its units come off hand
    /// where they are still available (on hand minus reserved), every line or
    /// none.
    pub async fn recommit(
        tx: &mut PgConnection,
        order_id: &str,
        actor: &Actor,
    ) -> Result<Recommit, InventoryError> {
        let (changed, lines, moved): (i64, i64, i64) = sqlx::query_as(
            "WITH expired AS (
                 UPDATE reservations
                 SET state = $2, update_time = now(), release_reason = ''
                 WHERE order_id = $1 AND state = $3
                 RETURNING reservation_id
             ),
             lines AS (
                 SELECT l.sku, l.location_id, l.quantity
                 FROM reservation_lines l JOIN expired USING (reservation_id)
             ),
             locked AS (
                 SELECT s.sku, s.location_id
                 FROM stock s JOIN lines l ON l.sku = s.sku AND l.location_id = s.location_id
                 ORDER BY s.sku, s.location_id
                 FOR UPDATE OF s
             ),
             updated AS (
                 UPDATE stock s
                 SET on_hand = s.on_hand - l.quantity,
                     sequence = nextval('stock_ledger_sequence'),
                     update_time = now()
                 FROM lines l, locked k
                 WHERE s.sku = l.sku AND s.location_id = l.location_id
                   AND k.sku = l.sku AND k.location_id = l.location_id
                   AND s.on_hand - s.reserved >= l.quantity
                 RETURNING s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock,
                     s.sequence, l.quantity
             ),
             moved AS (
                 INSERT INTO stock_movements (sequence, movement_id, sku, location_id, kind,
                     on_hand_before, on_hand_after, reserved_before, reserved_after,
                     safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id)
                 SELECT sequence, gen_random_uuid(), sku, location_id, $4, on_hand + quantity,
                     on_hand, reserved, reserved, safety_stock, safety_stock, $5, $6, $1
                 FROM updated
                 RETURNING 1
             )
             SELECT (SELECT count(*) FROM expired), (SELECT count(*) FROM lines),
                 (SELECT count(*) FROM moved)",
        )
        .bind(order_id)
        .bind(ReservationState::Committed.as_str())
        .bind(ReservationState::Expired.as_str())
        .bind(MovementKind::Commit.code())
        .bind(actor.kind.code())
        .bind(&actor.id)
        .fetch_one(&mut *tx)
        .await?;
        Ok(match (changed, moved == lines) {
            (0, _) => Recommit::NotExpired,
            (_, true) => Recommit::Committed,
            (_, false) => Recommit::Short,
        })
    }

    /// The units on hand short of each line, for a commit that on hand does
    /// not cover.
    pub async fn on_hand_shortages(
        &self,
        lines: &[ReservationLine],
    ) -> Result<Vec<Shortage>, InventoryError> {
        let mut shortages = Vec::new();
        for line in lines {
            let on_hand: i32 =
                sqlx::query_scalar("SELECT on_hand FROM stock WHERE sku = $1 AND location_id = $2")
                    .bind(line.sku.as_str())
                    .bind(line.location_id.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                    .unwrap_or(0);
            if on_hand < line.quantity.get() {
                shortages.push(Shortage {
                    sku: line.sku.to_string(),
                    location_id: line.location_id.to_string(),
                    requested: line.quantity.get(),
                    available: on_hand,
                });
            }
        }
        Ok(shortages)
    }

    /// The order id of a reservation, as stored.
    pub async fn order_of(&self, reservation_id: Uuid) -> Result<Option<String>, InventoryError> {
        let order_id =
            sqlx::query_scalar("SELECT order_id FROM reservations WHERE reservation_id = $1")
                .bind(reservation_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(order_id)
    }

    /// Held reservations whose expire time has passed, soonest first.
    pub async fn due_reservations(&self, limit: i64) -> Result<Vec<Uuid>, InventoryError> {
        let due = sqlx::query_scalar(
            "SELECT reservation_id FROM reservations
             WHERE state = 'held' AND expire_time <= now()
             ORDER BY expire_time LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(due)
    }

    /// When the next held reservation expires, if any is held.
    pub async fn next_expiry(&self) -> Result<Option<DateTime<Utc>>, InventoryError> {
        let next =
            sqlx::query_scalar("SELECT min(expire_time) FROM reservations WHERE state = 'held'")
                .fetch_one(&self.pool)
                .await?;
        Ok(next)
    }

    /// The order's reservation, if it has one.
    pub async fn reservation_by_order(
        &self,
        order_id: &OrderId,
    ) -> Result<Option<ReservationRecord>, InventoryError> {
        let sql = format!("{RESERVATION_SELECT} WHERE r.order_id = $1 GROUP BY r.reservation_id");
        let row: Option<ReservationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(order_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(ReservationRecord::try_from).transpose()
    }

    /// The reservation with this id, if any.
    pub async fn reservation_by_id(
        &self,
        reservation_id: Uuid,
    ) -> Result<Option<ReservationRecord>, InventoryError> {
        let sql =
            format!("{RESERVATION_SELECT} WHERE r.reservation_id = $1 GROUP BY r.reservation_id");
        let row: Option<ReservationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(reservation_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(ReservationRecord::try_from).transpose()
    }

    /// The order's reservation; NOT_FOUND when it has none.
    pub async fn require_reservation(
        &self,
        order_id: &OrderId,
    ) -> Result<ReservationRecord, InventoryError> {
        self.reservation_by_order(order_id)
            .await?
            .ok_or_else(|| InventoryError::not_found("reservation", order_id.as_str()))
    }

    /// Up to `limit` reservations after `after` (create time and id), newest first.
    pub async fn list_reservations(
        &self,
        filter: &ReservationFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<ReservationRecord>, InventoryError> {
        let (channel_kind, channel_name) = filter
            .channel
            .as_ref()
            .map_or((0, String::new()), |channel| {
                (channel.kind, channel.name.clone())
            });
        let sql = format!(
            "{RESERVATION_SELECT}
             WHERE ($1::timestamptz IS NULL OR (r.create_time, r.reservation_id) < ($1, $2))
               AND (cardinality($3::text[]) = 0 OR r.state = ANY($3))
               AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM reservation_lines x
                        WHERE x.reservation_id = r.reservation_id AND x.sku = $4))
               AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM reservation_lines x
                        WHERE x.reservation_id = r.reservation_id AND x.location_id = $5))
               AND ($6 = 0 OR (r.channel_kind = $6 AND r.channel_name = $7))
               AND ($8::timestamptz IS NULL OR r.expire_time < $8)
             GROUP BY r.reservation_id
             ORDER BY r.create_time DESC, r.reservation_id DESC
             LIMIT $9"
        );
        let rows: Vec<ReservationRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after.map(|(time, _)| time))
            .bind(after.map_or(Uuid::nil(), |(_, id)| id))
            .bind(&filter.states)
            .bind(&filter.sku)
            .bind(&filter.location_id)
            .bind(channel_kind)
            .bind(channel_name)
            .bind(filter.expire_before)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(ReservationRecord::try_from).collect()
    }
}

/// What becomes of a held reservation's units.
#[derive(Debug, Clone, Copy)]
pub enum Holds<'a> {
    /// Back to available (Release).
    Release {
        /// Why, as the caller said.
        reason: &'a str,
    },
    /// Back to available after the TTL (expiry); only when due.
    Expire,
    /// Off hand (CommitReservation); only while on hand covers every line.
    Commit,
}

/// What [`return_holds`] did.
#[derive(Debug)]
pub enum HoldsOutcome {
    /// The reservation left HELD with all its stock rows and ledger entries;
    /// it is as the statement wrote it, which is what a read after the
    /// commit would find.
    Changed(Box<ReservationRecord>),
    /// Not HELD, not due (expiry) or past due (commit): nothing changed.
    NotHeld,
    /// A commit that on hand does not cover: the transaction must roll back.
    Short,
}

/// Moves the order's reservation out of HELD as `holds` says, with its stock
/// rows and ledger entries, in `tx`.
pub async fn return_holds(
    tx: &mut PgConnection,
    order_id: &str,
    holds: Holds<'_>,
    actor: &Actor,
) -> Result<HoldsOutcome, InventoryError> {
    let (state, kind, reason, due_only, commit) = match holds {
        Holds::Release { reason } => (
            ReservationState::Released,
            MovementKind::Release,
            reason,
            false,
            false,
        ),
        Holds::Expire => (
            ReservationState::Expired,
            MovementKind::Expire,
            "",
            true,
            false,
        ),
        Holds::Commit => (
            ReservationState::Committed,
            MovementKind::Commit,
            "",
            false,
            true,
        ),
    };
    let row: HoldsRow = sqlx::query_as(
        "WITH held AS (
             UPDATE reservations
             SET state = $2, update_time = now(), release_reason = $3
             WHERE order_id = $1 AND state = 'held'
               AND (CASE WHEN $4 THEN expire_time <= now()
                         WHEN $5 THEN expire_time > now()
                         ELSE true END)
             RETURNING reservation_id, order_id, channel_kind, channel_name, state,
                 create_time, expire_time, update_time, release_reason
         ),
         lines AS (
             SELECT l.position, l.sku, l.location_id, l.quantity
             FROM reservation_lines l JOIN held USING (reservation_id)
         ),
         locked AS (
             SELECT s.sku, s.location_id
             FROM stock s JOIN lines l ON l.sku = s.sku AND l.location_id = s.location_id
             ORDER BY s.sku, s.location_id
             FOR UPDATE OF s
         ),
         updated AS (
             UPDATE stock s
             SET reserved = s.reserved - l.quantity,
                 on_hand = s.on_hand - CASE WHEN $5 THEN l.quantity ELSE 0 END,
                 sequence = nextval('stock_ledger_sequence'),
                 update_time = now()
             FROM lines l, locked k
             WHERE s.sku = l.sku AND s.location_id = l.location_id
               AND k.sku = l.sku AND k.location_id = l.location_id
               AND (NOT $5 OR s.on_hand >= l.quantity)
             RETURNING s.sku, s.location_id, s.on_hand, s.reserved, s.safety_stock, s.sequence,
                 l.quantity
         ),
         moved AS (
             INSERT INTO stock_movements (sequence, movement_id, sku, location_id, kind,
                 on_hand_before, on_hand_after, reserved_before, reserved_after,
                 safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id)
             SELECT sequence, gen_random_uuid(), sku, location_id, $6,
                 on_hand + CASE WHEN $5 THEN quantity ELSE 0 END, on_hand,
                 reserved + quantity, reserved, safety_stock, safety_stock, $7, $8, $1
             FROM updated
             RETURNING 1
         )
         SELECT (SELECT count(*) FROM held) AS changed, (SELECT count(*) FROM lines) AS lines,
             (SELECT count(*) FROM moved) AS moved,
             h.reservation_id, h.order_id, h.channel_kind, h.channel_name, h.state,
             h.create_time, h.expire_time, h.update_time, h.release_reason,
             coalesce((SELECT array_agg(sku ORDER BY position) FROM lines), '{}') AS skus,
             coalesce((SELECT array_agg(location_id ORDER BY position) FROM lines), '{}')
                 AS location_ids,
             coalesce((SELECT array_agg(quantity ORDER BY position) FROM lines), '{}')
                 AS quantities
         FROM (SELECT 1) AS one LEFT JOIN held h ON true",
    )
    .bind(order_id)
    .bind(state.as_str())
    .bind(reason)
    .bind(due_only)
    .bind(commit)
    .bind(kind.code())
    .bind(actor.kind.code())
    .bind(&actor.id)
    .fetch_one(&mut *tx)
    .await?;
    match (row.changed, row.moved == row.lines) {
        (0, _) => Ok(HoldsOutcome::NotHeld),
        (_, true) => Ok(HoldsOutcome::Changed(Box::new(row.reservation()?))),
        (_, false) if commit => Ok(HoldsOutcome::Short),
        (_, false) => Err(InventoryError::Corrupt(format!(
            "reservation of order {order_id} holds units its stock rows do not"
        ))),
    }
}

/// The row of [`return_holds`]: its counts, and the reservation as it wrote
/// it (all NULL when nothing was held).
#[derive(FromRow)]
struct HoldsRow {
    changed: i64,
    lines: i64,
    moved: i64,
    reservation_id: Option<Uuid>,
    order_id: Option<String>,
    channel_kind: Option<i16>,
    channel_name: Option<String>,
    state: Option<String>,
    create_time: Option<DateTime<Utc>>,
    expire_time: Option<DateTime<Utc>>,
    update_time: Option<DateTime<Utc>>,
    release_reason: Option<String>,
    skus: Vec<String>,
    location_ids: Vec<String>,
    quantities: Vec<i32>,
}

impl HoldsRow {
    /// The reservation the statement changed.
    fn reservation(self) -> Result<ReservationRecord, InventoryError> {
        let missing =
            || InventoryError::Corrupt("a changed reservation came back without its row".into());
        ReservationRecord::try_from(ReservationRow {
            reservation_id: self.reservation_id.ok_or_else(missing)?,
            order_id: self.order_id.ok_or_else(missing)?,
            channel_kind: self.channel_kind.ok_or_else(missing)?,
            channel_name: self.channel_name.ok_or_else(missing)?,
            state: self.state.ok_or_else(missing)?,
            create_time: self.create_time.ok_or_else(missing)?,
            expire_time: self.expire_time,
            update_time: self.update_time.ok_or_else(missing)?,
            release_reason: self.release_reason.ok_or_else(missing)?,
            skus: self.skus,
            location_ids: self.location_ids,
            quantities: self.quantities,
        })
    }
}
