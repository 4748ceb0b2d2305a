//! Routing policies: ordered filters, ordered rankings, a tie-breaker and the
//! limits of a plan, with their validation and the built-in default.
//!
//! A spec is stored as JSON (serde) and compared by value, so writing the same
//! spec twice makes no second version.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::ids::LocationId;

/// Most ids an ExcludedLocationsFilter may hold.
pub const MAX_EXCLUDED_IDS: usize = 1000;
/// The id of the default policy.
pub const DEFAULT_POLICY_ID: &str = "default";

/// One filter of a policy. Mirrors `oms.routing.v1.RoutingFilter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Filter {
    /// Removes these locations, and the request's excluded ones.
    ExcludedLocations {
        /// The locations the policy rules out.
        location_ids: Vec<LocationId>,
    },
    /// Removes locations that cannot do the delivery method.
    FulfillmentMethod,
    /// Removes locations that do not serve the destination country (SHIP only).
    DestinationCountry,
    /// Removes locations with less daily capacity left than `min_remaining` (0
    /// counts as 1).
    DailyCapacity {
        /// Capacity that must be left today.
        min_remaining: u32,
    },
    /// Usable units become sellable units; removes locations left with none.
    SafetyStock,
}

impl Filter {
    /// What the filter is called in explanations.
    pub fn kind(&self) -> FilterKind {
        match self {
            Filter::ExcludedLocations { .. } => FilterKind::ExcludedLocations,
            Filter::FulfillmentMethod => FilterKind::FulfillmentMethod,
            Filter::DestinationCountry => FilterKind::DestinationCountry,
            Filter::DailyCapacity { .. } => FilterKind::DailyCapacity,
            Filter::SafetyStock => FilterKind::SafetyStock,
        }
    }
}

oms_platform::code_enum! {
    /// What removed a candidate: a built-in check or a policy filter
    /// (`oms.routing.v1.FilterKind`); the order is the order of the built-in checks.
    pub enum FilterKind {
        /// Built-in: the location is inactive.
        Inactive = 1 => "INACTIVE",
        /// Built-in: pickup at another store was chosen.
        PickupStoreNotChosen = 2 => "PICKUP_STORE_NOT_CHOSEN",
        /// Built-in: no available units of any line.
        NoStock = 3 => "NO_STOCK",
        /// Excluded by the request or the policy.
        ExcludedLocations = 4 => "EXCLUDED_LOCATIONS",
        /// Cannot ship (SHIP) or offer pickup (PICKUP).
        FulfillmentMethod = 5 => "FULFILLMENT_METHOD",
        /// Does not serve the destination country.
        DestinationCountry = 6 => "DESTINATION_COUNTRY",
        /// Too little capacity left today.
        DailyCapacity = 7 => "DAILY_CAPACITY",
        /// Nothing usable once safety stock is kept.
        SafetyStock = 8 => "SAFETY_STOCK",
    }
}

/// One ranking of a policy. Mirrors `oms.routing.v1.RoutingRanking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Ranking {
    /// More open lines shipped in full is better.
    FewestShipments,
    /// Nearer is better; distances in the same `bucket_km` bucket tie.
    Distance {
        /// The width of a bucket, in km; 0 compares exact distances.
        bucket_km: u32,
    },
    /// A lower location priority is better.
    Priority,
    /// More usable units of the open lines is better.
    MostStock,
}

impl Ranking {
    /// What the ranking is called in explanations.
    pub fn kind(&self) -> RankingKind {
        match self {
            Ranking::FewestShipments => RankingKind::FewestShipments,
            Ranking::Distance { .. } => RankingKind::Distance,
            Ranking::Priority => RankingKind::Priority,
            Ranking::MostStock => RankingKind::MostStock,
        }
    }
}

oms_platform::code_enum! {
    /// A ranking, or the tie-breaker, as named in explanations
    /// (`oms.routing.v1.RankingKind`).
    pub enum RankingKind {
        /// [`Ranking::FewestShipments`].
        FewestShipments = 1 => "FEWEST_SHIPMENTS",
        /// [`Ranking::Distance`].
        Distance = 2 => "DISTANCE",
        /// [`Ranking::Priority`].
        Priority = 3 => "PRIORITY",
        /// [`Ranking::MostStock`].
        MostStock = 4 => "MOST_STOCK",
        /// The policy's tie-breaker, after every ranking tied.
        TieBreaker = 5 => "TIE_BREAKER",
    }
}

oms_platform::code_enum! {
    /// The last comparison when every ranking ties (`oms.routing.v1.TieBreaker`).
    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum TieBreaker {
        /// Ascending location id, byte order.
        LocationId = 1 => "LOCATION_ID",
        /// Ascending stable hash of (order id, location id).
        OrderHash = 2 => "ORDER_HASH",
    }
}

/// The editable content of a routing policy. Mirrors `oms.routing.v1.RoutingPolicySpec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    /// Display name, 1 to 128 characters.
    pub name: String,
    /// What the policy is for; may be empty.
    pub description: String,
    /// The filters, in the order they are checked; each kind at most once.
    pub filters: Vec<Filter>,
    /// The rankings, most important first; each kind at most once.
    pub rankings: Vec<Ranking>,
    /// The final comparison.
    pub tie_breaker: TieBreaker,
    /// Most locations one order may ship from, 1 to 20; 1 never splits.
    pub max_shipments: u32,
    /// True lets one line ship from several locations when no single one has it all.
    pub allow_line_split: bool,
    /// True marks units no location can ship as backordered, false as unfulfillable.
    pub allow_backorder: bool,
}

/// A rule a spec breaks: the field path below the spec, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The field path below the spec, e.g. `rankings[1]`.
    pub field: String,
    /// Why.
    pub reason: &'static str,
}

impl PolicySpec {
    /// The policy in force out of the box, as the contract describes it.
    pub fn default_policy() -> PolicySpec {
        PolicySpec {
            name: "Default".to_owned(),
            description: "Ship from one location when possible, the nearest; split only \
                          when no single location has everything."
                .to_owned(),
            filters: vec![
                Filter::ExcludedLocations {
                    location_ids: Vec::new(),
                },
                Filter::FulfillmentMethod,
                Filter::DestinationCountry,
                Filter::DailyCapacity { min_remaining: 1 },
                Filter::SafetyStock,
            ],
            rankings: vec![
                Ranking::FewestShipments,
                Ranking::Distance { bucket_km: 0 },
                Ranking::Priority,
                Ranking::MostStock,
            ],
            tie_breaker: TieBreaker::LocationId,
            max_shipments: 3,
            allow_line_split: true,
            allow_backorder: false,
        }
    }

    /// Every rule the spec breaks; empty when it is valid. Paths are relative to
    /// the spec, e.g. `rankings[1]`.
    pub fn violations(&self) -> Vec<Violation> {
        let mut violations = Vec::new();
        let mut add = |field: String, reason| violations.push(Violation { field, reason });
        let name_length = self.name.chars().count();
        if name_length == 0 || name_length > 128 {
            add("name".to_owned(), "must be 1 to 128 characters");
        }
        if self.description.chars().count() > 1000 {
            add("description".to_owned(), "must be at most 1000 characters");
        }
        let mut filter_kinds = HashSet::new();
        for (index, filter) in self.filters.iter().enumerate() {
            if !filter_kinds.insert(filter.kind()) {
                add(
                    format!("filters[{index}]"),
                    "repeats an earlier filter kind",
                );
            }
            if let Filter::ExcludedLocations { location_ids } = filter {
                if location_ids.len() > MAX_EXCLUDED_IDS {
                    add(
                        format!("filters[{index}].excluded_locations.location_ids"),
                        "must hold at most 1000 ids",
                    );
                }
                let mut seen = HashSet::new();
                for (id_index, id) in location_ids.iter().enumerate() {
                    if !seen.insert(id) {
                        add(
                            format!("filters[{index}].excluded_locations.location_ids[{id_index}]"),
                            "repeats an earlier id",
                        );
                    }
                }
            }
        }
        if self.rankings.is_empty() {
            add("rankings".to_owned(), "must hold at least one ranking");
        }
        let mut ranking_kinds = HashSet::new();
        for (index, ranking) in self.rankings.iter().enumerate() {
            if !ranking_kinds.insert(ranking.kind()) {
                add(
                    format!("rankings[{index}]"),
                    "repeats an earlier ranking kind",
                );
            }
        }
        if !(1..=20).contains(&self.max_shipments) {
            add("max_shipments".to_owned(), "must be 1 to 20");
        }
        violations
    }

    /// True when the policy lists this filter kind.
    pub fn has_filter(&self, kind: FilterKind) -> bool {
        self.filters.iter().any(|filter| filter.kind() == kind)
    }
}

/// A stored version of a policy, as the planner uses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The policy's id.
    pub policy_id: String,
    /// Its version.
    pub version: i32,
    /// What it says.
    pub spec: PolicySpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_valid() {
        assert_eq!(PolicySpec::default_policy().violations(), []);
    }

    #[test]
    fn a_policy_without_rankings_or_with_repeated_kinds_is_refused() {
        let mut spec = PolicySpec::default_policy();
        spec.rankings.clear();
        spec.filters.push(Filter::SafetyStock);
        spec.max_shipments = 0;
        spec.name.clear();
        let fields: Vec<_> = spec.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["name", "filters[5]", "rankings", "max_shipments"]);

        let mut spec = PolicySpec::default_policy();
        spec.rankings.push(Ranking::Distance { bucket_km: 10 });
        let fields: Vec<_> = spec.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["rankings[4]"]);
    }

    #[test]
    fn duplicate_excluded_ids_are_named() {
        let id = LocationId::parse("wh-1").unwrap();
        let mut spec = PolicySpec::default_policy();
        spec.filters[0] = Filter::ExcludedLocations {
            location_ids: vec![id.clone(), id],
        };
        let fields: Vec<_> = spec.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["filters[0].excluded_locations.location_ids[1]"]);
    }

    #[test]
    fn a_spec_survives_its_json_form() {
        let spec = PolicySpec::default_policy();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["filters"][3]["rule"], "daily_capacity");
        let back: PolicySpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
    }
}
