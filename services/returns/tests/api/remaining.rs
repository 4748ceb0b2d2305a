//! What an order has left to return: later returns cannot take more than
//! remains, also when requested at the same moment; returns refused or closed
//! before their goods arrived give their units back.

use oms_proto::returns::v1::{
    ApproveReturnRequest, CloseReason, CloseReturnRequest, ReceiveReturnRequest,
    RejectReturnRequest, ReturnReason,
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_second_return_cannot_return_more_than_remains() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-two", 1).await;
    let mut client = suite.client();
    let first = request_ok(
        &mut client,
        "r-first",
        refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
    )
    .await;

    let status = client
        .request_return(keyed(
            "r-second",
            refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(metadata(&status, "rule"), "quantity");
    assert_eq!(metadata(&status, "returnable"), "1");
    client
        .request_return(keyed(
            "r-third",
            refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]),
        ))
        .await
        .unwrap();
    let status = client
        .request_return(keyed(
            "r-fourth",
            refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(metadata(&status, "returnable"), "0");

    // A rejected return and a withdrawn one no longer hold their units.
    client
        .reject_return(RejectReturnRequest {
            return_id: first.return_id.clone(),
            reason: "outside our terms".into(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let again = request_ok(
        &mut client,
        "r-fifth",
        refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
    )
    .await;
    client
        .close_return(CloseReturnRequest {
            return_id: again.return_id,
            close_reason: CloseReason::Withdrawn as i32,
            note: String::new(),
            actor: Some(customer_actor()),
        })
        .await
        .unwrap();
    client
        .request_return(keyed(
            "r-sixth",
            refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
        ))
        .await
        .unwrap();
    suite.stop().await;
}

#[tokio::test]
async fn concurrent_requests_never_return_more_units_than_were_delivered() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-race", 1).await;
    let client = suite.client();

    let mut calls = tokio::task::JoinSet::new();
    for n in 0..10 {
        let mut client = client.clone();
        let request = refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::Other)]);
        calls.spawn(async move {
            client
                .request_return(keyed(&format!("race-{n}"), request))
                .await
        });
    }
    let results = calls.join_all().await;

    let accepted = results.iter().filter(|result| result.is_ok()).count();
    assert_eq!(accepted, 3, "3 units were delivered");
    for refused in results.iter().filter_map(|result| result.as_ref().err()) {
        assert_eq!(reason(refused), "RETURN_NOT_ELIGIBLE", "{refused:?}");
    }
    suite.stop().await;
}

#[tokio::test]
async fn returns_closed_before_receipt_give_their_units_back_and_received_ones_keep_them() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-closed", 1).await;
    let mut client = suite.client();
    let request = |key: &str, units: i32| {
        keyed(
            key,
            refund_request(&order_id, vec![line("TEE-M", units, ReturnReason::Other)]),
        )
    };
    let close = |return_id: &str, reason: CloseReason| CloseReturnRequest {
        return_id: return_id.into(),
        close_reason: reason as i32,
        note: String::new(),
        actor: Some(saga_actor()),
    };
    let approve = |return_id: &str| ApproveReturnRequest {
        return_id: return_id.into(),
        actor: Some(operator()),
        ..Default::default()
    };

    // One unit expires after approval, another is cancelled before it.
    let expired = client.request_return(request("r-a", 1)).await.unwrap();
    let expired = expired.into_inner().rma.unwrap().return_id;
    client.approve_return(approve(&expired)).await.unwrap();
    client
        .close_return(close(&expired, CloseReason::Expired))
        .await
        .unwrap();
    let cancelled = client.request_return(request("r-b", 1)).await.unwrap();
    let cancelled = cancelled.into_inner().rma.unwrap().return_id;
    client
        .close_return(close(&cancelled, CloseReason::Cancelled))
        .await
        .unwrap();

    // All three units are returnable again; this return's parcel arrives empty.
    let all = client.request_return(request("r-c", 3)).await.unwrap();
    let all = all.into_inner().rma.unwrap().return_id;
    client.approve_return(approve(&all)).await.unwrap();
    client
        .receive_return(ReceiveReturnRequest {
            return_id: all.clone(),
            location_id: WAREHOUSE.into(),
            note: String::new(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    client
        .inspect_return(inspection(&all, vec![inspected("TEE-M", 0, 0, 3)]))
        .await
        .unwrap();
    client
        .close_return(close(&all, CloseReason::NothingToRefund))
        .await
        .unwrap();

    // Closed after receipt, its units stay returned.
    let status = client.request_return(request("r-d", 1)).await.unwrap_err();
    assert_eq!(metadata(&status, "rule"), "quantity");
    assert_eq!(metadata(&status, "returnable"), "0");
    suite.stop().await;
}
