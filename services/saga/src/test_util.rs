//! The saga coordinator for tests of any crate (feature `test-util`): on a
//! port the test chose, with a fresh database of its own.

use std::time::Duration;

use oms_platform::config::{ClientConfig, DatabaseConfig};
use oms_testkit::{ReservedPort, TestDatabase, TestService, server_config};

use crate::{Config, run};

/// Test settings: polls every 50 ms, peers as `client` says.
pub fn config(database: DatabaseConfig, client: ClientConfig) -> Config {
    let mut config = Config::new(server_config(), database, client);
    config.engine.poll = Duration::from_millis(50);
    config
}

/// Starts the coordinator on `port`, calling every service as `client` says.
pub async fn start(
    port: ReservedPort,
    client: ClientConfig,
    configure: impl FnOnce(&mut Config),
) -> TestService {
    let database = TestDatabase::create().await;
    let mut config = config(database.config(), client);
    configure(&mut config);
    TestService::start(port, database, None, |listener, shutdown| {
        run(config, listener, shutdown)
    })
    .await
}
