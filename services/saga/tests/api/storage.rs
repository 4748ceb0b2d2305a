//! How the sagas table keeps a saga's body, which every step rewrites.

use oms_platform::db;
use oms_saga::MIGRATOR;
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
