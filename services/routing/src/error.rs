//! Everything a routing call can fail with, and the status each becomes.

use oms_platform::error::{self, FieldViolations};
use oms_proto::common::v1::ErrorReason;
use tonic::{Code, Status};

/// The one error of the routing service's handlers.
#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    /// Bad input: INVALID_ARGUMENT naming every bad field.
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// A thing the request names does not exist: NOT_FOUND.
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for, e.g. `routing policy`.
        resource: &'static str,
        /// Its name or id.
        name: String,
    },
    /// PutRoutingPolicy's expected_version is not the current one.
    #[error("policy version conflict")]
    VersionConflict {
        /// The version the caller expected.
        expected: i32,
        /// The version current now.
        current: i32,
    },
    /// A call to the inventory service failed; its status stays here, the
    /// caller gets UNAVAILABLE (or INTERNAL for a refusal that is our bug).
    #[error("inventory: {0}")]
    Inventory(Status),
    /// Postgres failed: UNAVAILABLE when unreachable, INTERNAL otherwise.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row does not decode: a bug, INTERNAL.
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
}

impl RoutingError {
    /// NOT_FOUND for the resource of `resource` type named `name`.
    pub fn not_found(resource: &'static str, name: impl Into<String>) -> Self {
        RoutingError::NotFound {
            resource,
            name: name.into(),
        }
    }

    /// INVALID_ARGUMENT for one field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        RoutingError::Invalid(violations)
    }
}

impl From<RoutingError> for Status {
    fn from(err: RoutingError) -> Self {
        match err {
            RoutingError::Invalid(violations) => violations.into_status(),
            RoutingError::NotFound { resource, name } => error::not_found(resource, &name),
            RoutingError::VersionConflict { expected, current } => error::failed_precondition(
                ErrorReason::VersionConflict,
                "the policy changed since the expected version",
                [
                    ("expected_version", expected.to_string()),
                    ("current_version", current.to_string()),
                ],
            ),
            RoutingError::Inventory(status) => match status.code() {
                // Down, slow or overloaded: the caller retries with backoff.
                Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::ResourceExhausted
                | Code::Unknown => {
                    tracing::warn!(code = ?status.code(), "inventory unavailable");
                    error::unavailable("inventory")
                }
                _ => error::internal(&status),
            },
            RoutingError::Database(err) => error::database(&err),
            err @ RoutingError::Corrupt(_) => error::internal(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_types::StatusExt as _;

    use super::*;

    #[test]
    fn a_version_conflict_names_both_versions() {
        let status = Status::from(RoutingError::VersionConflict {
            expected: 2,
            current: 3,
        });
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "VERSION_CONFLICT");
        assert_eq!(info.metadata["expected_version"], "2");
        assert_eq!(info.metadata["current_version"], "3");
    }

    #[test]
    fn inventory_down_is_unavailable_and_its_bugs_stay_internal() {
        let down = Status::from(RoutingError::Inventory(Status::unavailable("connect")));
        assert_eq!(down.code(), Code::Unavailable);
        assert_eq!(down.message(), "inventory unavailable");
        let bug = Status::from(RoutingError::Inventory(Status::invalid_argument("skus[3]")));
        assert_eq!(bug.code(), Code::Internal);
        assert!(!bug.message().contains("skus"));
    }
}
