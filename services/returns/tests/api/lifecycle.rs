//! The lifecycle: approval (and the saga start it queues), label, pickup,
//! receipt, inspection with restock, damaged and missing units, refund and
//! close; and the steps the table refuses.

use std::time::Duration;

use oms_proto::{
    common::v1::{Actor, ActorKind},
    returns::v1::{
        ApproveReturnRequest, CloseReason, CloseReturnRequest, GetReturnRequest,
        MarkReturnInTransitRequest, PutReturnPolicyRequest, ReceiveReturnRequest,
        RecordRefundRequest, RecordReturnLabelRequest, RejectReturnRequest, Return, ReturnLabel,
        ReturnReason, ReturnStatus,
    },
    saga::v1::SagaKind,
};
use oms_testkit::poll_until;
use tonic::Code;

use crate::helpers::*;

async fn requested(suite: &TestReturns, reference: &str) -> Return {
    let order_id = suite.delivered_order(reference, 2).await;
    suite
        .client()
        .request_return(keyed(
            reference,
            refund_request(
                &order_id,
                vec![
                    line("TEE-M", 3, ReturnReason::WrongSize),
                    line("CAP", 1, ReturnReason::NoLongerNeeded),
                ],
            ),
        ))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap()
}

fn approve(return_id: &str, location: &str) -> ApproveReturnRequest {
    ApproveReturnRequest {
        return_id: return_id.into(),
        receiving_location_id: location.into(),
        note: String::new(),
        actor: Some(operator()),
    }
}

fn receive(return_id: &str, location: &str) -> ReceiveReturnRequest {
    ReceiveReturnRequest {
        return_id: return_id.into(),
        location_id: location.into(),
        note: String::new(),
        actor: Some(operator()),
    }
}

fn close(return_id: &str, reason: CloseReason) -> CloseReturnRequest {
    CloseReturnRequest {
        return_id: return_id.into(),
        close_reason: reason as i32,
        note: String::new(),
        actor: Some(saga_actor()),
    }
}

fn refund(return_id: &str, transaction_id: &str, amount: i64) -> RecordRefundRequest {
    RecordRefundRequest {
        return_id: return_id.into(),
        payment_id: minted("pay-1"),
        transaction_id: minted(transaction_id),
        amount: eur(amount),
        actor: Some(saga_actor()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_return_runs_its_whole_life_and_the_refund_follows_the_inspection_and_the_policy() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    // 10 % restocking fee; the customer pays the return label.
    client
        .put_return_policy(PutReturnPolicyRequest {
            policy: Some(policy(1000, true)),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let rma = requested(&suite, "web-life").await;
    let id = rma.return_id.clone();
    let (coordinator, coordinator_stop) = suite.start_coordinator().await;

    // Approval without a location sends the goods back where they shipped from.
    let approved = client.approve_return(approve(&id, "")).await.unwrap();
    let approved = approved.into_inner().rma.unwrap();
    assert_eq!(approved.status, ReturnStatus::Approved as i32);
    assert_eq!(approved.expected_location_id, WAREHOUSE);
    let again = client.approve_return(approve(&id, STORE)).await.unwrap();
    assert_eq!(again.into_inner().rma.unwrap(), approved);
    poll_until(
        "the return saga's start to arrive",
        Duration::from_secs(20),
        || async { (coordinator.calls(SagaKind::Return, &id) > 0).then_some(()) },
    )
    .await;

    let label = RecordReturnLabelRequest {
        return_id: id.clone(),
        label: Some(ReturnLabel {
            shipment_id: minted("ship-r1"),
            carrier: "simulator".into(),
            tracking_number: "SIM-R-1".into(),
            price: eur(495),
        }),
        actor: Some(saga_actor()),
    };
    client.record_return_label(label.clone()).await.unwrap();
    let other_label = RecordReturnLabelRequest {
        label: Some(ReturnLabel {
            shipment_id: minted("ship-r2"),
            ..label.label.clone().unwrap()
        }),
        ..label.clone()
    };
    let status = client.record_return_label(other_label).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "NATURAL_KEY_CONFLICT");

    let picked_up = chrono::Utc::now().timestamp() - 3600;
    let pickup = MarkReturnInTransitRequest {
        return_id: id.clone(),
        shipment_id: minted("ship-r1"),
        event_time: Some(prost_types::Timestamp {
            seconds: picked_up,
            nanos: 0,
        }),
        actor: Some(Actor {
            kind: ActorKind::Carrier as i32,
            id: "simulator".into(),
        }),
    };
    client.mark_return_in_transit(pickup.clone()).await.unwrap();
    client
        .receive_return(receive(&id, WAREHOUSE))
        .await
        .unwrap();
    // A late pickup scan changes nothing.
    let late = client.mark_return_in_transit(pickup).await.unwrap();
    assert_eq!(
        late.into_inner().rma.unwrap().status,
        ReturnStatus::Received as i32
    );

    let inspected = client
        .inspect_return(inspection(
            &id,
            vec![inspected("TEE-M", 1, 1, 1), inspected("CAP", 1, 0, 0)],
        ))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert_eq!(inspected.status, ReturnStatus::Inspected as i32);
    let breakdown = inspected.refund.clone().unwrap();
    assert!(!breakdown.estimate);
    // TEE-M: 2 received × 19.99 = 39.98, fee 3.99 (10 %, floored); CAP: 15.00,
    // fee 1.50; the missing unit is not refunded; label 4.95 deducted.
    assert_eq!(breakdown.lines[0].quantity, 2);
    assert_eq!(breakdown.lines[0].amount, eur(3998));
    assert_eq!(breakdown.lines[0].restocking_fee, eur(399));
    assert_eq!(breakdown.lines[1].restocking_fee, eur(150));
    assert_eq!(breakdown.lines_total, eur(5498));
    assert_eq!(breakdown.restocking_fee, eur(549));
    assert_eq!(breakdown.return_shipping_fee, eur(495));
    assert_eq!(breakdown.total, eur(4454));
    let restock: Vec<(&str, i32, &str)> = inspected
        .restock
        .iter()
        .map(|item| (item.sku.as_str(), item.quantity, item.location_id.as_str()))
        .collect();
    assert_eq!(
        restock,
        vec![("TEE-M", 1, WAREHOUSE), ("CAP", 1, WAREHOUSE)]
    );

    let status = client
        .record_refund(refund(&id, "txn-1", 5498))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["amount"]);
    client
        .record_refund(refund(&id, "txn-1", 4454))
        .await
        .unwrap();
    client
        .record_refund(refund(&id, "txn-1", 4454))
        .await
        .unwrap();
    let status = client
        .record_refund(refund(&id, "txn-2", 4454))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let closed = client
        .close_return(close(&id, CloseReason::Completed))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();

    assert_eq!(closed.close_reason, CloseReason::Completed as i32);
    assert_eq!(closed.refund_transaction_id, minted("txn-1"));
    let timeline: Vec<i32> = closed.timeline.iter().map(|event| event.status).collect();
    use ReturnStatus::*;
    assert_eq!(
        timeline,
        [
            Requested,
            Approved,
            LabelIssued,
            InTransit,
            Received,
            Inspected,
            Refunded,
            Closed
        ]
        .map(|status| status as i32)
    );
    // The pickup is on the timeline at the carrier's time.
    assert_eq!(closed.timeline[3].time.as_ref().unwrap().seconds, picked_up);
    let stored = client
        .get_return(GetReturnRequest {
            return_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert_eq!(stored, closed);
    assert_eq!(coordinator.calls(SagaKind::Return, &id), 1);
    coordinator_stop.cancel();
    suite.stop().await;
}

#[tokio::test]
async fn steps_out_of_order_are_refused_with_the_states_involved() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let rma = requested(&suite, "web-order").await;
    let id = rma.return_id.clone();

    let status = client
        .receive_return(receive(&id, WAREHOUSE))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&status, "from_state"), "REQUESTED");
    assert_eq!(metadata(&status, "to_state"), "RECEIVED");

    let status = client
        .inspect_return(inspection(&id, vec![inspected("TEE-M", 3, 0, 0)]))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "to_state"), "INSPECTED");
    let status = client
        .record_refund(refund(&id, "txn-1", 1))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "to_state"), "REFUNDED");
    let status = client
        .close_return(close(&id, CloseReason::Expired))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "close_reason"), "EXPIRED");

    let status = client
        .approve_return(approve(&id, "no-such-store"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let reject = RejectReturnRequest {
        return_id: id.clone(),
        reason: "worn".into(),
        actor: Some(operator()),
    };
    let rejected = client.reject_return(reject.clone()).await.unwrap();
    let rejected = rejected.into_inner().rma.unwrap();
    assert_eq!(rejected.rejection_reason, "worn");
    assert_eq!(
        client.reject_return(reject).await.unwrap().into_inner().rma,
        Some(rejected.clone())
    );
    // Closing a rejected return is harmless and changes nothing.
    let closed = client
        .close_return(close(&id, CloseReason::Cancelled))
        .await
        .unwrap();
    assert_eq!(closed.into_inner().rma, Some(rejected));
    let status = client.approve_return(approve(&id, "")).await.unwrap_err();
    assert_eq!(metadata(&status, "from_state"), "REJECTED");

    let status = client
        .get_return(GetReturnRequest {
            return_id: "0190f000-0000-7000-8000-000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    suite.stop().await;
}

#[tokio::test]
async fn an_inspection_must_split_each_line_exactly_and_nothing_received_closes_without_refund() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let rma = requested(&suite, "web-missing").await;
    let id = rma.return_id.clone();
    client.approve_return(approve(&id, STORE)).await.unwrap();
    // Dropped off at the store, without a label.
    client.receive_return(receive(&id, STORE)).await.unwrap();
    let status = client
        .receive_return(receive(&id, WAREHOUSE))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");

    let status = client
        .inspect_return(inspection(
            &id,
            vec![inspected("TEE-M", 1, 1, 0), inspected("TEE-M", 0, 0, 1)],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        vec!["lines[0]", "lines[1].sku", "lines"]
    );
    let status = client
        .inspect_return(inspection(
            &id,
            vec![inspected("TEE-M", -1, 0, 4), inspected("CAP", 0, 0, 1)],
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["lines[0].restock_quantity"]);

    let empty_parcel = vec![inspected("TEE-M", 0, 0, 3), inspected("CAP", 0, 0, 1)];
    let inspected_rma = client
        .inspect_return(inspection(&id, empty_parcel.clone()))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert_eq!(inspected_rma.refund.unwrap().total, eur(0));
    assert!(inspected_rma.restock.is_empty());
    // The same inspection again is a no-op; another one is refused.
    client
        .inspect_return(inspection(&id, empty_parcel))
        .await
        .unwrap();
    let status = client
        .inspect_return(inspection(
            &id,
            vec![inspected("TEE-M", 3, 0, 0), inspected("CAP", 0, 0, 1)],
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");

    // Nothing to refund: no refund to record (a zero amount names no payment).
    let status = client
        .record_refund(RecordRefundRequest {
            payment_id: String::new(),
            transaction_id: String::new(),
            ..refund(&id, "txn-1", 0)
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "ILLEGAL_STATE_TRANSITION");
    let closed = client
        .close_return(close(&id, CloseReason::NothingToRefund))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert_eq!(closed.status, ReturnStatus::Closed as i32);
    assert_eq!(closed.receiving_location_id, STORE);
    suite.stop().await;
}

#[tokio::test]
async fn a_merchant_fault_waives_its_own_restocking_fee_and_the_return_shipping() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    client
        .put_return_policy(PutReturnPolicyRequest {
            policy: Some(policy(1000, true)),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let order_id = suite.delivered_order("web-fault", 2).await;
    let rma = request_ok(
        &mut client,
        "r-fault",
        refund_request(
            &order_id,
            vec![
                line("TEE-M", 1, ReturnReason::WrongSize),
                line("CAP", 1, ReturnReason::Defective),
            ],
        ),
    )
    .await;
    let id = rma.return_id;
    client.approve_return(approve(&id, "")).await.unwrap();
    client
        .record_return_label(RecordReturnLabelRequest {
            return_id: id.clone(),
            label: Some(ReturnLabel {
                shipment_id: minted("ship-f1"),
                carrier: "simulator".into(),
                tracking_number: "SIM-F-1".into(),
                price: eur(495),
            }),
            actor: Some(saga_actor()),
        })
        .await
        .unwrap();
    client
        .receive_return(receive(&id, WAREHOUSE))
        .await
        .unwrap();
    let refund = client
        .inspect_return(inspection(
            &id,
            vec![inspected("TEE-M", 1, 0, 0), inspected("CAP", 0, 1, 0)],
        ))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap()
        .refund
        .unwrap();

    // The T-shirt pays its 10 % (1.99); the defective cap pays nothing, and
    // neither does the customer's label.
    assert_eq!(refund.lines[0].restocking_fee, eur(199));
    assert_eq!(refund.lines[1].restocking_fee, eur(0));
    assert_eq!(refund.return_shipping_fee, eur(0));
    assert_eq!(refund.total, eur(1999 + 1500 - 199));
    suite.stop().await;
}
