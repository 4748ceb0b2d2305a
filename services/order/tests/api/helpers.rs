//! Starting the order service for a test, with the saga coordinator stand-in
//! at a known address, and requests to place.

use std::{sync::Mutex, time::Duration};

use oms_order::{Config, run};
use oms_platform::{client::OmsChannel, config::Service};
use oms_proto::{
    common::v1::{
        Actor, ActorKind, Address, CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption,
        GeoPoint, LineItem, Money, PaymentMethod, ServiceLevel, payment_method::Method,
    },
    order::v1::{Customer, PlaceOrderRequest, order_service_client::OrderServiceClient},
};
pub use oms_testkit::saga::Coordinator;
pub use oms_testkit::status::{bad_fields, reason};
use oms_testkit::{ReservedPort, TestDatabase, TestServer, client_config, server_config};
use tokio_util::sync::CancellationToken;

pub type Client = OrderServiceClient<OmsChannel>;

/// An order service with a fresh database, whose saga coordinator is expected
/// on a reserved port where nothing listens until a test starts the stand-in.
pub struct TestOrders {
    pub db: TestDatabase,
    pub server: TestServer,
    saga_port: Mutex<Option<ReservedPort>>,
}

impl TestOrders {
    pub async fn start() -> TestOrders {
        // The coordinator's port stays closed until a test starts one on it.
        let saga_port = ReservedPort::new();
        let db = TestDatabase::create().await;
        let mut client = client_config();
        client
            .peers
            .insert(Service::Saga, saga_port.address().to_string());
        let config = Config {
            server: server_config(),
            database: db.config(),
            client,
            outbox_poll: Duration::from_millis(50),
        };
        let server = TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await;
        TestOrders {
            db,
            server,
            saga_port: Mutex::new(Some(saga_port)),
        }
    }

    pub fn client(&self) -> Client {
        OrderServiceClient::new(self.server.channel())
    }

    /// Starts the coordinator stand-in on the address the service calls.
    pub async fn start_coordinator(&self) -> (Coordinator, CancellationToken) {
        let port = self.saga_port.lock().unwrap().take();
        Coordinator::serve(port.expect("the coordinator starts once")).await
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("a clean stop");
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

/// A web order of two lines shipped to Berlin, paid by card token.
pub fn web_order(reference: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        channel: Some(Channel {
            kind: ChannelKind::Web as i32,
            name: String::new(),
        }),
        external_reference: reference.into(),
        customer: Some(Customer {
            name: "Ada Lovelace".into(),
            email: " Ada@Example.com ".into(),
            phone: "+49 30 1234567".into(),
        }),
        shipping_address: Some(Address {
            recipient_name: "Ada Lovelace".into(),
            lines: vec!["Unter den Linden 77".into()],
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10117".into(),
            country_code: "DE".into(),
            geo: Some(GeoPoint {
                latitude: 52.5163,
                longitude: 13.3777,
            }),
            ..Default::default()
        }),
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
        notes: vec!["leave at the door".into()],
        tags: vec!["VIP".into(), "vip".into(), "gift".into()],
        place_time: None,
        actor: None,
        exchange: None,
    }
}
