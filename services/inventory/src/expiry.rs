//! The expiry sweep: holds not committed before their expire time return their
//! stock.
//!
//! Driven by Postgres alone (a partial index on the expire time of held
//! reservations), so holds expire even when Redis has been flushed. Several
//! instances may sweep at once: each expiry is a guarded transition
//! (`state = 'held' AND expire_time <= now()`), so only one of them applies it.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{feed::LedgerFeed, reservations, store::Store};

/// Reservations expired per transaction batch before looking again.
const BATCH: i64 = 200;

/// Sweeps every `interval` until `shutdown`.
pub async fn run(store: Store, feed: LedgerFeed, interval: Duration, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match sweep(&store).await {
            Ok(0) => {}
            Ok(expired) => {
                tracing::info!(expired, "holds expired");
                feed.wake();
            }
            Err(err) => tracing::warn!(error = %err, "expiry sweep failed; retrying"),
        }
    }
}

/// Expires every due hold; returns how many.
pub async fn sweep(store: &Store) -> Result<usize, crate::error::InventoryError> {
    let mut expired = 0;
    loop {
        let due = store.due_reservations(BATCH).await?;
        let mut failed = 0;
        for reservation_id in &due {
            match reservations::expire(store, *reservation_id).await {
                Ok(true) => expired += 1,
                Ok(false) => {}
                // One bad hold must not keep every later one from expiring.
                Err(err) => {
                    failed += 1;
                    tracing::error!(error = %err, %reservation_id, "hold could not expire");
                }
            }
        }
        // A full batch of failures would be fetched again: wait for the next sweep.
        if due.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) || failed == due.len() {
            return Ok(expired);
        }
    }
}
