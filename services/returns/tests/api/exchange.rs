//! Exchanges: a replacement priced in the order's currency, the price
//! difference settled either way, and RecordExchange checked against it.

use oms_proto::{
    common::v1::{LineItem, Money},
    returns::v1::{
        ApproveReturnRequest, ReceiveReturnRequest, RecordExchangeRequest, RecordRefundRequest,
        Return, ReturnReason, ReturnResolution, ReturnStatus,
    },
};
use tonic::Code;

use crate::helpers::*;

fn replacement(sku: &str, quantity: i32, price: Option<Money>) -> LineItem {
    LineItem {
        sku: sku.into(),
        quantity,
        unit_price: price,
    }
}

/// An exchange of TEE-M × `units` for `replacement`, received and inspected
/// whole at the warehouse.
async fn inspected_exchange(
    suite: &TestReturns,
    reference: &str,
    units: i32,
    replacement: Vec<LineItem>,
) -> Return {
    let order_id = suite.delivered_order(reference, 1).await;
    let mut client = suite.client();
    let mut request = refund_request(
        &order_id,
        vec![line("TEE-M", units, ReturnReason::WrongSize)],
    );
    request.resolution = ReturnResolution::Exchange as i32;
    request.replacement_lines = replacement;
    let rma = request_ok(&mut client, reference, request).await;
    let id = rma.return_id.clone();
    client
        .approve_return(ApproveReturnRequest {
            return_id: id.clone(),
            receiving_location_id: String::new(),
            note: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    client
        .receive_return(ReceiveReturnRequest {
            return_id: id.clone(),
            location_id: WAREHOUSE.into(),
            note: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    client
        .inspect_return(inspection(&id, vec![inspected("TEE-M", units, 0, 0)]))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap()
}

fn record(return_id: &str, difference: i64, refund: Option<&str>) -> RecordExchangeRequest {
    RecordExchangeRequest {
        return_id: return_id.into(),
        replacement_order_id: minted("order-replacement-1"),
        price_difference: eur(difference),
        payment_id: refund.map(|_| minted("pay-1")).unwrap_or_default(),
        transaction_id: refund.map(minted).unwrap_or_default(),
        actor: Some(saga_actor()),
    }
}

#[tokio::test]
async fn a_dearer_replacement_leaves_the_difference_to_pay() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    // One T-shirt (19.99) for a size L at 24.99: 5.00 to pay.
    let rma = inspected_exchange(
        &suite,
        "web-up",
        1,
        vec![replacement("TEE-L", 1, eur(2499))],
    )
    .await;
    let exchange = rma.exchange.clone().unwrap();
    assert_eq!(exchange.replacement_total, eur(2499));
    assert_eq!(exchange.price_difference, eur(500));
    let id = rma.return_id;

    let status = client
        .record_exchange(record(&id, 499, None))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["price_difference"]);
    let status = client
        .record_exchange(record(&id, 500, Some("txn-9")))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["payment_id"]);
    let status = client
        .record_refund(RecordRefundRequest {
            return_id: id.clone(),
            payment_id: minted("pay-1"),
            transaction_id: minted("txn-1"),
            amount: eur(1999),
            actor: Some(saga_actor()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");

    let exchanged = client
        .record_exchange(record(&id, 500, None))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert_eq!(exchanged.status, ReturnStatus::Exchanged as i32);
    assert_eq!(
        exchanged.exchange.as_ref().unwrap().replacement_order_id,
        minted("order-replacement-1")
    );
    // The same record again changes nothing; with another difference it is refused.
    let again = client
        .record_exchange(record(&id, 500, None))
        .await
        .unwrap();
    assert_eq!(
        again.into_inner().rma.unwrap().update_time,
        exchanged.update_time
    );
    let status = client
        .record_exchange(record(&id, 501, None))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["price_difference"]);
    let mut other = record(&id, 500, None);
    other.replacement_order_id = minted("order-replacement-2");
    let status = client.record_exchange(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    suite.stop().await;
}

#[tokio::test]
async fn a_cheaper_replacement_is_refunded_the_difference() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    // Two T-shirts (39.98) for one cap at 15.00: 24.98 back.
    let rma = inspected_exchange(
        &suite,
        "web-down",
        2,
        vec![replacement("CAP", 1, eur(1500))],
    )
    .await;
    assert_eq!(rma.exchange.as_ref().unwrap().price_difference, eur(-2498));

    let status = client
        .record_exchange(RecordExchangeRequest {
            transaction_id: String::new(),
            ..record(&rma.return_id, -2498, Some("txn-5"))
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["payment_id"]);
    let exchanged = client
        .record_exchange(record(&rma.return_id, -2498, Some("txn-5")))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    let exchange = exchanged.exchange.unwrap();
    assert_eq!(
        (exchange.payment_id, exchange.transaction_id),
        (minted("pay-1"), minted("txn-5"))
    );
    suite.stop().await;
}

#[tokio::test]
async fn a_replacement_must_be_priced_in_the_orders_currency() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-usd", 1).await;
    let mut client = suite.client();
    let mut request = refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]);
    request.resolution = ReturnResolution::Exchange as i32;
    request.replacement_lines = vec![replacement(
        "TEE-L",
        1,
        Some(Money {
            currency_code: "USD".into(),
            amount_minor: 2499,
        }),
    )];

    let status = client
        .request_return(keyed("r-usd", request.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "CURRENCY_MISMATCH");
    assert_eq!(metadata(&status, "expected"), "EUR");

    request.replacement_lines.clear();
    let status = client
        .request_return(keyed("r-empty", request))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["replacement_lines"]);
    suite.stop().await;
}
