//! The steps the saga and the carrier report, refused where the contract
//! refuses them: a pickup of the wrong parcel or before any label, a label in
//! another currency, a refund recorded twice at once, and closing with
//! nothing to refund while there is money to give back.

use oms_proto::{
    common::v1::{Actor, ActorKind, Money},
    returns::v1::{
        ApproveReturnRequest, CloseReason, CloseReturnRequest, MarkReturnInTransitRequest,
        ReceiveReturnRequest, RecordRefundRequest, RecordReturnLabelRequest, Return, ReturnLabel,
        ReturnReason, ReturnStatus,
    },
};
use tonic::Code;

use crate::helpers::*;

/// A return of one cap, approved to the warehouse.
async fn approved(suite: &TestReturns, reference: &str) -> Return {
    let order_id = suite.delivered_order(reference, 1).await;
    let mut client = suite.client();
    let rma = request_ok(
        &mut client,
        reference,
        refund_request(&order_id, vec![line("CAP", 1, ReturnReason::WrongSize)]),
    )
    .await;
    client
        .approve_return(ApproveReturnRequest {
            return_id: rma.return_id,
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap()
}

fn label(return_id: &str, currency: &str) -> RecordReturnLabelRequest {
    RecordReturnLabelRequest {
        return_id: return_id.into(),
        label: Some(ReturnLabel {
            shipment_id: minted("ship-r1"),
            carrier: "simulator".into(),
            tracking_number: "SIM-R-1".into(),
            price: Some(Money {
                currency_code: currency.into(),
                amount_minor: 495,
            }),
        }),
        actor: Some(saga_actor()),
    }
}

fn pickup(return_id: &str, shipment_id: &str, seconds: i64) -> MarkReturnInTransitRequest {
    MarkReturnInTransitRequest {
        return_id: return_id.into(),
        shipment_id: minted(shipment_id),
        event_time: Some(prost_types::Timestamp { seconds, nanos: 0 }),
        actor: Some(Actor {
            kind: ActorKind::Carrier as i32,
            id: "simulator".into(),
        }),
    }
}

fn close(return_id: &str, reason: CloseReason) -> CloseReturnRequest {
    CloseReturnRequest {
        return_id: return_id.into(),
        close_reason: reason as i32,
        note: String::new(),
        actor: Some(operator()),
    }
}

#[tokio::test]
async fn a_pickup_counts_only_for_the_returns_own_label() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let rma = approved(&suite, "web-pickup").await;
    let id = rma.return_id.as_str();
    let now = chrono::Utc::now().timestamp();

    // No label yet: nothing can have been picked up.
    let status = client
        .mark_return_in_transit(pickup(id, "ship-r1", now))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&status, "from_state"), "APPROVED");

    let status = client
        .record_return_label(label(id, "USD"))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "CURRENCY_MISMATCH");
    assert_eq!(metadata(&status, "expected"), "EUR");
    client.record_return_label(label(id, "EUR")).await.unwrap();

    let status = client
        .mark_return_in_transit(pickup(id, "ship-other", now))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "from_state"), "LABEL_ISSUED");
    let status = client
        .mark_return_in_transit(pickup(id, "ship-r1", 300_000_000_000))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["event_time"]);

    // Closed before the parcel left: a late pickup is refused.
    client
        .close_return(close(id, CloseReason::Expired))
        .await
        .unwrap();
    let status = client
        .mark_return_in_transit(pickup(id, "ship-r1", now))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "from_state"), "CLOSED");
    suite.stop().await;
}

#[tokio::test]
async fn of_refunds_recorded_at_once_for_one_return_exactly_one_wins() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let rma = approved(&suite, "web-refund-race").await;
    let id = rma.return_id.clone();
    client
        .receive_return(ReceiveReturnRequest {
            return_id: id.clone(),
            location_id: WAREHOUSE.into(),
            note: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let inspected_rma = client
        .inspect_return(inspection(&id, vec![inspected("CAP", 1, 0, 0)]))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert_eq!(inspected_rma.refund.unwrap().total, eur(1500));
    let status = client
        .close_return(close(&id, CloseReason::NothingToRefund))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "close_reason"), "NOTHING_TO_REFUND");

    let mut calls = tokio::task::JoinSet::new();
    for n in 0..10 {
        let mut client = client.clone();
        let request = RecordRefundRequest {
            return_id: id.clone(),
            payment_id: minted("pay-1"),
            transaction_id: minted(&format!("txn-{n}")),
            amount: eur(1500),
            actor: Some(saga_actor()),
            ..Default::default()
        };
        calls.spawn(async move { client.record_refund(request).await });
    }
    let results = calls.join_all().await;

    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1);
    for lost in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(lost.code(), Code::AlreadyExists, "{lost:?}");
    }
    let refunded = won[0].get_ref().rma.clone().unwrap();
    assert_eq!(refunded.status, ReturnStatus::Refunded as i32);
    let refunds = refunded
        .timeline
        .iter()
        .filter(|event| event.status == ReturnStatus::Refunded as i32)
        .count();
    assert_eq!(refunds, 1);
    suite.stop().await;
}
