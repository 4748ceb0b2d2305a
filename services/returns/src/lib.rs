//! oms-returns: return merchandise authorisations from request to refund or
//! exchange. It judges eligibility against the order (read through the order
//! contract) and the channel's return policy, runs each return through its
//! state machine, and decides the restock list and the refund amount; the
//! return saga, started through an outbox at approval, moves the goods and
//! the money and records the results here.
//!
//! - [`domain`]: statuses and the transition table, policies, eligibility,
//!   the refund arithmetic.
//! - [`grpc`]: the `oms.returns.v1.ReturnsService` handlers.
//! - [`store`]: Postgres: policies, returns, lines and timelines.
//! - [`outbox`]: delivers queued return saga starts to the coordinator.
//!
//! [`run`] serves it on a listener until shutdown.

pub mod domain;
pub mod error;
pub mod grpc;
pub mod outbox;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::{sync::Arc, time::Duration};

use oms_platform::{
    client,
    config::{ClientConfig, ConfigError, DatabaseConfig, Env, ServerConfig, Service, Variable},
    db,
    process::{Background, RunError, ServiceConfig},
    server::GrpcServer,
};
use oms_proto::{
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    returns::v1::returns_service_server::ReturnsServiceServer,
    saga::v1::saga_service_client::SagaServiceClient,
};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, sync::Notify};
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Everything the returns service is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC server: where it listens, its timeouts and limits.
    pub server: ServerConfig,
    /// The service's own Postgres database and its pool.
    pub database: DatabaseConfig,
    /// Where the order service (`OMS_ORDER_ADDR`, orders read for
    /// eligibility), the inventory service (`OMS_INVENTORY_ADDR`, locations
    /// checked) and the saga coordinator (`OMS_SAGA_ADDR`) are.
    pub client: ClientConfig,
    /// How often the outbox looks for due saga starts when not woken
    /// (`OMS_RETURNS_OUTBOX_POLL`).
    pub outbox_poll: Duration,
}

impl Config {
    const OUTBOX_POLL: Duration = Duration::from_secs(1);

    /// The configuration from the environment, with local defaults; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            server: ServerConfig::from_env(env, Service::Returns)?,
            database: DatabaseConfig::from_env(env, Service::Returns)?,
            client: ClientConfig::from_env(env)?,
            outbox_poll: env.duration("OMS_RETURNS_OUTBOX_POLL", Self::OUTBOX_POLL)?,
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
            vec![Variable::duration(
                "OMS_RETURNS_OUTBOX_POLL",
                Self::OUTBOX_POLL,
                "how often the returns service looks for due saga starts to deliver when not woken",
            )],
        ]
        .concat()
    }
}

/// Serves the returns service on `listener` until `shutdown`, with the outbox
/// dispatcher in the background.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let store = Store::new(pool);
    let orders = OrderServiceClient::new(client::peer_channel(Service::Order, &config.client)?);
    let inventory =
        InventoryServiceClient::new(client::peer_channel(Service::Inventory, &config.client)?);
    let saga = SagaServiceClient::new(client::peer_channel(Service::Saga, &config.client)?);

    let mut background = Background::new();
    background.spawn(oms_platform::idempotency::run_purge(
        store.pool().clone(),
        oms_platform::idempotency::RETENTION,
        background.shutdown(),
    ));
    let wake = Arc::new(Notify::new());
    let dispatcher = oms_platform::outbox::Dispatcher::new(
        store.pool().clone(),
        outbox::SagaCourier::new(saga),
        wake.clone(),
        oms_platform::outbox::Settings::new(config.outbox_poll),
    );
    background.spawn(dispatcher.run(background.shutdown()));
    let outbox_admin = oms_platform::outbox::OutboxAdmin::new(store.pool().clone(), wake.clone());

    let api = grpc::ReturnsApi::new(store, orders, inventory, wake);
    let served = GrpcServer::new(&config.server)
        .add_service(ReturnsServiceServer::new(api))
        .add_service(outbox_admin.into_server())
        .serve(listener, shutdown)
        .await;
    background.stop().await;
    served?;
    Ok(())
}
