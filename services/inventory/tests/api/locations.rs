//! Locations: created, replaced, listed, validated.

use oms_proto::common::v1::PageRequest;
use oms_proto::inventory::v1::{
    GetLocationRequest, ListLocationsRequest, Location, PutLocationRequest,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_location_is_created_then_replaced_and_listed_in_pages() {
    let inventory = TestInventory::start().await;
    let mut client = inventory.client();
    for id in ["wh-c", "wh-a", "wh-b"] {
        put_location(&mut client, id, true).await;
    }
    let replaced = put_location(&mut client, "wh-a", false).await;
    assert!(!replaced.active);

    let first = client
        .list_locations(ListLocationsRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let second = client
        .list_locations(ListLocationsRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: first.page.unwrap().next_page_token,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let active = client
        .list_locations(ListLocationsRequest {
            active: Some(true),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let ids = |locations: &[Location]| {
        locations
            .iter()
            .map(|l| l.location_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first.locations), ["wh-a", "wh-b"]);
    assert_eq!(ids(&second.locations), ["wh-c"]);
    assert!(second.page.unwrap().next_page_token.is_empty());
    assert_eq!(ids(&active.locations), ["wh-b", "wh-c"]);
    let got = client
        .get_location(GetLocationRequest {
            location_id: "wh-b".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .location
        .unwrap();
    assert_eq!(got.address.unwrap().city, "Berlin");
    let missing = client
        .get_location(GetLocationRequest {
            location_id: "wh-z".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    inventory.finish().await;
}

#[tokio::test]
async fn a_bad_location_names_every_bad_field() {
    let inventory = TestInventory::start().await;
    let status = inventory
        .client()
        .put_location(PutLocationRequest {
            location: Some(Location {
                location_id: "WH 1".into(),
                name: String::new(),
                kind: 0,
                address: Some(oms_proto::common::v1::Address {
                    country_code: "Germany".into(),
                    geo: Some(oms_proto::common::v1::GeoPoint {
                        latitude: 91.0,
                        longitude: 0.0,
                    }),
                    ..Default::default()
                }),
                ships_to_customers: true,
                ..Default::default()
            }),
            actor: None,
        })
        .await
        .unwrap_err();

    assert_eq!(
        bad_fields(&status),
        [
            "location.location_id",
            "location.name",
            "location.kind",
            "location.address.country_code",
            "location.address.geo.latitude",
            "location.address.lines",
            "location.address.city",
            "location.address.postal_code",
            "actor",
        ]
    );
    inventory.finish().await;
}
