//! The order fulfilment saga across all seven services.

use oms_order::test_util::web_order;
use oms_proto::{
    inventory::v1::{GetReservationRequest, ReservationState, get_reservation_request},
    order::v1::OrderStatus,
    payment::v1::{GetPaymentRequest, PaymentStatus},
    saga::v1::{SagaState, StepState},
};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_order_is_reserved_paid_shipped_and_confirmed() {
    let suite = Suite::start().await;
    suite.stock("TEE-M", BERLIN, 10).await;
    suite.stock("CAP", BERLIN, 10).await;

    let placed = suite
        .orders()
        .place_order(web_order("web-1"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let order = suite.settled(&placed.order_id).await;
    let saga = suite.saga_of(&placed.order_id).await;
    assert_eq!(
        order.status,
        OrderStatus::Confirmed as i32,
        "{}: {saga:#?}",
        order.status_reason
    );
    assert_eq!(saga.state, SagaState::Completed as i32);
    assert!(
        saga.steps
            .iter()
            .all(|step| step.state == StepState::Succeeded as i32)
    );
    assert_eq!(order.saga_id, saga.saga_id);

    // One shipment with a label and a tracking number, from Berlin.
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.shipments[0].location_id, BERLIN);
    assert!(!order.shipments[0].tracking_number.is_empty());
    // Paid once, captured in full.
    let payment = suite
        .payments()
        .get_payment(GetPaymentRequest {
            payment_id: order.payment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment.status, PaymentStatus::Captured as i32);
    assert_eq!(
        payment.captured_amount.unwrap().amount_minor,
        order.totals.unwrap().grand_total.unwrap().amount_minor
    );
    // The stock left on hand.
    let reservation = suite
        .inventory()
        .get_reservation(GetReservationRequest {
            key: Some(get_reservation_request::Key::OrderId(
                placed.order_id.clone(),
            )),
        })
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    assert_eq!(reservation.state, ReservationState::Committed as i32);
}
