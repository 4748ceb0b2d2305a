//! The shipping service for tests of any crate (feature `test-util`): on a
//! port the test chose, with a fresh database of its own and the carrier
//! simulator over that database; more replicas on the same database.

use std::{path::PathBuf, sync::Arc, time::Duration};

use oms_platform::config::{ClientConfig, DatabaseConfig};
use oms_testkit::{ReservedPort, TestDatabase, TestServer, TestService, server_config};

use crate::{
    Config,
    carrier::{Carrier, CarrierSimulator, SimulatorConfig},
    documents::CJK_COLLECTION,
    run, run_with_carrier,
};

/// Test settings: the outbox polls every 50 ms, carrier calls may take 5 s,
/// the simulator injects no fault, Korean and Japanese are set in Debian's Noto
/// Sans CJK; peers as `client` says.
pub fn config(database: DatabaseConfig, client: ClientConfig) -> Config {
    Config {
        server: server_config(),
        database,
        client,
        simulator: SimulatorConfig::default(),
        outbox_poll: Duration::from_millis(50),
        carrier_timeout: Duration::from_secs(5),
        cjk_font: PathBuf::from(CJK_COLLECTION),
    }
}

/// Starts the service on `port`, calling its peers (order, returns, inventory)
/// as `client` says, with the test settings as `configure` adjusts them.
pub async fn start(
    port: ReservedPort,
    client: ClientConfig,
    configure: impl FnOnce(&mut Config),
) -> TestService {
    let (service, _) = start_with_simulator(port, client, configure).await;
    service
}

/// [`start`], and the carrier simulator the service buys from, built on the
/// test database as `run` builds it: the test switches its faults while the
/// service runs and reads the labels every replica sold.
pub async fn start_with_simulator(
    port: ReservedPort,
    client: ClientConfig,
    configure: impl FnOnce(&mut Config),
) -> (TestService, Arc<CarrierSimulator>) {
    start_with_carrier(port, client, configure, |simulator| simulator).await
}

/// [`start_with_simulator`], the service buying from the carrier `carrier`
/// makes of the simulator (one that wraps it, say, to stretch what it
/// answers); the simulator comes back for the test to read.
pub async fn start_with_carrier(
    port: ReservedPort,
    client: ClientConfig,
    configure: impl FnOnce(&mut Config),
    carrier: impl FnOnce(Arc<CarrierSimulator>) -> Arc<dyn Carrier>,
) -> (TestService, Arc<CarrierSimulator>) {
    let database = TestDatabase::create().await;
    let mut config = config(database.config(), client);
    configure(&mut config);
    let simulator = Arc::new(CarrierSimulator::connect(
        &config.database,
        config.simulator.clone(),
    ));
    let carrier = carrier(simulator.clone());
    let service = TestService::start(port, database, None, |listener, shutdown| {
        run_with_carrier(config, carrier, listener, shutdown)
    })
    .await;
    (service, simulator)
}

/// Another replica of `service` on its database, configured as [`start`]
/// configures it (peers as `client` says, then `configure`), with a carrier
/// simulator of its own, as a deployment's replicas have.
pub async fn start_replica(
    service: &TestService,
    client: ClientConfig,
    configure: impl FnOnce(&mut Config),
) -> TestServer {
    let mut config = config(service.database.config(), client);
    configure(&mut config);
    TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await
}
