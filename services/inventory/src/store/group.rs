//! The statements of a grouped Reserve ([`crate::group_commit`] owns the
//! transaction): claim every order of the group, lock the stock rows the group
//! names, then write the held orders' lines, their stock rows and one ledger
//! entry per line, and drop the claims of the orders that were not held; or
//! all of that at once for a group held whole ([`Store::hold_all`]).
//!
//! Every writer of this database takes its locks in one order: first the
//! order ids it claims (an insert into `reservations`, sorted by order id),
//! then the stock rows it changes, sorted by (sku, location_id). A grouped
//! Reserve claims before it locks a row and never claims again after, so no
//! two writers wait on each other in a cycle.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{Store, reservations::NewReservation};
use crate::{
    domain::{MovementKind, ReservationLine},
    error::InventoryError,
};

/// The CTE `moved` of a group's write, from a CTE `moves` of the held lines
/// (sku, location_id, on_hand, reserved_before, reserved_after, safety_stock,
/// actor_kind, actor_id, reference_id, sequence): one RESERVE ledger entry per
/// line, whose kind is the parameter `$kind`. It ends with a comma, for the
/// CTEs that follow.
macro_rules! reserve_moves {
    ($kind:literal) => {
        concat!(
            "moved AS (
                 INSERT INTO stock_movements (sequence, movement_id, sku, location_id, kind,
                     on_hand_before, on_hand_after, reserved_before, reserved_after,
                     safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id)
                 SELECT sequence, gen_random_uuid(), sku, location_id, ",
            $kind,
            ", on_hand, on_hand,
                     reserved_before, reserved_after, safety_stock, safety_stock, actor_kind,
                     actor_id, reference_id
                 FROM moves
             ),"
        )
    };
}

/// A query of the rows `moves` (see [`reserve_moves`]) changes, each as its
/// last entry leaves it: (sku, location_id, reserved_after, sequence).
macro_rules! last_moves {
    () => {
        "SELECT DISTINCT ON (sku, location_id) sku, location_id, reserved_after, sequence
         FROM moves ORDER BY sku, location_id, sequence DESC"
    };
}

/// An order's claim of its reservation, as inserted.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The id minted for the reservation.
    pub reservation_id: Uuid,
    /// When it was made.
    pub create_time: DateTime<Utc>,
    /// When its hold lapses.
    pub expire_time: Option<DateTime<Utc>>,
}

/// A stock row as read under its lock.
#[derive(Debug, Clone)]
pub struct LockedRow {
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location_id: String,
    /// Units there, held ones included.
    pub on_hand: i32,
    /// Units held by reservations.
    pub reserved: i32,
    /// Units kept back from sale.
    pub safety_stock: i32,
}

/// A group held whole by [`Store::hold_all`].
#[derive(Debug, Default)]
pub struct HeldGroup {
    /// The claim of each order it held, by reservation id.
    pub claims: HashMap<Uuid, Claim>,
    /// Each stock row the group named, as (SKU, location, units left free).
    pub free: Vec<(String, String, i32)>,
}

/// The SQLSTATE of `inventory_group_outdated()` (migration 0002): a group
/// decided on stock or orders that changed since.
const GROUP_OUTDATED: &str = "OMS01";

/// The (SKU, location) rows that these orders' lines name, each once, sorted,
/// as two columns.
pub fn rows_of<'a>(
    orders: impl IntoIterator<Item = &'a [ReservationLine]>,
) -> (Vec<String>, Vec<String>) {
    let mut rows: Vec<(&str, &str)> = orders
        .into_iter()
        .flatten()
        .map(|line| (line.sku.as_str(), line.location_id.as_str()))
        .collect();
    rows.sort_unstable();
    rows.dedup();
    rows.into_iter()
        .map(|(sku, location_id)| (sku.to_owned(), location_id.to_owned()))
        .unzip()
}

impl Store {
    /// Claims and locks, in `tx`, in one statement: inserts a HELD reservation
    /// (without lines yet) for each request whose order has none, in order id
    /// order; then, once every claim is in and when there is any, locks the
    /// stock rows at active locations among `rows` (SKUs and locations,
    /// pairwise) in (sku, location_id) order and reads them.
    ///
    /// Returns the claims by reservation id (a request missing from them
    /// names an order that has a reservation, or one earlier in the group)
    /// and the locked rows (a row missing from them does not exist or is
    /// inactive).
    pub async fn claim_and_lock(
        tx: &mut PgConnection,
        requests: &[(Uuid, &NewReservation<'_>)],
        rows: &(Vec<String>, Vec<String>),
    ) -> Result<(HashMap<Uuid, Claim>, Vec<LockedRow>), InventoryError> {
        let claims = ClaimColumns::of(requests);
        // Counting every claim before the first lock keeps the lock order:
        // order ids first, stock rows after. `inventory_lock_stock` (migration
        // 0003, shared with `hold_all`) locks each row by its own index
        // lookup, one after the other in the order of `rows` (sorted, as every
        // writer locks): a subquery with FOR UPDATE is never merged into the
        // join, so no plan, generic or custom, can scan or hash the whole
        // stock table instead. (A generic plan made while groups named many
        // rows did, and cost a hot row's groups their latency.)
        let read: Vec<ClaimOrRow> = sqlx::query_as(
            "WITH claimed AS (
                 INSERT INTO reservations (reservation_id, order_id, channel_kind, channel_name,
                     state, expire_time)
                 SELECT r.reservation_id, r.order_id, r.channel_kind, r.channel_name, 'held',
                     now() + make_interval(secs => r.ttl)
                 FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::text[], $5::float8[])
                     AS r(reservation_id, order_id, channel_kind, channel_name, ttl)
                 ORDER BY r.order_id
                 ON CONFLICT (order_id) DO NOTHING
                 RETURNING reservation_id, create_time, expire_time
             ),
             locked AS (
                 SELECT *
                 FROM inventory_lock_stock($6::text[], $7::text[],
                     (SELECT count(*) FROM claimed) > 0)
             )
             SELECT reservation_id, create_time, expire_time, NULL::text AS sku,
                 NULL::text AS location_id, NULL::int4 AS on_hand, NULL::int4 AS reserved,
                 NULL::int4 AS safety_stock
             FROM claimed
             UNION ALL
             SELECT NULL, NULL, NULL, sku, location_id, on_hand, reserved, safety_stock
             FROM locked",
        )
        .bind(&claims.ids)
        .bind(&claims.orders)
        .bind(&claims.kinds)
        .bind(&claims.names)
        .bind(&claims.ttls)
        .bind(&rows.0)
        .bind(&rows.1)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = HashMap::new();
        let mut locked = Vec::new();
        for row in read {
            match row {
                ClaimOrRow {
                    reservation_id: Some(reservation_id),
                    create_time: Some(create_time),
                    expire_time,
                    ..
                } => {
                    claimed.insert(
                        reservation_id,
                        Claim {
                            reservation_id,
                            create_time,
                            expire_time,
                        },
                    );
                }
                ClaimOrRow {
                    sku: Some(sku),
                    location_id: Some(location_id),
                    on_hand: Some(on_hand),
                    reserved: Some(reserved),
                    safety_stock: Some(safety_stock),
                    ..
                } => locked.push(LockedRow {
                    sku,
                    location_id,
                    on_hand,
                    reserved,
                    safety_stock,
                }),
                ClaimOrRow { .. } => {
                    return Err(InventoryError::Corrupt(
                        "a claim or stock row without its columns".into(),
                    ));
                }
            }
        }
        Ok((claimed, locked))
    }

    /// Holds every order of `requests` at once in one statement on
    /// `connection` (one of the group's, [`Store::group_connection`]), which
    /// commits by itself (no transaction is open around
    /// it): claims each order (in order id order), then locks the stock rows
    /// their lines name (in (sku, location_id) order) and checks, on the
    /// latest version of each under its lock, that its free units cover what
    /// the claimed orders ask of it; only then writes their lines, one RESERVE
    /// ledger entry per line (each starting where the one before it on its
    /// row ended) and the stock rows. The rows' locks are held only while the
    /// statement runs and commits, not across a round trip to this process.
    /// The locks and the stock rows' update are taken by
    /// `inventory_lock_stock` and `inventory_set_reserved` (migration 0003),
    /// each a statement of its own with its own snapshot, so that a row
    /// another instance changed meanwhile is re-read by a small query instead
    /// of the whole statement being set up again under the lock.
    ///
    /// An order that has a reservation, or is earlier in `requests`, is not
    /// claimed and changes nothing: it is missing from the claims. Returns
    /// `None`, having written nothing, when a row does not exist, its location
    /// is inactive, or it has fewer free units than the claimed orders ask of
    /// it: the group is then for [`Store::claim_and_lock`] to decide order by
    /// order. Only the last raises in Postgres (`OMS01`, in its log); the
    /// others are found before anything is claimed when `check_rows` is set
    /// (the caller has not seen every row lately), else under the locks.
    pub async fn hold_all(
        connection: &mut PgConnection,
        requests: &[(Uuid, &NewReservation<'_>)],
        check_rows: bool,
    ) -> Result<Option<HeldGroup>, InventoryError> {
        let claims = ClaimColumns::of(requests);
        let rows = rows_of(requests.iter().map(|(_, request)| request.lines));
        let mut lines = LineColumns::default();
        for (reservation_id, request) in requests {
            for (position, line) in (1..).zip(request.lines) {
                lines.reservation_ids.push(*reservation_id);
                lines.positions.push(position);
                lines.skus.push(line.sku.as_str());
                lines.location_ids.push(line.location_id.as_str());
                lines.quantities.push(line.quantity.get());
                lines.actor_kinds.push(request.actor.kind.code());
                lines.actor_ids.push(request.actor.id.as_str());
                lines.references.push(request.order_id.as_str());
            }
        }
        // With `check_rows`, nothing is claimed unless every row exists at an
        // active location (`known`, as of the statement's snapshot): a Reserve
        // of a SKU that does not exist is no reason to raise. Without it (the
        // caller saw every row lately) the lookups are skipped. Then `fits` raises
        // GROUP_OUTDATED, which rolls the whole statement back (the claims
        // with it), unless every row the claimed orders name was locked and
        // covers what they ask of it. The first branch of the
        // result reads `fits`, so it is evaluated whatever else is read, and
        // every write reads it first, through `numbers`. Lines are numbered
        // (`ord`) in the order of `requests`: each row's entries chain in that
        // order, and their positions are handed out sorted in that order.
        let read = sqlx::query_as::<_, ClaimOrFree>(concat!(
            "WITH known AS (
                 SELECT NOT $17::bool OR count(*) = cardinality($6::text[]) AS ok
                 FROM unnest($6::text[], $7::text[]) AS r(sku, location_id)
                 CROSS JOIN LATERAL (
                     SELECT 1
                     FROM stock s
                     JOIN locations l ON l.location_id = s.location_id AND l.active
                     WHERE $17::bool AND s.sku = r.sku AND s.location_id = r.location_id
                     OFFSET 0
                 ) s
             ),
             claimed AS (
                 INSERT INTO reservations (reservation_id, order_id, channel_kind, channel_name,
                     state, expire_time)
                 SELECT r.reservation_id, r.order_id, r.channel_kind, r.channel_name, 'held',
                     now() + make_interval(secs => r.ttl)
                 FROM unnest($1::uuid[], $2::text[], $3::int2[], $4::text[], $5::float8[])
                     AS r(reservation_id, order_id, channel_kind, channel_name, ttl)
                 WHERE (SELECT ok FROM known)
                 ORDER BY r.order_id
                 ON CONFLICT (order_id) DO NOTHING
                 RETURNING reservation_id, create_time, expire_time
             ),
             claimed_lines AS (
                 SELECT m.*, row_number() OVER (ORDER BY m.ord) AS ord_claimed
                 FROM unnest($8::uuid[], $9::int4[], $10::text[], $11::text[], $12::int4[],
                         $13::int2[], $14::text[], $15::text[])
                     WITH ORDINALITY AS m(reservation_id, position, sku, location_id, quantity,
                         actor_kind, actor_id, reference_id, ord)
                 JOIN claimed c ON c.reservation_id = m.reservation_id
             ),
             asked AS (
                 SELECT sku, location_id, sum(quantity) AS units
                 FROM claimed_lines GROUP BY sku, location_id
             ),
             locked AS (
                 SELECT *
                 FROM inventory_lock_stock($6::text[], $7::text[],
                     (SELECT count(*) FROM claimed) > 0)
             ),
             fits AS (
                 SELECT CASE
                     WHEN NOT EXISTS (
                         SELECT 1 FROM asked a
                         LEFT JOIN locked k ON k.sku = a.sku AND k.location_id = a.location_id
                         WHERE k.sku IS NULL OR k.on_hand - k.reserved < a.units
                     ) THEN true
                     ELSE inventory_group_outdated()
                 END AS ok
             ),
             numbers AS (
                 SELECT array_agg(n ORDER BY n) AS n
                 FROM (SELECT nextval('stock_ledger_sequence') AS n
                       FROM generate_series(1, (SELECT count(*) FROM claimed_lines))
                       WHERE (SELECT ok FROM fits)) x
             ),
             moves AS (
                 SELECT m.reservation_id, m.position, m.sku, m.location_id, m.quantity,
                     m.actor_kind, m.actor_id, m.reference_id, k.on_hand, k.safety_stock,
                     k.reserved + sum(m.quantity) OVER w - m.quantity AS reserved_before,
                     k.reserved + sum(m.quantity) OVER w AS reserved_after,
                     (SELECT n FROM numbers)[m.ord_claimed] AS sequence
                 FROM claimed_lines m
                 JOIN locked k ON k.sku = m.sku AND k.location_id = m.location_id
                 WINDOW w AS (PARTITION BY m.sku, m.location_id ORDER BY m.ord)
             ),
             ",
            reserve_moves!("$16"),
            "
             updated AS (
                 SELECT inventory_set_reserved(array_agg(sku), array_agg(location_id),
                     array_agg(reserved_after::int4), array_agg(sequence)) AS written
                 FROM (",
            last_moves!(),
            ") last
             ),
             held_lines AS (
                 INSERT INTO reservation_lines (reservation_id, position, sku, location_id,
                     quantity)
                 SELECT reservation_id, position, sku, location_id, quantity FROM moves
             )
             SELECT NULL::uuid AS reservation_id, NULL::timestamptz AS create_time,
                 NULL::timestamptz AS expire_time, NULL::text AS sku, NULL::text AS location_id,
                 NULL::int4 AS free, true AS unknown
             FROM known WHERE NOT ok
             UNION ALL
             SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM fits WHERE NOT ok
             UNION ALL
             SELECT reservation_id, create_time, expire_time, NULL, NULL, NULL, NULL FROM claimed
             UNION ALL
             SELECT NULL, NULL, NULL, k.sku, k.location_id,
                 (k.on_hand - k.reserved - coalesce(a.units, 0))::int4, NULL
             FROM locked k
             LEFT JOIN asked a ON a.sku = k.sku AND a.location_id = k.location_id
             UNION ALL
             -- Never a row: read only so that the stock rows are written.
             SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM updated WHERE written < 0",
        ))
        .bind(&claims.ids)
        .bind(&claims.orders)
        .bind(&claims.kinds)
        .bind(&claims.names)
        .bind(&claims.ttls)
        .bind(&rows.0)
        .bind(&rows.1)
        .bind(&lines.reservation_ids)
        .bind(&lines.positions)
        .bind(&lines.skus)
        .bind(&lines.location_ids)
        .bind(&lines.quantities)
        .bind(&lines.actor_kinds)
        .bind(&lines.actor_ids)
        .bind(&lines.references)
        .bind(MovementKind::Reserve.code())
        .bind(check_rows)
        .fetch_all(&mut *connection)
        .await;
        let read = match read {
            Ok(read) => read,
            Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some(GROUP_OUTDATED) => {
                return Ok(None);
            }
            Err(err) => return Err(err.into()),
        };
        let mut held = HeldGroup::default();
        for row in read {
            match row {
                // A row that does not exist or is inactive: nothing was
                // claimed, and the single statement names why.
                ClaimOrFree {
                    unknown: Some(true),
                    ..
                } => return Ok(None),
                ClaimOrFree {
                    reservation_id: Some(reservation_id),
                    create_time: Some(create_time),
                    expire_time,
                    ..
                } => {
                    held.claims.insert(
                        reservation_id,
                        Claim {
                            reservation_id,
                            create_time,
                            expire_time,
                        },
                    );
                }
                ClaimOrFree {
                    sku: Some(sku),
                    location_id: Some(location_id),
                    free: Some(free),
                    ..
                } => held.free.push((sku, location_id, free)),
                ClaimOrFree { .. } => {
                    return Err(InventoryError::Corrupt(
                        "a claim or stock row without its columns".into(),
                    ));
                }
            }
        }
        Ok(Some(held))
    }

    /// Writes a decided group in `tx`, whose rows `locked` holds: the lines of
    /// every `held` reservation, one RESERVE ledger entry per line (each
    /// starting where the one before it on its row ended), the stock rows'
    /// reserved units and last position; and deletes the claims in `dropped`.
    pub async fn write_group(
        tx: &mut PgConnection,
        locked: &[LockedRow],
        held: &[(Uuid, &NewReservation<'_>)],
        dropped: &[Uuid],
    ) -> Result<(), InventoryError> {
        let rows: HashMap<(&str, &str), &LockedRow> = locked
            .iter()
            .map(|row| ((row.sku.as_str(), row.location_id.as_str()), row))
            .collect();
        let mut reserved: HashMap<(&str, &str), i32> =
            rows.iter().map(|(key, row)| (*key, row.reserved)).collect();
        let mut lines = LineColumns::default();
        let mut moves = MoveColumns::default();
        for (reservation_id, request) in held {
            for (position, line) in (1..).zip(request.lines) {
                let key = (line.sku.as_str(), line.location_id.as_str());
                let (Some(row), Some(before)) = (rows.get(&key), reserved.get_mut(&key)) else {
                    return Err(InventoryError::Corrupt(format!(
                        "held line of order {} on a stock row not locked",
                        request.order_id
                    )));
                };
                let quantity = line.quantity.get();
                lines.reservation_ids.push(*reservation_id);
                lines.positions.push(position);
                lines.skus.push(key.0);
                lines.location_ids.push(key.1);
                lines.quantities.push(quantity);
                moves.skus.push(key.0);
                moves.location_ids.push(key.1);
                moves.on_hand.push(row.on_hand);
                moves.reserved_before.push(*before);
                *before += quantity;
                moves.reserved_after.push(*before);
                moves.safety_stock.push(row.safety_stock);
                moves.actor_kinds.push(request.actor.kind.code());
                moves.actor_ids.push(request.actor.id.as_str());
                moves.references.push(request.order_id.as_str());
            }
        }
        // Positions are sorted before they are handed out in line order, so
        // the entries of each row chain in position order.
        sqlx::query(concat!(
            "WITH numbers AS (
                 SELECT array_agg(n ORDER BY n) AS n
                 FROM (SELECT nextval('stock_ledger_sequence') AS n
                       FROM generate_series(1, cardinality($1::text[]))) x
             ),
             moves AS (
                 SELECT m.*, (SELECT n FROM numbers)[m.ord::int] AS sequence
                 FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::int4[],
                         $6::int4[], $7::int2[], $8::text[], $9::text[])
                     WITH ORDINALITY AS m(sku, location_id, on_hand, reserved_before,
                         reserved_after, safety_stock, actor_kind, actor_id, reference_id, ord)
             ),
             ",
            reserve_moves!("$10"),
            "
             updated AS (
                 UPDATE stock s
                 SET reserved = last.reserved_after, sequence = last.sequence, update_time = now()
                 FROM (",
            last_moves!(),
            ") last
                 WHERE s.sku = last.sku AND s.location_id = last.location_id
             ),
             lines AS (
                 INSERT INTO reservation_lines (reservation_id, position, sku, location_id,
                     quantity)
                 SELECT * FROM unnest($11::uuid[], $12::int4[], $13::text[], $14::text[],
                     $15::int4[])
             )
             DELETE FROM reservations WHERE reservation_id = ANY($16::uuid[])",
        ))
        .bind(&moves.skus)
        .bind(&moves.location_ids)
        .bind(&moves.on_hand)
        .bind(&moves.reserved_before)
        .bind(&moves.reserved_after)
        .bind(&moves.safety_stock)
        .bind(&moves.actor_kinds)
        .bind(&moves.actor_ids)
        .bind(&moves.references)
        .bind(MovementKind::Reserve.code())
        .bind(&lines.reservation_ids)
        .bind(&lines.positions)
        .bind(&lines.skus)
        .bind(&lines.location_ids)
        .bind(&lines.quantities)
        .bind(dropped)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    /// The free units (on hand minus reserved) of the rows at active
    /// locations among `rows`, and which of `order_ids` have a reservation (or
    /// a release recorded): one read that waits for no lock, the committed
    /// state at the time of the read, each row by its own index lookup
    /// (`OFFSET 0` keeps the lookup from being merged into a join).
    pub async fn free_units(
        connection: &mut PgConnection,
        rows: &(Vec<String>, Vec<String>),
        order_ids: &[&str],
    ) -> Result<(Vec<(String, String, i32)>, Vec<String>), InventoryError> {
        let read: Vec<ReadRow> = sqlx::query_as(
            "SELECT s.sku, s.location_id, s.on_hand - s.reserved, NULL::text
                 FROM unnest($1::text[], $2::text[]) AS r(sku, location_id)
                 CROSS JOIN LATERAL (
                     SELECT s.sku, s.location_id, s.on_hand, s.reserved
                     FROM stock s
                     JOIN locations l ON l.location_id = s.location_id AND l.active
                     WHERE s.sku = r.sku AND s.location_id = r.location_id
                     OFFSET 0
                 ) s
                 UNION ALL
                 SELECT NULL, NULL, NULL, order_id FROM reservations
                 WHERE order_id = ANY($3::text[])",
        )
        .bind(&rows.0)
        .bind(&rows.1)
        .bind(order_ids)
        .fetch_all(&mut *connection)
        .await?;
        let mut free = Vec::new();
        let mut reserved = Vec::new();
        for row in read {
            match row {
                (Some(sku), Some(location_id), Some(units), _) => {
                    free.push((sku, location_id, units));
                }
                (.., Some(order_id)) => reserved.push(order_id),
                _ => {}
            }
        }
        Ok((free, reserved))
    }
}

/// Readies a new connection of the group pool for the statements a queue's
/// worker runs on it, so that the first group on it waits for none of the
/// work a backend does once per statement: the sold-out read and the
/// statement of a group held whole are prepared and planned, and the two
/// functions that lock and update the rows are compiled and planned. Each
/// runs on nothing (empty arrays) and changes nothing.
pub async fn prepare_group_connection(connection: &mut PgConnection) -> Result<(), InventoryError> {
    let nothing = (Vec::new(), Vec::new());
    Store::free_units(&mut *connection, &nothing, &[]).await?;
    Store::hold_all(&mut *connection, &[], false).await?;
    sqlx::query(
        "SELECT (SELECT count(*) FROM inventory_lock_stock('{}', '{}', true)),
             inventory_set_reserved('{}', '{}', '{}', '{}')",
    )
    .execute(&mut *connection)
    .await?;
    Ok(())
}

/// A row of [`Store::claim_and_lock`]: a claim or a locked stock row.
#[derive(FromRow)]
struct ClaimOrRow {
    reservation_id: Option<Uuid>,
    create_time: Option<DateTime<Utc>>,
    expire_time: Option<DateTime<Utc>>,
    sku: Option<String>,
    location_id: Option<String>,
    on_hand: Option<i32>,
    reserved: Option<i32>,
    safety_stock: Option<i32>,
}

/// A row of the read of [`Store::free_units`]: (SKU, location, free units)
/// of a stock row, or the order id of a reservation.
type ReadRow = (Option<String>, Option<String>, Option<i32>, Option<String>);

/// A row of [`Store::hold_all`]: a claim, or a stock row with the units it
/// has left free.
#[derive(FromRow)]
struct ClaimOrFree {
    reservation_id: Option<Uuid>,
    create_time: Option<DateTime<Utc>>,
    expire_time: Option<DateTime<Utc>>,
    sku: Option<String>,
    location_id: Option<String>,
    free: Option<i32>,
    /// Set on the one row that says a stock row of the group does not exist
    /// or is at an inactive location.
    unknown: Option<bool>,
}

/// The claims of a group, as columns.
struct ClaimColumns<'a> {
    ids: Vec<Uuid>,
    orders: Vec<&'a str>,
    kinds: Vec<i16>,
    names: Vec<&'a str>,
    ttls: Vec<f64>,
}

impl<'a> ClaimColumns<'a> {
    fn of(requests: &[(Uuid, &NewReservation<'a>)]) -> ClaimColumns<'a> {
        ClaimColumns {
            ids: requests.iter().map(|(id, _)| *id).collect(),
            orders: requests
                .iter()
                .map(|(_, request)| request.order_id.as_str())
                .collect(),
            kinds: requests
                .iter()
                .map(|(_, request)| request.channel.map_or(0, |channel| channel.kind))
                .collect(),
            names: requests
                .iter()
                .map(|(_, request)| request.channel.map_or("", |channel| channel.name.as_str()))
                .collect(),
            ttls: requests
                .iter()
                .map(|(_, request)| request.ttl.as_secs_f64())
                .collect(),
        }
    }
}

#[derive(Default)]
struct LineColumns<'a> {
    reservation_ids: Vec<Uuid>,
    positions: Vec<i32>,
    skus: Vec<&'a str>,
    location_ids: Vec<&'a str>,
    quantities: Vec<i32>,
    /// Who asked for each line, and its order: filled by [`Store::hold_all`]
    /// only (its statement writes the ledger entries from the lines).
    actor_kinds: Vec<i16>,
    actor_ids: Vec<&'a str>,
    references: Vec<&'a str>,
}

#[derive(Default)]
struct MoveColumns<'a> {
    skus: Vec<&'a str>,
    location_ids: Vec<&'a str>,
    on_hand: Vec<i32>,
    reserved_before: Vec<i32>,
    reserved_after: Vec<i32>,
    safety_stock: Vec<i32>,
    actor_kinds: Vec<i16>,
    actor_ids: Vec<&'a str>,
    references: Vec<&'a str>,
}
