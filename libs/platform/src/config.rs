//! Configuration from environment variables, with defaults that work on a
//! developer machine (local Postgres and Redis, the suite's standard ports).
//!
//! [`Env`] reads variables from the process or, in tests, from a map. Each part of
//! the platform has its own config struct (`ServerConfig`, `DatabaseConfig`, ...)
//! built from an `Env`; a service's own config composes them. A bad value is a
//! [`ConfigError`] that names the variable, and the service exits non-zero.
//!
//! Each config struct also lists the variables it reads as [`Variable`]s, with
//! their defaults and meanings, for a service's `--help`.

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::auth::{BearerToken, TokenConfig};
use sqlx::postgres::PgConnectOptions;

/// The services of the suite: their names, default ports and databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// The order service.
    Order,
    /// The inventory service.
    Inventory,
    /// The routing service.
    Routing,
    /// The payment service.
    Payment,
    /// The shipping service.
    Shipping,
    /// The returns service.
    Returns,
    /// The saga coordinator.
    Saga,
}

impl Service {
    /// Every service, in port order.
    pub const ALL: [Service; 7] = [
        Service::Order,
        Service::Inventory,
        Service::Routing,
        Service::Payment,
        Service::Shipping,
        Service::Returns,
        Service::Saga,
    ];

    /// The short name used in folders, databases, k8s labels and span prefixes.
    pub fn name(self) -> &'static str {
        match self {
            Service::Order => "order",
            Service::Inventory => "inventory",
            Service::Routing => "routing",
            Service::Payment => "payment",
            Service::Shipping => "shipping",
            Service::Returns => "returns",
            Service::Saga => "saga",
        }
    }

    /// The crate and binary name, e.g. `oms-inventory`; also the OpenTelemetry
    /// `service.name`.
    pub fn binary_name(self) -> &'static str {
        match self {
            Service::Order => "oms-order",
            Service::Inventory => "oms-inventory",
            Service::Routing => "oms-routing",
            Service::Payment => "oms-payment",
            Service::Shipping => "oms-shipping",
            Service::Returns => "oms-returns",
            Service::Saga => "oms-saga",
        }
    }

    /// The port the service listens on unless configured otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Service::Order => 50051,
            Service::Inventory => 50052,
            Service::Routing => 50053,
            Service::Payment => 50054,
            Service::Shipping => 50055,
            Service::Returns => 50056,
            Service::Saga => 50057,
        }
    }

    /// The variable holding the service's address, e.g. `OMS_INVENTORY_ADDR`.
    pub fn addr_var(self) -> String {
        format!("OMS_{}_ADDR", self.name().to_ascii_uppercase())
    }

    /// The database the service owns unless `OMS_DATABASE_URL` names one.
    pub fn database_name(self) -> String {
        format!("oms_{}", self.name())
    }

    /// Where the service is on a developer machine: `127.0.0.1:<port>`.
    pub fn default_addr(self) -> String {
        format!("127.0.0.1:{}", self.default_port())
    }

    /// The address of the service: `OMS_<SERVICE>_ADDR`, or the default one.
    pub fn addr(self, env: &Env) -> Result<String, ConfigError> {
        env.get(&self.addr_var(), self.default_addr(), parse_host_port)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A configuration value that could not be used. The message names the variable.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: String,
    /// Why its value was refused.
    pub reason: String,
}

/// An environment variable a service reads, as its `--help` and the README
/// list it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    /// Its name, e.g. `OMS_REQUEST_TIMEOUT`.
    pub name: String,
    /// The value that applies when it is unset, written as one would set it
    /// (`30s`); `None` when unset means the feature is off.
    pub default: Option<String>,
    /// What it sets, in a few words.
    pub meaning: &'static str,
}

impl Variable {
    /// A variable whose default is `default`.
    pub fn new(name: impl Into<String>, default: impl Into<String>, meaning: &'static str) -> Self {
        Variable {
            name: name.into(),
            default: Some(default.into()),
            meaning,
        }
    }

    /// A duration variable, its default written as `Env::duration` reads it.
    pub fn duration(name: impl Into<String>, default: Duration, meaning: &'static str) -> Self {
        Variable::new(
            name,
            humantime::format_duration(default).to_string(),
            meaning,
        )
    }

    /// A variable that turns something on, off when unset.
    pub fn unset(name: impl Into<String>, meaning: &'static str) -> Self {
        Variable {
            name: name.into(),
            default: None,
            meaning,
        }
    }
}

/// Environment variables to read configuration from.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, Result<String, ()>>,
    /// The names asked for so far, so a test can check that `--help` lists
    /// every variable a configuration reads.
    read: Arc<Mutex<BTreeSet<String>>>,
}

impl Env {
    /// The variables of this process.
    pub fn from_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(name, value)| {
                let name = name.into_string().ok()?;
                Some((name, value.into_string().map_err(drop)))
            })
            .collect();
        Env {
            vars,
            read: Arc::default(),
        }
    }

    /// The given variables only: for tests, which must not change the process
    /// environment other tests read at the same time.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let vars = pairs
            .into_iter()
            .map(|(name, value)| (name.into(), Ok(value.into())))
            .collect();
        Env {
            vars,
            read: Arc::default(),
        }
    }

    /// Every variable asked for so far, set or not, in name order.
    pub fn names_read(&self) -> Vec<String> {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The raw value of a variable, if it is set and not empty.
    fn raw(&self, name: &str) -> Result<Option<&str>, ConfigError> {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(name.to_owned());
        match self.vars.get(name) {
            None => Ok(None),
            Some(Err(())) => Err(ConfigError {
                variable: name.to_owned(),
                reason: "value is not valid UTF-8".to_owned(),
            }),
            Some(Ok(value)) if value.trim().is_empty() => Ok(None),
            Some(Ok(value)) => Ok(Some(value.trim())),
        }
    }

    /// A variable parsed by `parse`, or `default` when unset.
    pub fn get<T>(
        &self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        match self.raw(name)? {
            None => Ok(default),
            Some(value) => parse(value).map_err(|reason| ConfigError {
                variable: name.to_owned(),
                reason,
            }),
        }
    }

    /// A variable parsed with `FromStr`, or `default` when unset.
    pub fn parse<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.get(name, default, |value| {
            value
                .parse()
                .map_err(|err| format!("{err} (got {value:?})"))
        })
    }

    /// A duration such as `500ms`, `10s` or `2m`, or `default` when unset.
    pub fn duration(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        self.get(name, default, |value| {
            humantime::parse_duration(value).map_err(|err| format!("{err} (got {value:?})"))
        })
    }
}

fn parse_host_port(value: &str) -> Result<String, String> {
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("expected host:port, got {value:?}"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("expected host:port, got {value:?}"));
    }
    Ok(value.to_owned())
}

fn positive<T: FromStr + PartialOrd + Default + fmt::Display>(value: &str) -> Result<T, String> {
    match value.parse::<T>() {
        Ok(number) if number > T::default() => Ok(number),
        _ => Err(format!("expected a positive whole number, got {value:?}")),
    }
}

/// How a service serves gRPC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Where to listen: `OMS_LISTEN_ADDR`, else the service's own
    /// `OMS_<SERVICE>_ADDR`. In a container this is `0.0.0.0:<port>`.
    pub listen_addr: String,
    /// Longest a call may run when the caller sets no shorter deadline:
    /// `OMS_REQUEST_TIMEOUT`, default 30s.
    pub request_timeout: Duration,
    /// Calls served at once before new ones queue: `OMS_CONCURRENCY_LIMIT`,
    /// default 256.
    pub concurrency_limit: usize,
    /// How long in-flight calls may finish after SIGTERM: `OMS_SHUTDOWN_GRACE`,
    /// default 20s (k8s kills a pod 30s after SIGTERM).
    pub shutdown_grace: Duration,
    /// Plaintext or mutual TLS: `OMS_TLS` and its files.
    pub tls: TlsConfig,
    /// The keys that verify bearer tokens: `OMS_JWT_KEYS` and its checks;
    /// `None` when tokens are not configured.
    pub tokens: Option<TokenConfig>,
    /// Reflection, and a plaintext health port for probes: `OMS_REFLECTION`
    /// and `OMS_HEALTH_ADDR`.
    pub exposure: ExposureConfig,
}

impl ServerConfig {
    const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    const CONCURRENCY_LIMIT: usize = 256;
    const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

    /// Reads the server settings of `service`.
    pub fn from_env(env: &Env, service: Service) -> Result<Self, ConfigError> {
        let own_addr = service.addr(env)?;
        Ok(ServerConfig {
            listen_addr: env.get("OMS_LISTEN_ADDR", own_addr, parse_host_port)?,
            request_timeout: env.duration("OMS_REQUEST_TIMEOUT", Self::REQUEST_TIMEOUT)?,
            concurrency_limit: env.get(
                "OMS_CONCURRENCY_LIMIT",
                Self::CONCURRENCY_LIMIT,
                positive,
            )?,
            shutdown_grace: env.duration("OMS_SHUTDOWN_GRACE", Self::SHUTDOWN_GRACE)?,
            tls: TlsConfig::from_env(env)?,
            tokens: TokenConfig::from_env(env)?,
            exposure: ExposureConfig::from_env(env)?,
        })
    }

    /// The variables [`ServerConfig::from_env`] reads.
    pub fn variables(service: Service) -> Vec<Variable> {
        vec![
            Variable::new(
                service.addr_var(),
                service.default_addr(),
                "this service's address, where its peers call it",
            ),
            Variable::new(
                "OMS_LISTEN_ADDR",
                service.default_addr(),
                "where to listen when not at the service's address, e.g. 0.0.0.0:<port> in a container",
            ),
            Variable::duration(
                "OMS_REQUEST_TIMEOUT",
                Self::REQUEST_TIMEOUT,
                "longest a call may run on the server",
            ),
            Variable::new(
                "OMS_CONCURRENCY_LIMIT",
                Self::CONCURRENCY_LIMIT.to_string(),
                "calls served at once; more queue",
            ),
            Variable::duration(
                "OMS_SHUTDOWN_GRACE",
                Self::SHUTDOWN_GRACE,
                "time for calls in flight after SIGTERM",
            ),
        ]
        .into_iter()
        .chain(TlsConfig::variables())
        .chain(TokenConfig::variables())
        .chain(ExposureConfig::variables())
        .collect()
    }
}

/// How a service calls its peers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Peer addresses, from each service's `OMS_<SERVICE>_ADDR`.
    pub peers: HashMap<Service, String>,
    /// Deadline of a call that sets none itself: `OMS_CLIENT_DEADLINE`, default 10s.
    pub default_deadline: Duration,
    /// How long to wait for a TCP connection: `OMS_CONNECT_TIMEOUT`, default 2s.
    pub connect_timeout: Duration,
    /// Plaintext or mutual TLS, with this process's certificate: `OMS_TLS` and
    /// its files.
    pub tls: TlsConfig,
    /// The bearer token every call carries, for clients acting for someone
    /// (omsctl, a channel's connector); services calling each other send
    /// none, so [`ClientConfig::from_env`] leaves it unset.
    pub bearer_token: Option<BearerToken>,
}

impl ClientConfig {
    const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
    const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Reads peer addresses and client timeouts.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut peers = HashMap::new();
        for service in Service::ALL {
            peers.insert(service, service.addr(env)?);
        }
        Ok(ClientConfig {
            peers,
            default_deadline: env.duration("OMS_CLIENT_DEADLINE", Self::DEFAULT_DEADLINE)?,
            connect_timeout: env.duration("OMS_CONNECT_TIMEOUT", Self::CONNECT_TIMEOUT)?,
            tls: TlsConfig::from_env(env)?,
            bearer_token: None,
        })
    }

    /// The variables [`ClientConfig::from_env`] reads.
    pub fn variables() -> Vec<Variable> {
        let peers = Service::ALL.into_iter().map(|service| {
            Variable::new(
                service.addr_var(),
                service.default_addr(),
                "a peer service's address",
            )
        });
        peers
            .chain([
                Variable::duration(
                    "OMS_CLIENT_DEADLINE",
                    Self::DEFAULT_DEADLINE,
                    "deadline of calls to peers that set none",
                ),
                Variable::duration(
                    "OMS_CONNECT_TIMEOUT",
                    Self::CONNECT_TIMEOUT,
                    "how long a connection to a peer may take",
                ),
            ])
            .chain(TlsConfig::variables())
            .collect()
    }

    /// The address of a peer service.
    pub fn peer(&self, service: Service) -> String {
        self.peers
            .get(&service)
            .cloned()
            .unwrap_or_else(|| service.default_addr())
    }
}

/// Whether gRPC runs in plaintext or over mutual TLS, the same for the server
/// and the clients of a process.
///
/// With `OMS_TLS=mutual` every server presents this process's certificate and
/// asks callers for theirs, and every channel presents it to its peers; both
/// trust only certificates signed by the suite's CA. A caller's identity is the
/// `spiffe://oms/<name>` URI in its certificate, which [`crate::access`]
/// checks against the table of who may call what.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsConfig {
    /// Plaintext, for local development: `OMS_TLS=off`, the default for now.
    #[default]
    Off,
    /// Mutual TLS with these certificates: `OMS_TLS=mutual`.
    Mutual(TlsFiles),
}

/// The PEM files of mutual TLS, read when the configuration loads.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// This process's certificate chain: `OMS_TLS_CERT`.
    pub cert: Vec<u8>,
    /// This process's private key: `OMS_TLS_KEY`.
    pub key: Vec<u8>,
    /// The CA bundle that signs the suite's certificates: `OMS_TLS_CA`.
    pub ca: Vec<u8>,
}

/// Leaves the key out, so the config can be logged.
impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFiles")
            .field("cert_bytes", &self.cert.len())
            .field("ca_bytes", &self.ca.len())
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads `OMS_TLS` and, for `mutual`, the three files it needs: each must
    /// exist and hold PEM of the right kind.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mutual = env.get("OMS_TLS", false, |value| {
            match value.to_ascii_lowercase().as_str() {
                "off" => Ok(false),
                "mutual" => Ok(true),
                _ => Err(format!("expected off or mutual, got {value:?}")),
            }
        })?;
        let path = |name: &str| env.get(name, None, |value| Ok(Some(value.to_owned())));
        let (cert, key, ca) = (
            path("OMS_TLS_CERT")?,
            path("OMS_TLS_KEY")?,
            path("OMS_TLS_CA")?,
        );
        if !mutual {
            return Ok(TlsConfig::Off);
        }
        Ok(TlsConfig::Mutual(TlsFiles {
            cert: read_pem("OMS_TLS_CERT", cert, PemKind::Certificate)?,
            key: read_pem("OMS_TLS_KEY", key, PemKind::PrivateKey)?,
            ca: read_pem("OMS_TLS_CA", ca, PemKind::Certificate)?,
        }))
    }

    /// The variables [`TlsConfig::from_env`] reads.
    pub fn variables() -> Vec<Variable> {
        vec![
            Variable::new(
                "OMS_TLS",
                "off",
                "off (plaintext) or mutual (TLS with client certificates)",
            ),
            Variable::unset(
                "OMS_TLS_CERT",
                "this process's certificate chain (PEM), for OMS_TLS=mutual",
            ),
            Variable::unset(
                "OMS_TLS_KEY",
                "this process's private key (PEM), for OMS_TLS=mutual",
            ),
            Variable::unset(
                "OMS_TLS_CA",
                "the CA bundle that signs the suite's certificates (PEM), for OMS_TLS=mutual",
            ),
        ]
    }

    /// The files, when TLS is on.
    pub fn files(&self) -> Option<&TlsFiles> {
        match self {
            TlsConfig::Off => None,
            TlsConfig::Mutual(files) => Some(files),
        }
    }
}

/// What a PEM file must hold.
#[derive(Clone, Copy)]
enum PemKind {
    /// One or more X.509 certificates.
    Certificate,
    /// One private key.
    PrivateKey,
}

/// The contents of the PEM file at `path`, named by `variable`, checked to
/// hold what `kind` says.
fn read_pem(variable: &str, path: Option<String>, kind: PemKind) -> Result<Vec<u8>, ConfigError> {
    let error = |reason: String| ConfigError {
        variable: variable.to_owned(),
        reason,
    };
    let path = path.ok_or_else(|| error("required with OMS_TLS=mutual".to_owned()))?;
    let contents =
        std::fs::read(&path).map_err(|err| error(format!("cannot read {path:?}: {err}")))?;
    let blocks: Vec<x509_parser::pem::Pem> = x509_parser::pem::Pem::iter_from_buffer(&contents)
        .collect::<Result<_, _>>()
        .map_err(|_| error(format!("{path:?} is not PEM")))?;
    let fits = match kind {
        PemKind::Certificate => {
            !blocks.is_empty()
                && blocks
                    .iter()
                    .all(|block| block.label == "CERTIFICATE" && block.parse_x509().is_ok())
        }
        PemKind::PrivateKey => {
            blocks.len() == 1
                && blocks
                    .iter()
                    .all(|block| block.label.ends_with("PRIVATE KEY"))
        }
    };
    if !fits {
        let expected = match kind {
            PemKind::Certificate => "X.509 certificates",
            PemKind::PrivateKey => "one private key",
        };
        return Err(error(format!("{path:?} does not hold {expected} in PEM")));
    }
    Ok(contents)
}

/// What a server offers besides its own services: reflection for tools, and
/// a second, plaintext port serving health alone for probes that cannot
/// speak mutual TLS (the kubelet's gRPC probes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExposureConfig {
    /// Whether the server answers reflection (v1 and v1alpha):
    /// `OMS_REFLECTION=on|off`, default on. Production may turn it off, so
    /// no caller can list the contracts; grpcurl then needs the protos.
    pub reflection: bool,
    /// Where to serve `grpc.health.v1.Health`, and nothing else, in
    /// plaintext: `OMS_HEALTH_ADDR`, e.g. `0.0.0.0:8086`; unset, no such port.
    pub health_addr: Option<String>,
}

impl Default for ExposureConfig {
    /// Reflection on, no health port: a developer machine's settings.
    fn default() -> Self {
        ExposureConfig {
            reflection: true,
            health_addr: None,
        }
    }
}

impl ExposureConfig {
    /// Reads `OMS_REFLECTION` and `OMS_HEALTH_ADDR`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let reflection = env.get("OMS_REFLECTION", true, |value| {
            match value.to_ascii_lowercase().as_str() {
                "on" => Ok(true),
                "off" => Ok(false),
                _ => Err(format!("expected on or off, got {value:?}")),
            }
        })?;
        let health_addr = env.get("OMS_HEALTH_ADDR", None, |value| {
            parse_host_port(value).map(Some)
        })?;
        Ok(ExposureConfig {
            reflection,
            health_addr,
        })
    }

    /// The variables [`ExposureConfig::from_env`] reads.
    pub fn variables() -> Vec<Variable> {
        vec![
            Variable::new(
                "OMS_REFLECTION",
                "on",
                "on or off: whether the server answers gRPC reflection",
            ),
            Variable::unset(
                "OMS_HEALTH_ADDR",
                "when set, e.g. 0.0.0.0:8086, grpc.health.v1 alone is served there in plaintext, for probes",
            ),
        ]
    }
}

/// Where a service keeps its data in Postgres.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// Connection options: `OMS_DATABASE_URL` (default
    /// `postgres://postgres@127.0.0.1:5432`); the database is the URL's own, or
    /// `oms_<service>` when the URL names none.
    pub options: PgConnectOptions,
    /// Connections in the pool: `OMS_DATABASE_POOL_SIZE`, default 5. The whole suite
    /// shares one server that allows 100.
    pub pool_size: u32,
    /// How long a query waits for a free connection before the call fails with
    /// UNAVAILABLE: `OMS_DATABASE_ACQUIRE_TIMEOUT`, default 5s.
    pub acquire_timeout: Duration,
}

/// The server the suite uses unless `OMS_DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432";

impl DatabaseConfig {
    const POOL_SIZE: u32 = 5;
    const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

    /// Reads the database settings of `service`.
    pub fn from_env(env: &Env, service: Service) -> Result<Self, ConfigError> {
        let url = env.get(
            "OMS_DATABASE_URL",
            DEFAULT_DATABASE_URL.to_owned(),
            |value| Ok(value.to_owned()),
        )?;
        let invalid = || ConfigError {
            variable: "OMS_DATABASE_URL".to_owned(),
            // Never the value: it may hold a password.
            reason: "expected a postgres:// URL".to_owned(),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid());
        }
        let options = url.parse::<PgConnectOptions>().map_err(|_| invalid())?;
        let options = match options.get_database() {
            Some(_) => options,
            None => options.database(&service.database_name()),
        };
        Ok(DatabaseConfig {
            options,
            pool_size: env.get("OMS_DATABASE_POOL_SIZE", Self::POOL_SIZE, positive)?,
            acquire_timeout: env.duration("OMS_DATABASE_ACQUIRE_TIMEOUT", Self::ACQUIRE_TIMEOUT)?,
        })
    }

    /// The variables [`DatabaseConfig::from_env`] reads.
    pub fn variables() -> Vec<Variable> {
        vec![
            Variable::new(
                "OMS_DATABASE_URL",
                DEFAULT_DATABASE_URL,
                "Postgres; the database is oms_<service> unless the URL names one",
            ),
            Variable::new(
                "OMS_DATABASE_POOL_SIZE",
                Self::POOL_SIZE.to_string(),
                "connections per service (the server allows 100 in all)",
            ),
            Variable::duration(
                "OMS_DATABASE_ACQUIRE_TIMEOUT",
                Self::ACQUIRE_TIMEOUT,
                "how long a call waits for a free connection before it is UNAVAILABLE",
            ),
        ]
    }

    /// The name of the database.
    pub fn database_name(&self) -> &str {
        self.options.get_database().unwrap_or_default()
    }
}

/// Leaves the password out, so the config can be logged.
impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("host", &self.options.get_host())
            .field("port", &self.options.get_port())
            .field("username", &self.options.get_username())
            .field("database", &self.database_name())
            .field("pool_size", &self.pool_size)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// Where a service keeps its caches in Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `OMS_REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub url: String,
    /// Prepended to every key the service writes: `OMS_REDIS_KEY_PREFIX`, default
    /// `oms:<service>:`. Tests get a prefix of their own.
    pub key_prefix: String,
}

/// The Redis a service uses unless `OMS_REDIS_URL` says otherwise.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

impl RedisConfig {
    /// Reads the Redis settings of `service`.
    pub fn from_env(env: &Env, service: Service) -> Result<Self, ConfigError> {
        let url = env.get("OMS_REDIS_URL", DEFAULT_REDIS_URL.to_owned(), |value| {
            if value.starts_with("redis://") || value.starts_with("rediss://") {
                Ok(value.to_owned())
            } else {
                Err("expected a redis:// or rediss:// URL".to_owned())
            }
        })?;
        let key_prefix = env.get(
            "OMS_REDIS_KEY_PREFIX",
            format!("oms:{}:", service.name()),
            |value| Ok(value.to_owned()),
        )?;
        Ok(RedisConfig { url, key_prefix })
    }

    /// The variables [`RedisConfig::from_env`] reads.
    pub fn variables(service: Service) -> Vec<Variable> {
        vec![
            Variable::new("OMS_REDIS_URL", DEFAULT_REDIS_URL, "Redis, for caches only"),
            Variable::new(
                "OMS_REDIS_KEY_PREFIX",
                format!("oms:{}:", service.name()),
                "prefix of every key the service writes",
            ),
        ]
    }

    /// The full key for `suffix`, within this service's prefix.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.key_prefix)
    }
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logs, traces and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, default `oms-<service>`.
    pub service_name: String,
    /// `RUST_LOG` directives, default `info`.
    pub log_filter: String,
    /// `OMS_LOG_FORMAT`: `text` (default) or `json`.
    pub log_format: LogFormat,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: when set, traces and metrics are exported
    /// there over OTLP/gRPC.
    pub otlp_endpoint: Option<String>,
}

impl TelemetryConfig {
    /// Reads the telemetry settings of the process named `service_name`.
    pub fn from_env(env: &Env, service_name: &str) -> Result<Self, ConfigError> {
        let log_format = env.get("OMS_LOG_FORMAT", LogFormat::Text, |value| {
            match value.to_ascii_lowercase().as_str() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err(format!("expected text or json, got {value:?}")),
            }
        })?;
        let otlp_endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", None, |value| {
            if value.starts_with("http://") || value.starts_with("https://") {
                Ok(Some(value.to_owned()))
            } else {
                Err(format!(
                    "expected an http:// or https:// URL, got {value:?}"
                ))
            }
        })?;
        Ok(TelemetryConfig {
            service_name: env.parse("OTEL_SERVICE_NAME", service_name.to_owned())?,
            log_filter: env.parse("RUST_LOG", "info".to_owned())?,
            log_format,
            otlp_endpoint,
        })
    }

    /// The variables [`TelemetryConfig::from_env`] reads.
    pub fn variables(service_name: &str) -> Vec<Variable> {
        vec![
            Variable::new("OMS_LOG_FORMAT", "text", "text or json"),
            Variable::new("RUST_LOG", "info", "log filter"),
            Variable::unset(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "when set, traces and metrics go there over OTLP/gRPC",
            ),
            Variable::new(
                "OTEL_SERVICE_NAME",
                service_name,
                "the service name in traces and metrics",
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_a_developer_machine() {
        let env = Env::default();
        let server = ServerConfig::from_env(&env, Service::Inventory).unwrap();
        assert_eq!(server.listen_addr, "127.0.0.1:50052");
        assert_eq!(server.shutdown_grace, Duration::from_secs(20));
        let database = DatabaseConfig::from_env(&env, Service::Inventory).unwrap();
        assert_eq!(database.database_name(), "oms_inventory");
        assert_eq!(database.options.get_host(), "127.0.0.1");
        let redis = RedisConfig::from_env(&env, Service::Inventory).unwrap();
        assert_eq!(redis.key("lock:sku-1"), "oms:inventory:lock:sku-1");
        let clients = ClientConfig::from_env(&env).unwrap();
        assert_eq!(clients.peer(Service::Saga), "127.0.0.1:50057");
    }

    #[test]
    fn a_binary_is_named_after_its_service() {
        for service in Service::ALL {
            assert_eq!(service.binary_name(), format!("oms-{}", service.name()));
        }
    }

    #[test]
    fn a_bad_number_names_the_variable() {
        let env = Env::from_pairs([("OMS_CONCURRENCY_LIMIT", "lots")]);
        let err = ServerConfig::from_env(&env, Service::Order).unwrap_err();
        assert_eq!(err.variable, "OMS_CONCURRENCY_LIMIT");
        assert!(
            err.to_string().starts_with("OMS_CONCURRENCY_LIMIT: "),
            "{err}"
        );
        assert!(err.to_string().contains("\"lots\""), "{err}");
    }

    #[test]
    fn zero_is_not_a_pool_size() {
        let env = Env::from_pairs([("OMS_DATABASE_POOL_SIZE", "0")]);
        let err = DatabaseConfig::from_env(&env, Service::Order).unwrap_err();
        assert_eq!(err.variable, "OMS_DATABASE_POOL_SIZE");
    }

    #[test]
    fn a_bad_duration_names_the_variable() {
        let env = Env::from_pairs([("OMS_SHUTDOWN_GRACE", "soon")]);
        let err = ServerConfig::from_env(&env, Service::Saga).unwrap_err();
        assert_eq!(err.variable, "OMS_SHUTDOWN_GRACE");
    }

    #[test]
    fn a_bad_peer_address_names_the_peer_variable() {
        let env = Env::from_pairs([("OMS_PAYMENT_ADDR", "payment")]);
        let err = ClientConfig::from_env(&env).unwrap_err();
        assert_eq!(err.variable, "OMS_PAYMENT_ADDR");
    }

    #[test]
    fn a_bad_database_url_is_refused_without_echoing_it() {
        let env = Env::from_pairs([("OMS_DATABASE_URL", "mysql://root:hunter2@db")]);
        let err = DatabaseConfig::from_env(&env, Service::Order).unwrap_err();
        assert_eq!(err.variable, "OMS_DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_logged_database_config_holds_no_password() {
        let env = Env::from_pairs([("OMS_DATABASE_URL", "postgres://oms:hunter2@db/oms")]);
        let database = DatabaseConfig::from_env(&env, Service::Order).unwrap();
        let logged = format!("{database:?}");
        assert!(!logged.contains("hunter2"), "{logged}");
        assert!(logged.contains("\"db\""), "{logged}");
    }

    #[test]
    fn a_database_named_in_the_url_wins() {
        let env = Env::from_pairs([("OMS_DATABASE_URL", "postgres://oms@db:5433/orders_eu")]);
        let database = DatabaseConfig::from_env(&env, Service::Order).unwrap();
        assert_eq!(database.database_name(), "orders_eu");
        assert_eq!(database.options.get_port(), 5433);
    }

    #[test]
    fn listen_addr_overrides_the_service_addr() {
        let env = Env::from_pairs([
            ("OMS_ORDER_ADDR", "order:50051"),
            ("OMS_LISTEN_ADDR", "0.0.0.0:50051"),
        ]);
        let server = ServerConfig::from_env(&env, Service::Order).unwrap();
        assert_eq!(server.listen_addr, "0.0.0.0:50051");
    }

    #[test]
    fn log_format_and_otlp_endpoint_are_checked() {
        let env = Env::from_pairs([("OMS_LOG_FORMAT", "xml")]);
        let err = TelemetryConfig::from_env(&env, "oms-order").unwrap_err();
        assert_eq!(err.variable, "OMS_LOG_FORMAT");

        let env = Env::from_pairs([
            ("OMS_LOG_FORMAT", "JSON"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
        ]);
        let telemetry = TelemetryConfig::from_env(&env, "oms-order").unwrap();
        assert_eq!(telemetry.log_format, LogFormat::Json);
        assert_eq!(
            telemetry.otlp_endpoint.as_deref(),
            Some("http://collector:4317")
        );
        assert_eq!(telemetry.service_name, "oms-order");
    }

    #[test]
    fn reflection_is_on_and_no_health_port_is_served_by_default() {
        let server = ServerConfig::from_env(&Env::default(), Service::Order).unwrap();
        assert_eq!(server.exposure, ExposureConfig::default());
        assert!(server.exposure.reflection);
        assert_eq!(server.exposure.health_addr, None);
    }

    #[test]
    fn reflection_turns_off_and_a_health_port_is_read() {
        let env = Env::from_pairs([
            ("OMS_REFLECTION", "OFF"),
            ("OMS_HEALTH_ADDR", "0.0.0.0:8086"),
        ]);
        let server = ServerConfig::from_env(&env, Service::Payment).unwrap();
        assert!(!server.exposure.reflection);
        assert_eq!(server.exposure.health_addr.as_deref(), Some("0.0.0.0:8086"));
    }

    #[test]
    fn a_bad_reflection_setting_or_health_address_names_its_variable() {
        let env = Env::from_pairs([("OMS_REFLECTION", "maybe")]);
        let err = ServerConfig::from_env(&env, Service::Order).unwrap_err();
        assert_eq!(err.variable, "OMS_REFLECTION");
        assert!(err.to_string().contains("\"maybe\""), "{err}");

        let env = Env::from_pairs([("OMS_HEALTH_ADDR", "8086")]);
        let err = ServerConfig::from_env(&env, Service::Order).unwrap_err();
        assert_eq!(err.variable, "OMS_HEALTH_ADDR");
    }

    #[test]
    fn empty_values_mean_unset() {
        let env = Env::from_pairs([("OMS_REQUEST_TIMEOUT", "  ")]);
        let server = ServerConfig::from_env(&env, Service::Order).unwrap();
        assert_eq!(server.request_timeout, Duration::from_secs(30));
    }
}
