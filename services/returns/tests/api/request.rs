//! RequestReturn: eligibility against the real order service, bad input, and
//! idempotent retries.

use chrono::Utc;
use oms_proto::returns::v1::{PutReturnPolicyRequest, ReturnPolicy, ReturnReason, ReturnStatus};
use tonic::Code;

use crate::helpers::*;

#[tokio::test]
async fn a_delivered_line_within_the_window_is_accepted_with_an_estimated_refund() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-ok", 3).await;
    let mut client = suite.client();

    let rma = request_ok(
        &mut client,
        "r-ok",
        refund_request(&order_id, vec![line("TEE-M", 2, ReturnReason::WrongSize)]),
    )
    .await;

    assert_eq!(rma.status, ReturnStatus::Requested as i32);
    assert_eq!(rma.order_id, order_id);
    assert_eq!(rma.lines[0].unit_price, eur(1999));
    let refund = rma.refund.unwrap();
    assert!(refund.estimate);
    assert_eq!(refund.total, eur(3998));
    assert_eq!(rma.timeline.len(), 1);
    assert_eq!(rma.timeline[0].actor, Some(customer_actor()));
    let policy = rma.policy.unwrap();
    assert!(policy.is_default);
    assert_eq!(policy.return_window_days, 30);
    suite.stop().await;
}

#[tokio::test]
async fn each_eligibility_rule_refuses_with_its_reason() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    client
        .put_return_policy(PutReturnPolicyRequest {
            policy: Some(ReturnPolicy {
                final_sale_skus: vec!["CAP".into()],
                ..policy(0, false)
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let old = suite.delivered_order("web-old", 31).await;
    let recent = suite.delivered_order("web-recent", 1).await;
    // TEE-M delivered, CAP still on its way.
    let partial = suite
        .order(
            "web-partial",
            &[("s1", &["TEE-M"], Some(Utc::now())), ("s2", &["CAP"], None)],
        )
        .await;

    let cases = [
        (&old, "TEE-M", 1, "window"),
        (&recent, "TEE-M", 4, "quantity"),
        (&recent, "CAP", 1, "final_sale"),
        (&partial, "CAP", 1, "not_delivered"),
    ];
    for (n, (order_id, sku, quantity, rule)) in cases.into_iter().enumerate() {
        let status = client
            .request_return(keyed(
                &format!("r-{n}"),
                refund_request(order_id, vec![line(sku, quantity, ReturnReason::Other)]),
            ))
            .await
            .unwrap_err();
        assert_eq!(
            status.code(),
            Code::FailedPrecondition,
            "{rule}: {status:?}"
        );
        assert_eq!(reason(&status), "RETURN_NOT_ELIGIBLE", "{rule}");
        assert_eq!(metadata(&status, "rule"), rule);
        assert_eq!(metadata(&status, "sku"), sku);
        match rule {
            "window" => {
                assert_eq!(metadata(&status, "window_days"), "30");
                let delivered = metadata(&status, "delivery_time");
                let delivered = chrono::DateTime::parse_from_rfc3339(&delivered).unwrap();
                let age = Utc::now() - delivered.with_timezone(&Utc);
                assert_eq!(age.num_days(), 31, "{delivered}");
            }
            "quantity" => {
                assert_eq!(metadata(&status, "requested"), "4");
                assert_eq!(metadata(&status, "returnable"), "3");
            }
            _ => {}
        }
    }
    // The delivered line of the partial order may come back.
    client
        .request_return(keyed(
            "r-partial-tee",
            refund_request(&partial, vec![line("TEE-M", 3, ReturnReason::Other)]),
        ))
        .await
        .unwrap();
    suite.stop().await;
}

#[tokio::test]
async fn bad_input_names_the_field_and_an_unknown_order_is_not_found() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-bad", 1).await;
    let mut client = suite.client();

    let mut zero_and_foreign = refund_request(
        &order_id,
        vec![
            line("TEE-M", 0, ReturnReason::Other),
            line("TEE-M", 1, ReturnReason::Unspecified),
        ],
    );
    zero_and_foreign.comment = "x".repeat(1001);
    let status = client
        .request_return(keyed("r-bad-1", zero_and_foreign.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        vec![
            "lines[0].quantity",
            "lines[1].sku",
            "lines[1].reason",
            "comment"
        ]
    );
    // A card number is refused before anything else is looked at.
    zero_and_foreign.comment = "card 4111 1111 1111 1111".into();
    let status = client
        .request_return(keyed("r-bad-1", zero_and_foreign))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["comment"]);
    assert!(!status.message().contains("4111"));

    let status = client
        .request_return(keyed(
            "r-bad-2",
            refund_request(&order_id, vec![line("MUG", 1, ReturnReason::Other)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["lines[0].sku"]);

    let status = client
        .request_return(keyed(
            "r-bad-3",
            refund_request(
                "0190f000-0000-7000-8000-000000000000",
                vec![line("TEE-M", 1, ReturnReason::Other)],
            ),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let status = client
        .request_return(refund_request(
            &order_id,
            vec![line("TEE-M", 1, ReturnReason::Other)],
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), vec!["idempotency-key"]);
    suite.stop().await;
}

#[tokio::test]
async fn a_retry_returns_the_same_return_even_with_the_order_service_down() {
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-retry", 1).await;
    let mut client = suite.client();
    let request = refund_request(&order_id, vec![line("CAP", 1, ReturnReason::Defective)]);

    let first = client
        .request_return(keyed("r-retry", request.clone()))
        .await
        .unwrap()
        .into_inner();
    let TestReturns {
        returns,
        order,
        inventory,
        ..
    } = suite;
    order.stop().await;

    let retry = client
        .request_return(keyed("r-retry", request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first);

    let mut other = request;
    other.comment = "changed my mind".into();
    let status = client
        .request_return(keyed("r-retry", other))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "IDEMPOTENCY_KEY_REUSED");

    // A new request needs the order: UNAVAILABLE while it is down.
    let status = client
        .request_return(keyed(
            "r-new",
            refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::Other)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    returns.stop().await;
    inventory.stop().await;
}
