//! Everything an inventory call can fail with, and the status each becomes.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::common::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, PreconditionViolation, StatusExt as _};

use crate::domain::ReservationState;

/// One line that stock could not cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    /// The line's SKU.
    pub sku: String,
    /// The line's location.
    pub location_id: String,
    /// Units asked for.
    pub requested: i32,
    /// Units there are (available, or on hand for a commit).
    pub available: i32,
}

/// Why an inventory call failed; each becomes the status its contract names.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// Bad fields of the request (INVALID_ARGUMENT).
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// No such location, SKU or reservation (NOT_FOUND).
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for, e.g. `location`.
        resource: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The first shortage is named in the metadata; all of them in the details.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// The location is inactive (FAILED_PRECONDITION).
    #[error("location inactive")]
    LocationInactive(String),
    /// A natural key of the request names an earlier request with other
    /// content, as (field, key) pairs (ALREADY_EXISTS).
    #[error("natural key reused with a different request")]
    KeyReused(Vec<(&'static str, String)>),
    /// The reservation's state does not allow the call (FAILED_PRECONDITION).
    #[error("illegal state transition")]
    IllegalTransition {
        /// The reservation's state.
        from: ReservationState,
        /// The state the call asked for.
        to: ReservationState,
    },
    /// The hold lapsed before the call (FAILED_PRECONDITION).
    #[error("reservation expired")]
    ReservationExpired {
        /// The lapsed reservation.
        reservation_id: String,
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

impl InventoryError {
    /// NOT_FOUND of `resource` named `name`.
    pub fn not_found(resource: &'static str, name: impl Into<String>) -> Self {
        InventoryError::NotFound {
            resource,
            name: name.into(),
        }
    }

    /// INVALID_ARGUMENT naming one bad field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        InventoryError::Invalid(violations)
    }
}

impl From<InventoryError> for Status {
    fn from(err: InventoryError) -> Self {
        match err {
            InventoryError::Invalid(violations) => violations.into_status(),
            InventoryError::NotFound { resource, name } => error::not_found(resource, &name),
            InventoryError::InsufficientStock(shortages) => insufficient_stock(&shortages),
            InventoryError::LocationInactive(location_id) => error::failed_precondition(
                ErrorReason::LocationInactive,
                format!("location {location_id} is inactive"),
                [("location_id", location_id)],
            ),
            InventoryError::KeyReused(metadata) => error::already_exists(
                ErrorReason::NaturalKeyConflict,
                "natural key reused with a different request",
                metadata,
            ),
            InventoryError::IllegalTransition { from, to } => error::failed_precondition(
                ErrorReason::IllegalStateTransition,
                format!(
                    "reservation cannot go from {} to {}",
                    from.name(),
                    to.name()
                ),
                [("from_state", from.name()), ("to_state", to.name())],
            ),
            InventoryError::ReservationExpired { reservation_id } => error::failed_precondition(
                ErrorReason::ReservationExpired,
                "reservation expired",
                [("reservation_id", reservation_id)],
            ),
            InventoryError::Idempotency(err) => err.into(),
            InventoryError::Database(err) => error::database(&err),
            err @ InventoryError::Corrupt(_) => error::internal(&err),
        }
    }
}

/// FAILED_PRECONDITION naming the first short line in ErrorInfo and every short
/// line in a PreconditionFailure.
fn insufficient_stock(shortages: &[Shortage]) -> Status {
    let Some(first) = shortages.first() else {
        return Status::failed_precondition("insufficient stock");
    };
    let mut details = ErrorDetails::with_error_info(
        ErrorReason::InsufficientStock.as_str_name(),
        error::ERROR_DOMAIN,
        [
            ("sku".to_owned(), first.sku.clone()),
            ("location_id".to_owned(), first.location_id.clone()),
            ("requested".to_owned(), first.requested.to_string()),
            ("available".to_owned(), first.available.to_string()),
        ],
    );
    details.set_precondition_failure(
        shortages
            .iter()
            .map(|shortage| {
                PreconditionViolation::new(
                    "INSUFFICIENT_STOCK",
                    format!("{}@{}", shortage.sku, shortage.location_id),
                    format!(
                        "requested {}, available {}",
                        shortage.requested, shortage.available
                    ),
                )
            })
            .collect::<Vec<_>>(),
    );
    Status::with_error_details(
        Code::FailedPrecondition,
        format!("insufficient stock for sku {}", first.sku),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_short_line_is_listed_and_the_first_is_named() {
        let status = Status::from(InventoryError::InsufficientStock(vec![
            Shortage {
                sku: "tee-m".into(),
                location_id: "wh-1".into(),
                requested: 3,
                available: 1,
            },
            Shortage {
                sku: "cap".into(),
                location_id: "wh-2".into(),
                requested: 1,
                available: 0,
            },
        ]));
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        assert_eq!(details.error_info().unwrap().metadata["sku"], "tee-m");
        let subjects: Vec<_> = details
            .precondition_failure()
            .unwrap()
            .violations
            .iter()
            .map(|violation| violation.subject.as_str())
            .collect();
        assert_eq!(subjects, ["tee-m@wh-1", "cap@wh-2"]);
    }
}
