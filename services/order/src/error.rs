//! Everything an order call can fail with, and the status each becomes. No
//! message or metadata carries personal data.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::common::v1::ErrorReason;
use tonic::Status;

use crate::domain::status::{Refusal, Status as OrderStatus};

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("invalid request")]
    Invalid(FieldViolations),
    #[error("order not found")]
    NotFound(String),
    #[error("natural key taken by another order")]
    NaturalKeyConflict {
        channel_kind: i16,
        channel_name: String,
        external_reference: String,
        order_id: String,
    },
    #[error("illegal state transition")]
    IllegalTransition {
        from: OrderStatus,
        to: Option<OrderStatus>,
        action: &'static str,
    },
    /// A natural key of the request (MarkStatus's event id) taken by another
    /// request.
    #[error("natural key reused with a different request")]
    KeyReused { key: &'static str, value: String },
    #[error("shipping address locked")]
    AddressLocked(String),
    #[error("more units returned than delivered")]
    ReturnNotEligible { sku: String, field: String },
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
}

impl OrderError {
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
