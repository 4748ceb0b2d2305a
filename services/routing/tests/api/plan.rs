//! PlanFulfillment against a real inventory with real stock.

use oms_proto::{
    common::v1::{ChannelKind, DeliveryMethod, DeliveryOption, GeoPoint},
    routing::v1::{
        CandidateOutcome, DailyCapacityFilter, ExplanationDetail, FewestShipmentsRanking,
        FilterKind, LinePlanStatus, LocationAttributes, PlanFulfillmentResponse, PlanOutcome,
        PriorityRanking, PutLocationAttributesRequest, PutRoutingPolicyRequest, RankingKind,
        RoutingFilter, RoutingPolicySpec, RoutingRanking, TieBreaker, UnmetReason,
        routing_filter::Rule as FilterRule, routing_ranking::Rule as RankingRule,
    },
};
use tonic::Code;

use crate::helpers::*;

/// Potsdam, Hamburg and Munich warehouses, a store in Mitte and a closed
/// warehouse in Berlin, stocked with `tee` and `cap`.
async fn stocked() -> TestRouting {
    let routing = TestRouting::start().await;
    for site in [
        warehouse("wh-potsdam", POTSDAM),
        warehouse("wh-hamburg", HAMBURG),
        warehouse("wh-munich", MUNICH),
        store("st-mitte", MITTE),
        Site {
            active: false,
            ..warehouse("wh-closed", BERLIN)
        },
    ] {
        routing.location(site).await;
    }
    for location in ["wh-potsdam", "wh-hamburg", "wh-munich", "st-mitte"] {
        routing.set_stock("tee", location, 5).await;
        routing.set_stock("cap", location, 5).await;
    }
    routing
}

fn shipments(response: &PlanFulfillmentResponse) -> Vec<(String, Vec<(String, i32)>)> {
    response
        .plan
        .as_ref()
        .unwrap()
        .shipments
        .iter()
        .map(|shipment| {
            let lines = shipment
                .lines
                .iter()
                .map(|line| (line.sku.clone(), line.quantity))
                .collect();
            (shipment.location_id.clone(), lines)
        })
        .collect()
}

fn candidates(response: &PlanFulfillmentResponse) -> Vec<(String, CandidateOutcome, FilterKind)> {
    response
        .explanation
        .as_ref()
        .unwrap()
        .candidates
        .iter()
        .map(|candidate| {
            (
                candidate.location_id.clone(),
                candidate.outcome(),
                candidate.removed_by(),
            )
        })
        .collect()
}

fn owned(rows: &[(&str, &[(&str, i32)])]) -> Vec<(String, Vec<(String, i32)>)> {
    rows.iter()
        .map(|(location, lines)| {
            let lines = lines
                .iter()
                .map(|(sku, units)| ((*sku).into(), *units))
                .collect();
            ((*location).into(), lines)
        })
        .collect()
}

#[tokio::test]
async fn a_plan_against_real_stock_ships_from_the_nearest_location_and_says_why() {
    let routing = stocked().await;

    let response = routing
        .plan(ship_to_berlin("ord-1", &[("tee", 2), ("cap", 1)]))
        .await
        .unwrap();

    let plan = response.plan.as_ref().unwrap();
    assert_eq!(plan.outcome(), PlanOutcome::Complete);
    assert_eq!(
        shipments(&response),
        owned(&[("st-mitte", &[("tee", 2), ("cap", 1)])])
    );
    let distance = plan.shipments[0].distance_km.unwrap();
    assert!((0.0..5.0).contains(&distance), "{distance}");
    assert!(
        plan.lines
            .iter()
            .all(|line| line.status() == LinePlanStatus::Allocated)
    );

    use CandidateOutcome::{Chosen, NotChosen, Removed};
    assert_eq!(
        candidates(&response),
        [
            ("st-mitte".into(), Chosen, FilterKind::Unspecified),
            ("wh-potsdam".into(), NotChosen, FilterKind::Unspecified),
            ("wh-hamburg".into(), NotChosen, FilterKind::Unspecified),
            ("wh-munich".into(), NotChosen, FilterKind::Unspecified),
            ("wh-closed".into(), Removed, FilterKind::Inactive),
        ]
    );
    let explanation = response.explanation.as_ref().unwrap();
    assert_eq!(explanation.policy_id, "default");
    assert_eq!(explanation.policy_version, 1);
    assert!(explanation.availability_sequence > 0);
    assert_eq!(explanation.removed_counts.len(), 1);
    assert_eq!(explanation.removed_counts[0].count, 1);
    let round = &explanation.rounds[0];
    assert_eq!(round.chosen_location_id, "st-mitte");
    assert_eq!(round.runner_up_location_id, "wh-potsdam");
    assert_eq!(round.decided_by(), RankingKind::Distance);
    assert!(
        explanation
            .summary
            .starts_with("st-mitte ships every line in one shipment"),
        "{}",
        explanation.summary
    );
    // The address is PII: nothing of it but country, region and geo is used.
    let text = format!("{response:?}");
    assert!(!text.contains("Mustermann") && !text.contains("Linden"));
    routing.finish().await;
}

#[tokio::test]
async fn re_planning_after_a_stock_race_with_the_exhausted_location_excluded_gives_the_next_best() {
    let routing = stocked().await;
    let first = routing
        .plan(ship_to_berlin("ord-1", &[("tee", 5)]))
        .await
        .unwrap();
    assert_eq!(shipments(&first), owned(&[("st-mitte", &[("tee", 5)])]));

    // Another order takes the store's tees before ord-1 reserves them.
    routing
        .reserve("ord-rival", &[("tee", "st-mitte", 3)])
        .await;
    let mut again = ship_to_berlin("ord-1", &[("tee", 5)]);
    again.excluded_location_ids = vec!["st-mitte".into(), "not-a-location".into()];
    let second = routing.plan(again).await.unwrap();

    assert_eq!(shipments(&second), owned(&[("wh-potsdam", &[("tee", 5)])]));
    let removed: Vec<_> = candidates(&second)
        .into_iter()
        .filter(|(_, outcome, _)| *outcome == CandidateOutcome::Removed)
        .collect();
    assert_eq!(
        removed,
        [
            (
                "st-mitte".into(),
                CandidateOutcome::Removed,
                FilterKind::ExcludedLocations
            ),
            (
                "wh-closed".into(),
                CandidateOutcome::Removed,
                FilterKind::Inactive
            ),
        ]
    );
    let st_mitte = &second.explanation.as_ref().unwrap().candidates[3];
    assert_eq!(st_mitte.removed_detail, "excluded by the request");
    // Reserved units are not usable: 2 left of 5.
    assert_eq!(st_mitte.coverage[0].usable_quantity, 2);
    routing.finish().await;
}

#[tokio::test]
async fn a_location_at_its_daily_capacity_and_one_keeping_safety_stock_are_left_out() {
    let routing = stocked().await;
    routing
        .client()
        .put_location_attributes(PutLocationAttributesRequest {
            attributes: Some(LocationAttributes {
                location_id: "st-mitte".into(),
                daily_capacity: Some(1),
                time_zone: "Europe/Berlin".into(),
                ..Default::default()
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    // One order reserved today uses the store's only slot.
    routing
        .reserve("ord-earlier", &[("cap", "st-mitte", 1)])
        .await;
    // Potsdam keeps all its tees back.
    routing.set_safety_stock("tee", "wh-potsdam", 5).await;

    let response = routing
        .plan(ship_to_berlin("ord-2", &[("tee", 1)]))
        .await
        .unwrap();

    assert_eq!(
        shipments(&response),
        owned(&[("wh-hamburg", &[("tee", 1)])])
    );
    let explanation = response.explanation.as_ref().unwrap();
    let removed = |id: &str| {
        let candidate = explanation
            .candidates
            .iter()
            .find(|candidate| candidate.location_id == id)
            .unwrap();
        (candidate.removed_by(), candidate.removed_detail.clone())
    };
    assert_eq!(
        removed("st-mitte"),
        (FilterKind::DailyCapacity, "capacity left 0, needs 1".into())
    );
    assert_eq!(
        removed("wh-potsdam"),
        (
            FilterKind::SafetyStock,
            "no sellable units once safety stock is kept".into()
        )
    );
    routing.finish().await;
}

#[tokio::test]
async fn a_channel_policy_of_its_own_changes_the_plan_and_is_named_in_the_explanation() {
    let routing = stocked().await;
    routing
        .client()
        .put_location_attributes(PutLocationAttributesRequest {
            attributes: Some(LocationAttributes {
                location_id: "wh-munich".into(),
                priority: 1,
                ..Default::default()
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let put = routing
        .client()
        .put_routing_policy(PutRoutingPolicyRequest {
            channel: Some(channel(ChannelKind::Marketplace, "amazon-de")),
            spec: Some(RoutingPolicySpec {
                name: "Marketplace: central warehouse first".into(),
                filters: vec![RoutingFilter {
                    rule: Some(FilterRule::DailyCapacity(DailyCapacityFilter {
                        min_remaining: 1,
                    })),
                }],
                rankings: vec![
                    RoutingRanking {
                        rule: Some(RankingRule::FewestShipments(FewestShipmentsRanking {})),
                    },
                    RoutingRanking {
                        rule: Some(RankingRule::Priority(PriorityRanking {})),
                    },
                ],
                tie_breaker: TieBreaker::LocationId as i32,
                max_shipments: 1,
                ..Default::default()
            }),
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let mut request = ship_to_berlin("ord-3", &[("tee", 1)]);
    request.channel = Some(channel(ChannelKind::Marketplace, "amazon-de"));
    let response = routing.plan(request).await.unwrap();

    assert_eq!(shipments(&response), owned(&[("wh-munich", &[("tee", 1)])]));
    let explanation = response.explanation.as_ref().unwrap();
    let policy = put.policy.unwrap();
    assert_eq!(explanation.policy_id, policy.policy_id);
    assert_ne!(explanation.policy_id, "default");
    assert_eq!(explanation.policy_version, 1);
    assert_eq!(explanation.rounds[0].decided_by(), RankingKind::Priority);

    // Another channel still gets the default policy.
    let mut request = ship_to_berlin("ord-4", &[("tee", 1)]);
    request.channel = Some(channel(ChannelKind::Web, ""));
    let response = routing.plan(request).await.unwrap();
    assert_eq!(response.explanation.unwrap().policy_id, "default");
    routing.finish().await;
}

#[tokio::test]
async fn an_order_no_single_location_can_ship_is_split_and_the_rest_is_unfulfillable() {
    let routing = stocked().await;
    routing.set_stock("mug", "wh-hamburg", 2).await;
    routing.set_stock("mug", "wh-munich", 2).await;

    let response = routing
        .plan(ship_to_berlin(
            "ord-5",
            &[("tee", 1), ("mug", 5), ("ghost", 1)],
        ))
        .await
        .unwrap();

    let plan = response.plan.as_ref().unwrap();
    assert_eq!(plan.outcome(), PlanOutcome::Unfulfillable);
    // Every location has the tee in full, so the nearest takes it first; then
    // the mugs, from the nearest that has any, up to 3 shipments.
    assert_eq!(
        shipments(&response),
        owned(&[
            ("st-mitte", &[("tee", 1)]),
            ("wh-hamburg", &[("mug", 2)]),
            ("wh-munich", &[("mug", 2)]),
        ])
    );
    let statuses: Vec<_> = plan
        .lines
        .iter()
        .map(|line| {
            (
                line.status(),
                line.unmet_reason(),
                line.unfulfillable_quantity,
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (LinePlanStatus::Allocated, UnmetReason::Unspecified, 0),
            (
                LinePlanStatus::Unfulfillable,
                UnmetReason::NoEligibleStock,
                1
            ),
            (
                LinePlanStatus::Unfulfillable,
                UnmetReason::NoEligibleStock,
                1
            ),
        ]
    );
    assert_eq!(response.explanation.unwrap().rounds.len(), 3);
    routing.finish().await;
}

#[tokio::test]
async fn pickup_goes_to_the_chosen_store_and_a_store_that_is_not_one_is_refused() {
    let routing = stocked().await;
    routing.location(store("st-hamburg", HAMBURG)).await;
    routing.set_stock("tee", "st-hamburg", 1).await;
    let pickup = |store: &str| {
        let mut request = ship_to_berlin("ord-6", &[("tee", 1)]);
        request.delivery = Some(DeliveryOption {
            method: DeliveryMethod::Pickup as i32,
            pickup_location_id: store.into(),
            ..Default::default()
        });
        request.explanation_detail = ExplanationDetail::Compact as i32;
        request
    };

    let response = routing.plan(pickup("st-hamburg")).await.unwrap();
    assert_eq!(
        shipments(&response),
        owned(&[("st-hamburg", &[("tee", 1)])])
    );
    let listed: Vec<_> = candidates(&response)
        .into_iter()
        .map(|(id, _, removed_by)| (id, removed_by))
        .collect();
    assert_eq!(
        listed,
        [
            ("st-hamburg".into(), FilterKind::Unspecified),
            ("st-mitte".into(), FilterKind::PickupStoreNotChosen),
            ("wh-hamburg".into(), FilterKind::PickupStoreNotChosen),
            ("wh-munich".into(), FilterKind::PickupStoreNotChosen),
            ("wh-potsdam".into(), FilterKind::PickupStoreNotChosen),
        ],
        "compact: the inactive one is only counted"
    );

    // Without a chosen store: the nearest store that has everything.
    let mut nearest = pickup("");
    nearest.destination.as_mut().unwrap().geo = Some(GeoPoint {
        latitude: HAMBURG.0,
        longitude: HAMBURG.1 + 0.01,
    });
    let response = routing.plan(nearest).await.unwrap();
    assert_eq!(
        shipments(&response),
        owned(&[("st-hamburg", &[("tee", 1)])])
    );

    for store in ["st-nowhere", "wh-potsdam", "wh-closed"] {
        let status = routing.plan(pickup(store)).await.unwrap_err();
        assert_eq!(
            bad_fields(&status),
            ["delivery.pickup_location_id"],
            "{store}"
        );
    }
    routing.finish().await;
}

#[tokio::test]
async fn bad_plan_requests_name_every_bad_field() {
    let routing = TestRouting::start().await;

    let mut request = ship_to_berlin("ord-7", &[("tee", 0), ("bad sku", 1), ("tee", 2)]);
    request.destination.as_mut().unwrap().country_code = String::new();
    request.delivery.as_mut().unwrap().pickup_location_id = "st-mitte".into();
    request.channel = Some(channel(ChannelKind::Unspecified, "web"));
    let status = routing.plan(request).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "lines[0].quantity",
            "lines[1].sku",
            "lines[2].sku",
            "destination.country_code",
            "delivery.pickup_location_id",
            "channel",
        ]
    );

    let mut request = ship_to_berlin("ord-8", &[]);
    request.destination = None;
    let status = routing.plan(request).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["lines", "destination"]);

    let mut request = ship_to_berlin("ord-9", &[("tee", 1)]);
    request.delivery = None;
    request.excluded_location_ids = vec!["wh-1".into(); 1001];
    let status = routing.plan(request).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["delivery.method", "excluded_location_ids"]
    );

    let mut request = ship_to_berlin("ord-10", &[("tee", 1)]);
    request.delivery = Some(DeliveryOption {
        method: DeliveryMethod::Pickup as i32,
        ..Default::default()
    });
    request.destination.as_mut().unwrap().geo = None;
    let status = routing.plan(request).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["destination.geo"]);

    let lines: Vec<(String, i32)> = (0..201).map(|i| (format!("sku-{i}"), 1)).collect();
    let lines: Vec<(&str, i32)> = lines.iter().map(|(sku, q)| (sku.as_str(), *q)).collect();
    let status = routing
        .plan(ship_to_berlin("ord-11", &lines))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["lines"]);
    routing.finish().await;
}

#[tokio::test]
async fn a_plan_while_inventory_is_down_is_unavailable() {
    let mut routing = stocked().await;
    routing
        .plan(ship_to_berlin("ord-12", &[("tee", 1)]))
        .await
        .unwrap();

    routing.stop_inventory().await;
    let status = routing
        .plan(ship_to_berlin("ord-12", &[("tee", 1)]))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "inventory unavailable");
    routing.finish().await;
}
