//! oms-shipping: rate quotes, shipments with printable labels, tracking numbers
//! and packing slips, carrier tracking events, bulk label runs and return
//! labels; status changes go to the order and returns services through an
//! outbox.
//!
//! - [`domain`]: parcels, service levels, the shipment state machine.
//! - [`carrier`]: the carrier adapter trait and the deterministic
//!   [`carrier::CarrierSimulator`], the default carrier, whose labels live in
//!   its own tables of the service's database.
//! - [`documents`]: labels (PDF, ZPL) and packing slips (PDF), in embedded
//!   fonts for Latin, Korean and Japanese (the CJK one read at start from
//!   Debian's `fonts-noto-cjk`), with a Code 128 barcode of the tracking
//!   number.
//! - [`grpc`]: the `oms.shipping.v1.ShippingService` handlers.
//! - [`store`]: Postgres: shipments and tracking events.
//! - `migrations/`: the service's tables (0001) and the simulator's (0002).
//! - [`outbox`]: delivers queued status changes to the order and returns
//!   services.
//!
//! [`run`] serves it on a listener until shutdown with the simulator configured
//! from the environment; [`run_with_carrier`] takes any carrier (tests keep a
//! handle on a simulator over the same database to switch faults and count
//! labels). `test_util` (feature `test-util`) starts it for tests.

#![allow(
    missing_docs,
    reason = "the shipping rewrite documents its public items; remove with it"
)]

pub mod carrier;
pub mod documents;
pub mod domain;
pub mod error;
pub mod grpc;
pub mod outbox;
pub mod store;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::{path::PathBuf, sync::Arc, time::Duration};

use oms_platform::{
    client,
    config::Variable,
    config::{ClientConfig, ConfigError, DatabaseConfig, Env, ServerConfig, Service},
    db,
    process::{Background, RunError, ServiceConfig},
    server::GrpcServer,
};
use oms_proto::{
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    returns::v1::returns_service_client::ReturnsServiceClient,
    shipping::v1::shipping_service_server::ShippingServiceServer,
};
use sqlx::{PgPool, migrate::Migrator};
use tokio::{net::TcpListener, sync::Notify};
use tokio_util::sync::CancellationToken;

use crate::{
    carrier::{Carrier, CarrierSimulator, Fault, FaultKind, SimulatorConfig},
    documents::{CJK_COLLECTION, Fonts},
    store::Store,
};

/// The service's own migrations, run at start after the platform's.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The variable naming the Noto Sans CJK collection documents are set in.
pub const CJK_FONT: &str = "OMS_SHIPPING_LABEL_CJK_FONT";

/// Everything the shipping service is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where and how the gRPC server listens (`OMS_SHIPPING_ADDR`, ...).
    pub server: ServerConfig,
    /// The service's own database (`OMS_DATABASE_URL`, ...).
    pub database: DatabaseConfig,
    /// Where the order service (`OMS_ORDER_ADDR`), the returns service
    /// (`OMS_RETURNS_ADDR`) and the inventory service (`OMS_INVENTORY_ADDR`,
    /// for location addresses) are.
    pub client: ClientConfig,
    /// The carrier simulator's faults and seed (`OMS_SHIPPING_CARRIER_FAULT`,
    /// `OMS_SHIPPING_CARRIER_FAULT_RATE`, `OMS_SHIPPING_CARRIER_SEED`).
    pub simulator: SimulatorConfig,
    /// How long a carrier call may take (`OMS_SHIPPING_CARRIER_TIMEOUT`).
    pub carrier_timeout: Duration,
    /// The Noto Sans CJK collection Korean and Japanese text is set in
    /// (`OMS_SHIPPING_LABEL_CJK_FONT`, default Debian's `fonts-noto-cjk`),
    /// read once at start.
    pub cjk_font: PathBuf,
    /// How often the outbox looks for due status changes when not woken
    /// (`OMS_SHIPPING_OUTBOX_POLL`).
    pub outbox_poll: Duration,
}

impl Config {
    const CARRIER_TIMEOUT: Duration = Duration::from_secs(5);
    const OUTBOX_POLL: Duration = Duration::from_secs(1);
    const FAULT: &str = "OMS_SHIPPING_CARRIER_FAULT";
    const FAULT_RATE: &str = "OMS_SHIPPING_CARRIER_FAULT_RATE";

    /// The configuration the environment gives, defaults for what it leaves
    /// out; a bad value is an error naming its variable.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        let kind: String = env.parse(Self::FAULT, "none".to_owned())?;
        let rate: f64 = env.parse(Self::FAULT_RATE, 1.0)?;
        if !(0.0..=1.0).contains(&rate) {
            return Err(ConfigError {
                variable: Self::FAULT_RATE.to_owned(),
                reason: "must be between 0 and 1".to_owned(),
            });
        }
        let fault = match kind.as_str() {
            "none" => None,
            other => Some(Fault {
                kind: FaultKind::parse(other).ok_or_else(|| ConfigError {
                    variable: Self::FAULT.to_owned(),
                    reason: "must be none, 5xx, timeout or address_rejected".to_owned(),
                })?,
                rate,
            }),
        };
        Ok(Config {
            server: ServerConfig::from_env(env, Service::Shipping)?,
            database: DatabaseConfig::from_env(env, Service::Shipping)?,
            client: ClientConfig::from_env(env)?,
            simulator: SimulatorConfig {
                fault,
                seed: env.parse("OMS_SHIPPING_CARRIER_SEED", 1)?,
            },
            carrier_timeout: env.duration("OMS_SHIPPING_CARRIER_TIMEOUT", Self::CARRIER_TIMEOUT)?,
            cjk_font: env.parse(CJK_FONT, PathBuf::from(CJK_COLLECTION))?,
            outbox_poll: env.duration("OMS_SHIPPING_OUTBOX_POLL", Self::OUTBOX_POLL)?,
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
            vec![
                Variable::duration(
                    "OMS_SHIPPING_CARRIER_TIMEOUT",
                    Self::CARRIER_TIMEOUT,
                    "how long a carrier call may take",
                ),
                Variable::new(
                    Self::FAULT,
                    "none",
                    "fault the carrier simulator injects: none, 5xx, timeout or address_rejected",
                ),
                Variable::new(
                    Self::FAULT_RATE,
                    "1",
                    "share of label purchases, 0 to 1, the fault hits",
                ),
                Variable::new(
                    "OMS_SHIPPING_CARRIER_SEED",
                    "1",
                    "seed of the simulator's tracking numbers and fault draws",
                ),
                Variable::new(
                    CJK_FONT,
                    CJK_COLLECTION,
                    "the Noto Sans CJK collection Korean and Japanese text on labels is set in",
                ),
                Variable::duration(
                    "OMS_SHIPPING_OUTBOX_POLL",
                    Self::OUTBOX_POLL,
                    "how often the shipping service looks for status changes to deliver",
                ),
            ],
        ]
        .concat()
    }
}

/// Serves the shipping service on `listener` until `shutdown`, with the carrier
/// simulator, keeping its state in the service's database, as its carrier.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    let carrier = Arc::new(CarrierSimulator::connect(
        &config.database,
        config.simulator.clone(),
    ));
    serve(config, pool, carrier, listener, shutdown).await
}

/// Serves the shipping service with `carrier`, and the outbox dispatcher in the
/// background. A carrier whose code the order and returns services would
/// refuse (empty, or over [`carrier::MAX_CARRIER_CODE`] bytes) is refused
/// before anything starts.
pub async fn run_with_carrier(
    config: Config,
    carrier: Arc<dyn Carrier>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let code = carrier.code().len();
    if !(1..=carrier::MAX_CARRIER_CODE).contains(&code) {
        let reason = format!(
            "a carrier code of {code} bytes: must be 1 to {}",
            carrier::MAX_CARRIER_CODE
        );
        return Err(RunError::Start(reason.into()));
    }
    let pool = db::connect(&config.database, &MIGRATOR).await?;
    serve(config, pool, carrier, listener, shutdown).await
}

async fn serve(
    config: Config,
    pool: PgPool,
    carrier: Arc<dyn Carrier>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let store = Store::new(pool);
    let orders = OrderServiceClient::new(client::peer_channel(Service::Order, &config.client)?);
    let returns =
        ReturnsServiceClient::new(client::peer_channel(Service::Returns, &config.client)?);
    let inventory =
        InventoryServiceClient::new(client::peer_channel(Service::Inventory, &config.client)?);

    let mut background = Background::new();
    let wake = Arc::new(Notify::new());
    let dispatcher = oms_platform::outbox::Dispatcher::new(
        store.pool().clone(),
        outbox::StatusCourier::new(orders, returns),
        wake.clone(),
        oms_platform::outbox::Settings::new(config.outbox_poll),
    );
    background.spawn(dispatcher.run(background.shutdown()));
    let outbox_admin = oms_platform::outbox::OutboxAdmin::new(store.pool().clone(), wake.clone());

    let api = grpc::ShippingApi::new(
        store,
        inventory,
        vec![carrier],
        config.carrier_timeout,
        Arc::new(fonts(&config)),
        wake,
    );
    let served = GrpcServer::new(&config.server)
        .add_service(ShippingServiceServer::new(api))
        .add_service(outbox_admin.into_server())
        .serve(listener, shutdown)
        .await;
    background.stop().await;
    served?;
    Ok(())
}

/// The fonts of labels and packing slips. Without the CJK collection the
/// service still serves, its documents showing `?` for Korean and Japanese.
fn fonts(config: &Config) -> Fonts {
    match Fonts::with_cjk(&config.cjk_font) {
        Ok(fonts) => fonts,
        Err(err) => {
            tracing::warn!(
                variable = CJK_FONT,
                path = %config.cjk_font.display(),
                error = %err,
                "cjk font not loaded, documents print korean and japanese text as ?: install fonts-noto-cjk or point the variable at a Noto Sans CJK collection"
            );
            Fonts::latin()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_faults_are_read_from_the_environment_and_bad_ones_name_their_variable() {
        let config = Config::from_env(&Env::from_pairs([
            ("OMS_SHIPPING_CARRIER_FAULT", "timeout"),
            ("OMS_SHIPPING_CARRIER_FAULT_RATE", "0.25"),
        ]))
        .unwrap();
        assert_eq!(
            config.simulator.fault,
            Some(Fault {
                kind: FaultKind::Timeout,
                rate: 0.25
            })
        );
        assert_eq!(
            Config::from_env(&Env::from_pairs::<&str, &str>([]))
                .unwrap()
                .simulator
                .fault,
            None
        );

        let bad = Config::from_env(&Env::from_pairs([("OMS_SHIPPING_CARRIER_FAULT", "flood")]));
        assert_eq!(bad.unwrap_err().variable, "OMS_SHIPPING_CARRIER_FAULT");
        let bad = Config::from_env(&Env::from_pairs([("OMS_SHIPPING_CARRIER_FAULT_RATE", "2")]));
        assert_eq!(bad.unwrap_err().variable, "OMS_SHIPPING_CARRIER_FAULT_RATE");
    }

    #[test]
    fn the_cjk_font_is_debians_unless_the_environment_names_another() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(
            config.cjk_font,
            PathBuf::from("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
        );
        let config = Config::from_env(&Env::from_pairs([(
            "OMS_SHIPPING_LABEL_CJK_FONT",
            "/opt/fonts/NotoSansCJK-Regular.ttc",
        )]))
        .unwrap();
        assert_eq!(
            config.cjk_font,
            PathBuf::from("/opt/fonts/NotoSansCJK-Regular.ttc")
        );
    }
}
