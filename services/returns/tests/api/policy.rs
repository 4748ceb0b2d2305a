//! Return policies: the default, storing one, bad values, auto-approval, and a
//! return keeping the policy it was requested under.

use std::time::Duration;

use oms_proto::{
    common::v1::{Channel, ChannelKind},
    returns::v1::{
        GetReturnPolicyRequest, GetReturnRequest, PutReturnPolicyRequest, ReturnPolicy,
        ReturnReason, ReturnStatus,
    },
    saga::v1::SagaKind,
};
use oms_testkit::poll_until;
use tonic::Code;

use crate::helpers::*;

async fn put(client: &mut Client, policy: ReturnPolicy) -> Result<ReturnPolicy, tonic::Status> {
    Ok(client
        .put_return_policy(PutReturnPolicyRequest {
            policy: Some(policy),
            actor: Some(operator()),
        })
        .await?
        .into_inner()
        .policy
        .unwrap())
}

#[tokio::test]
async fn a_channel_without_a_policy_gets_the_default_until_one_is_stored() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    let get = GetReturnPolicyRequest {
        channel: Some(web()),
    };

    let default = client
        .get_return_policy(get.clone())
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert!(default.is_default);
    assert_eq!(
        (
            default.return_window_days,
            default.restocking_fee_bps,
            default.return_shipping_payer,
            default.auto_approve
        ),
        (30, 0, 1, false)
    );

    let stored = put(
        &mut client,
        ReturnPolicy {
            final_sale_skus: vec!["CAP".into(), "CAP".into()],
            return_location_id: STORE.into(),
            ..policy(1250, true)
        },
    )
    .await
    .unwrap();
    assert!(!stored.is_default);
    assert_eq!(stored.final_sale_skus, vec!["CAP"]);
    assert_eq!(stored.updated_by, Some(operator()));
    let read = client.get_return_policy(get).await.unwrap().into_inner();
    assert_eq!(read.policy, Some(stored));
    suite.stop().await;
}

#[tokio::test]
async fn bad_policies_name_every_bad_field_and_an_unknown_location_is_not_found() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();

    let status = put(
        &mut client,
        ReturnPolicy {
            channel: Some(Channel {
                kind: ChannelKind::Marketplace as i32,
                name: String::new(),
            }),
            return_window_days: 0,
            restocking_fee_bps: 10_001,
            return_shipping_payer: 0,
            final_sale_skus: vec!["no spaces".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        vec![
            "policy.channel",
            "policy.return_window_days",
            "policy.restocking_fee_bps",
            "policy.return_shipping_payer",
            "policy.final_sale_skus[0]",
        ]
    );

    let status = put(
        &mut client,
        ReturnPolicy {
            return_location_id: "wh-nowhere".into(),
            ..policy(0, false)
        },
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    let status = client
        .get_return_policy(GetReturnPolicyRequest { channel: None })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), vec!["channel"]);
    suite.stop().await;
}

#[tokio::test]
async fn auto_approval_approves_at_once_and_starts_the_return_saga() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    put(
        &mut client,
        ReturnPolicy {
            auto_approve: true,
            return_location_id: STORE.into(),
            ..policy(0, false)
        },
    )
    .await
    .unwrap();
    let order_id = suite.delivered_order("web-auto", 1).await;

    let rma = request_ok(
        &mut client,
        "r-auto",
        refund_request(&order_id, vec![line("CAP", 1, ReturnReason::Defective)]),
    )
    .await;
    assert_eq!(rma.status, ReturnStatus::Approved as i32);
    assert_eq!(rma.expected_location_id, STORE);
    assert_eq!(rma.timeline[1].actor.as_ref().unwrap().id, "oms-returns");

    // The coordinator comes up after the approval: the start waits for it.
    let (coordinator, coordinator_stop) = suite.start_coordinator().await;
    poll_until(
        "the return saga's start to arrive",
        Duration::from_secs(20),
        || async { (coordinator.calls(SagaKind::Return, &rma.return_id) > 0).then_some(()) },
    )
    .await;
    assert_eq!(coordinator.calls(SagaKind::Return, &rma.return_id), 1);
    coordinator_stop.cancel();
    suite.stop().await;
}

#[tokio::test]
async fn a_return_keeps_the_policy_it_was_requested_under() {
    let suite = TestReturns::start().await;
    let mut client = suite.client();
    put(&mut client, policy(1000, false)).await.unwrap();
    let order_id = suite.delivered_order("web-keep", 1).await;
    let rma = request_ok(
        &mut client,
        "r-keep",
        refund_request(&order_id, vec![line("TEE-M", 1, ReturnReason::WrongSize)]),
    )
    .await;

    put(&mut client, policy(5000, true)).await.unwrap();
    let stored = client
        .get_return(GetReturnRequest {
            return_id: rma.return_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();

    let kept = stored.policy.unwrap();
    assert_eq!(kept.restocking_fee_bps, 1000);
    assert_eq!(stored.refund.unwrap().restocking_fee, eur(199));
    suite.stop().await;
}
