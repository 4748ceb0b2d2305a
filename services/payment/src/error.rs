//! Everything a payment call can fail with, and the status each becomes. No
//! message or metadata carries a card number, token or gift card code.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::{common::v1::ErrorReason, payment::v1 as pb};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::payment::{DeclineReason, PaymentStatus};

/// Why a payment call failed; each becomes the status its contract names.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Bad fields of the request (INVALID_ARGUMENT).
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// No payment with this id (NOT_FOUND).
    #[error("payment not found")]
    NotFound(String),
    /// The payment's status does not allow the call (FAILED_PRECONDITION).
    #[error("illegal state transition")]
    IllegalTransition {
        /// The payment's status.
        from: PaymentStatus,
        /// The call refused: capture, refund, void or authorize.
        action: &'static str,
    },
    /// The PSP refused the authorization (FAILED_PRECONDITION).
    #[error("payment declined")]
    Declined {
        /// Why, as the PSP said.
        reason: DeclineReason,
        /// The payment recorded with the decline.
        payment_id: String,
        /// The declined transaction.
        transaction_id: String,
    },
    /// More than remains to capture or refund, or on the gift card
    /// (FAILED_PRECONDITION).
    #[error("amount exceeds what remains")]
    ExceedsRemaining {
        /// The amount asked for, in minor units.
        requested: i64,
        /// What remains, in minor units.
        remaining: i64,
    },
    /// A gift card holds another currency (FAILED_PRECONDITION).
    #[error("currency mismatch")]
    CurrencyMismatch {
        /// The gift card's currency.
        expected: String,
        /// The currency asked for.
        actual: String,
    },
    /// The PSP could not be reached or refused service; nothing happened (UNAVAILABLE).
    #[error("payment provider unavailable")]
    ProviderUnavailable {
        /// The PSP's name.
        provider: &'static str,
    },
    /// The PSP did not answer in time: the call may have happened, and a retry
    /// with the same key asks (UNAVAILABLE).
    #[error("payment provider outcome unknown")]
    OutcomeUnknown {
        /// The PSP's name.
        provider: &'static str,
        /// The payment the call belongs to.
        payment_id: String,
        /// The transaction left PENDING.
        transaction_id: String,
    },
    /// The idempotency record could not be claimed or read.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// Postgres failed (UNAVAILABLE when it may pass, else INTERNAL).
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data does not decode (INTERNAL).
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
}

impl PaymentError {
    /// INVALID_ARGUMENT naming one bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        PaymentError::Invalid(violations)
    }
}

/// The contract's name of a decline reason, e.g. "DECLINE_REASON_GENERIC".
fn decline_name(reason: DeclineReason) -> String {
    pb::DeclineReason::try_from(i32::from(reason.code()))
        .unwrap_or(pb::DeclineReason::Unspecified)
        .as_str_name()
        .to_owned()
}

impl From<PaymentError> for Status {
    fn from(err: PaymentError) -> Self {
        match err {
            PaymentError::Invalid(violations) => violations.into_status(),
            PaymentError::NotFound(payment_id) => error::not_found("payment", &payment_id),
            PaymentError::IllegalTransition { from, action } => error::failed_precondition(
                ErrorReason::IllegalStateTransition,
                format!("{action} not allowed while the payment is {}", from.name()),
                [
                    ("from_state", from.name().to_owned()),
                    ("action", action.to_owned()),
                ],
            ),
            PaymentError::Declined {
                reason,
                payment_id,
                transaction_id,
            } => error::failed_precondition(
                ErrorReason::PaymentDeclined,
                "the payment provider declined",
                [
                    ("decline_reason", decline_name(reason)),
                    ("payment_id", payment_id),
                    ("transaction_id", transaction_id),
                ],
            ),
            PaymentError::ExceedsRemaining {
                requested,
                remaining,
            } => error::failed_precondition(
                ErrorReason::AmountExceedsRemaining,
                "the amount exceeds what remains",
                [
                    ("requested_minor", requested.to_string()),
                    ("remaining_minor", remaining.to_string()),
                ],
            ),
            PaymentError::CurrencyMismatch { expected, actual } => error::failed_precondition(
                ErrorReason::CurrencyMismatch,
                "the currency differs from the payment's",
                [("expected", expected), ("actual", actual)],
            ),
            PaymentError::ProviderUnavailable { provider } => {
                provider_unavailable([("provider", provider.to_owned())])
            }
            PaymentError::OutcomeUnknown {
                provider,
                payment_id,
                transaction_id,
            } => provider_unavailable([
                ("provider", provider.to_owned()),
                ("outcome", "unknown".to_owned()),
                ("payment_id", payment_id),
                ("transaction_id", transaction_id),
            ]),
            PaymentError::Idempotency(err) => err.into(),
            PaymentError::Database(err) => error::database(&err),
            err @ PaymentError::Corrupt(_) => error::internal(&err),
        }
    }
}

/// UNAVAILABLE with reason PROVIDER_UNAVAILABLE: the caller retries with the
/// same idempotency key.
fn provider_unavailable(metadata: impl IntoIterator<Item = (&'static str, String)>) -> Status {
    let metadata: std::collections::HashMap<String, String> = metadata
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    Status::with_error_details(
        Code::Unavailable,
        "payment provider unavailable",
        ErrorDetails::with_error_info(
            ErrorReason::ProviderUnavailable.as_str_name(),
            error::ERROR_DOMAIN,
            metadata,
        ),
    )
}
