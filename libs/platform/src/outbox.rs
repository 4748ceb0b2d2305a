//! The transactional outbox: a message to another service is written in the
//! transaction of the change that causes it, and delivered afterwards until the
//! receiver accepts it. Nothing acknowledged to a caller is lost when a peer is
//! down, and nothing is sent for a change that rolled back.
//!
//! ```text
//! change + enqueue(tx, topic, key, request)  ──commit──▶  outbox_messages
//! run(pool, courier, ...)  ── claim due (FOR UPDATE SKIP LOCKED) ─▶ courier.send
//!                          ◀─ accepted: courier.accepted(tx) + delivered
//!                          ◀─ refused or down: retried with backoff (200 ms .. 30 s)
//! ```
//!
//! Several instances dispatch at once without sending one message twice at
//! the same time. A message accepted but whose delivered mark was lost is sent
//! again: receivers dedupe by the message's natural key, which every OMS
//! contract that an outbox calls has. Each delivery continues the trace of the
//! call that queued it.

use std::{future::Future, sync::Arc, time::Duration};

use sqlx::{FromRow, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::rpc::set_stored_parent;

/// Messages claimed per transaction.
const BATCH: i64 = 50;
/// The longest wait between two attempts of one message.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A queued message.
#[derive(Debug, Clone, FromRow)]
pub struct Message {
    pub id: i64,
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub traceparent: String,
    pub attempts: i32,
}

/// Why a delivery round stopped.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("recording an accepted message: {0}")]
    Accepted(Box<dyn std::error::Error + Send + Sync>),
}

/// Sends a service's messages to their receivers.
pub trait Courier: Send {
    /// What the receiver answered, for [`Courier::accepted`].
    type Receipt: Send;

    /// Sends one message; `Ok` when the receiver accepted it.
    fn send(
        &mut self,
        message: &Message,
    ) -> impl Future<Output = Result<Self::Receipt, tonic::Status>> + Send;

    /// Records, in the transaction that marks the message delivered, what
    /// follows from its acceptance (e.g. the id the receiver minted).
    fn accepted(
        &mut self,
        tx: &mut PgConnection,
        message: &Message,
        receipt: Self::Receipt,
    ) -> impl Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send;
}

/// Queues a message in `tx`; a (topic, key) already queued is not queued
/// again. True when this call queued it.
pub async fn enqueue(
    tx: &mut PgConnection,
    topic: &str,
    key: &str,
    payload: &[u8],
    traceparent: &str,
) -> Result<bool, sqlx::Error> {
    let queued = sqlx::query(
        "INSERT INTO outbox_messages (topic, key, payload, traceparent) VALUES ($1, $2, $3, $4)
         ON CONFLICT (topic, key) DO NOTHING",
    )
    .bind(topic)
    .bind(key)
    .bind(payload)
    .bind(traceparent)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(queued == 1)
}

/// Delivers due messages until `shutdown`: at once when woken, else every `poll`.
pub async fn run<C: Courier>(
    pool: PgPool,
    mut courier: C,
    wake: Arc<Notify>,
    poll: Duration,
    shutdown: CancellationToken,
) {
    loop {
        if let Err(err) = deliver_due(&pool, &mut courier).await {
            tracing::warn!(error = %err, "outbox: delivery failed; retrying");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Delivers every message due now; returns how many were accepted.
pub async fn deliver_due<C: Courier>(pool: &PgPool, courier: &mut C) -> Result<usize, OutboxError> {
    let mut accepted = 0;
    loop {
        let mut tx = pool.begin().await?;
        let messages: Vec<Message> = sqlx::query_as(
            "SELECT id, topic, key, payload, traceparent, attempts
             FROM outbox_messages
             WHERE delivered_time IS NULL AND next_attempt_time <= now()
             ORDER BY id
             LIMIT $1
             FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if messages.is_empty() {
            tx.commit().await?;
            return Ok(accepted);
        }
        let mut failures = 0;
        for message in &messages {
            let span = tracing::info_span!(
                "outbox.deliver",
                topic = %message.topic,
                key = %message.key,
                attempt = message.attempts + 1
            );
            // The delivery continues the trace of the call that queued it.
            set_stored_parent(&span, &message.traceparent);
            match courier.send(message).instrument(span).await {
                Ok(receipt) => {
                    courier
                        .accepted(&mut tx, message, receipt)
                        .await
                        .map_err(OutboxError::Accepted)?;
                    sqlx::query(
                        "UPDATE outbox_messages
                         SET delivered_time = now(), attempts = attempts + 1, last_error = ''
                         WHERE id = $1",
                    )
                    .bind(message.id)
                    .execute(&mut *tx)
                    .await?;
                    accepted += 1;
                }
                Err(status) => {
                    failures += 1;
                    let retry_in = backoff(message.attempts);
                    tracing::warn!(topic = %message.topic, key = %message.key, code = ?status.code(), ?retry_in, "outbox: message not accepted");
                    sqlx::query(
                        "UPDATE outbox_messages
                         SET attempts = attempts + 1, last_error = $2,
                             next_attempt_time = now() + make_interval(secs => $3)
                         WHERE id = $1",
                    )
                    .bind(message.id)
                    .bind(format!("{:?}", status.code()))
                    .bind(retry_in.as_secs_f64())
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        // A batch that failed whole waits for its retry time instead of spinning.
        if failures == messages.len() {
            return Ok(accepted);
        }
    }
}

/// 200 ms, doubling with each attempt, at most 30 s.
fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    (Duration::from_millis(200) * 2_u32.pow(exponent)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_up_to_thirty_seconds() {
        assert_eq!(backoff(0), Duration::from_millis(200));
        assert_eq!(backoff(3), Duration::from_millis(1600));
        assert_eq!(backoff(12), MAX_BACKOFF);
        assert_eq!(backoff(i32::MAX), MAX_BACKOFF);
    }
}
