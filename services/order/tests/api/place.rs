//! PlaceOrder and GetOrder: intake exactly once, server-side totals, bad input.

use oms_proto::{
    common::v1::{Channel, ChannelKind, LineItem, Money},
    order::v1::{GetOrderRequest, OrderStatus, TimelineEventKind},
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_placed_order_is_pending_with_totals_computed_by_the_server() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();

    let placed = client
        .place_order(web_order("web-1001"))
        .await
        .unwrap()
        .into_inner();

    assert!(placed.created);
    let order = placed.order.unwrap();
    assert_eq!(order.status, OrderStatus::Pending as i32);
    assert!(order.order_number.starts_with("OMS-"));
    let totals = order.totals.unwrap();
    assert_eq!(totals.lines_total.unwrap().amount_minor, 2 * 1999 + 1500);
    assert_eq!(
        totals.grand_total.unwrap().amount_minor,
        2 * 1999 + 1500 + 495
    );
    assert_eq!(totals.item_count, 3);
    let customer = order.customer.unwrap();
    assert_eq!(
        (customer.email.as_str(), customer.phone.as_str()),
        ("ada@example.com", "+49301234567")
    );
    assert_eq!(order.tags, ["gift", "vip"]);
    assert_eq!(order.lines.len(), 2);
    assert_eq!(order.lines[1].line_number, 2);
    assert_eq!(order.notes.len(), 1);
    assert_eq!(
        order.timeline[0].kind,
        TimelineEventKind::OrderPlaced as i32
    );
    assert!(
        order.payment_method.is_none(),
        "tokens are not shown by default"
    );

    let by_key = client
        .get_order(GetOrderRequest {
            channel: Some(Channel {
                kind: ChannelKind::Web as i32,
                name: String::new(),
            }),
            external_reference: "web-1001".into(),
            include_payment_method: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(by_key.order_id, order.order_id);
    assert!(by_key.payment_method.is_some());
    orders.stop().await;
}

#[tokio::test]
async fn the_same_order_placed_ten_times_at_once_creates_one_order() {
    let orders = TestOrders::start().await;

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let mut client = orders.client();
            tokio::spawn(async move {
                client
                    .place_order(web_order("web-7"))
                    .await
                    .unwrap()
                    .into_inner()
            })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for call in calls {
        let placed = call.await.unwrap();
        created += usize::from(placed.created);
        ids.insert(placed.order.unwrap().order_id);
    }

    assert_eq!(ids.len(), 1);
    assert_eq!(created, 1);
    let pool = orders.service.database.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    let starts: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox_messages")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!((stored, starts), (1, 1));
    pool.close().await;
    orders.stop().await;
}

#[tokio::test]
async fn the_same_reference_with_other_content_is_refused() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    client.place_order(web_order("web-9")).await.unwrap();
    let mut changed = web_order("web-9");
    changed.lines[0].quantity = 3;

    let refused = client.place_order(changed).await.unwrap_err();

    assert_eq!(refused.code(), Code::AlreadyExists);
    assert_eq!(reason(&refused), "NATURAL_KEY_CONFLICT");
    // A retry that only differs in who sent it is the same order.
    let mut resent = web_order("web-9");
    resent.actor = Some(operator());
    assert!(
        !client
            .place_order(resent)
            .await
            .unwrap()
            .into_inner()
            .created
    );
    orders.stop().await;
}

#[tokio::test]
async fn bad_orders_name_each_bad_field() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let with = |change: fn(&mut oms_proto::order::v1::PlaceOrderRequest)| {
        let mut request = web_order("web-bad");
        change(&mut request);
        request
    };
    let cases = [
        (with(|r| r.lines.clear()), vec!["lines"]),
        (with(|r| r.lines[0].quantity = 0), vec!["lines[0].quantity"]),
        (
            with(|r| {
                r.lines[1].unit_price = Some(Money {
                    currency_code: "USD".into(),
                    amount_minor: 100,
                })
            }),
            vec!["lines[1].unit_price.currency_code"],
        ),
        (
            with(|r| r.lines[0].unit_price = money(-1)),
            vec!["lines[0].unit_price.amount_minor"],
        ),
        (
            with(|r| {
                r.channel = Some(Channel {
                    kind: 42,
                    name: String::new(),
                })
            }),
            vec!["channel"],
        ),
        (
            with(|r| r.customer.as_mut().unwrap().email = "ada-at-example".into()),
            vec!["customer.email"],
        ),
        (
            with(|r| {
                r.lines.push(LineItem {
                    sku: "CAP".into(),
                    quantity: 1,
                    unit_price: money(1),
                })
            }),
            vec!["lines[2].sku"],
        ),
        (
            with(|r| r.currency_code = "EURO".into()),
            vec!["currency_code"],
        ),
        (with(|r| r.payment_method = None), vec!["payment_method"]),
        (
            with(|r| r.notes = vec!["card 4111 1111 1111 1111 exp 12/30".into()]),
            vec!["notes[0]"],
        ),
        (
            with(|r| r.shipping_address = None),
            vec!["shipping_address"],
        ),
    ];
    for (request, fields) in cases {
        let status = client.place_order(request).await.unwrap_err();
        assert_eq!(bad_fields(&status), fields);
        assert!(
            !status.message().contains("4111"),
            "the card number is not echoed"
        );
    }
    let pool = orders.service.database.pool().await;
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    pool.close().await;
    orders.stop().await;
}

#[tokio::test(flavor = "current_thread")]
async fn personal_data_never_reaches_the_logs() {
    // Captures every event of this test's runtime, where the service runs.
    let captured = oms_testkit::logs::CapturedLogs::start();
    let orders = TestOrders::start().await;
    let mut client = orders.client();

    let order = client
        .place_order(web_order("web-pii"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    client
        .get_order(GetOrderRequest {
            order_id: order.order_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut bad = web_order("web-pii-2");
    bad.customer.as_mut().unwrap().email = "ada.lovelace-at-example".into();
    client.place_order(bad).await.unwrap_err();
    orders.stop().await;

    let logs = captured.text();
    assert!(
        logs.contains(&order.order_id),
        "the service logged the order"
    );
    for secret in [
        "Ada",
        "Lovelace",
        "example.com",
        "1234567",
        "Unter den Linden",
        "10117",
        "tok_visa",
        "leave at the door",
    ] {
        assert!(!captured.mentions(secret), "{secret} in the logs");
    }
}
