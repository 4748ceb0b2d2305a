//! The whole suite for a test: all seven services wired to each other, with
//! a Berlin warehouse, a Hamburg warehouse and a Berlin store in inventory.

use std::time::Duration;

use oms_platform::{client::OmsChannel, config::Service};
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, GeoPoint},
    inventory::v1::{
        Location, LocationKind, PutLocationRequest, SetStockRequest,
        inventory_service_client::InventoryServiceClient,
    },
    order::v1::{GetOrderRequest, Order, OrderStatus, order_service_client::OrderServiceClient},
    payment::v1::payment_service_client::PaymentServiceClient,
    saga::v1::{ListSagasRequest, Saga, SagaState, saga_service_client::SagaServiceClient},
    shipping::v1::shipping_service_client::ShippingServiceClient,
};
use oms_testkit::{ReservedPort, TestService, peers, poll_until};
use tonic::Request;

/// Every service, started; each runs while the suite is held.
#[allow(dead_code, reason = "tests use the services they need; all must run")]
pub struct Suite {
    pub order: TestService,
    pub inventory: TestService,
    pub routing: TestService,
    pub payment: TestService,
    pub shipping: TestService,
    pub returns: TestService,
    pub saga: TestService,
}

pub const BERLIN: &str = "wh-berlin";
pub const HAMBURG: &str = "wh-hamburg";
pub const STORE: &str = "store-mitte";

impl Suite {
    pub async fn start() -> Suite {
        let ports: Vec<(Service, ReservedPort)> = Service::ALL
            .iter()
            .map(|service| (*service, ReservedPort::new()))
            .collect();
        let client = peers(
            ports
                .iter()
                .map(|(service, port)| (*service, port.address())),
        );
        let mut ports = ports.into_iter().map(|(_, port)| port);
        let mut next = || ports.next().unwrap();
        // In Service::ALL's order: order, inventory, routing, payment, shipping,
        // returns, saga.
        let order_port = next();
        let inventory_port = next();
        let routing_port = next();
        let payment_port = next();
        let shipping_port = next();
        let returns_port = next();
        let saga_port = next();
        let inventory = oms_inventory::test_util::start(inventory_port, |_| {}).await;
        let routing = oms_routing::test_util::start(routing_port, client.clone(), |_| {}).await;
        let payment = oms_payment::test_util::start(payment_port, |_| {}).await;
        let order = oms_order::test_util::start(order_port, client.clone(), |_| {}).await;
        let shipping = oms_shipping::test_util::start(shipping_port, client.clone(), |_| {}).await;
        let returns = oms_returns::test_util::start(returns_port, client.clone(), |_| {}).await;
        let saga = oms_saga::test_util::start(saga_port, client, |_| {}).await;
        let suite = Suite {
            order,
            inventory,
            routing,
            payment,
            shipping,
            returns,
            saga,
        };
        suite.seed_locations().await;
        suite
    }

    pub fn orders(&self) -> OrderServiceClient<OmsChannel> {
        OrderServiceClient::new(self.order.channel())
    }

    pub fn inventory(&self) -> InventoryServiceClient<OmsChannel> {
        InventoryServiceClient::new(self.inventory.channel())
    }

    pub fn payments(&self) -> PaymentServiceClient<OmsChannel> {
        PaymentServiceClient::new(self.payment.channel())
    }

    #[allow(dead_code, reason = "not every test binary reads shipments")]
    pub fn shipping(&self) -> ShippingServiceClient<OmsChannel> {
        ShippingServiceClient::new(self.shipping.channel())
    }

    pub fn sagas(&self) -> SagaServiceClient<OmsChannel> {
        SagaServiceClient::new(self.saga.channel())
    }

    async fn seed_locations(&self) {
        let mut inventory = self.inventory();
        for (id, kind, city, (lat, lon)) in [
            (BERLIN, LocationKind::Warehouse, "Berlin", (52.52, 13.40)),
            (HAMBURG, LocationKind::Warehouse, "Hamburg", (53.55, 9.99)),
            (STORE, LocationKind::Store, "Berlin", (52.52, 13.41)),
        ] {
            inventory
                .put_location(PutLocationRequest {
                    location: Some(Location {
                        location_id: id.into(),
                        name: id.into(),
                        kind: kind as i32,
                        address: Some(Address {
                            company: "OMS".into(),
                            lines: vec!["Lagerstrasse 1".into()],
                            city: city.into(),
                            postal_code: "10115".into(),
                            country_code: "DE".into(),
                            geo: Some(GeoPoint {
                                latitude: lat,
                                longitude: lon,
                            }),
                            ..Default::default()
                        }),
                        ships_to_customers: kind == LocationKind::Warehouse,
                        store_pickup: kind == LocationKind::Store,
                        active: true,
                        ..Default::default()
                    }),
                    actor: Some(operator()),
                })
                .await
                .unwrap();
        }
    }

    /// Sets the stock of `sku` at `location`.
    pub async fn stock(&self, sku: &str, location: &str, on_hand: i32) {
        let mut request = Request::new(SetStockRequest {
            sku: sku.into(),
            location_id: location.into(),
            on_hand,
            actor: Some(operator()),
            note: String::new(),
        });
        let key = format!("stock-{sku}-{location}-{on_hand}-{}", uuid::Uuid::new_v4());
        request
            .metadata_mut()
            .insert("idempotency-key", key.parse().unwrap());
        self.inventory().set_stock(request).await.unwrap();
    }

    pub async fn order(&self, order_id: &str) -> Order {
        self.orders()
            .get_order(GetOrderRequest {
                order_id: order_id.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
    }

    /// Waits until the order leaves PENDING; its final order.
    pub async fn settled(&self, order_id: &str) -> Order {
        poll_until(
            "the order saga to settle the order",
            Duration::from_secs(30),
            || async {
                let order = self.order(order_id).await;
                (order.status != OrderStatus::Pending as i32).then_some(order)
            },
        )
        .await
    }

    /// The order's saga once it ended (COMPLETED or COMPENSATED) or is STUCK.
    pub async fn saga_of(&self, order_id: &str) -> Saga {
        poll_until("the order saga to end", Duration::from_secs(30), || async {
            let sagas = self
                .sagas()
                .list_sagas(ListSagasRequest {
                    order_id: order_id.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .sagas;
            sagas.into_iter().find(|saga| {
                [
                    SagaState::Completed,
                    SagaState::Compensated,
                    SagaState::Stuck,
                ]
                .iter()
                .any(|state| *state as i32 == saga.state)
            })
        })
        .await
    }
}

pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-1".into(),
    }
}
