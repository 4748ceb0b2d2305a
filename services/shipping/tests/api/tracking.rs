//! RecordTrackingEvent: repeats and late events are kept in event-time order,
//! the status never goes backwards, and the order service hears of pickup and
//! delivery through the outbox.

use std::time::Duration;

use oms_proto::{
    order::v1::OrderStatus,
    shipping::v1::{ShipmentStatus, TrackingEventType},
};
use oms_testkit::{minted_id, poll_until};
use tonic::Code;

use crate::helpers::{
    TestShipping, bad_fields, create, event, metadata, order_status, reason, shipment, web_order,
};

#[tokio::test]
async fn events_delivered_twice_and_out_of_order_give_the_timeline_and_status_and_move_the_order() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let mut orders = app.orders();
    let order = orders
        .place_order(web_order("web-1001"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let created = client
        .create_shipment(shipment(&order.order_id))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let tracking = created.tracking_number.clone();

    // In transit arrives first: the parcel left, the order is shipped.
    // Nanoseconds, which the database does not keep: the repeat must still match.
    let mut transit = event(&tracking, "e2", TrackingEventType::InTransit, 60);
    transit.event_time.as_mut().unwrap().nanos = 123_456_789;
    let response = client
        .record_tracking_event(transit.clone())
        .await
        .unwrap()
        .into_inner();
    assert!(response.applied);
    poll_until("the order to be shipped", Duration::from_secs(10), || {
        let mut orders = orders.clone();
        let order_id = order.order_id.clone();
        let shipment_id = created.shipment_id.clone();
        async move {
            let (status, shipments) = order_status(&mut orders, &order_id).await;
            (status == OrderStatus::Shipped as i32 && shipments == [shipment_id]).then_some(())
        }
    })
    .await;

    // The same event again, then a late pickup: kept, not applied.
    let repeat = client
        .record_tracking_event(transit)
        .await
        .unwrap()
        .into_inner();
    assert!(!repeat.applied);
    let late = client
        .record_tracking_event(event(&tracking, "e1", TrackingEventType::PickedUp, 0))
        .await
        .unwrap()
        .into_inner();
    assert!(!late.applied);
    assert_eq!(
        late.shipment.unwrap().status,
        ShipmentStatus::InTransit as i32
    );

    // Delivered, then a late out-for-delivery and the delivery once more.
    let delivered = event(&tracking, "e4", TrackingEventType::Delivered, 180);
    assert!(
        client
            .record_tracking_event(delivered.clone())
            .await
            .unwrap()
            .into_inner()
            .applied
    );
    let late = client
        .record_tracking_event(event(
            &tracking,
            "e3",
            TrackingEventType::OutForDelivery,
            120,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!late.applied);
    let last = client
        .record_tracking_event(delivered)
        .await
        .unwrap()
        .into_inner();
    assert!(!last.applied);

    let shipment = last.shipment.unwrap();
    assert_eq!(shipment.status, ShipmentStatus::Delivered as i32);
    let timeline: Vec<(&str, bool)> = shipment
        .events
        .iter()
        .map(|e| (e.carrier_event_id.as_str(), e.applied))
        .collect();
    assert_eq!(
        timeline,
        [("e1", false), ("e2", true), ("e3", false), ("e4", true)]
    );
    // Pickup is the earliest custody event known, delivery the delivery's time.
    assert_eq!(shipment.pickup_time.unwrap().seconds, 1_793_610_000);
    assert_eq!(
        shipment.delivery_time.unwrap().seconds,
        1_793_610_000 + 180 * 60
    );

    app.order_in(&order.order_id, OrderStatus::Delivered).await;
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_attempt_may_be_followed_by_the_next_attempt() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = client
        .create_shipment(shipment(&minted_id("order-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let tracking = created.tracking_number;
    for (id, kind, minute) in [
        ("a1", TrackingEventType::OutForDelivery, 10),
        ("a2", TrackingEventType::DeliveryAttempted, 20),
        ("a3", TrackingEventType::OutForDelivery, 30),
    ] {
        let response = client
            .record_tracking_event(event(&tracking, id, kind, minute))
            .await
            .unwrap();
        assert!(response.into_inner().applied, "{id}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_event_id_reused_with_other_content_conflicts_and_bad_events_are_refused() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = client
        .create_shipment(shipment(&minted_id("order-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let tracking = created.tracking_number;
    client
        .record_tracking_event(event(&tracking, "e1", TrackingEventType::PickedUp, 0))
        .await
        .unwrap();
    let status = client
        .record_tracking_event(event(&tracking, "e1", TrackingEventType::Delivered, 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "NATURAL_KEY_CONFLICT");
    assert_eq!(metadata(&status, "carrier_event_id"), "e1");

    let status = client
        .record_tracking_event(event("SIM-NOPE", "e9", TrackingEventType::PickedUp, 0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let mut bad = event(&tracking, "", TrackingEventType::Unspecified, 0);
    bad.event_time = Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 3 * 86_400,
        nanos: 0,
    });
    let status = client.record_tracking_event(bad).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["carrier_event_id", "event_type", "event_time"]
    );
    app.stop().await;
}

/// The same carrier event id sent for two shipments at once: each shipment's
/// lock lets both look for the id before either stores it, and the second
/// store is still the natural key's conflict, never INTERNAL.
#[tokio::test]
async fn one_event_id_sent_for_two_shipments_at_once_is_stored_once_and_conflicts_once() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let first = create(&mut client, shipment(&minted_id("order-1"))).await;
    let second = create(&mut client, shipment(&minted_id("order-2"))).await;
    for round in 0..20 {
        let id = format!("race-{round}");
        let (mut one, mut other) = (client.clone(), client.clone());
        let (one, other) = tokio::join!(
            one.record_tracking_event(event(
                &first.tracking_number,
                &id,
                TrackingEventType::InTransit,
                round
            )),
            other.record_tracking_event(event(
                &second.tracking_number,
                &id,
                TrackingEventType::InTransit,
                round
            )),
        );
        let refused: Vec<_> = [one.err(), other.err()].into_iter().flatten().collect();
        assert_eq!(refused.len(), 1, "round {round}: {refused:?}");
        assert_eq!(refused[0].code(), Code::AlreadyExists, "{:?}", refused[0]);
        assert_eq!(reason(&refused[0]), "NATURAL_KEY_CONFLICT");
        assert_eq!(metadata(&refused[0], "carrier_event_id"), id);
    }
    app.stop().await;
}
