//! The stock ledger: every change to a stock row and the entry that records it.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::{MOVEMENT_COLUMNS, MovementMeta, MovementRow, STOCK_COLUMNS, StockRow, Store};
use crate::{
    domain::{AdjustmentReason, LocationId, MovementKind, Quantity, Sku, StockFigures},
    error::{InventoryError, Shortage},
};

/// A change to one stock row.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// SetStock: on hand from a count.
    Count {
        /// The units counted.
        on_hand: i32,
    },
    /// AdjustStock: on hand by a signed delta.
    Adjust {
        /// Units in (positive) or out (negative), never 0.
        delta: i32,
        /// Why; its sign must fit.
        reason: AdjustmentReason,
    },
    /// TransferStock, source side: only available units may leave.
    TransferOut(Quantity),
    /// TransferStock, destination side.
    TransferIn(Quantity),
    /// Restock: units back on hand.
    Restock(Quantity),
    /// SetSafetyStock.
    SafetyStock(i32),
}

impl Change {
    fn kind(self) -> MovementKind {
        match self {
            Change::Count { .. } => MovementKind::Count,
            Change::Adjust { .. } => MovementKind::Adjustment,
            Change::TransferOut(_) => MovementKind::TransferOut,
            Change::TransferIn(_) => MovementKind::TransferIn,
            Change::Restock(_) => MovementKind::Restock,
            Change::SafetyStock(_) => MovementKind::SafetyStock,
        }
    }

    /// The figures after the change, or the shortage that refuses it.
    fn apply(
        self,
        before: StockFigures,
        sku: &Sku,
        location_id: &LocationId,
    ) -> Result<StockFigures, InventoryError> {
        let mut after = before;
        let short = |requested: i32, available: i32| {
            InventoryError::InsufficientStock(vec![Shortage {
                sku: sku.to_string(),
                location_id: location_id.to_string(),
                requested,
                available,
            }])
        };
        let too_many =
            || InventoryError::invalid("quantity", "on hand would exceed 2147483647 units");
        match self {
            Change::Count { on_hand } => after.on_hand = on_hand,
            Change::Adjust { delta, .. } => {
                after.on_hand = before.on_hand.checked_add(delta).ok_or_else(too_many)?;
                if after.on_hand < 0 {
                    return Err(short(delta.saturating_neg(), before.on_hand));
                }
            }
            Change::TransferOut(quantity) => {
                if quantity.get() > before.available() {
                    return Err(short(quantity.get(), before.available()));
                }
                after.on_hand -= quantity.get();
            }
            Change::TransferIn(quantity) | Change::Restock(quantity) => {
                after.on_hand = before
                    .on_hand
                    .checked_add(quantity.get())
                    .ok_or_else(too_many)?;
            }
            Change::SafetyStock(units) => after.safety_stock = units,
        }
        Ok(after)
    }
}

/// Filters of ListStockMovements.
#[derive(Debug, Default)]
pub struct MovementFilter {
    /// Entries of this SKU.
    pub sku: Option<String>,
    /// Entries at this location.
    pub location_id: Option<String>,
    /// Entries of any of these movement kind codes.
    pub kinds: Vec<i16>,
    /// Entries of this reference (an order, transfer or restock source id).
    pub reference_id: Option<String>,
    /// Entries at or after this time.
    pub start_time: Option<DateTime<Utc>>,
    /// Entries before this time.
    pub end_time: Option<DateTime<Utc>>,
}

/// A stock row with its location's active flag, for availability.
#[derive(Debug, Clone, FromRow)]
pub struct LevelRow {
    /// The stock row.
    #[sqlx(flatten)]
    pub stock: StockRow,
    /// Whether its location is active.
    pub active: bool,
}

/// A location's reservations since a time, for routing's capacity filter.
#[derive(Debug, Clone, FromRow)]
pub struct LoadRow {
    /// Orders with a hold or commit there.
    pub orders: i64,
    /// Units of those orders there.
    pub units: i64,
}

impl Store {
    /// Applies `change` to (sku, location) in `tx` and writes its ledger entry.
    /// The stock row is created when missing. Returns `None` for a change that
    /// changes nothing and records nothing (a safety stock set to its value).
    pub async fn change_stock(
        tx: &mut PgConnection,
        sku: &Sku,
        location_id: &LocationId,
        change: Change,
        meta: &MovementMeta<'_>,
    ) -> Result<Option<(StockRow, MovementRow)>, InventoryError> {
        require_location(tx, location_id).await?;
        sqlx::query(
            "INSERT INTO stock (sku, location_id, on_hand) VALUES ($1, $2, 0)
             ON CONFLICT (sku, location_id) DO NOTHING",
        )
        .bind(sku.as_str())
        .bind(location_id.as_str())
        .execute(&mut *tx)
        .await?;
        let sql = format!(
            "SELECT {STOCK_COLUMNS} FROM stock WHERE sku = $1 AND location_id = $2 FOR UPDATE"
        );
        let before: StockRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(sku.as_str())
            .bind(location_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        let after = change.apply(before.figures(), sku, location_id)?;
        if matches!(change, Change::SafetyStock(_)) && after == before.figures() {
            return Ok(None);
        }
        let reason = match change {
            Change::Adjust { reason, .. } => reason.code(),
            _ => 0,
        };
        let movement = insert_movement(
            tx,
            sku,
            location_id,
            change.kind(),
            reason,
            before.figures(),
            after,
            meta,
        )
        .await?;
        let sql = format!(
            "UPDATE stock SET on_hand = $3, safety_stock = $4, sequence = $5, update_time = now()
             WHERE sku = $1 AND location_id = $2
             RETURNING {STOCK_COLUMNS}"
        );
        let stock = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(sku.as_str())
            .bind(location_id.as_str())
            .bind(after.on_hand)
            .bind(after.safety_stock)
            .bind(movement.sequence)
            .fetch_one(&mut *tx)
            .await?;
        Ok(Some((stock, movement)))
    }

    /// [`Store::change_stock`] for a change that always records an entry
    /// (every change but a safety stock).
    pub async fn apply_change(
        tx: &mut PgConnection,
        sku: &Sku,
        location_id: &LocationId,
        change: Change,
        meta: &MovementMeta<'_>,
    ) -> Result<(StockRow, MovementRow), InventoryError> {
        Store::change_stock(tx, sku, location_id, change, meta)
            .await?
            .ok_or_else(|| InventoryError::Corrupt(format!("a {change:?} recorded nothing")))
    }

    /// Sets the low-stock threshold in `tx` (no ledger entry: it changes no
    /// units).
    pub async fn set_threshold(
        tx: &mut PgConnection,
        sku: &Sku,
        location_id: &LocationId,
        threshold: i32,
    ) -> Result<StockRow, InventoryError> {
        require_location(tx, location_id).await?;
        let sql = format!(
            "INSERT INTO stock (sku, location_id, on_hand, low_stock_threshold) VALUES ($1, $2, 0, $3)
             ON CONFLICT (sku, location_id) DO UPDATE SET
                 low_stock_threshold = excluded.low_stock_threshold, update_time = now()
             RETURNING {STOCK_COLUMNS}"
        );
        let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(sku.as_str())
            .bind(location_id.as_str())
            .bind(threshold)
            .fetch_one(&mut *tx)
            .await?;
        Ok(row)
    }

    /// True when some location has a stock row for `sku`.
    pub async fn sku_known(tx: &mut PgConnection, sku: &Sku) -> Result<bool, InventoryError> {
        let known = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stock WHERE sku = $1)")
            .bind(sku.as_str())
            .fetch_one(&mut *tx)
            .await?;
        Ok(known)
    }

    /// Every stock row of `skus`, with its location's active flag, ordered by
    /// sku and location id.
    pub async fn levels(&self, skus: &[String]) -> Result<Vec<LevelRow>, InventoryError> {
        let sql = format!(
            "SELECT {}, l.active
             FROM stock s JOIN locations l USING (location_id)
             WHERE s.sku = ANY($1)
             ORDER BY s.sku, s.location_id",
            qualified(STOCK_COLUMNS, "s")
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(skus)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Up to `limit` low (SKU, location) pairs after `after` (gap under the
    /// threshold, SKU, location), furthest under first.
    pub async fn low_stock(
        &self,
        location_ids: &[String],
        skus: &[String],
        after: Option<&(i32, String, String)>,
        limit: i64,
    ) -> Result<Vec<StockRow>, InventoryError> {
        let (after_gap, after_sku, after_location) = after
            .map_or((i32::MIN, "", ""), |(gap, sku, location)| {
                (*gap, sku.as_str(), location.as_str())
            });
        let sql = format!(
            "SELECT {} FROM (
                 SELECT s.*, greatest(s.on_hand - s.reserved, 0) - s.low_stock_threshold AS gap
                 FROM stock s JOIN locations l USING (location_id)
                 WHERE s.low_stock_threshold > 0
                   AND greatest(s.on_hand - s.reserved, 0) <= s.low_stock_threshold
                   AND (CASE WHEN cardinality($1::text[]) = 0 THEN l.active
                             ELSE s.location_id = ANY($1) END)
                   AND (cardinality($2::text[]) = 0 OR s.sku = ANY($2))
             ) s
             WHERE (gap, sku, location_id) > ($3, $4, $5)
             ORDER BY gap, sku, location_id
             LIMIT $6",
            qualified(STOCK_COLUMNS, "s")
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(location_ids)
            .bind(skus)
            .bind(after_gap)
            .bind(after_sku)
            .bind(after_location)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Up to `limit` ledger entries before `before` (a sequence), newest first.
    pub async fn movements(
        &self,
        filter: &MovementFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<MovementRow>, InventoryError> {
        let sql = format!(
            "SELECT {MOVEMENT_COLUMNS} FROM stock_movements
             WHERE sequence < $1
               AND ($2::text IS NULL OR sku = $2)
               AND ($3::text IS NULL OR location_id = $3)
               AND (cardinality($4::smallint[]) = 0 OR kind = ANY($4))
               AND ($5::text IS NULL OR reference_id = $5)
               AND ($6::timestamptz IS NULL OR create_time >= $6)
               AND ($7::timestamptz IS NULL OR create_time < $7)
             ORDER BY sequence DESC
             LIMIT $8"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or(i64::MAX))
            .bind(&filter.sku)
            .bind(&filter.location_id)
            .bind(&filter.kinds)
            .bind(&filter.reference_id)
            .bind(filter.start_time)
            .bind(filter.end_time)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Orders and units reserved (held or committed) at `location_id` since `since`.
    pub async fn location_load(
        &self,
        queries: &[(String, DateTime<Utc>)],
    ) -> Result<Vec<LoadRow>, InventoryError> {
        let (ids, sinces): (Vec<String>, Vec<DateTime<Utc>>) = queries.iter().cloned().unzip();
        let rows = sqlx::query_as(
            "SELECT coalesce(load.orders, 0) AS orders, coalesce(load.units, 0) AS units
             FROM unnest($1::text[], $2::timestamptz[]) WITH ORDINALITY AS q(location_id, since, position)
             LEFT JOIN LATERAL (
                 SELECT count(DISTINCT r.reservation_id) AS orders, sum(l.quantity) AS units
                 FROM reservation_lines l JOIN reservations r USING (reservation_id)
                 WHERE l.location_id = q.location_id AND r.create_time >= q.since
                   AND r.state IN ('held', 'committed')
             ) load ON true
             ORDER BY q.position",
        )
        .bind(ids)
        .bind(sinces)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}

/// NOT_FOUND unless the location exists.
pub(crate) async fn require_location(
    tx: &mut PgConnection,
    location_id: &LocationId,
) -> Result<bool, InventoryError> {
    let active: Option<bool> =
        sqlx::query_scalar("SELECT active FROM locations WHERE location_id = $1")
            .bind(location_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
    active.ok_or_else(|| InventoryError::not_found("location", location_id.as_str()))
}

#[allow(
    clippy::too_many_arguments,
    reason = "one ledger entry has this many facts"
)]
async fn insert_movement(
    tx: &mut PgConnection,
    sku: &Sku,
    location_id: &LocationId,
    kind: MovementKind,
    adjustment_reason: i16,
    before: StockFigures,
    after: StockFigures,
    meta: &MovementMeta<'_>,
) -> Result<MovementRow, InventoryError> {
    let sql = format!(
        "INSERT INTO stock_movements (sequence, movement_id, sku, location_id, kind,
             adjustment_reason, on_hand_before, on_hand_after, reserved_before, reserved_after,
             safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id, note)
         VALUES (nextval('stock_ledger_sequence'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
             $12, $13, $14, $15)
         RETURNING {MOVEMENT_COLUMNS}"
    );
    let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(Uuid::now_v7())
        .bind(sku.as_str())
        .bind(location_id.as_str())
        .bind(kind.code())
        .bind(adjustment_reason)
        .bind(before.on_hand)
        .bind(after.on_hand)
        .bind(before.reserved)
        .bind(after.reserved)
        .bind(before.safety_stock)
        .bind(after.safety_stock)
        .bind(meta.actor.kind.code())
        .bind(&meta.actor.id)
        .bind(meta.reference_id)
        .bind(meta.note)
        .fetch_one(&mut *tx)
        .await?;
    Ok(row)
}

/// `columns` ("a, b") qualified with a table alias ("s.a, s.b").
pub(crate) fn qualified(columns: &str, alias: &str) -> String {
    columns
        .split(',')
        .map(|column| format!("{alias}.{}", column.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line of a Restock, keyed by (source, source id, line id).
#[derive(Debug, Clone)]
pub struct RestockLine {
    /// The caller's id of the line, unique within its source.
    pub line_id: String,
    /// The SKU.
    pub sku: Sku,
    /// Where the units go back.
    pub location_id: LocationId,
    /// How many.
    pub quantity: Quantity,
}

impl Store {
    /// Sets the safety stock in `tx`; a SAFETY_STOCK entry when the value
    /// changes.
    pub async fn set_safety_stock(
        tx: &mut PgConnection,
        sku: &Sku,
        location_id: &LocationId,
        units: i32,
        actor: &crate::domain::Actor,
    ) -> Result<StockRow, InventoryError> {
        let meta = MovementMeta {
            actor,
            reference_id: "",
            note: "",
        };
        let changed =
            Store::change_stock(tx, sku, location_id, Change::SafetyStock(units), &meta).await?;
        let stock = match changed {
            Some((stock, _)) => stock,
            None => {
                let sql = format!(
                    "SELECT {STOCK_COLUMNS} FROM stock WHERE sku = $1 AND location_id = $2"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(sku.as_str())
                    .bind(location_id.as_str())
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        Ok(stock)
    }

    /// Puts every line back on hand in `tx`, or none. A line applied before
    /// (same key, same content) is returned as it was and not applied again.
    pub async fn restock(
        tx: &mut PgConnection,
        source: i16,
        source_id: &str,
        lines: &[RestockLine],
        actor: &crate::domain::Actor,
        note: &str,
    ) -> Result<Vec<(StockRow, MovementRow)>, InventoryError> {
        // Restocks of one source take turns, so a line is applied once.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("restock/{source}/{source_id}"))
            .execute(&mut *tx)
            .await?;
        let meta = MovementMeta {
            actor,
            reference_id: source_id,
            note,
        };
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by(|a, b| {
            (&lines[*a].sku, &lines[*a].location_id).cmp(&(&lines[*b].sku, &lines[*b].location_id))
        });
        let mut applied: Vec<Option<(StockRow, MovementRow)>> = vec![None; lines.len()];
        for index in order {
            let line = &lines[index];
            let before: Option<(String, String, i32, i64)> = sqlx::query_as(
                "SELECT sku, location_id, quantity, sequence FROM restock_lines
                 WHERE source = $1 AND source_id = $2 AND line_id = $3",
            )
            .bind(source)
            .bind(source_id)
            .bind(&line.line_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((sku, location_id, quantity, sequence)) = before {
                if sku != line.sku.as_str()
                    || location_id != line.location_id.as_str()
                    || quantity != line.quantity.get()
                {
                    return Err(InventoryError::KeyReused(vec![(
                        "line_id",
                        line.line_id.clone(),
                    )]));
                }
                let sql =
                    format!("SELECT {MOVEMENT_COLUMNS} FROM stock_movements WHERE sequence = $1");
                let movement: MovementRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(sequence)
                    .fetch_one(&mut *tx)
                    .await?;
                let sql = format!(
                    "SELECT {STOCK_COLUMNS} FROM stock WHERE sku = $1 AND location_id = $2"
                );
                let stock: StockRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&sku)
                    .bind(&location_id)
                    .fetch_one(&mut *tx)
                    .await?;
                applied[index] = Some((stock, movement));
                continue;
            }
            let (stock, movement) = Store::apply_change(
                tx,
                &line.sku,
                &line.location_id,
                Change::Restock(line.quantity),
                &meta,
            )
            .await?;
            sqlx::query(
                "INSERT INTO restock_lines (source, source_id, line_id, sku, location_id, quantity, sequence)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(source)
            .bind(source_id)
            .bind(&line.line_id)
            .bind(line.sku.as_str())
            .bind(line.location_id.as_str())
            .bind(line.quantity.get())
            .bind(movement.sequence)
            .execute(&mut *tx)
            .await?;
            applied[index] = Some((stock, movement));
        }
        Ok(applied.into_iter().flatten().collect())
    }
}
