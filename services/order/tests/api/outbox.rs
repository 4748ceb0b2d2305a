//! The outbox: orders are accepted while the coordinator is down, and each
//! saga start arrives once it is up.

use std::time::Duration;

use oms_proto::{
    order::v1::{CancelOrderRequest, GetOrderRequest, OrderStatus, TimelineEventKind},
    saga::v1::SagaKind,
};
use oms_testkit::poll_until;

use crate::helpers::*;

#[tokio::test]
async fn orders_placed_while_the_coordinator_is_down_each_start_their_saga_once_it_is_up() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let mut ids = Vec::new();
    for n in 0..5 {
        let placed = client
            .place_order(web_order(&format!("web-{n}")))
            .await
            .unwrap()
            .into_inner();
        ids.push(placed.order.unwrap().order_id);
    }

    let (coordinator, coordinator_stop) = orders.start_coordinator().await;
    for order_id in &ids {
        let client = client.clone();
        let order_id = order_id.clone();
        poll_until(
            "the saga start to be delivered",
            Duration::from_secs(20),
            || {
                let mut client = client.clone();
                let order_id = order_id.clone();
                async move {
                    let order = client
                        .get_order(GetOrderRequest {
                            order_id,
                            ..Default::default()
                        })
                        .await
                        .ok()?
                        .into_inner()
                        .order?;
                    (!order.saga_id.is_empty()).then_some(order)
                }
            },
        )
        .await;
    }

    for order_id in &ids {
        assert_eq!(
            coordinator.calls(SagaKind::Order, order_id),
            1,
            "{order_id}"
        );
    }
    coordinator_stop.cancel();
    orders.stop().await;
}

#[tokio::test]
async fn cancelling_an_order_requests_the_cancel_saga_once() {
    let orders = TestOrders::start().await;
    let (coordinator, coordinator_stop) = orders.start_coordinator().await;
    let mut client = orders.client();
    let order = client
        .place_order(web_order("web-c"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let cancel = || CancelOrderRequest {
        order_id: order.order_id.clone(),
        reason: "customer changed mind".into(),
        actor: Some(operator()),
        lines: Vec::new(),
    };

    let first = client
        .cancel_order(cancel())
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let again = client
        .cancel_order(cancel())
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();

    assert_eq!(first.status, OrderStatus::CancelRequested as i32);
    assert_eq!(first.status_reason, "customer changed mind");
    // Sagas may have started in between; the cancel itself is recorded once.
    let changes = again
        .timeline
        .iter()
        .filter(|e| e.kind == TimelineEventKind::StatusChanged as i32)
        .count();
    assert_eq!(changes, 1);
    assert_eq!(again.status_reason, "customer changed mind");
    let coordinator_ = coordinator.clone();
    let order_id = order.order_id.clone();
    poll_until("the cancel saga start", Duration::from_secs(20), || {
        let calls = coordinator_.calls(SagaKind::Cancel, &order_id);
        async move { (calls > 0).then_some(()) }
    })
    .await;
    assert_eq!(coordinator.calls(SagaKind::Cancel, &order.order_id), 1);
    coordinator_stop.cancel();
    orders.stop().await;
}
