//! Postgres: the sagas table. One row per saga; every change of a saga is one
//! statement on its row, guarded by the fence of the claim it runs under, so a
//! replica whose lease lapsed (and was taken over) can no longer write.
//!
//! - [`Store::insert`] starts a saga owned by this replica (no claim needed:
//!   its runner starts at once, in-process).
//! - [`Store::claim_due`] is the fallback: due sagas whose lease is free,
//!   claimed with `FOR UPDATE SKIP LOCKED`, the fence bumped.
//! - [`Store::commit`] writes a step's outcome and the next step's intent,
//!   renewing the lease, or letting it go when the saga waits long, ended or
//!   is STUCK. A step that follows at once leaves the row's indexed columns
//!   as they are, so the write is a HOT update.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    domain::{
        SagaKind, SagaState,
        saga::{Body, Saga},
    },
    error::SagaError,
};

/// The sagas table.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

/// A saga held by this replica under `fence`.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// The saga as loaded.
    pub saga: Saga,
    /// The claim's fence: every write must carry it.
    pub fence: i64,
    /// A cancel saga asked it to stop at its next step boundary.
    pub abort_requested: bool,
}

/// What listing filters.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this kind.
    pub kind: Option<SagaKind>,
    /// Any of these states; all when empty.
    pub states: Vec<SagaState>,
    /// Only this order's.
    pub order_id: Option<String>,
    /// Only this return's.
    pub return_id: Option<String>,
    /// Started no later than this (age filter).
    pub created_before: Option<DateTime<Utc>>,
    /// Started no earlier than this.
    pub created_after: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct SagaRow {
    saga_id: Uuid,
    kind: i16,
    flow_version: i32,
    state: i16,
    order_id: String,
    return_id: String,
    cancellation: i32,
    body: sqlx::types::Json<Body>,
    owner_id: Option<String>,
    lease_expire_time: Option<DateTime<Utc>>,
    fence: i64,
    abort_requested: bool,
    create_time: DateTime<Utc>,
    update_time: DateTime<Utc>,
    finish_time: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "saga_id, kind, flow_version, state, order_id, return_id, cancellation,
     body, owner_id,
     lease_expire_time, fence, abort_requested, create_time, update_time, finish_time";

impl SagaRow {
    fn into_claimed(self) -> Result<Claimed, SagaError> {
        let saga = Saga {
            saga_id: self.saga_id,
            kind: SagaKind::from_code(self.kind)
                .ok_or_else(|| SagaError::Corrupt(format!("kind of saga {}", self.saga_id)))?,
            flow_version: self.flow_version,
            state: SagaState::from_code(self.state)
                .ok_or_else(|| SagaError::Corrupt(format!("state of saga {}", self.saga_id)))?,
            order_id: self.order_id,
            return_id: self.return_id,
            cancellation: self.cancellation,
            body: self.body.0,
            create_time: self.create_time,
            update_time: self.update_time,
            finish_time: self.finish_time,
            owner_id: self.owner_id,
            lease_expire_time: self.lease_expire_time,
        };
        Ok(Claimed {
            saga,
            fence: self.fence,
            abort_requested: self.abort_requested,
        })
    }
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl Store {
    /// The store of `pool`'s database.
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// The pool, for the operator actions' transactions.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Inserts `saga`, held by `owner` under fence 1, unless its natural key
    /// (kind and order, or return) is taken: then the existing saga, not held.
    pub async fn insert(
        &self,
        saga: &Saga,
        owner: &str,
        lease: Duration,
    ) -> Result<(Claimed, bool), SagaError> {
        let now = Utc::now();
        let inserted = sqlx::query(
            "INSERT INTO sagas (saga_id, kind, flow_version, state, order_id, return_id, body,
                 due_time, owner_id, lease_expire_time, fence, create_time, update_time,
                 cancellation)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10), 1,
                 $11, $11, $12)
             ON CONFLICT DO NOTHING",
        )
        .bind(saga.saga_id)
        .bind(saga.kind.code())
        .bind(saga.flow_version)
        .bind(saga.state.code())
        .bind(&saga.order_id)
        .bind(&saga.return_id)
        .bind(sqlx::types::Json(&saga.body))
        .bind(saga.due_time(now))
        .bind(owner)
        .bind(seconds(lease))
        .bind(saga.create_time)
        .bind(saga.cancellation)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            let mut saga = saga.clone();
            saga.owner_id = Some(owner.to_owned());
            return Ok((
                Claimed {
                    saga,
                    fence: 1,
                    abort_requested: false,
                },
                true,
            ));
        }
        let existing = self
            .by_natural_key(
                saga.kind,
                &saga.order_id,
                &saga.return_id,
                saga.cancellation,
            )
            .await?
            .ok_or_else(|| {
                SagaError::Corrupt("a saga's natural key conflicts with no saga".into())
            })?;
        Ok((existing, false))
    }

    /// The saga of `kind` for an order (ORDER; CANCEL with its cancellation)
    /// or a return (RETURN).
    pub async fn by_natural_key(
        &self,
        kind: SagaKind,
        order_id: &str,
        return_id: &str,
        cancellation: i32,
    ) -> Result<Option<Claimed>, SagaError> {
        let (column, key) = if kind == SagaKind::Return {
            ("return_id", return_id)
        } else {
            ("order_id", order_id)
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM sagas WHERE kind = $1 AND {column} = $2 AND cancellation = $3"
        );
        let row: Option<SagaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(kind.code())
            .bind(key)
            .bind(if kind == SagaKind::Cancel {
                cancellation
            } else {
                0
            })
            .fetch_optional(&self.pool)
            .await?;
        row.map(SagaRow::into_claimed).transpose()
    }

    /// One saga by id.
    pub async fn get(&self, saga_id: Uuid) -> Result<Option<Claimed>, SagaError> {
        let sql = format!("SELECT {COLUMNS} FROM sagas WHERE saga_id = $1");
        let row: Option<SagaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(saga_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(SagaRow::into_claimed).transpose()
    }

    /// One saga by id, locked in `tx` for an operator action.
    pub async fn lock(tx: &mut PgConnection, saga_id: Uuid) -> Result<Option<Claimed>, SagaError> {
        let sql = format!("SELECT {COLUMNS} FROM sagas WHERE saga_id = $1 FOR UPDATE");
        let row: Option<SagaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(saga_id)
            .fetch_optional(&mut *tx)
            .await?;
        row.map(SagaRow::into_claimed).transpose()
    }

    /// Claims up to `limit` due sagas whose lease is free (none, or lapsed: a
    /// replica that died), for `owner`: their fence moves on, so the replica
    /// that held one before can no longer write it.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> Result<Vec<Claimed>, SagaError> {
        let sql = format!(
            "UPDATE sagas s
             SET owner_id = $1, lease_expire_time = now() + make_interval(secs => $2),
                 fence = s.fence + 1
             FROM (SELECT saga_id FROM sagas
                   WHERE state IN (1, 2) AND due_time <= now()
                     AND (lease_expire_time IS NULL OR lease_expire_time < now())
                   ORDER BY due_time
                   LIMIT $3
                   FOR UPDATE SKIP LOCKED) due
             WHERE s.saga_id = due.saga_id
             RETURNING {}",
            COLUMNS
                .split(',')
                .map(|column| format!("s.{}", column.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows: Vec<SagaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(seconds(lease))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(SagaRow::into_claimed).collect()
    }

    /// Writes `saga` as held under `fence`: the lease is renewed for `lease`
    /// when `keep` says the runner goes on, and let go otherwise. `None` when
    /// the fence moved on (another replica took the saga over): nothing was
    /// written. Otherwise whether a cancel asked the saga to stop.
    pub async fn commit(
        &self,
        saga: &Saga,
        fence: i64,
        keep: Option<Duration>,
    ) -> Result<Option<bool>, SagaError> {
        let now = Utc::now();
        // Work due at once keeps a due time the row has that is past already
        // (and within the hour `Saga::due_time` allows): no indexed column
        // changes from one step to the next, so Postgres updates the row in
        // place (HOT, on the room the table's fillfactor leaves) instead of
        // adding an entry to each of its indexes at every step.
        let due_now = saga
            .next_work()
            .is_some_and(|work| work.due.is_none_or(|due| due <= now));
        let abort: Option<bool> = sqlx::query_scalar(
            "UPDATE sagas
             SET state = $3, body = $4,
                 due_time = CASE WHEN $9 AND due_time <= now()
                                  AND due_time > now() - interval '1 hour'
                             THEN due_time ELSE $5 END,
                 finish_time = $6, update_time = now(),
                 owner_id = CASE WHEN $7 THEN owner_id END,
                 lease_expire_time = CASE WHEN $7 THEN now() + make_interval(secs => $8) END
             WHERE saga_id = $1 AND fence = $2
             RETURNING abort_requested",
        )
        .bind(saga.saga_id)
        .bind(fence)
        .bind(saga.state.code())
        .bind(sqlx::types::Json(&saga.body))
        .bind(saga.due_time(now))
        .bind(saga.finish_time)
        .bind(keep.is_some())
        .bind(keep.map_or(0.0, seconds))
        .bind(due_now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(abort)
    }

    /// Lets go of a saga held under `fence` (a runner that stops: shutdown, a
    /// long wait), so that any replica may take it when it is due.
    pub async fn release(&self, saga_id: Uuid, fence: i64) -> Result<(), SagaError> {
        sqlx::query(
            "UPDATE sagas SET owner_id = NULL, lease_expire_time = NULL
             WHERE saga_id = $1 AND fence = $2",
        )
        .bind(saga_id)
        .bind(fence)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Writes an operator's change of a STUCK saga in `tx` and takes the saga
    /// for `owner` (its runner starts after the commit); the new fence.
    pub async fn take_for_operator(
        tx: &mut PgConnection,
        saga: &Saga,
        owner: &str,
        lease: Duration,
    ) -> Result<i64, SagaError> {
        let now = Utc::now();
        let fence: i64 = sqlx::query_scalar(
            "UPDATE sagas
             SET state = $2, body = $3, due_time = $4, finish_time = $5, update_time = now(),
                 owner_id = $6, lease_expire_time = now() + make_interval(secs => $7),
                 fence = fence + 1
             WHERE saga_id = $1
             RETURNING fence",
        )
        .bind(saga.saga_id)
        .bind(saga.state.code())
        .bind(sqlx::types::Json(&saga.body))
        .bind(saga.due_time(now))
        .bind(saga.finish_time)
        .bind(owner)
        .bind(seconds(lease))
        .fetch_one(&mut *tx)
        .await?;
        Ok(fence)
    }

    /// Asks the order saga of `order_id` to stop at its next step boundary and
    /// compensate (a cancel); the saga, if there is one.
    pub async fn request_abort(&self, order_id: &str) -> Result<Option<Claimed>, SagaError> {
        // Due at once, so a saga waiting out a backoff stops now.
        let sql = format!(
            "UPDATE sagas SET abort_requested = true,
                 due_time = CASE WHEN state IN (1, 2) THEN least(due_time, now()) END
             WHERE kind = 1 AND order_id = $1
             RETURNING {COLUMNS}"
        );
        let row: Option<SagaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(SagaRow::into_claimed).transpose()
    }

    /// Sagas matching `filter`, newest first, after `after` (a page cursor).
    pub async fn list(
        &self,
        filter: &Filter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<Saga>, SagaError> {
        let states: Vec<i16> = filter.states.iter().map(|state| state.code()).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM sagas
             WHERE ($1::smallint IS NULL OR kind = $1)
               AND (cardinality($2::smallint[]) = 0 OR state = ANY($2))
               AND ($3::text IS NULL OR order_id = $3)
               AND ($4::text IS NULL OR return_id = $4)
               AND ($5::timestamptz IS NULL OR create_time <= $5)
               AND ($6::timestamptz IS NULL OR create_time >= $6)
               AND ($7::timestamptz IS NULL OR (create_time, saga_id) < ($7, $8))
             ORDER BY create_time DESC, saga_id DESC
             LIMIT $9"
        );
        let rows: Vec<SagaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.kind.map(SagaKind::code))
            .bind(&states)
            .bind(filter.order_id.as_deref())
            .bind(filter.return_id.as_deref())
            .bind(filter.created_before)
            .bind(filter.created_after)
            .bind(after.map(|(time, _)| time))
            .bind(after.map(|(_, id)| id))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| row.into_claimed().map(|claimed| claimed.saga))
            .collect()
    }

    /// How many sagas are STUCK, and the age of the oldest RUNNING or
    /// COMPENSATING one, for the gauges.
    pub async fn health(&self) -> Result<(i64, f64), SagaError> {
        let (stuck, oldest): (i64, f64) = sqlx::query_as(
            "SELECT
               (SELECT count(*) FROM sagas WHERE state = 5),
               (SELECT coalesce(extract(epoch FROM now() - min(create_time)), 0)::float8
                FROM sagas WHERE state IN (1, 2))",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((stuck, oldest))
    }

    /// The unfinished sagas (RUNNING, COMPENSATING, STUCK) whose flow version
    /// is not among `known`, per kind: a coordinator that does not have their
    /// flow must not start.
    pub async fn unknown_flows(
        &self,
        known: &[(SagaKind, i32)],
    ) -> Result<Vec<(Uuid, SagaKind, i32)>, SagaError> {
        let kinds: Vec<i16> = known.iter().map(|(kind, _)| kind.code()).collect();
        let versions: Vec<i32> = known.iter().map(|(_, version)| *version).collect();
        let rows: Vec<(Uuid, i16, i32)> = sqlx::query_as(
            "SELECT saga_id, kind, flow_version FROM sagas
             WHERE state IN (1, 2, 5)
               AND (kind, flow_version) NOT IN (SELECT * FROM unnest($1::smallint[], $2::int[]))
             ORDER BY create_time
             LIMIT 20",
        )
        .bind(&kinds)
        .bind(&versions)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, kind, version)| Some((id, SagaKind::from_code(kind)?, version)))
            .collect())
    }
}
