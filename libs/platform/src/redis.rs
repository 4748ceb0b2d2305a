//! Redis: one multiplexed connection per service, reconnecting on its own, and a
//! watch on whether Redis answers.
//!
//! Redis holds only what can be lost (locks with a TTL, caches): Postgres is the
//! truth. The connection is made lazily, so a service starts, and degrades
//! instead of failing, while Redis is down. [`Availability`] says so where an
//! operator looks: a WARN naming `OMS_REDIS_URL` and the server's host:port when
//! Redis does not answer (at start, and whenever it stops), an INFO when it
//! answers again, and the `oms.redis.available` gauge (1 or 0).

use std::time::Duration;

use ::redis::{
    AsyncConnectionConfig, Client, RedisError, aio::ConnectionManager, aio::ConnectionManagerConfig,
};
use opentelemetry::metrics::{Gauge, Meter};
use tokio_util::sync::CancellationToken;

use crate::config::RedisConfig;

/// How long a command, or a connection, may take before Redis counts as down.
const TIMEOUT: Duration = Duration::from_secs(1);

/// A connection manager for `config.url`; it connects on first use and
/// reconnects after a failure. Commands fail fast (1s) rather than hold a call.
pub fn connect(config: &RedisConfig) -> Result<ConnectionManager, RedisError> {
    let client = Client::open(config.url.as_str())?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(TIMEOUT))
        .set_response_timeout(Some(TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, manager_config)
}

/// Whether Redis answers, as last seen, reported as a log line on each change
/// and as the `oms.redis.available` gauge.
pub struct Availability {
    client: Client,
    /// The server, as `host:port`: the URL may hold a password.
    address: String,
    gauge: Gauge<u64>,
    answered: Option<bool>,
}

impl Availability {
    /// How often [`Availability::watch`] asks.
    pub const INTERVAL: Duration = Duration::from_secs(10);

    /// A watch on the Redis of `config`, its gauge made with `meter`. Asks
    /// nothing yet.
    pub fn new(config: &RedisConfig, meter: &Meter) -> Result<Availability, RedisError> {
        let client = Client::open(config.url.as_str())?;
        let address = client.get_connection_info().addr().to_string();
        let gauge = meter
            .u64_gauge("oms.redis.available")
            .with_description("1 while Redis answers, 0 while it does not (caches off)")
            .build();
        Ok(Availability {
            client,
            address,
            gauge,
            answered: None,
        })
    }

    /// Asks Redis once, records the answer and logs a change; true when it
    /// answered.
    pub async fn check(&mut self) -> bool {
        let result = self.ping().await;
        let answered = result.is_ok();
        self.gauge.record(u64::from(answered), &[]);
        match (self.answered, result) {
            (None | Some(true), Err(err)) => tracing::warn!(
                variable = "OMS_REDIS_URL",
                address = %self.address,
                error = %err,
                "redis does not answer: caches are off until it does; postgres still serves"
            ),
            (Some(false), Ok(())) => {
                tracing::info!(address = %self.address, "redis answers again");
            }
            _ => {}
        }
        self.answered = Some(answered);
        answered
    }

    /// Asks every [`Availability::INTERVAL`] until `shutdown`.
    pub async fn watch(mut self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Self::INTERVAL) => {}
            }
            self.check().await;
        }
    }

    async fn ping(&self) -> Result<(), String> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| err.to_string())?;
        ::redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(|err| err.to_string())
    }
}
