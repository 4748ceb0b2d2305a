//! [`World`]: a suite seeded for the sagas' tests, with a Berlin and a
//! Hamburg warehouse and a Berlin store, and what each service holds for an
//! order, read through its contract.

use std::time::Duration;

use crate::{Settings, Suite, TestChannel};
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, GeoPoint},
    inventory::v1::{
        GetAvailabilityRequest, GetReservationRequest, Location, LocationKind, PutLocationRequest,
        Reservation, SetStockRequest, get_reservation_request,
    },
    order::v1::{GetOrderRequest, Order, OrderStatus, PlaceOrderRequest},
    payment::v1::{ListPaymentsRequest, Payment},
    saga::v1::{
        ListSagasRequest, Saga, SagaKind, SagaState, saga_service_client::SagaServiceClient,
    },
};
use oms_testkit::poll_until;
use tonic::Request;

/// The seeded warehouse in Berlin.
pub const BERLIN: &str = "wh-berlin";
/// The seeded warehouse in Hamburg.
pub const HAMBURG: &str = "wh-hamburg";
/// The seeded store in Berlin, for pickup only.
pub const STORE: &str = "store-mitte";

/// How long a test waits for a saga to end.
pub const SAGA_END: Duration = Duration::from_secs(60);

/// The suite with its seeded locations.
pub struct World {
    /// The services.
    pub suite: Suite,
    /// Where the test reads sagas: the suite's saga address unless a test
    /// moved it (to another replica).
    pub saga_address: std::net::SocketAddr,
}

impl World {
    /// The suite with the coordinator in this process.
    pub async fn start() -> World {
        World::start_with(Settings::with_saga()).await
    }

    /// The suite with the coordinator in this process, every service over
    /// mutual TLS, the test calling as the `operator`.
    pub async fn start_tls() -> World {
        World::start_with(Settings::with_saga().with_tls()).await
    }

    /// The suite as `settings` say, with the coordinator in this process.
    pub async fn start_with(settings: Settings) -> World {
        let suite = Suite::start_with(Settings {
            saga: true,
            ..settings
        })
        .await;
        World::seed(suite).await
    }

    /// Seeds the locations into `suite`, whose coordinator runs wherever the
    /// test put it (it listens on the suite's saga address).
    pub async fn seed(suite: Suite) -> World {
        let world = World {
            saga_address: suite.saga_address(),
            suite,
        };
        for (id, kind, (lat, lon)) in [
            (BERLIN, LocationKind::Warehouse, (52.52, 13.40)),
            (HAMBURG, LocationKind::Warehouse, (53.55, 9.99)),
            (STORE, LocationKind::Store, (52.52, 13.41)),
        ] {
            world
                .suite
                .inventory()
                .put_location(PutLocationRequest {
                    location: Some(Location {
                        location_id: id.into(),
                        name: id.into(),
                        kind: kind as i32,
                        address: Some(Address {
                            company: "OMS".into(),
                            lines: vec!["Lagerstrasse 1".into()],
                            city: "Berlin".into(),
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
        world
    }

    /// Waits until the saga of `order_id` runs `step`.
    pub async fn saga_at_step(&self, order_id: &str, step: &str) {
        poll_until(&format!("the saga at {step}"), SAGA_END, || async {
            let saga = self.saga_in(order_id, &[SagaState::Running]).await;
            (saga.current_step == step).then_some(())
        })
        .await;
    }

    /// A client of the coordinator at [`World::saga_address`], calling as
    /// the suite's clients do (their caller and headers).
    pub fn saga(&self) -> SagaServiceClient<TestChannel> {
        // The suite's own coordinator over the suite's connection: a poll
        // for a saga's end then makes no TLS handshake per call.
        if self.suite.saga.is_some() && self.saga_address == self.suite.saga_address() {
            return self.suite.saga();
        }
        let channel = self.suite.caller().channel(self.saga_address);
        SagaServiceClient::new(self.suite.clients().headers().wrap(channel))
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
        let key = format!("stock-{}", uuid::Uuid::new_v4());
        request
            .metadata_mut()
            .insert("idempotency-key", key.parse().unwrap());
        self.suite.inventory().set_stock(request).await.unwrap();
    }

    /// Places `order`; its id.
    pub async fn place(&self, order: PlaceOrderRequest) -> String {
        self.suite
            .order()
            .place_order(order)
            .await
            .unwrap()
            .into_inner()
            .order
            .unwrap()
            .order_id
    }

    /// The order as the order service has it now.
    pub async fn order(&self, order_id: &str) -> Order {
        self.suite
            .order()
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

    /// The order's fulfilment saga once it ended (COMPLETED or COMPENSATED)
    /// or is STUCK, with the order as it is then.
    pub async fn outcome(&self, order_id: &str) -> (Saga, Order) {
        let saga = self
            .saga_in(
                order_id,
                &[
                    SagaState::Completed,
                    SagaState::Compensated,
                    SagaState::Stuck,
                ],
            )
            .await;
        (saga, self.order(order_id).await)
    }

    /// The order's fulfilment saga once it is in one of `states`.
    pub async fn saga_in(&self, order_id: &str, states: &[SagaState]) -> Saga {
        self.saga_of(SagaKind::Order, order_id, states).await
    }

    /// The order's saga of `kind` (its first, for a kind an order has several
    /// of) once it is in one of `states`.
    pub async fn saga_of(&self, kind: SagaKind, order_id: &str, states: &[SagaState]) -> Saga {
        poll_until(&format!("the {kind:?} saga"), SAGA_END, || async {
            let sagas = self
                .saga()
                .list_sagas(ListSagasRequest {
                    kind: kind as i32,
                    order_id: order_id.into(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .sagas;
            sagas
                .into_iter()
                .find(|saga| states.iter().any(|state| *state as i32 == saga.state))
        })
        .await
    }

    /// The order's reservation, if it has one.
    pub async fn reservation(&self, order_id: &str) -> Option<Reservation> {
        self.suite
            .inventory()
            .get_reservation(GetReservationRequest {
                key: Some(get_reservation_request::Key::OrderId(order_id.into())),
            })
            .await
            .ok()?
            .into_inner()
            .reservation
    }

    /// The order's payments.
    pub async fn payments(&self, order_id: &str) -> Vec<Payment> {
        self.suite
            .payment()
            .list_payments(ListPaymentsRequest {
                order_id: order_id.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .payments
    }

    /// (on hand, reserved) of `sku` over every location.
    pub async fn stock_of(&self, sku: &str) -> (i32, i32) {
        let availability = self
            .suite
            .inventory()
            .get_availability(GetAvailabilityRequest {
                skus: vec![sku.into()],
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .skus
            .remove(0);
        (availability.on_hand, availability.reserved)
    }
}

/// The order's status.
pub fn status(order: &Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap()
}

/// An operator actor, for calls customer service makes.
pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-1".into(),
    }
}
