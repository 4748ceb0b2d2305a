//! Routing policies: the default, versions, retries, conflicts, validation, lists.

use oms_proto::{
    common::v1::{ActorKind, Channel, ChannelKind, PageRequest},
    routing::v1::{
        DistanceRanking, ExcludedLocationsFilter, GetRoutingPolicyRequest,
        ListLocationAttributesRequest, ListRoutingPoliciesRequest, MostStockRanking,
        PutRoutingPolicyRequest, PutRoutingPolicyResponse, RoutingFilter, RoutingPolicy,
        RoutingPolicySpec, RoutingRanking, TieBreaker, routing_filter::Rule as FilterRule,
        routing_ranking::Rule as RankingRule,
    },
};
use tonic::Code;

use crate::helpers::*;

fn spec(name: &str, max_shipments: i32) -> RoutingPolicySpec {
    RoutingPolicySpec {
        name: name.into(),
        rankings: vec![RoutingRanking {
            rule: Some(RankingRule::MostStock(MostStockRanking {})),
        }],
        tie_breaker: TieBreaker::OrderHash as i32,
        max_shipments,
        ..Default::default()
    }
}

async fn put(
    client: &mut Client,
    channel: Option<Channel>,
    spec: RoutingPolicySpec,
    expected_version: Option<i32>,
) -> Result<PutRoutingPolicyResponse, tonic::Status> {
    client
        .put_routing_policy(PutRoutingPolicyRequest {
            channel,
            spec: Some(spec),
            expected_version,
            validate_only: false,
            actor: Some(operator()),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get(
    client: &mut Client,
    request: GetRoutingPolicyRequest,
) -> Result<RoutingPolicy, tonic::Status> {
    Ok(client
        .get_routing_policy(request)
        .await?
        .into_inner()
        .policy
        .unwrap())
}

#[tokio::test]
async fn the_default_policy_is_in_force_out_of_the_box_for_every_channel() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();

    let default = get(&mut client, GetRoutingPolicyRequest::default())
        .await
        .unwrap();
    assert_eq!(default.policy_id, "default");
    assert_eq!(default.version, 1);
    assert!(default.current);
    assert!(default.channel.is_none());
    assert_eq!(default.created_by.unwrap().kind(), ActorKind::System);
    let spec = default.spec.unwrap();
    let filters: Vec<_> = spec
        .filters
        .iter()
        .map(|filter| match filter.rule.as_ref().unwrap() {
            FilterRule::ExcludedLocations(_) => "excluded_locations",
            FilterRule::FulfillmentMethod(_) => "fulfillment_method",
            FilterRule::DestinationCountry(_) => "destination_country",
            FilterRule::DailyCapacity(capacity) => {
                assert_eq!(capacity.min_remaining, 1);
                "daily_capacity"
            }
            FilterRule::SafetyStock(_) => "safety_stock",
        })
        .collect();
    assert_eq!(
        filters,
        [
            "excluded_locations",
            "fulfillment_method",
            "destination_country",
            "daily_capacity",
            "safety_stock"
        ]
    );
    let rankings: Vec<_> = spec
        .rankings
        .iter()
        .map(|ranking| match ranking.rule.as_ref().unwrap() {
            RankingRule::FewestShipments(_) => "fewest_shipments",
            RankingRule::Distance(distance) => {
                assert_eq!(distance.bucket_km, 0);
                "distance"
            }
            RankingRule::Priority(_) => "priority",
            RankingRule::MostStock(_) => "most_stock",
        })
        .collect();
    assert_eq!(
        rankings,
        ["fewest_shipments", "distance", "priority", "most_stock"]
    );
    assert_eq!(spec.tie_breaker(), TieBreaker::LocationId);
    assert_eq!(spec.max_shipments, 3);
    assert!(spec.allow_line_split && !spec.allow_backorder);

    let for_web = get(
        &mut client,
        GetRoutingPolicyRequest {
            channel: Some(channel(ChannelKind::Web, "")),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(for_web.policy_id, "default");
    routing.finish().await;
}

#[tokio::test]
async fn a_policy_gets_a_new_version_per_change_and_a_retry_writes_nothing() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();
    let amazon = || Some(channel(ChannelKind::Marketplace, "amazon-de"));

    let first = put(&mut client, amazon(), spec("A", 2), Some(0))
        .await
        .unwrap();
    let retry = put(&mut client, amazon(), spec("A", 2), Some(0))
        .await
        .unwrap();
    let second = put(&mut client, amazon(), spec("A", 1), Some(1))
        .await
        .unwrap();

    let (first, second) = (
        (first.policy.unwrap(), first.written),
        (second.policy.unwrap(), second.written),
    );
    assert_eq!((first.0.version, first.1), (1, true));
    assert_eq!(retry.policy.as_ref().unwrap().version, 1);
    assert!(!retry.written, "a retry of the same spec writes nothing");
    assert_eq!((second.0.version, second.1), (2, true));
    assert_eq!(first.0.policy_id, second.0.policy_id);
    assert_eq!(first.0.channel, amazon());

    let current = get(
        &mut client,
        GetRoutingPolicyRequest {
            channel: amazon(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((current.version, current.current), (2, true));
    assert_eq!(current.spec.unwrap().max_shipments, 1);
    let old = get(
        &mut client,
        GetRoutingPolicyRequest {
            policy_id: first.0.policy_id.clone(),
            version: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((old.version, old.current), (1, false));
    assert_eq!(old.spec.unwrap(), spec("A", 2));

    let pool = routing.routing.database.pool().await;
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM routing_policy_versions WHERE policy_id = $1")
            .bind(&first.0.policy_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(stored, 2, "two versions, whatever the retries");

    // The default policy is versioned the same way.
    let default = put(&mut client, None, spec("New default", 3), Some(1))
        .await
        .unwrap();
    assert_eq!(default.policy.unwrap().version, 2);
    routing.finish().await;
}

#[tokio::test]
async fn a_stale_expected_version_is_refused_as_a_version_conflict() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();
    let web = || Some(channel(ChannelKind::Web, ""));
    put(&mut client, web(), spec("Web", 2), Some(0))
        .await
        .unwrap();

    let status = put(&mut client, web(), spec("Web two", 2), Some(0))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(
        reason_and(&status, "expected_version"),
        ("VERSION_CONFLICT".into(), "0".into())
    );
    assert_eq!(reason_and(&status, "current_version").1, "1");
    routing.finish().await;
}

#[tokio::test]
async fn validate_only_returns_the_next_version_and_writes_nothing() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();

    let response = client
        .put_routing_policy(PutRoutingPolicyRequest {
            channel: None,
            spec: Some(spec("Try", 2)),
            expected_version: None,
            validate_only: true,
            actor: Some(operator()),
        })
        .await
        .unwrap()
        .into_inner();

    assert!(!response.written);
    assert_eq!(response.policy.unwrap().version, 2);
    let current = get(&mut client, GetRoutingPolicyRequest::default())
        .await
        .unwrap();
    assert_eq!(current.version, 1);
    routing.finish().await;
}

#[tokio::test]
async fn an_invalid_policy_names_every_bad_field() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();
    let bad = RoutingPolicySpec {
        name: String::new(),
        filters: vec![
            RoutingFilter { rule: None },
            RoutingFilter {
                rule: Some(FilterRule::ExcludedLocations(ExcludedLocationsFilter {
                    location_ids: vec!["wh-1".into(), "WH 2".into()],
                })),
            },
        ],
        rankings: vec![
            RoutingRanking {
                rule: Some(RankingRule::Distance(DistanceRanking { bucket_km: -5 })),
            },
            RoutingRanking { rule: None },
        ],
        tie_breaker: TieBreaker::Unspecified as i32,
        max_shipments: 21,
        ..Default::default()
    };
    let status = client
        .put_routing_policy(PutRoutingPolicyRequest {
            channel: Some(channel(ChannelKind::Marketplace, "")),
            spec: Some(bad),
            expected_version: Some(-1),
            validate_only: false,
            actor: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "channel",
            "spec.filters[0]",
            "spec.filters[1].excluded_locations.location_ids[1]",
            "spec.rankings[0].distance.bucket_km",
            "spec.rankings[1]",
            "spec.tie_breaker",
            "spec.name",
            "spec.max_shipments",
            "actor",
            "expected_version",
        ]
    );

    // Once every rule converts, the rules on the whole spec are checked.
    let mut twice = spec("", 0);
    twice.rankings.push(twice.rankings[0]);
    let status = put(&mut client, None, twice, None).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["spec.name", "spec.rankings[1]", "spec.max_shipments"]
    );
    let mut none = spec("No ranking", 1);
    none.rankings.clear();
    let status = put(&mut client, None, none, None).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["spec.rankings"]);
    routing.finish().await;
}

#[tokio::test]
async fn missing_policies_and_versions_are_not_found() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();
    let unknown = get(
        &mut client,
        GetRoutingPolicyRequest {
            policy_id: "nope".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let unwritten = get(
        &mut client,
        GetRoutingPolicyRequest {
            policy_id: "default".into(),
            version: 9,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(unwritten.code(), Code::NotFound);
    let no_own_policy = get(
        &mut client,
        GetRoutingPolicyRequest {
            channel: Some(channel(ChannelKind::App, "")),
            version: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(no_own_policy.code(), Code::NotFound);
    let negative = get(
        &mut client,
        GetRoutingPolicyRequest {
            version: -1,
            channel: Some(channel(ChannelKind::Unspecified, "")),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&negative), ["channel", "version"]);
    routing.finish().await;
}

#[tokio::test]
async fn policies_are_listed_default_first_then_by_channel_newest_version_first_in_pages() {
    let routing = TestRouting::start().await;
    let mut client = routing.client();
    let web = channel(ChannelKind::Web, "");
    let zalando = channel(ChannelKind::Marketplace, "zalando");
    let amazon = channel(ChannelKind::Marketplace, "amazon-de");
    put(&mut client, Some(zalando.clone()), spec("Z", 1), None)
        .await
        .unwrap();
    put(&mut client, Some(amazon.clone()), spec("A", 1), None)
        .await
        .unwrap();
    put(&mut client, Some(amazon.clone()), spec("A", 2), None)
        .await
        .unwrap();
    put(&mut client, Some(web.clone()), spec("W", 1), None)
        .await
        .unwrap();

    let mut seen = Vec::new();
    let mut token = String::new();
    let mut first_token = None;
    loop {
        let page = client
            .list_routing_policies(ListRoutingPoliciesRequest {
                page: Some(PageRequest {
                    page_size: 2,
                    page_token: token,
                }),
                all_versions: true,
                channel_kind: 0,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.policies.len() <= 2);
        for policy in page.policies {
            let name = policy.channel.map(|c| c.name).unwrap_or("default".into());
            seen.push((name, policy.version, policy.current));
        }
        token = page.page.unwrap().next_page_token;
        first_token.get_or_insert_with(|| token.clone());
        if token.is_empty() {
            break;
        }
    }
    let expected = [
        ("default", 1, true),
        ("", 1, true),
        ("amazon-de", 2, true),
        ("amazon-de", 1, false),
        ("zalando", 1, true),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(name, version, current)| ((*name).to_owned(), *version, *current))
        .collect();
    assert_eq!(seen, expected);

    let marketplaces = client
        .list_routing_policies(ListRoutingPoliciesRequest {
            channel_kind: ChannelKind::Marketplace as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = marketplaces
        .policies
        .iter()
        .map(|policy| (policy.channel.clone().unwrap().name, policy.version))
        .collect();
    assert_eq!(names, [("amazon-de".into(), 2), ("zalando".into(), 1)]);

    let status = client
        .list_routing_policies(ListRoutingPoliciesRequest {
            page: Some(PageRequest {
                page_size: 501,
                page_token: "garbage".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["page.page_size", "page.page_token"]);

    // A token pages only the listing it came from: these filters, this RPC.
    let page = Some(PageRequest {
        page_size: 2,
        page_token: first_token.unwrap(),
    });
    let current_only = client
        .list_routing_policies(ListRoutingPoliciesRequest {
            page: page.clone(),
            all_versions: false,
            channel_kind: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&current_only), ["page.page_token"]);
    let attributes = client
        .list_location_attributes(ListLocationAttributesRequest { page })
        .await
        .unwrap_err();
    assert_eq!(attributes.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&attributes), ["page.page_token"]);
    routing.finish().await;
}
