//! Health checks: whether a service answers and serves (`omsctl health`,
//! `make up`).

use std::time::Duration;

use oms_platform::{client, config::ClientConfig};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// What a health check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The service answers and serves.
    Serving,
    /// The service answers with another status (NOT_SERVING, UNKNOWN, ...).
    NotServing(String),
    /// The service could not be asked: refused, timed out, unknown to the server.
    Unreachable(String),
}

/// Asks `address` (`host:port`) whether `service` is serving; the empty service
/// name means the server as a whole.
pub async fn check_health(address: &str, service: &str, config: &ClientConfig) -> Health {
    let channel = match client::channel(address, config) {
        Ok(channel) => channel,
        Err(err) => return Health::Unreachable(err.to_string()),
    };
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => match response.into_inner().status() {
            ServingStatus::Serving => Health::Serving,
            other => Health::NotServing(other.as_str_name().to_owned()),
        },
        Err(status) => Health::Unreachable(format!("{:?}: {}", status.code(), status.message())),
    }
}

/// Checks until the service is serving or `timeout` has passed; returns the last
/// finding.
pub async fn wait_for_health(
    address: &str,
    service: &str,
    timeout: Duration,
    config: &ClientConfig,
) -> Health {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let health = check_health(address, service, config).await;
        if health == Health::Serving || tokio::time::Instant::now() >= deadline {
            return health;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
