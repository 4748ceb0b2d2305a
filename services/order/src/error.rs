//! Everything an order call can fail with, and the status each becomes. No
//! message or metadata carries personal data.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::common::v1::ErrorReason;
use tonic::Status;

use crate::domain::status::{Refusal, Status as OrderStatus};

/// Why an order call failed; each becomes the status its contract names.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Bad fields of the request (INVALID_ARGUMENT).
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// No order with this id (NOT_FOUND).
    #[error("order not found")]
    NotFound(String),
    /// The channel's order reference names an order with other content (ALREADY_EXISTS).
    #[error("natural key taken by another order")]
    NaturalKeyConflict {
        /// The channel's kind code.
        channel_kind: i16,
        /// The channel's name.
        channel_name: String,
        /// The channel's order reference.
        external_reference: String,
        /// The order that has it.
        order_id: String,
    },
    /// The order's status does not allow the change (FAILED_PRECONDITION).
    #[error("illegal state transition")]
    IllegalTransition {
        /// The order's status.
        from: OrderStatus,
        /// The status asked for; `None` for an edit that changes no status.
        to: Option<OrderStatus>,
        /// The edit refused, named when `to` is `None`.
        action: &'static str,
    },
    /// A natural key of the request (MarkStatus's event id) taken by another
    /// request.
    #[error("natural key reused with a different request")]
    KeyReused {
        /// The key's field.
        key: &'static str,
        /// The key.
        value: String,
    },
    /// Shipments exist or are being created: the address stays (FAILED_PRECONDITION).
    #[error("shipping address locked")]
    AddressLocked(String),
    /// More units returned than delivered (FAILED_PRECONDITION).
    #[error("more units returned than delivered")]
    ReturnNotEligible {
        /// The SKU of the line.
        sku: String,
        /// The field of the request that asked for too many.
        field: String,
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

impl OrderError {
    /// INVALID_ARGUMENT naming one bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        OrderError::Invalid(violations)
    }
}

impl From<Refusal> for OrderError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid { field, description } => OrderError::invalid(field, description),
            Refusal::IllegalTransition { from, to } => OrderError::IllegalTransition {
                from,
                to: Some(to),
                action: "mark_status",
            },
            Refusal::ReturnNotEligible { sku, field } => {
                OrderError::ReturnNotEligible { sku, field }
            }
        }
    }
}

impl From<serde_json::Error> for OrderError {
    fn from(err: serde_json::Error) -> Self {
        OrderError::Corrupt(err.to_string())
    }
}

impl From<OrderError> for Status {
    fn from(err: OrderError) -> Self {
        match err {
            OrderError::Invalid(violations) => violations.into_status(),
            OrderError::NotFound(order_id) => error::not_found("order", &order_id),
            OrderError::NaturalKeyConflict {
                channel_kind,
                channel_name,
                external_reference,
                order_id,
            } => error::already_exists(
                ErrorReason::NaturalKeyConflict,
                "the channel's order reference belongs to an order with other content",
                [
                    ("channel_kind", channel_kind.to_string()),
                    ("channel_name", channel_name),
                    ("external_reference", external_reference),
                    ("order_id", order_id),
                ],
            ),
            OrderError::IllegalTransition { from, to, action } => {
                let mut metadata = vec![("from_state", from.name().to_owned())];
                match to {
                    Some(to) => metadata.push(("to_state", to.name().to_owned())),
                    None => metadata.push(("action", action.to_owned())),
                }
                error::failed_precondition(
                    ErrorReason::IllegalStateTransition,
                    format!("not allowed while the order is {}", from.name()),
                    metadata,
                )
            }
            OrderError::KeyReused { key, value } => error::already_exists(
                ErrorReason::NaturalKeyConflict,
                format!("{key} reused with a different request"),
                [(key, value)],
            ),
            OrderError::AddressLocked(order_id) => error::failed_precondition(
                ErrorReason::ShippingAddressLocked,
                "shipments exist or are being created for the order",
                [("order_id", order_id)],
            ),
            OrderError::ReturnNotEligible { sku, field } => error::failed_precondition(
                ErrorReason::ReturnNotEligible,
                "more units returned than were delivered",
                [
                    ("rule", "quantity".to_owned()),
                    ("sku", sku),
                    ("field", field),
                ],
            ),
            OrderError::Idempotency(err) => err.into(),
            OrderError::Database(err) => error::database(&err),
            err @ OrderError::Corrupt(_) => error::internal(&err),
        }
    }
}
