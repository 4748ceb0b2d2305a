//! The return saga: a parcel comes back. Its waits are timers in the saga's
//! row; the coordinator here looks every 100ms instead of every minute.

use std::time::Duration;

use oms_e2e::Settings;
use oms_order::test_util::{eur, web_order};
use oms_proto::{
    common::v1::LineItem,
    order::v1::{Order, OrderStatus},
    payment::v1::PaymentStatus,
    returns::v1::{CloseReason, ReturnStatus},
    saga::v1::{SagaKind, SagaState},
};

use super::*;

/// A suite whose return sagas look at their return every 100ms and give the
/// customer `send_within` to send the goods.
async fn world(send_within: Duration) -> World {
    World::start_with(Settings {
        saga_config: Some(Box::new(move |config: &mut oms_saga::Config| {
            config.flows.return_poll = Duration::from_millis(100);
            config.flows.return_send_within = send_within;
            config.flows.return_transit_within = send_within * 4;
        })),
        ..Settings::default()
    })
    .await
}

/// Places `order` and has every parcel delivered: the order DELIVERED.
async fn delivered(world: &World, order: oms_proto::order::v1::PlaceOrderRequest) -> Order {
    let order_id = world.place(order).await;
    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    world.deliver(&order_id).await
}

/// The return's saga once it ended (or is STUCK).
async fn return_saga(world: &World, order_id: &str) -> Saga {
    world
        .saga_of(
            SagaKind::Return,
            order_id,
            &[
                SagaState::Completed,
                SagaState::Compensated,
                SagaState::Stuck,
            ],
        )
        .await
}

fn refunded(payment: &oms_proto::payment::v1::Payment) -> i64 {
    payment
        .refunded_amount
        .as_ref()
        .map_or(0, |m| m.amount_minor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_restocks_refunds_and_leaves_the_order_partially_returned() {
    let _one = crate::one_suite_at_a_time().await;
    let world = world(Duration::from_secs(600)).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order = delivered(&world, web_order("return-refund")).await;
    assert_eq!(world.stock_of("TEE-M").await, (8, 0));

    let return_id = world
        .return_approved(&order.order_id, &[("TEE-M", 1)], Vec::new())
        .await;
    world.send_back(&return_id).await;
    world
        .receive_and_inspect(&return_id, &[("TEE-M", 1, 0, 0)])
        .await;

    let saga = return_saga(&world, &order.order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    assert_eq!(saga.return_id, return_id);
    let rma = world.get_return(&return_id).await;
    assert_eq!(rma.status, ReturnStatus::Closed as i32);
    assert_eq!(rma.close_reason, CloseReason::Completed as i32);
    let order = world.order(&order.order_id).await;
    assert_eq!(status(&order), OrderStatus::PartiallyReturned);
    assert_eq!(world.stock_of("TEE-M").await, (9, 0));
    let payment = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&payment), 1999);
    assert_eq!(rma.refund_payment_id, payment.payment_id);
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_unit_is_refunded_per_the_policy_and_not_restocked() {
    let _one = crate::one_suite_at_a_time().await;
    let world = world(Duration::from_secs(600)).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order = delivered(&world, web_order("return-damaged")).await;

    let return_id = world
        .return_approved(&order.order_id, &[("TEE-M", 2), ("CAP", 1)], Vec::new())
        .await;
    // One shirt sellable, one damaged; the cap never made it into the parcel.
    world.send_back(&return_id).await;
    world
        .receive_and_inspect(&return_id, &[("TEE-M", 1, 1, 0), ("CAP", 0, 0, 1)])
        .await;

    let saga = return_saga(&world, &order.order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    let rma = world.get_return(&return_id).await;
    let total = rma
        .refund
        .as_ref()
        .unwrap()
        .total
        .as_ref()
        .unwrap()
        .amount_minor;
    // Both shirts are refunded (the default policy: no fee), the missing cap not.
    assert_eq!(total, 2 * 1999);
    assert_eq!(world.stock_of("TEE-M").await, (9, 0));
    assert_eq!(world.stock_of("CAP").await, (9, 0));
    let payment = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&payment), 2 * 1999);
    let order = world.order(&order.order_id).await;
    let tee = order.lines.iter().find(|line| line.sku == "TEE-M").unwrap();
    let cap = order.lines.iter().find(|line| line.sku == "CAP").unwrap();
    assert_eq!((tee.returned_quantity, cap.returned_quantity), (2, 0));
    assert_eq!(status(&order), OrderStatus::PartiallyReturned);
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_return_never_sent_expires_and_its_label_is_cancelled() {
    let _one = crate::one_suite_at_a_time().await;
    let world = world(Duration::from_secs(2)).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order = delivered(&world, web_order("return-expired")).await;

    let return_id = world
        .return_approved(&order.order_id, &[("TEE-M", 1)], Vec::new())
        .await;
    let labelled = world.return_in(&return_id, ReturnStatus::LabelIssued).await;
    let label = labelled.label.unwrap();

    let saga = return_saga(&world, &order.order_id).await;
    assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:#?}");
    let rma = world.get_return(&return_id).await;
    assert_eq!(rma.status, ReturnStatus::Closed as i32);
    assert_eq!(rma.close_reason, CloseReason::Expired as i32);
    let shipment = world
        .suite
        .shipping()
        .get_shipment(oms_proto::shipping::v1::GetShipmentRequest {
            shipment_id: label.shipment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(
        shipment.status,
        oms_proto::shipping::v1::ShipmentStatus::Cancelled as i32
    );
    // Nothing came back, nothing was refunded.
    assert_eq!(world.stock_of("TEE-M").await, (8, 0));
    let payment = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&payment), 0);
    assert_eq!(payment.status, PaymentStatus::Captured as i32);
    assert_eq!(
        status(&world.order(&order.order_id).await),
        OrderStatus::Delivered
    );
    world.suite.stop().await;
}

/// An exchange: the replacement order CONFIRMED through its own saga, which
/// charges the difference; then a return of the replacement's goods refunds
/// at most what was captured on it, and the credit part on the original
/// order's payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_charges_the_difference_and_its_return_refunds_at_most_what_was_captured() {
    let _one = crate::one_suite_at_a_time().await;
    let world = world(Duration::from_secs(600)).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("TEE-L", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order = delivered(&world, web_order("exchange")).await;
    let original_payment = world.payments(&order.order_id).await.remove(0);

    // One shirt (19.99) for a larger one at 24.99: 5.00 to pay.
    let return_id = world
        .return_approved(
            &order.order_id,
            &[("TEE-M", 1)],
            vec![LineItem {
                sku: "TEE-L".into(),
                quantity: 1,
                unit_price: eur(2499),
            }],
        )
        .await;
    world.send_back(&return_id).await;
    world
        .receive_and_inspect(&return_id, &[("TEE-M", 1, 0, 0)])
        .await;
    let saga = return_saga(&world, &order.order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    let rma = world.get_return(&return_id).await;
    assert_eq!(rma.status, ReturnStatus::Closed as i32);
    let exchange = rma.exchange.unwrap();
    assert_eq!(exchange.price_difference.unwrap().amount_minor, 500);
    let replacement_id = exchange.replacement_order_id;
    let (_, replacement) = world.outcome(&replacement_id).await;
    assert_eq!(status(&replacement), OrderStatus::Confirmed);
    let charged = world.payments(&replacement_id).await.remove(0);
    assert_eq!(charged.captured_amount.unwrap().amount_minor, 500);
    // Nothing refunded on the original order: the shirt became credit.
    let original = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&original), refunded(&original_payment));
    assert_eq!(world.stock_of("TEE-M").await, (9, 0));
    assert_eq!(world.stock_of("TEE-L").await, (9, 0));

    // The larger shirt comes back too, for money: 24.99, of which only 5.00
    // was captured on the replacement order; 19.99 was credit.
    let replacement = world.deliver(&replacement_id).await;
    let second = world
        .return_approved(&replacement.order_id, &[("TEE-L", 1)], Vec::new())
        .await;
    world.send_back(&second).await;
    world
        .receive_and_inspect(&second, &[("TEE-L", 1, 0, 0)])
        .await;
    let saga = return_saga(&world, &replacement.order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    let rma = world.get_return(&second).await;
    assert_eq!(rma.status, ReturnStatus::Closed as i32, "{rma:#?}");
    let charged = world.payments(&replacement_id).await.remove(0);
    assert_eq!(refunded(&charged), 500);
    let original = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&original), refunded(&original_payment) + 1999);
    assert_eq!(rma.credit_refund_amount.unwrap().amount_minor, 1999);
    assert_eq!(rma.credit_refund_payment_id, original.payment_id);
    world.suite.stop().await;
}

/// An exchange for something cheaper: the difference is refunded on the
/// original order's payment, the replacement order costs nothing and has no
/// payment; returning its goods refunds their value as the credit it was, on
/// the original order's payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cheaper_exchange_refunds_the_difference_and_its_return_gives_the_credit_back() {
    let _one = crate::one_suite_at_a_time().await;
    let world = world(Duration::from_secs(600)).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("SOCKS", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order = delivered(&world, web_order("cheaper-exchange")).await;

    // One shirt (19.99) for socks at 4.99: 15.00 back.
    let socks = LineItem {
        sku: "SOCKS".into(),
        quantity: 1,
        unit_price: eur(499),
    };
    let return_id = world
        .return_approved(&order.order_id, &[("TEE-M", 1)], vec![socks])
        .await;
    world.send_back(&return_id).await;
    world
        .receive_and_inspect(&return_id, &[("TEE-M", 1, 0, 0)])
        .await;
    let saga = return_saga(&world, &order.order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    let exchange = world.get_return(&return_id).await.exchange.unwrap();
    assert_eq!(exchange.price_difference.unwrap().amount_minor, -1500);
    let original = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&original), 1500);
    assert_eq!(exchange.payment_id, original.payment_id);
    let replacement_id = exchange.replacement_order_id;
    let (_, replacement) = world.outcome(&replacement_id).await;
    assert_eq!(status(&replacement), OrderStatus::Confirmed);
    let totals = replacement.totals.clone().unwrap();
    assert_eq!(totals.grand_total.unwrap().amount_minor, 0);
    assert!(world.payments(&replacement_id).await.is_empty());

    // The socks come back: 4.99, none of it captured on the replacement.
    world.deliver(&replacement_id).await;
    let second = world
        .return_approved(&replacement_id, &[("SOCKS", 1)], Vec::new())
        .await;
    world.send_back(&second).await;
    world
        .receive_and_inspect(&second, &[("SOCKS", 1, 0, 0)])
        .await;
    let saga = return_saga(&world, &replacement_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    let rma = world.get_return(&second).await;
    assert_eq!(rma.refund_payment_id, "");
    assert_eq!(rma.credit_refund_amount.unwrap().amount_minor, 499);
    let original = world.payments(&order.order_id).await.remove(0);
    assert_eq!(refunded(&original), 1500 + 499);
    assert_eq!(world.stock_of("SOCKS").await, (10, 0));
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parcel_that_never_arrives_leaves_the_saga_stuck_at_the_transit_deadline() {
    let _one = crate::one_suite_at_a_time().await;
    // 2s to send, 8s to arrive.
    let world = world(Duration::from_secs(2)).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order = delivered(&world, web_order("return-lost")).await;
    let return_id = world
        .return_approved(&order.order_id, &[("TEE-M", 1)], Vec::new())
        .await;
    // Sent in time: the send deadline does not expire it.
    world.send_back(&return_id).await;

    let saga = return_saga(&world, &order.order_id).await;
    assert_eq!(saga.state, SagaState::Stuck as i32, "{saga:#?}");
    assert_eq!(saga.stuck_step, "await_receipt");
    assert!(
        saga.stuck_reason.contains("RETURN_LOST_IN_TRANSIT"),
        "{saga:#?}"
    );
    // Nothing was undone: the label stands, the return waits for an operator.
    let rma = world.get_return(&return_id).await;
    assert_eq!(rma.status, ReturnStatus::InTransit as i32);
    world.suite.stop().await;
}
