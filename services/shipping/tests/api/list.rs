//! ListShipments: newest first, filtered, paged with tokens bound to their
//! filters, without document content.

use oms_proto::{
    common::v1::PageRequest,
    shipping::v1::{
        CancelShipmentRequest, ListShipmentsRequest, ShipmentStatus,
        cancel_shipment_request::Target,
    },
};
use tonic::Code;

use crate::helpers::{TestShipping, bad_fields, operator, shipment};
use oms_testkit::minted_id;

#[tokio::test]
async fn shipments_are_listed_newest_first_by_filter_and_page() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let mut ids = Vec::new();
    for i in 0..5 {
        let created = client
            .create_shipment(shipment(&minted_id(&format!("order-{i}"))))
            .await
            .unwrap()
            .into_inner()
            .shipment
            .unwrap();
        ids.push(created.shipment_id);
    }
    client
        .cancel_shipment(CancelShipmentRequest {
            target: Some(Target::ShipmentId(ids[1].clone())),
            reason: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();

    let page = |token: &str| ListShipmentsRequest {
        page: Some(PageRequest {
            page_size: 2,
            page_token: token.into(),
        }),
        ..Default::default()
    };
    let mut listed = Vec::new();
    let mut token = String::new();
    loop {
        let response = client
            .list_shipments(page(&token))
            .await
            .unwrap()
            .into_inner();
        for shipment in &response.shipments {
            assert!(shipment.label.as_ref().unwrap().content.is_empty());
            listed.push(shipment.shipment_id.clone());
        }
        token = response.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(listed, newest_first);

    let cancelled = client
        .list_shipments(ListShipmentsRequest {
            statuses: vec![ShipmentStatus::Cancelled as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let cancelled: Vec<_> = cancelled
        .shipments
        .iter()
        .map(|s| s.shipment_id.clone())
        .collect();
    assert_eq!(cancelled, [ids[1].clone()]);

    let first = client.list_shipments(page("")).await.unwrap().into_inner();
    let mut other_filters = page(&first.page.unwrap().next_page_token);
    other_filters.order_id = minted_id("order-3");
    let status = client.list_shipments(other_filters).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["page.page_token"]);
    app.stop().await;
}
