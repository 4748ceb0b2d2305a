//! The outbox dispatcher: delivers the saga starts that order changes queued,
//! until the coordinator accepts each one.
//!
//! Entries are claimed with `FOR UPDATE SKIP LOCKED`, so several instances
//! dispatch without delivering one entry twice at once. An entry whose start
//! was accepted but whose "delivered" mark was lost is sent again; the saga's
//! natural key (the order id) makes that repeat create nothing. A failed
//! attempt is retried with exponential backoff, up to 30 s apart.

use std::{sync::Arc, time::Duration};

use oms_platform::{client::OmsChannel, rpc::set_stored_parent};
use oms_proto::saga::v1::{
    StartCancelSagaRequest, StartOrderSagaRequest, saga_service_client::SagaServiceClient,
};
use prost::Message as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{
    error::OrderError,
    store::{
        Store,
        outbox::{self, OutboxEntry, OutboxKind},
    },
};

/// Entries delivered per transaction.
const BATCH: i64 = 50;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delivers due entries until `shutdown`: at once when woken, else every `poll`.
pub async fn run(
    store: Store,
    saga: SagaServiceClient<OmsChannel>,
    wake: Arc<Notify>,
    poll: Duration,
    shutdown: CancellationToken,
) {
    let mut saga = saga;
    loop {
        if let Err(err) = deliver_due(&store, &mut saga).await {
            tracing::warn!(error = %err, "outbox: delivery failed; retrying");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
}

/// Delivers every entry due now; returns how many were accepted.
pub async fn deliver_due(
    store: &Store,
    saga: &mut SagaServiceClient<OmsChannel>,
) -> Result<usize, OrderError> {
    let mut accepted = 0;
    loop {
        let (mut tx, entries) = store.claim_due(BATCH).await?;
        if entries.is_empty() {
            tx.commit().await?;
            return Ok(accepted);
        }
        let mut failures = 0;
        for entry in &entries {
            let span = tracing::info_span!("outbox.deliver", order_id = %entry.order_id, kind = %entry.kind, attempt = entry.attempts + 1);
            // The start continues the trace of the call that queued it.
            set_stored_parent(&span, &entry.traceparent);
            match send(saga, entry).instrument(span).await {
                Ok(saga_id) => {
                    outbox::delivered(&mut tx, entry, &saga_id).await?;
                    accepted += 1;
                }
                Err(status) => {
                    failures += 1;
                    let retry_in = backoff(entry.attempts);
                    tracing::warn!(order_id = %entry.order_id, code = ?status.code(), ?retry_in, "outbox: saga start not accepted");
                    outbox::failed(&mut tx, entry, &format!("{:?}", status.code()), retry_in)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        // A batch that failed whole waits for its retry time instead of spinning.
        if failures == entries.len() {
            return Ok(accepted);
        }
    }
}

async fn send(
    saga: &mut SagaServiceClient<OmsChannel>,
    entry: &OutboxEntry,
) -> Result<String, tonic::Status> {
    match entry.kind() {
        Some(OutboxKind::StartOrderSaga) => {
            let request = StartOrderSagaRequest::decode(entry.payload.as_slice())
                .map_err(|_| tonic::Status::internal("undecodable outbox entry"))?;
            let response = saga.start_order_saga(request).await?.into_inner();
            Ok(response.saga.map(|saga| saga.saga_id).unwrap_or_default())
        }
        Some(OutboxKind::StartCancelSaga) => {
            let request = StartCancelSagaRequest::decode(entry.payload.as_slice())
                .map_err(|_| tonic::Status::internal("undecodable outbox entry"))?;
            let response = saga.start_cancel_saga(request).await?.into_inner();
            Ok(response.saga.map(|saga| saga.saga_id).unwrap_or_default())
        }
        None => Err(tonic::Status::internal("unknown outbox entry kind")),
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
