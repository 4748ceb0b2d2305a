//! oms-order: takes orders from every channel exactly once, keeps each order's
//! status and timeline exact, and starts its sagas through an outbox.
//!
//! - [`domain`]: values of an order, the state machines, totals.
//! - [`grpc`]: the `oms.order.v1.OrderService` handlers.
//! - [`store`]: Postgres: orders, lines, notes, timeline, outbox.
//! - [`outbox`]: delivers queued saga starts to the coordinator.
//!
//! [`run`] serves it on a listener until shutdown; `main.rs` calls it with the
//! configuration from the environment, tests with a fresh database.

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
    order::v1::order_service_server::OrderServiceServer,
    saga::v1::saga_service_client::SagaServiceClient,
};
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, sync::Notify};
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Everything the order service is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC server: where it listens, its timeouts and limits.
    pub server: ServerConfig,
    /// The service's own Postgres database and its pool.
    pub database: DatabaseConfig,
    /// Where the saga coordinator is (`OMS_SAGA_ADDR`).
    pub client: ClientConfig,
    /// How often the outbox looks for due saga starts when not woken
    /// (`OMS_ORDER_OUTBOX_POLL`).
    pub outbox_poll: Duration,
}

impl Config {
    const OUTBOX_POLL: Duration = Duration::from_secs(1);

    /// The configuration from the environment, with local defaults; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Ok(Config {
            server: ServerConfig::from_env(env, Service::Order)?,
            database: DatabaseConfig::from_env(env, Service::Order)?,
            client: ClientConfig::from_env(env)?,
            outbox_poll: env.duration("OMS_ORDER_OUTBOX_POLL", Self::OUTBOX_POLL)?,
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
                "OMS_ORDER_OUTBOX_POLL",
                Self::OUTBOX_POLL,
                "how often the order service looks for saga starts to deliver",
            )],
        ]
        .concat()
    }
}

/// Serves the order service on `listener` until `shutdown`, with the outbox
/// dispatcher in the background.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let store = Store::new(pool);
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

    let served = GrpcServer::new(&config.server)
        .add_service(OrderServiceServer::new(grpc::Orders::new(store, wake)))
        .add_service(outbox_admin.into_server())
        .serve(listener, shutdown)
        .await;
    background.stop().await;
    served?;
    Ok(())
}
