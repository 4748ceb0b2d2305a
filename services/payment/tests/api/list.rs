//! ListPayments: filters by order, status and pending transactions, newest
//! first, in stable pages.

use oms_proto::{
    common::v1::PageRequest,
    payment::v1::{self as pb, ListPaymentsRequest},
};

use crate::helpers::*;

async fn list(client: &mut Client, request: ListPaymentsRequest) -> pb::ListPaymentsResponse {
    client.list_payments(request).await.unwrap().into_inner()
}

#[tokio::test]
async fn payments_are_filtered_and_paged_newest_first() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            authorized(&mut client, &format!("auth-{i}"), 100)
                .await
                .payment_id,
        );
    }
    let mut other_order = authorize_request(100, card("tok_visa"));
    other_order.order_id = id("ord-2");
    let other = client
        .authorize(keyed(other_order, "auth-other"))
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap();
    capture(&mut client, &ids[1], "cap-1", None).await.unwrap();
    let pending = client
        .authorize(keyed(
            authorize_request(100, card("tok_timeout")),
            "auth-pending",
        ))
        .await
        .unwrap_err();
    let pending_id = metadata(&pending, "payment_id");

    // Pages of two over ord-1's six payments, newest first.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(
            &mut client,
            ListPaymentsRequest {
                order_id: id("ord-1"),
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token.clone(),
                }),
                ..Default::default()
            },
        )
        .await;
        assert!(page.payments.len() <= 2);
        seen.extend(page.payments.into_iter().map(|p| p.payment_id));
        token = page.page.unwrap().next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let mut expected = ids.clone();
    expected.push(pending_id.clone());
    expected.reverse();
    assert_eq!(seen, expected);

    let captured = list(
        &mut client,
        ListPaymentsRequest {
            statuses: vec![pb::PaymentStatus::Captured as i32],
            ..Default::default()
        },
    )
    .await;
    let captured: Vec<_> = captured.payments.iter().map(|p| &p.payment_id).collect();
    assert_eq!(captured, [&ids[1]]);

    let pending_only = list(
        &mut client,
        ListPaymentsRequest {
            pending_only: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(pending_only.payments.len(), 1);
    assert_eq!(pending_only.payments[0].payment_id, pending_id);

    let by_order = list(
        &mut client,
        ListPaymentsRequest {
            order_id: id("ord-2"),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(by_order.payments, [other]);
    payments.stop().await;
}

#[tokio::test]
async fn a_bad_page_or_filter_is_invalid_argument() {
    let payments = TestPayments::start().await;
    let mut client = payments.client();
    for i in 0..3 {
        authorized(&mut client, &format!("auth-{i}"), 100).await;
    }
    let first = list(
        &mut client,
        ListPaymentsRequest {
            page: Some(PageRequest {
                page_size: 1,
                page_token: String::new(),
            }),
            ..Default::default()
        },
    )
    .await;
    let token = first.page.unwrap().next_page_token;
    assert!(!token.is_empty());

    let status = client
        .list_payments(ListPaymentsRequest {
            order_id: id("ord-1"),
            page: Some(PageRequest {
                page_size: 1,
                page_token: token,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page.page_token"]);
    let status = client
        .list_payments(ListPaymentsRequest {
            statuses: vec![42],
            page: Some(PageRequest {
                page_size: 501,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["statuses[0]", "page.page_size"]);
    payments.stop().await;
}
