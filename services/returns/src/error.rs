//! Everything a returns call can fail with, and the status each becomes. No
//! message or metadata carries a comment, a name or an address.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::common::v1::ErrorReason;
use tonic::Status;

use crate::domain::{eligibility::NotEligible, eligibility::Rule, status::ReturnStatus};

#[derive(Debug, thiserror::Error)]
pub enum ReturnsError {
    #[error("invalid request")]
    Invalid(FieldViolations),
    #[error("return not found")]
    NotFound(String),
    #[error("order not found")]
    OrderNotFound(String),
    #[error("location not found")]
    LocationNotFound(String),
    #[error("order service unavailable")]
    OrderUnavailable,
    #[error("inventory service unavailable")]
    InventoryUnavailable,
    #[error("return not eligible")]
    NotEligible(NotEligible),
    #[error("currency mismatch")]
    CurrencyMismatch { expected: String, actual: String },
    #[error("illegal state transition")]
    IllegalTransition {
        from: ReturnStatus,
        /// ("to_state", a status name) or ("close_reason", a close reason name).
        to: (&'static str, &'static str),
    },
    #[error("natural key taken by a different request")]
    KeyConflict { return_id: String },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
}

impl ReturnsError {
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
