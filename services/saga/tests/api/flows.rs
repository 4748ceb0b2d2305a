//! A coordinator that does not have the flow version some unfinished saga
//! started on refuses to start, naming the saga.

use oms_platform::db;
use oms_saga::{MIGRATOR, run, test_util};
use oms_testkit::{ReservedPort, TestDatabase, client_config};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn an_unfinished_saga_of_an_unknown_flow_version_stops_the_start() {
    let database = TestDatabase::create().await;
    let pool = db::connect(&database.config(), &MIGRATOR).await.unwrap();
    let saga_id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sagas (saga_id, kind, flow_version, state, order_id, body, due_time)
         VALUES ($1, 1, 99, 1, 'o-1', '{}', now())",
    )
    .bind(saga_id)
    .execute(&pool)
    .await
    .unwrap();
    // A finished one of an unknown version is no obstacle.
    sqlx::query(
        "INSERT INTO sagas (saga_id, kind, flow_version, state, order_id, body)
         VALUES ($1, 1, 98, 3, 'o-2', '{}')",
    )
    .bind(uuid::Uuid::now_v7())
    .execute(&pool)
    .await
    .unwrap();

    let config = test_util::config(database.config(), client_config());
    let listener = ReservedPort::new().listen();
    let refused = run(config, listener, CancellationToken::new())
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains(&saga_id.to_string()), "{refused}");
    assert!(refused.contains("ORDER v99"), "{refused}");
    assert!(!refused.contains("v98"), "{refused}");
}
