//! oms-inventory: one true picture of stock across warehouses, stores and 3PL
//! sites, and reservations that never oversell.
//!
//! - [`domain`]: identifiers, stock figures, the reservation state machine.
//! - [`grpc`]: the `oms.inventory.v1.InventoryService` handlers, by area.
//! - [`store`]: Postgres, the truth; every change and its ledger entry.
//! - [`reservations`]: Reserve, Release, CommitReservation and expiry, each
//!   owning its transactions.
//! - [`group_commit`]: Reserve decided in groups, one commit for the many
//!   orders of a hot SKU or of many SKUs at once.
//! - [`expiry`]: the sweep that returns the stock of lapsed holds.
//! - [`feed`]: the ledger feed behind WatchAvailability and the cache.
//!
//! [`run`] serves it all on a listener until shutdown; `main.rs` calls it with
//! the configuration from the environment, tests with a fresh database.

pub mod cache;
pub mod domain;
pub mod error;
pub mod expiry;
pub mod feed;
pub mod group_commit;
pub mod grpc;
pub mod reservations;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::{sync::Arc, time::Duration};

use oms_platform::{
    config::{ConfigError, DatabaseConfig, Env, RedisConfig, ServerConfig, Service, Variable},
    db,
    process::{Background, RunError, ServiceConfig},
    server::GrpcServer,
};
use oms_proto::inventory::v1::inventory_service_server::InventoryServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{cache::AvailabilityCache, feed::LedgerFeed, grpc::WatchConfig, store::Store};

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Everything the inventory service is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC server: where it listens, its timeouts and limits.
    pub server: ServerConfig,
    /// The service's own Postgres database and its pool.
    pub database: DatabaseConfig,
    /// Redis, for the availability cache; its key prefix.
    pub redis: RedisConfig,
    /// How often lapsed holds are looked for (`OMS_INVENTORY_EXPIRY_INTERVAL`).
    pub expiry_interval: Duration,
    /// How often the ledger feed looks for other instances' changes
    /// (`OMS_INVENTORY_LEDGER_POLL`).
    pub ledger_poll: Duration,
    /// Heartbeat of idle WatchAvailability streams (`OMS_INVENTORY_WATCH_HEARTBEAT`).
    pub watch_heartbeat: Duration,
    /// Life of a cached availability entry; 0 turns the cache off
    /// (`OMS_INVENTORY_AVAILABILITY_CACHE_TTL`).
    pub availability_cache_ttl: Duration,
}

impl Config {
    const EXPIRY_INTERVAL: Duration = Duration::from_secs(1);
    const LEDGER_POLL: Duration = Duration::from_millis(50);
    const WATCH_HEARTBEAT: Duration = Duration::from_secs(15);
    const AVAILABILITY_CACHE_TTL: Duration = Duration::from_secs(5);

    /// The default of every setting, with these connections.
    pub fn new(server: ServerConfig, database: DatabaseConfig, redis: RedisConfig) -> Config {
        Config {
            server,
            database,
            redis,
            expiry_interval: Self::EXPIRY_INTERVAL,
            ledger_poll: Self::LEDGER_POLL,
            watch_heartbeat: Self::WATCH_HEARTBEAT,
            availability_cache_ttl: Self::AVAILABILITY_CACHE_TTL,
        }
    }

    /// The configuration from the environment, with local defaults; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let defaults = Config::new(
            ServerConfig::from_env(env, Service::Inventory)?,
            DatabaseConfig::from_env(env, Service::Inventory)?,
            RedisConfig::from_env(env, Service::Inventory)?,
        );
        Ok(Config {
            expiry_interval: env
                .duration("OMS_INVENTORY_EXPIRY_INTERVAL", defaults.expiry_interval)?,
            ledger_poll: env.duration("OMS_INVENTORY_LEDGER_POLL", defaults.ledger_poll)?,
            watch_heartbeat: env
                .duration("OMS_INVENTORY_WATCH_HEARTBEAT", defaults.watch_heartbeat)?,
            availability_cache_ttl: env.duration(
                "OMS_INVENTORY_AVAILABILITY_CACHE_TTL",
                defaults.availability_cache_ttl,
            )?,
            ..defaults
        })
    }
}

impl ServiceConfig for Config {
    fn server(&self) -> &ServerConfig {
        &self.server
    }

    fn database(&self) -> Option<&DatabaseConfig> {
        Some(&self.database)
    }

    fn redis(&self) -> Option<&RedisConfig> {
        Some(&self.redis)
    }

    fn variables(service: Service) -> Vec<Variable> {
        [
            ServerConfig::variables(service),
            DatabaseConfig::variables(),
            RedisConfig::variables(service),
            vec![
                Variable::duration(
                    "OMS_INVENTORY_EXPIRY_INTERVAL",
                    Self::EXPIRY_INTERVAL,
                    "how often lapsed holds are returned to stock",
                ),
                Variable::duration(
                    "OMS_INVENTORY_LEDGER_POLL",
                    Self::LEDGER_POLL,
                    "how often the ledger feed looks for other instances' changes",
                ),
                Variable::duration(
                    "OMS_INVENTORY_WATCH_HEARTBEAT",
                    Self::WATCH_HEARTBEAT,
                    "heartbeat of an idle WatchAvailability stream",
                ),
                Variable::duration(
                    "OMS_INVENTORY_AVAILABILITY_CACHE_TTL",
                    Self::AVAILABILITY_CACHE_TTL,
                    "life of a cached availability entry in Redis; 0s turns the cache off",
                ),
            ],
        ]
        .concat()
    }
}

/// Serves the inventory on `listener` until `shutdown`, with its background
/// tasks: the ledger feed and the expiry sweep.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let store = Store::new(pool).with_group_pool(store::group_pool(&config.database).await?);
    let redis = oms_platform::redis::connect(&config.redis)?;
    let cache = Arc::new(AvailabilityCache::new(
        redis,
        config.redis.key_prefix.clone(),
        config.availability_cache_ttl,
    ));
    let mut background = Background::new();
    let feed = LedgerFeed::new();
    background.spawn(feed.clone().run(
        store.clone(),
        cache.clone(),
        config.ledger_poll,
        background.shutdown(),
    ));
    background.spawn(expiry::run(
        store.clone(),
        feed.clone(),
        config.expiry_interval,
        background.shutdown(),
    ));
    background.spawn(oms_platform::idempotency::run_purge(
        store.pool().clone(),
        oms_platform::idempotency::RETENTION,
        background.shutdown(),
    ));

    let inventory = grpc::Inventory::new(
        store,
        cache,
        feed,
        WatchConfig {
            heartbeat: config.watch_heartbeat,
            view_check: config.watch_heartbeat.min(Duration::from_secs(5)),
        },
        shutdown.clone(),
    );
    let served = GrpcServer::new(&config.server)
        .add_service(InventoryServiceServer::new(inventory))
        .serve(listener, shutdown)
        .await;
    background.stop().await;
    served?;
    Ok(())
}
