//! The PSP simulator keeps what it did in the service's database, as a
//! provider would: the calls that follow an authorization succeed on another
//! replica than the one that authorized, and after a restart in between.

use oms_payment::domain::payment::TransactionKind;
use oms_proto::payment::v1::{self as pb, payment_service_client::PaymentServiceClient};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn capture_refund_and_void_succeed_on_another_replica_than_the_authorization() {
    let payments = TestPayments::start().await;
    let replica = payments.replica().await;
    let mut first = payments.client();
    let mut second = PaymentServiceClient::new(replica.channel());

    let paid = authorized(&mut first, "auth-1", 1000).await;
    let captured = capture(&mut second, &paid.payment_id, "cap-1", Some(600))
        .await
        .unwrap();
    assert_eq!(minor(captured.captured_amount.as_ref()), 600);
    let refunded = refund(&mut second, &paid.payment_id, "ref-1", Some(200))
        .await
        .unwrap();
    assert_eq!(minor(refunded.refunded_amount.as_ref()), 200);

    let code = "GC-EUR-5000-7781";
    let gift = authorized_by(&mut first, "auth-2", 3000, gift_card(code)).await;
    let voided = void(&mut second, &gift.payment_id, "void-1").await.unwrap();
    assert_eq!(payment_status(&voided), pb::PaymentStatus::Voided);
    assert_eq!(payments.gift_card_balance(code).await, Some(5000));

    // What the token scripted for the capture travels with the authorization:
    // the other replica declines it as scripted, not as an unknown reference.
    let scripted =
        authorized_by(&mut first, "auth-3", 1000, card("tok_visa_capture_decline")).await;
    let status = capture(&mut second, &scripted.payment_id, "cap-3", None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let scripted = get(&mut first, &scripted.payment_id).await;
    let capture = scripted
        .transactions
        .iter()
        .find(|transaction| transaction.kind == pb::TransactionKind::Capture as i32)
        .unwrap();
    assert_eq!(capture.provider_detail, "card_declined");

    assert_eq!(payments.charges().await, 3);
    replica.stop().await.unwrap();
    payments.stop().await;
}

#[tokio::test]
async fn a_restart_between_authorize_and_capture_changes_nothing() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let paid = authorized(&mut client, "auth-1", 1000).await;
    // Done by the simulator, but its answer comes too late: the outcome is
    // unknown when the service stops.
    let late = || keyed(authorize_request(700, card("tok_visa_timeout")), "auth-2");
    let status = client.authorize(late()).await.unwrap_err();
    assert_eq!(metadata(&status, "outcome"), "unknown");

    let payments = payments.restart().await;
    let mut client = payments.client();
    let captured = capture(&mut client, &paid.payment_id, "cap-1", None)
        .await
        .unwrap();
    assert_eq!(payment_status(&captured), pb::PaymentStatus::Captured);
    let refunded = refund(&mut client, &paid.payment_id, "ref-1", Some(400))
        .await
        .unwrap();
    assert_eq!(
        payment_status(&refunded),
        pb::PaymentStatus::PartiallyRefunded
    );
    // The retry asks the simulator, which still knows it authorized.
    let resolved = client
        .authorize(late())
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(resolved.payment_id, metadata(&status, "payment_id"));
    assert_eq!(payment_status(&resolved), pb::PaymentStatus::Authorized);

    assert_eq!(payments.charges().await, 2);
    assert_eq!(payments.psp_calls(TransactionKind::Authorization).await, 2);
    payments.stop().await;
}
