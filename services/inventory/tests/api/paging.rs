//! Paging through every listing: each item once, in the contract's order, and
//! a page token good only for the listing (RPC and filters) it came from.

use std::{collections::HashSet, future::Future};

use oms_proto::{
    common::v1::{ChannelKind, PageRequest},
    inventory::v1::{
        ChannelAvailabilityPolicy, ListChannelAvailabilityPoliciesRequest, ListLocationsRequest,
        ListLowStockRequest, ListReservationsRequest, ListStockMovementsRequest,
        PutChannelAvailabilityPolicyRequest, ReservationState, SetStockThresholdRequest,
    },
};
use tonic::{Code, Status};

use crate::helpers::*;

/// An inventory with a few of everything that is listed: four locations (one
/// id with a dot), six low stock rows (SKUs with a dot, ties in the gap), their
/// ledger, five reservations and five channel policies. Location ids of digits
/// make a ListLocations key one that would read as a ListStockMovements key
/// (and the other way round): only the RPC in the token tells them apart.
async fn listed() -> TestInventory {
    let inventory = TestInventory::start().await;
    let mut client = inventory.client();
    for location in ["30", "4.0", "10", "20"] {
        inventory.location(location).await;
    }
    for sku in ["tee.m", "tee-s", "cap"] {
        for location in ["10", "20"] {
            inventory.set_stock(sku, location, 5).await;
            client
                .set_stock_threshold(SetStockThresholdRequest {
                    sku: sku.into(),
                    location_id: location.into(),
                    threshold: 5,
                    actor: Some(operator()),
                })
                .await
                .unwrap();
        }
    }
    for order in 1..=5 {
        let lines = vec![line("tee-s", "20", 1)];
        reserve(&mut client, &format!("order-{order}"), lines)
            .await
            .unwrap();
    }
    for (kind, name) in [
        (ChannelKind::Marketplace, "zalando"),
        (ChannelKind::Marketplace, "amazon-de"),
        (ChannelKind::Marketplace, "otto.de"),
        (ChannelKind::Web, ""),
        (ChannelKind::App, ""),
    ] {
        client
            .put_channel_availability_policy(PutChannelAvailabilityPolicyRequest {
                policy: Some(ChannelAvailabilityPolicy {
                    channel: Some(channel(kind, name)),
                    safety_buffer: 1,
                    ..Default::default()
                }),
                actor: Some(operator()),
            })
            .await
            .unwrap();
    }
    inventory
}

fn page(size: i32, token: &str) -> Option<PageRequest> {
    Some(PageRequest {
        page_size: size,
        page_token: token.into(),
    })
}

/// A listing for [`both_ways`]: `$rpc` called with `$request` (filters unset)
/// for one page, answering the keys (`$key` of each of `$items`) and the next token.
macro_rules! listing {
    ($client:expr, $rpc:ident($request:ident).$items:ident, $key:expr) => {
        |page| {
            let mut client = $client.clone();
            async move {
                let listed = client
                    .$rpc($request {
                        page,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let keys = listed.$items.into_iter().map($key).collect();
                (keys, listed.page.unwrap().next_page_token)
            }
        }
    };
}

/// The keys of a listing in one page of 500, and paged through two at a time,
/// with the token of its first page of two. `list` answers a page with its
/// items' keys and the next token.
async fn both_ways<F, Fut>(list: F) -> (Vec<String>, Vec<String>, String)
where
    F: Fn(Option<PageRequest>) -> Fut,
    Fut: Future<Output = (Vec<String>, String)>,
{
    let (whole, rest) = list(page(500, "")).await;
    assert_eq!(rest, "", "everything fits one page of 500");
    let (mut paged, first) = list(page(2, "")).await;
    let mut token = first.clone();
    while !token.is_empty() {
        assert!(paged.len() <= whole.len(), "paging never ends");
        let (keys, next) = list(page(2, &token)).await;
        assert!(keys.len() <= 2);
        paged.extend(keys);
        token = next;
    }
    let distinct: HashSet<&String> = paged.iter().collect();
    assert_eq!(distinct.len(), paged.len(), "an item came twice: {paged:?}");
    (whole, paged, first)
}

/// The token was refused as one of another listing.
fn refused<T: std::fmt::Debug>(result: Result<T, Status>) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["page.page_token"]);
}

#[tokio::test]
async fn locations_page_by_id_and_a_token_serves_only_its_own_listing() {
    let inventory = listed().await;
    let client = inventory.client();
    let list = listing!(
        client,
        list_locations(ListLocationsRequest).locations,
        |l| l.location_id
    );
    let (whole, paged, token) = both_ways(list).await;
    assert_eq!(whole, ["10", "20", "30", "4.0"]);
    assert_eq!(paged, whole);

    let mut client = inventory.client();
    let other_filters = ListLocationsRequest {
        active: Some(true),
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_locations(other_filters).await);
    let other_rpc = ListStockMovementsRequest {
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_stock_movements(other_rpc).await);
    inventory.finish().await;
}

#[tokio::test]
async fn movements_page_newest_first_and_a_token_serves_only_its_own_listing() {
    let inventory = listed().await;
    let client = inventory.client();
    let list = listing!(
        client,
        list_stock_movements(ListStockMovementsRequest).movements,
        |m| { m.sequence.to_string() }
    );
    let (whole, paged, token) = both_ways(list).await;
    // Six counts and five reservations.
    assert_eq!(whole.len(), 11);
    let sequences: Vec<i64> = whole.iter().map(|s| s.parse().unwrap()).collect();
    assert!(sequences.windows(2).all(|pair| pair[0] > pair[1]));
    assert_eq!(paged, whole);

    let mut client = inventory.client();
    let other_filters = ListStockMovementsRequest {
        sku: "cap".into(),
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_stock_movements(other_filters).await);
    let other_rpc = ListLocationsRequest {
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_locations(other_rpc).await);
    inventory.finish().await;
}

#[tokio::test]
async fn reservations_page_newest_first_and_a_token_serves_only_its_own_listing() {
    let inventory = listed().await;
    let client = inventory.client();
    let list = listing!(
        client,
        list_reservations(ListReservationsRequest).reservations,
        |r| { r.order_id }
    );
    let (whole, paged, token) = both_ways(list).await;
    let expected: Vec<String> = (1..=5).rev().map(|n| id(&format!("order-{n}"))).collect();
    assert_eq!(whole, expected);
    assert_eq!(paged, whole);

    let mut client = inventory.client();
    let other_filters = ListReservationsRequest {
        states: vec![ReservationState::Held as i32],
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_reservations(other_filters).await);
    let other_rpc = ListChannelAvailabilityPoliciesRequest {
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_channel_availability_policies(other_rpc).await);
    inventory.finish().await;
}

#[tokio::test]
async fn channel_policies_page_by_kind_and_name_and_a_token_serves_only_its_own_listing() {
    let inventory = listed().await;
    let client = inventory.client();
    let list = listing!(
        client,
        list_channel_availability_policies(ListChannelAvailabilityPoliciesRequest).policies,
        |p| {
            let channel = p.channel.unwrap();
            format!("{}/{}", channel.kind, channel.name)
        }
    );
    let (whole, paged, token) = both_ways(list).await;
    assert_eq!(whole, ["1/", "2/", "3/amazon-de", "3/otto.de", "3/zalando"]);
    assert_eq!(paged, whole);

    let mut client = inventory.client();
    let other_filters = ListChannelAvailabilityPoliciesRequest {
        channel_kind: ChannelKind::Marketplace as i32,
        page: page(2, &token),
    };
    refused(
        client
            .list_channel_availability_policies(other_filters)
            .await,
    );
    let other_rpc = ListLowStockRequest {
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_low_stock(other_rpc).await);
    inventory.finish().await;
}

#[tokio::test]
async fn low_stock_pages_furthest_under_first_and_a_token_serves_only_its_own_listing() {
    let inventory = listed().await;
    let client = inventory.client();
    let list = listing!(client, list_low_stock(ListLowStockRequest).stock, |s| {
        format!("{}@{}", s.sku, s.location_id)
    });
    let (whole, paged, token) = both_ways(list).await;
    // tee-s at 20 is all reserved: 5 under; the rest tie at 0, then by sku, location.
    assert_eq!(
        whole,
        [
            "tee-s@20", "cap@10", "cap@20", "tee-s@10", "tee.m@10", "tee.m@20"
        ]
    );
    assert_eq!(paged, whole);

    let mut client = inventory.client();
    let other_filters = ListLowStockRequest {
        skus: vec!["cap".into()],
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_low_stock(other_filters).await);
    let other_rpc = ListReservationsRequest {
        page: page(2, &token),
        ..Default::default()
    };
    refused(client.list_reservations(other_rpc).await);
    inventory.finish().await;
}
