//! ListReturns: newest first, filtered by order, status and channel, paged.

use oms_proto::{
    common::v1::PageRequest,
    returns::v1::{ListReturnsRequest, RejectReturnRequest, ReturnReason, ReturnStatus},
};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn returns_are_listed_newest_first_by_filter_one_page_at_a_time() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let first_order = suite.delivered_order("web-l1", 1).await;
    let second_order = suite.delivered_order("web-l2", 1).await;
    let mut ids = Vec::new();
    for (n, (order_id, sku)) in [
        (&first_order, "TEE-M"),
        (&first_order, "CAP"),
        (&second_order, "TEE-M"),
        (&second_order, "CAP"),
    ]
    .into_iter()
    .enumerate()
    {
        let rma = request_ok(
            &mut client,
            &format!("r-list-{n}"),
            refund_request(order_id, vec![line(sku, 1, ReturnReason::Other)]),
        )
        .await;
        ids.push(rma.return_id);
    }
    client
        .reject_return(RejectReturnRequest {
            return_id: ids[1].clone(),
            reason: "worn".into(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let list = |request: ListReturnsRequest| {
        let mut client = client.clone();
        async move {
            let response = client.list_returns(request).await?.into_inner();
            let ids: Vec<String> = response.returns.into_iter().map(|r| r.return_id).collect();
            Ok::<_, tonic::Status>((ids, response.page.unwrap().next_page_token))
        }
    };

    let (all, _) = list(ListReturnsRequest::default()).await.unwrap();
    assert_eq!(all, ids.iter().rev().cloned().collect::<Vec<_>>());
    let (by_order, _) = list(ListReturnsRequest {
        order_id: first_order.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(by_order, vec![ids[1].clone(), ids[0].clone()]);
    let (rejected, _) = list(ListReturnsRequest {
        statuses: vec![ReturnStatus::Rejected as i32],
        channel: Some(web()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(rejected, vec![ids[1].clone()]);

    let paged = |token: String| ListReturnsRequest {
        statuses: vec![ReturnStatus::Requested as i32],
        page: Some(PageRequest {
            page_size: 2,
            page_token: token,
        }),
        ..Default::default()
    };
    let (page_one, token) = list(paged(String::new())).await.unwrap();
    let (page_two, last) = list(paged(token.clone())).await.unwrap();
    assert_eq!(page_one, vec![ids[3].clone(), ids[2].clone()]);
    assert_eq!(page_two, vec![ids[0].clone()]);
    assert_eq!(last, "");

    let status = list(ListReturnsRequest {
        page: Some(PageRequest {
            page_size: 2,
            page_token: token,
        }),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["page.page_token"]);
    suite.stop().await;
}
