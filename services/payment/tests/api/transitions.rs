//! The payment state machine over gRPC: every transition of the contract's
//! table and every refused one, and the money rules of partial captures and
//! refunds.

use oms_proto::payment::v1::{self as pb, PaymentStatus as S, VoidRequest, void_request};
use tonic::Code;

use crate::helpers::*;

/// A call of the table.
#[derive(Debug, Clone, Copy)]
enum Call {
    /// Capture this much, or everything that remains.
    Capture(Option<i64>),
    Refund(Option<i64>),
    Void,
}

/// Makes a fresh 1000 EUR payment in `status`; keys start with `prefix`.
async fn payment_in(client: &mut Client, status: S, prefix: &str) -> String {
    let key = |step: &str| format!("{prefix}-{step}");
    let token = match status {
        S::AuthorizationPending => "tok_timeout",
        S::Declined => "tok_decline",
        _ => "tok_visa_4242",
    };
    let payment_id = match client
        .authorize(keyed(authorize_request(1000, card(token)), &key("auth")))
        .await
    {
        Ok(response) => response.into_inner().payment.unwrap().payment_id,
        Err(status) => metadata(&status, "payment_id"),
    };
    match status {
        S::Voided => {
            void(client, &payment_id, &key("void")).await.unwrap();
        }
        S::PartiallyCaptured => {
            capture(client, &payment_id, &key("cap"), Some(400))
                .await
                .unwrap();
        }
        S::Captured | S::PartiallyRefunded | S::Refunded => {
            capture(client, &payment_id, &key("cap"), None)
                .await
                .unwrap();
        }
        _ => {}
    }
    match status {
        S::PartiallyRefunded => {
            refund(client, &payment_id, &key("ref"), Some(100))
                .await
                .unwrap();
        }
        S::Refunded => {
            refund(client, &payment_id, &key("ref"), None)
                .await
                .unwrap();
        }
        _ => {}
    }
    assert_eq!(payment_status(&get(client, &payment_id).await), status);
    payment_id
}

#[tokio::test]
async fn every_transition_of_the_table_and_every_refused_one() {
    use Call::*;
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    // (from, call, Some(to) when allowed, None when ILLEGAL_STATE_TRANSITION)
    let table: [(S, Call, Option<S>); 27] = [
        (S::AuthorizationPending, Capture(Some(100)), None),
        (S::AuthorizationPending, Refund(Some(100)), None),
        // The PSP is asked first: the authorization happened, so it is voided.
        (S::AuthorizationPending, Void, Some(S::Voided)),
        (
            S::Authorized,
            Capture(Some(100)),
            Some(S::PartiallyCaptured),
        ),
        (S::Authorized, Capture(None), Some(S::Captured)),
        (S::Authorized, Refund(Some(100)), None),
        (S::Authorized, Void, Some(S::Voided)),
        (S::Declined, Capture(Some(100)), None),
        (S::Declined, Refund(Some(100)), None),
        (S::Declined, Void, Some(S::Declined)),
        (S::Voided, Capture(Some(100)), None),
        (S::Voided, Refund(Some(100)), None),
        (S::Voided, Void, Some(S::Voided)),
        (
            S::PartiallyCaptured,
            Capture(Some(100)),
            Some(S::PartiallyCaptured),
        ),
        (S::PartiallyCaptured, Capture(None), Some(S::Captured)),
        (
            S::PartiallyCaptured,
            Refund(Some(100)),
            Some(S::PartiallyCaptured),
        ),
        (S::PartiallyCaptured, Void, Some(S::Captured)),
        (S::Captured, Capture(Some(100)), None),
        (S::Captured, Refund(Some(100)), Some(S::PartiallyRefunded)),
        (S::Captured, Refund(None), Some(S::Refunded)),
        (S::Captured, Void, Some(S::Captured)),
        (S::PartiallyRefunded, Capture(Some(100)), None),
        (
            S::PartiallyRefunded,
            Refund(Some(100)),
            Some(S::PartiallyRefunded),
        ),
        (S::PartiallyRefunded, Refund(None), Some(S::Refunded)),
        (S::PartiallyRefunded, Void, Some(S::PartiallyRefunded)),
        (S::Refunded, Capture(Some(100)), None),
        (S::Refunded, Refund(Some(100)), None),
    ];
    for (row, (from, call, to)) in table.into_iter().enumerate() {
        let prefix = format!("row{row}");
        let payment_id = payment_in(&mut client, from, &prefix).await;
        let key = format!("{prefix}-call");
        let result = match call {
            Capture(amount) => capture(&mut client, &payment_id, &key, amount).await,
            Refund(amount) => refund(&mut client, &payment_id, &key, amount).await,
            Void => void(&mut client, &payment_id, &key).await,
        };
        match (to, result) {
            (Some(to), Ok(payment)) => {
                assert_eq!(payment_status(&payment), to, "{from:?} {call:?}");
            }
            (None, Err(status)) => {
                assert_eq!(status.code(), Code::FailedPrecondition, "{from:?} {call:?}");
                assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
                assert_eq!(
                    metadata(&status, "from_state"),
                    from.as_str_name().trim_start_matches("PAYMENT_STATUS_"),
                    "{from:?} {call:?}"
                );
            }
            (to, result) => panic!("{from:?} {call:?}: expected {to:?}, got {result:?}"),
        }
    }
    // Void of the rest after a refund, and Void of a REFUNDED payment.
    let payment_id = payment_in(&mut client, S::PartiallyCaptured, "extra").await;
    refund(&mut client, &payment_id, "extra-ref", Some(100))
        .await
        .unwrap();
    let payment = void(&mut client, &payment_id, "extra-void").await.unwrap();
    assert_eq!(payment_status(&payment), S::PartiallyRefunded);
    let payment_id = payment_in(&mut client, S::Refunded, "extra2").await;
    let payment = void(&mut client, &payment_id, "extra2-void").await.unwrap();
    assert_eq!(payment_status(&payment), S::Refunded);
    payments.stop().await;
}

#[tokio::test]
async fn several_partial_captures_and_refunds_never_exceed_what_remains() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-1", 1000).await;
    let id = payment.payment_id.as_str();

    capture(&mut client, id, "cap-1", Some(300)).await.unwrap();
    capture(&mut client, id, "cap-2", Some(300)).await.unwrap();
    let status = capture(&mut client, id, "cap-3", Some(500))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(metadata(&status, "requested_minor"), "500");
    assert_eq!(metadata(&status, "remaining_minor"), "400");

    let mut dollars = capture_request(id, Some(100));
    dollars.amount.as_mut().unwrap().currency_code = "USD".into();
    let status = client.capture(keyed(dollars, "cap-4")).await.unwrap_err();
    assert_eq!(reason(&status), "CURRENCY_MISMATCH");
    assert_eq!(metadata(&status, "expected"), "EUR");

    refund(&mut client, id, "ref-1", Some(250)).await.unwrap();
    let status = refund(&mut client, id, "ref-2", Some(351))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "AMOUNT_EXCEEDS_REMAINING");
    assert_eq!(metadata(&status, "remaining_minor"), "350");

    let payment = capture(&mut client, id, "cap-5", None).await.unwrap();
    assert_eq!(
        payment_status(&payment),
        pb::PaymentStatus::PartiallyRefunded
    );
    assert_eq!(minor(payment.captured_amount.as_ref()), 1000);
    assert_eq!(minor(payment.refunded_amount.as_ref()), 250);
    assert_eq!(minor(payment.capturable_amount.as_ref()), 0);
    assert_eq!(minor(payment.refundable_amount.as_ref()), 750);
    let payment = refund(&mut client, id, "ref-3", None).await.unwrap();
    assert_eq!(payment_status(&payment), pb::PaymentStatus::Refunded);
    assert_eq!(minor(payment.refunded_amount.as_ref()), 1000);
    let refunds: Vec<_> = payment
        .transactions
        .iter()
        .filter(|t| t.kind == pb::TransactionKind::Refund as i32)
        .collect();
    assert_eq!(refunds.len(), 2);
    assert!(refunds.iter().all(|t| t.reference_id == "rma-1"
        && t.refund_reason == pb::RefundReason::Return as i32
        && !t.psp_reference.is_empty()));
    payments.stop().await;
}

#[tokio::test]
async fn voiding_an_authorization_key_never_seen_stops_a_late_authorize() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let by_key = |key: &str| VoidRequest {
        target: Some(void_request::Target::AuthorizationKey(key.into())),
        actor: Some(saga()),
    };

    let response = client
        .void(keyed(by_key("auth-late"), "void-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.payment, None);
    let status = client
        .authorize(keyed(authorize_request(100, card("tok_visa")), "auth-late"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&status, "from_state"), "VOIDED");
    assert_eq!(metadata(&status, "action"), "authorize");
    assert_eq!(payments.charges().await, 0);

    // A key that was authorized: Void finds its payment.
    let payment = authorized(&mut client, "auth-known", 700).await;
    let voided = client
        .void(keyed(by_key("auth-known"), "void-2"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    assert_eq!(voided.payment_id, payment.payment_id);
    assert_eq!(payment_status(&voided), pb::PaymentStatus::Voided);
    assert_eq!(minor(voided.voided_amount.as_ref()), 700);
    payments.stop().await;
}

#[tokio::test]
async fn each_answer_is_the_payment_as_it_reads_back_after_the_call() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let authorized = authorized(&mut client, "answers-auth", 1000).await;
    assert_eq!(get(&mut client, &authorized.payment_id).await, authorized);
    let id = authorized.payment_id.clone();
    let id = id.as_str();
    let calls = [
        (Call::Capture(Some(300)), S::PartiallyCaptured),
        (Call::Capture(None), S::Captured),
        (Call::Refund(Some(250)), S::PartiallyRefunded),
        (Call::Refund(None), S::Refunded),
    ];

    let mut last = authorized;
    for (n, (call, status)) in calls.into_iter().enumerate() {
        let key = format!("answers-{n}");
        last = match call {
            Call::Capture(amount) => capture(&mut client, id, &key, amount).await,
            Call::Refund(amount) => refund(&mut client, id, &key, amount).await,
            Call::Void => void(&mut client, id, &key).await,
        }
        .unwrap();

        assert_eq!(
            last,
            get(&mut client, id).await,
            "{call:?}: the answer and the payment read after it"
        );
        assert_eq!(payment_status(&last), status, "{call:?}");
        assert_eq!(last.transactions.len(), n + 2, "{call:?}");
    }
    // A retry of the last call replays its answer.
    assert_eq!(
        refund(&mut client, id, "answers-3", None).await.unwrap(),
        last
    );
    payments.stop().await;
}
