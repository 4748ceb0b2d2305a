//! Idempotent mutating calls: the first response of each (RPC, key) is kept, a
//! retry gets it again, and the same key with a different request is refused.
//!
//! The record lives in the service's own database and is written in the same
//! transaction as the call's effects, so either both exist or neither does:
//!
//! ```no_run
//! # async fn example(pool: &sqlx::PgPool, key: &oms_platform::idempotency::IdempotencyKey,
//! #     request: &oms_proto::common::v1::Money) -> Result<oms_proto::common::v1::Money, tonic::Status> {
//! use oms_platform::{error, idempotency::{self, Claim}};
//!
//! const SCOPE: &str = "oms.payment.v1.PaymentService/Capture";
//! let mut tx = pool.begin().await.map_err(|err| error::database(&err))?;
//! match idempotency::claim(&mut tx, SCOPE, key, request).await? {
//!     Claim::Replay(response) => return Ok(response),
//!     Claim::New => {}
//! }
//! let response = request.clone(); // ... the call's effects, in `tx` ...
//! idempotency::record(&mut tx, SCOPE, key, &response).await?;
//! tx.commit().await.map_err(|err| error::database(&err))?;
//! # Ok(response) }
//! ```
//!
//! Concurrent calls with one key are serialised by the record's primary key: the
//! second waits for the first transaction, then replays its response (or, if the
//! first rolled back, goes ahead itself). This relies on Postgres's default READ
//! COMMITTED isolation, in which the second call's read sees the first's commit.

use std::time::Duration;

use oms_proto::common::v1::ErrorReason;
use prost::Message;
use sha2::{Digest as _, Sha256};
use sqlx::PgConnection;
use tonic::{Status, metadata::MetadataMap};

use crate::error;

/// The gRPC metadata key carrying the caller's idempotency key.
pub const METADATA_KEY: &str = "idempotency-key";

/// A caller-chosen idempotency key: 1 to 128 printable ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks a key from a request or a natural key built by the service.
    pub fn parse(key: impl Into<String>) -> Result<Self, InvalidKey> {
        let key = key.into();
        let printable = key.bytes().all(|byte| byte.is_ascii_graphic());
        if key.is_empty() || key.len() > 128 || !printable {
            return Err(InvalidKey);
        }
        Ok(IdempotencyKey(key))
    }

    /// The key in the `idempotency-key` metadata, if the caller sent one.
    /// INVALID_ARGUMENT when it is malformed.
    pub fn from_metadata(metadata: &MetadataMap) -> Result<Option<Self>, Status> {
        let Some(value) = metadata.get(METADATA_KEY) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .map_err(|_| InvalidKey)
            .and_then(IdempotencyKey::parse)
            .map_err(|err| error::invalid_argument(METADATA_KEY, err.to_string()))?;
        Ok(Some(key))
    }

    /// The key in the `idempotency-key` metadata; INVALID_ARGUMENT when missing.
    pub fn require(metadata: &MetadataMap) -> Result<Self, Status> {
        IdempotencyKey::from_metadata(metadata)?
            .ok_or_else(|| error::invalid_argument(METADATA_KEY, "required for this call"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An idempotency key that is empty, too long or not printable ASCII.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 128 printable ASCII characters")]
pub struct InvalidKey;

/// What a claimed key means for the call.
#[derive(Debug, PartialEq)]
pub enum Claim<R> {
    /// First use of the key: perform the call, then [`record`] its response.
    New,
    /// The call was made before: return this response, do nothing else.
    Replay(R),
}

/// Why a key could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was used before with a different request.
    #[error("idempotency key reused with a different request")]
    KeyReused,
    /// A transaction holding the key committed without recording a response.
    #[error("idempotency record has no response")]
    Unrecorded,
    /// The recorded response no longer decodes as the RPC's response type.
    #[error("recorded response does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<IdempotencyError> for Status {
    fn from(err: IdempotencyError) -> Self {
        match err {
            IdempotencyError::KeyReused => error::failed_precondition(
                ErrorReason::IdempotencyKeyReused,
                "idempotency key reused with a different request",
                [("metadata_key", METADATA_KEY)],
            ),
            IdempotencyError::Database(err) => error::database(&err),
            err @ (IdempotencyError::Unrecorded | IdempotencyError::Decode(_)) => {
                error::internal(&err)
            }
        }
    }
}

/// SHA-256 of the encoded request. prost encodes a message the same way every
/// time (maps are generated as BTreeMaps), so equal requests hash equally.
pub fn fingerprint(request: &impl Message) -> [u8; 32] {
    Sha256::digest(request.encode_to_vec()).into()
}

/// Claims `key` for a call of `scope` (the full RPC name) with `request`, inside
/// the transaction that will make the call's effects.
pub async fn claim<R: Message + Default>(
    tx: &mut PgConnection,
    scope: &str,
    key: &IdempotencyKey,
    request: &impl Message,
) -> Result<Claim<R>, IdempotencyError> {
    let fingerprint = fingerprint(request);
    // Waits while another open transaction holds the same key.
    let inserted = sqlx::query(
        "INSERT INTO idempotency_records (scope, key, fingerprint) VALUES ($1, $2, $3)
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(scope)
    .bind(key.as_str())
    .bind(fingerprint.as_slice())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::New);
    }

    let (stored_fingerprint, response): (Vec<u8>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT fingerprint, response FROM idempotency_records WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if stored_fingerprint != fingerprint {
        return Err(IdempotencyError::KeyReused);
    }
    let response = response.ok_or(IdempotencyError::Unrecorded)?;
    Ok(Claim::Replay(R::decode(response.as_slice())?))
}

/// The recorded response of an earlier call with `key`, read without claiming
/// the key: for calls that must ask another service before they can open their
/// transaction, so that a retry is answered even while that service is down.
/// `None` when there is no finished call with the key yet (then [`claim`] it);
/// [`IdempotencyError::KeyReused`] when the earlier call was another request.
pub async fn recorded<R: Message + Default>(
    conn: &mut PgConnection,
    scope: &str,
    key: &IdempotencyKey,
    request: &impl Message,
) -> Result<Option<R>, IdempotencyError> {
    let stored: Option<(Vec<u8>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT fingerprint, response FROM idempotency_records WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    match stored {
        Some((stored, _)) if stored != fingerprint(request) => Err(IdempotencyError::KeyReused),
        Some((_, Some(response))) => Ok(Some(R::decode(response.as_slice())?)),
        _ => Ok(None),
    }
}

/// Records the response of a call whose key was claimed as [`Claim::New`] in
/// this transaction.
pub async fn record(
    tx: &mut PgConnection,
    scope: &str,
    key: &IdempotencyKey,
    response: &impl Message,
) -> Result<(), IdempotencyError> {
    sqlx::query("UPDATE idempotency_records SET response = $3 WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key.as_str())
        .bind(response.encode_to_vec())
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Deletes records older than `age`, returning how many went. Callers retrying
/// later than that are treated as new calls.
pub async fn purge_older_than(pool: &sqlx::PgPool, age: Duration) -> Result<u64, sqlx::Error> {
    let seconds = age.as_secs_f64();
    let deleted = sqlx::query(
        "DELETE FROM idempotency_records WHERE created_at < now() - make_interval(secs => $1)",
    )
    .bind(seconds)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deleted)
}

/// How long a call's first response is kept for its retries; a retry later
/// than that is a new call.
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Forgets the records older than `retention`, at start and then hourly, until
/// `shutdown`; a failed purge is tried again a minute later. Every service
/// that keeps idempotency records runs it in the background.
pub async fn run_purge(
    pool: sqlx::PgPool,
    retention: Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let wait = match purge_older_than(&pool, retention).await {
            Ok(purged) => {
                tracing::debug!(purged, "idempotency records past retention purged");
                Duration::from_secs(3600)
            }
            Err(err) => {
                tracing::warn!(error = %err, "idempotency purge failed; retrying");
                Duration::from_secs(60)
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_128_characters() {
        assert!(IdempotencyKey::parse("saga-1:reserve:forward").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(128)).is_ok());
        assert_eq!(IdempotencyKey::parse(""), Err(InvalidKey));
        assert_eq!(IdempotencyKey::parse("k".repeat(129)), Err(InvalidKey));
        assert_eq!(IdempotencyKey::parse("has space"), Err(InvalidKey));
        assert_eq!(IdempotencyKey::parse("naïve"), Err(InvalidKey));
    }

    #[test]
    fn a_malformed_metadata_key_is_invalid_argument() {
        let mut metadata = MetadataMap::new();
        metadata.insert(METADATA_KEY, "a b".parse().unwrap());
        let status = IdempotencyKey::from_metadata(&metadata).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains(METADATA_KEY));
    }

    #[test]
    fn a_missing_key_is_refused_only_when_required() {
        let metadata = MetadataMap::new();
        assert_eq!(IdempotencyKey::from_metadata(&metadata).unwrap(), None);
        let status = IdempotencyKey::require(&metadata).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn equal_requests_have_equal_fingerprints() {
        use oms_proto::common::v1::Money;
        let money = |amount_minor| Money {
            currency_code: "EUR".into(),
            amount_minor,
        };
        assert_eq!(fingerprint(&money(100)), fingerprint(&money(100)));
        assert_ne!(fingerprint(&money(100)), fingerprint(&money(101)));
    }
}
