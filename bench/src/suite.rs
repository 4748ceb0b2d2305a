//! The suite under test: the seven release binaries started as processes,
//! each on its own port with its own database (`oms_bench_<service>`, dropped
//! and created anew each run, so a developer's `make up` data is never
//! touched) and its own Redis key prefix (`oms-bench:<service>:`, whose keys
//! are deleted at the start).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use sqlx::{Connection as _, PgConnection};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// The services, in the order of their default ports (50051 to 50057).
pub const SERVICES: [&str; 7] = [
    "order",
    "inventory",
    "routing",
    "payment",
    "shipping",
    "returns",
    "saga",
];

/// Every database the bench creates starts with this.
pub const DATABASE_PREFIX: &str = "oms_bench_";

/// The Postgres server every service and the bench use.
pub const SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// The database of `service` in this bench.
pub fn database(service: &str) -> String {
    format!("{DATABASE_PREFIX}{service}")
}

/// The URL of `database` on the local server.
pub fn database_url(database: &str) -> String {
    format!("{SERVER_URL}/{database}")
}

/// One running service.
pub struct Process {
    /// Its name, e.g. `order`.
    pub service: &'static str,
    /// Its address, `127.0.0.1:<port>`.
    pub address: String,
    /// Its process id.
    pub pid: u32,
    child: Child,
}

/// The running suite.
pub struct Suite {
    /// One process per service, in [`SERVICES`] order.
    pub processes: Vec<Process>,
}

impl Suite {
    /// Drops and creates the bench's databases, clears its Redis keys, starts
    /// every service from `bin_dir` with ports from `base_port` on, and
    /// returns once each reports SERVING. Logs go to `log_dir`, at `log_level`
    /// (`RUST_LOG`); spans and metrics to `otlp_endpoint` if given.
    pub async fn start(
        bin_dir: &Path,
        base_port: u16,
        log_dir: &Path,
        log_level: &str,
        otlp_endpoint: Option<&str>,
    ) -> anyhow::Result<Suite> {
        std::fs::create_dir_all(log_dir)?;
        reset_databases().await?;
        clear_redis_keys().await?;
        let addresses: Vec<String> = (0..SERVICES.len())
            .map(|i| format!("127.0.0.1:{}", base_port + u16::try_from(i).unwrap_or(0)))
            .collect();
        for address in &addresses {
            if std::net::TcpListener::bind(address).is_err() {
                bail!("{address} is taken: pass --base-port to use other ports");
            }
        }
        let mut processes = Vec::new();
        for (service, address) in SERVICES.iter().zip(&addresses) {
            let binary = bin_dir.join(format!("oms-{service}"));
            let log = std::fs::File::create(log_dir.join(format!("{service}.log")))?;
            let mut command = Command::new(&binary);
            match otlp_endpoint {
                Some(endpoint) => command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
                None => command.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT"),
            };
            command
                .env_remove("OMS_LISTEN_ADDR")
                .env("OMS_DATABASE_URL", database_url(&database(service)))
                .env("OMS_REDIS_KEY_PREFIX", format!("oms-bench:{service}:"))
                .env("RUST_LOG", log_level)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true);
            for (peer, peer_address) in SERVICES.iter().zip(&addresses) {
                command.env(
                    format!("OMS_{}_ADDR", peer.to_ascii_uppercase()),
                    peer_address,
                );
            }
            let child = command
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            let pid = child.id().context("the child has no pid")?;
            processes.push(Process {
                service,
                address: address.clone(),
                pid,
                child,
            });
        }
        let suite = Suite { processes };
        for process in &suite.processes {
            wait_serving(&process.address, Duration::from_secs(120))
                .await
                .with_context(|| {
                    format!(
                        "{} is not serving; its log is {}",
                        process.service,
                        log_dir.join(format!("{}.log", process.service)).display()
                    )
                })?;
        }
        Ok(suite)
    }

    /// A channel to `service`.
    pub fn channel(&self, service: &str) -> anyhow::Result<Channel> {
        let process = self
            .processes
            .iter()
            .find(|process| process.service == service)
            .with_context(|| format!("no service {service}"))?;
        Ok(
            Endpoint::from_shared(format!("http://{}", process.address))?
                .tcp_nodelay(true)
                .connect_lazy(),
        )
    }

    /// Sends SIGTERM to every service and waits for each to exit (killing
    /// any still running after 30 seconds).
    pub async fn stop(mut self) {
        for process in &self.processes {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &process.pid.to_string()])
                .status();
        }
        for process in &mut self.processes {
            if tokio::time::timeout(Duration::from_secs(30), process.child.wait())
                .await
                .is_err()
            {
                let _ = process.child.kill().await;
            }
        }
    }
}

/// Where `cargo build --release` put the binaries: `target/release` beside
/// the running bench.
pub fn release_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

/// Drops every database of an earlier run (and of the pgbench ceiling), so
/// each service creates its own anew at start.
async fn reset_databases() -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(&database_url("postgres"))
        .await
        .context("connecting to the local Postgres (is it running? `make deps`)")?;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
            .bind(format!("{DATABASE_PREFIX}%"))
            .fetch_all(&mut conn)
            .await?;
    for name in names {
        // The names come from the catalog and match the prefix, so quoting
        // them is enough.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
    }
    Ok(())
}

/// Deletes the keys under the bench's Redis prefix, with the Redis CLI (the
/// services' caches and locks; Postgres is the source of truth either way).
async fn clear_redis_keys() -> anyhow::Result<()> {
    let output = Command::new("redis-cli")
        .args(["--scan", "--pattern", "oms-bench:*"])
        .output()
        .await
        .context("running redis-cli")?;
    let keys: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for chunk in keys.chunks(500) {
        Command::new("redis-cli")
            .arg("DEL")
            .args(chunk)
            .stdout(Stdio::null())
            .status()
            .await?;
    }
    Ok(())
}

/// Waits until the server at `address` reports SERVING.
async fn wait_serving(address: &str, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    let endpoint = Endpoint::from_shared(format!("http://{address}"))?;
    loop {
        if let Ok(channel) = endpoint.connect().await {
            let answer = HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await;
            if answer
                .is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32)
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("{address} did not report SERVING within {wait:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
