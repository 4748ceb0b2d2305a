//! The transactional outbox: a message to another service is written in the
//! transaction of the change that causes it, and delivered after the commit
//! until the receiver accepts it. Nothing acknowledged to a caller is lost when
//! a peer is down, and nothing is sent for a change that rolled back.
//!
//! ```text
//! handler: change + enqueue(tx, topic, key, payload) ── commit ──▶ outbox_messages
//!          wake.notify_one()  ─────────────────────────────────────▶ Dispatcher
//! Dispatcher: claim due rows with a lease (one statement, committed)
//!             deliver each through the Courier, outside any transaction
//!             record the outcome, fenced by the claim: DELIVERED, retry later
//!             (backoff with jitter), or DEAD (refused for good, out of attempts)
//! OutboxAdmin (oms.outbox.v1.OutboxService): list messages, re-drive DEAD ones
//! ```
//!
//! - [`enqueue`] queues a message in the caller's transaction; the caller wakes
//!   the dispatcher after its commit, so delivery starts at once and the poll is
//!   only the fallback (for messages due later and other replicas' messages).
//! - [`Dispatcher`] delivers: several replicas dispatch at once without sending
//!   one message twice at the same time (a claim is a lease; a dispatcher whose
//!   lease lapsed can no longer record an outcome). A message accepted but whose
//!   delivered mark was lost is sent again: receivers dedupe by the message's
//!   natural key, which every OMS contract an outbox calls has.
//! - [`Courier`] is a service's part: it decodes a message with
//!   [`Message::decode`] and calls the receiver's RPC.
//! - [`OutboxAdmin`] serves the operators' contract, `oms.outbox.v1`.
//!
//! Each delivery continues the trace of the call that queued it.

mod admin;
mod dispatch;

use std::future::Future;

use sqlx::{FromRow, PgConnection};
use tonic::Status;

pub use admin::OutboxAdmin;
pub use dispatch::{Dispatcher, OutboxError, Round, Settings};

/// A queued message, as a [`Courier`] gets it.
#[derive(Debug, Clone, FromRow)]
pub struct Message {
    /// The message's sequence number in this service's outbox.
    pub id: i64,
    /// The RPC that delivers it, e.g. `oms.saga.v1.SagaService/StartOrderSaga`.
    pub topic: String,
    /// The natural key within the topic: the receiver acts once per key.
    pub key: String,
    /// The encoded request.
    pub payload: Vec<u8>,
    /// The W3C trace context of the call that queued it.
    pub traceparent: String,
    /// Delivery attempts before this one.
    pub attempts: i32,
    /// The claim this delivery holds: its outcome is recorded only while the
    /// claim is still the message's latest.
    pub claim: i64,
}

impl Message {
    /// The payload as the request type `M`. An undecodable payload is refused
    /// for good (INVALID_ARGUMENT), which parks the message.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, Status> {
        M::decode(self.payload.as_slice())
            .map_err(|_| Status::invalid_argument("undecodable outbox message"))
    }

    /// The refusal of a message whose topic the courier does not deliver.
    pub fn unknown_topic(&self) -> Status {
        Status::invalid_argument(format!("unknown outbox topic {}", self.topic))
    }
}

/// What went wrong recording a receipt: see [`Courier::accepted`].
pub type AcceptError = Box<dyn std::error::Error + Send + Sync>;

/// Sends a service's messages to their receivers. Shared by the dispatcher's
/// concurrent deliveries, so it holds clients (cheap to clone) and no state.
pub trait Courier: Send + Sync + 'static {
    /// What the receiver answered, for [`Courier::accepted`].
    type Receipt: Send + 'static;

    /// Sends one message; `Ok` when the receiver accepted it. A refusal with a
    /// transient code (UNAVAILABLE, DEADLINE_EXCEEDED, ...) is retried; any
    /// other parks the message.
    fn send(&self, message: &Message)
    -> impl Future<Output = Result<Self::Receipt, Status>> + Send;

    /// Records, in the transaction that marks the message delivered, what
    /// follows from its acceptance (e.g. the id the receiver minted). Nothing
    /// by default.
    fn accepted(
        &self,
        tx: &mut PgConnection,
        message: &Message,
        receipt: Self::Receipt,
    ) -> impl Future<Output = Result<(), AcceptError>> + Send {
        let _ = (tx, message, receipt);
        async { Ok(()) }
    }
}

/// Queues a message in `tx`; a (topic, key) already queued is not queued
/// again. True when this call queued it. Wake the dispatcher after the commit.
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

/// Whether a refusal with `code` may succeed later: the receiver or the
/// network was down, busy or too slow. Any other code is a refusal for good.
pub fn is_transient(code: tonic::Code) -> bool {
    use tonic::Code;
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
            | Code::Unknown
    )
}
