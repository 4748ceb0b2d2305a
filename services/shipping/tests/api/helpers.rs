//! Starting the shipping service for a test, with a carrier simulator the test
//! keeps a handle on (over the service's database, where the simulator keeps
//! its labels) and the real order service it reports to; more replicas of it
//! and restarts; and the requests the tests send.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use oms_platform::{client::OmsChannel, config::Service};
use oms_proto::{
    common::v1::{
        Actor, ActorKind, Address, CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption,
        GeoPoint, LineItem, Money, PaymentMethod, ServiceLevel, payment_method::Method,
    },
    inventory::v1::{
        Location, LocationKind, PutLocationRequest,
        inventory_service_client::InventoryServiceClient,
    },
    order::v1::{Customer, PlaceOrderRequest, order_service_client::OrderServiceClient},
    returns::v1::returns_service_client::ReturnsServiceClient,
    shipping::v1::{
        CancelShipmentRequest, CreateShipmentRequest, Parcel, QuoteRatesRequest,
        RecordTrackingEventRequest, Shipment, ShipmentLine, TrackingEventType,
        cancel_shipment_request::Target, shipping_service_client::ShippingServiceClient,
    },
};
use oms_shipping::{
    Config,
    carrier::{CarrierSimulator, SimulatedLabel, SimulatorConfig},
    documents::{CJK_COLLECTION, Fonts},
    run, run_with_carrier,
};
pub use oms_testkit::status::{bad_fields, metadata, reason};
use oms_testkit::{TestDatabase, TestRedis, TestServer, client_config, server_config};
use tokio::net::TcpListener;

pub type Client = ShippingServiceClient<OmsChannel>;
pub type Orders = OrderServiceClient<OmsChannel>;
pub type Returns = ReturnsServiceClient<OmsChannel>;

/// A shipping service with a fresh database and its own simulator, and the order
/// service it reports to (whose saga coordinator is a closed port).
pub struct TestShipping {
    /// The inventory service holding the location addresses, when started.
    pub inventory: Option<(TestServer, TestDatabase, TestRedis)>,
    /// Held so that the database lives as long as the service.
    pub _db: TestDatabase,
    pub server: TestServer,
    /// The simulator the first server buys from; its state is the database's,
    /// so it sees every replica's labels.
    pub carrier: Arc<CarrierSimulator>,
    /// Held so that the order service's database lives as long as it.
    pub _order_db: TestDatabase,
    pub order_server: TestServer,
    /// The returns service RETURN shipments report to, when started.
    pub returns: Option<(TestServer, TestDatabase)>,
    /// What the server was started with, for replicas and restarts.
    pub config: Config,
}

impl TestShipping {
    pub async fn start() -> TestShipping {
        TestShipping::start_with(SimulatorConfig::default()).await
    }

    pub async fn start_with(simulator: SimulatorConfig) -> TestShipping {
        TestShipping::start_full(simulator, false, false).await
    }

    /// With the real inventory service, holding the location `wh-berlin` at the
    /// [`warehouse`] address.
    pub async fn start_with_inventory() -> TestShipping {
        TestShipping::start_full(SimulatorConfig::default(), true, false).await
    }

    /// With the real returns service, reading orders from the order service.
    pub async fn start_with_returns() -> TestShipping {
        TestShipping::start_full(SimulatorConfig::default(), false, true).await
    }

    async fn start_full(
        simulator: SimulatorConfig,
        with_inventory: bool,
        with_returns: bool,
    ) -> TestShipping {
        let inventory = if with_inventory {
            Some(start_inventory().await)
        } else {
            None
        };
        let order_db = TestDatabase::create().await;
        let closed = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let mut order_client = client_config();
        order_client.peers.insert(Service::Saga, closed.to_string());
        let order_config = oms_order::Config {
            server: server_config(),
            database: order_db.config(),
            client: order_client,
            outbox_poll: Duration::from_secs(3600),
        };
        let order_server = TestServer::start(|listener, shutdown| {
            oms_order::run(order_config, listener, shutdown)
        })
        .await;

        let returns = if with_returns {
            let db = TestDatabase::create().await;
            let mut client = client_config();
            client
                .peers
                .insert(Service::Order, order_server.address().to_string());
            client.peers.insert(Service::Inventory, closed.to_string());
            client.peers.insert(Service::Saga, closed.to_string());
            let config = oms_returns::Config {
                server: server_config(),
                database: db.config(),
                client,
                outbox_poll: Duration::from_secs(3600),
            };
            let server = TestServer::start(|listener, shutdown| {
                oms_returns::run(config, listener, shutdown)
            })
            .await;
            Some((server, db))
        } else {
            None
        };

        let db = TestDatabase::create().await;
        let carrier = Arc::new(CarrierSimulator::new(db.pool().await, simulator.clone()));
        let mut client = client_config();
        client
            .peers
            .insert(Service::Order, order_server.address().to_string());
        // Without inventory its address is a closed port: lookups are UNAVAILABLE.
        let inventory_address = match &inventory {
            Some((server, _, _)) => server.address().to_string(),
            None => closed.to_string(),
        };
        client.peers.insert(Service::Inventory, inventory_address);
        let returns_address = match &returns {
            Some((server, _)) => server.address().to_string(),
            None => closed.to_string(),
        };
        client.peers.insert(Service::Returns, returns_address);
        let config = Config {
            server: server_config(),
            database: db.config(),
            client,
            simulator,
            carrier_timeout: Duration::from_secs(5),
            cjk_font: PathBuf::from(CJK_COLLECTION),
            outbox_poll: Duration::from_millis(50),
        };
        let service_carrier = carrier.clone();
        let service_config = config.clone();
        let server = TestServer::start(|listener, shutdown| {
            run_with_carrier(service_config, service_carrier, listener, shutdown)
        })
        .await;
        TestShipping {
            inventory,
            _db: db,
            server,
            carrier,
            _order_db: order_db,
            order_server,
            returns,
            config,
        }
    }

    /// Another replica of the service on the same database and peers, with a
    /// simulator of its own (as a deployment's replicas have).
    pub async fn start_replica(&self) -> TestServer {
        let config = self.config.clone();
        TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await
    }

    /// Another replica as [`Self::start_replica`], its Noto Sans CJK read
    /// from `cjk_font`.
    pub async fn start_replica_with_cjk_font(&self, cjk_font: &Path) -> TestServer {
        let config = Config {
            cjk_font: cjk_font.to_owned(),
            ..self.config.clone()
        };
        TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await
    }

    /// Starts the server again on the same database and stops the old one,
    /// as a rolling restart does; the new server has a simulator of its own with
    /// `simulator`'s settings (the test's [`Self::carrier`] still reads the
    /// labels but no longer injects the server's faults).
    pub async fn restart(mut self, simulator: SimulatorConfig) -> TestShipping {
        self.config.simulator = simulator;
        let server = self.start_replica().await;
        let old = std::mem::replace(&mut self.server, server);
        old.stop().await.expect("a clean stop");
        self
    }

    /// The carrier's record of a label it sold.
    pub async fn sold_label(&self, tracking_number: &str) -> SimulatedLabel {
        self.carrier
            .label(tracking_number)
            .await
            .expect("read the label")
            .expect("a label the carrier sold")
    }

    /// How many labels the carrier sold, through any replica.
    pub async fn labels_bought(&self) -> usize {
        let count = self
            .carrier
            .labels_bought()
            .await
            .expect("count the labels");
        usize::try_from(count).expect("a count")
    }

    pub fn client(&self) -> Client {
        ShippingServiceClient::new(self.server.channel())
    }

    pub fn orders(&self) -> Orders {
        OrderServiceClient::new(self.order_server.channel())
    }

    /// The returns service; panics unless started with [`Self::start_with_returns`].
    pub fn returns(&self) -> Returns {
        let (server, _) = self.returns.as_ref().expect("started with returns");
        ReturnsServiceClient::new(server.channel())
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("a clean stop");
        self.order_server.stop().await.expect("a clean stop");
        if let Some((server, _, _)) = self.inventory {
            server.stop().await.expect("a clean stop");
        }
        if let Some((server, _)) = self.returns {
            server.stop().await.expect("a clean stop");
        }
    }
}

async fn start_inventory() -> (TestServer, TestDatabase, TestRedis) {
    let db = TestDatabase::create().await;
    let redis = TestRedis::new();
    let config = oms_inventory::Config {
        // Off: a read right after a change must see it.
        availability_cache_ttl: Duration::ZERO,
        ..oms_inventory::Config::new(server_config(), db.config(), redis.config())
    };
    let server =
        TestServer::start(|listener, shutdown| oms_inventory::run(config, listener, shutdown))
            .await;
    InventoryServiceClient::new(server.channel())
        .put_location(PutLocationRequest {
            location: Some(Location {
                location_id: "wh-berlin".into(),
                name: "Berlin warehouse".into(),
                kind: LocationKind::Warehouse as i32,
                address: Some(Address {
                    geo: Some(GeoPoint {
                        latitude: 52.53,
                        longitude: 13.38,
                    }),
                    ..warehouse()
                }),
                ships_to_customers: true,
                active: true,
                ..Default::default()
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    (server, db, redis)
}

/// Fails a test of Korean or Japanese documents, saying what to install, when
/// the Noto Sans CJK collection the service reads by default is missing.
pub fn require_cjk_font() {
    if let Err(err) = Fonts::with_cjk(Path::new(CJK_COLLECTION)) {
        panic!("Korean and Japanese labels need Debian's fonts-noto-cjk installed: {err}");
    }
}

pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-7".into(),
    }
}

/// The Berlin warehouse.
pub fn warehouse() -> Address {
    Address {
        company: "OMS Warehouse Berlin".into(),
        lines: vec!["Lagerstrasse 1".into()],
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country_code: "DE".into(),
        ..Default::default()
    }
}

/// A customer in Berlin, within same-day range of the warehouse.
pub fn customer(postal_code: &str) -> Address {
    Address {
        recipient_name: "Ada Lovelace".into(),
        lines: vec!["Unter den Linden 77".into()],
        city: "Berlin".into(),
        postal_code: postal_code.into(),
        country_code: "DE".into(),
        phone: "+49 30 1234567".into(),
        ..Default::default()
    }
}

pub fn parcel(weight_grams: i32) -> Parcel {
    Parcel {
        weight_grams,
        length_mm: 300,
        width_mm: 200,
        height_mm: 100,
    }
}

pub fn quote(postal_code: &str) -> QuoteRatesRequest {
    QuoteRatesRequest {
        location_id: "wh-berlin".into(),
        origin: Some(warehouse()),
        destination: Some(customer(postal_code)),
        parcels: vec![parcel(1200)],
        service_levels: Vec::new(),
        ship_time: None,
    }
}

/// Creates a shipment that must succeed.
pub async fn create(client: &mut Client, request: CreateShipmentRequest) -> Shipment {
    client
        .create_shipment(request)
        .await
        .expect("the shipment is created")
        .into_inner()
        .shipment
        .expect("a shipment")
}

/// Cancels a shipment by its id, as an operator; the cancel must succeed.
pub async fn cancel_by_id(client: &mut Client, shipment_id: &str) -> Shipment {
    client
        .cancel_shipment(CancelShipmentRequest {
            target: Some(Target::ShipmentId(shipment_id.to_owned())),
            reason: "order cancelled".into(),
            actor: Some(operator()),
        })
        .await
        .expect("the shipment is cancelled")
        .into_inner()
        .shipment
        .expect("a shipment")
}

/// A standard shipment of the two lines of [`web_order`] from the warehouse.
pub fn shipment(order_id: &str) -> CreateShipmentRequest {
    CreateShipmentRequest {
        order_id: order_id.into(),
        location_id: "wh-berlin".into(),
        lines: vec![
            ShipmentLine {
                sku: "TEE-M".into(),
                quantity: 2,
                description: "T-shirt, size M".into(),
            },
            ShipmentLine {
                sku: "CAP".into(),
                quantity: 1,
                description: String::new(),
            },
        ],
        service_level: ServiceLevel::Standard as i32,
        parcels: vec![parcel(1200)],
        destination: Some(customer("10117")),
        origin: Some(warehouse()),
        carrier: String::new(),
        label_format: 0,
        actor: Some(operator()),
    }
}

/// A carrier event at `minute` past 09:00 on 2 November 2026.
pub fn event(
    tracking_number: &str,
    id: &str,
    event_type: TrackingEventType,
    minute: i64,
) -> RecordTrackingEventRequest {
    RecordTrackingEventRequest {
        carrier: "simulator".into(),
        carrier_event_id: id.into(),
        tracking_number: tracking_number.into(),
        event_type: event_type as i32,
        event_time: Some(prost_types::Timestamp {
            seconds: 1_793_610_000 + minute * 60,
            nanos: 0,
        }),
        location: "Berlin hub, DE".into(),
        description: String::new(),
    }
}

fn money(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

/// A web order of two lines (TEE-M x2, CAP x1) shipped to Berlin.
pub fn web_order(reference: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        channel: Some(Channel {
            kind: ChannelKind::Web as i32,
            name: String::new(),
        }),
        external_reference: reference.into(),
        customer: Some(Customer {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            phone: "+49 30 1234567".into(),
        }),
        shipping_address: Some(customer("10117")),
        lines: vec![
            LineItem {
                sku: "TEE-M".into(),
                quantity: 2,
                unit_price: money(1999),
            },
            LineItem {
                sku: "CAP".into(),
                quantity: 1,
                unit_price: money(1500),
            },
        ],
        currency_code: "EUR".into(),
        delivery_option: Some(DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            service_level: ServiceLevel::Standard as i32,
            pickup_location_id: String::new(),
        }),
        shipping_price: money(495),
        payment_method: Some(PaymentMethod {
            method: Some(Method::Card(CardToken {
                token: "tok_visa_4242".into(),
            })),
        }),
        notes: Vec::new(),
        tags: Vec::new(),
        place_time: None,
        actor: None,
        exchange: None,
    }
}
