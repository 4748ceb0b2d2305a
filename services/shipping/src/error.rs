//! Everything a shipping call can fail with, and the status each becomes. No
//! message or metadata carries an address, name or phone.

use std::collections::HashMap;

use oms_platform::error::{self, FieldViolations};
use oms_proto::common::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt as _};

use crate::domain::{parcel::ServiceLevel, shipment::ShipmentStatus};

#[derive(Debug, thiserror::Error)]
pub enum ShippingError {
    #[error("invalid request")]
    Invalid(FieldViolations),
    #[error("shipment not found")]
    NotFound(String),
    #[error("location not found")]
    LocationNotFound(String),
    #[error("inventory service unavailable")]
    InventoryUnavailable,
    #[error("carrier not found")]
    CarrierNotFound(String),
    #[error("address rejected")]
    AddressRejected { carrier: String, detail: String },
    #[error("service level unavailable")]
    ServiceLevelUnavailable {
        service_level: ServiceLevel,
        location_id: String,
    },
    #[error("illegal state transition")]
    IllegalTransition {
        from: ShipmentStatus,
        action: &'static str,
    },
    #[error("shipment in carrier custody")]
    InCarrierCustody { status: ShipmentStatus },
    #[error("natural key taken by a different request")]
    KeyConflict(Vec<(&'static str, String)>),
    #[error("carrier unavailable")]
    ProviderUnavailable { provider: String },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
    #[error("document not rendered: {0}")]
    Document(#[from] crate::documents::DocumentError),
}

impl ShippingError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        ShippingError::Invalid(violations)
    }

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
