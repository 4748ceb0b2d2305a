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
//! In order:
//!
//! 1. the command line: `--help` (every environment variable the service reads,
//!    with its default and meaning) and `--version` print and exit 0 without
//!    starting anything; anything else is a mistake: a message and exit 2;
//! 2. telemetry, then the configuration (a bad value: the variable named, exit 2);
//! 3. Postgres must answer (else a message naming `OMS_DATABASE_URL` and the
//!    server's host:port, exit 1); Redis need not: a warning and the
//!    `oms.redis.available` gauge, watched while the service runs;
//! 4. bind the listener (exit 1 if taken), say "serving", serve until SIGTERM or
//!    SIGINT, drain within the grace period, flush telemetry, exit 0.

use std::{collections::HashSet, ffi::OsString, fmt::Display, future::Future, process::ExitCode};

use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{
        ConfigError, DatabaseConfig, Env, RedisConfig, ServerConfig, Service, TelemetryConfig,
        Variable,
    },
    db,
    redis::Availability,
    shutdown,
    telemetry::Telemetry,
};

/// A service's configuration, which includes how it serves.
///
/// The provided methods fit a service with a database, no Redis, no peers and
/// no settings of its own; a service overrides what differs.
pub trait ServiceConfig {
    /// The server settings.
    fn server(&self) -> &ServerConfig;

    /// The service's database: Postgres must answer before the service says it
    /// serves.
    fn database(&self) -> Option<&DatabaseConfig> {
        None
    }

    /// Redis, if the service uses it (for what can be lost): watched, never
    /// waited for.
    fn redis(&self) -> Option<&RedisConfig> {
        None
    }

    /// Every environment variable the configuration reads, for `--help`.
    fn variables(service: Service) -> Vec<Variable>
    where
        Self: Sized,
    {
        [
            ServerConfig::variables(service),
            DatabaseConfig::variables(),
        ]
        .concat()
    }
}

/// What `--help` lists for `service`: its configuration's variables, then
/// telemetry's, each once.
pub fn variables<C: ServiceConfig>(service: Service) -> Vec<Variable> {
    let mut seen = HashSet::new();
    C::variables(service)
        .into_iter()
        .chain(TelemetryConfig::variables(service.binary_name()))
        .filter(|variable| seen.insert(variable.name.clone()))
        .collect()
}

/// Reads the command line: `Ok` to run the service; `Err` for `--help` and
/// `--version` (exit code 0) and for anything not understood (exit code 2),
/// whose message `Error::print` writes.
pub fn command_line<C: ServiceConfig>(
    service: Service,
    args: impl IntoIterator<Item = impl Into<OsString> + Clone>,
) -> Result<(), clap::Error> {
    clap::Command::new(service.binary_name())
        .version(env!("CARGO_PKG_VERSION"))
        .about(format!(
            "The OMS {} service: serves gRPC until SIGTERM. It takes no arguments: \
             its environment configures it.",
            service.name()
        ))
        .after_help(usage(&variables::<C>(service)))
        .try_get_matches_from(args)
        .map(drop)
}

/// The variables as `--help` lists them: `NAME=default` (or `NAME (unset)`)
/// and the meaning on the next line.
fn usage(variables: &[Variable]) -> String {
    let mut usage = String::from("Environment variables (with their defaults):\n");
    for variable in variables {
        let setting = match &variable.default {
            Some(default) => format!("{}={default}", variable.name),
            None => format!("{} (unset)", variable.name),
        };
        usage.push_str(&format!("  {setting}\n      {}\n", variable.meaning));
    }
    usage
}

/// How a service process ends when it does not end well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The configuration is invalid: exit code 2.
    BadConfig,
    /// The service could not start (e.g. Postgres does not answer) or failed
    /// while serving: exit code 1.
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
    /// No tasks yet; [`Background::spawn`] adds them.
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

/// Runs `service`: reads the command line, then its configuration with `load`,
/// then `run`s it on a listener bound to the configured address until a
/// shutdown signal.
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
    if let Err(err) = command_line::<C>(service, std::env::args_os()) {
        // Help and version to stdout, a mistake to stderr: clap knows which.
        if let Err(print) = err.print() {
            eprintln!("{}: {print}", service.binary_name());
        }
        return u8::try_from(err.exit_code()).map_or(Exit::BadConfig.into(), ExitCode::from);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("{}: cannot start the runtime: {err}", service.binary_name());
            return Exit::Failed.into();
        }
    };
    runtime.block_on(async {
        let env = Env::from_process();
        let telemetry = match TelemetryConfig::from_env(&env, service.binary_name())
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
    if let Some(database) = config.database()
        && let Err(err) = db::check(database).await
    {
        tracing::error!(error = %err, "cannot start");
        eprintln!("{}: cannot start: {err}", service.binary_name());
        return Err(Exit::Failed);
    }
    // Stops the Redis watch when the service stops.
    let _watching = match config.redis() {
        Some(redis) => Some(watch_redis(service, redis).await?),
        None => None,
    };

    let address = config.server().listen_addr.clone();
    let listener = match TcpListener::bind(&address).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%address, error = %err, "cannot listen");
            return Err(Exit::Failed);
        }
    };
    // The bound address: with port 0 the system chose one.
    let bound = listener
        .local_addr()
        .map_or(address, |bound| bound.to_string());
    tracing::info!(
        address = %bound,
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

/// Asks Redis once now, then watches it in the background until the returned
/// guard drops. Only a URL that cannot be used stops the start.
async fn watch_redis(
    service: Service,
    redis: &RedisConfig,
) -> Result<tokio_util::sync::DropGuard, Exit> {
    let mut availability = match Availability::new(redis, &opentelemetry::global::meter("oms")) {
        Ok(availability) => availability,
        Err(err) => {
            tracing::error!(variable = "OMS_REDIS_URL", error = %err, "invalid configuration");
            eprintln!(
                "{}: invalid configuration: OMS_REDIS_URL: {err}",
                service.binary_name()
            );
            return Err(Exit::BadConfig);
        }
    };
    availability.check().await;
    let stop = CancellationToken::new();
    tokio::spawn(availability.watch(stop.clone()));
    Ok(stop.drop_guard())
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

    /// A service with a database.
    struct WithDatabase {
        server: ServerConfig,
        database: DatabaseConfig,
    }

    impl ServiceConfig for WithDatabase {
        fn server(&self) -> &ServerConfig {
            &self.server
        }

        fn database(&self) -> Option<&DatabaseConfig> {
            Some(&self.database)
        }
    }

    #[test]
    fn help_and_version_end_the_process_with_0_and_anything_else_with_2() {
        let help = command_line::<TestConfig>(Service::Order, ["oms-order", "--help"]).unwrap_err();
        assert_eq!(help.exit_code(), 0);
        let text = help.to_string();
        let listed = variables::<TestConfig>(Service::Order);
        for variable in &listed {
            assert!(text.contains(&format!("\n  {}", variable.name)), "{text}");
        }
        for name in ["OMS_ORDER_ADDR", "OMS_DATABASE_URL", "RUST_LOG"] {
            assert!(
                listed.iter().any(|variable| variable.name == name),
                "{name}"
            );
        }
        assert!(text.contains("OMS_REQUEST_TIMEOUT=30s"), "{text}");
        assert!(
            text.contains("OTEL_EXPORTER_OTLP_ENDPOINT (unset)"),
            "{text}"
        );

        let version =
            command_line::<TestConfig>(Service::Order, ["oms-order", "--version"]).unwrap_err();
        assert_eq!(version.exit_code(), 0);
        assert_eq!(
            version.to_string().trim(),
            concat!("oms-order ", env!("CARGO_PKG_VERSION"))
        );

        for mistake in ["--frobnicate", "serve", "-x"] {
            let err =
                command_line::<TestConfig>(Service::Order, ["oms-order", mistake]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{mistake}");
            assert!(err.to_string().contains(mistake), "{err}");
        }
        assert!(command_line::<TestConfig>(Service::Order, ["oms-order"]).is_ok());
    }

    /// `serve` with a `run` that must never be called: the start is refused.
    async fn serve_unless_refused<C: ServiceConfig>(
        env: &Env,
        load: impl FnOnce(&Env) -> Result<C, ConfigError>,
    ) -> Result<(), Exit> {
        let ran = AtomicBool::new(false);
        let exit = serve(Service::Order, env, load, |_, _, _| async {
            ran.store(true, Ordering::SeqCst);
            Ok::<_, String>(())
        })
        .await;
        assert!(!ran.load(Ordering::SeqCst), "the service ran");
        exit
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_the_start_and_never_serves() {
        let env = Env::from_pairs([
            ("OMS_LISTEN_ADDR", "127.0.0.1:0"),
            (
                "OMS_DATABASE_URL",
                "postgres://oms:hunter2@127.0.0.1:1/oms_order",
            ),
        ]);
        let load = |env: &Env| {
            Ok(WithDatabase {
                server: ServerConfig::from_env(env, Service::Order)?,
                database: DatabaseConfig::from_env(env, Service::Order)?,
            })
        };

        assert_eq!(serve_unless_refused(&env, load).await, Err(Exit::Failed));
    }

    #[tokio::test]
    async fn a_bad_configuration_exits_2_and_never_serves() {
        let load = |env: &Env| ServerConfig::from_env(env, Service::Order).map(TestConfig);
        let env = Env::from_pairs([("OMS_CONCURRENCY_LIMIT", "-1")]);

        assert_eq!(serve_unless_refused(&env, load).await, Err(Exit::BadConfig));
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
