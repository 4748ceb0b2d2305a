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

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("invalid request")]
    Invalid(FieldViolations),
    #[error("payment not found")]
    NotFound(String),
    #[error("illegal state transition")]
    IllegalTransition {
        from: PaymentStatus,
        action: &'static str,
    },
    #[error("payment declined")]
    Declined {
        reason: DeclineReason,
        payment_id: String,
        transaction_id: String,
    },
    #[error("amount exceeds what remains")]
    ExceedsRemaining { requested: i64, remaining: i64 },
    #[error("currency mismatch")]
    CurrencyMismatch { expected: String, actual: String },
    #[error("payment provider unavailable")]
    ProviderUnavailable { provider: &'static str },
    #[error("payment provider outcome unknown")]
    OutcomeUnknown {
        provider: &'static str,
        payment_id: String,
        transaction_id: String,
    },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
}

impl PaymentError {
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
