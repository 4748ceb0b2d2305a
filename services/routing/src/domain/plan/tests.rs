//! Scenarios of the planner, each a table of inputs and the plan and
//! explanation they must give, checked by [`Scenario::check`].
//!
//! The map: a customer in Berlin (52.50, 13.40); warehouses in Potsdam (~25 km),
//! Hamburg (~255 km) and Munich (~500 km); stores in Berlin Mitte and Hamburg.

use super::*;
use crate::domain::{
    location::{LocationAttributes, LocationKind, StockAt},
    policy::PolicySpec,
};

const BERLIN: (f64, f64) = (52.50, 13.40);
const POTSDAM: (f64, f64) = (52.39, 13.06);
const HAMBURG: (f64, f64) = (53.55, 9.99);
const MUNICH: (f64, f64) = (48.14, 11.58);
const MITTE: (f64, f64) = (52.52, 13.41);
const PARIS: (f64, f64) = (48.86, 2.35);

fn id(value: &str) -> LocationId {
    LocationId::parse(value).unwrap()
}

/// A site that ships, in Germany, with no stock until given some.
fn site(location_id: &str, (latitude, longitude): (f64, f64)) -> Site {
    Site {
        location_id: id(location_id),
        kind: LocationKind::Warehouse,
        active: true,
        ships_to_customers: true,
        store_pickup: false,
        country: CountryCode::parse("DE").unwrap(),
        region: "BE".into(),
        geo: Some(GeoPoint::new(latitude, longitude).unwrap()),
        attributes: LocationAttributes::default(),
        orders_today: 0,
        stock: Vec::new(),
    }
}

trait SiteExt {
    /// Available units per line, by line index.
    fn stock(self, available: &[i32]) -> Site;
    fn safety(self, line: usize, units: i32) -> Site;
    fn store(self) -> Site;
    fn inactive(self) -> Site;
    fn capacity(self, daily: u32, used: u32) -> Site;
    fn serving(self, countries: &[&str]) -> Site;
    fn priority(self, priority: u16) -> Site;
    fn region(self, country: &str, region: &str) -> Site;
}

impl SiteExt for Site {
    fn stock(mut self, available: &[i32]) -> Site {
        self.stock = available
            .iter()
            .map(|&available| StockAt {
                available,
                safety_stock: 0,
            })
            .collect();
        self
    }
    fn safety(mut self, line: usize, units: i32) -> Site {
        self.stock[line].safety_stock = units;
        self
    }
    fn store(mut self) -> Site {
        self.kind = LocationKind::Store;
        self.store_pickup = true;
        self
    }
    fn inactive(mut self) -> Site {
        self.active = false;
        self
    }
    fn capacity(mut self, daily: u32, used: u32) -> Site {
        self.attributes.daily_capacity = Some(daily);
        self.orders_today = used;
        self
    }
    fn serving(mut self, countries: &[&str]) -> Site {
        self.attributes.countries_served = countries
            .iter()
            .map(|code| CountryCode::parse(code).unwrap())
            .collect();
        self
    }
    fn priority(mut self, priority: u16) -> Site {
        self.attributes.priority = priority;
        self
    }
    fn region(mut self, country: &str, region: &str) -> Site {
        self.country = CountryCode::parse(country).unwrap();
        self.region = region.into();
        self
    }
}

/// Shipping to Berlin, DE, the given units of `sku-0`, `sku-1`, ...
fn ship(quantities: &[i32]) -> PlanRequest {
    PlanRequest {
        order_id: "ord-1".into(),
        lines: quantities
            .iter()
            .enumerate()
            .map(|(index, &quantity)| Line {
                sku: Sku::parse(&format!("sku-{index}")).unwrap(),
                quantity: Quantity::new(quantity).unwrap(),
            })
            .collect(),
        destination: Destination {
            country: Some(CountryCode::parse("DE").unwrap()),
            region: "BE".into(),
            geo: Some(GeoPoint::new(BERLIN.0, BERLIN.1).unwrap()),
        },
        delivery: Delivery::Ship,
        excluded: HashSet::new(),
        detail: Detail::Full,
    }
}

fn pickup(quantities: &[i32], store: Option<&str>) -> PlanRequest {
    PlanRequest {
        delivery: Delivery::Pickup {
            store: store.map(id),
        },
        ..ship(quantities)
    }
}

fn policy(spec: PolicySpec) -> Policy {
    Policy {
        policy_id: "default".into(),
        version: 1,
        spec,
    }
}

fn default_spec() -> PolicySpec {
    PolicySpec::default_policy()
}

use CandidateOutcome::{Chosen, NotChosen, Removed};

/// One scenario: inputs, and what the plan and explanation must say.
struct Scenario {
    spec: PolicySpec,
    request: PlanRequest,
    sites: Vec<Site>,
    outcome: Outcome,
    /// (location, [(line index, units)]) in the order chosen.
    shipments: Vec<(&'static str, Vec<(usize, i32)>)>,
    /// (line index, status, reason, open units) of every line not allocated.
    unmet: Vec<(usize, LineStatus, UnmetReason, i32)>,
    /// (location, outcome, removed by) in explanation order.
    candidates: Vec<(&'static str, CandidateOutcome, Option<FilterKind>)>,
    /// (location, removed detail) of some removed candidates.
    details: Vec<(&'static str, &'static str)>,
    removed_counts: Vec<(FilterKind, u32)>,
    /// (chosen, runner-up, decided by) per round.
    rounds: Vec<(&'static str, Option<&'static str>, Option<RankingKind>)>,
    /// Phrases the explanation's summary holds.
    summary: Vec<&'static str>,
}

impl Scenario {
    fn check(self) -> Planned {
        let planned = plan(&policy(self.spec.clone()), &self.request, &self.sites).unwrap();
        let Planned { plan, explanation } = &planned;

        assert_eq!(plan.outcome, self.outcome, "outcome; {explanation:#?}");
        let shipments: Vec<(&str, Vec<(usize, i32)>)> = plan
            .shipments
            .iter()
            .map(|shipment| {
                let lines = shipment
                    .lines
                    .iter()
                    .map(|line| (line.line_index, line.quantity))
                    .collect();
                (shipment.location_id.as_str(), lines)
            })
            .collect();
        assert_eq!(shipments, self.shipments, "shipments; {explanation:#?}");
        let unmet: Vec<_> = plan
            .lines
            .iter()
            .filter(|line| line.status != LineStatus::Allocated)
            .map(|line| {
                let reason = line.unmet_reason.unwrap();
                (
                    line.line_index,
                    line.status,
                    reason,
                    line.backordered + line.unfulfillable,
                )
            })
            .collect();
        assert_eq!(unmet, self.unmet, "unmet lines");
        for line in &plan.lines {
            let allocated: i32 = line.allocations.iter().map(|a| a.quantity).sum();
            assert_eq!(
                allocated + line.backordered + line.unfulfillable,
                line.quantity,
                "every unit of line {} is accounted for",
                line.line_index
            );
        }

        let candidates: Vec<_> = explanation
            .candidates
            .iter()
            .map(|c| (c.location_id.as_str(), c.outcome, c.removed_by))
            .collect();
        assert_eq!(candidates, self.candidates, "candidates");
        for (location, detail) in &self.details {
            let candidate = explanation
                .candidates
                .iter()
                .find(|c| c.location_id.as_str() == *location)
                .unwrap();
            assert_eq!(candidate.removed_detail, *detail, "detail of {location}");
        }
        for candidate in &explanation.candidates {
            assert_eq!(
                candidate.rank == 0,
                candidate.outcome == Removed,
                "only removed candidates lack a rank: {candidate:?}"
            );
            assert_eq!(
                candidate.scores.len(),
                if candidate.outcome == Removed {
                    0
                } else {
                    self.spec.rankings.len()
                },
                "scores of {candidate:?}"
            );
        }
        assert_eq!(
            explanation.removed_counts, self.removed_counts,
            "removed counts"
        );
        let rounds: Vec<_> = explanation
            .rounds
            .iter()
            .map(|round| {
                (
                    round.chosen.as_str(),
                    round.runner_up.as_ref().map(LocationId::as_str),
                    round.decided_by,
                )
            })
            .collect();
        assert_eq!(rounds, self.rounds, "rounds");
        for phrase in &self.summary {
            assert!(
                explanation.summary.contains(phrase),
                "summary {:?} lacks {phrase:?}",
                explanation.summary
            );
        }
        assert_eq!(explanation.policy_id, "default");
        assert_eq!(explanation.policy_version, 1);
        planned
    }
}

#[test]
fn the_nearest_location_wins() {
    let planned = Scenario {
        spec: default_spec(),
        request: ship(&[1, 2]),
        sites: vec![
            site("wh-hamburg", HAMBURG).stock(&[5, 5]),
            site("wh-munich", MUNICH).stock(&[5, 5]),
            site("wh-potsdam", POTSDAM).stock(&[5, 5]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-potsdam", vec![(0, 1), (1, 2)])],
        unmet: vec![],
        candidates: vec![
            ("wh-potsdam", Chosen, None),
            ("wh-hamburg", NotChosen, None),
            ("wh-munich", NotChosen, None),
        ],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![(
            "wh-potsdam",
            Some("wh-hamburg"),
            Some(RankingKind::Distance),
        )],
        summary: vec![
            "wh-potsdam ships every line in one shipment",
            "policy default v1",
        ],
    }
    .check();

    let explanation = &planned.explanation;
    let ranks: Vec<u32> = explanation.candidates.iter().map(|c| c.rank).collect();
    assert_eq!(ranks, [1, 2, 3]);
    let round = &explanation.rounds[0];
    assert_eq!(round.chosen_scores[0].ranking, RankingKind::FewestShipments);
    assert_eq!(round.chosen_scores[0].value, 2.0);
    let (near, far) = (
        round.chosen_scores[1].value,
        round.runner_up_scores[1].value,
    );
    assert!(
        (20.0..30.0).contains(&near) && (240.0..270.0).contains(&far),
        "{near} {far}"
    );
    assert!(
        round
            .summary
            .starts_with("wh-potsdam: ships all 2 lines, 2"),
        "{}",
        round.summary
    );
    let shipment = &planned.plan.shipments[0];
    assert_eq!(shipment.distance_km, Some(near));
}

#[test]
fn one_farther_location_that_has_everything_beats_a_nearer_split() {
    // Distance first: the rule, not the ranking, makes one shipment win.
    let spec = PolicySpec {
        rankings: vec![Ranking::Distance { bucket_km: 0 }],
        ..default_spec()
    };
    Scenario {
        spec,
        request: ship(&[1, 1]),
        sites: vec![
            site("wh-hamburg", HAMBURG).stock(&[0, 3]),
            site("wh-munich", MUNICH).stock(&[2, 2]),
            site("wh-potsdam", POTSDAM).stock(&[3, 0]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-munich", vec![(0, 1), (1, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-munich", Chosen, None),
            ("wh-potsdam", NotChosen, None),
            ("wh-hamburg", NotChosen, None),
        ],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![(
            "wh-munich",
            Some("wh-potsdam"),
            Some(RankingKind::FewestShipments),
        )],
        summary: vec!["wh-munich ships every line in one shipment"],
    }
    .check();
}

#[test]
fn an_order_is_split_only_when_no_single_location_has_everything() {
    Scenario {
        spec: default_spec(),
        request: ship(&[1, 1]),
        sites: vec![
            site("wh-hamburg", HAMBURG).stock(&[0, 3]),
            site("wh-potsdam", POTSDAM).stock(&[3, 0]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-potsdam", vec![(0, 1)]), ("wh-hamburg", vec![(1, 1)])],
        unmet: vec![],
        candidates: vec![("wh-potsdam", Chosen, None), ("wh-hamburg", Chosen, None)],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![
            (
                "wh-potsdam",
                Some("wh-hamburg"),
                Some(RankingKind::Distance),
            ),
            ("wh-hamburg", None, None),
        ],
        summary: vec!["split over 2 locations (wh-potsdam, wh-hamburg)"],
    }
    .check();
}

#[test]
fn a_line_is_split_across_locations_only_when_the_policy_allows_it() {
    let sites = vec![
        site("wh-hamburg", HAMBURG).stock(&[2]),
        site("wh-potsdam", POTSDAM).stock(&[2]),
    ];
    Scenario {
        spec: default_spec(),
        request: ship(&[4]),
        sites: sites.clone(),
        outcome: Outcome::Complete,
        shipments: vec![("wh-potsdam", vec![(0, 2)]), ("wh-hamburg", vec![(0, 2)])],
        unmet: vec![],
        candidates: vec![("wh-potsdam", Chosen, None), ("wh-hamburg", Chosen, None)],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![
            (
                "wh-potsdam",
                Some("wh-hamburg"),
                Some(RankingKind::Distance),
            ),
            ("wh-hamburg", None, None),
        ],
        summary: vec!["split over 2 locations"],
    }
    .check();

    Scenario {
        spec: PolicySpec {
            allow_line_split: false,
            ..default_spec()
        },
        request: ship(&[4]),
        sites,
        outcome: Outcome::Unfulfillable,
        shipments: vec![],
        unmet: vec![(
            0,
            LineStatus::Unfulfillable,
            UnmetReason::LineSplitNotAllowed,
            4,
        )],
        candidates: vec![
            ("wh-potsdam", NotChosen, None),
            ("wh-hamburg", NotChosen, None),
        ],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![],
        summary: vec!["sku-0 x4 unfulfillable (line split not allowed)"],
    }
    .check();
}

#[test]
fn daily_capacity_and_safety_stock_remove_locations_and_shrink_what_is_usable() {
    let planned = Scenario {
        spec: default_spec(),
        request: ship(&[2]),
        sites: vec![
            site("wh-berlin", BERLIN).stock(&[9]).capacity(5, 5),
            site("wh-hamburg", HAMBURG).stock(&[2]).safety(0, 2),
            site("wh-munich", MUNICH).stock(&[2]),
            site("wh-potsdam", POTSDAM).stock(&[3]).safety(0, 2),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-munich", vec![(0, 2)])],
        unmet: vec![],
        candidates: vec![
            ("wh-munich", Chosen, None),
            ("wh-potsdam", NotChosen, None),
            ("wh-berlin", Removed, Some(FilterKind::DailyCapacity)),
            ("wh-hamburg", Removed, Some(FilterKind::SafetyStock)),
        ],
        details: vec![
            ("wh-berlin", "capacity left 0, needs 1"),
            ("wh-hamburg", "no sellable units once safety stock is kept"),
        ],
        removed_counts: vec![(FilterKind::DailyCapacity, 1), (FilterKind::SafetyStock, 1)],
        rounds: vec![(
            "wh-munich",
            Some("wh-potsdam"),
            Some(RankingKind::FewestShipments),
        )],
        summary: vec![
            "wh-munich ships every line",
            "4 locations looked at, 2 removed",
        ],
    }
    .check();

    // Potsdam keeps 2 of its 3 units back, so it cannot ship both.
    let potsdam = &planned.explanation.candidates[1];
    assert_eq!(potsdam.coverage, [(0, 1)]);
    let berlin = &planned.explanation.candidates[2];
    assert_eq!(
        berlin.coverage,
        [(0, 9)],
        "stock was looked at before capacity"
    );
}

#[test]
fn a_location_that_does_not_serve_the_destination_country_is_removed() {
    let mut request = ship(&[1]);
    request.destination = Destination {
        country: Some(CountryCode::parse("FR").unwrap()),
        region: String::new(),
        geo: Some(GeoPoint::new(PARIS.0, PARIS.1).unwrap()),
    };
    Scenario {
        spec: default_spec(),
        request,
        sites: vec![
            site("wh-hamburg", HAMBURG)
                .stock(&[1])
                .serving(&["DE", "FR"]),
            site("wh-potsdam", POTSDAM).stock(&[1]),
            site("wh-vienna", MUNICH)
                .stock(&[1])
                .region("AT", "9")
                .serving(&["AT"]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-hamburg", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-hamburg", Chosen, None),
            ("wh-potsdam", Removed, Some(FilterKind::DestinationCountry)),
            ("wh-vienna", Removed, Some(FilterKind::DestinationCountry)),
        ],
        details: vec![
            ("wh-potsdam", "serves DE, not FR"),
            ("wh-vienna", "serves AT, not FR"),
        ],
        removed_counts: vec![(FilterKind::DestinationCountry, 2)],
        rounds: vec![("wh-hamburg", None, None)],
        summary: vec!["wh-hamburg ships every line"],
    }
    .check();
}

#[test]
fn pickup_happens_at_the_chosen_store_only() {
    Scenario {
        spec: default_spec(),
        request: pickup(&[1], Some("st-hamburg")),
        sites: vec![
            site("st-hamburg", HAMBURG).stock(&[1]).store(),
            site("st-mitte", MITTE).stock(&[4]).store(),
            site("wh-potsdam", POTSDAM).stock(&[9]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("st-hamburg", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("st-hamburg", Chosen, None),
            ("st-mitte", Removed, Some(FilterKind::PickupStoreNotChosen)),
            (
                "wh-potsdam",
                Removed,
                Some(FilterKind::PickupStoreNotChosen),
            ),
        ],
        details: vec![("st-mitte", "pickup at st-hamburg was chosen")],
        removed_counts: vec![(FilterKind::PickupStoreNotChosen, 2)],
        rounds: vec![("st-hamburg", None, None)],
        summary: vec!["st-hamburg ships every line in one shipment"],
    }
    .check();
}

#[test]
fn pickup_without_a_chosen_store_goes_to_the_nearest_store_with_everything() {
    Scenario {
        spec: default_spec(),
        request: pickup(&[2, 1], None),
        sites: vec![
            site("st-hamburg", HAMBURG).stock(&[2, 1]).store(),
            site("st-mitte", MITTE).stock(&[2, 1]).store(),
            site("st-spandau", POTSDAM).stock(&[1, 1]).store(),
            site("wh-potsdam", POTSDAM).stock(&[9, 9]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("st-mitte", vec![(0, 2), (1, 1)])],
        unmet: vec![],
        candidates: vec![
            ("st-mitte", Chosen, None),
            ("st-hamburg", NotChosen, None),
            ("st-spandau", NotChosen, None),
            ("wh-potsdam", Removed, Some(FilterKind::FulfillmentMethod)),
        ],
        details: vec![("wh-potsdam", "offers no store pickup")],
        removed_counts: vec![(FilterKind::FulfillmentMethod, 1)],
        rounds: vec![("st-mitte", Some("st-hamburg"), Some(RankingKind::Distance))],
        summary: vec!["st-mitte ships every line"],
    }
    .check();
}

#[test]
fn a_chosen_pickup_store_must_be_an_active_pickup_store() {
    let sites = vec![
        site("st-closed", MITTE).stock(&[1]).store().inactive(),
        site("wh-potsdam", POTSDAM).stock(&[1]),
    ];
    let policy = policy(default_spec());
    for (store, reason) in [
        ("st-nowhere", "unknown location"),
        ("st-closed", "location is inactive"),
        ("wh-potsdam", "location offers no store pickup"),
    ] {
        let request = pickup(&[1], Some(store));
        assert_eq!(
            plan(&policy, &request, &sites),
            Err(PlanError::PickupStore(reason)),
            "{store}"
        );
    }
}

#[test]
fn nothing_anywhere_leaves_every_line_unfulfillable() {
    Scenario {
        spec: default_spec(),
        request: ship(&[1, 3]),
        sites: vec![
            site("wh-closed", BERLIN).stock(&[5, 5]).inactive(),
            site("wh-hamburg", HAMBURG).stock(&[0, 0]),
            site("wh-potsdam", POTSDAM),
        ],
        outcome: Outcome::Unfulfillable,
        shipments: vec![],
        unmet: vec![
            (
                0,
                LineStatus::Unfulfillable,
                UnmetReason::NoEligibleStock,
                1,
            ),
            (
                1,
                LineStatus::Unfulfillable,
                UnmetReason::NoEligibleStock,
                3,
            ),
        ],
        candidates: vec![
            ("wh-closed", Removed, Some(FilterKind::Inactive)),
            ("wh-hamburg", Removed, Some(FilterKind::NoStock)),
            ("wh-potsdam", Removed, Some(FilterKind::NoStock)),
        ],
        details: vec![
            ("wh-closed", "location is inactive"),
            ("wh-hamburg", "no available units of any line"),
        ],
        removed_counts: vec![(FilterKind::Inactive, 1), (FilterKind::NoStock, 2)],
        rounds: vec![],
        summary: vec![
            "no location can take any line",
            "sku-0 x1 unfulfillable (no eligible stock)",
            "sku-1 x3 unfulfillable (no eligible stock)",
        ],
    }
    .check();
}

#[test]
fn a_compact_explanation_only_counts_inactive_and_stockless_locations() {
    let mut request = ship(&[1]);
    request.detail = Detail::Compact;
    Scenario {
        spec: default_spec(),
        request,
        sites: vec![
            site("wh-closed", BERLIN).stock(&[5]).inactive(),
            site("wh-empty", HAMBURG),
            site("wh-full", MUNICH).stock(&[5]).capacity(0, 0),
            site("wh-potsdam", POTSDAM).stock(&[1]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-potsdam", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-potsdam", Chosen, None),
            ("wh-full", Removed, Some(FilterKind::DailyCapacity)),
        ],
        details: vec![],
        removed_counts: vec![
            (FilterKind::Inactive, 1),
            (FilterKind::NoStock, 1),
            (FilterKind::DailyCapacity, 1),
        ],
        rounds: vec![("wh-potsdam", None, None)],
        summary: vec!["4 locations looked at, 3 removed"],
    }
    .check();
}

#[test]
fn max_shipments_exceeded_leaves_the_rest_unfulfillable_or_backordered() {
    let sites = vec![
        site("wh-hamburg", HAMBURG).stock(&[0, 1, 0]),
        site("wh-munich", MUNICH).stock(&[0, 0, 1]),
        site("wh-potsdam", POTSDAM).stock(&[1, 0, 0]),
    ];
    let two = PolicySpec {
        max_shipments: 2,
        ..default_spec()
    };
    let scenario = |spec: PolicySpec, outcome, status| Scenario {
        spec,
        request: ship(&[1, 1, 1]),
        sites: sites.clone(),
        outcome,
        shipments: vec![("wh-potsdam", vec![(0, 1)]), ("wh-hamburg", vec![(1, 1)])],
        unmet: vec![(2, status, UnmetReason::MaxShipmentsReached, 1)],
        candidates: vec![
            ("wh-potsdam", Chosen, None),
            ("wh-hamburg", Chosen, None),
            ("wh-munich", NotChosen, None),
        ],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![
            (
                "wh-potsdam",
                Some("wh-hamburg"),
                Some(RankingKind::Distance),
            ),
            ("wh-hamburg", Some("wh-munich"), Some(RankingKind::Distance)),
        ],
        summary: vec!["split over 2 locations", "(max shipments reached)"],
    };
    scenario(
        two.clone(),
        Outcome::Unfulfillable,
        LineStatus::Unfulfillable,
    )
    .check();
    let backorder = PolicySpec {
        allow_backorder: true,
        ..two
    };
    scenario(backorder, Outcome::Backordered, LineStatus::Backordered).check();
}

#[test]
fn re_planning_with_an_excluded_location_returns_the_next_best_plan() {
    let mut request = ship(&[1]);
    request.excluded.insert(id("wh-potsdam"));
    Scenario {
        spec: default_spec(),
        request,
        sites: vec![
            site("wh-hamburg", HAMBURG).stock(&[5]),
            site("wh-munich", MUNICH).stock(&[5]),
            site("wh-potsdam", POTSDAM).stock(&[5]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-hamburg", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-hamburg", Chosen, None),
            ("wh-munich", NotChosen, None),
            ("wh-potsdam", Removed, Some(FilterKind::ExcludedLocations)),
        ],
        details: vec![("wh-potsdam", "excluded by the request")],
        removed_counts: vec![(FilterKind::ExcludedLocations, 1)],
        rounds: vec![("wh-hamburg", Some("wh-munich"), Some(RankingKind::Distance))],
        summary: vec!["wh-hamburg ships every line"],
    }
    .check();
}

#[test]
fn excluded_locations_and_fulfillment_method_apply_even_when_the_policy_omits_them() {
    let spec = PolicySpec {
        filters: vec![Filter::SafetyStock],
        ..default_spec()
    };
    let mut request = ship(&[1]);
    request.excluded.insert(id("wh-potsdam"));
    let mut store_only = site("st-mitte", MITTE).stock(&[1]).store();
    store_only.ships_to_customers = false;
    Scenario {
        spec,
        request,
        sites: vec![
            store_only,
            site("wh-munich", MUNICH).stock(&[5]),
            site("wh-potsdam", POTSDAM).stock(&[5]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-munich", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-munich", Chosen, None),
            ("st-mitte", Removed, Some(FilterKind::FulfillmentMethod)),
            ("wh-potsdam", Removed, Some(FilterKind::ExcludedLocations)),
        ],
        details: vec![("st-mitte", "does not ship to customers")],
        removed_counts: vec![
            (FilterKind::ExcludedLocations, 1),
            (FilterKind::FulfillmentMethod, 1),
        ],
        rounds: vec![("wh-munich", None, None)],
        summary: vec![],
    }
    .check();
}

#[test]
fn priority_decides_when_distances_fall_in_the_same_bucket() {
    let spec = PolicySpec {
        rankings: vec![Ranking::Distance { bucket_km: 1000 }, Ranking::Priority],
        ..default_spec()
    };
    Scenario {
        spec,
        request: ship(&[1]),
        sites: vec![
            site("wh-hamburg", HAMBURG).stock(&[5]).priority(10),
            site("wh-potsdam", POTSDAM).stock(&[5]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-hamburg", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-hamburg", Chosen, None),
            ("wh-potsdam", NotChosen, None),
        ],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![(
            "wh-hamburg",
            Some("wh-potsdam"),
            Some(RankingKind::Priority),
        )],
        summary: vec![],
    }
    .check();
}

#[test]
fn without_coordinates_the_same_region_beats_the_same_country_beats_abroad() {
    let mut request = ship(&[1]);
    request.destination.geo = None;
    let spec = PolicySpec {
        filters: vec![],
        ..default_spec()
    };
    let planned = Scenario {
        spec,
        request,
        sites: vec![
            site("wh-a-vienna", MUNICH).stock(&[5]).region("AT", "9"),
            site("wh-b-munich", MUNICH).stock(&[5]).region("DE", "BY"),
            site("wh-c-berlin", BERLIN).stock(&[5]),
        ],
        outcome: Outcome::Complete,
        shipments: vec![("wh-c-berlin", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![
            ("wh-c-berlin", Chosen, None),
            ("wh-b-munich", NotChosen, None),
            ("wh-a-vienna", NotChosen, None),
        ],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![(
            "wh-c-berlin",
            Some("wh-b-munich"),
            Some(RankingKind::Distance),
        )],
        summary: vec![],
    }
    .check();
    let classes: Vec<f64> = planned
        .explanation
        .candidates
        .iter()
        .map(|c| c.scores[1].value)
        .collect();
    assert_eq!(classes, [0.0, 1.0, 2.0]);
    assert!(planned.plan.shipments[0].distance_km.is_none());
    assert!(
        planned.explanation.rounds[0]
            .summary
            .contains("same country and region vs same country"),
        "{}",
        planned.explanation.rounds[0].summary
    );
}

#[test]
fn equal_locations_fall_to_the_tie_breaker() {
    let sites = vec![
        site("wh-b", POTSDAM).stock(&[5]),
        site("wh-a", POTSDAM).stock(&[5]),
    ];
    Scenario {
        spec: default_spec(),
        request: ship(&[1]),
        sites: sites.clone(),
        outcome: Outcome::Complete,
        shipments: vec![("wh-a", vec![(0, 1)])],
        unmet: vec![],
        candidates: vec![("wh-a", Chosen, None), ("wh-b", NotChosen, None)],
        details: vec![],
        removed_counts: vec![],
        rounds: vec![("wh-a", Some("wh-b"), Some(RankingKind::TieBreaker))],
        summary: vec![],
    }
    .check();

    // The order hash gives the same order the same answer, and spreads orders.
    let policy = policy(PolicySpec {
        tie_breaker: TieBreaker::OrderHash,
        ..default_spec()
    });
    let mut winners = HashSet::new();
    for order in 0..20 {
        let mut request = ship(&[1]);
        request.order_id = format!("ord-{order}");
        let first = plan(&policy, &request, &sites).unwrap();
        let again = plan(&policy, &request, &sites).unwrap();
        assert_eq!(first, again);
        assert_eq!(
            first.explanation.rounds[0].decided_by,
            Some(RankingKind::TieBreaker)
        );
        winners.insert(first.plan.shipments[0].location_id.clone());
    }
    assert_eq!(winners.len(), 2, "20 orders all went to {winners:?}");
}

#[test]
fn the_plan_does_not_depend_on_the_order_of_the_sites() {
    let mut sites = vec![
        site("wh-hamburg", HAMBURG).stock(&[0, 3, 1]),
        site("wh-munich", MUNICH).stock(&[2, 2, 0]),
        site("wh-potsdam", POTSDAM).stock(&[3, 0, 0]).capacity(1, 1),
        site("wh-twin", POTSDAM).stock(&[1, 0, 1]),
        site("wh-gone", BERLIN).stock(&[9, 9, 9]).inactive(),
    ];
    let policy = policy(default_spec());
    let request = ship(&[2, 2, 1]);
    let forward = plan(&policy, &request, &sites).unwrap();
    sites.reverse();
    let backward = plan(&policy, &request, &sites).unwrap();
    assert_eq!(forward, backward);
    assert_eq!(forward.plan.outcome, Outcome::Complete);
}
