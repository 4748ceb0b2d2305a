//! Starting the returns service for a test with the real order and inventory
//! services it calls, delivered orders to return, and the requests the tests
//! send.

use std::{sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use oms_platform::{client::OmsChannel, config::Service, convert::timestamp};
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, Channel, ChannelKind, GeoPoint, Money},
    inventory::v1::{
        Location, LocationKind, PutLocationRequest,
        inventory_service_client::InventoryServiceClient,
    },
    order::v1::{
        LineQuantity, MarkStatusRequest, OrderStatus, PlaceOrderRequest, ShipmentRef,
        order_service_client::OrderServiceClient,
    },
    returns::v1::{
        InspectReturnRequest, LineInspection, RequestReturnRequest, Return, ReturnLineRequest,
        ReturnPolicy, ReturnReason, ReturnResolution, returns_service_client::ReturnsServiceClient,
    },
};
pub use oms_testkit::status::{bad_fields, metadata, reason};
use oms_testkit::{ReservedPort, TestService, client_config, peers, saga::Coordinator};
use tonic::{IntoRequest, Request};

pub type Client = ReturnsServiceClient<OmsChannel>;
/// A shipment of a test order: its id, its SKUs, and when it was delivered
/// (`None`: still on its way).
pub type Delivery<'a> = (&'a str, &'a [&'a str], Option<DateTime<Utc>>);
pub type Orders = OrderServiceClient<OmsChannel>;

/// The warehouse the test orders ship from.
pub const WAREHOUSE: &str = "wh-berlin";
/// A store that takes returns over the counter.
pub const STORE: &str = "store-mitte";

/// The returns service with a fresh database, the order service it reads
/// orders from and the inventory service holding [`WAREHOUSE`] and [`STORE`].
/// Its saga coordinator is expected on a reserved port, where nothing listens
/// until a test starts the stand-in.
pub struct TestReturns {
    pub returns: TestService,
    saga_port: Mutex<Option<ReservedPort>>,
    pub order: TestService,
    pub inventory: TestService,
}

impl TestReturns {
    pub async fn start() -> TestReturns {
        let inventory = start_inventory().await;
        // The order service's own saga starts go nowhere: these tests place
        // orders only to return them.
        let order = oms_order::test_util::start(ReservedPort::new(), client_config(), |config| {
            config.outbox_poll = Duration::from_secs(3600);
        })
        .await;
        let saga_port = ReservedPort::new();
        let client = peers([
            (Service::Order, order.address()),
            (Service::Inventory, inventory.address()),
            (Service::Saga, saga_port.address()),
        ]);
        let returns = oms_returns::test_util::start(ReservedPort::new(), client, |_| {}).await;
        TestReturns {
            returns,
            saga_port: Mutex::new(Some(saga_port)),
            order,
            inventory,
        }
    }

    /// Starts the coordinator stand-in on the port the service calls.
    pub async fn start_coordinator(&self) -> (Coordinator, tokio_util::sync::CancellationToken) {
        let port = self.saga_port.lock().unwrap().take();
        Coordinator::serve(port.expect("the coordinator starts once")).await
    }

    pub fn client(&self) -> Client {
        ReturnsServiceClient::new(self.returns.channel())
    }

    pub fn orders(&self) -> Orders {
        OrderServiceClient::new(self.order.channel())
    }

    /// A web order of TEE-M × 3 at 19.99 and CAP × 1 at 15.00 (EUR), shipped
    /// from [`WAREHOUSE`] in one shipment and delivered `days_ago` days ago.
    pub async fn delivered_order(&self, reference: &str, days_ago: i64) -> String {
        let delivered = Utc::now() - chrono::Duration::days(days_ago);
        self.order(reference, &[("s1", &["TEE-M", "CAP"], Some(delivered))])
            .await
    }

    /// A web order of TEE-M × 3 and CAP × 1 whose shipments (id, skus, delivery
    /// time if delivered) are confirmed, shipped, and delivered as given.
    pub async fn order(&self, reference: &str, shipments: &[Delivery<'_>]) -> String {
        let mut orders = self.orders();
        let order_id = orders
            .place_order(web_order(reference))
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
            .order_id;
        let refs: Vec<ShipmentRef> = shipments
            .iter()
            .map(|(id, skus, _)| shipment(id, skus))
            .collect();
        let mark =
            |event_id: &str, status: OrderStatus, shipments: Vec<ShipmentRef>| MarkStatusRequest {
                order_id: order_id.clone(),
                event_id: event_id.into(),
                status: status as i32,
                shipments,
                payment_id: if status == OrderStatus::Confirmed {
                    minted("pay-1")
                } else {
                    String::new()
                },
                actor: Some(saga_actor()),
                ..Default::default()
            };
        orders
            .mark_status(mark("confirm", OrderStatus::Confirmed, refs.clone()))
            .await
            .unwrap();
        for ((id, _, delivered), shipment) in shipments.iter().zip(refs) {
            let Some(delivered) = delivered else { continue };
            orders
                .mark_status(MarkStatusRequest {
                    event_time: Some(timestamp(*delivered - chrono::Duration::days(1))),
                    ..mark(
                        &format!("ship-{id}"),
                        OrderStatus::Shipped,
                        vec![shipment.clone()],
                    )
                })
                .await
                .unwrap();
            orders
                .mark_status(MarkStatusRequest {
                    event_time: Some(timestamp(*delivered)),
                    ..mark(
                        &format!("deliver-{id}"),
                        OrderStatus::Delivered,
                        vec![shipment],
                    )
                })
                .await
                .unwrap();
        }
        order_id
    }

    pub async fn stop(self) {
        self.returns.stop().await;
        self.order.stop().await;
        self.inventory.stop().await;
    }
}

async fn start_inventory() -> TestService {
    let server = oms_inventory::test_util::start(ReservedPort::new(), |_| {}).await;
    let mut inventory = InventoryServiceClient::new(server.channel());
    for (location_id, kind) in [
        (WAREHOUSE, LocationKind::Warehouse),
        (STORE, LocationKind::Store),
    ] {
        inventory
            .put_location(PutLocationRequest {
                location: Some(Location {
                    location_id: location_id.into(),
                    name: location_id.into(),
                    kind: kind as i32,
                    address: Some(Address {
                        company: "OMS".into(),
                        lines: vec!["Lagerstrasse 1".into()],
                        city: "Berlin".into(),
                        postal_code: "10115".into(),
                        country_code: "DE".into(),
                        geo: Some(GeoPoint {
                            latitude: 52.53,
                            longitude: 13.38,
                        }),
                        ..Default::default()
                    }),
                    ships_to_customers: true,
                    active: true,
                    ..Default::default()
                }),
                actor: Some(operator()),
            })
            .await
            .unwrap();
    }
    server
}

fn shipment(label: &str, skus: &[&str]) -> ShipmentRef {
    ShipmentRef {
        shipment_id: minted(label),
        location_id: WAREHOUSE.into(),
        carrier: "simulator".into(),
        tracking_number: format!("TRK-{label}"),
        lines: skus
            .iter()
            .map(|sku| LineQuantity {
                line_id: String::new(),
                sku: (*sku).into(),
                quantity: if *sku == "TEE-M" { 3 } else { 1 },
            })
            .collect(),
        ..Default::default()
    }
}

pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-7".into(),
    }
}

pub fn customer_actor() -> Actor {
    Actor {
        kind: ActorKind::Customer as i32,
        id: "cust-42".into(),
    }
}

pub fn saga_actor() -> Actor {
    Actor {
        kind: ActorKind::Saga as i32,
        id: "saga-1".into(),
    }
}

pub fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

pub fn web() -> Channel {
    Channel {
        kind: ChannelKind::Web as i32,
        name: String::new(),
    }
}

/// The sample order with TEE-M × 3 at 19.99 and CAP × 1 at 15.00.
pub fn web_order(reference: &str) -> PlaceOrderRequest {
    let mut order = oms_order::test_util::web_order(reference);
    order.lines[0].quantity = 3;
    order
}

/// A return line.
pub fn line(sku: &str, quantity: i32, reason: ReturnReason) -> ReturnLineRequest {
    ReturnLineRequest {
        sku: sku.into(),
        quantity,
        reason: reason as i32,
    }
}

/// A refund request for `lines` of `order_id`, by the customer.
pub fn refund_request(order_id: &str, lines: Vec<ReturnLineRequest>) -> RequestReturnRequest {
    RequestReturnRequest {
        order_id: order_id.into(),
        lines,
        resolution: ReturnResolution::Refund as i32,
        replacement_lines: Vec::new(),
        comment: String::new(),
        actor: Some(customer_actor()),
    }
}

/// RequestReturn with the idempotency key `key`, expected to succeed.
pub async fn request_ok(client: &mut Client, key: &str, request: RequestReturnRequest) -> Return {
    client
        .request_return(keyed(key, request))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap()
}

/// `message` with the idempotency key `key`.
pub fn keyed<T>(key: &str, message: T) -> Request<T> {
    let mut request = message.into_request();
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

/// An inspection line: (sku, restock, damaged, missing).
pub fn inspected(sku: &str, restock: i32, damaged: i32, missing: i32) -> LineInspection {
    LineInspection {
        sku: sku.into(),
        restock_quantity: restock,
        damaged_quantity: damaged,
        missing_quantity: missing,
        note: String::new(),
    }
}

pub fn inspection(return_id: &str, lines: Vec<LineInspection>) -> InspectReturnRequest {
    InspectReturnRequest {
        return_id: return_id.into(),
        lines,
        actor: Some(operator()),
    }
}

/// A web policy with these fees, everything else default.
pub fn policy(restocking_fee_bps: i32, customer_pays: bool) -> ReturnPolicy {
    ReturnPolicy {
        channel: Some(web()),
        return_window_days: 30,
        restocking_fee_bps,
        return_shipping_payer: if customer_pays { 2 } else { 1 },
        ..Default::default()
    }
}

/// The id a test calls `label` ("pay-1", "ship-r1"), as the OMS mints ids.
pub fn minted(label: &str) -> String {
    oms_testkit::minted_id(label)
}
