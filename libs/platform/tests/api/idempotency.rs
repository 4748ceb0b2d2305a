//! Idempotent replay against the real Postgres.

use std::time::{Duration, Instant};

use oms_platform::{
    db,
    idempotency::{self, Idempotency, IdempotencyError, IdempotencyKey, Settled},
};
use oms_proto::common::v1::Money;
use oms_testkit::TestDatabase;
use sqlx::{PgPool, migrate::Migrator};

const SCOPE: &str = "oms.test.v1.TestService/Charge";

fn eur(amount_minor: i64) -> Money {
    Money {
        currency_code: "EUR".into(),
        amount_minor,
    }
}

async fn setup() -> (TestDatabase, PgPool) {
    setup_with_pool(3).await
}

async fn setup_with_pool(pool_size: u32) -> (TestDatabase, PgPool) {
    let database = TestDatabase::create().await;
    let mut config = database.config();
    config.pool_size = pool_size;
    let pool = db::connect(&config, &Migrator::with_migrations(Vec::new()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE charges (id bigserial PRIMARY KEY, amount_minor bigint NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    (database, pool)
}

/// A mutating call as a service writes one. The response is the charge's id,
/// so a replay is recognisable.
async fn charge(pool: &PgPool, key: &str, request: &Money) -> Result<Money, IdempotencyError> {
    charge_in(
        &Idempotency::new(pool.clone()),
        SCOPE,
        key,
        request,
        Duration::ZERO,
    )
    .await
}

/// A charge whose effects take `work` (a provider's answer, say).
async fn charge_in(
    idempotency: &Idempotency,
    scope: &str,
    key: &str,
    request: &Money,
    work: Duration,
) -> Result<Money, IdempotencyError> {
    let key = IdempotencyKey::parse(key).unwrap();
    idempotency
        .run(scope, &key, request, async |tx| {
            let id: i64 =
                sqlx::query_scalar("INSERT INTO charges (amount_minor) VALUES ($1) RETURNING id")
                    .bind(request.amount_minor)
                    .fetch_one(&mut *tx)
                    .await?;
            tokio::time::sleep(work).await;
            Ok(Money {
                currency_code: request.currency_code.clone(),
                amount_minor: id,
            })
        })
        .await
}

async fn charges(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM charges")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_replays_the_first_response_and_acts_once() {
    let (_database, pool) = setup().await;

    let first = charge(&pool, "order-1:charge", &eur(1999)).await.unwrap();
    let retry = charge(&pool, "order-1:charge", &eur(1999)).await.unwrap();

    assert_eq!(retry, first);
    assert_eq!(charges(&pool).await, 1);
}

#[tokio::test]
async fn a_reused_key_with_another_request_is_refused() {
    let (_database, pool) = setup().await;
    charge(&pool, "order-2:charge", &eur(1999)).await.unwrap();

    let err = charge(&pool, "order-2:charge", &eur(2999))
        .await
        .unwrap_err();

    assert!(matches!(err, IdempotencyError::KeyReused), "{err:?}");
    let status = tonic::Status::from(err);
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(charges(&pool).await, 1);
}

#[tokio::test]
async fn the_same_key_in_another_scope_is_another_call() {
    let (_database, pool) = setup().await;
    let idempotency = Idempotency::new(pool.clone());
    charge_in(
        &idempotency,
        "other/Scope",
        "shared-key",
        &eur(1),
        Duration::ZERO,
    )
    .await
    .unwrap();

    charge(&pool, "shared-key", &eur(5)).await.unwrap();

    assert_eq!(charges(&pool).await, 2);
}

#[tokio::test]
async fn concurrent_retries_act_once_and_all_get_the_same_response() {
    let (_database, pool) = setup().await;

    let calls = (0..10).map(|_| {
        let pool = pool.clone();
        tokio::spawn(async move { charge(&pool, "order-3:charge", &eur(500)).await })
    });
    let mut responses = Vec::new();
    for call in calls {
        responses.push(call.await.unwrap().unwrap());
    }

    assert_eq!(charges(&pool).await, 1);
    assert!(responses.iter().all(|response| *response == responses[0]));
}

#[tokio::test]
async fn a_failed_call_rolls_back_and_leaves_the_key_free() {
    let (_database, pool) = setup().await;
    let idempotency = Idempotency::new(pool.clone());
    let key = IdempotencyKey::parse("order-4:charge").unwrap();
    let failed: Result<Money, IdempotencyError> = idempotency
        .run(SCOPE, &key, &eur(700), async |tx| {
            sqlx::query("INSERT INTO charges (amount_minor) VALUES (700)")
                .execute(&mut *tx)
                .await?;
            Err(IdempotencyError::Unrecorded)
        })
        .await;
    assert!(failed.is_err());
    assert_eq!(charges(&pool).await, 0);

    charge(&pool, "order-4:charge", &eur(700)).await.unwrap();

    assert_eq!(charges(&pool).await, 1);
}

#[tokio::test]
async fn an_unsettled_call_keeps_its_effects_and_its_retry_acts_again() {
    let (_database, pool) = setup().await;
    let idempotency = Idempotency::new(pool.clone());
    let key = IdempotencyKey::parse("order-6:charge").unwrap();
    let unsettled: Result<Money, IdempotencyError> = idempotency
        .run_with(SCOPE, &key, &eur(300), async |tx| {
            sqlx::query("INSERT INTO charges (amount_minor) VALUES (300)")
                .execute(&mut *tx)
                .await?;
            Ok(Settled::Unsettled(IdempotencyError::Unrecorded))
        })
        .await;
    assert!(matches!(unsettled, Err(IdempotencyError::Unrecorded)));
    assert_eq!(charges(&pool).await, 1, "the effects were committed");

    charge(&pool, "order-6:charge", &eur(300)).await.unwrap();
    assert_eq!(charges(&pool).await, 2, "the retry was not a replay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_storm_on_one_key_acts_once_without_starving_the_pool() {
    let (_database, pool) = setup_with_pool(5).await;
    let idempotency = Idempotency::new(pool.clone());
    let started = Instant::now();
    let storm: Vec<_> = (0..50)
        .map(|_| {
            let idempotency = idempotency.clone();
            tokio::spawn(async move {
                charge_in(
                    &idempotency,
                    SCOPE,
                    "order-7:charge",
                    &eur(900),
                    Duration::from_secs(1),
                )
                .await
            })
        })
        .collect();

    // While the first call works and 49 retries wait, other calls get a
    // connection at once.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let unrelated = Instant::now();
    let other = charge_in(
        &idempotency,
        SCOPE,
        "order-8:charge",
        &eur(1),
        Duration::ZERO,
    )
    .await;
    let unrelated = unrelated.elapsed();
    assert!(other.is_ok());
    assert!(
        unrelated < Duration::from_millis(500),
        "unrelated call took {unrelated:?}"
    );

    let mut responses = Vec::new();
    for call in storm {
        responses.push(call.await.unwrap().unwrap());
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the storm took {took:?}");
    assert!(responses.iter().all(|response| *response == responses[0]));
    assert_eq!(charges(&pool).await, 2, "one charge per key");
}

#[tokio::test]
async fn old_records_are_purged() {
    let (_database, pool) = setup().await;
    charge(&pool, "old", &eur(1)).await.unwrap();
    charge(&pool, "new", &eur(1)).await.unwrap();
    sqlx::query(
        "UPDATE idempotency_records SET created_at = now() - interval '2 days' WHERE key = 'old'",
    )
    .execute(&pool)
    .await
    .unwrap();

    let purged = idempotency::purge_older_than(&pool, std::time::Duration::from_secs(86_400))
        .await
        .unwrap();

    assert_eq!(purged, 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_records")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(left, ["new"]);
}

#[tokio::test]
async fn a_finished_call_can_be_read_back_without_claiming_its_key() {
    let (_database, pool) = setup().await;
    let idempotency = Idempotency::new(pool.clone());
    let key = IdempotencyKey::parse("order-5:charge").unwrap();
    let before: Option<Money> = idempotency.replay(SCOPE, &key, &eur(500)).await.unwrap();
    assert_eq!(before, None);

    let first = charge(&pool, "order-5:charge", &eur(500)).await.unwrap();
    let after: Option<Money> = idempotency.replay(SCOPE, &key, &eur(500)).await.unwrap();
    assert_eq!(after, Some(first));
    let other = idempotency.replay::<Money>(SCOPE, &key, &eur(501)).await;
    assert!(
        matches!(other, Err(IdempotencyError::KeyReused)),
        "{other:?}"
    );
    assert_eq!(charges(&pool).await, 1);
}

#[tokio::test]
async fn the_background_purge_forgets_records_past_their_retention_and_stops_on_shutdown() {
    let (_database, pool) = setup().await;
    charge(&pool, "stale", &eur(1)).await.unwrap();
    charge(&pool, "fresh", &eur(1)).await.unwrap();
    sqlx::query(
        "UPDATE idempotency_records SET created_at = now() - interval '8 days' WHERE key = 'stale'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let purge = tokio::spawn(idempotency::run_purge(
        pool.clone(),
        idempotency::RETENTION,
        shutdown.clone(),
    ));

    let left = oms_testkit::poll_until(
        "the stale record to be purged",
        std::time::Duration::from_secs(10),
        || async {
            let left: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_records")
                .fetch_all(&pool)
                .await
                .unwrap();
            (left.len() == 1).then_some(left)
        },
    )
    .await;
    assert_eq!(left, ["fresh"]);
    shutdown.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(10), purge)
        .await
        .expect("the purge stops on shutdown")
        .unwrap();
}
