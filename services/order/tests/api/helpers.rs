//! Starting the order service for a test, with the saga coordinator stand-in
//! at a known address, and requests to place.

use std::sync::Mutex;

use oms_order::test_util;
use oms_platform::{client::OmsChannel, config::Service};
use oms_proto::{
    common::v1::{Actor, ActorKind, Money},
    order::v1::{
        Customer, GetOrderRequest, Order, PlaceOrderRequest,
        order_service_client::OrderServiceClient,
    },
};
pub use oms_testkit::keyed;
pub use oms_testkit::saga::Coordinator;
pub use oms_testkit::status::{bad_fields, reason};
use oms_testkit::{ReservedPort, TestService, peers};
use tokio_util::sync::CancellationToken;

pub type Client = OrderServiceClient<OmsChannel>;

/// The sample order placed with external reference `reference`.
pub async fn placed(client: &mut Client, reference: &str) -> Order {
    client
        .place_order(web_order(reference))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
}

/// The order placed by `request`, its id.
pub async fn place(client: &mut Client, request: PlaceOrderRequest) -> String {
    client
        .place_order(request)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .order_id
}

/// The order `order_id` as GetOrder reads it.
pub async fn get(client: &mut Client, order_id: &str) -> Order {
    client
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

/// The id a test calls `label` ("s1", "pay-1"), as the OMS mints ids.
pub fn minted(label: &str) -> String {
    oms_testkit::minted_id(label)
}

/// An order service with a fresh database, whose saga coordinator is expected
/// on a reserved port where nothing listens until a test starts the stand-in.
pub struct TestOrders {
    pub service: TestService,
    saga_port: Mutex<Option<ReservedPort>>,
}

impl TestOrders {
    pub async fn start() -> TestOrders {
        let saga_port = ReservedPort::new();
        let client = peers([(Service::Saga, saga_port.address())]);
        let service = test_util::start(ReservedPort::new(), client, |_| {}).await;
        TestOrders {
            service,
            saga_port: Mutex::new(Some(saga_port)),
        }
    }

    pub fn client(&self) -> Client {
        OrderServiceClient::new(self.service.channel())
    }

    /// Starts the coordinator stand-in on the port the service calls.
    pub async fn start_coordinator(&self) -> (Coordinator, CancellationToken) {
        let port = self.saga_port.lock().unwrap().take();
        Coordinator::serve(port.expect("the coordinator starts once")).await
    }

    pub async fn stop(self) {
        self.service.stop().await;
    }
}

pub fn money(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-7".into(),
    }
}

/// The fulfilment saga, as it names itself when it reports facts.
pub fn saga() -> Actor {
    Actor {
        kind: ActorKind::Saga as i32,
        id: "saga-1".into(),
    }
}

/// The sample order with a customer email to normalise, a note and tags to
/// deduplicate.
pub fn web_order(reference: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        customer: Some(Customer {
            name: "Ada Lovelace".into(),
            email: " Ada@Example.com ".into(),
            phone: "+49 30 1234567".into(),
        }),
        notes: vec!["leave at the door".into()],
        tags: vec!["VIP".into(), "vip".into(), "gift".into()],
        ..test_util::web_order(reference)
    }
}
