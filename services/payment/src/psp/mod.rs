//! The payment service provider (PSP): the trait the service calls, and the
//! deterministic simulator that is the default PSP.
//!
//! Every call carries the caller's idempotency key, so a PSP can tell a retry
//! from a new charge, and [`Psp::lookup`] asks what happened to a call whose
//! answer was lost, instead of sending it again.

mod simulator;

pub use simulator::{PspSimulator, SimulatorConfig};

use crate::domain::{
    CurrencyCode,
    method::PaymentMethod,
    payment::{DeclineReason, TransactionKind},
};

/// One call to the PSP.
#[derive(Debug, Clone)]
pub struct PspCall {
    /// Authorization, capture, void or refund.
    pub kind: TransactionKind,
    /// The caller's `idempotency-key`, passed through.
    pub idempotency_key: String,
    /// The currency of the amount.
    pub currency: CurrencyCode,
    /// In minor units; zero only for a void with nothing to release.
    pub amount_minor: i64,
    /// For an authorization: what to charge. Never stored by the service.
    pub method: Option<PaymentMethod>,
    /// For a capture, void or refund: the PSP's reference of the authorization.
    pub authorization_reference: String,
}

/// What the PSP answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PspAnswer {
    /// Done.
    Approved {
        /// The PSP's reference for the call.
        reference: String,
    },
    /// Refused.
    Declined {
        /// Why, in the contract's terms.
        reason: DeclineReason,
        /// The PSP's own code, never card data.
        detail: String,
    },
    /// A gift card has less than asked; nothing happened.
    ExceedsBalance {
        /// What the card still holds, in minor units.
        remaining_minor: i64,
    },
    /// A gift card holds another currency; nothing happened.
    CurrencyMismatch {
        /// The gift card's currency.
        expected: String,
    },
}

/// Why the PSP gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PspError {
    /// The PSP could not be reached or refused service: nothing happened.
    #[error("payment provider unavailable")]
    Unavailable,
    /// The PSP did not answer in time: the call may or may not have happened.
    #[error("payment provider timed out")]
    Timeout,
}

/// A payment service provider.
#[tonic::async_trait]
pub trait Psp: Send + Sync {
    /// The provider's name, stored with each payment, e.g. "simulator".
    fn name(&self) -> &'static str;

    /// Makes one call. The same idempotency key and kind twice must not act twice.
    async fn execute(&self, call: &PspCall) -> Result<PspAnswer, PspError>;

    /// What happened to the call of `kind` sent with `idempotency_key`: its
    /// answer, or `None` when the PSP never received it. Never acts.
    async fn lookup(
        &self,
        kind: TransactionKind,
        idempotency_key: &str,
    ) -> Result<Option<PspAnswer>, PspError>;
}
