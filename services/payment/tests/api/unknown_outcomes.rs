//! Unknown outcomes: a PSP that answers too late leaves the transaction
//! PENDING; a retry with the same key, ReconcilePayment or the background
//! reconciler asks the PSP what happened, and nobody is charged twice.

use std::time::Duration;

use oms_payment::{domain::payment::TransactionKind, psp::SimulatorConfig};
use oms_proto::payment::v1::{self as pb, ReconcilePaymentRequest};
use oms_testkit::poll_until;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_timeout_then_a_retry_charges_the_customer_once() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let request = || keyed(authorize_request(2500, card("tok_visa_timeout")), "auth-1");

    let status = client.authorize(request()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(&status), "PROVIDER_UNAVAILABLE");
    assert_eq!(metadata(&status, "outcome"), "unknown");
    let payment_id = metadata(&status, "payment_id");
    let pending = get(&mut client, &payment_id).await;
    assert_eq!(
        payment_status(&pending),
        pb::PaymentStatus::AuthorizationPending
    );
    let authorization = &pending.transactions[0];
    assert_eq!(
        authorization.transaction_id,
        metadata(&status, "transaction_id")
    );
    assert_eq!(authorization.status, pb::TransactionStatus::Pending as i32);
    assert_eq!(authorization.psp_reference, "");
    assert_eq!(authorization.resolve_time, None);

    let payment = client
        .authorize(request())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment.payment_id, payment_id);
    assert_eq!(payment_status(&payment), pb::PaymentStatus::Authorized);
    assert!(payment.transactions[0].psp_reference.starts_with("sim_"));
    let again = client
        .authorize(request())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(again, payment);

    assert_eq!(payments.charges().await, 1);
    // The retries asked the PSP; they never sent the authorization again.
    assert_eq!(payments.psp_calls(TransactionKind::Authorization).await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn a_pending_capture_is_held_against_what_remains_until_resolved() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = client
        .authorize(keyed(
            authorize_request(1000, card("tok_visa_capture_timeout")),
            "auth-1",
        ))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let id = payment.payment_id.as_str();

    let status = capture(&mut client, id, "cap-1", Some(600))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "outcome"), "unknown");
    let pending = get(&mut client, id).await;
    assert_eq!(minor(pending.captured_amount.as_ref()), 0);
    assert_eq!(minor(pending.capturable_amount.as_ref()), 400);
    let status = capture(&mut client, id, "cap-2", Some(500))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(metadata(&status, "remaining_minor"), "400");

    let payment = capture(&mut client, id, "cap-1", Some(600)).await.unwrap();
    assert_eq!(minor(payment.captured_amount.as_ref()), 600);
    assert_eq!(
        payment_status(&payment),
        pb::PaymentStatus::PartiallyCaptured
    );
    assert_eq!(payments.psp_calls(TransactionKind::Capture).await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn reconcile_payment_asks_the_psp_and_never_refunds_twice() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = client
        .authorize(keyed(
            authorize_request(1000, card("tok_visa_refund_timeout")),
            "auth-1",
        ))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    let id = payment.payment_id.clone();
    capture(&mut client, &id, "cap-1", None).await.unwrap();
    let status = refund(&mut client, &id, "ref-1", Some(300))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "outcome"), "unknown");
    assert_eq!(
        minor(get(&mut client, &id).await.refundable_amount.as_ref()),
        700
    );

    let reconcile = || ReconcilePaymentRequest {
        payment_id: id.clone(),
    };
    let reconciled = client
        .reconcile_payment(reconcile())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reconciled.resolved_count, 1);
    let payment = reconciled.payment.unwrap();
    assert_eq!(minor(payment.refunded_amount.as_ref()), 300);
    assert_eq!(
        payment_status(&payment),
        pb::PaymentStatus::PartiallyRefunded
    );
    let again = client
        .reconcile_payment(reconcile())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.resolved_count, 0);

    // The caller's retry now gets the resolved refund, not a second one.
    let payment = refund(&mut client, &id, "ref-1", Some(300)).await.unwrap();
    assert_eq!(minor(payment.refunded_amount.as_ref()), 300);
    assert_eq!(payments.psp_calls(TransactionKind::Refund).await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn the_background_reconciler_resolves_what_nobody_retried() {
    let payments = TestPayments::start_full(
        SimulatorConfig::default(),
        Duration::from_secs(5),
        Duration::from_millis(100),
    )
    .await;
    let mut client = payments.client();
    let status = client
        .authorize(keyed(authorize_request(900, card("tok_timeout")), "auth-1"))
        .await
        .unwrap_err();
    let payment_id = metadata(&status, "payment_id");

    let payment = poll_until("the reconciler to resolve", Duration::from_secs(15), || {
        let mut client = client.clone();
        let payment_id = payment_id.clone();
        async move {
            let payment = get(&mut client, &payment_id).await;
            (payment.status == pb::PaymentStatus::Authorized as i32).then_some(payment)
        }
    })
    .await;
    assert!(payment.transactions[0].resolve_time.is_some());
    assert_eq!(payments.charges().await, 1);
    assert_eq!(payments.psp_calls(TransactionKind::Authorization).await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn a_psp_slower_than_the_timeout_leaves_the_outcome_unknown_not_failed() {
    let payments = TestPayments::start_with(
        SimulatorConfig {
            latency: Duration::from_millis(400),
            ..SimulatorConfig::default()
        },
        Duration::from_millis(50),
    )
    .await;
    let mut client = payments.client();
    let request = || keyed(authorize_request(100, card("tok_visa")), "auth-1");
    let status = client.authorize(request()).await.unwrap_err();
    assert_eq!(metadata(&status, "outcome"), "unknown");

    let payment = client
        .authorize(request())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment_status(&payment), pb::PaymentStatus::Authorized);
    assert_eq!(payments.charges().await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn an_authorization_the_psp_never_received_is_voided_or_declined_never_charged() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let lost = |key: &str| keyed(authorize_request(700, card("tok_lost")), key);

    let status = client.authorize(lost("auth-1")).await.unwrap_err();
    assert_eq!(metadata(&status, "outcome"), "unknown");
    let payment_id = metadata(&status, "payment_id");
    // Void asks first; the PSP never had it, so Void records that and releases nothing.
    let payment = void(&mut client, &payment_id, "void-1").await.unwrap();
    assert_eq!(payment_status(&payment), pb::PaymentStatus::Voided);
    assert_eq!(minor(payment.voided_amount.as_ref()), 0);
    let [authorization, void] = payment.transactions.as_slice() else {
        panic!("two transactions: {:?}", payment.transactions);
    };
    assert_eq!(authorization.status, pb::TransactionStatus::Failed as i32);
    assert_eq!(authorization.provider_detail, "not_received");
    assert_eq!(void.status, pb::TransactionStatus::Succeeded as i32);

    // Retried instead: the answer is that nothing happened.
    client.authorize(lost("auth-2")).await.unwrap_err();
    let status = client.authorize(lost("auth-2")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "PAYMENT_DECLINED");
    assert_eq!(
        metadata(&status, "decline_reason"),
        "DECLINE_REASON_PROCESSING_ERROR"
    );
    assert_eq!(payments.charges().await, 0);
    assert_eq!(payments.psp_calls(TransactionKind::Authorization).await, 2);
    payments.stop().await;
}
