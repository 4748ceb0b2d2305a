//! Orders picked up at a store, exchange replacements, and the idempotency key
//! of an address change.

use oms_proto::{
    common::v1::{DeliveryMethod, DeliveryOption, Money},
    order::v1::{
        Exchange, LineQuantity, MarkStatusRequest, OrderStatus, UpdateShippingAddressRequest,
    },
};
use tonic::Request;

use crate::helpers::*;

#[tokio::test]
async fn a_pickup_order_is_ready_then_collected_at_its_store() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let mut request = web_order("pick-1");
    request.delivery_option = Some(DeliveryOption {
        method: DeliveryMethod::Pickup as i32,
        service_level: 0,
        pickup_location_id: String::new(),
    });
    let order = client
        .place_order(request)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let fact = |event_id: &str, status: OrderStatus, pickup: &str, lines: Vec<LineQuantity>| {
        MarkStatusRequest {
            order_id: order.order_id.clone(),
            event_id: event_id.into(),
            status: status as i32,
            pickup_location_id: pickup.into(),
            lines,
            actor: Some(saga()),
            ..Default::default()
        }
    };

    let confirmed = client
        .mark_status(fact("c", OrderStatus::Confirmed, "store-9", vec![]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let part = vec![LineQuantity {
        line_id: String::new(),
        sku: "TEE-M".into(),
        quantity: 2,
    }];
    let ready = client
        .mark_status(fact("r", OrderStatus::Shipped, "", part))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let all_ready = client
        .mark_status(fact("r2", OrderStatus::Shipped, "", vec![]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let collected = client
        .mark_status(fact("d", OrderStatus::Delivered, "", vec![]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let wrong = client
        .mark_status(fact("x", OrderStatus::Shipped, "store-1", vec![]))
        .await
        .unwrap_err();

    assert_eq!(confirmed.status, OrderStatus::Confirmed as i32);
    assert_eq!(confirmed.pickup_location_id, "store-9");
    assert_eq!(ready.status, OrderStatus::PartiallyShipped as i32);
    assert_eq!(all_ready.status, OrderStatus::Shipped as i32);
    assert_eq!(collected.status, OrderStatus::Delivered as i32);
    assert!(
        collected
            .lines
            .iter()
            .all(|line| line.delivered_quantity == line.quantity && line.delivery_time.is_some())
    );
    assert_eq!(bad_fields(&wrong), ["pickup_location_id"]);
    orders.stop().await;
}

#[tokio::test]
async fn an_exchange_order_is_paid_less_its_credit_and_never_below_zero() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let exchange = |credit: i64| Exchange {
        return_id: minted("rma-1"),
        original_order_id: minted("order-0"),
        credit: Some(Money {
            currency_code: "EUR".into(),
            amount_minor: credit,
        }),
    };
    let mut partly = web_order("ex-1");
    partly.exchange = Some(exchange(1000));
    let mut fully = web_order("ex-2");
    fully.exchange = Some(exchange(100_000));
    fully.payment_method = None;
    let mut foreign = web_order("ex-3");
    foreign.exchange = Some(Exchange {
        credit: Some(Money {
            currency_code: "USD".into(),
            amount_minor: 5,
        }),
        ..exchange(0)
    });

    let partly = client
        .place_order(partly)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .totals
        .unwrap();
    let fully = client
        .place_order(fully)
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap()
        .totals
        .unwrap();
    let foreign = client.place_order(foreign).await.unwrap_err();

    assert_eq!(partly.credit_total.unwrap().amount_minor, 1000);
    assert_eq!(
        partly.grand_total.unwrap().amount_minor,
        2 * 1999 + 1500 + 495 - 1000
    );
    assert_eq!(
        fully.grand_total.unwrap().amount_minor,
        0,
        "nothing to pay, so no payment method needed"
    );
    assert_eq!(bad_fields(&foreign), ["exchange.credit.currency_code"]);
    orders.stop().await;
}

#[tokio::test]
async fn an_address_change_with_a_key_replays_its_first_response() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = client
        .place_order(web_order("addr-key"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let change = |city: &str| {
        let mut address = web_order("x").shipping_address.unwrap();
        address.city = city.into();
        let mut request = Request::new(UpdateShippingAddressRequest {
            order_id: order.order_id.clone(),
            shipping_address: Some(address),
            actor: Some(operator()),
            reason: String::new(),
        });
        request
            .metadata_mut()
            .insert("idempotency-key", "addr-1".parse().unwrap());
        request
    };

    let first = client
        .update_shipping_address(change("Potsdam"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let retry = client
        .update_shipping_address(change("Potsdam"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let reused = client
        .update_shipping_address(change("Hamburg"))
        .await
        .unwrap_err();

    assert_eq!(first.shipping_address.as_ref().unwrap().city, "Potsdam");
    assert_eq!(retry, first);
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    orders.stop().await;
}
