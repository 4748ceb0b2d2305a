//! oms-payment: holds an order's money through a payment service provider
//! (PSP): Authorize, Capture, Void and Refund with PSP tokens only, each call
//! idempotent and passed through to the PSP with the caller's key.
//!
//! - [`domain`]: payment methods, the payment state machine, money totals.
//! - [`psp`]: the PSP trait and the deterministic [`psp::PspSimulator`].
//! - [`payments`]: asking the PSP, and resolving unknown outcomes (the
//!   reconciler).
//! - [`grpc`]: the `oms.payment.v1.PaymentService` handlers.
//! - [`store`]: Postgres: payments and their transactions.
//!
//! [`run`] serves it on a listener until shutdown with the simulator configured
//! from the environment; [`run_with_psp`] takes any PSP (tests keep a handle on
//! the simulator to count its charges).

pub mod domain;
pub mod error;
pub mod grpc;
pub mod payments;
pub mod psp;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::{sync::Arc, time::Duration};

use oms_platform::{
    config::{ConfigError, DatabaseConfig, Env, ServerConfig, Service, Variable},
    db,
    process::{Background, RunError, ServiceConfig},
    server::GrpcServer,
};
use oms_proto::payment::v1::payment_service_server::PaymentServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    payments::Payments,
    psp::{Psp, PspSimulator, SimulatorConfig},
    store::Store,
};

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Everything the payment service is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC server: where it listens, its timeouts and limits.
    pub server: ServerConfig,
    /// The service's own Postgres database and its pool.
    pub database: DatabaseConfig,
    /// Fault injection of the PSP simulator (`OMS_PAYMENT_PSP_FAILURE_RATE`,
    /// `OMS_PAYMENT_PSP_LATENCY`, `OMS_PAYMENT_PSP_SEED`).
    pub simulator: SimulatorConfig,
    /// How long a PSP call may take before its outcome counts as unknown
    /// (`OMS_PAYMENT_PSP_TIMEOUT`).
    pub psp_timeout: Duration,
    /// How often the reconciler asks the PSP about transactions left PENDING
    /// for at least this long (`OMS_PAYMENT_RECONCILE_INTERVAL`).
    pub reconcile_interval: Duration,
}

impl Config {
    const PSP_TIMEOUT: Duration = Duration::from_secs(5);
    const RECONCILE_INTERVAL: Duration = Duration::from_secs(30);
    const PSP_SEED: u64 = 1;

    /// The configuration from the environment, with local defaults; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        const FAILURE_RATE: &str = "OMS_PAYMENT_PSP_FAILURE_RATE";
        let failure_rate: f64 = env.parse(FAILURE_RATE, 0.0)?;
        if !(0.0..=1.0).contains(&failure_rate) {
            return Err(ConfigError {
                variable: FAILURE_RATE.to_owned(),
                reason: "must be between 0 and 1".to_owned(),
            });
        }
        Ok(Config {
            server: ServerConfig::from_env(env, Service::Payment)?,
            database: DatabaseConfig::from_env(env, Service::Payment)?,
            simulator: SimulatorConfig {
                failure_rate,
                latency: env.duration("OMS_PAYMENT_PSP_LATENCY", Duration::ZERO)?,
                seed: env.parse("OMS_PAYMENT_PSP_SEED", Self::PSP_SEED)?,
            },
            psp_timeout: env.duration("OMS_PAYMENT_PSP_TIMEOUT", Self::PSP_TIMEOUT)?,
            reconcile_interval: env
                .duration("OMS_PAYMENT_RECONCILE_INTERVAL", Self::RECONCILE_INTERVAL)?,
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
            vec![
                Variable::duration(
                    "OMS_PAYMENT_PSP_TIMEOUT",
                    Self::PSP_TIMEOUT,
                    "how long a PSP call may take; after it the transaction stays PENDING (outcome unknown)",
                ),
                Variable::duration(
                    "OMS_PAYMENT_RECONCILE_INTERVAL",
                    Self::RECONCILE_INTERVAL,
                    "how often transactions PENDING for at least this long are resolved by asking the PSP",
                ),
                Variable::new(
                    "OMS_PAYMENT_PSP_FAILURE_RATE",
                    "0",
                    "share of calls, 0 to 1, the PSP simulator refuses as unavailable (fault tests)",
                ),
                Variable::duration(
                    "OMS_PAYMENT_PSP_LATENCY",
                    Duration::ZERO,
                    "time the PSP simulator takes to answer each call",
                ),
                Variable::new(
                    "OMS_PAYMENT_PSP_SEED",
                    Self::PSP_SEED.to_string(),
                    "seed of the simulator's failure draws, so a run repeats exactly",
                ),
            ],
        ]
        .concat()
    }
}

/// Serves the payment service on `listener` until `shutdown`, with the PSP
/// simulator as its PSP, keeping its state in the service's database.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let psp = Arc::new(PspSimulator::new(
        config.simulator.clone(),
        &config.database,
    ));
    run_with_psp(config, psp, listener, shutdown).await
}

/// Serves the payment service with `psp`, and the reconciler in the background.
pub async fn run_with_psp(
    config: Config,
    psp: Arc<dyn Psp>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let payments = Payments::new(Store::new(pool), psp, config.psp_timeout);

    let mut background = Background::new();
    // Older retries still find their transaction by key, so they never act twice.
    background.spawn(oms_platform::idempotency::run_purge(
        payments.store.pool().clone(),
        oms_platform::idempotency::RETENTION,
        background.shutdown(),
    ));
    background.spawn(payments::run_reconciler(
        payments.clone(),
        config.reconcile_interval,
        background.shutdown(),
    ));

    let served = GrpcServer::new(&config.server)
        .add_service(PaymentServiceServer::new(grpc::PaymentApi::new(payments)))
        .serve(listener, shutdown)
        .await;
    background.stop().await;
    served?;
    Ok(())
}
