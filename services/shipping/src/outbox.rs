//! The outbox dispatcher: delivers the status changes that shipment changes
//! queued to the order service (MarkStatus), until it accepts each one.
//!
//! Entries are claimed with `FOR UPDATE SKIP LOCKED`, so several instances
//! dispatch without delivering one entry twice at once. An entry accepted but
//! whose "delivered" mark was lost is sent again; MarkStatus's natural key (the
//! event id) makes that repeat change nothing. A failed attempt is retried with
//! exponential backoff, up to 30 s apart.

use std::{sync::Arc, time::Duration};

use oms_platform::{client::OmsChannel, rpc::set_stored_parent};
use oms_proto::order::v1::{MarkStatusRequest, order_service_client::OrderServiceClient};
use prost::Message as _;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::{
    error::ShippingError,
    store::{
        Store,
        outbox::{self, OutboxEntry},
    },
};

/// Entries delivered per transaction.
const BATCH: i64 = 50;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delivers due entries until `shutdown`: at once when woken, else every `poll`.
pub async fn run(
    store: Store,
    orders: OrderServiceClient<OmsChannel>,
    wake: Arc<Notify>,
    poll: Duration,
    shutdown: CancellationToken,
) {
    let mut orders = orders;
    loop {
        if let Err(err) = deliver_due(&store, &mut orders).await {
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
    orders: &mut OrderServiceClient<OmsChannel>,
) -> Result<usize, ShippingError> {
    let mut accepted = 0;
    loop {
        let (mut tx, entries) = store.claim_due(BATCH).await?;
        if entries.is_empty() {
            tx.commit().await?;
            return Ok(accepted);
        }
        let mut failures = 0;
        for entry in &entries {
            let span = tracing::info_span!("outbox.deliver", shipment_id = %entry.shipment_id, event_id = %entry.event_id, attempt = entry.attempts + 1);
            // The report continues the trace of the call that queued it.
            set_stored_parent(&span, &entry.traceparent);
            match send(orders, entry).instrument(span).await {
                Ok(()) => {
                    outbox::delivered(&mut tx, entry).await?;
                    accepted += 1;
                }
                Err(status) => {
                    failures += 1;
                    let retry_in = backoff(entry.attempts);
                    tracing::warn!(shipment_id = %entry.shipment_id, code = ?status.code(), ?retry_in, "outbox: status change not accepted");
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
    orders: &mut OrderServiceClient<OmsChannel>,
    entry: &OutboxEntry,
) -> Result<(), tonic::Status> {
    let request = MarkStatusRequest::decode(entry.payload.as_slice())
        .map_err(|_| tonic::Status::internal("undecodable outbox entry"))?;
    orders.mark_status(request).await?;
    Ok(())
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
