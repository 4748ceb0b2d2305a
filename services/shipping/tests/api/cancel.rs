//! CancelShipment: allowed until the carrier picks the parcel up, harmless when
//! repeated, and a key cancelled before its shipment existed refuses the create.

use oms_proto::shipping::v1::{
    CancelShipmentRequest, ShipmentKey, ShipmentStatus, TrackingEventType,
    cancel_shipment_request::Target,
};
use std::time::Duration;

use oms_proto::order::v1::GetOrderRequest;
use oms_testkit::{minted_id, poll_until};
use tonic::Code;

use crate::helpers::{
    TestShipping, bad_fields, event, metadata, operator, reason, shipment, web_order,
};

fn cancel(target: Target) -> CancelShipmentRequest {
    CancelShipmentRequest {
        target: Some(target),
        reason: "order cancelled".into(),
        actor: Some(operator()),
    }
}

#[tokio::test]
async fn a_shipment_is_cancelled_before_pickup_and_refused_after() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let first = client
        .create_shipment(shipment(&minted_id("order-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let cancelled = client
        .cancel_shipment(cancel(Target::ShipmentId(first.shipment_id.clone())))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(cancelled.status, ShipmentStatus::Cancelled as i32);
    assert!(cancelled.cancel_time.is_some());
    // A repeat succeeds and changes nothing.
    let again = client
        .cancel_shipment(cancel(Target::ShipmentId(first.shipment_id.clone())))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(again.cancel_time, cancelled.cancel_time);

    let second = client
        .create_shipment(shipment(&minted_id("order-2")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    client
        .record_tracking_event(event(
            &second.tracking_number,
            "e1",
            TrackingEventType::PickedUp,
            0,
        ))
        .await
        .unwrap();
    let status = client
        .cancel_shipment(cancel(Target::Key(ShipmentKey {
            order_id: minted_id("order-2"),
            location_id: "wh-berlin".into(),
        })))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "SHIPMENT_IN_CARRIER_CUSTODY");
    assert_eq!(metadata(&status, "status"), "SHIPMENT_STATUS_PICKED_UP");
    app.stop().await;
}

#[tokio::test]
async fn a_delivered_shipment_cannot_be_cancelled() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = client
        .create_shipment(shipment(&minted_id("order-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    client
        .record_tracking_event(event(
            &created.tracking_number,
            "e1",
            TrackingEventType::Delivered,
            0,
        ))
        .await
        .unwrap();
    let status = client
        .cancel_shipment(cancel(Target::ShipmentId(created.shipment_id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&status, "from_state"), "SHIPMENT_STATUS_DELIVERED");
    app.stop().await;
}

#[tokio::test]
async fn a_key_cancelled_before_its_shipment_existed_refuses_the_late_create() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let response = client
        .cancel_shipment(cancel(Target::Key(ShipmentKey {
            order_id: minted_id("order-late"),
            location_id: "wh-berlin".into(),
        })))
        .await
        .unwrap()
        .into_inner();
    assert!(response.shipment.is_none());

    let status = client
        .create_shipment(shipment(&minted_id("order-late")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&status, "from_state"), "SHIPMENT_STATUS_CANCELLED");
    assert_eq!(app.labels_bought().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_cancel_needs_a_target_and_an_actor_and_an_unknown_id_is_not_found() {
    let app = TestShipping::start().await;
    let status = app
        .client()
        .cancel_shipment(CancelShipmentRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["actor", "target"]);

    let status = app
        .client()
        .cancel_shipment(cancel(Target::ShipmentId(uuid::Uuid::now_v7().to_string())))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn a_cancelled_shipment_is_reported_to_its_order() {
    // The order service records the shipment and its cancel time from the report.
    let app = TestShipping::start().await;
    let mut orders = app.orders();
    let order = orders
        .place_order(web_order("web-2001"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let mut client = app.client();
    let created = client
        .create_shipment(shipment(&order.order_id))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    client
        .cancel_shipment(cancel(Target::ShipmentId(created.shipment_id.clone())))
        .await
        .unwrap();
    let reported = poll_until("the cancel on the order", Duration::from_secs(10), || {
        let mut orders = orders.clone();
        let order_id = order.order_id.clone();
        let shipment_id = created.shipment_id.clone();
        async move {
            let order = orders
                .get_order(GetOrderRequest {
                    order_id,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap();
            order
                .shipments
                .into_iter()
                .find(|s| s.shipment_id == shipment_id)
        }
    })
    .await;
    let cancelled = reported.cancel_time.expect("the cancel time is recorded");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - 60..=now).contains(&cancelled.seconds),
        "{cancelled:?}"
    );
    assert!(reported.ship_time.is_none());
    app.stop().await;
}
