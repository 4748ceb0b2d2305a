//! Hostile and extreme input: a NUL in any string field, numbers and amounts at
//! their limits, ids the OMS never minted, and the largest values other
//! services send or receive. Each is refused with INVALID_ARGUMENT naming the
//! field, or served; never INTERNAL, never a panic.

use oms_proto::{
    common::v1::{LineItem, PageRequest},
    returns::v1::{
        ApproveReturnRequest, GetReturnRequest, ListReturnsRequest, MarkReturnInTransitRequest,
        PutReturnPolicyRequest, RecordExchangeRequest, RecordRefundRequest,
        RecordReturnLabelRequest, ReturnLabel, ReturnReason, ReturnResolution,
    },
};
use prost_types::Timestamp;

use crate::helpers::*;

/// A return of one TEE-M of a delivered order, approved; its id.
async fn approved(suite: &TestReturns, reference: &str) -> String {
    let order_id = suite.delivered_order(reference, 1).await;
    let mut client = suite.client();
    let rma = request_ok(
        &mut client,
        reference,
        refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]),
    )
    .await;
    client
        .approve_return(ApproveReturnRequest {
            return_id: rma.return_id.clone(),
            receiving_location_id: String::new(),
            note: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    rma.return_id
}

fn label(
    return_id: &str,
    shipment_id: &str,
    carrier: &str,
    price: i64,
) -> RecordReturnLabelRequest {
    RecordReturnLabelRequest {
        return_id: return_id.into(),
        label: Some(ReturnLabel {
            shipment_id: shipment_id.into(),
            carrier: carrier.into(),
            tracking_number: "SIM-R-1".into(),
            price: eur(price),
        }),
        actor: Some(saga_actor()),
    }
}

#[tokio::test]
async fn a_nul_in_a_string_field_is_invalid_argument_naming_it() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-nul", 1).await;
    let mut client = suite.client();
    let mut request = refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]);
    request.comment = "too small\0".into();
    request.actor.as_mut().unwrap().id = "c\0".into();
    let status = client
        .request_return(keyed("r-nul", request))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["comment", "actor.id"]);

    let id = approved(&suite, "web-nul-2").await;
    let status = client
        .record_return_label(label(&id, &minted("ship-1"), "sim\0", 495))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["label.carrier"]);
    suite.stop().await;
}

#[tokio::test]
async fn numbers_and_amounts_at_their_limits_are_refused_or_served() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-max", 1).await;
    let mut client = suite.client();
    for quantity in [i32::MIN, -1, 0, 100_001, i32::MAX] {
        let status = client
            .request_return(keyed(
                &format!("r-{quantity}"),
                refund_request(
                    &order_id,
                    vec![line("TEE-M", quantity, ReturnReason::Other)],
                ),
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["lines[0].quantity"], "{quantity}");
    }
    // Two replacement units at i64::MAX cost more than 64 bits hold.
    let mut exchange = refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]);
    exchange.resolution = ReturnResolution::Exchange as i32;
    exchange.replacement_lines = vec![LineItem {
        sku: "TEE-L".into(),
        quantity: 2,
        unit_price: eur(i64::MAX),
    }];
    let status = client
        .request_return(keyed("r-overflow", exchange.clone()))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["replacement_lines"]);
    exchange.replacement_lines[0].unit_price = eur(i64::MIN);
    let status = client
        .request_return(keyed("r-negative", exchange))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["replacement_lines[0].unit_price"]);

    for value in [i32::MIN, i32::MAX] {
        let mut extreme = policy(value, true);
        extreme.return_window_days = value;
        let status = client
            .put_return_policy(PutReturnPolicyRequest {
                policy: Some(extreme),
                actor: Some(operator()),
            })
            .await
            .unwrap_err();
        assert_eq!(
            bad_fields(&status),
            ["policy.return_window_days", "policy.restocking_fee_bps"]
        );
    }

    // A label at i64::MAX: the refund goes to zero, it does not overflow.
    let id = approved(&suite, "web-max-2").await;
    client
        .record_return_label(label(&id, &minted("ship-1"), "simulator", i64::MAX))
        .await
        .unwrap();
    let rma = client
        .get_return(GetReturnRequest {
            return_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert!(rma.refund.is_some());
    for seconds in [i64::MIN, i64::MAX, 253_402_300_800] {
        let status = client
            .mark_return_in_transit(MarkReturnInTransitRequest {
                return_id: id.clone(),
                shipment_id: minted("ship-1"),
                event_time: Some(Timestamp { seconds, nanos: 0 }),
                actor: Some(saga_actor()),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["event_time"], "{seconds}");
    }
    let status = client
        .record_refund(RecordRefundRequest {
            return_id: id,
            payment_id: minted("pay-1"),
            transaction_id: minted("txn-1"),
            amount: eur(i64::MIN),
            actor: Some(saga_actor()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["amount", "payment_id", "transaction_id"]
    );
    for page_size in [i32::MIN, -1, 501, i32::MAX] {
        let status = client
            .list_returns(ListReturnsRequest {
                page: Some(PageRequest {
                    page_size,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["page.page_size"]);
    }
    suite.stop().await;
}

#[tokio::test]
async fn an_id_the_oms_never_minted_is_refused_naming_it() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let status = client
        .request_return(keyed(
            "r-id",
            refund_request("order-1", vec![line("TEE-M", 1, ReturnReason::Other)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["order_id"]);

    let id = approved(&suite, "web-ids").await;
    let status = client
        .get_return(GetReturnRequest {
            return_id: id.to_uppercase(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["return_id"]);
    let status = client
        .record_return_label(label(&id, "ship-1", "simulator", 495))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["label.shipment_id"]);
    let status = client
        .record_exchange(RecordExchangeRequest {
            return_id: id.clone(),
            replacement_order_id: "order-9".into(),
            price_difference: eur(0),
            payment_id: "pay-1".into(),
            transaction_id: minted("txn-1"),
            actor: Some(saga_actor()),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["replacement_order_id", "payment_id"]);
    suite.stop().await;
}

/// What the return saga carries between services: the carrier code shipping
/// takes (up to 128 characters) into RecordReturnLabel, and the replacement
/// lines into PlaceOrder (at most 200, each SKU once).
#[tokio::test]
async fn what_the_saga_carries_fits_both_sides_of_each_call() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let id = approved(&suite, "web-pairs").await;
    client
        .record_return_label(label(&id, &minted("ship-1"), &"c".repeat(128), 495))
        .await
        .unwrap();

    let order_id = suite.delivered_order("web-pairs-2", 1).await;
    let replacement = |sku: String| LineItem {
        sku,
        quantity: 1,
        unit_price: eur(100),
    };
    let mut exchange = refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]);
    exchange.resolution = ReturnResolution::Exchange as i32;
    exchange.replacement_lines = (0..201).map(|n| replacement(format!("SKU-{n}"))).collect();
    let status = client
        .request_return(keyed("r-201", exchange.clone()))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["replacement_lines"]);
    exchange.replacement_lines = vec![replacement("TEE-L".into()), replacement("TEE-L".into())];
    let status = client
        .request_return(keyed("r-twice", exchange.clone()))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["replacement_lines[1].sku"]);
    exchange.replacement_lines = (0..200).map(|n| replacement(format!("SKU-{n}"))).collect();
    request_ok(&mut client, "r-200", exchange).await;
    suite.stop().await;
}
