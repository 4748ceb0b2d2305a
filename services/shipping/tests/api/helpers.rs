//! Starting the shipping service for a test, with the carrier simulator it
//! buys from (over the service's database, where the simulator keeps its
//! labels) and the real order service it reports to; more replicas of it and
//! restarts; and the requests the tests send.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

pub use oms_order::test_util::web_order;
use oms_platform::{
    client::OmsChannel,
    config::{ClientConfig, Service},
};
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, GeoPoint, ServiceLevel},
    inventory::v1::{
        Location, LocationKind, PutLocationRequest,
        inventory_service_client::InventoryServiceClient,
    },
    order::v1::{
        GetOrderRequest, LineQuantity, MarkStatusRequest, Order, OrderStatus, ShipmentRef,
        order_service_client::OrderServiceClient,
    },
    returns::v1::{
        ApproveReturnRequest, GetReturnRequest, RecordReturnLabelRequest, RequestReturnRequest,
        Return, ReturnLabel, ReturnLineRequest, ReturnReason, ReturnResolution, ReturnStatus,
        returns_service_client::ReturnsServiceClient,
    },
    shipping::v1::{
        CancelShipmentRequest, CreateReturnLabelRequest, CreateShipmentRequest, Parcel,
        QuoteRatesRequest, RecordTrackingEventRequest, Shipment, ShipmentLine, TrackingEventType,
        cancel_shipment_request::Target, shipping_service_client::ShippingServiceClient,
    },
};
use oms_shipping::{
    Config,
    carrier::{Carrier, CarrierSimulator, SimulatedLabel, SimulatorConfig},
    documents::{CJK_COLLECTION, Fonts},
    test_util,
};
pub use oms_testkit::status::{bad_fields, metadata, reason};
use oms_testkit::{ReservedPort, TestServer, TestService, client_config, peers, poll_until};
use tonic::IntoRequest as _;

pub type Client = ShippingServiceClient<OmsChannel>;
pub type Orders = OrderServiceClient<OmsChannel>;
pub type Returns = ReturnsServiceClient<OmsChannel>;

/// Long enough that the order and returns services never poll their outbox
/// during a test: their saga coordinator is not there.
const NO_OUTBOX_POLL: Duration = Duration::from_secs(3600);

/// The carrier a test service buys from, made of the simulator over its
/// database.
pub type MakeCarrier = fn(Arc<CarrierSimulator>) -> Arc<dyn Carrier>;

/// The simulator itself, the service's usual carrier.
fn the_simulator(simulator: Arc<CarrierSimulator>) -> Arc<dyn Carrier> {
    simulator
}

/// A shipping service with a fresh database and its own simulator, and the order
/// service it reports to (whose saga coordinator is not there).
pub struct TestShipping {
    pub service: TestService,
    /// The simulator the first server buys from; its state is the database's,
    /// so it sees every replica's labels.
    pub carrier: Arc<CarrierSimulator>,
    pub orders: TestService,
    /// The inventory service holding the location addresses, when started.
    pub inventory: Option<TestService>,
    /// The returns service RETURN shipments report to, when started.
    pub returns: Option<TestService>,
    /// The peers the service calls and its simulator's settings, for replicas
    /// and restarts.
    client: ClientConfig,
    simulator: SimulatorConfig,
}

impl TestShipping {
    pub async fn start() -> TestShipping {
        TestShipping::start_with(SimulatorConfig::default()).await
    }

    pub async fn start_with(simulator: SimulatorConfig) -> TestShipping {
        TestShipping::start_full(simulator, false, false, the_simulator).await
    }

    /// With the real inventory service, holding the location `wh-berlin` at the
    /// [`warehouse`] address.
    pub async fn start_with_inventory() -> TestShipping {
        TestShipping::start_full(SimulatorConfig::default(), true, false, the_simulator).await
    }

    /// The service buying from the carrier `carrier` makes of the simulator.
    pub async fn start_buying_from(carrier: MakeCarrier) -> TestShipping {
        TestShipping::start_full(SimulatorConfig::default(), false, false, carrier).await
    }

    /// With the real returns service, reading orders from the order service.
    pub async fn start_with_returns() -> TestShipping {
        TestShipping::start_with_returns_buying_from(the_simulator).await
    }

    /// With the real returns service, the service buying from the carrier
    /// `carrier` makes of the simulator.
    pub async fn start_with_returns_buying_from(carrier: MakeCarrier) -> TestShipping {
        TestShipping::start_full(SimulatorConfig::default(), false, true, carrier).await
    }

    async fn start_full(
        simulator: SimulatorConfig,
        with_inventory: bool,
        with_returns: bool,
        carrier: MakeCarrier,
    ) -> TestShipping {
        let inventory = if with_inventory {
            Some(start_inventory().await)
        } else {
            None
        };
        let orders = oms_order::test_util::start(ReservedPort::new(), client_config(), |config| {
            config.outbox_poll = NO_OUTBOX_POLL;
        })
        .await;
        let returns = if with_returns {
            let client = peers([(Service::Order, orders.address())]);
            Some(
                oms_returns::test_util::start(ReservedPort::new(), client, |config| {
                    config.outbox_poll = NO_OUTBOX_POLL;
                })
                .await,
            )
        } else {
            None
        };

        // A peer not started is not there: its calls fail as UNAVAILABLE.
        let mut started: Vec<(Service, SocketAddr)> = vec![(Service::Order, orders.address())];
        started.extend(
            inventory
                .as_ref()
                .map(|inventory| (Service::Inventory, inventory.address())),
        );
        started.extend(
            returns
                .as_ref()
                .map(|returns| (Service::Returns, returns.address())),
        );
        let client = peers(started);
        let settings = simulator.clone();
        let (service, carrier) = test_util::start_with_carrier(
            ReservedPort::new(),
            client.clone(),
            |config| config.simulator = settings,
            carrier,
        )
        .await;
        TestShipping {
            service,
            carrier,
            orders,
            inventory,
            returns,
            client,
            simulator,
        }
    }

    /// Another replica of the service on the same database and peers, with a
    /// simulator of its own (as a deployment's replicas have).
    pub async fn start_replica(&self) -> TestServer {
        self.start_replica_with(|_| {}).await
    }

    /// Another replica as [`Self::start_replica`], its settings as `configure`
    /// adjusts them.
    pub async fn start_replica_with(&self, configure: impl FnOnce(&mut Config)) -> TestServer {
        let simulator = self.simulator.clone();
        test_util::start_replica(&self.service, self.client.clone(), |config| {
            config.simulator = simulator;
            configure(config);
        })
        .await
    }

    /// Starts the server again on the same database and stops the old one,
    /// as a rolling restart does; the new server has a simulator of its own with
    /// `simulator`'s settings (the test's [`Self::carrier`] still reads the
    /// labels but no longer injects the server's faults).
    pub async fn restart(mut self, simulator: SimulatorConfig) -> TestShipping {
        self.simulator = simulator;
        let server = self.start_replica().await;
        let old = std::mem::replace(&mut self.service.server, server);
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
        ShippingServiceClient::new(self.service.channel())
    }

    pub fn orders(&self) -> Orders {
        OrderServiceClient::new(self.orders.channel())
    }

    /// The returns service; panics unless started with [`Self::start_with_returns`].
    pub fn returns(&self) -> Returns {
        let returns = self.returns.as_ref().expect("started with returns");
        ReturnsServiceClient::new(returns.channel())
    }

    /// A delivered order of [`web_order`] `reference`, its shipment created
    /// here as the order saga creates it, and an approved return of its cap:
    /// (order id, return id). Needs the returns service
    /// ([`Self::start_with_returns`]).
    pub async fn approved_return(&self, reference: &str) -> (String, String) {
        let mut client = self.client();
        let mut orders = self.orders();
        let mut returns = self.returns();
        let order_id = self.placed_order(reference).await;
        // Its shipment, as the order saga creates it.
        let outbound = create(&mut client, shipment(&order_id)).await;
        let sent = ShipmentRef {
            shipment_id: outbound.shipment_id.clone(),
            location_id: "wh-berlin".into(),
            lines: ["TEE-M", "CAP"]
                .into_iter()
                .map(|sku| LineQuantity {
                    line_id: String::new(),
                    sku: sku.into(),
                    quantity: if sku == "CAP" { 1 } else { 2 },
                })
                .collect(),
            ..Default::default()
        };
        for (event_id, status) in [
            ("confirm", OrderStatus::Confirmed),
            ("ship", OrderStatus::Shipped),
            ("deliver", OrderStatus::Delivered),
        ] {
            orders
                .mark_status(MarkStatusRequest {
                    order_id: order_id.clone(),
                    event_id: event_id.into(),
                    status: status as i32,
                    shipments: vec![sent.clone()],
                    actor: Some(operator()),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let mut request = RequestReturnRequest {
            order_id: order_id.clone(),
            lines: vec![ReturnLineRequest {
                sku: "CAP".into(),
                quantity: 1,
                reason: ReturnReason::WrongSize as i32,
            }],
            resolution: ReturnResolution::Refund as i32,
            actor: Some(operator()),
            ..Default::default()
        }
        .into_request();
        request.metadata_mut().insert(
            "idempotency-key",
            format!("rma-{reference}").parse().unwrap(),
        );
        let return_id = returns
            .request_return(request)
            .await
            .unwrap()
            .into_inner()
            .rma
            .unwrap()
            .return_id;
        returns
            .approve_return(ApproveReturnRequest {
                return_id: return_id.clone(),
                actor: Some(operator()),
                ..Default::default()
            })
            .await
            .unwrap();
        (order_id, return_id)
    }

    /// The id of the order [`web_order`] `reference` places.
    pub async fn placed_order(&self, reference: &str) -> String {
        self.orders()
            .place_order(web_order(reference))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
            .order_id
    }

    /// The return label of [`Self::approved_return`]'s return, bought here
    /// and recorded on the return as the return saga records it: (return id,
    /// label).
    pub async fn labelled_return(&self, reference: &str) -> (String, Shipment) {
        let (order_id, return_id) = self.approved_return(reference).await;
        let label = self
            .client()
            .create_return_label(CreateReturnLabelRequest {
                return_id: return_id.clone(),
                order_id,
                location_id: "wh-berlin".into(),
                lines: vec![ShipmentLine {
                    sku: "CAP".into(),
                    quantity: 1,
                    description: String::new(),
                }],
                parcels: vec![parcel(800)],
                origin: Some(customer("10117")),
                destination: Some(warehouse()),
                actor: Some(operator()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shipment
            .unwrap();
        self.returns()
            .record_return_label(RecordReturnLabelRequest {
                return_id: return_id.clone(),
                label: Some(ReturnLabel {
                    shipment_id: label.shipment_id.clone(),
                    carrier: label.carrier.clone(),
                    tracking_number: label.tracking_number.clone(),
                    price: label.price.clone(),
                }),
                actor: Some(Actor {
                    kind: ActorKind::Saga as i32,
                    id: "saga-r".into(),
                }),
            })
            .await
            .expect("the returns service takes the label shipping sold");
        (return_id, label)
    }

    /// The order `order_id` once the order service has it in `status`.
    pub async fn order_in(&self, order_id: &str, status: OrderStatus) -> Order {
        poll_until(status.as_str_name(), Duration::from_secs(10), || {
            let mut orders = self.orders();
            let order_id = order_id.to_owned();
            async move {
                let order = orders
                    .get_order(GetOrderRequest {
                        order_id,
                        ..Default::default()
                    })
                    .await
                    .ok()?
                    .into_inner()
                    .order?;
                (order.status == status as i32).then_some(order)
            }
        })
        .await
    }

    /// The return `return_id` once the returns service has it in transit.
    pub async fn in_transit(&self, return_id: &str) -> Return {
        poll_until(
            "the return to be in transit",
            Duration::from_secs(20),
            || {
                let mut returns = self.returns();
                let return_id = return_id.to_owned();
                async move {
                    let rma = returns
                        .get_return(GetReturnRequest { return_id })
                        .await
                        .ok()?
                        .into_inner()
                        .rma?;
                    (rma.status == ReturnStatus::InTransit as i32).then_some(rma)
                }
            },
        )
        .await
    }

    pub async fn stop(self) {
        self.service.stop().await;
        self.orders.stop().await;
        if let Some(inventory) = self.inventory {
            inventory.stop().await;
        }
        if let Some(returns) = self.returns {
            returns.stop().await;
        }
    }
}

/// The inventory service, holding the location `wh-berlin`.
async fn start_inventory() -> TestService {
    let inventory = oms_inventory::test_util::start(ReservedPort::new(), |_| {}).await;
    InventoryServiceClient::new(inventory.channel())
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
    inventory
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
        omit_documents: false,
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

/// The status of an order and the ids of its shipments, as the order service
/// has them.
pub async fn order_status(orders: &mut Orders, order_id: &str) -> (i32, Vec<String>) {
    let order = orders
        .get_order(GetOrderRequest {
            order_id: order_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let shipments = order
        .shipments
        .iter()
        .map(|s| s.shipment_id.clone())
        .collect();
    (order.status, shipments)
}
