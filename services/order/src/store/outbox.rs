//! The outbox: saga starts written in the transaction that changed the order,
//! delivered afterwards until the coordinator accepts them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::Store;
use crate::error::OrderError;

/// What the outbox delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxKind {
    StartOrderSaga,
    StartCancelSaga,
}

impl OutboxKind {
    fn as_str(self) -> &'static str {
        match self {
            OutboxKind::StartOrderSaga => "start_order_saga",
            OutboxKind::StartCancelSaga => "start_cancel_saga",
        }
    }
}

/// An entry waiting for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEntry {
    pub id: i64,
    pub order_id: Uuid,
    pub kind: String,
    /// The encoded request to send.
    pub payload: Vec<u8>,
    /// The W3C trace context of the call that wrote it.
    pub traceparent: String,
    pub attempts: i32,
    pub create_time: DateTime<Utc>,
}

impl OutboxEntry {
    pub fn kind(&self) -> Option<OutboxKind> {
        match self.kind.as_str() {
            "start_order_saga" => Some(OutboxKind::StartOrderSaga),
            "start_cancel_saga" => Some(OutboxKind::StartCancelSaga),
            _ => None,
        }
    }
}

/// Writes an entry in the transaction of the order change.
pub async fn enqueue(
    tx: &mut PgConnection,
    order_id: Uuid,
    kind: OutboxKind,
    payload: &[u8],
    traceparent: &str,
) -> Result<(), OrderError> {
    sqlx::query(
        "INSERT INTO outbox (order_id, kind, payload, traceparent) VALUES ($1, $2, $3, $4)",
    )
    .bind(order_id)
    .bind(kind.as_str())
    .bind(payload)
    .bind(traceparent)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

impl Store {
    /// Claims up to `limit` due entries: they stay locked (other instances skip
    /// them) until the returned transaction ends.
    pub async fn claim_due(
        &self,
        limit: i64,
    ) -> Result<(Transaction<'static, Postgres>, Vec<OutboxEntry>), OrderError> {
        let mut tx = self.pool.begin().await?;
        let entries = sqlx::query_as(
            "SELECT id, order_id, kind, payload, traceparent, attempts, create_time
             FROM outbox
             WHERE delivered_time IS NULL AND next_attempt_time <= now()
             ORDER BY id
             LIMIT $1
             FOR UPDATE SKIP LOCKED",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        Ok((tx, entries))
    }

    /// When the next undelivered entry is due, if any.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>, OrderError> {
        let next = sqlx::query_scalar(
            "SELECT min(next_attempt_time) FROM outbox WHERE delivered_time IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(next)
    }
}

/// Marks an entry delivered and records the saga on the order, with a
/// SAGA_STARTED event the first time.
pub async fn delivered(
    tx: &mut PgConnection,
    entry: &OutboxEntry,
    saga_id: &str,
) -> Result<(), OrderError> {
    sqlx::query("UPDATE outbox SET delivered_time = now(), attempts = attempts + 1, last_error = '' WHERE id = $1")
        .bind(entry.id)
        .execute(&mut *tx)
        .await?;
    if entry.kind() == Some(OutboxKind::StartOrderSaga) {
        sqlx::query("UPDATE orders SET saga_id = $2, update_time = now() WHERE order_id = $1")
            .bind(entry.order_id)
            .bind(saga_id)
            .execute(&mut *tx)
            .await?;
    }
    super::orders::record_event(
        tx,
        entry.order_id,
        &super::orders::Event {
            kind: crate::domain::timeline::EventKind::SagaStarted,
            references: vec![(crate::domain::timeline::RefKind::SagaId, saga_id.to_owned())],
            ..super::orders::Event::system("oms-order")
        },
    )
    .await
}

/// Records a failed attempt; the entry is due again after `retry_in`.
pub async fn failed(
    tx: &mut PgConnection,
    entry: &OutboxEntry,
    error: &str,
    retry_in: Duration,
) -> Result<(), OrderError> {
    sqlx::query(
        "UPDATE outbox
         SET attempts = attempts + 1, last_error = $2,
             next_attempt_time = now() + make_interval(secs => $3)
         WHERE id = $1",
    )
    .bind(entry.id)
    .bind(error)
    .bind(retry_in.as_secs_f64())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
