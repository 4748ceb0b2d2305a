//! The oms-saga binary as a child process, configured like production through
//! its environment, pointed at a suite.

use std::{net::SocketAddr, process::Stdio, time::Duration};

use oms_e2e::Suite;
use oms_platform::{client, config::Service};
use oms_testkit::{TestDatabase, client_config, poll_until};
use tokio::process::{Child, Command};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// A running coordinator process.
pub struct Coordinator {
    child: Child,
    pub address: SocketAddr,
}

/// What every coordinator of a test shares: its database and the suite's
/// addresses.
pub struct Setup {
    pub database: TestDatabase,
    pub peers: Vec<(Service, SocketAddr)>,
    /// Where spans go, if a test collects them.
    pub otlp: Option<String>,
}

impl Setup {
    /// A fresh database for the coordinators of `suite`.
    pub async fn new(suite: &Suite) -> Setup {
        let mut peers: Vec<(Service, SocketAddr)> = suite
            .services()
            .into_iter()
            .map(|(service, running)| (service, running.address()))
            .collect();
        peers.push((Service::Saga, suite.saga_address()));
        Setup {
            database: TestDatabase::create().await,
            peers,
            otlp: None,
        }
    }
}

impl Coordinator {
    /// Starts `oms-saga` on `address` with `extra` settings and returns once
    /// it reports SERVING.
    pub async fn start(setup: &Setup, address: SocketAddr, extra: &[(&str, &str)]) -> Coordinator {
        let mut command = Command::new(env!("CARGO_BIN_EXE_oms-saga"));
        command
            .env("OMS_LISTEN_ADDR", address.to_string())
            .env("OMS_DATABASE_URL", setup.database.url())
            .env("OMS_DATABASE_POOL_SIZE", "3")
            // A killed replica's sagas are taken over once its lease lapses.
            .env("OMS_SAGA_LEASE", "5s")
            .env("OMS_SAGA_POLL_INTERVAL", "100ms")
            .env("OMS_SHUTDOWN_GRACE", "2s")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        for (service, peer) in &setup.peers {
            command.env(
                format!("OMS_{}_ADDR", service.name().to_uppercase()),
                peer.to_string(),
            );
        }
        if let Some(endpoint) = &setup.otlp {
            command
                .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
                .env("OTEL_BSP_SCHEDULE_DELAY", "100")
                .env("RUST_LOG", "info");
        }
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("the oms-saga binary starts");
        let coordinator = Coordinator { child, address };
        coordinator.wait_until_serving().await;
        coordinator
    }

    async fn wait_until_serving(&self) {
        let channel = client::channel(&self.address.to_string(), &client_config()).unwrap();
        let health = HealthClient::new(channel);
        poll_until("the coordinator to serve", Duration::from_secs(30), || {
            let mut health = health.clone();
            async move {
                let status = health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .status;
                (status == ServingStatus::Serving as i32).then_some(())
            }
        })
        .await;
    }

    /// SIGKILL: no drain, no lease released, nothing flushed.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    /// SIGTERM, as Kubernetes stops a pod; waits for the exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
    }
}
