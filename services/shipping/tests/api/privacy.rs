//! No address, name or phone reaches the logs, whatever the service does with
//! a shipment.

use oms_proto::shipping::v1::{
    CancelShipmentRequest, TrackingEventType, cancel_shipment_request::Target,
};
use oms_testkit::logs::CapturedLogs;

use crate::helpers::{TestShipping, customer, event, operator, quote, shipment};
use oms_testkit::minted_id;

#[tokio::test(flavor = "current_thread")]
async fn a_shipment_s_life_logs_no_personal_data() {
    // The service runs on this test's single thread, so its logs are captured.
    let captured = CapturedLogs::start();
    let app = TestShipping::start().await;
    let mut client = app.client();
    client.quote_rates(quote("10117")).await.unwrap();
    let mut rejected = shipment(&minted_id("order-0"));
    rejected.destination = Some(customer("00000"));
    client.create_shipment(rejected).await.unwrap_err();
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
            TrackingEventType::Exception,
            0,
        ))
        .await
        .unwrap();
    let other = client
        .create_shipment(shipment(&minted_id("order-2")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    client
        .cancel_shipment(CancelShipmentRequest {
            target: Some(Target::ShipmentId(other.shipment_id)),
            reason: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    app.stop().await;

    let logs = captured.text();
    // The logs did capture the service's work.
    assert!(logs.contains("shipment created"), "{logs}");
    for personal in ["Ada", "Lovelace", "Unter den Linden", "1234567", "10117"] {
        assert!(!captured.mentions(personal), "{personal} logged");
    }
}
