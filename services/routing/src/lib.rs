//! oms-routing: sends each order to the best fulfilment locations by the
//! merchant's rules, and explains every decision.
//!
//! - [`domain`]: policies, locations and the planner, a pure function.
//! - [`grpc`]: the `oms.routing.v1.RoutingService` handlers.
//! - [`store`]: Postgres: versioned policies and location attributes.
//! - [`inventory`]: the reads from the inventory service a plan needs.
//! - [`error`]: what a call can fail with, and the status it becomes.
//!
//! [`run`] serves it on a listener until shutdown; `main.rs` calls it with the
//! configuration from the environment, tests with a fresh database and the
//! address of a test inventory.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod inventory;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

use oms_platform::{
    client,
    config::{ClientConfig, ConfigError, DatabaseConfig, Env, ServerConfig, Service, Variable},
    db,
    process::{RunError, ServiceConfig},
    server::GrpcServer,
};
use oms_proto::routing::v1::routing_service_server::RoutingServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{domain::PolicySpec, inventory::Inventory, store::Store};

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Everything the routing service is configured with. It has no settings of
/// its own beyond the platform's.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where and how it serves gRPC.
    pub server: ServerConfig,
    /// Its database, `oms_routing` by default.
    pub database: DatabaseConfig,
    /// Where the inventory service is (`OMS_INVENTORY_ADDR`) and client deadlines.
    pub clients: ClientConfig,
}

impl Config {
    /// Reads the configuration; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            server: ServerConfig::from_env(env, Service::Routing)?,
            database: DatabaseConfig::from_env(env, Service::Routing)?,
            clients: ClientConfig::from_env(env)?,
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

    fn variables(service: Service) -> Vec<Variable> {
        [
            ServerConfig::variables(service),
            DatabaseConfig::variables(),
            ClientConfig::variables(),
        ]
        .concat()
    }
}

/// Serves routing on `listener` until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let store = Store::new(pool);
    store
        .ensure_default_policy(&PolicySpec::default_policy())
        .await
        .map_err(|err| RunError::Start(Box::new(err)))?;
    // Lazy: routing starts even while inventory is down; plans then fail
    // with UNAVAILABLE until it is back.
    let inventory = Inventory::new(client::peer_channel(Service::Inventory, &config.clients)?);
    let routing = grpc::Routing::new(store, inventory);
    GrpcServer::new(&config.server)
        .add_service(RoutingServiceServer::new(routing))
        .serve(listener, shutdown)
        .await?;
    Ok(())
}
