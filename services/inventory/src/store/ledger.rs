//! Reading the ledger's tail in position order, without skipping a position
//! that is still being written.
//!
//! Positions come from a sequence when a change is written, so they are handed
//! out in allocation order while transactions commit in any order: a reader may
//! see position 8 before 7 commits. Each read returns the snapshot it was made
//! in; a gap below a visible position belongs to a transaction that was running
//! at that snapshot (it took its position earlier) or to one that rolled back.
//! Once every transaction running at that snapshot has finished, a new read
//! shows the gap filled or, if still empty, empty for good.

use sqlx::{FromRow, Row as _};

use super::{MOVEMENT_COLUMNS, MovementRow, Store, stock::qualified};
use crate::error::InventoryError;

/// A ledger entry with the current threshold of its stock row.
#[derive(Debug, Clone, FromRow)]
pub struct TailRow {
    /// The entry.
    #[sqlx(flatten)]
    pub movement: MovementRow,
    /// Its stock row's threshold now; 0 when the row is gone.
    pub low_stock_threshold: i32,
}

/// Entries after a position, and the snapshot they were read in.
#[derive(Debug)]
pub struct Tail {
    /// Entries in position order.
    pub rows: Vec<TailRow>,
    /// The snapshot they were read in, as `pg_current_snapshot()` text.
    pub snapshot: String,
}

impl Store {
    /// Up to `limit` entries after `after`, in position order.
    pub async fn tail(&self, after: i64, limit: i64) -> Result<Tail, InventoryError> {
        // One statement, one snapshot: the rows are exactly what it shows,
        // and `pg_current_snapshot()` is that statement's snapshot. The
        // snapshot's row comes first, alone when there are no entries.
        let sql = format!(
            "SELECT pg_current_snapshot()::text AS snapshot, m.*
             FROM (SELECT 0) AS one
             LEFT JOIN LATERAL (
                 SELECT {}, coalesce(s.low_stock_threshold, 0) AS low_stock_threshold
                 FROM stock_movements m
                 LEFT JOIN stock s ON s.sku = m.sku AND s.location_id = m.location_id
                 WHERE m.sequence > $1
                 ORDER BY m.sequence
                 LIMIT $2
             ) m ON true
             ORDER BY m.sequence",
            qualified(MOVEMENT_COLUMNS, "m")
        );
        let read = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let snapshot = match read.first() {
            Some(row) => row.try_get("snapshot")?,
            None => {
                return Err(InventoryError::Corrupt(
                    "a tail read without its snapshot".into(),
                ));
            }
        };
        let mut rows = Vec::with_capacity(read.len());
        for row in &read {
            // The lone row of a tail with no entries has no entry's columns.
            if row.try_get::<Option<i64>, _>("sequence")?.is_some() {
                rows.push(TailRow::from_row(row)?);
            }
        }
        Ok(Tail { rows, snapshot })
    }

    /// True when every transaction of this database that was running at
    /// `snapshot` has finished. Transactions of other databases on the server
    /// never write this ledger, so a long one there delays nothing here.
    pub async fn snapshot_settled(&self, snapshot: &str) -> Result<bool, InventoryError> {
        let settled = sqlx::query_scalar(
            "SELECT NOT EXISTS (
                 SELECT 1
                 FROM pg_snapshot_xip($1::text::pg_snapshot) AS x
                 JOIN pg_stat_activity a ON a.backend_xid = xid(x)
                 WHERE a.datname = current_database()
             )",
        )
        .bind(snapshot)
        .fetch_one(&self.pool)
        .await?;
        Ok(settled)
    }

    /// Entries in (after, up_to], in position order, for a watcher catching up.
    pub async fn movements_between(
        &self,
        after: i64,
        up_to: i64,
        limit: i64,
    ) -> Result<Vec<TailRow>, InventoryError> {
        let sql = format!(
            "SELECT {}, coalesce(s.low_stock_threshold, 0) AS low_stock_threshold
             FROM stock_movements m
             LEFT JOIN stock s ON s.sku = m.sku AND s.location_id = m.location_id
             WHERE m.sequence > $1 AND m.sequence <= $2
             ORDER BY m.sequence
             LIMIT $3",
            qualified(MOVEMENT_COLUMNS, "m")
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after)
            .bind(up_to)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// The last position taken so far (0 when none), committed or not.
    pub async fn latest_position(&self) -> Result<i64, InventoryError> {
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT CASE WHEN is_called THEN last_value END FROM stock_ledger_sequence",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(latest.unwrap_or(0))
    }

    /// Fingerprint of what a channel watcher sees besides stock: the channel's
    /// policy and the locations' settings. A change means the watcher must resync.
    pub async fn view_version(
        &self,
        channel: Option<&crate::domain::Channel>,
    ) -> Result<String, InventoryError> {
        let (kind, name) = channel.map_or((0, ""), |channel| (channel.kind, channel.name.as_str()));
        let version = sqlx::query_scalar(
            "SELECT concat_ws('/',
                 (SELECT max(update_time)::text FROM locations),
                 (SELECT count(*)::text FROM locations),
                 (SELECT update_time::text FROM channel_policies
                  WHERE channel_kind = $1 AND channel_name = $2))",
        )
        .bind(kind)
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok(version)
    }

    /// The oldest position the ledger still holds (0 when empty).
    pub async fn oldest_position(&self) -> Result<i64, InventoryError> {
        let oldest: Option<i64> = sqlx::query_scalar("SELECT min(sequence) FROM stock_movements")
            .fetch_one(&self.pool)
            .await?;
        Ok(oldest.unwrap_or(0))
    }
}

impl Store {
    /// The last position taken and the snapshot it was read in.
    pub async fn last_position(&self) -> Result<(i64, String), InventoryError> {
        let (last, snapshot): (Option<i64>, String) = sqlx::query_as(
            "SELECT (SELECT max(sequence) FROM stock_movements), pg_current_snapshot()::text",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((last.unwrap_or(0), snapshot))
    }
}
