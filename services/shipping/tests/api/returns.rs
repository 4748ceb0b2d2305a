//! CreateReturnLabel: a RETURN shipment from the customer to the receiving
//! location, idempotent per return, cancellable by return id.

use oms_proto::shipping::v1::{
    CancelShipmentRequest, CreateReturnLabelRequest, ShipmentDirection, ShipmentStatus,
    cancel_shipment_request::Target,
};
use tonic::Code;

use crate::helpers::{
    TestShipping, customer, metadata, operator, parcel, reason, shipment, warehouse,
};

fn return_label(return_id: &str) -> CreateReturnLabelRequest {
    let outbound = shipment("order-1");
    CreateReturnLabelRequest {
        return_id: return_id.into(),
        order_id: "order-1".into(),
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
        .create_return_label(return_label("rma-1"))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(created.direction, ShipmentDirection::Return as i32);
    assert_eq!(created.return_id, "rma-1");
    assert!(created.packing_slip.is_none());
    let label = String::from_utf8_lossy(&created.label.unwrap().content).into_owned();
    assert!(label.contains(&format!("({}) Tj", created.tracking_number)));
    assert!(label.contains("(OMS Warehouse Berlin) Tj"));

    let again = client
        .create_return_label(return_label("rma-1"))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(again.shipment_id, created.shipment_id);
    let mut other = return_label("rma-1");
    other.parcels = vec![parcel(5000)];
    let status = client.create_return_label(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(metadata(&status, "return_id"), "rma-1");

    let cancelled = client
        .cancel_shipment(CancelShipmentRequest {
            target: Some(Target::ReturnId("rma-1".into())),
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
            target: Some(Target::ReturnId("rma-2".into())),
            reason: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let status = client
        .create_return_label(return_label("rma-2"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    app.stop().await;
}
