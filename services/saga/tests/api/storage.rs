//! How the sagas table keeps a saga's row, which every step rewrites: its
//! body compressed, and its due time unchanged from one step to the next.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oms_platform::db;
use oms_saga::{
    MIGRATOR,
    domain::{
        SagaKind, SagaState,
        saga::{ActorRecord, NewSaga, Saga},
    },
    flows,
    store::Store,
};
use oms_testkit::{TestDatabase, lz4_or_default, stored_compression};
use serde_json::json;

#[tokio::test]
async fn a_saga_body_is_kept_compressed_with_lz4_and_reads_back_as_written() {
    let database = TestDatabase::create().await;
    let pool = db::connect(&database.config(), &MIGRATOR).await.unwrap();
    // About the size of a finished order saga's step log.
    let steps: Vec<_> = (0..8)
        .map(|n| {
            json!({
                "name": format!("step_{n}"),
                "state": "SUCCEEDED",
                "detail": format!("reservation 01a24f73-06dc-7094-90a0-{n:012}"),
                "attempts": [{"attempt": 1, "duration_ms": n * 7, "error": null}],
                "start_time": format!("2026-12-07T07:41:08.{n:09}Z"),
                "finish_time": null,
                "next_attempt_time": null,
            })
        })
        .collect();
    let body = json!({"steps": steps, "cursor": 8, "data": {"lines": []}});
    let saga_id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO sagas (saga_id, kind, flow_version, state, order_id, body)
         VALUES ($1, 1, 1, 3, 'o-lz4', $2)",
    )
    .bind(saga_id)
    .bind(&body)
    .execute(&pool)
    .await
    .unwrap();

    let stored = stored_compression(&pool, "sagas", "body", "saga_id", &saga_id.to_string()).await;
    assert_eq!(stored.as_deref(), Some(lz4_or_default(&pool).await));
    let read: serde_json::Value = sqlx::query_scalar("SELECT body FROM sagas WHERE saga_id = $1")
        .bind(saga_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(read, body);
}

/// The row's due time as stored.
async fn due_time(pool: &sqlx::PgPool, saga_id: uuid::Uuid) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT due_time FROM sagas WHERE saga_id = $1")
        .bind(saga_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_step_that_follows_at_once_leaves_the_due_time_and_a_wait_moves_it() {
    let database = TestDatabase::create().await;
    let pool = db::connect(&database.config(), &MIGRATOR).await.unwrap();
    let store = Store::new(pool.clone());
    let new = NewSaga {
        kind: SagaKind::Order,
        flow_version: 1,
        order_id: "o-due".into(),
        return_id: String::new(),
        cancellation: 0,
        cancel_reason: String::new(),
        started_by: ActorRecord::default(),
        traceparent: String::new(),
        data: serde_json::Value::Null,
    };
    let flow = flows::definition(SagaKind::Order, 1).unwrap();
    let mut saga = Saga::start(new, flow, Utc::now());
    let lease_time = Duration::from_secs(30);
    let lease = Some(lease_time);
    let (claimed, created) = store.insert(&saga, "replica-1", lease_time).await.unwrap();
    assert!(created);
    let first = due_time(&pool, saga.saga_id).await.unwrap();

    // Steps due at once, one after the other: the row keeps its due time.
    for step in ["record_order", "plan_fulfilment"] {
        saga.body.steps[0].detail = format!("{step} done");
        let abort = store.commit(&saga, claimed.fence, lease).await.unwrap();
        assert_eq!(abort, Some(false));
        assert_eq!(due_time(&pool, saga.saga_id).await, Some(first), "{step}");
    }

    // A retry after a backoff: the due time moves to it...
    let retry = Utc::now() + chrono::Duration::minutes(5);
    saga.body.steps[0].next_attempt_time = Some(retry);
    store.commit(&saga, claimed.fence, lease).await.unwrap();
    let stored = due_time(&pool, saga.saga_id).await.unwrap();
    assert_eq!(stored.timestamp_micros(), retry.timestamp_micros());

    // ...and work due at once after a due time still ahead is due now.
    saga.body.steps[0].next_attempt_time = None;
    let before = Utc::now();
    store.commit(&saga, claimed.fence, lease).await.unwrap();
    let stored = due_time(&pool, saga.saga_id).await.unwrap();
    assert!(
        stored >= before - chrono::Duration::seconds(1) && stored < retry,
        "{stored}"
    );

    // Ended: not due at all.
    saga.state = SagaState::Completed;
    store.commit(&saga, claimed.fence, None).await.unwrap();
    assert_eq!(due_time(&pool, saga.saga_id).await, None);
}
