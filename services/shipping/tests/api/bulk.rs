//! CreateShipments: a bulk label run reports one outcome per request; with
//! carrier faults on, failures are reported per shipment and a retry of the
//! batch creates only the missing ones.

use oms_proto::shipping::v1::{
    CreateShipmentRequest, CreateShipmentsRequest, create_shipment_outcome::Result as Outcome,
};
use oms_shipping::carrier::{Fault, FaultKind, SimulatorConfig};
use tonic::Code;

use crate::helpers::{TestShipping, bad_fields, shipment};
use oms_testkit::minted_id;

fn batch(count: usize) -> CreateShipmentsRequest {
    CreateShipmentsRequest {
        requests: (0..count)
            .map(|i| shipment(&minted_id(&format!("bulk-{i:03}"))))
            .collect(),
    }
}

fn shipment_ids(
    outcomes: &[oms_proto::shipping::v1::CreateShipmentOutcome],
) -> Vec<Option<String>> {
    outcomes
        .iter()
        .map(|outcome| match &outcome.result {
            Some(Outcome::Shipment(shipment)) => Some(shipment.shipment_id.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_bulk_run_of_200_labels_reports_200_outcomes_and_one_printable_file() {
    let app = TestShipping::start().await;
    let response = app
        .client()
        .create_shipments(batch(200))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.outcomes.len(), 200);
    for (i, outcome) in response.outcomes.iter().enumerate() {
        assert_eq!(outcome.order_id, minted_id(&format!("bulk-{i:03}")));
        let Some(Outcome::Shipment(shipment)) = &outcome.result else {
            panic!("outcome {i} failed: {:?}", outcome.result);
        };
        // Documents come in the combined file, not per outcome.
        assert!(shipment.label.as_ref().unwrap().content.is_empty());
    }
    let combined = response.combined_labels.unwrap();
    let text = String::from_utf8_lossy(&combined.content);
    assert!(text.contains("/Count 200"));
    assert_eq!(app.labels_bought().await, 200);
    app.stop().await;
}

#[tokio::test]
async fn with_faults_on_failures_are_reported_per_shipment_and_a_retry_creates_no_duplicates() {
    let fault = Fault {
        kind: FaultKind::ServerError,
        rate: 0.3,
    };
    let app = TestShipping::start_with(SimulatorConfig {
        fault: Some(fault),
        seed: 11,
    })
    .await;
    let first = app
        .client()
        .create_shipments(batch(200))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcomes.len(), 200);
    let failed: Vec<_> = first
        .outcomes
        .iter()
        .filter_map(|outcome| match &outcome.result {
            Some(Outcome::Error(error)) => Some(error),
            _ => None,
        })
        .collect();
    assert!((20..120).contains(&failed.len()), "{} failed", failed.len());
    for error in &failed {
        assert_eq!(error.code, Code::Unavailable as i32);
        assert_eq!(
            error.reason,
            oms_proto::common::v1::ErrorReason::ProviderUnavailable as i32
        );
        assert_eq!(error.metadata["provider"], "simulator");
    }
    assert_eq!(app.labels_bought().await, 200 - failed.len());

    // A timeout fault, too, must not buy a second label on retry.
    app.carrier.set_fault(Some(Fault {
        kind: FaultKind::Timeout,
        rate: 0.5,
    }));
    let second = app
        .client()
        .create_shipments(batch(200))
        .await
        .unwrap()
        .into_inner();
    app.carrier.set_fault(None);
    let third = app
        .client()
        .create_shipments(batch(200))
        .await
        .unwrap()
        .into_inner();

    let first_ids = shipment_ids(&first.outcomes);
    let second_ids = shipment_ids(&second.outcomes);
    let third_ids = shipment_ids(&third.outcomes);
    for i in 0..200 {
        let id = third_ids[i]
            .as_ref()
            .unwrap_or_else(|| panic!("outcome {i} failed"));
        // Shipments created earlier come back unchanged.
        for earlier in [&first_ids[i], &second_ids[i]].into_iter().flatten() {
            assert_eq!(earlier, id, "outcome {i}");
        }
    }
    let distinct: std::collections::HashSet<_> = third_ids.iter().flatten().collect();
    assert_eq!(distinct.len(), 200);
    assert_eq!(app.labels_bought().await, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_item_is_reported_alone_and_a_bad_batch_is_refused_whole() {
    let app = TestShipping::start().await;
    let mut bad = shipment(&minted_id("bulk-bad"));
    bad.parcels[0].weight_grams = 0;
    let response = app
        .client()
        .create_shipments(CreateShipmentsRequest {
            requests: vec![shipment(&minted_id("bulk-good")), bad],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(matches!(
        response.outcomes[0].result,
        Some(Outcome::Shipment(_))
    ));
    let Some(Outcome::Error(error)) = &response.outcomes[1].result else {
        panic!("the bad item succeeded");
    };
    assert_eq!(error.code, Code::InvalidArgument as i32);
    assert_eq!(error.field_paths, ["parcels[0].weight_grams"]);

    let status = app
        .client()
        .create_shipments(CreateShipmentsRequest {
            requests: vec![shipment(&minted_id("dup")), shipment(&minted_id("dup"))],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["requests[1]"]);
    let status = app
        .client()
        .create_shipments(CreateShipmentsRequest {
            requests: Vec::<CreateShipmentRequest>::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    app.stop().await;
}
