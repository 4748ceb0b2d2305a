//! Everything a shipping call can fail with, and the status each becomes. No
//! message or metadata carries an address, name or phone.

use std::collections::HashMap;

use oms_platform::error::{self, FieldViolations};
use oms_proto::common::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::{parcel::ServiceLevel, shipment::ShipmentStatus};

/// Why a shipping call failed; [`Status`] says how the caller hears it.
#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    /// Bad fields of the request: INVALID_ARGUMENT naming each.
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// No shipment has this id or tracking number: NOT_FOUND.
    #[error("shipment not found")]
    NotFound(String),
    /// The inventory service knows no location with this id: NOT_FOUND.
    #[error("location not found")]
    LocationNotFound(String),
    /// The inventory service could not be asked for a location's address:
    /// UNAVAILABLE.
    #[error("inventory service unavailable")]
    InventoryUnavailable,
    /// No configured carrier has this code: NOT_FOUND.
    #[error("carrier not found")]
    CarrierNotFound(String),
    /// The carrier refuses the address: FAILED_PRECONDITION.
    #[error("address rejected")]
    AddressRejected {
        /// The carrier's code.
        carrier: String,
        /// The carrier's reason; never PII.
        detail: String,
    },
    /// No carrier offers the service level on the route: FAILED_PRECONDITION.
    #[error("service level unavailable")]
    ServiceLevelUnavailable {
        /// The level asked for.
        service_level: ServiceLevel,
        /// The location shipping or receiving.
        location_id: String,
    },
    /// The shipment's state machine forbids the action: FAILED_PRECONDITION.
    #[error("illegal state transition")]
    IllegalTransition {
        /// The status it is in.
        from: ShipmentStatus,
        /// What was asked: "create" or "cancel".
        action: &'static str,
    },
    /// The carrier has the parcel, so it cannot be cancelled:
    /// FAILED_PRECONDITION.
    #[error("shipment in carrier custody")]
    InCarrierCustody {
        /// The status it is in.
        status: ShipmentStatus,
    },
    /// A natural key taken by a different request: ALREADY_EXISTS, with the
    /// key's fields as metadata.
    #[error("natural key taken by a different request")]
    KeyConflict(Vec<(&'static str, String)>),
    /// The carrier failed, timed out or answered unusably: UNAVAILABLE.
    #[error("carrier unavailable")]
    ProviderUnavailable {
        /// The carrier's code.
        provider: String,
    },
    /// The database failed: UNAVAILABLE when retrying may help, else INTERNAL.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row does not decode: INTERNAL.
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
    /// A document could not be rendered: INTERNAL.
    #[error("document not rendered: {0}")]
    Document(#[from] crate::documents::DocumentError),
}

impl ShippingError {
    /// The ErrorInfo reason and metadata of a business error, for statuses and
    /// for the per-item errors of a bulk run.
    pub fn reason(&self) -> Option<(ErrorReason, Vec<(&'static str, String)>)> {
        Some(match self {
            ShippingError::AddressRejected { carrier, detail } => (
                ErrorReason::AddressRejected,
                vec![("carrier", carrier.clone()), ("detail", detail.clone())],
            ),
            ShippingError::ServiceLevelUnavailable {
                service_level,
                location_id,
            } => (
                ErrorReason::ServiceLevelUnavailable,
                vec![
                    ("service_level", service_level.name().to_owned()),
                    ("location_id", location_id.clone()),
                ],
            ),
            ShippingError::IllegalTransition { from, action } => (
                ErrorReason::IllegalStateTransition,
                vec![
                    ("from_state", from.name().to_owned()),
                    ("action", (*action).to_owned()),
                ],
            ),
            ShippingError::InCarrierCustody { status } => (
                ErrorReason::ShipmentInCarrierCustody,
                vec![("status", status.name().to_owned())],
            ),
            ShippingError::KeyConflict(metadata) => {
                (ErrorReason::NaturalKeyConflict, metadata.clone())
            }
            ShippingError::ProviderUnavailable { provider } => (
                ErrorReason::ProviderUnavailable,
                vec![("provider", provider.clone())],
            ),
            _ => return None,
        })
    }
}

impl From<ShippingError> for Status {
    fn from(err: ShippingError) -> Self {
        let reason = err.reason();
        match err {
            ShippingError::Invalid(violations) => violations.into_status(),
            ShippingError::NotFound(id) => error::not_found("shipment", &id),
            ShippingError::CarrierNotFound(code) => error::not_found("carrier", &code),
            ShippingError::LocationNotFound(id) => error::not_found("location", &id),
            ShippingError::InventoryUnavailable => error::unavailable("inventory service"),
            ShippingError::Database(err) => error::database(&err),
            err @ (ShippingError::Corrupt(_) | ShippingError::Document(_)) => error::internal(&err),
            err => {
                let (code, message) = match &err {
                    ShippingError::KeyConflict(_) => (Code::AlreadyExists, err.to_string()),
                    ShippingError::ProviderUnavailable { .. } => {
                        (Code::Unavailable, err.to_string())
                    }
                    _ => (Code::FailedPrecondition, err.to_string()),
                };
                let (reason, metadata) = reason.unwrap_or((ErrorReason::Unspecified, Vec::new()));
                let metadata: HashMap<String, String> = metadata
                    .into_iter()
                    .map(|(key, value)| (key.to_owned(), value))
                    .collect();
                Status::with_error_details(
                    code,
                    message,
                    ErrorDetails::with_error_info(
                        reason.as_str_name(),
                        error::ERROR_DOMAIN,
                        metadata,
                    ),
                )
            }
        }
    }
}
