//! Talking to the PSP: each call under a deadline (a late answer is an unknown
//! outcome, never a failure), and resolving unknown outcomes by asking the PSP
//! what happened to the call with that idempotency key, never by sending it
//! again. The background reconciler does the same for transactions nobody
//! retried.

use std::{sync::Arc, time::Duration};

use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    domain::payment::{DeclineReason, TransactionStatus},
    error::PaymentError,
    psp::{Psp, PspAnswer, PspCall, PspError},
    store::{self, Outcome, PaymentRecord, Store, TransactionRow},
};

/// The provider detail of a call the PSP reports it never received.
pub const NOT_RECEIVED: &str = "not_received";

/// The service's store and PSP, shared by every handler and the reconciler.
#[derive(Clone)]
pub struct Payments {
    /// The service's database, shared with the handlers.
    pub store: Store,
    psp: Arc<dyn Psp>,
    psp_timeout: Duration,
}

impl Payments {
    /// Payments in `store` through `psp`, each call bounded by `psp_timeout`.
    pub fn new(store: Store, psp: Arc<dyn Psp>, psp_timeout: Duration) -> Payments {
        Payments {
            store,
            psp,
            psp_timeout,
        }
    }

    /// The PSP's name, stored with each payment.
    pub fn provider(&self) -> &'static str {
        self.psp.name()
    }

    /// Sends one call; no answer within the timeout is [`PspError::Timeout`].
    pub async fn execute(&self, call: &PspCall) -> Result<PspAnswer, PspError> {
        tokio::time::timeout(self.psp_timeout, self.psp.execute(call))
            .await
            .unwrap_or(Err(PspError::Timeout))
    }

    /// Asks the PSP what became of a PENDING transaction and records the
    /// answer; `Ok(false)` when it stays PENDING because the PSP cannot say.
    pub async fn resolve(
        &self,
        conn: &mut PgConnection,
        transaction: &TransactionRow,
    ) -> Result<Result<bool, PspError>, PaymentError> {
        if transaction.status() != Some(TransactionStatus::Pending) {
            return Ok(Ok(false));
        }
        let kind = transaction
            .kind()
            .ok_or_else(|| PaymentError::Corrupt(format!("kind {}", transaction.kind)))?;
        let asked = tokio::time::timeout(
            self.psp_timeout,
            self.psp.lookup(kind, &transaction.idempotency_key),
        )
        .await
        .unwrap_or(Err(PspError::Timeout));
        let outcome = match asked {
            Ok(Some(answer)) => outcome(answer),
            // The PSP never received it: nothing happened.
            Ok(None) => Outcome {
                status: TransactionStatus::Failed,
                psp_reference: String::new(),
                decline_reason: Some(DeclineReason::ProcessingError),
                provider_detail: NOT_RECEIVED.to_owned(),
            },
            Err(err) => return Ok(Err(err)),
        };
        store::resolve_transaction(
            conn,
            transaction.payment_id,
            transaction.transaction_id,
            &outcome,
        )
        .await?;
        tracing::info!(
            payment_id = %transaction.payment_id,
            transaction_id = %transaction.transaction_id,
            kind = kind.name(),
            status = ?outcome.status,
            "pending transaction resolved"
        );
        Ok(Ok(true))
    }

    /// Resolves every PENDING transaction of a locked payment: how many were
    /// resolved, and the PSP's error if any stayed PENDING.
    pub async fn resolve_all(
        &self,
        conn: &mut PgConnection,
        record: &PaymentRecord,
    ) -> Result<(u32, Option<PspError>), PaymentError> {
        let mut resolved = 0;
        let mut failure = None;
        for transaction in &record.transactions {
            match self.resolve(conn, transaction).await? {
                Ok(true) => resolved += 1,
                Ok(false) => {}
                Err(err) => failure = Some(err),
            }
        }
        Ok((resolved, failure))
    }

    /// ReconcilePayment: resolves a payment's PENDING transactions now.
    pub async fn reconcile(&self, payment_id: Uuid) -> Result<(PaymentRecord, u32), PaymentError> {
        let mut tx = self.store.begin().await?;
        let record = store::lock_payment(&mut tx, payment_id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(payment_id.to_string()))?;
        let (resolved, failure) = self.resolve_all(&mut tx, &record).await?;
        if resolved == 0 && failure.is_some() {
            return Err(PaymentError::ProviderUnavailable {
                provider: self.provider(),
            });
        }
        let record = store::settle(&mut tx, payment_id)
            .await?
            .ok_or_else(|| PaymentError::NotFound(payment_id.to_string()))?;
        tx.commit().await?;
        Ok((record, resolved))
    }
}

/// The transaction outcome of a PSP answer.
pub fn outcome(answer: PspAnswer) -> Outcome {
    match answer {
        PspAnswer::Approved { reference } => Outcome {
            status: TransactionStatus::Succeeded,
            psp_reference: reference,
            decline_reason: None,
            provider_detail: String::new(),
        },
        PspAnswer::Declined { reason, detail } => Outcome {
            status: TransactionStatus::Failed,
            psp_reference: String::new(),
            decline_reason: Some(reason),
            provider_detail: detail,
        },
        // Refusals before anything happened; callers answer them without a
        // transaction, so this is only for completeness.
        PspAnswer::ExceedsBalance { .. } | PspAnswer::CurrencyMismatch { .. } => Outcome {
            status: TransactionStatus::Failed,
            psp_reference: String::new(),
            decline_reason: Some(DeclineReason::InsufficientFunds),
            provider_detail: "refused".to_owned(),
        },
    }
}

/// Every `interval`, resolves the transactions left PENDING for at least that
/// long, until `stop`.
pub async fn run_reconciler(payments: Payments, interval: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let due = match payments
            .store
            .pending_payments(interval.as_secs_f64(), 100)
            .await
        {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "reconciler cannot list pending payments");
                continue;
            }
        };
        for payment_id in due {
            if let Err(err) = payments.reconcile(payment_id).await {
                tracing::warn!(%payment_id, error = %err, "reconciler left a payment pending");
            }
        }
    }
}
