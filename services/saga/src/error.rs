//! Everything a saga call can fail with, and the status each becomes.

use oms_platform::{
    error::{self, FieldViolations},
    idempotency::IdempotencyError,
};
use oms_proto::common::v1::ErrorReason;
use tonic::Status;

use crate::domain::{SagaKind, SagaState, saga::NotActionable};

/// A saga call's failure.
#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// The request is malformed.
    #[error("invalid request")]
    Invalid(FieldViolations),
    /// No such saga.
    #[error("saga not found")]
    NotFound(String),
    /// The operator action does not apply to the saga in its state.
    #[error("saga not actionable")]
    NotActionable {
        /// Why.
        why: NotActionable,
        /// The saga's state.
        state: SagaState,
        /// Its kind.
        kind: SagaKind,
    },
    /// A cancel saga of the order exists with another reason or actor.
    #[error("the order's cancel saga was started with another request")]
    CancelKeyReused {
        /// The order.
        order_id: String,
    },
    /// An idempotency key was reused, or its record failed.
    #[error(transparent)]
    Idempotency(#[from] IdempotencyError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Stored data does not decode.
    #[error("stored data does not decode: {0}")]
    Corrupt(String),
}

impl SagaError {
    /// One violation of `field`.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        SagaError::Invalid(violations)
    }
}

impl From<SagaError> for Status {
    fn from(err: SagaError) -> Self {
        match err {
            SagaError::Invalid(violations) => violations.into_status(),
            SagaError::NotFound(id) => error::not_found("saga", &id),
            SagaError::NotActionable { why, state, kind } => {
                let mut metadata = vec![("state", state.name().to_owned())];
                if why == NotActionable::ForwardOnly {
                    metadata.push(("kind", kind.name().to_owned()));
                }
                error::failed_precondition(
                    ErrorReason::SagaNotActionable,
                    why.to_string(),
                    metadata,
                )
            }
            SagaError::CancelKeyReused { order_id } => error::already_exists(
                ErrorReason::NaturalKeyConflict,
                "the cancellation's saga was started with another reason, actor or lines",
                [("order_id", order_id)],
            ),
            SagaError::Idempotency(err) => err.into(),
            SagaError::Database(err) => error::database(&err),
            err @ SagaError::Corrupt(_) => error::internal(&err),
        }
    }
}
