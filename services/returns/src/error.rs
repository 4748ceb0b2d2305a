//! Everything a returns call can fail with, and the status each becomes. No
//! message or metadata carries a comment, a name or an address.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::common::v1::ErrorReason;
use tonic::Status;

use crate::domain::{eligibility::NotEligible, eligibility::Rule, status::ReturnStatus};

/// Why a returns call failed; each becomes the status its contract names.
#[derive(Debug, thiserror::Error)]
pub enum ReturnsError {
    /// Bad fields of the request (INVALID_ARGUMENT).
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// No return with this id (NOT_FOUND).
    #[error("return not found")]
    NotFound(String),
    /// The order service knows no such order (NOT_FOUND).
    #[error("order not found")]
    OrderNotFound(String),
    /// The inventory service knows no such location (NOT_FOUND).
    #[error("location not found")]
    LocationNotFound(String),
    /// The order service could not answer (UNAVAILABLE).
    #[error("order service unavailable")]
    OrderUnavailable,
    /// The inventory service could not answer (UNAVAILABLE).
    #[error("inventory service unavailable")]
    InventoryUnavailable,
    /// A requested line may not come back (FAILED_PRECONDITION).
    #[error("return not eligible")]
    NotEligible(NotEligible),
    /// An amount in another currency than the order's (FAILED_PRECONDITION).
    #[error("currency mismatch")]
    CurrencyMismatch {
        /// The order's currency.
        expected: String,
        /// The currency sent.
        actual: String,
    },
    /// The return's status does not allow the step (FAILED_PRECONDITION).
    #[error("illegal state transition")]
    IllegalTransition {
        /// The return's status.
        from: ReturnStatus,
        /// ("to_state", a status name) or ("close_reason", a close reason name).
        to: (&'static str, &'static str),
    },
    /// The step's natural key names the return with other content (ALREADY_EXISTS).
    #[error("natural key taken by a different request")]
    KeyConflict {
        /// The return.
        return_id: String,
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

impl ReturnsError {
    /// INVALID_ARGUMENT naming one bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        ReturnsError::Invalid(violations)
    }

    /// The transition of `from` to `to` is not in the table.
    pub fn illegal(from: ReturnStatus, to: ReturnStatus) -> Self {
        ReturnsError::IllegalTransition {
            from,
            to: ("to_state", to.name()),
        }
    }
}

impl From<ReturnsError> for Status {
    fn from(err: ReturnsError) -> Self {
        match err {
            ReturnsError::Invalid(violations) => violations.into_status(),
            ReturnsError::NotFound(id) => error::not_found("return", &id),
            ReturnsError::OrderNotFound(id) => error::not_found("order", &id),
            ReturnsError::LocationNotFound(id) => error::not_found("location", &id),
            ReturnsError::OrderUnavailable => error::unavailable("order service"),
            ReturnsError::InventoryUnavailable => error::unavailable("inventory service"),
            ReturnsError::NotEligible(NotEligible { sku, rule }) => {
                let mut metadata = vec![("rule", rule.name().to_owned()), ("sku", sku.to_string())];
                match rule {
                    Rule::Window {
                        delivery_time,
                        window_days,
                    } => {
                        metadata.push(("delivery_time", delivery_time.to_rfc3339()));
                        metadata.push(("window_days", window_days.to_string()));
                    }
                    Rule::Quantity {
                        requested,
                        returnable,
                    } => {
                        metadata.push(("requested", requested.to_string()));
                        metadata.push(("returnable", returnable.to_string()));
                    }
                    Rule::NotDelivered | Rule::FinalSale => {}
                }
                error::failed_precondition(
                    ErrorReason::ReturnNotEligible,
                    format!("sku {sku} is not eligible for return: {}", rule.name()),
                    metadata,
                )
            }
            ReturnsError::CurrencyMismatch { expected, actual } => error::failed_precondition(
                ErrorReason::CurrencyMismatch,
                format!("amounts must be in {expected}, not {actual}"),
                [("expected", expected), ("actual", actual)],
            ),
            ReturnsError::IllegalTransition { from, to } => error::failed_precondition(
                ErrorReason::IllegalStateTransition,
                format!("a {} return cannot go to {}", from.name(), to.1),
                [("from_state", from.name()), to],
            ),
            ReturnsError::KeyConflict { return_id } => error::already_exists(
                ErrorReason::NaturalKeyConflict,
                "the return already records another one",
                [("return_id", return_id)],
            ),
            ReturnsError::Idempotency(err) => err.into(),
            ReturnsError::Database(err) => error::database(&err),
            err @ ReturnsError::Corrupt(_) => error::internal(&err),
        }
    }
}
