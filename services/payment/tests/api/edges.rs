//! Hostile and extreme input: a NUL in any string field, amounts at the limits
//! of i64, page sizes out of range. Each is refused with INVALID_ARGUMENT
//! naming the field, or served; never INTERNAL, never a panic.

use oms_proto::{common::v1::PageRequest, payment::v1::ListPaymentsRequest};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_nul_in_a_string_field_is_invalid_argument_naming_it() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let payment = authorized(&mut client, "auth-1", 1000).await;
    capture(&mut client, &payment.payment_id, "cap-1", None)
        .await
        .unwrap();

    let mut request = refund_request(&payment.payment_id, Some(100));
    request.note = "customer\0asked".into();
    request.reference_id = "rma\0".into();
    let status = client.refund(keyed(request, "ref-1")).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["reference_id", "note"]);

    let mut request = authorize_request(100, invoice("acct\0"));
    request.actor.as_mut().unwrap().id = "saga\0".into();
    let status = client
        .authorize(keyed(request, "auth-2"))
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["payment_method.invoice.billing_reference", "actor.id"]
    );
    assert_eq!(payments.charges().await, 1);
    payments.stop().await;
}

#[tokio::test]
async fn amounts_at_the_limits_of_i64_are_refused_or_served_never_overflowed() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    for amount in [i64::MIN, -1, 0] {
        let status = client
            .authorize(keyed(
                authorize_request(amount, card("tok_visa")),
                &format!("auth{amount}"),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["amount.amount_minor"], "{amount}");
    }

    // The largest amount there is: authorized, captured in two parts, refunded.
    let payment = authorized(&mut client, "auth-max", i64::MAX).await;
    let id = payment.payment_id;
    let status = capture(&mut client, &id, "cap-min", Some(i64::MIN))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["amount.amount_minor"]);
    capture(&mut client, &id, "cap-1", Some(i64::MAX - 1))
        .await
        .unwrap();
    let over = capture(&mut client, &id, "cap-2", Some(i64::MAX))
        .await
        .unwrap_err();
    assert_eq!(reason(&over), "AMOUNT_EXCEEDS_REMAINING");
    let captured = capture(&mut client, &id, "cap-3", None).await.unwrap();
    assert_eq!(minor(captured.captured_amount.as_ref()), i64::MAX);
    let refunded = refund(&mut client, &id, "ref-1", Some(i64::MAX))
        .await
        .unwrap();
    assert_eq!(minor(refunded.refunded_amount.as_ref()), i64::MAX);
    let more = refund(&mut client, &id, "ref-2", Some(i64::MAX))
        .await
        .unwrap_err();
    assert_eq!(more.code(), Code::FailedPrecondition);

    // A gift card holding i64::MAX pays and is paid back without overflow.
    let code = format!("GC-EUR-{}-1", i64::MAX);
    let payment = authorized_by(&mut client, "auth-gift", i64::MAX, gift_card(&code)).await;
    void(&mut client, &payment.payment_id, "void-gift")
        .await
        .unwrap();
    assert_eq!(payments.gift_card_balance(&code).await, Some(i64::MAX));
    payments.stop().await;
}

#[tokio::test]
async fn page_sizes_out_of_range_are_invalid_argument() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    for page_size in [i32::MIN, -1, 501, i32::MAX] {
        let status = client
            .list_payments(ListPaymentsRequest {
                page: Some(PageRequest {
                    page_size,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["page.page_size"], "{page_size}");
    }
    payments.stop().await;
}
