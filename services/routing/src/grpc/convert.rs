//! Proto <-> domain: requests are checked field by field into domain values
//! (every violation collected, each naming its field), inventory's messages
//! become planner sites, and results become proto messages.

use std::collections::{HashMap, HashSet};

pub use oms_platform::convert::{actor, actor_to_proto, channel_to_proto, timestamp};
use oms_platform::{error::FieldViolations, ids::MintedId};
use oms_proto::{
    common::v1::{self as common, DeliveryMethod},
    inventory::v1 as inventory,
    routing::v1::{self as pb, routing_filter, routing_ranking},
};

use crate::{
    domain::{
        Channel, CountryCode, Delivery, Destination, Detail, Filter, GeoPoint, Line,
        LocationAttributes, LocationId, LocationKind, PlanRequest, Planned, PolicySpec, Quantity,
        Ranking, Site, Sku, StockAt, TieBreaker, location::DEFAULT_PRIORITY, plan::Score,
        policy::MAX_EXCLUDED_IDS,
    },
    store::{AttributesRow, PolicyRecord},
};

/// Most lines a plan may have.
const MAX_LINES: usize = 200;

/// An optional channel; `Some(None)` when unset, `None` when invalid.
pub fn channel(
    violations: &mut FieldViolations,
    field: &str,
    channel: Option<&common::Channel>,
) -> Option<Option<Channel>> {
    match channel {
        None => Some(None),
        Some(channel) => violations
            .check(field, Channel::new(channel.kind, &channel.name))
            .map(Some),
    }
}

/// A policy spec from PutRoutingPolicy, checked under the field path `spec`.
pub fn spec(
    violations: &mut FieldViolations,
    spec: Option<&pb::RoutingPolicySpec>,
) -> Option<PolicySpec> {
    let Some(proto) = spec else {
        violations.add("spec", "required");
        return None;
    };
    let spec = proto;
    let before = violations.violations().len();
    let mut filters = Vec::with_capacity(spec.filters.len());
    for (index, filter) in spec.filters.iter().enumerate() {
        let field = format!("spec.filters[{index}]");
        let filter = match &filter.rule {
            None => {
                violations.add(field, "no rule set, or a rule this server does not know");
                continue;
            }
            Some(routing_filter::Rule::ExcludedLocations(excluded)) => {
                let mut location_ids = Vec::with_capacity(excluded.location_ids.len());
                for (id_index, id) in excluded.location_ids.iter().enumerate() {
                    let field = format!("{field}.excluded_locations.location_ids[{id_index}]");
                    location_ids.extend(violations.check(field, LocationId::parse(id)));
                }
                Filter::ExcludedLocations { location_ids }
            }
            Some(routing_filter::Rule::FulfillmentMethod(_)) => Filter::FulfillmentMethod,
            Some(routing_filter::Rule::DestinationCountry(_)) => Filter::DestinationCountry,
            Some(routing_filter::Rule::DailyCapacity(capacity)) => {
                let Ok(min_remaining) = u32::try_from(capacity.min_remaining) else {
                    violations.add(
                        format!("{field}.daily_capacity.min_remaining"),
                        "must be 0 or more",
                    );
                    continue;
                };
                Filter::DailyCapacity { min_remaining }
            }
            Some(routing_filter::Rule::SafetyStock(_)) => Filter::SafetyStock,
        };
        filters.push(filter);
    }
    let mut rankings = Vec::with_capacity(spec.rankings.len());
    for (index, ranking) in spec.rankings.iter().enumerate() {
        let field = format!("spec.rankings[{index}]");
        let ranking = match &ranking.rule {
            None => {
                violations.add(field, "no rule set, or a rule this server does not know");
                continue;
            }
            Some(routing_ranking::Rule::FewestShipments(_)) => Ranking::FewestShipments,
            Some(routing_ranking::Rule::Distance(distance)) => {
                let Ok(bucket_km) = u32::try_from(distance.bucket_km) else {
                    violations.add(format!("{field}.distance.bucket_km"), "must be 0 or more");
                    continue;
                };
                Ranking::Distance { bucket_km }
            }
            Some(routing_ranking::Rule::Priority(_)) => Ranking::Priority,
            Some(routing_ranking::Rule::MostStock(_)) => Ranking::MostStock,
        };
        rankings.push(ranking);
    }
    let tie_breaker = TieBreaker::from_code(spec.tie_breaker);
    if tie_breaker.is_none() {
        violations.add("spec.tie_breaker", "required");
    }
    let spec = PolicySpec {
        name: spec.name.clone(),
        description: spec.description.clone(),
        filters,
        rankings,
        tie_breaker: tie_breaker.unwrap_or(TieBreaker::LocationId),
        // Out of range becomes 0, which the domain refuses with the field named.
        max_shipments: u32::try_from(spec.max_shipments).unwrap_or(0),
        allow_line_split: spec.allow_line_split,
        allow_backorder: spec.allow_backorder,
    };
    // Rules on the whole spec. When a filter or ranking did not convert, the
    // indexes of the converted ones no longer match the request's, so only the
    // rules without an index are reported.
    let converted = violations.violations().len() == before;
    for violation in spec.violations() {
        let indexed = violation.field.contains('[');
        let misleading = violation.field == "rankings" && !proto.rankings.is_empty();
        if converted || !(indexed || misleading) {
            violations.add(format!("spec.{}", violation.field), violation.reason);
        }
    }
    (violations.violations().len() == before).then_some(spec)
}

/// A policy spec as the contract names it.
pub fn spec_to_proto(spec: &PolicySpec) -> pb::RoutingPolicySpec {
    pb::RoutingPolicySpec {
        name: spec.name.clone(),
        description: spec.description.clone(),
        filters: spec
            .filters
            .iter()
            .map(|filter| pb::RoutingFilter {
                rule: Some(match filter {
                    Filter::ExcludedLocations { location_ids } => {
                        routing_filter::Rule::ExcludedLocations(pb::ExcludedLocationsFilter {
                            location_ids: location_ids
                                .iter()
                                .map(|id| id.as_str().to_owned())
                                .collect(),
                        })
                    }
                    Filter::FulfillmentMethod => {
                        routing_filter::Rule::FulfillmentMethod(pb::FulfillmentMethodFilter {})
                    }
                    Filter::DestinationCountry => {
                        routing_filter::Rule::DestinationCountry(pb::DestinationCountryFilter {})
                    }
                    Filter::DailyCapacity { min_remaining } => {
                        routing_filter::Rule::DailyCapacity(pb::DailyCapacityFilter {
                            min_remaining: i32::try_from(*min_remaining).unwrap_or(i32::MAX),
                        })
                    }
                    Filter::SafetyStock => {
                        routing_filter::Rule::SafetyStock(pb::SafetyStockFilter {})
                    }
                }),
            })
            .collect(),
        rankings: spec
            .rankings
            .iter()
            .map(|ranking| pb::RoutingRanking {
                rule: Some(match ranking {
                    Ranking::FewestShipments => {
                        routing_ranking::Rule::FewestShipments(pb::FewestShipmentsRanking {})
                    }
                    Ranking::Distance { bucket_km } => {
                        routing_ranking::Rule::Distance(pb::DistanceRanking {
                            bucket_km: i32::try_from(*bucket_km).unwrap_or(i32::MAX),
                        })
                    }
                    Ranking::Priority => routing_ranking::Rule::Priority(pb::PriorityRanking {}),
                    Ranking::MostStock => routing_ranking::Rule::MostStock(pb::MostStockRanking {}),
                }),
            })
            .collect(),
        tie_breaker: i32::from(spec.tie_breaker.code()),
        max_shipments: i32::try_from(spec.max_shipments).unwrap_or(i32::MAX),
        allow_line_split: spec.allow_line_split,
        allow_backorder: spec.allow_backorder,
    }
}

/// A stored policy version as the contract names it.
pub fn policy_to_proto(record: &PolicyRecord) -> pb::RoutingPolicy {
    pb::RoutingPolicy {
        policy_id: record.policy_id.clone(),
        channel: record.channel.as_ref().map(channel_to_proto),
        version: record.version,
        spec: Some(spec_to_proto(&record.spec)),
        current: record.current,
        create_time: Some(timestamp(record.create_time)),
        created_by: Some(actor_to_proto(&record.created_by)),
    }
}

/// The attributes of PutLocationAttributes, checked under `attributes`. The
/// time zone is checked against Postgres by the caller.
pub fn attributes(
    violations: &mut FieldViolations,
    attributes: Option<&pb::LocationAttributes>,
) -> Option<(LocationId, LocationAttributes)> {
    let Some(attributes) = attributes else {
        violations.add("attributes", "required");
        return None;
    };
    let location_id = violations.check(
        "attributes.location_id",
        LocationId::parse(&attributes.location_id),
    );
    let daily_capacity = match attributes.daily_capacity {
        None => Some(None),
        Some(capacity) => match u32::try_from(capacity) {
            Ok(capacity) => Some(Some(capacity)),
            Err(_) => {
                violations.add("attributes.daily_capacity", "must be 0 or more");
                None
            }
        },
    };
    let priority = match attributes.priority {
        0 => Some(DEFAULT_PRIORITY),
        1..=1000 => u16::try_from(attributes.priority).ok(),
        _ => {
            violations.add("attributes.priority", "must be 0 to 1000");
            None
        }
    };
    let mut countries_served = Vec::with_capacity(attributes.countries_served.len());
    let mut seen = HashSet::new();
    for (index, code) in attributes.countries_served.iter().enumerate() {
        let field = format!("attributes.countries_served[{index}]");
        if !seen.insert(code.as_str()) {
            violations.add(field, "repeats an earlier country");
            continue;
        }
        countries_served.extend(violations.check(field, CountryCode::parse(code)));
    }
    if attributes.time_zone.len() > 64 {
        violations.add("attributes.time_zone", "not an IANA time zone");
    }
    Some((
        location_id?,
        LocationAttributes {
            daily_capacity: daily_capacity?,
            priority: priority?,
            countries_served,
            time_zone: attributes.time_zone.clone(),
        },
    ))
}

/// Stored attributes as the planner uses them; bad stored values fall back to
/// the defaults, which the constraints of the table make unreachable.
pub fn attributes_from_row(row: &AttributesRow) -> LocationAttributes {
    LocationAttributes {
        daily_capacity: row
            .daily_capacity
            .and_then(|capacity| u32::try_from(capacity).ok()),
        priority: u16::try_from(row.priority).unwrap_or(DEFAULT_PRIORITY),
        countries_served: row
            .countries_served
            .iter()
            .filter_map(|code| CountryCode::parse(code).ok())
            .collect(),
        time_zone: row.time_zone.clone(),
    }
}

/// Stored attributes as the contract names them.
pub fn attributes_to_proto(row: &AttributesRow) -> pb::LocationAttributes {
    pb::LocationAttributes {
        location_id: row.location_id.clone(),
        daily_capacity: row.daily_capacity,
        priority: row.priority,
        countries_served: row.countries_served.clone(),
        time_zone: row.time_zone.clone(),
        configured: true,
        update_time: Some(timestamp(row.update_time)),
        updated_by: Some(common::Actor {
            kind: i32::from(row.updated_by_kind),
            id: row.updated_by_id.clone(),
        }),
    }
}

/// The attributes of a location nobody configured.
pub fn default_attributes(location_id: &str) -> pb::LocationAttributes {
    pb::LocationAttributes {
        location_id: location_id.to_owned(),
        daily_capacity: None,
        priority: i32::from(DEFAULT_PRIORITY),
        ..Default::default()
    }
}

/// A PlanFulfillment request and the channel that selects the policy.
pub fn plan_request(
    violations: &mut FieldViolations,
    request: &pb::PlanFulfillmentRequest,
) -> Option<(PlanRequest, Option<Channel>)> {
    // Optional; when set, an id the order service minted.
    if !request.order_id.is_empty() {
        violations.check("order_id", MintedId::parse(&request.order_id));
    }
    if request.lines.is_empty() || request.lines.len() > MAX_LINES {
        violations.add("lines", "must hold 1 to 200 lines");
    }
    let mut lines = Vec::with_capacity(request.lines.len());
    let mut seen = HashSet::new();
    for (index, line) in request.lines.iter().enumerate() {
        let sku = violations.check(format!("lines[{index}].sku"), Sku::parse(&line.sku));
        if sku.is_some() && !seen.insert(line.sku.as_str()) {
            violations.add(format!("lines[{index}].sku"), "repeats an earlier line");
        }
        let quantity = violations.check(
            format!("lines[{index}].quantity"),
            Quantity::new(line.quantity),
        );
        if let (Some(sku), Some(quantity)) = (sku, quantity) {
            lines.push(Line { sku, quantity });
        }
    }

    let address = request.destination.as_ref();
    let country = match address.map(|address| address.country_code.as_str()) {
        None | Some("") => None,
        Some(code) => violations.check("destination.country_code", CountryCode::parse(code)),
    };
    let geo = address
        .and_then(|address| address.geo.as_ref())
        .and_then(|geo| {
            violations.check(
                "destination.geo",
                GeoPoint::new(geo.latitude, geo.longitude),
            )
        });
    let destination = Destination {
        country,
        region: address.map(|a| a.region.clone()).unwrap_or_default(),
        geo,
    };

    let delivery_option = request.delivery.clone().unwrap_or_default();
    let store = &delivery_option.pickup_location_id;
    let delivery = match DeliveryMethod::try_from(delivery_option.method) {
        Ok(DeliveryMethod::Ship) => {
            if address.is_none() {
                violations.add("destination", "required for SHIP");
            } else if address.is_some_and(|a| a.country_code.is_empty()) {
                violations.add("destination.country_code", "required for SHIP");
            }
            if !store.is_empty() {
                violations.add("delivery.pickup_location_id", "must be empty for SHIP");
            }
            Some(Delivery::Ship)
        }
        Ok(DeliveryMethod::Pickup) if store.is_empty() => {
            if address.and_then(|a| a.geo.as_ref()).is_none() {
                violations.add(
                    "destination.geo",
                    "required for PICKUP without a pickup_location_id",
                );
            }
            Some(Delivery::Pickup { store: None })
        }
        Ok(DeliveryMethod::Pickup) => violations
            .check("delivery.pickup_location_id", LocationId::parse(store))
            .map(|store| Delivery::Pickup { store: Some(store) }),
        _ => {
            violations.add("delivery.method", "required");
            None
        }
    };
    let channel = channel(violations, "channel", request.channel.as_ref());
    if request.excluded_location_ids.len() > MAX_EXCLUDED_IDS {
        violations.add("excluded_location_ids", "must hold at most 1000 ids");
    }
    // Ids that cannot be location ids cannot match one; the contract ignores
    // unknown ids.
    let excluded = request
        .excluded_location_ids
        .iter()
        .filter_map(|id| LocationId::parse(id).ok())
        .collect();
    let detail = match pb::ExplanationDetail::try_from(request.explanation_detail) {
        Ok(pb::ExplanationDetail::Compact) => Detail::Compact,
        _ => Detail::Full,
    };
    if !violations.is_empty() {
        return None;
    }
    Some((
        PlanRequest {
            order_id: request.order_id.clone(),
            lines,
            destination,
            delivery: delivery?,
            excluded,
            detail,
        },
        channel?,
    ))
}

/// The planner's sites: every location inventory knows, with routing's
/// attributes, today's orders and the stock of each line.
pub fn sites(
    locations: &[inventory::Location],
    availability: &inventory::GetAvailabilityResponse,
    attributes: &HashMap<String, AttributesRow>,
    orders_today: &HashMap<String, u32>,
    line_count: usize,
) -> Vec<Site> {
    let mut stock: HashMap<&str, Vec<StockAt>> = HashMap::new();
    for (line, sku) in availability.skus.iter().enumerate().take(line_count) {
        for level in &sku.locations {
            let per_line = stock
                .entry(level.location_id.as_str())
                .or_insert_with(|| vec![StockAt::default(); line_count]);
            per_line[line] = StockAt {
                available: level.available.max(0),
                safety_stock: level.safety_stock.max(0),
            };
        }
    }
    let mut sites = Vec::with_capacity(locations.len());
    for location in locations {
        let address = location.address.clone().unwrap_or_default();
        let (Ok(location_id), Ok(country)) = (
            LocationId::parse(&location.location_id),
            CountryCode::parse(&address.country_code),
        ) else {
            // Inventory checks both on PutLocation; a location that fails here
            // cannot be planned, but must not fail every plan.
            tracing::warn!(location_id = %location.location_id, "skipping a malformed location");
            continue;
        };
        let kind = LocationKind::from_code(location.kind).unwrap_or(LocationKind::Warehouse);
        sites.push(Site {
            kind,
            active: location.active,
            ships_to_customers: location.ships_to_customers,
            store_pickup: location.store_pickup,
            country,
            region: address.region.clone(),
            geo: address
                .geo
                .and_then(|geo| GeoPoint::new(geo.latitude, geo.longitude).ok()),
            attributes: attributes
                .get(location_id.as_str())
                .map(attributes_from_row)
                .unwrap_or_default(),
            orders_today: orders_today.get(location_id.as_str()).copied().unwrap_or(0),
            stock: stock
                .remove(location_id.as_str())
                .unwrap_or_else(|| vec![StockAt::default(); line_count]),
            location_id,
        });
    }
    sites
}

fn scores_to_proto(scores: &[Score]) -> Vec<pb::RankingScore> {
    scores
        .iter()
        .map(|score| pb::RankingScore {
            ranking: i32::from(score.ranking.code()),
            value: score.value,
        })
        .collect()
}

fn to_i32(value: usize) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// The response of PlanFulfillment.
pub fn planned_to_proto(
    planned: Planned,
    availability_sequence: i64,
) -> pb::PlanFulfillmentResponse {
    let Planned { plan, explanation } = planned;
    let lines = plan
        .lines
        .into_iter()
        .map(|line| pb::LinePlan {
            line_index: to_i32(line.line_index),
            sku: line.sku.as_str().to_owned(),
            quantity: line.quantity,
            allocations: line
                .allocations
                .into_iter()
                .map(|allocation| pb::Allocation {
                    location_id: allocation.location_id.into(),
                    quantity: allocation.quantity,
                })
                .collect(),
            backordered_quantity: line.backordered,
            unfulfillable_quantity: line.unfulfillable,
            status: i32::from(line.status.code()),
            unmet_reason: line
                .unmet_reason
                .map_or(0, |reason| i32::from(reason.code())),
        })
        .collect();
    let shipments = plan
        .shipments
        .into_iter()
        .map(|shipment| pb::PlannedShipment {
            location_id: shipment.location_id.into(),
            lines: shipment
                .lines
                .into_iter()
                .map(|line| pb::PlannedShipmentLine {
                    line_index: to_i32(line.line_index),
                    sku: line.sku.as_str().to_owned(),
                    quantity: line.quantity,
                })
                .collect(),
            distance_km: shipment.distance_km,
        })
        .collect();
    let candidates = explanation
        .candidates
        .into_iter()
        .map(|candidate| pb::CandidateEvaluation {
            location_id: candidate.location_id.into(),
            outcome: i32::from(candidate.outcome.code()),
            removed_by: candidate
                .removed_by
                .map_or(0, |kind| i32::from(kind.code())),
            removed_detail: candidate.removed_detail,
            scores: scores_to_proto(&candidate.scores),
            rank: i32::try_from(candidate.rank).unwrap_or(i32::MAX),
            coverage: candidate
                .coverage
                .into_iter()
                .map(|(line, usable)| pb::LineCoverage {
                    line_index: to_i32(line),
                    usable_quantity: usable,
                })
                .collect(),
            distance_km: candidate.distance_km,
        })
        .collect();
    let rounds = explanation
        .rounds
        .into_iter()
        .map(|round| pb::PlanRound {
            round: i32::try_from(round.round).unwrap_or(i32::MAX),
            chosen_location_id: round.chosen.into(),
            chosen_scores: scores_to_proto(&round.chosen_scores),
            runner_up_location_id: round.runner_up.map(String::from).unwrap_or_default(),
            runner_up_scores: scores_to_proto(&round.runner_up_scores),
            decided_by: round.decided_by.map_or(0, |kind| i32::from(kind.code())),
            summary: round.summary,
        })
        .collect();
    pb::PlanFulfillmentResponse {
        plan: Some(pb::FulfillmentPlan {
            outcome: i32::from(plan.outcome.code()),
            lines,
            shipments,
        }),
        explanation: Some(pb::PlanExplanation {
            policy_id: explanation.policy_id,
            policy_version: explanation.policy_version,
            candidates,
            removed_counts: explanation
                .removed_counts
                .into_iter()
                .map(|(filter, count)| pb::RemovedCount {
                    filter: i32::from(filter.code()),
                    count: i32::try_from(count).unwrap_or(i32::MAX),
                })
                .collect(),
            rounds,
            summary: explanation.summary,
            availability_sequence,
        }),
    }
}
