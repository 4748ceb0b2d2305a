//! What the order and returns services hear of a shipment: a pure table from
//! what happened to the shipment (a tracking event, a cancel) and which way it
//! goes to the report, if any. The gRPC layer turns a report into the
//! OrderService.MarkStatus or ReturnsService.MarkReturnInTransit message and the
//! store queues it with the change.
//!
//! | fact                                   | OUTBOUND           | RETURN             |
//! |----------------------------------------|--------------------|--------------------|
//! | event that did not apply               | nothing            | nothing            |
//! | applied, to DELIVERED                  | order: DELIVERED   | nothing            |
//! | applied, to EXCEPTION/RETURNED_TO_SENDER | order: the shipment alone | nothing   |
//! | applied, any other, from LABEL_CREATED | order: SHIPPED     | returns: in transit |
//! | applied, any other, from later         | nothing            | nothing            |
//! | cancelled                              | order: cancelled shipment | nothing     |
//!
//! The rows are tried top-down, so a parcel whose first event is DELIVERED
//! reports DELIVERED only.

use super::shipment::ShipmentStatus;

oms_platform::code_enum! {
    /// Which way a shipment goes (`oms.shipping.v1.ShipmentDirection`).
    pub enum Direction {
        /// From a fulfilment location to the customer.
        Outbound = 1 => "SHIPMENT_DIRECTION_OUTBOUND",
        /// From the customer back to a receiving location (a return label).
        Return = 2 => "SHIPMENT_DIRECTION_RETURN",
    }
}

/// What happened to a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact {
    /// A carrier tracking event was recorded.
    Tracked {
        /// Whether it moved the status from `from` to `to`.
        applied: bool,
        /// The status before the event.
        from: ShipmentStatus,
        /// The status the event reports.
        to: ShipmentStatus,
    },
    /// CancelShipment cancelled the shipment.
    Cancelled,
}

/// What the order service hears of an OUTBOUND shipment (the MarkStatus fact).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderNews {
    /// The parcel left LABEL_CREATED: SHIPPED.
    Shipped,
    /// DELIVERED.
    Delivered,
    /// Carrier trouble: the shipment for the timeline, no status change.
    ShipmentOnly,
    /// The shipment was cancelled: the shipment with its cancel time, no status
    /// change.
    ShipmentCancelled,
}

/// The report a fact gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// OrderService.MarkStatus.
    Order(OrderNews),
    /// ReturnsService.MarkReturnInTransit.
    ReturnInTransit,
}

/// The report of `fact` on a shipment going `direction`, if any.
pub fn report(fact: Fact, direction: Direction) -> Option<Report> {
    let news = match fact {
        Fact::Tracked { applied: false, .. } => return None,
        Fact::Tracked {
            to: ShipmentStatus::Delivered,
            ..
        } => OrderNews::Delivered,
        Fact::Tracked {
            to: ShipmentStatus::Exception | ShipmentStatus::ReturnedToSender,
            ..
        } => OrderNews::ShipmentOnly,
        Fact::Tracked {
            from: ShipmentStatus::LabelCreated,
            ..
        } => OrderNews::Shipped,
        Fact::Tracked { .. } => return None,
        Fact::Cancelled => OrderNews::ShipmentCancelled,
    };
    match (direction, news) {
        (Direction::Outbound, news) => Some(Report::Order(news)),
        // The returns service hears once, when the parcel leaves LABEL_CREATED.
        (Direction::Return, OrderNews::Shipped) => Some(Report::ReturnInTransit),
        (Direction::Return, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShipmentStatus as S;

    fn tracked(from: ShipmentStatus, to: ShipmentStatus) -> Fact {
        Fact::Tracked {
            applied: true,
            from,
            to,
        }
    }

    /// The whole table: every (from, to) the transition table allows, with what
    /// an OUTBOUND and a RETURN shipment report.
    #[test]
    fn every_applied_transition_reports_by_the_table() {
        const SHIPPED: Option<Report> = Some(Report::Order(OrderNews::Shipped));
        const DELIVERED: Option<Report> = Some(Report::Order(OrderNews::Delivered));
        const TROUBLE: Option<Report> = Some(Report::Order(OrderNews::ShipmentOnly));
        const IN_TRANSIT: Option<Report> = Some(Report::ReturnInTransit);
        #[rustfmt::skip]
        let table = [
            (S::LabelCreated, S::PickedUp, SHIPPED, IN_TRANSIT),
            (S::LabelCreated, S::InTransit, SHIPPED, IN_TRANSIT),
            (S::LabelCreated, S::OutForDelivery, SHIPPED, IN_TRANSIT),
            (S::LabelCreated, S::DeliveryAttempted, SHIPPED, IN_TRANSIT),
            (S::LabelCreated, S::Delivered, DELIVERED, None),
            (S::LabelCreated, S::Exception, TROUBLE, None),
            (S::LabelCreated, S::ReturnedToSender, TROUBLE, None),
            (S::PickedUp, S::InTransit, None, None),
            (S::PickedUp, S::OutForDelivery, None, None),
            (S::PickedUp, S::DeliveryAttempted, None, None),
            (S::PickedUp, S::Delivered, DELIVERED, None),
            (S::PickedUp, S::Exception, TROUBLE, None),
            (S::PickedUp, S::ReturnedToSender, TROUBLE, None),
            (S::InTransit, S::OutForDelivery, None, None),
            (S::InTransit, S::DeliveryAttempted, None, None),
            (S::InTransit, S::Delivered, DELIVERED, None),
            (S::InTransit, S::Exception, TROUBLE, None),
            (S::InTransit, S::ReturnedToSender, TROUBLE, None),
            (S::OutForDelivery, S::DeliveryAttempted, None, None),
            (S::OutForDelivery, S::Delivered, DELIVERED, None),
            (S::OutForDelivery, S::Exception, TROUBLE, None),
            (S::OutForDelivery, S::ReturnedToSender, TROUBLE, None),
            (S::DeliveryAttempted, S::OutForDelivery, None, None),
            (S::DeliveryAttempted, S::Delivered, DELIVERED, None),
            (S::DeliveryAttempted, S::Exception, TROUBLE, None),
            (S::DeliveryAttempted, S::ReturnedToSender, TROUBLE, None),
            (S::Exception, S::InTransit, None, None),
            (S::Exception, S::OutForDelivery, None, None),
            (S::Exception, S::DeliveryAttempted, None, None),
            (S::Exception, S::Delivered, DELIVERED, None),
            (S::Exception, S::ReturnedToSender, TROUBLE, None),
        ];
        // The table above is complete: every allowed transition is in it once.
        let allowed = ShipmentStatus::ALL
            .iter()
            .flat_map(|&from| ShipmentStatus::ALL.iter().map(move |&to| (from, to)))
            .filter(|(from, to)| from.allows(*to))
            .count();
        assert_eq!(table.len(), allowed);
        for (i, (from, to, _, _)) in table.iter().enumerate() {
            assert!(
                !table[..i].iter().any(|row| (row.0, row.1) == (*from, *to)),
                "{from:?} -> {to:?} twice"
            );
        }
        for (from, to, outbound, back) in table {
            assert!(from.allows(to), "{from:?} -> {to:?}");
            let fact = tracked(from, to);
            assert_eq!(
                report(fact, Direction::Outbound),
                outbound,
                "{from:?} -> {to:?}"
            );
            assert_eq!(report(fact, Direction::Return), back, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn the_parcel_leaving_label_created_is_shipped_or_in_transit_once() {
        assert_eq!(
            report(tracked(S::LabelCreated, S::PickedUp), Direction::Outbound),
            Some(Report::Order(OrderNews::Shipped))
        );
        assert_eq!(
            report(
                tracked(S::LabelCreated, S::OutForDelivery),
                Direction::Return
            ),
            Some(Report::ReturnInTransit)
        );
        // Later moves tell nobody: the first one did.
        for direction in [Direction::Outbound, Direction::Return] {
            assert_eq!(report(tracked(S::PickedUp, S::InTransit), direction), None);
            assert_eq!(report(tracked(S::Exception, S::InTransit), direction), None);
        }
    }

    #[test]
    fn delivery_and_carrier_trouble_reach_the_order_but_not_the_returns_service() {
        assert_eq!(
            report(tracked(S::LabelCreated, S::Delivered), Direction::Outbound),
            Some(Report::Order(OrderNews::Delivered))
        );
        assert_eq!(
            report(
                tracked(S::InTransit, S::ReturnedToSender),
                Direction::Outbound
            ),
            Some(Report::Order(OrderNews::ShipmentOnly))
        );
        assert_eq!(
            report(tracked(S::LabelCreated, S::Delivered), Direction::Return),
            None
        );
        assert_eq!(
            report(tracked(S::LabelCreated, S::Exception), Direction::Return),
            None
        );
    }

    #[test]
    fn an_event_that_did_not_apply_reports_nothing() {
        for &from in ShipmentStatus::ALL {
            for &to in ShipmentStatus::ALL {
                let fact = Fact::Tracked {
                    applied: false,
                    from,
                    to,
                };
                assert_eq!(report(fact, Direction::Outbound), None);
                assert_eq!(report(fact, Direction::Return), None);
            }
        }
    }

    #[test]
    fn a_cancel_reaches_the_order_of_an_outbound_shipment_only() {
        assert_eq!(
            report(Fact::Cancelled, Direction::Outbound),
            Some(Report::Order(OrderNews::ShipmentCancelled))
        );
        assert_eq!(report(Fact::Cancelled, Direction::Return), None);
    }

    #[test]
    fn directions_round_trip_through_their_codes() {
        for &direction in Direction::ALL {
            assert_eq!(Direction::from_code(direction.code()), Some(direction));
        }
        assert_eq!(Direction::from_code(0), None);
        assert_eq!(Direction::from_code(3), None);
    }
}
