//! What an order has left to return: later returns cannot take more than
//! remains, also when requested at the same moment; refused and withdrawn
//! returns give their units back.

use oms_proto::returns::v1::{CloseReason, CloseReturnRequest, RejectReturnRequest, ReturnReason};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_second_return_cannot_return_more_than_remains() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-two", 1).await;
    let mut client = suite.client();
    let first = client
        .request_return(keyed(
            "r-first",
            refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
        ))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();

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
    let again = client
        .request_return(keyed(
            "r-fifth",
            refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
        ))
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
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
