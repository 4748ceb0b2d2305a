//! omsctl: the operator's command line for the OMS suite, built on oms-client.
//!
//! ```text
//! omsctl health order                      is it serving? (exit 0 / 1)
//! omsctl orders place ... --wait           place an order and follow its saga
//! omsctl orders get|search|cancel|address|note|tag|timeline
//! omsctl stock locations|location|set|adjust|transfer|availability|low|watch
//! omsctl sagas list|get|retry|compensate
//! omsctl outbox list|redrive <order|shipping|returns>
//! omsctl returns request|approve|receive|inspect|get
//! omsctl orders import FILE               orders from CSV or JSON lines, resumable
//! omsctl shipments labels --order|--location   labels of many shipments to files
//! omsctl carrier deliver|pick-up-return    what a carrier's webhook reports
//! omsctl stats                             orders by status and channel
//! omsctl certs --out .run/certs            a local CA and certificates for mutual TLS
//! omsctl token keys|sign                   a local token signing key; tokens for a subject and roles
//! ```
//!
//! Where: each service at `OMS_<SERVICE>_ADDR` (default `127.0.0.1:5005x`),
//! or `--<service>-addr`, or `--addr` for the service the command talks to.
//! Over mutual TLS (`OMS_TLS=mutual`, or any of `--tls-cert`, `--tls-key`,
//! `--tls-ca`) it presents a client certificate, usually the `operator` one
//! that `omsctl certs` makes; flags win over `OMS_TLS_CERT`, `OMS_TLS_KEY`
//! and `OMS_TLS_CA`. Where the services verify bearer tokens it sends one:
//! `--token`, `--token-file`, else `OMS_TOKEN` or `OMS_TOKEN_FILE`; changes
//! then act as the token's subject (no `--operator` needed). Settings not in
//! the environment are read from a config file of the same variables
//! (`NAME=value` lines, `export` allowed): `--config`, else `OMS_CONFIG`, else
//! `~/.config/oms/omsctl.env` when it exists; flags win over the environment,
//! which wins over the file. Results print as tables, or as JSON with `--json` (the protobuf JSON
//! mapping). Every change is sent with an idempotency key, made for you and
//! printed on stderr; pass it back with `--idempotency-key` to repeat the
//! change safely. A refusal prints its error details as sentences. Exit
//! codes: 0 done, 1 refused or failed, 2 a usage or configuration mistake.
//!
//! Layout: `main.rs` the command line and what every command shares
//! ([`Ctx`], [`Failure`]); one module per area; `parse.rs` what arguments
//! say; `output.rs` tables and JSON.

#![allow(clippy::print_stdout, reason = "a command line prints its results")]

mod bulk;
mod carrier;
mod certs;
mod orders;
mod output;
mod parse;
mod returns;
mod sagas;
mod settings;
mod stock;
mod token;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use oms_client::{CallPolicy, Health, IdempotencyKey, Oms, new_key, status, wait_for_health};
use oms_platform::config::{ClientConfig, ConfigError, Env, Service, TlsConfig};
use oms_proto::common::v1::Actor;
use tonic::Status;

use crate::output::Format;

#[derive(Parser)]
#[command(name = "omsctl", version, about = "Operate the OMS suite")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(clap::Args)]
struct Global {
    /// Print results as JSON (the protobuf JSON mapping) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The address (host:port) of the service this command talks to;
    /// overrides its OMS_<SERVICE>_ADDR.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// The order service's address (else OMS_ORDER_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    order_addr: Option<String>,
    /// The inventory service's address (else OMS_INVENTORY_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    inventory_addr: Option<String>,
    /// The routing service's address (else OMS_ROUTING_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    routing_addr: Option<String>,
    /// The payment service's address (else OMS_PAYMENT_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    payment_addr: Option<String>,
    /// The shipping service's address (else OMS_SHIPPING_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    shipping_addr: Option<String>,
    /// The returns service's address (else OMS_RETURNS_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    returns_addr: Option<String>,
    /// The saga coordinator's address (else OMS_SAGA_ADDR).
    #[arg(long, global = true, value_name = "HOST:PORT")]
    saga_addr: Option<String>,
    /// The idempotency key of the change this command makes: the one printed
    /// by an earlier run repeats that change safely. Made for you when unset.
    #[arg(long, global = true, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Deadline of each call (else OMS_CLIENT_DEADLINE, default 10s).
    #[arg(long, global = true)]
    deadline: Option<humantime::Duration>,
    /// How long `--wait` waits for a saga or a status.
    #[arg(long, global = true, default_value = "60s")]
    wait_timeout: humantime::Duration,
    /// Print no notes on stderr (the idempotency keys made).
    #[arg(long, short, global = true)]
    quiet: bool,
    /// The operator's id, recorded as the actor of every change (default
    /// `omsctl`; with a token, its subject).
    #[arg(long, global = true)]
    operator: Option<String>,
    /// The bearer token (JWT) to send (else OMS_TOKEN).
    #[arg(long, global = true, value_name = "JWT")]
    token: Option<String>,
    /// A file holding the bearer token (else OMS_TOKEN_FILE).
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// A file of settings (`OMS_...=value` lines) read under the environment
    /// (else OMS_CONFIG, else ~/.config/oms/omsctl.env when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// This client's certificate (PEM) for mutual TLS (else OMS_TLS_CERT);
    /// any --tls-* flag turns mutual TLS on.
    #[arg(long, global = true, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// This client's private key (PEM) for mutual TLS (else OMS_TLS_KEY).
    #[arg(long, global = true, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// The CA bundle (PEM) the services' certificates are signed by (else
    /// OMS_TLS_CA).
    #[arg(long, global = true, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
}

impl Global {
    /// The TLS settings: those of the environment, or mutual TLS with the
    /// files the flags name, the others from the environment.
    fn tls(&self, env: &Env, env_tls: TlsConfig) -> Result<TlsConfig, ConfigError> {
        let flags = [
            ("OMS_TLS_CERT", &self.tls_cert),
            ("OMS_TLS_KEY", &self.tls_key),
            ("OMS_TLS_CA", &self.tls_ca),
        ];
        if flags.iter().all(|(_, path)| path.is_none()) {
            return Ok(env_tls);
        }
        let mut pairs = vec![("OMS_TLS".to_owned(), "mutual".to_owned())];
        for (variable, path) in flags {
            let value = match path {
                Some(path) => path.to_string_lossy().into_owned(),
                None => env.get(variable, String::new(), |value| Ok(value.to_owned()))?,
            };
            pairs.push((variable.to_owned(), value));
        }
        TlsConfig::from_env(&Env::from_pairs(pairs))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Check a service's gRPC health (grpc.health.v1).
    Health {
        /// A service of the suite by name (`inventory`: its configured
        /// `OMS_<SERVICE>_ADDR`), or an address, host:port.
        target: String,
        /// The gRPC service to ask about; empty means the server as a whole.
        #[arg(long, default_value = "")]
        service: String,
        /// Keep asking until the service serves or this much time has passed.
        #[arg(long, default_value = "0s")]
        wait: humantime::Duration,
    },
    /// Orders: place, get, search, cancel, change the address, note, tag.
    #[command(subcommand)]
    Orders(orders::OrdersCommand),
    /// Order counts by status and channel, and revenue by day.
    Stats(orders::StatsArgs),
    /// Stock: locations, counts, adjustments, transfers, availability.
    #[command(subcommand)]
    Stock(stock::StockCommand),
    /// Sagas: list, inspect, and fix stuck ones.
    #[command(subcommand)]
    Sagas(sagas::SagasCommand),
    /// Outbox messages of order, shipping or returns: list parked ones,
    /// re-drive them.
    #[command(subcommand)]
    Outbox(sagas::OutboxCommand),
    /// Returns: request, approve, receive, inspect, get.
    #[command(subcommand)]
    Returns(returns::ReturnsCommand),
    /// Shipments: their labels, in bulk.
    #[command(subcommand)]
    Shipments(ShipmentsCommand),
    /// What a carrier reports through its webhook (tracking events), as the
    /// carrier simulator would: parcels picked up and delivered.
    #[command(subcommand)]
    Carrier(carrier::CarrierCommand),
    /// Make a local CA and a certificate for each service and client, for
    /// running the suite over mutual TLS.
    Certs(certs::CertsArgs),
    /// Bearer tokens for a local run: a signing key and its JWKS, and tokens
    /// signed with it.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// The shipment commands.
#[derive(Subcommand)]
enum ShipmentsCommand {
    /// Write the labels of many shipments to a folder, one file each;
    /// labels already written are skipped, so a failed run can be repeated.
    Labels(bulk::LabelsArgs),
}

impl Command {
    /// The service the command talks to first, which `--addr` points at.
    fn service(&self) -> Option<Service> {
        match self {
            Command::Health { .. } | Command::Certs(_) | Command::Token(_) => None,
            Command::Orders(_) | Command::Stats(_) => Some(Service::Order),
            Command::Stock(_) => Some(Service::Inventory),
            Command::Sagas(_) => Some(Service::Saga),
            Command::Outbox(command) => command.service().ok(),
            Command::Returns(_) => Some(Service::Returns),
            Command::Carrier(_) | Command::Shipments(_) => Some(Service::Shipping),
        }
    }
}

/// How long to wait between two looks at something that changes (a saga, a
/// return, an order's status).
pub const POLL: Duration = Duration::from_millis(200);

/// Why a command did not do what it was asked.
#[derive(Debug)]
pub enum Failure {
    /// The command line or configuration is wrong (exit 2).
    Usage(String),
    /// A service refused the call or could not be reached (exit 1).
    Refused {
        /// The service called.
        service: Service,
        /// Its answer.
        status: Status,
    },
    /// Something else went wrong, e.g. a wait ran out (exit 1).
    Failed(String),
}

/// The [`Failure`] of a call to `service` that returned `status`.
pub fn refused(service: Service) -> impl FnOnce(Status) -> Failure {
    move |status| Failure::Refused { service, status }
}

/// What every command gets: the clients, how to print, who acts.
pub struct Ctx {
    /// A client per service.
    pub oms: Oms,
    /// Tables or JSON.
    pub format: Format,
    /// The operator, as the actor of changes.
    pub actor: Actor,
    /// How long waits for sagas and statuses last.
    pub wait: Duration,
    key: Option<IdempotencyKey>,
    quiet: bool,
}

impl Ctx {
    /// The idempotency key of this command's change `what`: the one given
    /// with `--idempotency-key`, else a fresh one; printed on stderr so the
    /// change can be repeated with it.
    pub fn key(&self, what: &str) -> IdempotencyKey {
        let key = self.key.clone().unwrap_or_else(|| new_key("omsctl"));
        if self.quiet {
            return key;
        }
        output::note(format!(
            "{what}: idempotency key {} (repeat safely with --idempotency-key {})",
            key.as_str(),
            key.as_str()
        ));
        key
    }

    /// The key of the `n`th of several changes one command makes: derived
    /// from `--idempotency-key` when given, so a repeat makes the same ones.
    pub fn nth_key(&self, n: usize) -> IdempotencyKey {
        match &self.key {
            Some(key) => IdempotencyKey::parse(format!("{}-{n}", key.as_str()))
                .unwrap_or_else(|_| new_key("omsctl")),
            None => new_key("omsctl"),
        }
    }

    /// The address of `service`, for messages.
    pub fn address(&self, service: Service) -> String {
        self.oms.config().peer(service)
    }

    /// True when results print as JSON.
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Certs(args) = &cli.command {
        return exit(certs::run(args), None);
    }
    if let Command::Token(command) = &cli.command {
        return exit(token::run(command), None);
    }
    let global = cli.global;
    let env = match settings::environment(global.config.as_deref()) {
        Ok(env) => env,
        Err(message) => {
            eprintln!("omsctl: invalid configuration: {message}");
            return ExitCode::from(2);
        }
    };
    let mut config = match ClientConfig::from_env(&env) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("omsctl: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    let token = match settings::token(global.token.as_deref(), global.token_file.as_deref(), &env) {
        Ok(token) => token,
        Err(message) => {
            eprintln!("omsctl: invalid configuration: {message}");
            return ExitCode::from(2);
        }
    };
    let actor = settings::actor(global.operator.as_deref(), token.as_ref());
    config.bearer_token = token;
    config.tls = match global.tls(&env, config.tls) {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("omsctl: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    for (service, address) in [
        (Service::Order, &global.order_addr),
        (Service::Inventory, &global.inventory_addr),
        (Service::Routing, &global.routing_addr),
        (Service::Payment, &global.payment_addr),
        (Service::Shipping, &global.shipping_addr),
        (Service::Returns, &global.returns_addr),
        (Service::Saga, &global.saga_addr),
    ] {
        if let Some(address) = address {
            config.peers.insert(service, address.clone());
        }
    }
    if let (Some(address), Some(service)) = (&global.addr, cli.command.service()) {
        config.peers.insert(service, address.clone());
    }
    let key = match global
        .idempotency_key
        .map(IdempotencyKey::parse)
        .transpose()
    {
        Ok(key) => key,
        Err(err) => {
            eprintln!("omsctl: invalid --idempotency-key: {err}");
            return ExitCode::from(2);
        }
    };
    let deadline = global
        .deadline
        .map_or(config.default_deadline, Duration::from);
    let policy = CallPolicy::default().with_deadline(deadline);
    let oms = match Oms::connect(&config, policy) {
        Ok(oms) => oms,
        Err(err) => {
            eprintln!("omsctl: {err}");
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx {
        oms,
        format: if global.json {
            Format::Json
        } else {
            Format::Text
        },
        actor,
        wait: global.wait_timeout.into(),
        key,
        quiet: global.quiet,
    };
    let outcome = match cli.command {
        Command::Health {
            target,
            service,
            wait,
        } => return health(&target, &service, wait.into(), &config, global.addr).await,
        Command::Orders(command) => orders::run(&ctx, command).await,
        Command::Stats(args) => orders::stats(&ctx, args).await,
        Command::Stock(command) => stock::run(&ctx, command).await,
        Command::Sagas(command) => sagas::run(&ctx, command).await,
        Command::Outbox(command) => sagas::outbox(&ctx, command).await,
        Command::Returns(command) => returns::run(&ctx, command).await,
        Command::Carrier(command) => carrier::run(&ctx, command).await,
        Command::Shipments(ShipmentsCommand::Labels(args)) => bulk::labels(&ctx, args).await,
        Command::Certs(_) | Command::Token(_) => Ok(()),
    };
    exit(outcome, Some(&ctx))
}

/// The exit code of a command's `outcome`, its failure printed first.
fn exit(outcome: Result<(), Failure>, ctx: Option<&Ctx>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("omsctl: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Refused { service, status }) => {
            let address = ctx.map_or_else(String::new, |ctx| ctx.address(service));
            eprintln!(
                "omsctl: the {service} service at {address} answered {}",
                status::describe(&status)
            );
            ExitCode::FAILURE
        }
        Err(Failure::Failed(message)) => {
            eprintln!("omsctl: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The service named `name`, or a usage failure listing the names.
pub fn service_named(name: &str) -> Result<Service, Failure> {
    Service::ALL
        .into_iter()
        .find(|service| service.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = Service::ALL.iter().map(|service| service.name()).collect();
            Failure::Usage(format!(
                "unknown service {name:?}; the services are {}",
                names.join(", ")
            ))
        })
}

async fn health(
    target: &str,
    service: &str,
    wait: Duration,
    config: &ClientConfig,
    addr: Option<String>,
) -> ExitCode {
    let address = if let Some(address) = addr {
        address
    } else if target.contains(':') {
        target.to_owned()
    } else {
        match service_named(target) {
            Ok(known) => config.peer(known),
            Err(Failure::Usage(message)) => {
                eprintln!("omsctl: {message}");
                return ExitCode::from(2);
            }
            Err(_) => return ExitCode::from(2),
        }
    };
    match wait_for_health(&address, service, wait, config).await {
        Health::Serving => {
            eprintln!("{address}: SERVING");
            ExitCode::SUCCESS
        }
        Health::NotServing(status) => {
            eprintln!("{address}: {status}");
            ExitCode::FAILURE
        }
        Health::Unreachable(reason) => {
            eprintln!("{address}: unreachable: {reason}");
            ExitCode::FAILURE
        }
    }
}
