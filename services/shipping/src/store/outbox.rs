//! The outbox: status changes for the order service, written in the transaction
//! of the shipment change and delivered afterwards until acknowledged.

use std::time::Duration;

use sqlx::{FromRow, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use super::Store;
use crate::error::ShippingError;

/// An entry waiting for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEntry {
    pub id: i64,
    pub shipment_id: Uuid,
    /// The MarkStatus event id, e.g. "shipment:<id>:<carrier_event_id>".
    pub event_id: String,
    /// The encoded MarkStatusRequest.
    pub payload: Vec<u8>,
    /// The W3C trace context of the call that wrote it.
    pub traceparent: String,
    pub attempts: i32,
}

/// Writes an entry in the transaction of the shipment change; an event id
/// already queued is not queued again.
pub async fn enqueue(
    tx: &mut PgConnection,
    shipment_id: Uuid,
    event_id: &str,
    payload: &[u8],
    traceparent: &str,
) -> Result<(), ShippingError> {
    sqlx::query(
        "INSERT INTO outbox (shipment_id, event_id, payload, traceparent) VALUES ($1, $2, $3, $4)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(shipment_id)
    .bind(event_id)
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
    ) -> Result<(Transaction<'static, Postgres>, Vec<OutboxEntry>), ShippingError> {
        let mut tx = self.begin().await?;
        let entries = sqlx::query_as(
            "SELECT id, shipment_id, event_id, payload, traceparent, attempts
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
}

/// Marks an entry delivered.
pub async fn delivered(tx: &mut PgConnection, entry: &OutboxEntry) -> Result<(), ShippingError> {
    sqlx::query(
        "UPDATE outbox SET delivered_time = now(), attempts = attempts + 1, last_error = '' WHERE id = $1",
    )
    .bind(entry.id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records a failed attempt; the entry is due again after `retry_in`.
pub async fn failed(
    tx: &mut PgConnection,
    entry: &OutboxEntry,
    error: &str,
    retry_in: Duration,
) -> Result<(), ShippingError> {
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
