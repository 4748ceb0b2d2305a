//! The order's types and rules, free of gRPC and SQL.
//!
//! - [`values`]: validated values of an order (email, phone, tag, currency,
//!   money, external reference) and the raw card number check.
//! - [`status`]: the order and line state machines, how the order's status
//!   follows from its lines' units, and what a MarkStatus fact changes.
//! - [`order`]: a new order as placed, and its totals.
//! - [`timeline`]: the events of an order's timeline.

pub mod order;
pub mod status;
pub mod timeline;
pub mod values;

pub use oms_platform::ids::{Actor, ActorKind, Channel, Invalid, OrderId, Sku};

#[cfg(test)]
mod tests {
    use super::*;
    use oms_platform::assert_code_enum;
    use oms_proto::common::v1 as common;
    use oms_proto::order::v1 as pb;

    #[test]
    fn codes_and_names_are_the_contracts() {
        assert_code_enum!(status::Status => pb::OrderStatus, "ORDER_STATUS_");
        assert_code_enum!(status::Status => pb::LineStatus, "LINE_STATUS_");
        assert_code_enum!(timeline::EventKind => pb::TimelineEventKind, "TIMELINE_EVENT_KIND_");
        assert_code_enum!(timeline::RefKind => pb::ReferenceKind, "REFERENCE_KIND_");
        assert_code_enum!(order::DeliveryMethod => common::DeliveryMethod, "DELIVERY_METHOD_");
    }
}
