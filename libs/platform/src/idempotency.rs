//! Idempotent mutating calls: the first response of each (RPC, key) is kept, a
//! retry gets it again, and the same key with a different request is refused.
//!
//! [`Idempotency::run`] is the one way a service makes a call idempotent: it
//! claims the key, runs the call's effects in the same transaction, records the
//! response and commits, so either both exist or neither does; a retry gets
//! the recorded response without acting again:
//!
//! ```no_run
//! # async fn example(idempotency: &oms_platform::idempotency::Idempotency,
//! #     key: &oms_platform::idempotency::IdempotencyKey,
//! #     request: &oms_proto::common::v1::Money) -> Result<oms_proto::common::v1::Money, tonic::Status> {
//! const SCOPE: &str = "oms.payment.v1.PaymentService/Capture";
//! let response = idempotency
//!     .run(SCOPE, key, request, async |tx| {
//!         // ... the call's effects, in `tx` only ...
//!         Ok::<_, tonic::Status>(request.clone())
//!     })
//!     .await?;
//! # Ok(response) }
//! ```
//!
//! Retry storms: callers with one key wait for each other in the process,
//! before they take a pool connection, so a hundred retries of one call hold
//! one connection between them and never starve the pool for other calls.
//! Across replicas the record's primary key serialises them: a second
//! transaction's claim waits for the first, then replays its response (or, if
//! the first rolled back, goes ahead itself). This relies on Postgres's default
//! READ COMMITTED isolation, in which the second claim sees the first's commit.
//! The effects must use the transaction they are given and no other pool
//! connection: a call that waited for a second connection while holding one
//! could deadlock the pool under load.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError, Weak},
    time::Duration,
};

use oms_proto::common::v1::ErrorReason;
use prost::Message;
use sha2::{Digest as _, Sha256};
use sqlx::{PgConnection, PgPool};
use tokio::sync::OwnedMutexGuard;
use tonic::{Status, metadata::MetadataMap};

use crate::{card::contains_card_number, error};

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
    /// INVALID_ARGUMENT when it is malformed or holds a card number (it is
    /// stored with the response, and no service keeps card numbers).
    pub fn from_metadata(metadata: &MetadataMap) -> Result<Option<Self>, Status> {
        let Some(value) = metadata.get(METADATA_KEY) else {
            return Ok(None);
        };
        let key = value
            .to_str()
            .map_err(|_| InvalidKey)
            .and_then(IdempotencyKey::parse)
            .map_err(|err| error::invalid_argument(METADATA_KEY, err.to_string()))?;
        if contains_card_number(key.as_str()) {
            return Err(error::invalid_argument(
                METADATA_KEY,
                "must not hold a card number",
            ));
        }
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

/// One service's idempotent calls: its database and the in-process queue of
/// callers per key. Clones share both.
#[derive(Clone)]
pub struct Idempotency {
    pool: PgPool,
    keys: KeyTurns,
}

/// How a call's effects ended, for [`Idempotency::run_with`].
#[derive(Debug)]
pub enum Settled<R, E> {
    /// Done: record `R` as the key's response and commit.
    Respond(R),
    /// Commit the effects, but keep the key free and answer `E`: the outcome
    /// is not known yet (e.g. a provider timed out), and a retry must ask again
    /// rather than replay.
    Unsettled(E),
}

impl Idempotency {
    /// Idempotent calls against `pool`'s `idempotency_records`.
    pub fn new(pool: PgPool) -> Idempotency {
        Idempotency {
            pool,
            keys: KeyTurns::default(),
        }
    }

    /// The database the calls run in.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `effects` once for the key: the first call's response is recorded
    /// in the transaction of its effects; a retry gets it back without running
    /// them; the key with another request is [`IdempotencyError::KeyReused`].
    /// An error from `effects` rolls everything back and leaves the key free.
    pub async fn run<R, E>(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request: &impl Message,
        effects: impl AsyncFnOnce(&mut PgConnection) -> Result<R, E>,
    ) -> Result<R, E>
    where
        R: Message + Default,
        E: From<IdempotencyError>,
    {
        self.run_with(scope, key, request, async |tx| {
            effects(tx).await.map(Settled::Respond)
        })
        .await
    }

    /// [`Idempotency::run`] for calls whose effects may end unsettled: see
    /// [`Settled`].
    pub async fn run_with<R, E>(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request: &impl Message,
        effects: impl AsyncFnOnce(&mut PgConnection) -> Result<Settled<R, E>, E>,
    ) -> Result<R, E>
    where
        R: Message + Default,
        E: From<IdempotencyError>,
    {
        let database = |err: sqlx::Error| E::from(IdempotencyError::Database(err));
        // Callers with this key queue here, without a connection.
        let _turn = self.keys.wait_for_turn(scope, key.as_str()).await;
        let mut tx = self.pool.begin().await.map_err(database)?;
        if let Claim::Replay(response) = claim(&mut tx, scope, key, request).await? {
            return Ok(response);
        }
        match effects(&mut tx).await? {
            Settled::Respond(response) => {
                record(&mut tx, scope, key, &response).await?;
                tx.commit().await.map_err(database)?;
                Ok(response)
            }
            Settled::Unsettled(err) => {
                release(&mut tx, scope, key).await?;
                tx.commit().await.map_err(database)?;
                Err(err)
            }
        }
    }

    /// The recorded response of an earlier call with `key`, read without
    /// claiming the key: for calls that must ask another service before their
    /// transaction, so a retry is answered even while that service is down.
    /// `None` when no call with the key finished yet.
    pub async fn replay<R: Message + Default>(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request: &impl Message,
    ) -> Result<Option<R>, IdempotencyError> {
        let mut conn = self.pool.acquire().await?;
        recorded(&mut conn, scope, key, request).await
    }
}

/// Callers of one (scope, key) taking turns in this process, before they take
/// a pool connection: for calls that must not run at once for one key (an
/// idempotent call, a natural-key upsert), so that a storm of them holds one
/// connection at a time instead of every connection of the pool, each waiting
/// on a row lock. Clones share the turns.
#[derive(Clone, Default)]
pub struct KeyTurns {
    queues: Arc<Mutex<Queues>>,
}

#[derive(Default)]
struct Queues {
    by_key: HashMap<(String, String), Weak<tokio::sync::Mutex<()>>>,
    /// Forgotten queues are swept when the map reaches this size.
    sweep_at: usize,
}

impl KeyTurns {
    /// Returns when no other caller of this process holds the key; the turn
    /// lasts until the returned guard is dropped.
    pub async fn wait_for_turn(&self, scope: &str, key: &str) -> OwnedMutexGuard<()> {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            if queues.by_key.len() >= queues.sweep_at {
                queues.by_key.retain(|_, queue| queue.strong_count() > 0);
                queues.sweep_at = (queues.by_key.len() * 2).max(1024);
            }
            let id = (scope.to_owned(), key.to_owned());
            match queues.by_key.get(&id).and_then(Weak::upgrade) {
                Some(queue) => queue,
                None => {
                    let queue = Arc::new(tokio::sync::Mutex::new(()));
                    queues.by_key.insert(id, Arc::downgrade(&queue));
                    queue
                }
            }
        };
        queue.lock_owned().await
    }
}

/// What a claimed key means for the call.
#[derive(Debug, PartialEq)]
enum Claim<R> {
    /// First use of the key: perform the call, then record its response.
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
async fn claim<R: Message + Default>(
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
/// `None` when there is no finished call with the key yet (then claim it);
/// [`IdempotencyError::KeyReused`] when the earlier call was another request.
async fn recorded<R: Message + Default>(
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
async fn record(
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

/// Frees a key claimed in this transaction without recording a response: the
/// next call with it acts again.
async fn release(
    tx: &mut PgConnection,
    scope: &str,
    key: &IdempotencyKey,
) -> Result<(), IdempotencyError> {
    sqlx::query("DELETE FROM idempotency_records WHERE scope = $1 AND key = $2")
        .bind(scope)
        .bind(key.as_str())
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

    /// The saga keys every step call "<saga_id>:<step name>:<forward|compensation>"
    /// (oms.saga.v1): each of its steps' keys must be a key every service takes.
    #[test]
    fn every_key_the_saga_builds_is_a_valid_key() {
        const STEPS: [&str; 19] = [
            "record_order",
            "plan_fulfilment",
            "reserve_stock",
            "authorize_payment",
            "create_shipments",
            "capture_payment",
            "commit_stock",
            "confirm_order",
            "settle_fulfilment",
            "cancel_shipments",
            "restock",
            "refund_payment",
            "mark_cancelled",
            "issue_return_label",
            "await_receipt",
            "await_inspection",
            "settle_money",
            "mark_returned",
            "close_return",
        ];
        for _ in 0..100 {
            let saga_id = uuid::Uuid::now_v7();
            for step in STEPS {
                for direction in ["forward", "compensation"] {
                    let key = format!("{saga_id}:{step}:{direction}");
                    assert!(key.len() <= 68, "{key}");
                    let mut metadata = MetadataMap::new();
                    metadata.insert(METADATA_KEY, key.parse().unwrap());
                    let parsed = IdempotencyKey::from_metadata(&metadata).unwrap();
                    assert_eq!(parsed.map(|key| key.0), Some(key));
                }
            }
        }
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
    fn a_metadata_key_holding_a_card_number_is_invalid_argument() {
        let mut metadata = MetadataMap::new();
        metadata.insert(METADATA_KEY, "4111-1111-1111-1111".parse().unwrap());
        let status = IdempotencyKey::from_metadata(&metadata).unwrap_err();
        assert_eq!(
            status.message(),
            "invalid idempotency-key: must not hold a card number"
        );
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
