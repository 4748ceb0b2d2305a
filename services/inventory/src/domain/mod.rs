//! The inventory's types and rules, free of gRPC and SQL.
//!
//! - [`ids`]: identifiers and quantities that cannot hold an invalid value.
//! - [`location`]: the kinds of site and a location as PutLocation sets it.
//! - [`stock`]: the figures of one (SKU, location) and what follows from them.
//! - [`reservation`]: a reservation's lines and its state machine.
//! - [`group`]: deciding a group of reservations of the same stock rows together.

pub mod group;
pub mod ids;
pub mod location;
pub mod reservation;
pub mod stock;

pub use ids::{Actor, ActorKind, Channel, LocationId, MintedId, OrderId, Quantity, Sku};
pub use reservation::{ReservationLine, ReservationState, Transition};
pub use stock::{AdjustmentReason, MovementKind, StockFigures};

#[cfg(test)]
mod tests {
    use super::*;
    use oms_platform::assert_code_enum;
    use oms_proto::inventory::v1 as pb;

    #[test]
    fn codes_and_names_are_the_contracts() {
        assert_code_enum!(AdjustmentReason => pb::AdjustmentReason, "ADJUSTMENT_REASON_");
        assert_code_enum!(MovementKind => pb::StockMovementKind, "STOCK_MOVEMENT_KIND_");
        assert_code_enum!(location::LocationKind => pb::LocationKind, "LOCATION_KIND_");
        assert_code_enum!(ReservationState => pb::ReservationState, "RESERVATION_STATE_");
    }
}
