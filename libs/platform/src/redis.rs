//! Redis: one multiplexed connection per service, reconnecting on its own.
//!
//! Redis holds only what can be lost (locks with a TTL, caches): Postgres is the
//! truth. The connection is made lazily, so a service starts, and degrades
//! instead of failing, while Redis is down.

use std::time::Duration;

use ::redis::{Client, RedisError, aio::ConnectionManager, aio::ConnectionManagerConfig};

use crate::config::RedisConfig;

/// A connection manager for `config.url`; it connects on first use and
/// reconnects after a failure. Commands fail fast (1s) rather than hold a call.
pub fn connect(config: &RedisConfig) -> Result<ConnectionManager, RedisError> {
    let client = Client::open(config.url.as_str())?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, manager_config)
}
