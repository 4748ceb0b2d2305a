//! The life of a service process, so each `main.rs` is one call:
//!
//! ```no_run
//! # struct Config { server: oms_platform::config::ServerConfig }
//! # impl oms_platform::process::ServiceConfig for Config {
//! #     fn server(&self) -> &oms_platform::config::ServerConfig { &self.server }
//! # }
//! # impl Config { fn from_env(env: &oms_platform::config::Env) -> Result<Self, oms_platform::config::ConfigError> { todo!() } }
//! # async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: tokio_util::sync::CancellationToken) -> std::io::Result<()> { Ok(()) }
//! use oms_platform::{config::Service, process};
//!
//! fn main() -> std::process::ExitCode {
//!     process::main(Service::Inventory, Config::from_env, run)
//! }
//! ```
//!
//! In order: telemetry, configuration (a bad value: the variable named, exit 2),
//! bind the listener (exit 1 if taken), serve until SIGTERM or SIGINT, drain
//! within the grace period, flush telemetry, exit 0.

use std::{fmt::Display, future::Future, process::ExitCode};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{ConfigError, Env, ServerConfig, Service, TelemetryConfig},
    shutdown,
    telemetry::Telemetry,
};

/// A service's configuration, which includes how it serves.
pub trait ServiceConfig {
    /// The server settings.
    fn server(&self) -> &ServerConfig;
}

/// How a service process ends when it does not end well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The configuration is invalid: exit code 2.
    BadConfig,
    /// The service could not start or failed while serving: exit code 1.
    Failed,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        match exit {
            Exit::BadConfig => ExitCode::from(2),
            Exit::Failed => ExitCode::from(1),
        }
    }
}

/// Why a service's `run` could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The database could not be created, reached or migrated.
    #[error("database: {0}")]
    Database(#[from] crate::db::DbError),
    /// The Redis URL is not one.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// A peer's address is not one.
    #[error("peer address: {0}")]
    Peer(#[from] crate::client::ClientError),
    /// The server failed.
    #[error(transparent)]
    Serve(#[from] crate::server::ServeError),
    /// A service's own start-up step failed (e.g. writing a default).
    #[error("start: {0}")]
    Start(Box<dyn std::error::Error + Send + Sync>),
}

/// Tasks that run beside a service's server (outbox dispatchers, sweeps,
/// feeds): they outlive the drain of calls, so work accepted during the drain
/// is still carried out, and stop after it.
pub struct Background {
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    pub fn new() -> Background {
        Background {
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// The token the tasks stop on.
    pub fn shutdown(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs `task` until [`Background::stop`].
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.push(tokio::spawn(task));
    }

    /// Stops every task and waits for it to end.
    pub async fn stop(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            if let Err(err) = task.await {
                tracing::error!(error = %err, "background task failed");
            }
        }
    }
}

impl Default for Background {
    fn default() -> Self {
        Background::new()
    }
}

/// Runs `service`: reads its configuration with `load`, then `run`s it on a
/// listener bound to the configured address until a shutdown signal.
pub fn main<C, R, F, E>(
    service: Service,
    load: impl FnOnce(&Env) -> Result<C, ConfigError>,
    run: R,
) -> ExitCode
where
    C: ServiceConfig,
    R: FnOnce(C, TcpListener, CancellationToken) -> F,
    F: Future<Output = Result<(), E>>,
    E: Display,
{
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{}: cannot start the runtime: {err}", service.binary_name());
            return Exit::Failed.into();
        }
    };
    runtime.block_on(async {
        let env = Env::from_process();
        let telemetry = match TelemetryConfig::from_env(&env, &service.binary_name())
            .map_err(|err| err.to_string())
            .and_then(|config| Telemetry::init(&config).map_err(|err| err.to_string()))
        {
            Ok(telemetry) => telemetry,
            Err(err) => {
                eprintln!("{}: invalid configuration: {err}", service.binary_name());
                return Exit::BadConfig.into();
            }
        };
        let code = match serve(service, &env, load, run).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(exit) => exit.into(),
        };
        // The exporters block while flushing; keep the runtime's threads free.
        if let Err(err) = tokio::task::spawn_blocking(move || telemetry.shutdown()).await {
            eprintln!(
                "{}: flushing telemetry failed: {err}",
                service.binary_name()
            );
        }
        code
    })
}

async fn serve<C, R, F, E>(
    service: Service,
    env: &Env,
    load: impl FnOnce(&Env) -> Result<C, ConfigError>,
    run: R,
) -> Result<(), Exit>
where
    C: ServiceConfig,
    R: FnOnce(C, TcpListener, CancellationToken) -> F,
    F: Future<Output = Result<(), E>>,
    E: Display,
{
    let config = match load(env) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(variable = %err.variable, reason = %err.reason, "invalid configuration");
            eprintln!("{}: invalid configuration: {err}", service.binary_name());
            return Err(Exit::BadConfig);
        }
    };
    let address = config.server().listen_addr.clone();
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%address, error = %err, "cannot listen");
            return Err(Exit::Failed);
        }
    };
    tracing::info!(
        %address,
        version = env!("CARGO_PKG_VERSION"),
        service = service.name(),
        "serving"
    );
    run(config, listener, shutdown::on_signal())
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "service failed");
            Exit::Failed
        })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    struct TestConfig(ServerConfig);

    impl ServiceConfig for TestConfig {
        fn server(&self) -> &ServerConfig {
            &self.0
        }
    }

    fn load_on(address: &str) -> impl FnOnce(&Env) -> Result<TestConfig, ConfigError> {
        let env = Env::from_pairs([("OMS_LISTEN_ADDR", address)]);
        move |_| Ok(TestConfig(ServerConfig::from_env(&env, Service::Order)?))
    }

    #[tokio::test]
    async fn a_bad_configuration_exits_2_and_never_serves() {
        let ran = AtomicBool::new(false);
        let load = |env: &Env| ServerConfig::from_env(env, Service::Order).map(TestConfig);
        let env = Env::from_pairs([("OMS_CONCURRENCY_LIMIT", "-1")]);

        let exit = serve(Service::Order, &env, load, |_, _, _| async {
            ran.store(true, Ordering::SeqCst);
            Ok::<_, String>(())
        })
        .await;

        assert_eq!(exit, Err(Exit::BadConfig));
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn an_address_in_use_fails_to_start() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = taken.local_addr().unwrap().to_string();

        let exit = serve(
            Service::Order,
            &Env::default(),
            load_on(&address),
            |_, _, _| async { Ok::<_, String>(()) },
        )
        .await;

        assert_eq!(exit, Err(Exit::Failed));
    }

    #[tokio::test]
    async fn run_gets_a_listener_on_the_configured_address_and_its_result_decides_the_exit() {
        let exit = serve(
            Service::Order,
            &Env::default(),
            load_on("127.0.0.1:0"),
            |config, listener, _| async move {
                let bound = listener.local_addr().map_err(|err| err.to_string())?;
                assert_eq!(config.server().listen_addr, "127.0.0.1:0");
                assert_eq!(bound.ip().to_string(), "127.0.0.1");
                Ok::<_, String>(())
            },
        )
        .await;
        assert_eq!(exit, Ok(()));

        let exit = serve(
            Service::Order,
            &Env::default(),
            load_on("127.0.0.1:0"),
            |_, _, _| async { Err("lost the database".to_owned()) },
        )
        .await;
        assert_eq!(exit, Err(Exit::Failed));
    }
}
