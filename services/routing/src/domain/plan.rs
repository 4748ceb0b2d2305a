//! The planner: a pure function from (policy, request, sites) to a plan and its
//! explanation. No network, no clock, no randomness: the same inputs give the
//! same plan and the same explanation.
//!
//! The steps follow the contract's PlanFulfillment comment:
//! 1. every site goes through the built-in checks (INACTIVE,
//!    PICKUP_STORE_NOT_CHOSEN, NO_STOCK), then the policy's filters in order,
//!    with EXCLUDED_LOCATIONS and FULFILLMENT_METHOD added up front when the
//!    policy does not list them; the first that fails removes the site;
//! 2. the rest are ranked by the policy's rankings, then the tie-breaker;
//! 3. if one candidate can ship every line in full, the best of those ships
//!    everything; only otherwise the order is split in rounds, each taking the
//!    best candidate for what is still open, up to max_shipments locations;
//! 4. what stays open is backordered or unfulfillable, with the reason.
//!
//! Ranking compares integer-valued keys except distance, which is compared with
//! `f64::total_cmp`, so the order is total and deterministic.

#[cfg(test)]
mod tests;

use std::{cmp::Ordering, collections::HashSet, fmt::Write as _};

use super::{
    ids::{CountryCode, LocationId, Quantity, Sku},
    location::{GeoPoint, Site},
    policy::{Filter, FilterKind, Policy, Ranking, RankingKind, TieBreaker},
};

/// One line to fulfil.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The SKU.
    pub sku: Sku,
    /// Units to fulfil.
    pub quantity: Quantity,
}

/// Where the goods go: only what routing uses of the address, never PII.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Destination {
    /// Required for SHIP.
    pub country: Option<CountryCode>,
    /// Region code, may be empty.
    pub region: String,
    /// Coordinates, for distances; without them distance ranks nothing.
    pub geo: Option<GeoPoint>,
}

/// Ship, or pick up at a store (the chosen one, or the best one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Shipped by carrier to the destination.
    Ship,
    /// Picked up at a store.
    Pickup {
        /// The store the customer chose; the best one when `None`.
        store: Option<LocationId>,
    },
}

/// How much of the candidate list the explanation carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Detail {
    /// Every candidate.
    #[default]
    Full,
    /// Candidates removed as INACTIVE or NO_STOCK are only counted.
    Compact,
}

/// A validated PlanFulfillment request.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanRequest {
    /// May be empty; the ORDER_HASH tie-breaker uses it.
    pub order_id: String,
    /// The lines to fulfil, in request order.
    pub lines: Vec<Line>,
    /// Where the goods go.
    pub destination: Destination,
    /// Ship, or pick up at a store.
    pub delivery: Delivery,
    /// Locations the caller rules out (e.g. one that just ran out).
    pub excluded: HashSet<LocationId>,
    /// How much the explanation carries.
    pub detail: Detail,
}

/// Why the request cannot be planned: the chosen pickup store is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The chosen store cannot be used for pickup; the text says why.
    #[error("{0}")]
    PickupStore(&'static str),
}

oms_platform::code_enum! {
    /// The plan as a whole (`oms.routing.v1.PlanOutcome`).
    pub enum Outcome {
        /// Every unit of every line is allocated to a location.
        Complete = 1 => "COMPLETE",
        /// Every unit is allocated or backordered, and some are backordered.
        Backordered = 2 => "BACKORDERED",
        /// Some units can be neither allocated nor backordered.
        Unfulfillable = 3 => "UNFULFILLABLE",
    }
}

oms_platform::code_enum! {
    /// One line's result (`oms.routing.v1.LinePlanStatus`).
    pub enum LineStatus {
        /// Every unit allocated.
        Allocated = 1 => "ALLOCATED",
        /// Some or all units backordered; the rest allocated.
        Backordered = 2 => "BACKORDERED",
        /// Some or all units unfulfillable; the rest allocated.
        Unfulfillable = 3 => "UNFULFILLABLE",
    }
}

oms_platform::code_enum! {
    /// Why units were left open (`oms.routing.v1.UnmetReason`).
    pub enum UnmetReason {
        /// No location left after the filters has usable units of the SKU.
        NoEligibleStock = 1 => "NO_ELIGIBLE_STOCK",
        /// Usable units exist, but at locations beyond the policy's max shipments.
        MaxShipmentsReached = 2 => "MAX_SHIPMENTS_REACHED",
        /// Usable units exist, but no single location has the whole line and
        /// the policy does not split lines.
        LineSplitNotAllowed = 3 => "LINE_SPLIT_NOT_ALLOWED",
    }
}

impl UnmetReason {
    fn words(self) -> &'static str {
        match self {
            UnmetReason::NoEligibleStock => "no eligible stock",
            UnmetReason::MaxShipmentsReached => "max shipments reached",
            UnmetReason::LineSplitNotAllowed => "line split not allowed",
        }
    }
}

/// Units of a line given to one location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// Where the units ship from.
    pub location_id: LocationId,
    /// How many.
    pub quantity: i32,
}

/// The plan of one requested line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePlan {
    /// The line's place in the request, from 0.
    pub line_index: usize,
    /// The SKU.
    pub sku: Sku,
    /// Units requested.
    pub quantity: i32,
    /// In the order the locations were chosen.
    pub allocations: Vec<Allocation>,
    /// Units left for later, when the policy allows backorders.
    pub backordered: i32,
    /// Units neither allocated nor backordered.
    pub unfulfillable: i32,
    /// The line's result.
    pub status: LineStatus,
    /// Why units were left open; `None` when none were.
    pub unmet_reason: Option<UnmetReason>,
}

/// One line of a shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentLine {
    /// The line's place in the request, from 0.
    pub line_index: usize,
    /// The SKU.
    pub sku: Sku,
    /// Units shipped.
    pub quantity: i32,
}

/// What one location ships.
#[derive(Debug, Clone, PartialEq)]
pub struct Shipment {
    /// Where it ships from.
    pub location_id: LocationId,
    /// In request order.
    pub lines: Vec<ShipmentLine>,
    /// From the destination, when both have coordinates.
    pub distance_km: Option<f64>,
}

/// What ships from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The plan as a whole.
    pub outcome: Outcome,
    /// Each line's plan, in request order.
    pub lines: Vec<LinePlan>,
    /// In the order chosen.
    pub shipments: Vec<Shipment>,
}

oms_platform::code_enum! {
    /// What became of a candidate (`oms.routing.v1.CandidateOutcome`).
    pub enum CandidateOutcome {
        /// Removed by a check or filter.
        Removed = 1 => "REMOVED",
        /// Passed every filter but was not chosen.
        NotChosen = 2 => "NOT_CHOSEN",
        /// Chosen to ship part or all of the order.
        Chosen = 3 => "CHOSEN",
    }
}

/// A candidate's score under one ranking, in that ranking's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The ranking scored.
    pub ranking: RankingKind,
    /// The score.
    pub value: f64,
}

/// One location the planner looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The location.
    pub location_id: LocationId,
    /// Removed, not chosen or chosen.
    pub outcome: CandidateOutcome,
    /// The check or filter that removed it.
    pub removed_by: Option<FilterKind>,
    /// Why, in plain words with the values, e.g. "capacity left 0, needs 1";
    /// empty when not removed.
    pub removed_detail: String,
    /// First-round scores, in policy order; empty when removed.
    pub scores: Vec<Score>,
    /// First-round place, 1 = best; 0 when removed.
    pub rank: u32,
    /// (line index, usable units) for lines with usable units.
    pub coverage: Vec<(usize, i32)>,
    /// From the destination, when both have coordinates.
    pub distance_km: Option<f64>,
}

/// One choice of a location.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Its number, from 1.
    pub round: u32,
    /// The location chosen.
    pub chosen: LocationId,
    /// Its scores in this round, in policy order.
    pub chosen_scores: Vec<Score>,
    /// The next best location, if any.
    pub runner_up: Option<LocationId>,
    /// The runner-up's scores, in policy order.
    pub runner_up_scores: Vec<Score>,
    /// `None` without a runner-up.
    pub decided_by: Option<RankingKind>,
    /// Why, in plain words, e.g. "wh-berlin: ships all 3 lines, 120 km vs 340 km".
    pub summary: String,
}

/// Why the plan is what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The policy used.
    pub policy_id: String,
    /// Its version.
    pub policy_version: i32,
    /// Chosen (round order), not chosen (rank order), removed (location id order).
    pub candidates: Vec<Candidate>,
    /// Non-zero removals per check or filter, in check order.
    pub removed_counts: Vec<(FilterKind, u32)>,
    /// Each choice, in order.
    pub rounds: Vec<Round>,
    /// The whole decision in a sentence or two, for timelines and operators.
    pub summary: String,
}

/// A plan and its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    /// What ships from where.
    pub plan: Plan,
    /// Why.
    pub explanation: Explanation,
}

/// The distance score of a site: what is reported and what is compared.
#[derive(Debug, Clone, Copy)]
struct DistanceScore {
    /// km, or the proximity class when there are no coordinates to measure.
    value: f64,
    /// True when `value` is km.
    measured: bool,
    /// 1 for a site without coordinates when the destination has them: it ranks
    /// after every site with them.
    tier: u8,
    /// What is compared: km (bucketed) or the class.
    key: f64,
}

/// A site after the checks and filters.
struct Evaluation<'a> {
    site: &'a Site,
    removed: Option<(FilterKind, String)>,
    /// False when removed before stock was looked at.
    stock_seen: bool,
    /// Usable units per line (step 3 of the contract).
    usable: Vec<i32>,
    distance_km: Option<f64>,
    distance: DistanceScore,
    hash: u64,
}

/// A candidate's standing against the lines still open.
#[derive(Clone, Copy)]
struct Standing {
    /// Index into the evaluations.
    index: usize,
    /// Open lines it can ship in full.
    full_lines: u32,
    /// Usable units of the open lines.
    units: i64,
    /// Ships every open line in full.
    covers_all: bool,
    /// Can take at least one unit under the line-split rule.
    contributes: bool,
}

/// Plans `request` under `policy` over `sites` (every location inventory knows,
/// with each one's stock of each line).
pub fn plan(policy: &Policy, request: &PlanRequest, sites: &[Site]) -> Result<Planned, PlanError> {
    let planner = Planner::new(policy, request);
    planner.check_pickup_store(sites)?;
    Ok(planner.run(sites))
}

struct Planner<'a> {
    policy: &'a Policy,
    request: &'a PlanRequest,
    pickup: bool,
    keep_safety_stock: bool,
    /// The filters in the order they run, always-applied ones included.
    filters: Vec<Filter>,
    policy_excluded: HashSet<&'a LocationId>,
}

impl<'a> Planner<'a> {
    fn new(policy: &'a Policy, request: &'a PlanRequest) -> Self {
        let spec = &policy.spec;
        let mut filters = Vec::with_capacity(spec.filters.len() + 2);
        // Always applied: right after the built-in checks unless the policy
        // places them itself.
        if !spec.has_filter(FilterKind::ExcludedLocations) {
            filters.push(Filter::ExcludedLocations {
                location_ids: Vec::new(),
            });
        }
        if !spec.has_filter(FilterKind::FulfillmentMethod) {
            filters.push(Filter::FulfillmentMethod);
        }
        filters.extend(spec.filters.iter().cloned());
        let policy_excluded = spec
            .filters
            .iter()
            .flat_map(|filter| match filter {
                Filter::ExcludedLocations { location_ids } => location_ids.as_slice(),
                _ => &[],
            })
            .collect();
        Planner {
            policy,
            request,
            pickup: matches!(request.delivery, Delivery::Pickup { .. }),
            keep_safety_stock: spec.has_filter(FilterKind::SafetyStock),
            filters,
            policy_excluded,
        }
    }

    /// A chosen pickup store must exist, be active and offer pickup.
    fn check_pickup_store(&self, sites: &[Site]) -> Result<(), PlanError> {
        let Delivery::Pickup { store: Some(store) } = &self.request.delivery else {
            return Ok(());
        };
        match sites.iter().find(|site| &site.location_id == store) {
            None => Err(PlanError::PickupStore("unknown location")),
            Some(site) if !site.active => Err(PlanError::PickupStore("location is inactive")),
            Some(site) if !site.store_pickup => {
                Err(PlanError::PickupStore("location offers no store pickup"))
            }
            Some(_) => Ok(()),
        }
    }

    fn run(&self, sites: &'a [Site]) -> Planned {
        let evaluations: Vec<Evaluation<'a>> =
            sites.iter().map(|site| self.evaluate(site)).collect();
        let quantities: Vec<i32> = self
            .request
            .lines
            .iter()
            .map(|line| line.quantity.get())
            .collect();

        // Round 1 ranks every candidate; its order is the explanation's rank.
        let mut first: Vec<Standing> = evaluations
            .iter()
            .enumerate()
            .filter(|(_, evaluation)| evaluation.removed.is_none())
            .map(|(index, evaluation)| self.standing(index, evaluation, &quantities))
            .collect();
        let one_shipment = first.iter().any(|standing| standing.covers_all);
        first.sort_by(|a, b| {
            // A candidate that ships everything beats any that does not, whatever
            // the policy's rankings say: a split is the last resort.
            let by_rule = if one_shipment {
                b.covers_all.cmp(&a.covers_all)
            } else {
                Ordering::Equal
            };
            by_rule.then_with(|| self.compare(&evaluations, a, b).0)
        });

        let bound = if self.pickup {
            1
        } else {
            self.policy.spec.max_shipments as usize
        };
        let mut open = quantities.clone();
        let mut used = vec![false; evaluations.len()];
        let mut chosen: Vec<(usize, Vec<i32>)> = Vec::new();
        let mut rounds = Vec::new();

        while open.iter().any(|&units| units > 0) && chosen.len() < bound {
            let (best, runner_up) = if chosen.is_empty() {
                let mut contributing = first.iter().filter(|standing| standing.contributes);
                (contributing.next().copied(), contributing.next().copied())
            } else {
                self.best_two(&evaluations, &used, &open)
            };
            let Some(best) = best else { break };
            let evaluation = &evaluations[best.index];
            let taken: Vec<i32> = open
                .iter()
                .zip(&evaluation.usable)
                .map(|(&open, &usable)| self.take(usable, open))
                .collect();
            let by_rule = chosen.is_empty()
                && one_shipment
                && runner_up.is_some_and(|runner_up| !runner_up.covers_all);
            rounds.push(self.round(
                &evaluations,
                rounds.len() as u32 + 1,
                &best,
                runner_up.as_ref(),
                by_rule,
                &taken,
                &open,
            ));
            for (open, taken) in open.iter_mut().zip(&taken) {
                *open -= taken;
            }
            used[best.index] = true;
            chosen.push((best.index, taken));
        }

        let plan = self.assemble(&evaluations, &quantities, &open, &chosen, &used, bound);
        let explanation = self.explain(&evaluations, &first, &chosen, rounds, &plan);
        Planned { plan, explanation }
    }

    /// Runs the checks and filters on one site.
    fn evaluate(&self, site: &'a Site) -> Evaluation<'a> {
        let request = self.request;
        let distance_km = match (request.destination.geo, site.geo) {
            (Some(destination), Some(geo)) => Some(geo.distance_km(destination)),
            _ => None,
        };
        let mut evaluation = Evaluation {
            site,
            removed: None,
            stock_seen: false,
            usable: Vec::new(),
            distance_km,
            distance: self.distance_score(site, distance_km),
            hash: self.hash(&site.location_id),
        };
        if !site.active {
            evaluation.removed = Some((FilterKind::Inactive, "location is inactive".into()));
            return evaluation;
        }
        if let Delivery::Pickup { store: Some(store) } = &request.delivery
            && &site.location_id != store
        {
            evaluation.removed = Some((
                FilterKind::PickupStoreNotChosen,
                format!("pickup at {store} was chosen"),
            ));
            return evaluation;
        }
        evaluation.stock_seen = true;
        evaluation.usable = (0..request.lines.len())
            .map(|line| {
                let stock = site.stock.get(line).copied().unwrap_or_default();
                if self.keep_safety_stock {
                    stock.sellable()
                } else {
                    stock.available.max(0)
                }
            })
            .collect();
        let any_available = (0..request.lines.len()).any(|line| {
            site.stock
                .get(line)
                .is_some_and(|stock| stock.available > 0)
        });
        if !any_available {
            evaluation.removed =
                Some((FilterKind::NoStock, "no available units of any line".into()));
            return evaluation;
        }
        for filter in &self.filters {
            if let Some(detail) = self.filter_out(filter, &evaluation) {
                evaluation.removed = Some((filter.kind(), detail));
                return evaluation;
            }
        }
        evaluation
    }

    /// Why `filter` removes the site, or `None` when it passes.
    fn filter_out(&self, filter: &Filter, evaluation: &Evaluation<'_>) -> Option<String> {
        let site = evaluation.site;
        match filter {
            Filter::ExcludedLocations { .. } => {
                if self.request.excluded.contains(&site.location_id) {
                    Some("excluded by the request".into())
                } else if self.policy_excluded.contains(&site.location_id) {
                    Some("excluded by the policy".into())
                } else {
                    None
                }
            }
            Filter::FulfillmentMethod => match self.request.delivery {
                Delivery::Ship if !site.ships_to_customers => {
                    Some("does not ship to customers".into())
                }
                Delivery::Pickup { .. } if !site.store_pickup => {
                    Some("offers no store pickup".into())
                }
                _ => None,
            },
            Filter::DestinationCountry => {
                let country = self.request.destination.country?;
                if self.pickup || site.serves(country) {
                    return None;
                }
                let served = if site.attributes.countries_served.is_empty() {
                    site.country.to_string()
                } else {
                    let codes: Vec<&str> = site
                        .attributes
                        .countries_served
                        .iter()
                        .map(CountryCode::as_str)
                        .collect();
                    codes.join(", ")
                };
                Some(format!("serves {served}, not {country}"))
            }
            Filter::DailyCapacity { min_remaining } => {
                let needs = (*min_remaining).max(1);
                let left = site.capacity_left()?;
                (left < needs).then(|| format!("capacity left {left}, needs {needs}"))
            }
            Filter::SafetyStock => evaluation
                .usable
                .iter()
                .all(|&units| units == 0)
                .then(|| "no sellable units once safety stock is kept".into()),
        }
    }

    fn distance_score(&self, site: &Site, distance_km: Option<f64>) -> DistanceScore {
        let bucket_km = self
            .policy
            .spec
            .rankings
            .iter()
            .find_map(|ranking| match ranking {
                Ranking::Distance { bucket_km } => Some(*bucket_km),
                _ => None,
            })
            .unwrap_or(0);
        if let Some(km) = distance_km {
            let key = if bucket_km > 0 {
                (km / f64::from(bucket_km)).floor()
            } else {
                km
            };
            return DistanceScore {
                value: km,
                measured: true,
                tier: 0,
                key,
            };
        }
        let destination = &self.request.destination;
        let class = if destination.country == Some(site.country) {
            if !destination.region.is_empty() && destination.region == site.region {
                0.0
            } else {
                1.0
            }
        } else {
            2.0
        };
        DistanceScore {
            value: class,
            measured: false,
            tier: u8::from(destination.geo.is_some()),
            key: class,
        }
    }

    /// FNV-1a of (order id, location id): stable across builds and machines.
    fn hash(&self, location_id: &LocationId) -> u64 {
        if self.policy.spec.tie_breaker != TieBreaker::OrderHash || self.request.order_id.is_empty()
        {
            return 0;
        }
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let bytes = self.request.order_id.bytes().chain([0xff]);
        for byte in bytes.chain(location_id.as_str().bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }

    /// Units a candidate with `usable` takes of a line with `open` units.
    fn take(&self, usable: i32, open: i32) -> i32 {
        if open <= 0 {
            0
        } else if self.policy.spec.allow_line_split {
            usable.min(open)
        } else if usable >= open {
            open
        } else {
            0
        }
    }

    fn standing(&self, index: usize, evaluation: &Evaluation<'_>, open: &[i32]) -> Standing {
        let mut standing = Standing {
            index,
            full_lines: 0,
            units: 0,
            covers_all: true,
            contributes: false,
        };
        for (&open, &usable) in open.iter().zip(&evaluation.usable) {
            if open <= 0 {
                continue;
            }
            standing.units += i64::from(usable);
            if usable >= open {
                standing.full_lines += 1;
            } else {
                standing.covers_all = false;
            }
            standing.contributes |= self.take(usable, open) > 0;
        }
        standing
    }

    /// Orders two candidates, better first, and says which ranking decided.
    fn compare(
        &self,
        evaluations: &[Evaluation<'_>],
        a: &Standing,
        b: &Standing,
    ) -> (Ordering, RankingKind) {
        let (ea, eb) = (&evaluations[a.index], &evaluations[b.index]);
        for ranking in &self.policy.spec.rankings {
            let order = match ranking {
                Ranking::FewestShipments => b.full_lines.cmp(&a.full_lines),
                Ranking::Distance { .. } => ea
                    .distance
                    .tier
                    .cmp(&eb.distance.tier)
                    .then(ea.distance.key.total_cmp(&eb.distance.key)),
                Ranking::Priority => ea
                    .site
                    .attributes
                    .priority
                    .cmp(&eb.site.attributes.priority),
                Ranking::MostStock => b.units.cmp(&a.units),
            };
            if order != Ordering::Equal {
                return (order, ranking.kind());
            }
        }
        let by_id = ea.site.location_id.cmp(&eb.site.location_id);
        let order = match self.policy.spec.tie_breaker {
            TieBreaker::LocationId => by_id,
            TieBreaker::OrderHash => ea.hash.cmp(&eb.hash).then(by_id),
        };
        (order, RankingKind::TieBreaker)
    }

    /// The best and the next best unused candidates for what is open.
    fn best_two(
        &self,
        evaluations: &[Evaluation<'_>],
        used: &[bool],
        open: &[i32],
    ) -> (Option<Standing>, Option<Standing>) {
        let mut best: Option<Standing> = None;
        let mut second: Option<Standing> = None;
        for (index, evaluation) in evaluations.iter().enumerate() {
            if used[index] || evaluation.removed.is_some() {
                continue;
            }
            let standing = self.standing(index, evaluation, open);
            if !standing.contributes {
                continue;
            }
            let better = |than: &Option<Standing>| {
                than.as_ref().is_none_or(|than| {
                    self.compare(evaluations, &standing, than).0 == Ordering::Less
                })
            };
            if better(&best) {
                second = best;
                best = Some(standing);
            } else if better(&second) {
                second = Some(standing);
            }
        }
        (best, second)
    }

    fn scores(&self, evaluations: &[Evaluation<'_>], standing: &Standing) -> Vec<Score> {
        let evaluation = &evaluations[standing.index];
        self.policy
            .spec
            .rankings
            .iter()
            .map(|ranking| Score {
                ranking: ranking.kind(),
                value: match ranking {
                    Ranking::FewestShipments => f64::from(standing.full_lines),
                    Ranking::Distance { .. } => evaluation.distance.value,
                    Ranking::Priority => f64::from(evaluation.site.attributes.priority),
                    // Units of at most 200 lines of i32: exact in an f64.
                    Ranking::MostStock => standing.units as f64,
                },
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments, reason = "one round's whole context")]
    fn round(
        &self,
        evaluations: &[Evaluation<'_>],
        number: u32,
        best: &Standing,
        runner_up: Option<&Standing>,
        by_rule: bool,
        taken: &[i32],
        open: &[i32],
    ) -> Round {
        let chosen = &evaluations[best.index];
        let decided_by = runner_up.map(|runner_up| {
            if by_rule {
                RankingKind::FewestShipments
            } else {
                self.compare(evaluations, best, runner_up).1
            }
        });
        let open_lines = open.iter().filter(|&&units| units > 0).count();
        let taken_lines = taken.iter().filter(|&&units| units > 0).count();
        let taken_units: i32 = taken.iter().sum();
        let mut summary = format!("{}: ", chosen.site.location_id);
        if number == 1 && taken_lines == open_lines && best.covers_all {
            let _ = write!(summary, "ships all {open_lines} lines");
        } else {
            let _ = write!(
                summary,
                "takes {taken_units} units of {taken_lines} of {open_lines} open lines"
            );
        }
        match (runner_up, decided_by) {
            (Some(runner_up), Some(kind)) => {
                let other = &evaluations[runner_up.index];
                let why = match kind {
                    RankingKind::FewestShipments => format!(
                        "{} lines in full vs {}",
                        best.full_lines, runner_up.full_lines
                    ),
                    RankingKind::Distance => format!(
                        "{} vs {}",
                        distance_words(&chosen.distance),
                        distance_words(&other.distance)
                    ),
                    RankingKind::Priority => format!(
                        "priority {} vs {}",
                        chosen.site.attributes.priority, other.site.attributes.priority
                    ),
                    RankingKind::MostStock => {
                        format!("{} units vs {}", best.units, runner_up.units)
                    }
                    RankingKind::TieBreaker => match self.policy.spec.tie_breaker {
                        TieBreaker::LocationId => "tie on every ranking, location id first".into(),
                        TieBreaker::OrderHash => "tie on every ranking, order hash first".into(),
                    },
                };
                let _ = write!(summary, ", {why} (runner-up {})", other.site.location_id);
            }
            _ => summary.push_str(", the only candidate"),
        }
        Round {
            round: number,
            chosen: chosen.site.location_id.clone(),
            chosen_scores: self.scores(evaluations, best),
            runner_up: runner_up.map(|r| evaluations[r.index].site.location_id.clone()),
            runner_up_scores: runner_up
                .map(|r| self.scores(evaluations, r))
                .unwrap_or_default(),
            decided_by,
            summary,
        }
    }

    /// The plan per line and per location, and why open units stayed open.
    fn assemble(
        &self,
        evaluations: &[Evaluation<'_>],
        quantities: &[i32],
        open: &[i32],
        chosen: &[(usize, Vec<i32>)],
        used: &[bool],
        bound: usize,
    ) -> Plan {
        let spec = &self.policy.spec;
        let hit_bound = chosen.len() >= bound;
        let mut lines = Vec::with_capacity(quantities.len());
        for (line_index, line) in self.request.lines.iter().enumerate() {
            let allocations: Vec<Allocation> = chosen
                .iter()
                .filter(|(_, taken)| taken[line_index] > 0)
                .map(|(index, taken)| Allocation {
                    location_id: evaluations[*index].site.location_id.clone(),
                    quantity: taken[line_index],
                })
                .collect();
            let left = open[line_index];
            let unmet_reason = (left > 0).then(|| {
                let candidates = evaluations
                    .iter()
                    .enumerate()
                    .filter(|(_, evaluation)| evaluation.removed.is_none());
                let mut unused_could_take = false;
                let mut anyone_holds = false;
                for (index, evaluation) in candidates {
                    let usable = evaluation.usable[line_index];
                    anyone_holds |= usable > 0;
                    unused_could_take |= !used[index] && self.take(usable, left) > 0;
                }
                if !self.pickup && hit_bound && unused_could_take {
                    UnmetReason::MaxShipmentsReached
                } else if !spec.allow_line_split && anyone_holds {
                    UnmetReason::LineSplitNotAllowed
                } else {
                    UnmetReason::NoEligibleStock
                }
            });
            let (backordered, unfulfillable, status) = match (left > 0, spec.allow_backorder) {
                (false, _) => (0, 0, LineStatus::Allocated),
                (true, true) => (left, 0, LineStatus::Backordered),
                (true, false) => (0, left, LineStatus::Unfulfillable),
            };
            lines.push(LinePlan {
                line_index,
                sku: line.sku.clone(),
                quantity: line.quantity.get(),
                allocations,
                backordered,
                unfulfillable,
                status,
                unmet_reason,
            });
        }
        let outcome = if lines.iter().any(|line| line.unfulfillable > 0) {
            Outcome::Unfulfillable
        } else if lines.iter().any(|line| line.backordered > 0) {
            Outcome::Backordered
        } else {
            Outcome::Complete
        };
        let shipments = chosen
            .iter()
            .map(|(index, taken)| {
                let evaluation = &evaluations[*index];
                Shipment {
                    location_id: evaluation.site.location_id.clone(),
                    lines: taken
                        .iter()
                        .enumerate()
                        .filter(|(_, units)| **units > 0)
                        .map(|(line_index, units)| ShipmentLine {
                            line_index,
                            sku: self.request.lines[line_index].sku.clone(),
                            quantity: *units,
                        })
                        .collect(),
                    distance_km: evaluation.distance_km,
                }
            })
            .collect();
        Plan {
            outcome,
            lines,
            shipments,
        }
    }

    fn explain(
        &self,
        evaluations: &[Evaluation<'_>],
        first: &[Standing],
        chosen: &[(usize, Vec<i32>)],
        rounds: Vec<Round>,
        plan: &Plan,
    ) -> Explanation {
        let coverage = |evaluation: &Evaluation<'_>| -> Vec<(usize, i32)> {
            if !evaluation.stock_seen {
                return Vec::new();
            }
            evaluation
                .usable
                .iter()
                .enumerate()
                .filter(|(_, units)| **units > 0)
                .map(|(line, units)| (line, *units))
                .collect()
        };
        let mut rank_of = vec![0u32; evaluations.len()];
        for (place, standing) in first.iter().enumerate() {
            rank_of[standing.index] = place as u32 + 1;
        }
        let ranked = |standing: &Standing, outcome| {
            let evaluation = &evaluations[standing.index];
            Candidate {
                location_id: evaluation.site.location_id.clone(),
                outcome,
                removed_by: None,
                removed_detail: String::new(),
                scores: self.scores(evaluations, standing),
                rank: rank_of[standing.index],
                coverage: coverage(evaluation),
                distance_km: evaluation.distance_km,
            }
        };

        let mut candidates = Vec::with_capacity(evaluations.len());
        let mut is_chosen = vec![false; evaluations.len()];
        for (index, _) in chosen {
            is_chosen[*index] = true;
        }
        // Chosen ones in round order, with their first-round standing.
        for (index, _) in chosen {
            if let Some(standing) = first.iter().find(|standing| standing.index == *index) {
                candidates.push(ranked(standing, CandidateOutcome::Chosen));
            }
        }
        for standing in first {
            if !is_chosen[standing.index] {
                candidates.push(ranked(standing, CandidateOutcome::NotChosen));
            }
        }

        let mut removed: Vec<&Evaluation<'_>> = evaluations
            .iter()
            .filter(|evaluation| evaluation.removed.is_some())
            .collect();
        removed.sort_by(|a, b| a.site.location_id.cmp(&b.site.location_id));
        let check_order: Vec<FilterKind> = [
            FilterKind::Inactive,
            FilterKind::PickupStoreNotChosen,
            FilterKind::NoStock,
        ]
        .into_iter()
        .chain(self.filters.iter().map(Filter::kind))
        .collect();
        let mut counts = vec![0u32; check_order.len()];
        for evaluation in &removed {
            let Some((kind, detail)) = &evaluation.removed else {
                continue;
            };
            if let Some(slot) = check_order.iter().position(|k| k == kind) {
                counts[slot] += 1;
            }
            let summarised = matches!(kind, FilterKind::Inactive | FilterKind::NoStock);
            if self.request.detail == Detail::Compact && summarised {
                continue;
            }
            candidates.push(Candidate {
                location_id: evaluation.site.location_id.clone(),
                outcome: CandidateOutcome::Removed,
                removed_by: Some(*kind),
                removed_detail: detail.clone(),
                scores: Vec::new(),
                rank: 0,
                coverage: coverage(evaluation),
                distance_km: evaluation.distance_km,
            });
        }
        let removed_counts = check_order
            .into_iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0)
            .collect();

        let summary = self.summary(plan, evaluations.len(), removed.len());
        Explanation {
            policy_id: self.policy.policy_id.clone(),
            policy_version: self.policy.version,
            candidates,
            removed_counts,
            rounds,
            summary,
        }
    }

    fn summary(&self, plan: &Plan, looked_at: usize, removed: usize) -> String {
        let ids: Vec<&str> = plan
            .shipments
            .iter()
            .map(|shipment| shipment.location_id.as_str())
            .collect();
        let mut summary = match (ids.as_slice(), plan.outcome) {
            ([], _) => "no location can take any line".to_owned(),
            ([only], Outcome::Complete) => format!("{only} ships every line in one shipment"),
            ([only], _) => format!("{only} ships what it can"),
            (many, _) => format!(
                "split over {} locations ({}): no single location can ship every line",
                many.len(),
                many.join(", ")
            ),
        };
        let _ = write!(
            summary,
            "; policy {} v{}; {looked_at} locations looked at, {removed} removed",
            self.policy.policy_id, self.policy.version
        );
        for line in &plan.lines {
            let (units, word) = match line.status {
                LineStatus::Allocated => continue,
                LineStatus::Backordered => (line.backordered, "backordered"),
                LineStatus::Unfulfillable => (line.unfulfillable, "unfulfillable"),
            };
            let reason = line
                .unmet_reason
                .map(UnmetReason::words)
                .unwrap_or_default();
            let _ = write!(summary, "; {} x{units} {word} ({reason})", line.sku);
        }
        summary
    }
}

fn distance_words(distance: &DistanceScore) -> String {
    if distance.measured {
        return format!("{:.0} km", distance.value);
    }
    match distance.value as u8 {
        0 => "same country and region".into(),
        1 => "same country".into(),
        _ => "another country".into(),
    }
}
