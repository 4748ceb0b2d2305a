//! oms-saga: the saga coordinator. It runs every flow that spans services
//! (order fulfilment now; cancellation and returns next) as a durable saga:
//! each step a call to another service with a deterministic idempotency key,
//! each outcome written to Postgres before the next step, compensations in
//! reverse order when a step fails before the pivot, and STUCK with a reason
//! for operators when a saga cannot finish.
//!
//! - [`domain`]: sagas, steps and the rules that move them (no I/O).
//! - [`flows`]: the flows, one per file: their steps as data and their calls.
//! - [`engine`]: runs sagas under leases with fencing, one commit per step,
//!   woken in-process, with a poll as the fallback.
//! - [`store`]: Postgres: the sagas table.
//! - [`grpc`]: `oms.saga.v1.SagaService`: starts, reads, operator actions.
//! - [`metrics`]: sagas by outcome, step latency, retries, STUCK sagas.
//!
//! [`run`] serves it all on a listener until shutdown.

pub mod domain;
pub mod engine;
pub mod error;
pub mod flows;
pub mod grpc;
pub mod metrics;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::time::Duration;

use oms_platform::{
    client,
    config::{ClientConfig, ConfigError, DatabaseConfig, Env, ServerConfig, Service, Variable},
    db, idempotency,
    process::{Background, RunError, ServiceConfig},
    server::GrpcServer,
};
use oms_proto::{
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    payment::v1::payment_service_client::PaymentServiceClient,
    returns::v1::returns_service_client::ReturnsServiceClient,
    routing::v1::routing_service_client::RoutingServiceClient,
    saga::v1::saga_service_server::SagaServiceServer,
    shipping::v1::{Parcel, shipping_service_client::ShippingServiceClient},
};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    engine::{
        Engine, EngineSettings, Pause,
        context::{FlowSettings, Peers},
    },
    metrics::Metrics,
    store::Store,
};

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Everything the coordinator is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The gRPC server: where it listens, its timeouts and limits.
    pub server: ServerConfig,
    /// The coordinator's own Postgres database and its pool.
    pub database: DatabaseConfig,
    /// Where every other service is (`OMS_<SERVICE>_ADDR`).
    pub client: ClientConfig,
    /// How the engine runs (`OMS_SAGA_POLL_INTERVAL`, `OMS_SAGA_LEASE`,
    /// `OMS_SAGA_MAX_RUNNING`, `OMS_SAGA_PAUSE`).
    pub engine: EngineSettings,
    /// What the flows send and how long they wait (`OMS_SAGA_RESERVATION_TTL`,
    /// `OMS_SAGA_PARCEL_WEIGHT_GRAMS`, `OMS_SAGA_PARCEL_SIZE_MM`,
    /// `OMS_SAGA_RETURN_SEND_WITHIN`, `OMS_SAGA_RETURN_TRANSIT_WITHIN`,
    /// `OMS_SAGA_RETURN_POLL`).
    pub flows: FlowSettings,
}

impl Config {
    const POLL: Duration = Duration::from_secs(1);
    const LEASE: Duration = Duration::from_secs(30);
    const MAX_RUNNING: usize = 512;
    const RESERVATION_TTL: Duration = Duration::from_secs(3600);
    const RETURN_SEND_WITHIN: Duration = Duration::from_secs(14 * 24 * 3600);
    const RETURN_TRANSIT_WITHIN: Duration = Duration::from_secs(30 * 24 * 3600);
    const RETURN_POLL: Duration = Duration::from_secs(60);
    const PARCEL: Parcel = Parcel {
        weight_grams: 1000,
        length_mm: 300,
        width_mm: 200,
        height_mm: 100,
    };

    /// The defaults, with `server`, `database` and `client` given.
    pub fn new(server: ServerConfig, database: DatabaseConfig, client: ClientConfig) -> Config {
        Config {
            server,
            database,
            client,
            engine: EngineSettings {
                poll: Self::POLL,
                lease: Self::LEASE,
                max_running: Self::MAX_RUNNING,
                hold: Duration::from_secs(2),
                pause: None,
            },
            flows: FlowSettings {
                parcel: Self::PARCEL,
                reservation_ttl: Self::RESERVATION_TTL,
                return_send_within: Self::RETURN_SEND_WITHIN,
                return_transit_within: Self::RETURN_TRANSIT_WITHIN,
                return_poll: Self::RETURN_POLL,
            },
        }
    }

    /// The configuration from the environment, with local defaults; a bad value names its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let defaults = Config::new(
            ServerConfig::from_env(env, Service::Saga)?,
            DatabaseConfig::from_env(env, Service::Saga)?,
            ClientConfig::from_env(env)?,
        );
        let size = env.get(
            "OMS_SAGA_PARCEL_SIZE_MM",
            (
                defaults.flows.parcel.length_mm,
                defaults.flows.parcel.width_mm,
                defaults.flows.parcel.height_mm,
            ),
            parse_size,
        )?;
        let weight: i32 = env.get(
            "OMS_SAGA_PARCEL_WEIGHT_GRAMS",
            defaults.flows.parcel.weight_grams,
            |value| match value.parse::<i32>() {
                Ok(grams) if grams >= 1 => Ok(grams),
                _ => Err(format!("expected grams, at least 1, got {value:?}")),
            },
        )?;
        let max_running: usize = env.get(
            "OMS_SAGA_MAX_RUNNING",
            defaults.engine.max_running,
            |value| match value.parse::<usize>() {
                Ok(count) if count >= 1 => Ok(count),
                _ => Err(format!("expected a positive whole number, got {value:?}")),
            },
        )?;
        let lease = env.duration("OMS_SAGA_LEASE", defaults.engine.lease)?;
        if lease < Duration::from_secs(5) {
            return Err(ConfigError {
                variable: "OMS_SAGA_LEASE".into(),
                reason: "must be at least 5s, longer than a step's call".into(),
            });
        }
        let reservation_ttl =
            env.duration("OMS_SAGA_RESERVATION_TTL", defaults.flows.reservation_ttl)?;
        if reservation_ttl < Duration::from_secs(60)
            || reservation_ttl > Duration::from_secs(7 * 24 * 3600)
        {
            return Err(ConfigError {
                variable: "OMS_SAGA_RESERVATION_TTL".into(),
                reason: "must be 1m to 7d, the holds inventory takes".into(),
            });
        }
        let return_send_within = env.duration(
            "OMS_SAGA_RETURN_SEND_WITHIN",
            defaults.flows.return_send_within,
        )?;
        let return_transit_within = env.duration(
            "OMS_SAGA_RETURN_TRANSIT_WITHIN",
            defaults.flows.return_transit_within,
        )?;
        if return_transit_within < return_send_within {
            return Err(ConfigError {
                variable: "OMS_SAGA_RETURN_TRANSIT_WITHIN".into(),
                reason: "must be at least OMS_SAGA_RETURN_SEND_WITHIN".into(),
            });
        }
        let return_poll = env.duration("OMS_SAGA_RETURN_POLL", defaults.flows.return_poll)?;
        if return_poll.is_zero() {
            return Err(ConfigError {
                variable: "OMS_SAGA_RETURN_POLL".into(),
                reason: "must be above zero".into(),
            });
        }
        Ok(Config {
            engine: EngineSettings {
                poll: env.duration("OMS_SAGA_POLL_INTERVAL", defaults.engine.poll)?,
                lease,
                max_running,
                hold: defaults.engine.hold,
                pause: env.get("OMS_SAGA_PAUSE", None, |value| parse_pause(value).map(Some))?,
            },
            flows: FlowSettings {
                parcel: Parcel {
                    weight_grams: weight,
                    length_mm: size.0,
                    width_mm: size.1,
                    height_mm: size.2,
                },
                reservation_ttl,
                return_send_within,
                return_transit_within,
                return_poll,
            },
            ..defaults
        })
    }
}

/// "300x200x100": length, width and height in millimetres, each at least 1.
fn parse_size(value: &str) -> Result<(i32, i32, i32), String> {
    let sides: Vec<Option<i32>> = value
        .split('x')
        .map(|side| side.trim().parse().ok().filter(|mm| *mm >= 1))
        .collect();
    match sides.as_slice() {
        [Some(length), Some(width), Some(height)] => Ok((*length, *width, *height)),
        _ => Err(format!(
            "expected <length>x<width>x<height> in millimetres, got {value:?}"
        )),
    }
}

/// "<step>:before|after:<duration>", e.g. "capture_payment:after:30s": a
/// fault for crash tests.
fn parse_pause(value: &str) -> Result<Pause, String> {
    let mut parts = value.splitn(3, ':');
    let (Some(step), Some(when), Some(duration)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!(
            "expected <step>:before|after:<duration>, got {value:?}"
        ));
    };
    let before = match when {
        "before" => true,
        "after" => false,
        _ => return Err(format!("expected before or after, got {when:?}")),
    };
    let duration =
        humantime::parse_duration(duration).map_err(|err| format!("{err} (got {duration:?})"))?;
    Ok(Pause {
        step: step.to_owned(),
        before,
        duration,
    })
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
            vec![
                Variable::duration(
                    "OMS_SAGA_POLL_INTERVAL",
                    Self::POLL,
                    "how often the coordinator looks for due retries, waits and sagas of a replica that died",
                ),
                Variable::duration(
                    "OMS_SAGA_LEASE",
                    Self::LEASE,
                    "how long a replica holds a saga without writing it; then another takes it over (at least 5s)",
                ),
                Variable::new(
                    "OMS_SAGA_MAX_RUNNING",
                    Self::MAX_RUNNING.to_string(),
                    "sagas one replica runs at once; more wait for a place",
                ),
                Variable::duration(
                    "OMS_SAGA_RESERVATION_TTL",
                    Self::RESERVATION_TTL,
                    "how long Reserve holds an order's stock",
                ),
                Variable::new(
                    "OMS_SAGA_PARCEL_WEIGHT_GRAMS",
                    Self::PARCEL.weight_grams.to_string(),
                    "weight of the one parcel of each shipment",
                ),
                Variable::new(
                    "OMS_SAGA_PARCEL_SIZE_MM",
                    "300x200x100",
                    "length x width x height of that parcel, in millimetres",
                ),
                Variable::duration(
                    "OMS_SAGA_RETURN_SEND_WITHIN",
                    Self::RETURN_SEND_WITHIN,
                    "how long after approval a return's goods may take to be sent; then the return expires and its label is voided",
                ),
                Variable::duration(
                    "OMS_SAGA_RETURN_TRANSIT_WITHIN",
                    Self::RETURN_TRANSIT_WITHIN,
                    "how long after approval a return's parcel may take to arrive; then its saga is STUCK for an operator",
                ),
                Variable::duration(
                    "OMS_SAGA_RETURN_POLL",
                    Self::RETURN_POLL,
                    "how often a return saga looks at its return while it waits for the goods or the inspection",
                ),
                Variable::unset(
                    "OMS_SAGA_PAUSE",
                    "fault for crash tests: <step>:before|after:<duration> pauses at that step",
                ),
            ],
        ]
        .concat()
    }
}

/// Sagas that started on a flow version this build does not run, and are not
/// finished: starting would leave them unrun.
#[derive(Debug, thiserror::Error)]
#[error(
    "unfinished sagas run on flow versions this build does not have: {sagas}; \
     finish them with the build they started on, then deploy this one"
)]
pub struct UnknownFlows {
    sagas: String,
}

/// Serves the coordinator on `listener` until `shutdown`, with the engine's
/// runners and poll in the background.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let store = Store::new(pool.clone());
    let unknown = store
        .unknown_flows(flows::KNOWN)
        .await
        .map_err(|err| RunError::Start(Box::new(err)))?;
    if !unknown.is_empty() {
        let sagas = unknown
            .iter()
            .map(|(id, kind, version)| format!("{id} ({} v{version})", kind.name()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(RunError::Start(Box::new(UnknownFlows { sagas })));
    }
    let peer = |service| client::peer_channel(service, &config.client);
    let peers = Peers {
        order: OrderServiceClient::new(peer(Service::Order)?),
        routing: RoutingServiceClient::new(peer(Service::Routing)?),
        inventory: InventoryServiceClient::new(peer(Service::Inventory)?),
        payment: PaymentServiceClient::new(peer(Service::Payment)?),
        shipping: ShippingServiceClient::new(peer(Service::Shipping)?),
        returns: ReturnsServiceClient::new(peer(Service::Returns)?),
    };
    let metrics = Metrics::new(&opentelemetry::global::meter("oms"));
    let engine = Engine::new(
        store,
        peers,
        config.flows.clone(),
        config.engine.clone(),
        metrics,
    );

    let mut background = Background::new();
    background.spawn(idempotency::run_purge(
        pool,
        idempotency::RETENTION,
        background.shutdown(),
    ));
    background.spawn(engine.clone().poll());

    let served = GrpcServer::new(&config.server)
        .add_service(SagaServiceServer::new(grpc::SagaApi::new(engine.clone())))
        .serve(listener, shutdown)
        .await;
    engine.stop(config.server.shutdown_grace).await;
    background.stop().await;
    served?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_read_from_the_environment_and_bad_ones_name_their_variable() {
        let config = Config::from_env(&Env::from_pairs([
            ("OMS_SAGA_PARCEL_SIZE_MM", "400x300x200"),
            ("OMS_SAGA_PAUSE", "capture_payment:after:30s"),
            ("OMS_SAGA_LEASE", "45s"),
        ]))
        .unwrap();
        assert_eq!(
            (
                config.flows.parcel.length_mm,
                config.flows.parcel.width_mm,
                config.flows.parcel.height_mm
            ),
            (400, 300, 200)
        );
        assert_eq!(
            config.engine.pause,
            Some(Pause {
                step: "capture_payment".into(),
                before: false,
                duration: Duration::from_secs(30),
            })
        );
        assert_eq!(config.engine.lease, Duration::from_secs(45));

        for (variable, value) in [
            ("OMS_SAGA_PARCEL_SIZE_MM", "400x300"),
            ("OMS_SAGA_PARCEL_WEIGHT_GRAMS", "0"),
            ("OMS_SAGA_PAUSE", "capture_payment:during:1s"),
            ("OMS_SAGA_LEASE", "1s"),
            ("OMS_SAGA_MAX_RUNNING", "0"),
            ("OMS_SAGA_RESERVATION_TTL", "8d"),
        ] {
            let err = Config::from_env(&Env::from_pairs([(variable, value)])).unwrap_err();
            assert_eq!(err.variable, variable);
        }
    }
}
