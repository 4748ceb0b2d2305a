//! The dashboard: every SearchOrders filter and sort against the expected set,
//! pages that stay stable while orders arrive, stats and customer summaries.

use std::collections::BTreeSet;

use oms_proto::{
    common::v1::{Channel, ChannelKind, LineItem, PageRequest},
    order::v1::{
        CancelOrderRequest, CustomerSummaryRequest, OrderSortField, OrderStatsRequest, OrderStatus,
        PlaceOrderRequest, SearchOrdersRequest,
    },
};
use tonic::Code;

use crate::helpers::*;

struct Spec {
    reference: &'static str,
    channel: (ChannelKind, &'static str),
    country: &'static str,
    region: &'static str,
    sku: &'static str,
    price: i64,
    tags: &'static [&'static str],
    email: &'static str,
}

const SPECS: [Spec; 6] = [
    Spec {
        reference: "a",
        channel: (ChannelKind::Web, ""),
        country: "DE",
        region: "BE",
        sku: "TEE",
        price: 1000,
        tags: &["vip"],
        email: "ada@example.com",
    },
    Spec {
        reference: "b",
        channel: (ChannelKind::App, ""),
        country: "DE",
        region: "BY",
        sku: "CAP",
        price: 3000,
        tags: &[],
        email: "bob@example.com",
    },
    Spec {
        reference: "c",
        channel: (ChannelKind::Marketplace, "amazon-de"),
        country: "FR",
        region: "IDF",
        sku: "TEE",
        price: 2000,
        tags: &["vip", "gift"],
        email: "ada@example.com",
    },
    Spec {
        reference: "d",
        channel: (ChannelKind::Marketplace, "zalando"),
        country: "FR",
        region: "",
        sku: "SOCK",
        price: 500,
        tags: &["gift"],
        email: "cy@example.com",
    },
    Spec {
        reference: "e",
        channel: (ChannelKind::Web, ""),
        country: "AT",
        region: "",
        sku: "CAP",
        price: 4000,
        tags: &[],
        email: "bob@example.com",
    },
    Spec {
        reference: "f",
        channel: (ChannelKind::Store, "store-1"),
        country: "DE",
        region: "BE",
        sku: "TEE",
        price: 1500,
        tags: &["vip"],
        email: "dee@example.com",
    },
];

fn order(spec: &Spec) -> PlaceOrderRequest {
    let mut request = web_order(spec.reference);
    request.channel = Some(Channel {
        kind: spec.channel.0 as i32,
        name: spec.channel.1.into(),
    });
    let address = request.shipping_address.as_mut().unwrap();
    address.country_code = spec.country.into();
    address.region = spec.region.into();
    request.lines = vec![LineItem {
        sku: spec.sku.into(),
        quantity: 1,
        unit_price: money(spec.price),
    }];
    request.shipping_price = None;
    request.tags = spec.tags.iter().map(|t| (*t).to_owned()).collect();
    request.customer.as_mut().unwrap().email = spec.email.into();
    request.customer.as_mut().unwrap().phone = String::new();
    request
}

async fn search(client: &mut Client, request: SearchOrdersRequest) -> Vec<String> {
    client
        .search_orders(request)
        .await
        .unwrap()
        .into_inner()
        .orders
        .into_iter()
        .map(|order| order.external_reference)
        .collect()
}

fn set(references: &[&str]) -> BTreeSet<String> {
    references.iter().map(|r| (*r).to_owned()).collect()
}

#[tokio::test]
async fn each_filter_finds_exactly_its_orders() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let mut ids = Vec::new();
    for spec in &SPECS {
        ids.push(
            client
                .place_order(order(spec))
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap(),
        );
    }
    client
        .cancel_order(CancelOrderRequest {
            order_id: ids[3].order_id.clone(),
            reason: "fraud".into(),
            actor: Some(operator()),
            lines: Vec::new(),
        })
        .await
        .unwrap();
    let base = SearchOrdersRequest::default;
    let channel = |kind: ChannelKind, name: &str| Channel {
        kind: kind as i32,
        name: name.into(),
    };

    let cases: Vec<(SearchOrdersRequest, &[&str])> = vec![
        (base(), &["a", "b", "c", "d", "e", "f"]),
        (
            SearchOrdersRequest {
                statuses: vec![OrderStatus::CancelRequested as i32],
                ..base()
            },
            &["d"],
        ),
        (
            SearchOrdersRequest {
                channels: vec![channel(ChannelKind::Marketplace, "")],
                ..base()
            },
            &["c", "d"],
        ),
        (
            SearchOrdersRequest {
                channels: vec![
                    channel(ChannelKind::Marketplace, "zalando"),
                    channel(ChannelKind::Web, ""),
                ],
                ..base()
            },
            &["a", "d", "e"],
        ),
        (
            SearchOrdersRequest {
                sku: "TEE".into(),
                ..base()
            },
            &["a", "c", "f"],
        ),
        (
            SearchOrdersRequest {
                destination_country_code: "FR".into(),
                ..base()
            },
            &["c", "d"],
        ),
        (
            SearchOrdersRequest {
                destination_country_code: "DE".into(),
                destination_region: "BE".into(),
                ..base()
            },
            &["a", "f"],
        ),
        (
            SearchOrdersRequest {
                tags: vec!["VIP".into(), "gift".into()],
                ..base()
            },
            &["c"],
        ),
        (
            SearchOrdersRequest {
                customer_email: " ADA@example.com".into(),
                ..base()
            },
            &["a", "c"],
        ),
        (
            SearchOrdersRequest {
                query: ids[4].order_number.to_lowercase(),
                ..base()
            },
            &["e"],
        ),
        (
            SearchOrdersRequest {
                query: "B".into(),
                ..base()
            },
            &["b"],
        ),
        (
            SearchOrdersRequest {
                create_time_from: ids[2].create_time,
                create_time_to: ids[4].create_time,
                ..base()
            },
            &["c", "d"],
        ),
    ];
    for (request, expected) in cases {
        let found = search(&mut client, request.clone()).await;
        assert_eq!(
            found.iter().cloned().collect::<BTreeSet<_>>(),
            set(expected),
            "{request:?}"
        );
        assert_eq!(found.len(), expected.len(), "no order twice: {request:?}");
    }

    let by_total = search(
        &mut client,
        SearchOrdersRequest {
            sort_by: OrderSortField::GrandTotal as i32,
            ascending: true,
            ..base()
        },
    )
    .await;
    assert_eq!(by_total, ["d", "a", "f", "c", "b", "e"]);
    let newest_first = search(&mut client, base()).await;
    assert_eq!(newest_first, ["f", "e", "d", "c", "b", "a"]);
    let by_status = search(
        &mut client,
        SearchOrdersRequest {
            sort_by: OrderSortField::Status as i32,
            ascending: false,
            ..base()
        },
    )
    .await;
    assert_eq!(by_status, ["d", "f", "e", "c", "b", "a"]);
    orders.stop().await;
}

#[tokio::test]
async fn pages_stay_stable_while_new_orders_arrive() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    for n in 0..7 {
        client
            .place_order(order(&Spec {
                reference: Box::leak(format!("p{n}").into_boxed_str()),
                ..SPECS[0]
            }))
            .await
            .unwrap();
    }
    let page = |token: String| SearchOrdersRequest {
        page: Some(PageRequest {
            page_size: 3,
            page_token: token,
        }),
        ..SearchOrdersRequest::default()
    };

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let response = client
            .search_orders(page(token.clone()))
            .await
            .unwrap()
            .into_inner();
        seen.extend(response.orders.into_iter().map(|o| o.external_reference));
        pages += 1;
        // A newer order arrives between every two pages.
        client
            .place_order(order(&Spec {
                reference: Box::leak(format!("new{pages}").into_boxed_str()),
                ..SPECS[0]
            }))
            .await
            .unwrap();
        token = response.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }

    assert_eq!(seen, ["p6", "p5", "p4", "p3", "p2", "p1", "p0"]);
    assert_eq!(pages, 3);
    let first = client
        .search_orders(page(String::new()))
        .await
        .unwrap()
        .into_inner();
    let token = first.page.unwrap().next_page_token;
    let foreign = client
        .search_orders(SearchOrdersRequest {
            sku: "CAP".into(),
            page: Some(PageRequest {
                page_size: 3,
                page_token: token.clone(),
            }),
            ..SearchOrdersRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&foreign), ["page.page_token"]);
    // The sort is part of what a token is bound to.
    let resorted = client
        .search_orders(SearchOrdersRequest {
            sort_by: OrderSortField::GrandTotal as i32,
            page: Some(PageRequest {
                page_size: 3,
                page_token: token,
            }),
            ..SearchOrdersRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&resorted), ["page.page_token"]);
    orders.stop().await;
}

#[tokio::test]
async fn stats_count_by_status_and_channel_and_sum_revenue_by_day() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let mut placed = Vec::new();
    for spec in &SPECS[..3] {
        placed.push(
            client
                .place_order(order(spec))
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap(),
        );
    }
    client
        .cancel_order(CancelOrderRequest {
            order_id: placed[1].order_id.clone(),
            reason: "test".into(),
            actor: Some(operator()),
            lines: Vec::new(),
        })
        .await
        .unwrap();

    let stats = client
        .order_stats(OrderStatsRequest {
            time_zone: "Europe/Berlin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let statuses: Vec<_> = stats
        .by_status
        .iter()
        .map(|s| (s.status, s.count))
        .collect();
    assert_eq!(
        statuses,
        [
            (OrderStatus::Pending as i32, 2),
            (OrderStatus::CancelRequested as i32, 1)
        ]
    );
    assert_eq!(stats.by_channel.len(), 3);
    let revenue: i64 = stats
        .revenue
        .iter()
        .map(|r| r.revenue.as_ref().unwrap().amount_minor)
        .sum();
    assert_eq!(
        revenue,
        1000 + 3000 + 2000,
        "CANCEL_REQUESTED still counts until CANCELLED"
    );
    let bad_zone = client
        .order_stats(OrderStatsRequest {
            time_zone: "Mars/Olympus".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&bad_zone), ["time_zone"]);
    let too_long = client
        .order_stats(OrderStatsRequest {
            start_date: "2025-01-01".into(),
            end_date: "2026-06-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&too_long), ["start_date"]);
    orders.stop().await;
}

#[tokio::test]
async fn a_customer_is_found_across_channels_by_normalised_email() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    for spec in &SPECS {
        client.place_order(order(spec)).await.unwrap();
    }

    let summary = client
        .customer_summary(CustomerSummaryRequest {
            email: " ADA@Example.com ".into(),
            phone: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .summary
        .unwrap();
    let missing = client
        .customer_summary(CustomerSummaryRequest {
            email: "nobody@example.com".into(),
            phone: String::new(),
        })
        .await
        .unwrap_err();

    assert_eq!(summary.order_count, 2);
    assert_eq!(summary.by_channel.len(), 2);
    assert_eq!(summary.lifetime_value[0].amount_minor, 3000);
    let recent: Vec<_> = summary
        .recent_orders
        .iter()
        .map(|o| o.external_reference.as_str())
        .collect();
    assert_eq!(recent, ["c", "a"]);
    assert_eq!(missing.code(), Code::NotFound);
    orders.stop().await;
}
