//! Tests of the state machines and of MarkStatus' decision.

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
            &[
                PartiallyShipped,
                Shipped,
                Delivered,
                CancelRequested,
                Cancelled,
            ][..],
        ),
        (
            PartiallyShipped,
            &[Shipped, Delivered, PartiallyReturned, CancelRequested][..],
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
        for &to in Status::ALL {
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
    for &status in Status::ALL {
        let has_exit = Status::ALL.iter().any(|to| status.can_become(*to));
        assert_eq!(status.is_terminal(), !has_exit, "{status:?}");
    }
}

#[test]
fn codes_round_trip() {
    for &status in Status::ALL {
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

// The decision. An order of two lines, TEE x2 and CAP x1, shipped as s1 (TEE)
// and s2 (CAP), as `tests/api/status.rs` walks it through the real service;
// here the store is a few lines of Rust, so every cell of the table is cheap.

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::domain::{
    Actor, ActorKind,
    timeline::{Event, EventKind, EventLine, RefKind},
};

fn at(second: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + second, 0).unwrap()
}

fn tee() -> Uuid {
    Uuid::from_u128(1)
}

fn cap() -> Uuid {
    Uuid::from_u128(2)
}

/// An order as the store keeps it: what a snapshot is cut from and what
/// changes are written to.
#[derive(Debug, Clone)]
struct Order {
    status: Status,
    status_reason: String,
    confirmed: bool,
    pickup: bool,
    payment_id: String,
    saga_id: String,
    pickup_location_id: String,
    address_locked: bool,
    return_ids: Vec<String>,
    lines: Vec<OrderLine>,
    shipments: Vec<ShipmentRecord>,
    returned: Vec<ReturnedUnits>,
    timeline: Vec<Event>,
    cancelling: Option<i32>,
}

impl Order {
    fn placed() -> Order {
        let line = |line_id, sku: &str, quantity| OrderLine {
            line_id,
            sku: sku.into(),
            status: Pending,
            units: Units {
                quantity,
                ..Units::default()
            },
            delivery_time: None,
        };
        Order {
            status: Pending,
            status_reason: String::new(),
            confirmed: false,
            pickup: false,
            payment_id: String::new(),
            saga_id: String::new(),
            pickup_location_id: String::new(),
            address_locked: false,
            return_ids: Vec::new(),
            lines: vec![line(tee(), "TEE", 2), line(cap(), "CAP", 1)],
            shipments: Vec::new(),
            returned: Vec::new(),
            timeline: Vec::new(),
            cancelling: None,
        }
    }

    /// What `store::status::snapshot` loads for `fact`.
    fn snapshot(&self, fact: &Fact) -> Snapshot {
        Snapshot {
            status: self.status,
            confirmed: self.confirmed,
            pickup: self.pickup,
            payment_id: self.payment_id.clone(),
            saga_id: self.saga_id.clone(),
            pickup_location_id: self.pickup_location_id.clone(),
            address_locked: self.address_locked,
            return_ids: self.return_ids.clone(),
            lines: self.lines.clone(),
            shipments: self
                .shipments
                .iter()
                .filter(|known| {
                    fact.shipments
                        .iter()
                        .any(|named| named.shipment_id == known.shipment_id)
                })
                .map(|known| RecordedShipment {
                    shipment_id: known.shipment_id.clone(),
                    lines: known.lines.clone(),
                    shipped: known.ship_time.is_some(),
                    delivered: known.delivery_time.is_some(),
                })
                .collect(),
            returned_lines: self
                .returned
                .iter()
                .filter(|units| Some(&units.return_id) == fact.return_id.as_ref())
                .map(|units| units.line_id)
                .collect(),
            cancelling: self.cancelling,
        }
    }

    /// What `store::status::write` does with `changes`.
    fn write(&mut self, changes: &Changes) {
        for record in &changes.shipments {
            match self
                .shipments
                .iter_mut()
                .find(|known| known.shipment_id == record.shipment_id)
            {
                None => self.shipments.push(record.clone()),
                Some(known) => {
                    let text = |known: &mut String, new: &String| {
                        if !new.is_empty() {
                            known.clone_from(new);
                        }
                    };
                    text(&mut known.location_id, &record.location_id);
                    text(&mut known.carrier, &record.carrier);
                    text(&mut known.tracking_number, &record.tracking_number);
                    if known.lines.is_empty() {
                        known.lines.clone_from(&record.lines);
                    }
                    known.ship_time = known.ship_time.or(record.ship_time);
                    known.delivery_time = known.delivery_time.or(record.delivery_time);
                    known.cancel_time = known.cancel_time.or(record.cancel_time);
                }
            }
        }
        self.returned.extend(changes.returned.iter().cloned());
        for change in &changes.lines {
            let line = self
                .lines
                .iter_mut()
                .find(|line| line.line_id == change.line_id)
                .unwrap();
            line.status = change.status;
            line.units = change.units;
            line.delivery_time = change.delivery_time;
        }
        if let Some(status) = changes.status {
            self.status = status;
        }
        if let Some(reason) = &changes.status_reason {
            self.status_reason.clone_from(reason);
        }
        if let Some(payment_id) = &changes.payment_id {
            self.payment_id.clone_from(payment_id);
        }
        if let Some(saga_id) = &changes.saga_id {
            self.saga_id.clone_from(saga_id);
        }
        if let Some(store) = &changes.pickup_location_id {
            self.pickup_location_id.clone_from(store);
        }
        self.return_ids.extend(changes.return_id.iter().cloned());
        self.address_locked |= changes.lock_shipping_address;
        self.confirmed |= changes.confirm;
        if changes.cancellation_ended {
            self.cancelling = None;
        }
        self.timeline.extend(changes.event.iter().cloned());
    }

    /// Decides `fact` at `at(100)` and writes what it changes.
    fn apply(&mut self, fact: &Fact) -> Result<Changes, Refusal> {
        let changes = decide(fact, &self.snapshot(fact), at(100))?;
        self.write(&changes);
        Ok(changes)
    }

    /// CancelOrder, which `Store::cancel` applies outside MarkStatus.
    fn cancel_order(&mut self) {
        assert!(self.status.can_become(CancelRequested));
        self.status = CancelRequested;
        self.status_reason = "customer changed mind".into();
        for line in &mut self.lines {
            line.status = CancelRequested;
        }
    }

    fn line(&self, line_id: Uuid) -> &OrderLine {
        self.lines
            .iter()
            .find(|line| line.line_id == line_id)
            .unwrap()
    }
}

fn saga() -> Actor {
    Actor {
        kind: ActorKind::Saga,
        id: "saga-1".into(),
    }
}

fn fact(status: Option<Status>) -> Fact {
    Fact {
        order_id: Uuid::nil(),
        event_id: "e".into(),
        fingerprint: [0; 32],
        status,
        lines: Vec::new(),
        shipments: Vec::new(),
        payment_id: None,
        return_id: None,
        saga_id: None,
        lock_shipping_address: false,
        references: Vec::new(),
        actor: saga(),
        reason: String::new(),
        event_time: Some(at(1)),
        pickup_location_id: None,
        cancellation: 0,
    }
}

fn units(sku: &str, quantity: i32) -> LineRef {
    LineRef {
        line_id: None,
        sku: Some(sku.into()),
        quantity,
    }
}

fn shipment(id: &str, lines: Vec<LineRef>) -> ShipmentFact {
    ShipmentFact {
        shipment_id: id.into(),
        location_id: "wh-1".into(),
        carrier: "sim".into(),
        tracking_number: format!("TRK-{id}"),
        lines,
        cancelled: false,
    }
}

/// The facts of the table, as the saga and shipping send them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// UNSPECIFIED with a new payment id.
    References,
    Confirm,
    Reject,
    ShipS1,
    DeliverS2,
    Cancel,
    Return,
    /// A status the caller cannot name.
    Named(Status),
}

fn the_fact(kind: Kind) -> Fact {
    match kind {
        Kind::References => Fact {
            payment_id: Some("pay-2".into()),
            ..fact(None)
        },
        Kind::Confirm => Fact {
            shipments: vec![
                shipment("s1", vec![units("TEE", 2)]),
                shipment("s2", vec![units("CAP", 1)]),
            ],
            payment_id: Some("pay-1".into()),
            ..fact(Some(Confirmed))
        },
        Kind::Reject => Fact {
            reason: "card declined".into(),
            ..fact(Some(Rejected))
        },
        Kind::ShipS1 => Fact {
            shipments: vec![shipment("s1", vec![units("TEE", 2)])],
            ..fact(Some(Shipped))
        },
        Kind::DeliverS2 => Fact {
            shipments: vec![shipment("s2", vec![units("CAP", 1)])],
            ..fact(Some(Delivered))
        },
        Kind::Cancel => Fact {
            reason: "customer asked".into(),
            ..fact(Some(Cancelled))
        },
        Kind::Return => Fact {
            return_id: Some("r-x".into()),
            lines: vec![units("TEE", 1)],
            ..fact(Some(Returned))
        },
        Kind::Named(status) => fact(Some(status)),
    }
}

/// An order walked to `status` by facts the table allows.
fn order_in(status: Status) -> Order {
    let mut order = Order::placed();
    let mut apply = |fact: Fact| {
        order.apply(&fact).unwrap();
    };
    let delivered = |id: &str, sku: &str, quantity| Fact {
        shipments: vec![shipment(id, vec![units(sku, quantity)])],
        ..fact(Some(Delivered))
    };
    let returned = |lines| Fact {
        return_id: Some("r-1".into()),
        lines,
        ..fact(Some(Returned))
    };
    match status {
        Pending | CancelRequested => {}
        Confirmed => apply(the_fact(Kind::Confirm)),
        PartiallyShipped => {
            apply(the_fact(Kind::Confirm));
            apply(the_fact(Kind::ShipS1));
        }
        Rejected => apply(the_fact(Kind::Reject)),
        Cancelled => {}
        Shipped | Delivered | PartiallyReturned | Returned => {
            apply(the_fact(Kind::Confirm));
            apply(the_fact(Kind::ShipS1));
            apply(Fact {
                shipments: vec![shipment("s2", vec![units("CAP", 1)])],
                ..fact(Some(Shipped))
            });
            if status != Shipped {
                apply(delivered("s1", "TEE", 2));
                apply(delivered("s2", "CAP", 1));
            }
            match status {
                PartiallyReturned => apply(returned(vec![units("TEE", 1)])),
                Returned => apply(returned(vec![units("TEE", 2), units("CAP", 1)])),
                _ => {}
            }
        }
    }
    if matches!(status, CancelRequested | Cancelled) {
        order.cancel_order();
    }
    if status == Cancelled {
        order.apply(&the_fact(Kind::Cancel)).unwrap();
    }
    assert_eq!(order.status, status, "walking to {status:?}");
    order
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Accepted and changed; the order is now this status (maybe the same).
    To(Status),
    /// Accepted, nothing changed.
    Nothing,
    Illegal,
    NotEligible,
    Invalid,
}

fn outcome(order: &Order, result: &Result<Changes, Refusal>) -> Expect {
    match result {
        Ok(changes) if changes.changed() => Expect::To(changes.status.unwrap_or(order.status)),
        Ok(changes) => {
            assert_eq!(changes.status, None);
            assert!(changes.lines.is_empty());
            Expect::Nothing
        }
        Err(Refusal::IllegalTransition { .. }) => Expect::Illegal,
        Err(Refusal::ReturnNotEligible { .. }) => Expect::NotEligible,
        Err(Refusal::Invalid { .. }) => Expect::Invalid,
    }
}

/// The table of `MarkStatus` in order.proto, cell by cell: the same table as
/// `tests/api/status.rs` checks through the real service, with
/// references-only facts and the statuses no caller may name besides.
#[test]
fn from_every_status_every_fact_moves_the_order_as_the_table_says() {
    use Expect::*;
    use Kind::*;
    let facts = [
        References, Confirm, Reject, ShipS1, DeliverS2, Cancel, Return,
    ];
    let table: [(Status, [Expect; 7]); 10] = [
        (
            Pending,
            [
                To(Pending),
                To(Confirmed),
                To(Rejected),
                To(PartiallyShipped),
                To(PartiallyShipped),
                Illegal,
                NotEligible,
            ],
        ),
        (
            Confirmed,
            [
                To(Confirmed),
                Nothing,
                Illegal,
                To(PartiallyShipped),
                To(PartiallyShipped),
                Illegal,
                NotEligible,
            ],
        ),
        (
            PartiallyShipped,
            [
                To(PartiallyShipped),
                Nothing,
                Illegal,
                Nothing,
                To(Shipped),
                Illegal,
                NotEligible,
            ],
        ),
        (
            Shipped,
            [
                To(Shipped),
                Nothing,
                Illegal,
                Nothing,
                To(Shipped),
                Illegal,
                NotEligible,
            ],
        ),
        (
            Delivered,
            [
                To(Delivered),
                Nothing,
                Illegal,
                Nothing,
                Nothing,
                Illegal,
                To(PartiallyReturned),
            ],
        ),
        (
            PartiallyReturned,
            [
                To(PartiallyReturned),
                Nothing,
                Illegal,
                Nothing,
                Nothing,
                Illegal,
                To(PartiallyReturned),
            ],
        ),
        (
            Returned,
            [
                To(Returned),
                Nothing,
                Illegal,
                Nothing,
                Nothing,
                Illegal,
                NotEligible,
            ],
        ),
        (
            Rejected,
            [
                To(Rejected),
                Illegal,
                Nothing,
                Illegal,
                Illegal,
                Nothing,
                Illegal,
            ],
        ),
        (
            CancelRequested,
            [
                To(CancelRequested),
                To(CancelRequested),
                Illegal,
                To(CancelRequested),
                To(CancelRequested),
                To(Cancelled),
                Illegal,
            ],
        ),
        (
            Cancelled,
            [
                To(Cancelled),
                Illegal,
                Nothing,
                Illegal,
                Illegal,
                Nothing,
                Illegal,
            ],
        ),
    ];
    let mut checked = 0;
    for (from, expected) in table {
        for (kind, expect) in facts.into_iter().zip(expected) {
            let mut order = order_in(from);
            let before = order.clone();
            let result = order.apply(&the_fact(kind));
            assert_eq!(outcome(&before, &result), expect, "{from:?} + {kind:?}");
            if let Ok(changes) = &result {
                // Every move, of the order and of each line, is in the table.
                if let Some(to) = changes.status {
                    assert!(from.can_become(to), "{from:?} + {kind:?}: order to {to:?}");
                }
                for change in &changes.lines {
                    let old = before.line(change.line_id).status;
                    assert!(
                        old == change.status || old.can_become(change.status),
                        "{from:?} + {kind:?}: line {old:?} -> {:?}",
                        change.status
                    );
                }
                assert_eq!(order.status, derived_or_held(&order), "{from:?} + {kind:?}");
                // The same fact again (another event id) moves nothing.
                let again = order.apply(&the_fact(kind)).unwrap();
                assert_eq!(again.status, None, "{from:?} + {kind:?} twice");
                assert!(again.lines.is_empty(), "{from:?} + {kind:?} twice");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 70);
}

/// The status the order's units say, except where the contract holds it:
/// CANCEL_REQUESTED until the cancel saga ends it, and an ended order.
fn derived_or_held(order: &Order) -> Status {
    match order.status {
        CancelRequested | Rejected | Cancelled => order.status,
        _ => derive(order.lines.iter().map(|line| line.units), order.confirmed),
    }
}

#[test]
fn no_caller_may_name_a_derived_status_or_cancel_requested() {
    for &from in Status::ALL {
        for named in [
            Pending,
            PartiallyShipped,
            PartiallyReturned,
            CancelRequested,
        ] {
            let order = order_in(from);
            let refused = decide(
                &the_fact(Kind::Named(named)),
                &order.snapshot(&fact(None)),
                at(0),
            );
            assert_eq!(
                refused,
                Err(Refusal::Invalid {
                    field: "status".into(),
                    description: format!("{} cannot be named", named.name()),
                }),
                "{from:?} + {named:?}"
            );
        }
    }
}

#[test]
fn a_repeated_fact_records_nothing_twice() {
    for kind in [Kind::References, Kind::ShipS1, Kind::DeliverS2] {
        let mut order = order_in(Confirmed);
        order.apply(&the_fact(kind)).unwrap();
        let again = order.apply(&the_fact(kind)).unwrap();
        assert!(!again.changed(), "{kind:?}");
    }
    // Shipments named with CONFIRMED on a cancelling order are recorded on
    // the timeline each time they are reported.
    let mut order = order_in(CancelRequested);
    order.apply(&the_fact(Kind::Confirm)).unwrap();
    let again = order.apply(&the_fact(Kind::Confirm)).unwrap();
    assert_eq!(
        again.event.map(|event| event.kind),
        Some(EventKind::ShipmentRecorded)
    );
}

#[test]
fn confirmed_records_shipments_payment_and_moves_every_line() {
    let mut order = order_in(Pending);
    let changes = order.apply(&the_fact(Kind::Confirm)).unwrap();
    let event = changes.event.unwrap();
    assert_eq!(event.kind, EventKind::StatusChanged);
    assert_eq!((event.from, event.to), (Some(Pending), Some(Confirmed)));
    assert_eq!(event.event_time, Some(at(1)));
    assert_eq!(
        event.references,
        [
            (RefKind::ShipmentId, "s1".to_owned()),
            (RefKind::ShipmentId, "s2".to_owned()),
            (RefKind::PaymentId, "pay-1".to_owned()),
        ]
    );
    assert!(order.confirmed);
    assert_eq!(order.payment_id, "pay-1");
    assert!(order.lines.iter().all(|line| line.status == Confirmed));
    let s1 = &order.shipments[0];
    assert_eq!(
        s1.lines,
        [EventLine {
            line_id: tee().to_string(),
            quantity: 2
        }]
    );
    assert_eq!((s1.ship_time, s1.delivery_time), (None, None));
}

#[test]
fn a_carrier_event_may_overtake_the_confirmation() {
    let mut order = order_in(Pending);
    order.apply(&the_fact(Kind::ShipS1)).unwrap();
    assert_eq!((order.status, order.confirmed), (PartiallyShipped, false));
    let late = order.apply(&the_fact(Kind::Confirm)).unwrap();
    assert!(late.confirm && late.changed());
    assert_eq!(late.status, None);
    assert_eq!(order.status, PartiallyShipped);
    // From now on CONFIRMED is behind the order.
    assert_eq!(
        order.apply(&the_fact(Kind::Confirm)),
        Ok(Changes::default())
    );
}

#[test]
fn rejected_ends_the_order_and_every_line_with_the_reason() {
    let mut order = order_in(Pending);
    let changes = order.apply(&the_fact(Kind::Reject)).unwrap();
    assert_eq!(changes.status_reason.as_deref(), Some("card declined"));
    assert_eq!(order.status_reason, "card declined");
    assert!(order.lines.iter().all(|line| line.status == Rejected));
    assert_eq!(changes.event.unwrap().reason, "card declined");
}

#[test]
fn cancelled_cancels_the_units_not_shipped() {
    let mut order = order_in(Confirmed);
    order.cancel_order();
    // A parcel the carrier already had goes on; the order waits for the saga.
    order.apply(&the_fact(Kind::ShipS1)).unwrap();
    assert_eq!(order.status, CancelRequested);
    assert_eq!(order.line(tee()).status, Shipped);
    let changes = order.apply(&the_fact(Kind::Cancel)).unwrap();
    // TEE's two units are with the carrier: only CAP is cancelled.
    assert_eq!(
        changes.event.unwrap().lines,
        [EventLine {
            line_id: cap().to_string(),
            quantity: 1
        }]
    );
    assert_eq!(order.status, Shipped);
    assert_eq!(order.line(cap()).status, Cancelled);
    assert_eq!(order.line(tee()).status, Shipped);
}

#[test]
fn cancelled_units_named_are_capped_at_what_is_open() {
    let mut order = order_in(Confirmed);
    order.cancel_order();
    let mut cancelled = the_fact(Kind::Cancel);
    cancelled.lines = vec![units("TEE", 5)];
    order.apply(&cancelled).unwrap();
    assert_eq!(order.line(tee()).units.cancelled, 2);
    assert_eq!(order.line(tee()).status, Cancelled);
    assert_eq!(order.line(cap()).status, Confirmed);
    assert_eq!(order.status, Confirmed);
}

#[test]
fn a_partial_cancellation_is_planned_only_on_a_confirmed_order_within_its_open_units() {
    let order = order_in(Confirmed);
    assert_eq!(
        plan_cancel(Confirmed, false, &[units("TEE", 1)], &order.lines),
        Ok(CancelPlan::Partial(vec![EventLine {
            line_id: tee().to_string(),
            quantity: 1
        }]))
    );
    // Every open unit named: the whole order is cancelled.
    assert_eq!(
        plan_cancel(
            Confirmed,
            false,
            &[units("TEE", 2), units("CAP", 1)],
            &order.lines
        ),
        Ok(CancelPlan::Whole)
    );
    for status in [Pending, Shipped, CancelRequested, Cancelled, Delivered] {
        assert_eq!(
            plan_cancel(status, false, &[units("TEE", 1)], &order.lines),
            Err(illegal(status, CancelRequested)),
            "{status:?}"
        );
    }
    // One cancellation at a time.
    assert_eq!(
        plan_cancel(Confirmed, true, &[units("TEE", 1)], &order.lines),
        Err(illegal(Confirmed, CancelRequested))
    );
    let refused = |refs: &[LineRef]| match plan_cancel(Confirmed, false, refs, &order.lines) {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("{refs:?}: {other:?}"),
    };
    assert_eq!(refused(&[units("TEE", 3)]), "lines[0].quantity");
    assert_eq!(
        refused(&[units("CAP", 1), units("TEE", 1), units("TEE", 1)]),
        "lines[2]"
    );
    assert_eq!(refused(&[units("SOCKS", 1)]), "lines[0]");
}

#[test]
fn the_end_of_a_partial_cancellation_cancels_its_units_once_and_only_its_own() {
    let mut order = order_in(Confirmed);
    order.cancelling = Some(1);
    let ended = |number, lines| Fact {
        event_id: format!("end-{number}"),
        lines,
        cancellation: number,
        reason: "customer asked".into(),
        ..fact(Some(Cancelled))
    };
    // Another cancellation's end changes nothing.
    assert!(
        !order
            .apply(&ended(2, vec![units("TEE", 1)]))
            .unwrap()
            .changed()
    );
    let changes = order.apply(&ended(1, vec![units("TEE", 2)])).unwrap();
    assert!(changes.cancellation_ended);
    assert_eq!(order.cancelling, None);
    assert_eq!(order.line(tee()).status, Cancelled);
    assert_eq!(order.line(tee()).units.cancelled, 2);
    assert_eq!(order.status, Confirmed);
    assert_eq!(changes.event.unwrap().kind, EventKind::LinesChanged);
    // Ended: the same number again changes nothing.
    assert!(
        !order
            .apply(&ended(1, vec![units("CAP", 1)]))
            .unwrap()
            .changed()
    );
    assert_eq!(order.line(cap()).units.cancelled, 0);

    // A cancellation whose saga could cancel nothing still ends, on the timeline.
    let mut order = order_in(Confirmed);
    order.cancelling = Some(3);
    let changes = order.apply(&ended(3, Vec::new())).unwrap();
    assert!(changes.cancellation_ended && changes.changed());
    assert!(changes.lines.is_empty());
    assert_eq!(order.status, Confirmed);
}

#[test]
fn shipped_and_delivered_take_exactly_one_shipment_with_its_lines() {
    let order = order_in(Confirmed);
    let mut two = the_fact(Kind::ShipS1);
    two.shipments.push(shipment("s2", vec![]));
    let mut unknown = the_fact(Kind::ShipS1);
    unknown.shipments = vec![shipment("s9", vec![])];
    let mut stranger = the_fact(Kind::ShipS1);
    stranger.shipments = vec![shipment("s9", vec![units("HAT", 1)])];
    let refused = |fact: &Fact| match decide(fact, &order.snapshot(fact), at(0)) {
        Err(Refusal::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(&two), "shipments");
    assert_eq!(refused(&unknown), "shipments[0].lines");
    assert_eq!(refused(&stranger), "lines[0]");
}

#[test]
fn a_recorded_shipment_moves_its_recorded_lines_whatever_the_fact_says() {
    let mut order = order_in(Confirmed);
    let mut ship = the_fact(Kind::ShipS1);
    ship.shipments = vec![shipment("s1", vec![units("CAP", 1)])];
    order.apply(&ship).unwrap();
    assert_eq!(order.line(tee()).units.shipped, 2);
    assert_eq!(order.line(cap()).units.shipped, 0);
}

#[test]
fn delivered_sets_the_delivery_time_from_the_event_and_ships_first() {
    let mut order = order_in(Confirmed);
    let changes = order.apply(&the_fact(Kind::DeliverS2)).unwrap();
    let cap = order.line(cap());
    assert_eq!((cap.units.shipped, cap.units.delivered), (1, 1));
    assert_eq!(cap.delivery_time, Some(at(1)));
    assert_eq!(
        (
            changes.shipments[0].ship_time,
            changes.shipments[0].delivery_time
        ),
        (Some(at(1)), Some(at(1)))
    );
    // Without an event time, the time of the call.
    let mut order = order_in(Confirmed);
    let mut untimed = the_fact(Kind::DeliverS2);
    untimed.event_time = None;
    let changes = order.apply(&untimed).unwrap();
    assert_eq!(order.line(self::cap()).delivery_time, Some(at(100)));
    assert_eq!(changes.event.unwrap().event_time, Some(at(100)));
}

#[test]
fn a_cancelled_shipment_keeps_its_first_cancel_time() {
    let mut order = order_in(Confirmed);
    let report = |second| {
        let mut cancelled = shipment("s1", vec![]);
        cancelled.cancelled = true;
        Fact {
            shipments: vec![cancelled],
            event_time: Some(at(second)),
            ..fact(None)
        }
    };
    order.apply(&report(5)).unwrap();
    order.apply(&report(9)).unwrap();
    assert_eq!(order.shipments[0].cancel_time, Some(at(5)));
}

#[test]
fn a_pickup_order_is_made_ready_and_collected_by_lines() {
    let mut order = Order::placed();
    order.pickup = true;
    let mut confirmed = fact(Some(Confirmed));
    confirmed.pickup_location_id = Some("store-9".into());
    order.apply(&confirmed).unwrap();
    assert_eq!(order.pickup_location_id, "store-9");
    let ready = Fact {
        lines: vec![units("TEE", 2)],
        ..fact(Some(Shipped))
    };
    order.apply(&ready).unwrap();
    assert_eq!(order.status, PartiallyShipped);
    order.apply(&fact(Some(Shipped))).unwrap();
    assert_eq!(order.status, Shipped);
    order.apply(&fact(Some(Delivered))).unwrap();
    assert_eq!(order.status, Delivered);
    assert!(
        order
            .lines
            .iter()
            .all(|line| line.delivery_time == Some(at(1)))
    );
}

#[test]
fn a_pickup_store_is_refused_for_a_ship_order() {
    let order = order_in(Pending);
    let mut confirmed = fact(Some(Confirmed));
    confirmed.pickup_location_id = Some("store-9".into());
    assert_eq!(
        decide(&confirmed, &order.snapshot(&confirmed), at(0)),
        Err(Refusal::Invalid {
            field: "pickup_location_id".into(),
            description: "only for a PICKUP order".into(),
        })
    );
}

#[test]
fn returned_units_are_counted_once_per_return_and_line() {
    let mut order = order_in(Delivered);
    let mut twice = the_fact(Kind::Return);
    twice.lines = vec![units("TEE", 1), units("TEE", 1)];
    let changes = order.apply(&twice).unwrap();
    assert_eq!(order.line(tee()).units.returned, 1);
    assert_eq!(changes.return_id.as_deref(), Some("r-x"));
    assert_eq!(
        changes.returned,
        [ReturnedUnits {
            return_id: "r-x".into(),
            line_id: tee(),
            quantity: 1
        }]
    );
    // The same return again counts nothing; another return counts.
    let again = order.apply(&the_fact(Kind::Return)).unwrap();
    assert!(!again.changed());
    let mut other = the_fact(Kind::Return);
    other.return_id = Some("r-y".into());
    order.apply(&other).unwrap();
    assert_eq!(order.line(tee()).units.returned, 2);
    assert_eq!(order.return_ids, ["r-x", "r-y"]);
}

#[test]
fn more_units_returned_than_delivered_are_refused_even_at_the_extremes() {
    let mut order = order_in(PartiallyReturned);
    for quantity in [2, i32::MAX] {
        let mut returned = the_fact(Kind::Return);
        returned.lines = vec![units("CAP", 1), units("TEE", quantity)];
        assert_eq!(
            order.apply(&returned),
            Err(Refusal::ReturnNotEligible {
                sku: "TEE".into(),
                field: "lines[1].quantity".into(),
            })
        );
    }
}

#[test]
fn references_lock_the_address_and_name_the_saga_once() {
    let mut order = order_in(Pending);
    let lock = Fact {
        lock_shipping_address: true,
        saga_id: Some("saga-1".into()),
        ..fact(None)
    };
    let changes = order.apply(&lock).unwrap();
    let event = changes.event.unwrap();
    assert_eq!(event.kind, EventKind::ShippingAddressLocked);
    assert_eq!(event.references, [(RefKind::SagaId, "saga-1".to_owned())]);
    assert!(order.address_locked);
    let other_saga = Fact {
        saga_id: Some("saga-2".into()),
        ..fact(None)
    };
    let changes = order.apply(&other_saga).unwrap();
    assert_eq!(changes, Changes::default());
    assert_eq!(order.saga_id, "saga-1");
}

#[test]
fn each_record_without_a_move_has_its_own_timeline_kind() {
    let kind = |fact: Fact| {
        let mut order = order_in(Confirmed);
        order.apply(&fact).unwrap().event.map(|event| event.kind)
    };
    assert_eq!(
        kind(Fact {
            shipments: vec![shipment("s3", vec![])],
            ..fact(None)
        }),
        Some(EventKind::ShipmentRecorded)
    );
    assert_eq!(
        kind(Fact {
            return_id: Some("r-9".into()),
            ..fact(None)
        }),
        Some(EventKind::ReturnRecorded)
    );
    assert_eq!(
        kind(the_fact(Kind::References)),
        Some(EventKind::PaymentRecorded)
    );
    assert_eq!(
        kind(Fact {
            payment_id: Some("pay-1".into()),
            ..fact(None)
        }),
        None
    );
}
