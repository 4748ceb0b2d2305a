//! The order and line state machines of `oms.order.v1.OrderStatus` and
//! `LineStatus`: one table for both, and the rules that derive a status from
//! unit counters once an order is under way.

/// The status of an order or of one of its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Pending = 1,
    Confirmed = 2,
    PartiallyShipped = 3,
    Shipped = 4,
    Delivered = 5,
    Rejected = 6,
    CancelRequested = 7,
    Cancelled = 8,
    PartiallyReturned = 9,
    Returned = 10,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Pending,
        Status::Confirmed,
        Status::PartiallyShipped,
        Status::Shipped,
        Status::Delivered,
        Status::Rejected,
        Status::CancelRequested,
        Status::Cancelled,
        Status::PartiallyReturned,
        Status::Returned,
    ];

    pub fn from_code(code: i32) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| *status as i32 == code)
    }

    pub fn code(self) -> i16 {
        self as i16
    }

    /// The contract's name, for error metadata.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Confirmed => "CONFIRMED",
            Status::PartiallyShipped => "PARTIALLY_SHIPPED",
            Status::Shipped => "SHIPPED",
            Status::Delivered => "DELIVERED",
            Status::Rejected => "REJECTED",
            Status::CancelRequested => "CANCEL_REQUESTED",
            Status::Cancelled => "CANCELLED",
            Status::PartiallyReturned => "PARTIALLY_RETURNED",
            Status::Returned => "RETURNED",
        }
    }

    /// The transition table (the same for orders and lines).
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        let allowed: &[Status] = match self {
            Pending => &[
                Confirmed,
                Rejected,
                CancelRequested,
                PartiallyShipped,
                Shipped,
                Delivered,
            ],
            Confirmed => &[PartiallyShipped, Shipped, Delivered, CancelRequested],
            PartiallyShipped => &[Shipped, Delivered, PartiallyReturned],
            Shipped => &[Delivered, PartiallyReturned],
            Delivered => &[PartiallyReturned, Returned],
            PartiallyReturned => &[Returned],
            CancelRequested => &[Cancelled, Confirmed, PartiallyShipped, Shipped, Delivered],
            Rejected | Cancelled | Returned => &[],
        };
        allowed.contains(&to)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Status::Rejected | Status::Cancelled | Status::Returned
        )
    }
}

/// The unit counters of one line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Units {
    pub quantity: i32,
    pub shipped: i32,
    pub delivered: i32,
    pub returned: i32,
    pub cancelled: i32,
}

/// The status units say, by the contract's rules: every unit cancelled ->
/// CANCELLED; otherwise, over the units not cancelled, the first that holds:
/// all returned, some returned, all delivered, all shipped, some shipped;
/// else CONFIRMED, or PENDING when the order was never confirmed.
pub fn derive(units: impl IntoIterator<Item = Units>, confirmed: bool) -> Status {
    let mut total = Units::default();
    for line in units {
        total.quantity += line.quantity - line.cancelled;
        total.shipped += line.shipped;
        total.delivered += line.delivered;
        total.returned += line.returned;
    }
    let live = total.quantity;
    if live <= 0 {
        Status::Cancelled
    } else if total.returned >= live {
        Status::Returned
    } else if total.returned > 0 {
        Status::PartiallyReturned
    } else if total.delivered >= live {
        Status::Delivered
    } else if total.shipped >= live {
        Status::Shipped
    } else if total.shipped > 0 {
        Status::PartiallyShipped
    } else if confirmed {
        Status::Confirmed
    } else {
        Status::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    #[test]
    fn every_allowed_transition_is_allowed_and_every_other_refused() {
        let allowed = [
            (
                Pending,
                &[
                    Confirmed,
                    Rejected,
                    CancelRequested,
                    PartiallyShipped,
                    Shipped,
                    Delivered,
                ][..],
            ),
            (
                Confirmed,
                &[PartiallyShipped, Shipped, Delivered, CancelRequested][..],
            ),
            (
                PartiallyShipped,
                &[Shipped, Delivered, PartiallyReturned][..],
            ),
            (Shipped, &[Delivered, PartiallyReturned][..]),
            (Delivered, &[PartiallyReturned, Returned][..]),
            (PartiallyReturned, &[Returned][..]),
            (
                CancelRequested,
                &[Cancelled, Confirmed, PartiallyShipped, Shipped, Delivered][..],
            ),
            (Rejected, &[][..]),
            (Cancelled, &[][..]),
            (Returned, &[][..]),
        ];
        let mut checked = 0;
        for (from, targets) in allowed {
            for to in Status::ALL {
                assert_eq!(
                    from.can_become(to),
                    targets.contains(&to),
                    "{from:?} -> {to:?}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 100);
    }

    #[test]
    fn terminal_states_have_no_way_out() {
        for status in Status::ALL {
            let has_exit = Status::ALL.iter().any(|to| status.can_become(*to));
            assert_eq!(status.is_terminal(), !has_exit, "{status:?}");
        }
    }

    #[test]
    fn codes_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::from_code(i32::from(status.code())), Some(status));
        }
        assert_eq!(Status::from_code(0), None);
        assert_eq!(Status::from_code(11), None);
    }

    fn line(quantity: i32, shipped: i32, delivered: i32, returned: i32, cancelled: i32) -> Units {
        Units {
            quantity,
            shipped,
            delivered,
            returned,
            cancelled,
        }
    }

    #[test]
    fn the_status_follows_the_units_by_the_first_rule_that_holds() {
        let cases = [
            (vec![line(2, 0, 0, 0, 0)], false, Pending),
            (vec![line(2, 0, 0, 0, 0)], true, Confirmed),
            (vec![line(2, 1, 0, 0, 0)], true, PartiallyShipped),
            (
                vec![line(2, 2, 0, 0, 0), line(1, 1, 0, 0, 0)],
                true,
                Shipped,
            ),
            (
                vec![line(2, 2, 2, 0, 0), line(1, 1, 0, 0, 0)],
                true,
                Shipped,
            ),
            (vec![line(2, 2, 2, 0, 0)], true, Delivered),
            (vec![line(2, 2, 2, 1, 0)], true, PartiallyReturned),
            (vec![line(2, 2, 2, 2, 0)], true, Returned),
            (vec![line(2, 0, 0, 0, 2)], true, Cancelled),
            // Cancelled units do not count: the rest decides.
            (vec![line(3, 1, 1, 0, 2)], true, Delivered),
            (vec![line(3, 1, 0, 0, 1)], true, PartiallyShipped),
            // A carrier event can overtake the saga's confirmation.
            (vec![line(1, 1, 0, 0, 0)], false, Shipped),
        ];
        for (units, confirmed, expected) in cases {
            assert_eq!(derive(units.clone(), confirmed), expected, "{units:?}");
        }
    }
}
