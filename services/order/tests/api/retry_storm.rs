//! Retry storms: many callers sending one idempotent call with one key at the
//! same moment act once, all get the first answer, and never take the service
//! down for other callers (the test service's pool has 3 connections).

use std::time::{Duration, Instant};

use oms_proto::order::v1::{AddNoteRequest, GetOrderRequest, UpdateShippingAddressRequest};

use crate::helpers::*;

const CALLERS: usize = 50;

/// Sends `CALLERS` copies of one call at once and, meanwhile, an unrelated
/// GetOrder; returns every answer and how long the unrelated call took.
async fn storm<T, F, Fut>(client: &Client, order_id: &str, call: F) -> (Vec<T>, Duration)
where
    F: Fn(Client) -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>> + Send + 'static,
    T: Send + 'static,
{
    let started = Instant::now();
    let calls: Vec<_> = (0..CALLERS)
        .map(|_| tokio::spawn(call(client.clone())))
        .collect();
    let unrelated = Instant::now();
    client
        .clone()
        .get_order(GetOrderRequest {
            order_id: order_id.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    let unrelated = unrelated.elapsed();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(
            call.await
                .unwrap()
                .expect("every caller gets the first answer"),
        );
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "the storm took {took:?}");
    (answers, unrelated)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_one_add_note_adds_one_note_and_other_calls_stay_fast() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = placed(&mut client, "storm-note").await;
    let other = placed(&mut client, "storm-other").await;

    let order_id = order.order_id.clone();
    let (answers, unrelated) = storm(&client, &other.order_id, move |mut client| {
        let request = keyed(
            AddNoteRequest {
                order_id: order_id.clone(),
                text: "called the customer".into(),
                actor: Some(operator()),
            },
            "storm-note-1",
        );
        async move { Ok(client.add_note(request).await?.into_inner()) }
    })
    .await;

    assert!(
        unrelated < Duration::from_millis(500),
        "GetOrder took {unrelated:?}"
    );
    let note_ids: std::collections::HashSet<String> = answers
        .iter()
        .map(|answer| answer.note.as_ref().unwrap().note_id.clone())
        .collect();
    assert_eq!(note_ids.len(), 1);
    let order = client
        .get_order(GetOrderRequest {
            order_id: order.order_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let stormed: Vec<_> = order
        .notes
        .iter()
        .filter(|note| note.text == "called the customer")
        .collect();
    assert_eq!(stormed.len(), 1);
    orders.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_one_address_change_changes_it_once_and_other_calls_stay_fast() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = placed(&mut client, "storm-address").await;
    let other = placed(&mut client, "storm-address-other").await;
    let mut address = web_order("x").shipping_address.unwrap();
    address.lines = vec!["Friedrichstrasse 100".into()];

    let order_id = order.order_id.clone();
    let (answers, unrelated) = storm(&client, &other.order_id, move |mut client| {
        let request = keyed(
            UpdateShippingAddressRequest {
                order_id: order_id.clone(),
                shipping_address: Some(address.clone()),
                actor: Some(operator()),
                reason: "customer moved".into(),
            },
            "storm-address-1",
        );
        async move { Ok(client.update_shipping_address(request).await?.into_inner()) }
    })
    .await;

    assert!(
        unrelated < Duration::from_millis(500),
        "GetOrder took {unrelated:?}"
    );
    assert!(answers.iter().all(|answer| answer == &answers[0]));
    let changes = answers[0]
        .order
        .as_ref()
        .unwrap()
        .timeline
        .iter()
        .filter(|event| event.reason == "customer moved")
        .count();
    assert_eq!(changes, 1);
    orders.stop().await;
}
