//! The typed clients over real gRPC: a service that comes up while a call
//! retries, a change retried under one key, a deadline that ends a call.

use std::time::Duration;

use oms_client::{CallPolicy, InventoryClient, new_key};
use oms_platform::client;
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, GeoPoint},
    inventory::v1::{
        ListLocationsRequest, Location, LocationKind, PutLocationRequest, SetStockRequest,
    },
};
use oms_testkit::{ReservedPort, client_config};

fn patient() -> CallPolicy {
    CallPolicy {
        deadline: Duration::from_secs(5),
        max_attempts: 100,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
    }
}

fn operator() -> Option<Actor> {
    Some(Actor {
        kind: ActorKind::Operator as i32,
        id: "op-1".into(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_sent_while_the_service_is_down_lands_once_when_it_comes_up() {
    // Held, not listening: a call is refused at once, as by a service that is down.
    let port = ReservedPort::new();
    let address = port.address();
    let channel = client::channel(&address.to_string(), &client_config()).unwrap();
    let inventory = InventoryClient::new(channel).with_policy(patient());
    let down = inventory
        .clone()
        .with_policy(patient().with_max_attempts(1))
        .list_locations(ListLocationsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(down.code(), tonic::Code::Unavailable);

    let key = new_key("test");
    let request = PutLocationRequest {
        location: Some(Location {
            location_id: "wh-retry".into(),
            name: "retry".into(),
            kind: LocationKind::Warehouse as i32,
            address: Some(Address {
                lines: vec!["Lagerstrasse 1".into()],
                city: "Berlin".into(),
                postal_code: "10115".into(),
                country_code: "DE".into(),
                geo: Some(GeoPoint {
                    latitude: 52.5,
                    longitude: 13.4,
                }),
                ..Default::default()
            }),
            ships_to_customers: true,
            active: true,
            ..Default::default()
        }),
        actor: operator(),
    };
    let retrying = {
        let inventory = inventory.clone();
        let key = key.clone();
        tokio::spawn(async move { inventory.put_location(request, &key).await })
    };
    let service = oms_inventory::test_util::start(port, |_| {}).await;
    let location = retrying.await.unwrap().unwrap().location.unwrap();
    assert_eq!(location.location_id, "wh-retry");

    // A count sent twice under one key is counted once.
    let count = SetStockRequest {
        sku: "TEE-M".into(),
        location_id: "wh-retry".into(),
        on_hand: 5,
        actor: operator(),
        note: String::new(),
    };
    let key = new_key("test");
    let first = inventory.set_stock(count.clone(), &key).await.unwrap();
    let again = inventory.set_stock(count, &key).await.unwrap();
    assert_eq!(first.movement, again.movement);
    service.stop().await;
}

#[tokio::test]
async fn a_call_ends_at_its_deadline() {
    // Listening, never answering: the connection is accepted, no reply comes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let channel = client::channel(&address.to_string(), &client_config()).unwrap();
    let inventory = InventoryClient::new(channel)
        .with_policy(CallPolicy::default().with_deadline(Duration::from_millis(300)));

    let started = std::time::Instant::now();
    let answer = inventory
        .list_locations(ListLocationsRequest::default())
        .await
        .unwrap_err();

    assert_eq!(answer.code(), tonic::Code::DeadlineExceeded, "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(listener);
}
