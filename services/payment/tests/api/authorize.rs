//! Authorize and GetPayment: approvals, declines with their reasons, gift
//! cards and invoices, retries with the same key, and bad input.

use std::time::Duration;

use oms_payment::psp::SimulatorConfig;
use oms_proto::payment::v1::{self as pb, GetPaymentRequest, VoidRequest};
use tonic::{Code, Request};

use crate::helpers::*;

#[tokio::test]
async fn an_approved_authorization_holds_the_amount_with_its_psp_reference() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();

    let payment = authorized(&mut client, "auth-1", 1999).await;

    assert_eq!(payment_status(&payment), pb::PaymentStatus::Authorized);
    assert_eq!(payment.order_id, id("ord-1"));
    assert_eq!(payment.provider, "simulator");
    assert_eq!(payment.method.as_ref().unwrap().display, "card ending 4242");
    assert_eq!(minor(payment.authorized_amount.as_ref()), 1999);
    assert_eq!(minor(payment.capturable_amount.as_ref()), 1999);
    assert_eq!(minor(payment.refundable_amount.as_ref()), 0);
    let [authorization] = payment.transactions.as_slice() else {
        panic!("one transaction: {:?}", payment.transactions);
    };
    assert_eq!(
        authorization.kind,
        pb::TransactionKind::Authorization as i32
    );
    assert_eq!(
        authorization.status,
        pb::TransactionStatus::Succeeded as i32
    );
    assert!(authorization.psp_reference.starts_with("sim_"));
    assert_eq!(authorization.idempotency_key, "auth-1");
    assert!(authorization.resolve_time.is_some());
    assert_eq!(get(&mut client, &payment.payment_id).await, payment);
    assert_eq!(payments.charges().await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn a_decline_is_failed_precondition_with_its_reason() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let table = [
        ("tok_decline", pb::DeclineReason::Generic),
        (
            "tok_insufficient_funds",
            pb::DeclineReason::InsufficientFunds,
        ),
        ("tok_expired", pb::DeclineReason::ExpiredCard),
        ("tok_fraud", pb::DeclineReason::SuspectedFraud),
        ("tok_3ds", pb::DeclineReason::AuthenticationRequired),
    ];
    for (i, (token, expected)) in table.into_iter().enumerate() {
        let status = client
            .authorize(keyed(
                authorize_request(500, card(token)),
                &format!("d-{i}"),
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::FailedPrecondition, "{token}");
        assert_eq!(reason(&status), "PAYMENT_DECLINED");
        assert_eq!(metadata(&status, "decline_reason"), expected.as_str_name());
        let payment = get(&mut client, &metadata(&status, "payment_id")).await;
        assert_eq!(payment.status, pb::PaymentStatus::Declined as i32);
        assert_eq!(payment.decline_reason, expected as i32);
        assert_eq!(
            payment.transactions[0].transaction_id,
            metadata(&status, "transaction_id")
        );
        assert_eq!(
            payment.transactions[0].status,
            pb::TransactionStatus::Failed as i32
        );
    }
    assert_eq!(payments.charges().await, 0);
    payments.stop().await;
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_first_result() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();

    let first = authorized(&mut client, "auth-1", 1000).await;
    let again = authorized(&mut client, "auth-1", 1000).await;
    assert_eq!(again, first);

    let declined = client
        .authorize(keyed(
            authorize_request(1000, card("tok_decline")),
            "auth-2",
        ))
        .await
        .unwrap_err();
    let declined_again = client
        .authorize(keyed(
            authorize_request(1000, card("tok_decline")),
            "auth-2",
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&declined_again), "PAYMENT_DECLINED");
    assert_eq!(
        metadata(&declined_again, "payment_id"),
        metadata(&declined, "payment_id")
    );

    let captured = client
        .capture(keyed(
            capture_request(&first.payment_id, Some(400)),
            "cap-1",
        ))
        .await
        .unwrap()
        .into_inner();
    let captured_again = client
        .capture(keyed(
            capture_request(&first.payment_id, Some(400)),
            "cap-1",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(captured_again.transaction_id, captured.transaction_id);
    let refunded = refund(&mut client, &first.payment_id, "ref-1", Some(100))
        .await
        .unwrap();
    let refunded_again = refund(&mut client, &first.payment_id, "ref-1", Some(100))
        .await
        .unwrap();
    assert_eq!(refunded_again, refunded);
    let voided = void(&mut client, &first.payment_id, "void-1")
        .await
        .unwrap();
    let voided_again = void(&mut client, &first.payment_id, "void-1")
        .await
        .unwrap();
    assert_eq!(voided_again, voided);

    let payment = get(&mut client, &first.payment_id).await;
    assert_eq!(minor(payment.captured_amount.as_ref()), 400);
    assert_eq!(minor(payment.refunded_amount.as_ref()), 100);
    assert_eq!(minor(payment.voided_amount.as_ref()), 600);
    assert_eq!(payment.transactions.len(), 4);
    assert_eq!(payments.charges().await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn the_same_key_with_a_different_request_is_refused() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-1", 1000).await;

    let status = client
        .authorize(keyed(
            authorize_request(999, card("tok_visa_4242")),
            "auth-1",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");

    capture(&mut client, &payment.payment_id, "cap-1", Some(100))
        .await
        .unwrap();
    let status = capture(&mut client, &payment.payment_id, "cap-1", Some(200))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");
    payments.stop().await;
}

#[tokio::test]
async fn bad_input_is_invalid_argument_naming_each_field() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();

    let status = client
        .authorize(Request::new(authorize_request(100, card("tok_visa"))))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["idempotency-key"]);

    let status = client
        .authorize(keyed(pb::AuthorizeRequest::default(), "k1"))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["order_id", "amount", "payment_method", "actor"]
    );

    let mut request = authorize_request(-5, card(""));
    request.amount.as_mut().unwrap().currency_code = "EURO".into();
    let status = client.authorize(keyed(request, "k2")).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "amount.currency_code",
            "amount.amount_minor",
            "payment_method.card.token"
        ]
    );

    let payment = authorized(&mut client, "auth-1", 1000).await;
    let status = capture(&mut client, &payment.payment_id, "cap-1", Some(0))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["amount.amount_minor"]);
    let mut request = refund_request(&payment.payment_id, None);
    request.reason = 0;
    request.actor = None;
    let status = client.refund(keyed(request, "ref-1")).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["actor", "reason"]);
    let status = client
        .void(keyed(
            VoidRequest {
                target: None,
                actor: Some(saga()),
            },
            "void-1",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["target"]);
    let status = client
        .get_payment(GetPaymentRequest::default())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["payment_id"]);
    payments.stop().await;
}

#[tokio::test]
async fn an_unknown_payment_is_not_found_and_an_id_never_minted_is_invalid() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment_id = "0190f5a0-0000-7000-8000-000000000000";
    let status = client
        .get_payment(GetPaymentRequest {
            payment_id: payment_id.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = capture(&mut client, payment_id, "cap-1", None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    for payment_id in ["not-a-payment", "0190F5A0-0000-7000-8000-000000000000"] {
        let status = client
            .get_payment(GetPaymentRequest {
                payment_id: payment_id.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["payment_id"], "{payment_id}");
        let status = capture(&mut client, payment_id, "cap-2", None)
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["payment_id"], "{payment_id}");
        let status = client
            .void(keyed(void_request(payment_id), "void-2"))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["payment_id"], "{payment_id}");
    }
    let mut request = authorize_request(100, card("tok_visa"));
    request.order_id = "ord-1".into();
    let status = client
        .authorize(keyed(request, "auth-1"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["order_id"]);
    payments.stop().await;
}

#[tokio::test]
async fn gift_cards_spend_and_regain_their_balance() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let code = "GC-EUR-5000-7781";

    let payment = client
        .authorize(keyed(authorize_request(3000, gift_card(code)), "gift-1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(
        payment.method.as_ref().unwrap().display,
        "gift card ending 7781"
    );
    assert_eq!(payments.gift_card_balance(code).await, Some(2000));

    let status = client
        .authorize(keyed(authorize_request(2500, gift_card(code)), "gift-2"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(metadata(&status, "requested_minor"), "2500");
    assert_eq!(metadata(&status, "remaining_minor"), "2000");

    let mut dollars = authorize_request(100, gift_card(code));
    dollars.amount.as_mut().unwrap().currency_code = "USD".into();
    let status = client
        .authorize(keyed(dollars, "gift-3"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "CURRENCY_MISMATCH");
    assert_eq!(metadata(&status, "expected"), "EUR");
    assert_eq!(metadata(&status, "actual"), "USD");

    capture(&mut client, &payment.payment_id, "cap-1", Some(2000))
        .await
        .unwrap();
    void(&mut client, &payment.payment_id, "void-1")
        .await
        .unwrap();
    refund(&mut client, &payment.payment_id, "ref-1", Some(500))
        .await
        .unwrap();
    // 5000 - 3000 held + 1000 released + 500 refunded.
    assert_eq!(payments.gift_card_balance(code).await, Some(3500));
    payments.stop().await;
}

#[tokio::test]
async fn invoices_authorize_unless_the_credit_check_fails() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = client
        .authorize(keyed(authorize_request(800, invoice("acct-77")), "inv-1"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(payment_status(&payment), pb::PaymentStatus::Authorized);
    assert_eq!(payment.method.as_ref().unwrap().display, "invoice");

    let status = client
        .authorize(keyed(
            authorize_request(800, invoice("acct-credit_fail")),
            "inv-2",
        ))
        .await
        .unwrap_err();
    assert_eq!(
        metadata(&status, "decline_reason"),
        "DECLINE_REASON_CREDIT_CHECK_FAILED"
    );
    payments.stop().await;
}

#[tokio::test]
async fn a_psp_outage_is_unavailable_and_charges_nothing() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let status = client
        .authorize(keyed(
            authorize_request(100, card("tok_unavailable")),
            "auth-1",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(&status), "PROVIDER_UNAVAILABLE");
    assert_eq!(metadata(&status, "provider"), "simulator");
    assert_eq!(metadata(&status, "outcome"), "");
    assert_eq!(payments.charges().await, 0);
    payments.stop().await;

    // A PSP that refuses every call: the configured failure rate.
    let payments = TestPayments::start_with(
        SimulatorConfig {
            failure_rate: 1.0,
            ..SimulatorConfig::default()
        },
        Duration::from_secs(5),
    )
    .await;
    let mut client = payments.client();
    let status = client
        .authorize(keyed(authorize_request(100, card("tok_visa")), "auth-1"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "PROVIDER_UNAVAILABLE");
    assert_eq!(payments.charges().await, 0);
    payments.stop().await;
}

#[tokio::test]
async fn a_retry_after_its_answer_was_purged_still_acts_only_once() {
    use oms_payment::domain::payment::TransactionKind;
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-1", 1000).await;
    let captured = capture(&mut client, &payment.payment_id, "cap-1", Some(300))
        .await
        .unwrap();
    // What the hourly purge does to records past their retention.
    let pool = payments.db.pool().await;
    sqlx::query("DELETE FROM idempotency_records")
        .execute(&pool)
        .await
        .unwrap();

    assert_eq!(
        authorized(&mut client, "auth-1", 1000).await.payment_id,
        payment.payment_id
    );
    let again = capture(&mut client, &payment.payment_id, "cap-1", Some(300))
        .await
        .unwrap();
    assert_eq!(again.transactions, captured.transactions);
    assert_eq!(minor(again.captured_amount.as_ref()), 300);
    assert_eq!(payments.psp_calls(TransactionKind::Authorization).await, 1);
    assert_eq!(payments.psp_calls(TransactionKind::Capture).await, 1);
    payments.stop().await;
}
