//! The payment service for tests of any crate (feature `test-util`): on a port
//! the test chose, with a fresh database of its own, and a view of what its PSP
//! simulator did.

use std::time::Duration;

use oms_platform::config::DatabaseConfig;
use oms_testkit::{ReservedPort, TestDatabase, TestService, server_config};

use crate::{
    Config,
    psp::{PspSimulator, SimulatorConfig},
    run,
};

/// Test settings: the simulator without faults, a 5 s PSP timeout and a
/// reconciler that runs rarely (tests resolve by retry or ReconcilePayment
/// unless they say otherwise).
pub fn config(database: DatabaseConfig) -> Config {
    Config {
        server: server_config(),
        database,
        simulator: SimulatorConfig::default(),
        psp_timeout: Duration::from_secs(5),
        reconcile_interval: Duration::from_secs(3600),
    }
}

/// Starts the service on `port` with the test settings, as `configure` adjusts
/// them.
pub async fn start(port: ReservedPort, configure: impl FnOnce(&mut Config)) -> TestService {
    let database = TestDatabase::create().await;
    let mut config = config(database.config());
    configure(&mut config);
    TestService::start(port, database, None, |listener, shutdown| {
        run(config, listener, shutdown)
    })
    .await
}

/// The PSP simulator of the service's database: what it charged and was
/// called for, as a provider's dashboard would show.
pub fn simulator(service: &TestService) -> PspSimulator {
    PspSimulator::new(SimulatorConfig::default(), &service.database.config())
}
