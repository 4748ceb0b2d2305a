//! The Redis connection, per-test key isolation, and the watch on whether
//! Redis answers, against the real Redis.

use oms_platform::redis::Availability;
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

/// Redis where nothing listens: a warning naming the variable and the
/// server's host:port (never the URL's password), and the gauge at 0; a Redis
/// that answers: the gauge at 1, and no warning.
#[tokio::test]
async fn whether_redis_answers_is_logged_and_measured() {
    let captured = oms_testkit::logs::CapturedLogs::start();
    let metrics = oms_testkit::metrics::MetricsRecorder::new();
    let mut down = TestRedis::new().config();
    down.url = "redis://:hunter2@127.0.0.1:1".to_owned();

    let mut availability = Availability::new(&down, &metrics.meter()).unwrap();
    assert!(!availability.check().await);

    assert_eq!(metrics.value("oms.redis.available", &[]), Some(0.0));
    let logs = captured.text();
    let warning = logs
        .lines()
        .find(|line| line.contains("WARN") && line.contains("redis does not answer"))
        .unwrap_or_else(|| panic!("a warning: {logs}"));
    assert!(warning.contains("OMS_REDIS_URL"), "{warning}");
    assert!(warning.contains("127.0.0.1:1"), "{warning}");
    assert!(!logs.contains("hunter2"), "{logs}");
    // Still down: said once, not at every check.
    assert!(!availability.check().await);
    assert_eq!(captured.text().matches("redis does not answer").count(), 1);

    let up = TestRedis::new();
    let mut availability = Availability::new(&up.config(), &metrics.meter()).unwrap();
    assert!(availability.check().await);
    assert_eq!(metrics.value("oms.redis.available", &[]), Some(1.0));
    assert_eq!(captured.text().matches("redis does not answer").count(), 1);
}
