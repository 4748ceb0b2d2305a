//! The order service for tests of any crate (feature `test-util`): on a port
//! the test chose, with a fresh database of its own, and the sample order the
//! tests place.

use std::time::Duration;

use oms_platform::config::{ClientConfig, DatabaseConfig};
use oms_proto::{
    common::v1::{
        Address, CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption, GeoPoint,
        LineItem, Money, PaymentMethod, ServiceLevel, payment_method::Method,
    },
    order::v1::{Customer, PlaceOrderRequest},
};
use oms_testkit::{ReservedPort, TestDatabase, TestService, server_config};

use crate::{Config, run};

/// Test settings: the outbox polls every 50 ms, peers as `client` says.
pub fn config(database: DatabaseConfig, client: ClientConfig) -> Config {
    Config {
        server: server_config(),
        database,
        client,
        outbox_poll: Duration::from_millis(50),
    }
}

/// Starts the service on `port`, calling its peers (the saga coordinator) as
/// `client` says.
pub async fn start(
    port: ReservedPort,
    client: ClientConfig,
    configure: impl FnOnce(&mut Config),
) -> TestService {
    let database = TestDatabase::create().await;
    let mut config = config(database.config(), client);
    configure(&mut config);
    TestService::start(port, database, None, |listener, shutdown| {
        run(config, listener, shutdown)
    })
    .await
}

/// `amount_minor` euro cents.
pub fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

/// The sample order: a web order of TEE-M × 2 at 19.99 and CAP × 1 at 15.00
/// (EUR), standard shipping at 4.95 to Ada Lovelace in Berlin, paid by card
/// token. Tests change what they need with struct update syntax.
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
                unit_price: eur(1999),
            },
            LineItem {
                sku: "CAP".into(),
                quantity: 1,
                unit_price: eur(1500),
            },
        ],
        currency_code: "EUR".into(),
        delivery_option: Some(DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            service_level: ServiceLevel::Standard as i32,
            pickup_location_id: String::new(),
        }),
        shipping_price: eur(495),
        payment_method: Some(PaymentMethod {
            method: Some(Method::Card(CardToken {
                token: "tok_visa_4242".into(),
            })),
        }),
        ..Default::default()
    }
}
