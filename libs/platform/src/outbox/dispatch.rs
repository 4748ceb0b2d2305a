//! The dispatcher: delivers a service's due outbox messages, at once when
//! woken, else every poll.
//!
//! A round claims up to a batch of due messages in one committed statement,
//! which pushes their next attempt a lease ahead and bumps their claim number:
//! other dispatchers skip them until the lease lapses. Then it delivers them
//! concurrently, outside any transaction, so no pool connection or row lock is
//! held while a receiver answers. Each outcome is recorded by a statement that
//! only matches the claim it was delivered under (the fence): a dispatcher that
//! stalled past its lease, while another took the message over, records nothing.
//!
//! Outcomes: accepted -> DELIVERED (with the courier's own writes in the same
//! transaction); refused with a transient code -> retried after an exponential
//! backoff with jitter; refused for good, or out of attempts -> DEAD, counted in
//! `oms.outbox.parked` and listed for operators.

use std::{sync::Arc, time::Duration};

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Meter},
};
use sqlx::PgPool;
use tokio::{sync::Notify, task::JoinSet, time::Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::{Courier, Message, is_transient};
use crate::{error::code_name, rpc::set_stored_parent};

/// How a service's dispatcher behaves.
#[derive(Clone, Debug)]
pub struct Settings {
    /// How often to look for due messages when not woken: the fallback for
    /// retries that fall due and for messages other replicas queued.
    pub poll: Duration,
    /// Delivery attempts before a message that is still refused is parked.
    pub max_attempts: i32,
    /// How long a claim keeps other dispatchers off a message. Longer than any
    /// delivery call's deadline.
    pub lease: Duration,
    /// Messages claimed, and delivered concurrently, per round.
    pub batch: i64,
    /// How long delivered messages are kept, for operators, before they are
    /// purged. Parked ones are kept until re-driven.
    pub retention: Duration,
    /// Where the outbox's metrics go: the process's global meter, unless a
    /// test reads them from its own.
    pub meter: Meter,
}

impl Settings {
    /// The defaults with `poll`: 200 attempts (about three hours of a receiver
    /// down, with the backoff at its one-minute cap), a one-minute lease,
    /// batches of 32, delivered messages kept a day.
    pub fn new(poll: Duration) -> Settings {
        Settings {
            poll,
            max_attempts: 200,
            lease: Duration::from_secs(60),
            batch: 32,
            retention: Duration::from_secs(24 * 3600),
            meter: opentelemetry::global::meter("oms"),
        }
    }
}

/// The first retry's wait; each further one doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between two attempts of one message.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often delivered messages past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Why a dispatcher round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

/// What one [`Dispatcher::deliver_due`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Messages the receiver accepted.
    pub delivered: usize,
    /// Messages refused for now, due again later.
    pub retried: usize,
    /// Messages parked as DEAD.
    pub parked: usize,
    /// Messages whose outcome was not recorded: the claim lapsed (another
    /// dispatcher has the message) or the database failed; due again after the
    /// lease.
    pub unrecorded: usize,
}

enum Outcome {
    Delivered,
    Retried,
    Parked,
    Unrecorded,
}

/// Delivers one service's outbox through its [`Courier`].
pub struct Dispatcher<C> {
    inner: Arc<Inner<C>>,
    wake: Arc<Notify>,
}

struct Inner<C> {
    pool: PgPool,
    courier: C,
    settings: Settings,
    metrics: Metrics,
}

impl<C: Courier> Dispatcher<C> {
    /// A dispatcher of the outbox in `pool`'s database; `wake` is notified by
    /// the service's handlers after they commit a message.
    pub fn new(pool: PgPool, courier: C, wake: Arc<Notify>, settings: Settings) -> Dispatcher<C> {
        Dispatcher {
            inner: Arc::new(Inner {
                pool,
                courier,
                metrics: Metrics::new(&settings.meter),
                settings,
            }),
            wake,
        }
    }

    /// Delivers due messages until `shutdown`: at once when woken, else every
    /// poll. Refreshes the outbox gauges every poll and purges old delivered
    /// messages hourly.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = self.inner.settings.poll;
        let mut observed = None::<Instant>;
        let mut purged = None::<Instant>;
        loop {
            if let Err(err) = self.deliver_due().await {
                tracing::warn!(error = %err, "outbox: delivery round failed; retrying");
            }
            if observed.is_none_or(|at| at.elapsed() >= poll) {
                self.inner.observe().await;
                observed = Some(Instant::now());
            }
            if purged.is_none_or(|at| at.elapsed() >= PURGE_INTERVAL) {
                self.inner.purge().await;
                purged = Some(Instant::now());
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Delivers every message due now, a batch at a time.
    pub async fn deliver_due(&self) -> Result<Round, OutboxError> {
        let mut round = Round::default();
        loop {
            let claimed = self.inner.claim().await?;
            let full =
                i64::try_from(claimed.len()).unwrap_or(i64::MAX) >= self.inner.settings.batch;
            if claimed.is_empty() {
                return Ok(round);
            }
            let mut deliveries = JoinSet::new();
            for message in claimed {
                let inner = self.inner.clone();
                deliveries.spawn(async move { inner.deliver(message).await });
            }
            while let Some(outcome) = deliveries.join_next().await {
                match outcome {
                    Ok(Outcome::Delivered) => round.delivered += 1,
                    Ok(Outcome::Retried) => round.retried += 1,
                    Ok(Outcome::Parked) => round.parked += 1,
                    Ok(Outcome::Unrecorded) => round.unrecorded += 1,
                    Err(err) => {
                        tracing::error!(error = %err, "outbox: delivery task failed");
                        round.unrecorded += 1;
                    }
                }
            }
            // A short batch was everything due; a full one may have left more.
            if !full {
                return Ok(round);
            }
        }
    }
}

impl<C: Courier> Inner<C> {
    /// Claims up to a batch of due messages: their next attempt moves a lease
    /// ahead and their claim number up, in one committed statement.
    async fn claim(&self) -> Result<Vec<Message>, sqlx::Error> {
        sqlx::query_as(
            "UPDATE outbox_messages m
             SET next_attempt_time = now() + make_interval(secs => $2), claim = m.claim + 1
             FROM (SELECT id FROM outbox_messages
                   WHERE state = 'PENDING' AND next_attempt_time <= now()
                   ORDER BY next_attempt_time, id
                   LIMIT $1
                   FOR UPDATE SKIP LOCKED) due
             WHERE m.id = due.id
             RETURNING m.id, m.topic, m.key, m.payload, m.traceparent, m.attempts, m.claim",
        )
        .bind(self.settings.batch)
        .bind(self.settings.lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await
    }

    /// Delivers one claimed message and records what happened.
    async fn deliver(&self, message: Message) -> Outcome {
        let span = tracing::info_span!(
            "outbox.deliver",
            topic = %message.topic,
            key = %message.key,
            attempt = message.attempts + 1
        );
        // The delivery continues the trace of the call that queued it.
        set_stored_parent(&span, &message.traceparent);
        let sent = self.courier.send(&message).instrument(span.clone()).await;
        let recorded = match sent {
            Ok(receipt) => self.record_delivered(&message, receipt).await,
            Err(status) => self.record_refused(&message, &status).await,
        };
        match recorded {
            Ok(outcome) => outcome,
            Err(err) => {
                span.in_scope(|| {
                    tracing::warn!(error = %err, "outbox: outcome not recorded; due again after the lease");
                });
                Outcome::Unrecorded
            }
        }
    }

    async fn record_delivered(
        &self,
        message: &Message,
        receipt: C::Receipt,
    ) -> Result<Outcome, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE outbox_messages
             SET state = 'DELIVERED', delivered_time = now(), attempts = attempts + 1,
                 last_error = ''
             WHERE id = $1 AND claim = $2 AND state = 'PENDING'",
        )
        .bind(message.id)
        .bind(message.claim)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 0 {
            // Another dispatcher took the message over; it records the outcome.
            return Ok(Outcome::Unrecorded);
        }
        if let Err(err) = self.courier.accepted(&mut tx, message, receipt).await {
            tracing::warn!(topic = %message.topic, key = %message.key, error = %err, "outbox: recording the receipt failed; the message is sent again after the lease");
            return Ok(Outcome::Unrecorded);
        }
        tx.commit().await?;
        self.metrics.delivered.add(1, &[topic(message)]);
        Ok(Outcome::Delivered)
    }

    async fn record_refused(
        &self,
        message: &Message,
        status: &tonic::Status,
    ) -> Result<Outcome, sqlx::Error> {
        let attempts = message.attempts.saturating_add(1);
        let error = describe(status);
        let code = format!("{:?}", status.code());
        self.metrics.refused.add(
            1,
            &[
                topic(message),
                KeyValue::new(
                    "rpc.response.status_code",
                    crate::rpc::code_name(status.code() as i32),
                ),
            ],
        );
        if is_transient(status.code()) && attempts < self.settings.max_attempts {
            let retry_in = backoff(message.id, message.attempts);
            tracing::info!(topic = %message.topic, key = %message.key, code, attempts, ?retry_in, "outbox: receiver refused for now; retrying");
            let marked = sqlx::query(
                "UPDATE outbox_messages
                 SET attempts = $3, last_error = $4,
                     next_attempt_time = now() + make_interval(secs => $5)
                 WHERE id = $1 AND claim = $2 AND state = 'PENDING'",
            )
            .bind(message.id)
            .bind(message.claim)
            .bind(attempts)
            .bind(&error)
            .bind(retry_in.as_secs_f64())
            .execute(&self.pool)
            .await?
            .rows_affected();
            return Ok(if marked == 1 {
                Outcome::Retried
            } else {
                Outcome::Unrecorded
            });
        }
        let marked = sqlx::query(
            "UPDATE outbox_messages
             SET state = 'DEAD', dead_time = now(), attempts = $3, last_error = $4
             WHERE id = $1 AND claim = $2 AND state = 'PENDING'",
        )
        .bind(message.id)
        .bind(message.claim)
        .bind(attempts)
        .bind(&error)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if marked == 0 {
            return Ok(Outcome::Unrecorded);
        }
        tracing::warn!(topic = %message.topic, key = %message.key, code, attempts, "outbox: message parked as DEAD; an operator must re-drive it");
        self.metrics.parked.add(1, &[topic(message)]);
        Ok(Outcome::Parked)
    }

    /// Refreshes the depth, age and parked gauges.
    async fn observe(&self) {
        let stats: Result<(i64, f64, i64), _> = sqlx::query_as(
            "SELECT
               (SELECT count(*) FROM outbox_messages WHERE state = 'PENDING'),
               (SELECT coalesce(extract(epoch FROM now() - min(create_time)), 0)::float8
                FROM outbox_messages WHERE state = 'PENDING'),
               (SELECT count(*) FROM outbox_messages WHERE state = 'DEAD')",
        )
        .fetch_one(&self.pool)
        .await;
        match stats {
            Ok((depth, oldest, dead)) => {
                self.metrics
                    .depth
                    .record(u64::try_from(depth).unwrap_or(0), &[]);
                self.metrics.oldest_age.record(oldest.max(0.0), &[]);
                self.metrics
                    .dead
                    .record(u64::try_from(dead).unwrap_or(0), &[]);
            }
            Err(err) => tracing::debug!(error = %err, "outbox: gauges not refreshed"),
        }
    }

    /// Deletes delivered messages older than the retention.
    async fn purge(&self) {
        let purged = sqlx::query(
            "DELETE FROM outbox_messages
             WHERE state = 'DELIVERED' AND delivered_time < now() - make_interval(secs => $1)",
        )
        .bind(self.settings.retention.as_secs_f64())
        .execute(&self.pool)
        .await;
        match purged {
            Ok(done) => tracing::debug!(
                purged = done.rows_affected(),
                "outbox: delivered messages past retention purged"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "outbox: purge failed; trying again next hour")
            }
        }
    }
}

fn topic(message: &Message) -> KeyValue {
    KeyValue::new("topic", message.topic.clone())
}

/// A refusal as operators read it: "<CODE>: <message>", at most 500
/// characters. Receivers keep personal data out of their messages.
fn describe(status: &tonic::Status) -> String {
    let text = format!("{}: {}", code_name(status.code()), status.message());
    text.chars().take(500).collect()
}

/// The wait before the next attempt after `attempts` failed ones: 200 ms,
/// doubling, at most a minute; half of it fixed and half drawn from the
/// message id and attempt, so that messages refused together (a receiver that
/// went down) do not all come back at the same instant.
fn backoff(id: i64, attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
    let full = (FIRST_BACKOFF * 2_u32.pow(exponent)).min(MAX_BACKOFF);
    let seed = u64::from_ne_bytes(id.to_ne_bytes()) ^ (u64::from(exponent) << 56);
    let draw =
        f64::from(u32::try_from(splitmix64(seed) >> 40).unwrap_or(0)) / f64::from(1_u32 << 24);
    full / 2 + full.mul_f64(draw / 2.0)
}

/// One step of SplitMix64: a well-spread 64-bit value from any seed.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The outbox's instruments.
struct Metrics {
    delivered: Counter<u64>,
    refused: Counter<u64>,
    parked: Counter<u64>,
    depth: Gauge<u64>,
    oldest_age: Gauge<f64>,
    dead: Gauge<u64>,
}

impl Metrics {
    fn new(meter: &Meter) -> Metrics {
        Metrics {
            delivered: meter
                .u64_counter("oms.outbox.delivered")
                .with_description("Outbox messages their receiver accepted, per topic")
                .build(),
            refused: meter
                .u64_counter("oms.outbox.refused")
                .with_description(
                    "Outbox delivery attempts the receiver refused, per topic and code",
                )
                .build(),
            parked: meter
                .u64_counter("oms.outbox.parked")
                .with_description(
                    "Outbox messages parked as DEAD, per topic: an operator must re-drive them",
                )
                .build(),
            depth: meter
                .u64_gauge("oms.outbox.depth")
                .with_description("Outbox messages waiting for delivery")
                .build(),
            oldest_age: meter
                .f64_gauge("oms.outbox.oldest_age")
                .with_unit("s")
                .with_description("Age of the oldest outbox message waiting for delivery")
                .build(),
            dead: meter
                .u64_gauge("oms.outbox.dead")
                .with_description("Outbox messages parked as DEAD")
                .build(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_a_minute() {
        for id in [1, 2, 77, i64::MAX] {
            let first = backoff(id, 0);
            assert!(
                first >= FIRST_BACKOFF / 2 && first <= FIRST_BACKOFF,
                "{first:?}"
            );
            let fourth = backoff(id, 3);
            assert!(fourth >= Duration::from_millis(800) && fourth <= Duration::from_millis(1600));
            for attempts in [12, 100, i32::MAX, i32::MIN] {
                assert!(backoff(id, attempts) <= MAX_BACKOFF);
            }
            assert!(backoff(id, 40) >= MAX_BACKOFF / 2);
        }
    }

    #[test]
    fn messages_refused_together_come_back_at_different_times() {
        let waits: std::collections::HashSet<Duration> =
            (1..=20).map(|id| backoff(id, 5)).collect();
        assert!(waits.len() >= 18, "{waits:?}");
    }

    #[test]
    fn only_codes_of_a_receiver_down_or_busy_are_retried() {
        use tonic::Code;
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
        ] {
            assert!(is_transient(code), "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::FailedPrecondition,
            Code::NotFound,
            Code::AlreadyExists,
            Code::Internal,
            Code::Unimplemented,
        ] {
            assert!(!is_transient(code), "{code:?}");
        }
    }

    #[test]
    fn refusals_are_described_by_code_name_and_cut_to_500_characters() {
        let status = tonic::Status::failed_precondition("x".repeat(900));
        let text = describe(&status);
        assert!(text.starts_with("FAILED_PRECONDITION: x"));
        assert_eq!(text.chars().count(), 500);
    }
}
