//! Building `tonic::Status` values the way every OMS contract documents them.
//!
//! - INVALID_ARGUMENT carries `google.rpc.BadRequest` field violations: collect
//!   them with [`FieldViolations`] while converting a request, then return them all
//!   at once, so a caller fixes every field in one round trip.
//! - NOT_FOUND carries `google.rpc.ResourceInfo` ([`not_found`]).
//! - FAILED_PRECONDITION and ALREADY_EXISTS carry `google.rpc.ErrorInfo` with domain
//!   `oms` and an `oms.common.v1.ErrorReason` ([`failed_precondition`]).
//! - Dependency failures are UNAVAILABLE ([`unavailable`], [`database`]); bugs are
//!   INTERNAL ([`internal`]), logged here and never described to the caller.
//!
//! # The service error pattern
//!
//! Each service has one `thiserror` enum for everything its handlers can fail
//! with, and one `From<ServiceError> for Status`. Messages are lowercase, carry no
//! PII and no internal detail; values travel as error-detail fields.
//!
//! ```
//! use oms_platform::error::{self, FieldViolations};
//! use oms_proto::common::v1::ErrorReason;
//!
//! #[derive(Debug, thiserror::Error)]
//! enum InventoryError {
//!     #[error("invalid request")]
//!     Invalid(FieldViolations),
//!     #[error("location not found")]
//!     UnknownLocation(String),
//!     #[error("insufficient stock")]
//!     InsufficientStock { sku: String, requested: i32, available: i32 },
//!     #[error("database error")]
//!     Database(#[from] sqlx::Error),
//! }
//!
//! impl From<InventoryError> for tonic::Status {
//!     fn from(err: InventoryError) -> Self {
//!         match err {
//!             InventoryError::Invalid(violations) => violations.into_status(),
//!             InventoryError::UnknownLocation(id) => error::not_found("location", &id),
//!             InventoryError::InsufficientStock { sku, requested, available } => {
//!                 error::failed_precondition(
//!                     ErrorReason::InsufficientStock,
//!                     format!("insufficient stock for sku {sku}"),
//!                     [
//!                         ("sku", sku),
//!                         ("requested", requested.to_string()),
//!                         ("available", available.to_string()),
//!                     ],
//!                 )
//!             }
//!             InventoryError::Database(err) => error::database(&err),
//!         }
//!     }
//! }
//!
//! let status = tonic::Status::from(InventoryError::UnknownLocation("berlin-1".into()));
//! assert_eq!(status.code(), tonic::Code::NotFound);
//! ```

use std::collections::HashMap;

use oms_proto::common::v1::ErrorReason;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, FieldViolation, StatusExt as _};

/// The `google.rpc.ErrorInfo` domain of every OMS error.
pub const ERROR_DOMAIN: &str = "oms";

/// The gRPC name of a code, e.g. "DEADLINE_EXCEEDED".
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Field violations found while validating a request.
#[derive(Debug, Default, Clone)]
pub struct FieldViolations(Vec<FieldViolation>);

impl FieldViolations {
    /// No violations yet.
    pub fn new() -> Self {
        FieldViolations::default()
    }

    /// Records that `field` (a path such as `lines[1].quantity`) is invalid.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records the error of a conversion that failed, and returns its value if any,
    /// so validation can go on and report every bad field at once.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err.to_string());
                None
            }
        }
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The recorded violations.
    pub fn violations(&self) -> &[FieldViolation] {
        &self.0
    }

    /// `Ok(())` when nothing was recorded, else the INVALID_ARGUMENT status.
    pub fn into_result(self) -> Result<(), Status> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.into_status())
        }
    }

    /// INVALID_ARGUMENT carrying the violations as `google.rpc.BadRequest`:
    /// every one, up to [`MAX_VIOLATIONS`] (a request with 10,000 bad list
    /// elements gets the first ones and a count, an answer that fits in the
    /// response headers).
    pub fn into_status(self) -> Status {
        let count = self.0.len();
        let message = match self.0.as_slice() {
            [only] => format!("invalid {}: {}", clip(&only.field), clip(&only.description)),
            _ => format!("{count} invalid fields"),
        };
        let mut violations: Vec<FieldViolation> = self
            .0
            .into_iter()
            .take(MAX_VIOLATIONS)
            .map(|violation| {
                FieldViolation::new(clip(&violation.field), clip(&violation.description))
            })
            .collect();
        if count > MAX_VIOLATIONS {
            violations.push(FieldViolation::new(
                "",
                format!("and {} more invalid fields", count - MAX_VIOLATIONS),
            ));
        }
        Status::with_error_details(
            Code::InvalidArgument,
            message,
            ErrorDetails::with_bad_request(violations),
        )
    }
}

impl std::fmt::Display for FieldViolations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, violation) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", violation.field, violation.description)?;
        }
        Ok(())
    }
}

/// INVALID_ARGUMENT for one bad field.
pub fn invalid_argument(field: impl Into<String>, description: impl Into<String>) -> Status {
    let mut violations = FieldViolations::new();
    violations.add(field, description);
    violations.into_status()
}

/// NOT_FOUND for the resource of `resource_type` named `name` (an id, never PII;
/// cut to 128 characters, so a caller's huge id is not sent back whole).
pub fn not_found(resource_type: &str, name: &str) -> Status {
    let name = clip(name);
    Status::with_error_details(
        Code::NotFound,
        format!("{resource_type} {name} not found"),
        ErrorDetails::with_resource_info(resource_type, name, "", "not found"),
    )
}

/// The most field violations an INVALID_ARGUMENT carries.
pub const MAX_VIOLATIONS: usize = 50;

/// The longest value an error repeats from a request.
const MAX_ECHO: usize = 128;

/// `text` cut to [`MAX_ECHO`] characters, with an ellipsis when cut: error
/// details travel in response headers, which have a size limit.
fn clip(text: &str) -> String {
    if text.chars().count() <= MAX_ECHO {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(MAX_ECHO - 1).collect();
    clipped.push('…');
    clipped
}

/// FAILED_PRECONDITION for a business rule, with the reason and its values as
/// `google.rpc.ErrorInfo`.
pub fn failed_precondition<K: Into<String>, V: Into<String>>(
    reason: ErrorReason,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (K, V)>,
) -> Status {
    with_reason(Code::FailedPrecondition, reason, message, metadata)
}

/// ALREADY_EXISTS for a natural key taken by a different request.
pub fn already_exists<K: Into<String>, V: Into<String>>(
    reason: ErrorReason,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (K, V)>,
) -> Status {
    with_reason(Code::AlreadyExists, reason, message, metadata)
}

fn with_reason<K: Into<String>, V: Into<String>>(
    code: Code,
    reason: ErrorReason,
    message: impl Into<String>,
    metadata: impl IntoIterator<Item = (K, V)>,
) -> Status {
    let metadata: HashMap<String, String> = metadata
        .into_iter()
        .map(|(key, value)| (key.into(), clip(&value.into())))
        .collect();
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason.as_str_name(), ERROR_DOMAIN, metadata),
    )
}

/// UNAVAILABLE: `dependency` (e.g. "database", "payment provider") cannot be
/// reached; the caller retries with backoff.
pub fn unavailable(dependency: &str) -> Status {
    Status::unavailable(format!("{dependency} unavailable"))
}

/// INTERNAL for a bug: the error is logged with its details, the caller gets none.
pub fn internal(err: &(dyn std::error::Error + 'static)) -> Status {
    tracing::error!(error = err, "internal error");
    Status::internal("internal error")
}

/// The status for a database error: UNAVAILABLE when the database cannot be
/// reached or no connection is free in time, INTERNAL otherwise.
pub fn database(err: &sqlx::Error) -> Status {
    if is_transient(err) {
        tracing::warn!(error = %err, "database unavailable");
        unavailable("database")
    } else {
        internal(err)
    }
}

/// True when retrying may help: the database is unreachable, busy, or chose this
/// transaction as a deadlock or serialization victim.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // serialization_failure, deadlock_detected, too_many_connections,
            // admin_shutdown, crash_shutdown, cannot_connect_now
            Some("40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03")
        ),
        _ => false,
    }
}

/// True when the error is a unique-constraint violation (SQLSTATE 23505).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_reaches_the_caller() {
        let mut violations = FieldViolations::new();
        violations.add("lines[0].quantity", "must be at least 1");
        let parsed: Option<u8> = violations.check("lines[1].sku", "x".parse::<u8>());
        assert_eq!(parsed, None);
        let status = violations.into_status();

        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "2 invalid fields");
        let details = status.get_error_details();
        let fields: Vec<_> = details
            .bad_request()
            .unwrap()
            .field_violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect();
        assert_eq!(fields, ["lines[0].quantity", "lines[1].sku"]);
    }

    #[test]
    fn a_flood_of_violations_is_cut_to_fit_in_the_headers() {
        let mut violations = FieldViolations::new();
        for index in 0..10_000 {
            violations.add(format!("skus[{index}]"), "x".repeat(5000));
        }
        let status = violations.into_status();
        assert_eq!(status.message(), "10000 invalid fields");
        let details = status.get_error_details();
        let bad = details.bad_request().unwrap();
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS + 1);
        assert!(bad.field_violations[0].description.chars().count() <= 128);
        assert_eq!(
            bad.field_violations[MAX_VIOLATIONS].description,
            "and 9950 more invalid fields"
        );
        assert!(status.details().len() < 16 * 1024);
    }

    #[test]
    fn a_huge_id_is_not_sent_back_whole() {
        let id = "i".repeat(100_000);
        let status = not_found("order", &id);
        assert!(status.message().len() < 200);
        let info = status.get_error_details();
        assert!(info.resource_info().unwrap().resource_name.chars().count() <= 128);
        let refused = failed_precondition(
            ErrorReason::IdempotencyKeyReused,
            "reused",
            [("event_id", id.clone())],
        );
        assert!(refused.details().len() < 1024);
    }

    #[test]
    fn one_violation_is_named_in_the_message() {
        let status = invalid_argument("currency_code", "must be an ISO 4217 code");
        assert_eq!(
            status.message(),
            "invalid currency_code: must be an ISO 4217 code"
        );
    }

    #[test]
    fn no_violations_is_ok() {
        assert!(FieldViolations::new().into_result().is_ok());
    }

    #[test]
    fn business_refusals_carry_reason_and_values() {
        let status = failed_precondition(
            ErrorReason::InsufficientStock,
            "insufficient stock for sku tee-m",
            [("sku", "tee-m"), ("available", "0")],
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        let details = status.get_error_details();
        let info = details.error_info().unwrap();
        assert_eq!(info.reason, "INSUFFICIENT_STOCK");
        assert_eq!(info.domain, "oms");
        assert_eq!(info.metadata["sku"], "tee-m");
    }

    #[test]
    fn not_found_names_the_resource() {
        let status = not_found("order", "ord-1");
        assert_eq!(status.code(), Code::NotFound);
        let details = status.get_error_details();
        assert_eq!(details.resource_info().unwrap().resource_name, "ord-1");
    }

    #[test]
    fn an_exhausted_pool_is_unavailable_and_a_bug_is_internal_without_detail() {
        assert_eq!(
            database(&sqlx::Error::PoolTimedOut).code(),
            Code::Unavailable
        );
        let status = database(&sqlx::Error::ColumnNotFound("secret_column".into()));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret_column"));
    }
}
