//! The inventory service for tests of any crate (feature `test-util`): on a
//! port the test chose, with a fresh database and Redis prefix of its own.

use std::time::Duration;

use oms_platform::config::{DatabaseConfig, RedisConfig};
use oms_testkit::{ReservedPort, TestDatabase, TestRedis, TestService, server_config};

use crate::{Config, run};

/// Test settings: quick expiry sweeps and ledger polls, and no availability
/// cache, so a read right after a change sees it.
pub fn config(database: DatabaseConfig, redis: RedisConfig) -> Config {
    Config {
        expiry_interval: Duration::from_millis(100),
        ledger_poll: Duration::from_millis(50),
        watch_heartbeat: Duration::from_millis(500),
        availability_cache_ttl: Duration::ZERO,
        ..Config::new(server_config(), database, redis)
    }
}

/// Starts the service on `port` with the test settings, as `configure` adjusts
/// them.
pub async fn start(port: ReservedPort, configure: impl FnOnce(&mut Config)) -> TestService {
    let database = TestDatabase::create().await;
    let redis = TestRedis::new();
    let mut config = config(database.config(), redis.config());
    configure(&mut config);
    TestService::start(port, database, Some(redis), |listener, shutdown| {
        run(config, listener, shutdown)
    })
    .await
}
