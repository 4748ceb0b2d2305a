//! Routing's types and rules, free of gRPC and SQL.
//!
//! - [`ids`]: identifiers and small values that cannot hold an invalid value.
//! - [`policy`]: routing policies, their validation and the built-in default.
//! - [`location`]: what the planner knows about a location.
//! - [`plan`]: the planner, a pure function from policy, request and locations
//!   to a plan and its explanation.

pub mod ids;
pub mod location;
pub mod plan;
pub mod policy;

pub use ids::{Actor, ActorKind, Channel, CountryCode, Invalid, LocationId, Quantity, Sku};
pub use location::{GeoPoint, LocationAttributes, LocationKind, Site, StockAt};
pub use plan::{Delivery, Destination, Detail, Line, PlanError, PlanRequest, Planned, plan};
pub use policy::{Filter, FilterKind, Policy, PolicySpec, Ranking, RankingKind, TieBreaker};

#[cfg(test)]
mod tests {
    use super::*;
    use oms_platform::assert_code_enum;
    use oms_proto::inventory::v1 as inventory;
    use oms_proto::routing::v1 as pb;

    #[test]
    fn codes_and_names_are_the_contracts() {
        assert_code_enum!(FilterKind => pb::FilterKind, "FILTER_KIND_");
        assert_code_enum!(RankingKind => pb::RankingKind, "RANKING_KIND_");
        assert_code_enum!(TieBreaker => pb::TieBreaker, "TIE_BREAKER_");
        assert_code_enum!(plan::Outcome => pb::PlanOutcome, "PLAN_OUTCOME_");
        assert_code_enum!(plan::LineStatus => pb::LinePlanStatus, "LINE_PLAN_STATUS_");
        assert_code_enum!(plan::UnmetReason => pb::UnmetReason, "UNMET_REASON_");
        assert_code_enum!(plan::CandidateOutcome => pb::CandidateOutcome, "CANDIDATE_OUTCOME_");
        assert_code_enum!(LocationKind => inventory::LocationKind, "LOCATION_KIND_");
    }
}
