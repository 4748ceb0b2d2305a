//! The location's address comes from the inventory service when the caller
//! leaves it out: an unknown location is NOT_FOUND, an unreachable inventory
//! UNAVAILABLE, and nothing is bought then.

use tonic::Code;

use crate::{
    helpers::{TestShipping, quote, shipment},
    pdf,
};
use oms_testkit::minted_id;

#[tokio::test]
async fn a_shipment_without_origin_ships_from_the_address_inventory_holds() {
    let app = TestShipping::start_with_inventory().await;
    let mut client = app.client();
    let mut request = shipment(&minted_id("order-1"));
    request.origin = None;
    let created = client
        .create_shipment(request.clone())
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(created.origin.unwrap().lines, ["Lagerstrasse 1"]);
    let label = pdf::text(&created.label.unwrap().content);
    assert!(label.contains("Lagerstrasse 1"), "{label:?}");
    // The retry is the same request, so the same shipment.
    let again = client.create_shipment(request).await.unwrap().into_inner();
    assert_eq!(again.shipment.unwrap().shipment_id, created.shipment_id);

    let mut same_day = quote("10117");
    same_day.origin = None;
    let rates = client.quote_rates(same_day).await.unwrap().into_inner();
    assert_eq!(rates.rates.len(), 3);

    let mut unknown = shipment(&minted_id("order-2"));
    unknown.origin = None;
    unknown.location_id = "wh-nowhere".into();
    let status = client.create_shipment(unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(app.labels_bought().await, 1);
    app.stop().await;
}

#[tokio::test]
async fn without_inventory_a_shipment_without_origin_is_unavailable() {
    let app = TestShipping::start().await;
    let mut request = shipment(&minted_id("order-1"));
    request.origin = None;
    let status = app.client().create_shipment(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(app.labels_bought().await, 0);
    app.stop().await;
}
