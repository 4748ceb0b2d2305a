//! The Redis connection and per-test key isolation against the real Redis.

use oms_testkit::TestRedis;
use redis::AsyncCommands as _;

#[tokio::test]
async fn the_connection_manager_reads_and_writes_under_the_service_prefix() {
    let redis = TestRedis::new();
    let config = redis.config();
    let mut connection = oms_platform::redis::connect(&config).unwrap();

    let _: () = connection
        .set(config.key("lock:sku-1"), "token-1")
        .await
        .unwrap();
    let value: String = connection.get(config.key("lock:sku-1")).await.unwrap();

    assert_eq!(value, "token-1");
    assert_eq!(redis.keys().await, [config.key("lock:sku-1")]);
}

#[tokio::test]
async fn flushing_a_test_loses_its_own_keys_only() {
    let mine = TestRedis::new();
    let theirs = TestRedis::new();
    let mut connection = mine.connection().await;
    let _: () = connection.set(mine.config().key("a"), 1).await.unwrap();
    let _: () = connection.set(mine.config().key("b"), 2).await.unwrap();
    let _: () = connection.set(theirs.config().key("a"), 3).await.unwrap();

    assert_eq!(mine.flush().await, 2);

    assert!(mine.keys().await.is_empty());
    assert_eq!(theirs.keys().await, [theirs.config().key("a")]);
}
