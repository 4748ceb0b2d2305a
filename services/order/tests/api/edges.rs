//! Hostile and extreme input: a NUL or a card number in any string field,
//! numbers, amounts and times at their limits, ids the OMS never minted, and
//! the longest event ids the shipping service sends. Each is refused with
//! INVALID_ARGUMENT naming the field, or served; never INTERNAL, never a panic,
//! and nothing refused is stored.

use oms_proto::{
    common::v1::{Channel, ChannelKind, PageRequest},
    order::v1::{
        AddNoteRequest, CancelOrderRequest, CustomerSummaryRequest, GetOrderRequest,
        MarkStatusRequest, OrderStatsRequest, OrderStatus, SearchOrdersRequest, ShipmentRef,
        UpdateShippingAddressRequest,
    },
};
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::*;

const CARD: &str = "4111111111111111";

#[tokio::test]
async fn a_nul_or_a_card_number_in_any_string_field_is_refused_and_stored_nowhere() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();

    let mut order = web_order("web-hostile");
    order.channel = Some(Channel {
        kind: ChannelKind::Marketplace as i32,
        name: CARD.into(),
    });
    order.customer.as_mut().unwrap().name = "Ada\0".into();
    order.shipping_address.as_mut().unwrap().lines = vec![format!("Card {CARD}")];
    order.tags = vec!["ok".into(), CARD.into()];
    order.actor = Some(operator());
    order.actor.as_mut().unwrap().id = CARD.into();
    let status = client.place_order(order).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "channel.name",
            "customer.name",
            "shipping_address.lines[0]",
            "tags[1]",
            "actor.id"
        ]
    );
    assert!(!format!("{status:?}").contains(CARD));

    let order = placed(&mut client, "web-1").await;
    let id = order.order_id.clone();
    let note = |text: &str| AddNoteRequest {
        order_id: id.clone(),
        text: text.into(),
        actor: Some(operator()),
    };
    for (key, text) in [("n-1", "call back\0"), ("n-2", "card 4111 1111 1111 1111")] {
        let status = client.add_note(keyed(note(text), key)).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["text"]);
    }
    let mut address = order.shipping_address.clone().unwrap();
    address.lines = vec!["Unter den Linden 77".into(), format!("c/o {CARD}")];
    let status = client
        .update_shipping_address(UpdateShippingAddressRequest {
            order_id: id.clone(),
            shipping_address: Some(address.clone()),
            actor: Some(operator()),
            reason: "moved\0".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["shipping_address.lines[1]", "reason"]);
    let status = client
        .cancel_order(CancelOrderRequest {
            order_id: id.clone(),
            reason: "changed mind\0".into(),
            actor: Some(operator()),
            lines: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["reason"]);
    // Reads too: a NUL in a lookup never reaches Postgres.
    let status = client
        .get_order(GetOrderRequest {
            channel: Some(Channel {
                kind: ChannelKind::Web as i32,
                name: String::new(),
            }),
            external_reference: "web-1\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["external_reference"]);
    let status = client
        .search_orders(SearchOrdersRequest {
            query: "ada\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["query"]);

    let after = get(&mut client, &id).await;
    assert_eq!(after.notes, order.notes);
    assert_eq!(after.shipping_address, order.shipping_address);
    assert_eq!(after.status, order.status);
    orders.stop().await;
}

#[tokio::test]
async fn amounts_quantities_and_times_at_their_limits_are_refused_naming_them() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let refused = |order| {
        let mut client = client.clone();
        async move { client.place_order(order).await.unwrap_err() }
    };

    let mut order = web_order("web-max");
    order.lines[0].quantity = i32::MAX;
    order.lines[0].unit_price = money(i64::MAX);
    assert_eq!(bad_fields(&refused(order).await), ["lines"]);
    let mut order = web_order("web-min");
    order.lines[0].quantity = i32::MIN;
    order.lines[1].unit_price = money(i64::MIN);
    order.shipping_price = money(i64::MIN);
    assert_eq!(
        bad_fields(&refused(order).await),
        [
            "lines[0].quantity",
            "lines[1].unit_price.amount_minor",
            "shipping_price.amount_minor"
        ]
    );
    for seconds in [i64::MIN, i64::MAX, 253_402_300_800] {
        let mut order = web_order("web-time");
        order.place_time = Some(Timestamp { seconds, nanos: 0 });
        assert_eq!(
            bad_fields(&refused(order).await),
            ["place_time"],
            "{seconds}"
        );
    }

    // Two orders at i64::MAX each: their sums saturate rather than overflow.
    for reference in ["web-rich-1", "web-rich-2"] {
        let mut order = web_order(reference);
        order.lines.truncate(1);
        order.lines[0].quantity = 1;
        order.lines[0].unit_price = money(i64::MAX);
        order.shipping_price = money(0);
        client.place_order(order).await.unwrap();
    }
    let summary = client
        .customer_summary(CustomerSummaryRequest {
            email: "ada@example.com".into(),
            phone: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .summary
        .unwrap();
    assert_eq!(summary.lifetime_value[0].amount_minor, i64::MAX);
    let stats = client
        .order_stats(OrderStatsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stats.revenue[0].revenue.as_ref().unwrap().amount_minor,
        i64::MAX
    );
    for date in [
        "-262143-01-01",
        "+262142-12-31",
        "0000-01-01",
        "10000-01-01",
    ] {
        let status = client
            .order_stats(OrderStatsRequest {
                end_date: date.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["end_date"], "{date}");
    }

    let extreme = Timestamp {
        seconds: i64::MIN,
        nanos: i32::MIN,
    };
    let status = client
        .search_orders(SearchOrdersRequest {
            create_time_from: Some(extreme),
            create_time_to: Some(extreme),
            page: Some(PageRequest {
                page_size: i32::MAX,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["create_time_from", "create_time_to", "page.page_size"]
    );

    let order = placed(&mut client, "web-1").await;
    let mark = |event_id: &str| MarkStatusRequest {
        order_id: order.order_id.clone(),
        event_id: event_id.into(),
        actor: Some(operator()),
        ..Default::default()
    };
    let status = client
        .mark_status(MarkStatusRequest {
            event_time: Some(extreme),
            ..mark("e-1")
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["event_time"]);
    client
        .mark_status(MarkStatusRequest {
            status: OrderStatus::Confirmed as i32,
            payment_id: minted("pay-1"),
            ..mark("e-2")
        })
        .await
        .unwrap();
    let status = client
        .mark_status(MarkStatusRequest {
            status: OrderStatus::Returned as i32,
            return_id: minted("r-1"),
            lines: vec![oms_proto::order::v1::LineQuantity {
                line_id: String::new(),
                sku: "TEE-M".into(),
                quantity: i32::MAX,
            }],
            ..mark("e-3")
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    orders.stop().await;
}

#[tokio::test]
async fn an_id_the_oms_never_minted_is_invalid_argument_and_an_unknown_one_not_found() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = placed(&mut client, "web-1").await;
    for order_id in ["order-1", &order.order_id.to_uppercase()] {
        let status = client
            .get_order(GetOrderRequest {
                order_id: order_id.into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["order_id"], "{order_id}");
        let status = client
            .cancel_order(CancelOrderRequest {
                order_id: order_id.into(),
                reason: "changed mind".into(),
                actor: Some(operator()),
                lines: Vec::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["order_id"], "{order_id}");
    }
    let status = client
        .get_order(GetOrderRequest {
            order_id: minted("order-1"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .mark_status(MarkStatusRequest {
            order_id: order.order_id.clone(),
            event_id: "e-1".into(),
            status: OrderStatus::Confirmed as i32,
            payment_id: "pay-1".into(),
            saga_id: "saga-1".into(),
            shipments: vec![ShipmentRef {
                shipment_id: "ship-1".into(),
                ..Default::default()
            }],
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["payment_id", "saga_id"]);
    orders.stop().await;
}

/// Shipping reports a tracking event as MarkStatus with event id
/// "shipment:<shipment uuid>:<carrier event id>", and takes carrier event ids
/// of up to 128 characters: every such event id is accepted.
#[tokio::test]
async fn the_longest_event_id_shipping_builds_is_accepted() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = placed(&mut client, "web-1").await;
    let shipment_id = minted("ship-1");
    let event_id = format!("shipment:{shipment_id}:{}", "e".repeat(128));
    assert_eq!(event_id.len(), 174);
    let mark = |event_id: String| MarkStatusRequest {
        order_id: order.order_id.clone(),
        event_id,
        actor: Some(operator()),
        ..Default::default()
    };
    client.mark_status(mark(event_id)).await.unwrap();
    let status = client.mark_status(mark("e".repeat(257))).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["event_id"]);
    orders.stop().await;
}

/// The return saga places an exchange's replacement order with external
/// reference "exchange:<return_id>" and the Exchange naming the return and the
/// original order: PlaceOrder takes them.
#[tokio::test]
async fn the_replacement_order_the_return_saga_places_is_accepted() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let original = placed(&mut client, "web-1").await;
    let return_id = minted("rma-1");
    let mut order = web_order(&format!("exchange:{return_id}"));
    order.exchange = Some(oms_proto::order::v1::Exchange {
        return_id,
        original_order_id: original.order_id,
        credit: money(1999),
    });
    let placed = client.place_order(order).await.unwrap().into_inner();
    assert!(placed.created);
    orders.stop().await;
}
