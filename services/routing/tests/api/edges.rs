//! Hostile and extreme input: a NUL in a string field, every number at its
//! limits, coordinates that are no numbers, an order id the OMS never minted.
//! Each is refused with INVALID_ARGUMENT naming the field, or served; never
//! INTERNAL, never a panic.

use oms_proto::{
    common::v1::{GeoPoint, PageRequest},
    routing::v1::{
        DailyCapacityFilter, DistanceRanking, GetRoutingPolicyRequest,
        ListLocationAttributesRequest, LocationAttributes, PutLocationAttributesRequest,
        PutRoutingPolicyRequest, RoutingFilter, RoutingPolicySpec, RoutingRanking, TieBreaker,
        routing_filter::Rule as FilterRule, routing_ranking::Rule as RankingRule,
    },
};

use crate::helpers::*;

fn attributes(time_zone: &str, daily_capacity: i32, priority: i32) -> PutLocationAttributesRequest {
    PutLocationAttributesRequest {
        attributes: Some(LocationAttributes {
            location_id: "wh-1".into(),
            daily_capacity: Some(daily_capacity),
            priority,
            time_zone: time_zone.into(),
            ..Default::default()
        }),
        actor: Some(operator()),
    }
}

fn policy(min_remaining: i32, bucket_km: i32, max_shipments: i32) -> RoutingPolicySpec {
    RoutingPolicySpec {
        name: "edges".into(),
        filters: vec![RoutingFilter {
            rule: Some(FilterRule::DailyCapacity(DailyCapacityFilter {
                min_remaining,
            })),
        }],
        rankings: vec![RoutingRanking {
            rule: Some(RankingRule::Distance(DistanceRanking { bucket_km })),
        }],
        tie_breaker: TieBreaker::OrderHash as i32,
        max_shipments,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_nul_in_a_string_field_is_invalid_argument_naming_it() {
    let routing = TestRouting::start().await;
    routing.location(warehouse("wh-1", (52.5, 13.4))).await;
    let mut client = routing.client();
    let status = client
        .put_location_attributes(attributes("Europe/Berlin\0", 10, 10))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["attributes.time_zone"]);
    let status = client
        .get_routing_policy(GetRoutingPolicyRequest {
            policy_id: "default\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["policy_id"]);
    let mut spec = policy(1, 10, 3);
    spec.description = "nightly\0".into();
    let status = client
        .put_routing_policy(PutRoutingPolicyRequest {
            channel: None,
            spec: Some(spec),
            expected_version: None,
            validate_only: true,
            actor: Some(operator()),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["spec.description"]);
    routing.finish().await;
}

#[tokio::test]
async fn numbers_at_their_limits_are_refused_or_served() {
    let routing = TestRouting::start().await;
    routing.location(warehouse("wh-1", (52.5, 13.4))).await;
    routing.set_stock("tee", "wh-1", 5).await;
    let mut client = routing.client();

    // The largest capacities and distances a policy may name plan without overflow.
    client
        .put_routing_policy(PutRoutingPolicyRequest {
            channel: None,
            spec: Some(policy(i32::MAX, i32::MAX, 20)),
            expected_version: None,
            validate_only: false,
            actor: Some(operator()),
        })
        .await
        .unwrap();
    client
        .put_location_attributes(attributes("Europe/Berlin", i32::MAX, 1000))
        .await
        .unwrap();
    let planned = routing
        .plan(ship_to_berlin("order-1", &[("tee", i32::MAX)]))
        .await
        .unwrap();
    assert!(planned.plan.is_some());
    let status = routing
        .plan(ship_to_berlin("order-1", &[("tee", i32::MIN)]))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["lines[0].quantity"]);

    for (value, max_shipments) in [(i32::MIN, i32::MIN), (-1, i32::MAX)] {
        let status = client
            .put_routing_policy(PutRoutingPolicyRequest {
                channel: None,
                spec: Some(policy(value, value, max_shipments)),
                expected_version: Some(value),
                validate_only: true,
                actor: Some(operator()),
            })
            .await
            .unwrap_err();
        let fields = bad_fields(&status);
        for field in [
            "spec.filters[0].daily_capacity.min_remaining",
            "spec.rankings[0].distance.bucket_km",
            "spec.max_shipments",
        ] {
            assert!(fields.iter().any(|f| f == field), "{field} in {fields:?}");
        }
        let status = client
            .put_location_attributes(attributes("Europe/Berlin", value, value))
            .await
            .unwrap_err();
        assert_eq!(
            bad_fields(&status),
            ["attributes.daily_capacity", "attributes.priority"]
        );
    }
    for version in [i32::MIN, -1] {
        let status = client
            .get_routing_policy(GetRoutingPolicyRequest {
                version,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["version"], "{version}");
    }
    let unknown = client
        .get_routing_policy(GetRoutingPolicyRequest {
            version: i32::MAX,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    for page_size in [i32::MIN, 501, i32::MAX] {
        let status = client
            .list_location_attributes(ListLocationAttributesRequest {
                page: Some(PageRequest {
                    page_size,
                    page_token: String::new(),
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["page.page_size"]);
    }
    routing.finish().await;
}

#[tokio::test]
async fn coordinates_that_are_no_numbers_and_foreign_ids_are_refused() {
    let routing = TestRouting::start().await;
    routing.location(warehouse("wh-1", (52.5, 13.4))).await;
    for (latitude, longitude) in [
        (f64::NAN, 13.4),
        (52.5, f64::INFINITY),
        (f64::NEG_INFINITY, f64::MAX),
        (f64::MIN, 13.4),
    ] {
        let mut request = ship_to_berlin("order-1", &[("tee", 1)]);
        request.destination.as_mut().unwrap().geo = Some(GeoPoint {
            latitude,
            longitude,
        });
        let status = routing.plan(request).await.unwrap_err();
        assert_eq!(
            bad_fields(&status),
            ["destination.geo"],
            "{latitude} {longitude}"
        );
    }
    let mut request = ship_to_berlin("order-1", &[("tee", 1)]);
    request.order_id = "order-1".into();
    let status = routing.plan(request).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["order_id"]);
    routing.finish().await;
}
