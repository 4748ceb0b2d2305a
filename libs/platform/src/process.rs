//! The life of a service process, so each `main.rs` is one call:
//!
//! ```no_run
//! # struct Config { server: oms_platform::config::ServerConfig }
//! # impl oms_platform::process::ServiceConfig for Config {
//! #     fn server(&self) -> &oms_platform::config::ServerConfig { &self.server }
//! # }
//! # impl Config { fn from_env(env: &oms_platform::config::Env) -> Result<Self, oms_platform::config::ConfigError> { todo!() } }
//! # async fn run(config: Config, listener: tokio::net::TcpListener, shutdown: tokio_util::sync::CancellationToken) -> anyhow::Result<()> { Ok(()) }
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

use tokio::net::TcpListener;
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

/// Exit code of a process whose configuration is invalid.
pub const EXIT_BAD_CONFIG: u8 = 2;
/// Exit code of a process that failed to start or to serve.
pub const EXIT_FAILED: u8 = 1;

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
            return ExitCode::from(EXIT_FAILED);
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
                return ExitCode::from(EXIT_BAD_CONFIG);
            }
        };
        let code = serve(service, &env, load, run).await;
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
) -> ExitCode
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
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let address = config.server().listen_addr.clone();
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%address, error = %err, "cannot listen");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    tracing::info!(
        %address,
        version = env!("CARGO_PKG_VERSION"),
        service = service.name(),
        "serving"
    );
    match run(config, listener, shutdown::on_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "service failed");
            ExitCode::from(EXIT_FAILED)
        }
    }
}
