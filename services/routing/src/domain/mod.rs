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
