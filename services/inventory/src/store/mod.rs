//! Postgres, the truth of the inventory: SQL and typed rows. A change runs on
//! its caller's transaction (a handler or [`crate::reservations`] opens it
//! with [`Store::begin`] and commits it); reads outside a change take the pool.
//!
//! - [`locations`]: locations and channel availability policies.
//! - [`stock`]: the stock ledger: counts, adjustments, transfers, restocks,
//!   safety stock, thresholds, availability reads.
//! - [`reservations`]: Reserve, Release, CommitReservation and expiry, the hot path.
//! - [`group`]: a group of Reserves decided in one transaction.
//! - [`ledger`]: reading the ledger's tail in order, for WatchAvailability.
//!
//! Every change to a stock row writes its ledger entry in the same statement or
//! transaction, with the position it takes from `stock_ledger_sequence`.

pub mod group;
pub mod ledger;
pub mod locations;
pub mod reservations;
pub mod stock;

use chrono::{DateTime, Utc};
use oms_platform::{config::DatabaseConfig, db};
use sqlx::{
    Connection, FromRow, PgConnection, PgPool, Postgres, Transaction, pool::PoolConnection,
};
use uuid::Uuid;

use crate::domain::{Actor, StockFigures};

/// The session settings of the grouped Reserves' own connections.
/// - Postgres's generic plan for each of their statements, made once per
///   connection. Left to choose, Postgres plans the sold-out read anew each
///   time (150 µs of planning against 60 to 200 of execution) and the group's
///   statements for most small groups, as their arrays' sizes change its
///   estimates.
/// - No sequential scan where an index can serve. Every statement of a group
///   looks its rows up by key, but a generic plan is made once, on the sizes
///   of the tables at the time: made while `reservations` was small, the
///   sold-out read's lookup of order ids scanned the whole table for as long
///   as its connection lived (every read of the reserve bench's refusals
///   scanned tens of thousands of rows).
pub const GROUP_SESSION: &str =
    "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off";

/// The grouped Reserves' own pool on `database` ([`Store::with_group_pool`]),
/// each connection set to [`GROUP_SESSION`]: two connections per Reserve
/// queue, as a queue's worker runs one read or one transaction at a time, and
/// a connection it let go of is pinged on its way back to the pool before it
/// can be taken again. The pool opens all of them before it is returned, and
/// opens a new one in the background when it retires an old one: a connection
/// opened when a worker asks for it would hold up its whole queue while
/// Postgres starts a backend (the reserve bench's open loop stalled for 100 ms
/// and more when a group took the pool's last connection in the middle of
/// it). Each new connection is readied before the pool hands it out
/// ([`group::prepare_group_connection`]). Its connections are reported as
/// those of the pool `<database>/group`.
pub async fn group_pool(database: &DatabaseConfig) -> Result<PgPool, db::DbError> {
    let size = u32::try_from(2 * crate::group_commit::SHARDS).unwrap_or(u32::MAX);
    let pool = db::pool_options(size, database.acquire_timeout, db::ALIVE_BYPASS)
        .min_connections(size)
        .after_connect(|connection, _| {
            Box::pin(async move {
                sqlx::raw_sql(GROUP_SESSION)
                    .execute(&mut *connection)
                    .await?;
                group::prepare_group_connection(connection)
                    .await
                    .map_err(|err| match err {
                        crate::error::InventoryError::Database(err) => err,
                        other => sqlx::Error::Protocol(other.to_string()),
                    })
            })
        })
        .connect_with(database.options.clone())
        .await
        .map_err(|err| db::unreachable(&database.options, &err))?;
    let name = format!(
        "{}/group",
        database.options.get_database().unwrap_or("postgres")
    );
    db::observe_pool(&pool, &name, &opentelemetry::global::meter("oms"));
    Ok(pool)
}

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
    /// The connections of grouped Reserves ([`group`]): their reads and
    /// transactions. The main pool unless [`Store::with_group_pool`] set one.
    group: PgPool,
}

impl Store {
    /// A store on an open pool whose migrations have run.
    pub fn new(pool: PgPool) -> Store {
        Store {
            group: pool.clone(),
            pool,
        }
    }

    /// The same store, with `group` for grouped Reserves' reads and
    /// transactions: the service gives them a small pool whose connections
    /// run every statement on Postgres's generic plan ([`group_pool`]).
    #[must_use]
    pub fn with_group_pool(self, group: PgPool) -> Store {
        Store { group, ..self }
    }

    /// The pool, for reads outside a change and idempotency.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the transaction of one change, for the caller to commit.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// A connection for grouped Reserves ([`group`]): a queue's worker keeps
    /// one while its queue stays busy, so the pool's ping as a connection goes
    /// back is paid once per turn, not once per group.
    pub async fn group_connection(&self) -> Result<PoolConnection<Postgres>, sqlx::Error> {
        self.group.acquire().await
    }

    /// Opens the transaction of a group of Reserves ([`group`]) on
    /// `connection` ([`Store::group_connection`]), with the settings of
    /// [`GROUP_SESSION`] (generic plans, no sequential scans) whichever pool
    /// it comes from, set in the same round trip as its `BEGIN`: planned anew,
    /// its statements would be planned while the group holds its rows' locks.
    pub async fn begin_group(
        connection: &mut PgConnection,
    ) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        connection
            .begin_with(
                "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; \
                 SET LOCAL enable_seqscan = off",
            )
            .await
    }
}

/// One (SKU, location) stock row.
#[derive(Debug, Clone, FromRow)]
pub struct StockRow {
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
    /// Available at or below this is low stock; 0 for no alert.
    pub low_stock_threshold: i32,
    /// The ledger position of the row's last change.
    pub sequence: i64,
    /// The last change.
    pub update_time: DateTime<Utc>,
}

impl StockRow {
    /// The figures of the row.
    pub fn figures(&self) -> StockFigures {
        StockFigures {
            on_hand: self.on_hand,
            reserved: self.reserved,
            safety_stock: self.safety_stock,
            low_stock_threshold: self.low_stock_threshold,
        }
    }
}

/// The columns of a [`StockRow`], for `RETURNING` and `SELECT`.
pub(crate) const STOCK_COLUMNS: &str = "sku, location_id, on_hand, reserved, safety_stock, \
    low_stock_threshold, sequence, update_time";

/// One ledger entry.
#[derive(Debug, Clone, FromRow)]
pub struct MovementRow {
    /// The entry's ledger position: the order of every change.
    pub sequence: i64,
    /// The id the service minted.
    pub movement_id: Uuid,
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location_id: String,
    /// What it records: the movement kind's code.
    pub kind: i16,
    /// For an adjustment: the adjustment reason's code; 0 otherwise.
    pub adjustment_reason: i16,
    /// On hand before the change.
    pub on_hand_before: i32,
    /// On hand after it.
    pub on_hand_after: i32,
    /// Reserved before the change.
    pub reserved_before: i32,
    /// Reserved after it.
    pub reserved_after: i32,
    /// Safety stock before the change.
    pub safety_stock_before: i32,
    /// Safety stock after it.
    pub safety_stock_after: i32,
    /// Who did it: the actor's kind code.
    pub actor_kind: i16,
    /// Who did it: the actor's id.
    pub actor_id: String,
    /// What it belongs to: an order, transfer or restock source id; may be empty.
    pub reference_id: String,
    /// The caller's note; may be empty.
    pub note: String,
    /// When it was written.
    pub create_time: DateTime<Utc>,
}

impl MovementRow {
    /// Available and sellable before the movement.
    pub fn figures_before(&self, low_stock_threshold: i32) -> StockFigures {
        StockFigures {
            on_hand: self.on_hand_before,
            reserved: self.reserved_before,
            safety_stock: self.safety_stock_before,
            low_stock_threshold,
        }
    }

    /// The figures after the movement.
    pub fn figures_after(&self, low_stock_threshold: i32) -> StockFigures {
        StockFigures {
            on_hand: self.on_hand_after,
            reserved: self.reserved_after,
            safety_stock: self.safety_stock_after,
            low_stock_threshold,
        }
    }
}

/// The columns of a [`MovementRow`].
pub(crate) const MOVEMENT_COLUMNS: &str = "sequence, movement_id, sku, location_id, kind, \
    adjustment_reason, on_hand_before, on_hand_after, reserved_before, reserved_after, \
    safety_stock_before, safety_stock_after, actor_kind, actor_id, reference_id, note, \
    create_time";

/// What a movement is, beyond the figures: who, why, and what it belongs to.
#[derive(Debug, Clone)]
pub struct MovementMeta<'a> {
    /// Who did it.
    pub actor: &'a Actor,
    /// What it belongs to; may be empty.
    pub reference_id: &'a str,
    /// The caller's note; may be empty.
    pub note: &'a str,
}
