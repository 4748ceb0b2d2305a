//! The customer's comment (free text, may hold personal data) and the order's
//! personal data never reach the logs, whatever the service does with a return.

use oms_proto::returns::v1::{ApproveReturnRequest, GetReturnRequest, ReturnReason};
use oms_testkit::logs::CapturedLogs;

use crate::helpers::*;

#[tokio::test(flavor = "current_thread")]
async fn a_returns_life_logs_no_comment_and_no_personal_data() {
    // Captures every event of this test's runtime, where the services run.
    let captured = CapturedLogs::start();
    let suite = TestReturns::start().await;
    let order_id = suite.delivered_order("web-private", 1).await;
    let mut client = suite.client();
    let mut request = refund_request(&order_id, vec![line("CAP", 1, ReturnReason::Other)]);
    request.comment = "Please collect from Ada at Flat 3, call 0151 2345678".into();
    let rma = request_ok(&mut client, "r-private", request).await;
    client
        .approve_return(ApproveReturnRequest {
            return_id: rma.return_id.clone(),
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap();
    let stored = client
        .get_return(GetReturnRequest {
            return_id: rma.return_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    assert!(stored.comment.contains("Flat 3"));
    suite.stop().await;

    let logs = captured.text();
    // The logs did capture the service's work.
    assert!(logs.contains("return requested"), "{logs}");
    for personal in [
        "Flat 3",
        "2345678",
        "Ada",
        "Lovelace",
        "Unter den Linden",
        "ada@example.com",
    ] {
        assert!(!captured.mentions(personal), "{personal} logged");
    }
}
