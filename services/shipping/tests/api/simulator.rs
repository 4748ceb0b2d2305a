//! The carrier simulator keeps what it did in the service's database: with two
//! replicas on one database, and across a restart, a label bought through one
//! server is found, voided, tracked and retried through the other.

use oms_proto::shipping::v1::{
    ShipmentStatus, TrackingEventType, shipping_service_client::ShippingServiceClient,
};
use oms_shipping::carrier::{Fault, FaultKind, SimulatorConfig};
use tonic::Code;

use crate::helpers::{TestShipping, cancel_by_id, create, event, reason, shipment};
use oms_testkit::minted_id;

#[tokio::test]
async fn a_label_bought_through_one_replica_is_found_voided_and_tracked_through_another() {
    let app = TestShipping::start().await;
    let replica = app.start_replica().await;
    let mut first = app.client();
    let mut second = ShippingServiceClient::new(replica.channel());

    let voided = create(&mut first, shipment(&minted_id("order-1"))).await;
    let tracked = create(&mut first, shipment(&minted_id("order-2"))).await;

    // A retry on the other replica gets the same shipment and label.
    let again = create(&mut second, shipment(&minted_id("order-1"))).await;
    assert_eq!(again.shipment_id, voided.shipment_id);
    assert_eq!(again.tracking_number, voided.tracking_number);

    // The other replica's carrier knows the label, so it can void it.
    let cancelled = cancel_by_id(&mut second, &voided.shipment_id).await;
    assert_eq!(cancelled.status, ShipmentStatus::Cancelled as i32);
    let label = app.sold_label(&voided.tracking_number).await;
    assert!(label.void_time.is_some());

    let picked_up = second
        .record_tracking_event(event(
            &tracked.tracking_number,
            "p1",
            TrackingEventType::PickedUp,
            0,
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(picked_up.applied);
    assert_eq!(
        app.sold_label(&tracked.tracking_number).await.void_time,
        None
    );
    assert_eq!(app.labels_bought().await, 2);
    replica.stop().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_purchase_retried_after_a_restart_returns_the_first_label() {
    // Every purchase times out after the label was bought.
    let app = TestShipping::start_with(SimulatorConfig {
        fault: Some(Fault {
            kind: FaultKind::Timeout,
            rate: 1.0,
        }),
        seed: 5,
    })
    .await;
    let status = app
        .client()
        .create_shipment(shipment(&minted_id("order-1")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(&status), "PROVIDER_UNAVAILABLE");
    assert_eq!(app.labels_bought().await, 1);

    let app = app
        .restart(SimulatorConfig {
            fault: None,
            seed: 5,
        })
        .await;
    let created = create(&mut app.client(), shipment(&minted_id("order-1"))).await;
    assert_eq!(app.labels_bought().await, 1);
    let label = app.sold_label(&created.tracking_number).await;
    assert_eq!(
        label.carrier_key,
        format!("outbound:{}:wh-berlin", minted_id("order-1"))
    );
    assert_eq!(
        created.promised_delivery_time.unwrap(),
        oms_platform::convert::timestamp(label.promised_delivery_time)
    );

    // And the restarted service voids it.
    cancel_by_id(&mut app.client(), &created.shipment_id).await;
    assert!(
        app.sold_label(&created.tracking_number)
            .await
            .void_time
            .is_some()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_cancel_on_a_pool_of_one_connection_voids_through_the_simulator_s_own() {
    // The cancel holds the service's only connection while it voids the label:
    // the simulator must not need one of the service's.
    let app = TestShipping::start().await;
    let replica = app
        .start_replica_with(|config| config.database.pool_size = 1)
        .await;
    let mut client = ShippingServiceClient::new(replica.channel());
    let created = create(&mut client, shipment(&minted_id("order-1"))).await;
    let cancelled = cancel_by_id(&mut client, &created.shipment_id).await;
    assert_eq!(cancelled.status, ShipmentStatus::Cancelled as i32);
    assert!(
        app.sold_label(&created.tracking_number)
            .await
            .void_time
            .is_some()
    );
    replica.stop().await.unwrap();
    app.stop().await;
}
