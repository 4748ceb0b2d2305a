//! CreateReturnLabel: a RETURN shipment from the customer to the receiving
//! location, idempotent per return, cancellable by return id.

use oms_proto::{
    common::v1::ActorKind,
    shipping::v1::{
        CancelShipmentRequest, CreateReturnLabelRequest, ShipmentDirection, ShipmentStatus,
        TrackingEventType, cancel_shipment_request::Target,
    },
};
use oms_testkit::minted_id;
use tonic::Code;

use crate::{
    helpers::{
        TestShipping, customer, event, metadata, operator, parcel, reason, shipment, warehouse,
    },
    pdf,
};

fn return_label(return_id: &str) -> CreateReturnLabelRequest {
    let outbound = shipment(&minted_id("order-1"));
    CreateReturnLabelRequest {
        return_id: return_id.into(),
        order_id: minted_id("order-1"),
        location_id: "wh-berlin".into(),
        lines: outbound.lines,
        parcels: vec![parcel(800)],
        origin: Some(customer("10117")),
        destination: Some(warehouse()),
        service_level: 0,
        carrier: String::new(),
        label_format: 0,
        actor: Some(operator()),
    }
}

#[tokio::test]
async fn a_return_label_goes_from_the_customer_to_the_location_once_per_return() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = client
        .create_return_label(return_label(&minted_id("rma-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(created.direction, ShipmentDirection::Return as i32);
    assert_eq!(created.return_id, minted_id("rma-1"));
    assert!(created.packing_slip.is_none());
    let label = pdf::text(&created.label.unwrap().content);
    assert!(label.contains(&created.tracking_number), "{label:?}");
    assert!(label.contains("OMS Warehouse Berlin"), "{label:?}");

    let again = client
        .create_return_label(return_label(&minted_id("rma-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(again.shipment_id, created.shipment_id);
    let mut other = return_label(&minted_id("rma-1"));
    other.parcels = vec![parcel(5000)];
    let status = client.create_return_label(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(metadata(&status, "return_id"), minted_id("rma-1"));

    let cancelled = client
        .cancel_shipment(CancelShipmentRequest {
            target: Some(Target::ReturnId(minted_id("rma-1"))),
            reason: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(cancelled.status, ShipmentStatus::Cancelled as i32);
    app.stop().await;
}

#[tokio::test]
async fn a_return_cancelled_before_its_label_refuses_the_late_label() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    client
        .cancel_shipment(CancelShipmentRequest {
            target: Some(Target::ReturnId(minted_id("rma-2"))),
            reason: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let status = client
        .create_return_label(return_label(&minted_id("rma-2")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    app.stop().await;
}

#[tokio::test]
async fn a_return_parcel_picked_up_puts_its_return_in_transit() {
    let app = TestShipping::start_with_returns().await;
    let mut client = app.client();
    let (return_id, label) = app.labelled_return("web-r").await;

    let pickup = event(&label.tracking_number, "r1", TrackingEventType::PickedUp, 0);
    client.record_tracking_event(pickup.clone()).await.unwrap();
    // Later events report nothing more.
    client
        .record_tracking_event(event(
            &label.tracking_number,
            "r2",
            TrackingEventType::InTransit,
            30,
        ))
        .await
        .unwrap();

    let rma = app.in_transit(&return_id).await;
    let entry = rma.timeline.last().unwrap();
    assert_eq!(entry.time, pickup.event_time);
    assert_eq!(
        entry.actor.as_ref().unwrap().kind,
        ActorKind::Carrier as i32
    );
    assert_eq!(entry.actor.as_ref().unwrap().id, label.carrier);
    app.stop().await;
}
