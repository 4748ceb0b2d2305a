//! Location attributes: set, read back with defaults, listed, validated.

use oms_proto::{
    common::v1::{ActorKind, PageRequest},
    routing::v1::{
        GetLocationAttributesRequest, ListLocationAttributesRequest, ListRoutingPoliciesRequest,
        LocationAttributes, PutLocationAttributesRequest,
    },
};
use tonic::Code;

use crate::helpers::*;

fn attributes(location_id: &str) -> LocationAttributes {
    LocationAttributes {
        location_id: location_id.into(),
        daily_capacity: Some(40),
        priority: 10,
        countries_served: vec!["DE".into(), "AT".into()],
        time_zone: "Europe/Berlin".into(),
        ..Default::default()
    }
}

async fn put(
    client: &mut Client,
    attributes: LocationAttributes,
) -> Result<LocationAttributes, tonic::Status> {
    Ok(client
        .put_location_attributes(PutLocationAttributesRequest {
            attributes: Some(attributes),
            actor: Some(operator()),
        })
        .await?
        .into_inner()
        .attributes
        .unwrap())
}

#[tokio::test]
async fn attributes_are_replaced_read_back_with_defaults_and_listed_in_pages() {
    let routing = TestRouting::start().await;
    for id in ["wh-c", "wh-a", "wh-b", "wh-plain"] {
        routing.location(warehouse(id, POTSDAM)).await;
    }
    let mut client = routing.client();
    for id in ["wh-c", "wh-a", "wh-b"] {
        put(&mut client, attributes(id)).await.unwrap();
    }
    let replaced = put(
        &mut client,
        LocationAttributes {
            daily_capacity: None,
            priority: 0,
            countries_served: vec![],
            time_zone: String::new(),
            ..attributes("wh-a")
        },
    )
    .await
    .unwrap();
    assert_eq!(replaced.daily_capacity, None);
    assert_eq!(replaced.priority, 100, "0 on input means the default");
    assert!(replaced.configured);
    assert_eq!(replaced.updated_by.unwrap().kind(), ActorKind::Operator);

    let read = client
        .get_location_attributes(GetLocationAttributesRequest {
            location_ids: vec!["wh-b".into(), "wh-plain".into()],
        })
        .await
        .unwrap()
        .into_inner()
        .attributes;
    assert_eq!(read[0].location_id, "wh-b");
    assert_eq!(read[0].daily_capacity, Some(40));
    assert_eq!(read[0].countries_served, ["DE", "AT"]);
    assert_eq!(read[0].time_zone, "Europe/Berlin");
    assert!(read[0].configured);
    assert_eq!(read[1].location_id, "wh-plain");
    assert!(!read[1].configured);
    assert_eq!((read[1].priority, read[1].daily_capacity), (100, None));

    let mut ids = Vec::new();
    let mut token = String::new();
    let mut first_token = None;
    loop {
        let page = client
            .list_location_attributes(ListLocationAttributesRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token,
                }),
            })
            .await
            .unwrap()
            .into_inner();
        ids.extend(page.attributes.into_iter().map(|a| a.location_id));
        token = page.page.unwrap().next_page_token;
        first_token.get_or_insert_with(|| token.clone());
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(ids, ["wh-a", "wh-b", "wh-c"]);
    // The token of this listing pages no other RPC's.
    let policies = client
        .list_routing_policies(ListRoutingPoliciesRequest {
            page: Some(PageRequest {
                page_size: 2,
                page_token: first_token.unwrap(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(policies.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&policies), ["page.page_token"]);
    routing.finish().await;
}

#[tokio::test]
async fn attributes_of_a_location_inventory_does_not_know_are_not_found() {
    let routing = TestRouting::start().await;
    let status = put(&mut routing.client(), attributes("wh-ghost"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    routing.finish().await;
}

#[tokio::test]
async fn bad_attributes_name_every_bad_field() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();
    let status = client
        .put_location_attributes(PutLocationAttributesRequest {
            attributes: Some(LocationAttributes {
                location_id: String::new(),
                daily_capacity: Some(-1),
                priority: 1001,
                countries_served: vec!["DE".into(), "de".into(), "DE".into()],
                time_zone: "Mars/Olympus_Mons".into(),
                ..Default::default()
            }),
            actor: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "attributes.location_id",
            "attributes.daily_capacity",
            "attributes.priority",
            "attributes.countries_served[1]",
            "attributes.countries_served[2]",
            "actor",
            "attributes.time_zone",
        ]
    );

    let status = client
        .get_location_attributes(GetLocationAttributesRequest {
            location_ids: vec!["wh-a".into(), "wh-a".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["location_ids[1]"]);
    let status = client
        .get_location_attributes(GetLocationAttributesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["location_ids"]);
    routing.finish().await;
}
