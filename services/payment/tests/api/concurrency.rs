//! Money invariants under concurrency: calls racing on one payment are
//! serialised by its row lock, so they never spend the same money twice.

use oms_proto::payment::v1 as pb;
use tokio::task::JoinSet;
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn twenty_concurrent_refunds_never_refund_more_than_captured() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-1", 1000).await;
    capture(&mut client, &payment.payment_id, "cap-1", None)
        .await
        .unwrap();

    let mut calls = JoinSet::new();
    for i in 0..20 {
        let mut client = payments.client();
        let payment_id = payment.payment_id.clone();
        calls.spawn(async move {
            refund(&mut client, &payment_id, &format!("ref-{i}"), Some(150)).await
        });
    }
    let mut succeeded = 0;
    while let Some(result) = calls.join_next().await {
        match result.unwrap() {
            Ok(_) => succeeded += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                assert_eq!(reason(&status), "AMOUNT_EXCEEDS_REMAINING");
            }
        }
    }

    let payment = get(&mut client, &payment.payment_id).await;
    // Six refunds of 150 fit in 1000; the seventh would exceed it.
    assert_eq!(succeeded, 6);
    assert_eq!(minor(payment.refunded_amount.as_ref()), 900);
    assert_eq!(minor(payment.refundable_amount.as_ref()), 100);
    let refunds = payment
        .transactions
        .iter()
        .filter(|t| {
            t.kind == pb::TransactionKind::Refund as i32
                && t.status == pb::TransactionStatus::Succeeded as i32
        })
        .count();
    assert_eq!(refunds, 6);
    assert_eq!(
        payments
            .psp_calls(oms_payment::domain::payment::TransactionKind::Refund)
            .await,
        6
    );
    payments.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_captures_never_capture_more_than_authorized() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-1", 1000).await;

    let mut calls = JoinSet::new();
    for i in 0..20 {
        let mut client = payments.client();
        let payment_id = payment.payment_id.clone();
        calls.spawn(async move {
            capture(&mut client, &payment_id, &format!("cap-{i}"), Some(100)).await
        });
    }
    let mut succeeded = 0;
    while let Some(result) = calls.join_next().await {
        match result.unwrap() {
            Ok(_) => succeeded += 1,
            Err(status) => assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}"),
        }
    }
    let payment = get(&mut client, &payment.payment_id).await;
    assert_eq!(succeeded, 10);
    assert_eq!(minor(payment.captured_amount.as_ref()), 1000);
    assert_eq!(payment_status(&payment), pb::PaymentStatus::Captured);
    payments.stop().await;
}
