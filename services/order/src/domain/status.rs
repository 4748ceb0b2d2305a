//! The order and line state machines of `oms.order.v1.OrderStatus` and
//! `LineStatus`, and MarkStatus' decision: what a fulfilment fact changes on an
//! order, free of SQL.
//!
//! The contract is written in `proto/oms/order/v1/order.proto`: the transition
//! table in the comments of `OrderStatus` and `LineStatus`, what each fact means
//! and when it is a no-op in the comment of `MarkStatus`. This module is that
//! contract in code, and the two must say the same:
//!
//! - [`Status::can_become`]: the transition table, one for orders and lines.
//! - [`derive`]: the status a line's (or the order's) unit counters say.
//! - [`decide`]: a [`Fact`] and a [`Snapshot`] of the order in, the
//!   [`Changes`] to write (or the [`Refusal`]) out. `store::status` loads the
//!   snapshot and writes the changes in one transaction; its tests here walk
//!   every status through every fact.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Actor,
    timeline::{Event, EventKind, EventLine, RefKind},
};

oms_platform::code_enum! {
    /// The status of an order or of one of its lines (`oms.order.v1.OrderStatus`,
    /// `LineStatus`).
    pub enum Status {
        /// Accepted; the fulfilment saga is planning, reserving, authorizing, labelling.
        Pending = 1 => "PENDING",
        /// Stock committed, payment captured, shipments created.
        Confirmed = 2 => "CONFIRMED",
        /// Some units are with a carrier, others not yet.
        PartiallyShipped = 3 => "PARTIALLY_SHIPPED",
        /// Every unit is with a carrier.
        Shipped = 4 => "SHIPPED",
        /// Every unit is delivered (or collected at the store).
        Delivered = 5 => "DELIVERED",
        /// The fulfilment saga failed and was undone. Terminal.
        Rejected = 6 => "REJECTED",
        /// CancelOrder was accepted; the cancel saga is running.
        CancelRequested = 7 => "CANCEL_REQUESTED",
        /// Nothing held, nothing charged or everything refunded. Terminal.
        Cancelled = 8 => "CANCELLED",
        /// Some units came back through a return.
        PartiallyReturned = 9 => "PARTIALLY_RETURNED",
        /// Every unit came back through returns. Terminal.
        Returned = 10 => "RETURNED",
    }
}

impl Status {
    /// The transition table of `OrderStatus` and `LineStatus` (the same for
    /// orders and lines), as order.proto documents it.
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
            Confirmed => &[
                PartiallyShipped,
                Shipped,
                Delivered,
                CancelRequested,
                Cancelled,
            ],
            PartiallyShipped => &[Shipped, Delivered, PartiallyReturned, CancelRequested],
            Shipped => &[Delivered, PartiallyReturned],
            Delivered => &[PartiallyReturned, Returned],
            PartiallyReturned => &[Returned],
            CancelRequested => &[Cancelled, Confirmed, PartiallyShipped, Shipped, Delivered],
            Rejected | Cancelled | Returned => &[],
        };
        allowed.contains(&to)
    }

    /// REJECTED, CANCELLED and RETURNED: no way out.
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
    /// Units ordered.
    pub quantity: i32,
    /// Units handed to a carrier (or made ready for pickup).
    pub shipped: i32,
    /// Units delivered (or collected), 0 to `shipped`.
    pub delivered: i32,
    /// Units that came back through returns, 0 to `delivered`.
    pub returned: i32,
    /// Units cancelled, 0 to `quantity - shipped`.
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

/// Units of one line as a fact names them: by line id or by SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef {
    /// The line's id; when set, the SKU is not looked at.
    pub line_id: Option<String>,
    /// The line's SKU, for a fact that names no line id.
    pub sku: Option<String>,
    /// How many units, at least 1.
    pub quantity: i32,
}

/// A shipment as a fact reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentFact {
    /// The shipping service's id of the shipment.
    pub shipment_id: String,
    /// Where it leaves from; empty keeps what is recorded.
    pub location_id: String,
    /// The carrier's code; empty keeps what is recorded.
    pub carrier: String,
    /// The carrier's tracking number; empty keeps what is recorded.
    pub tracking_number: String,
    /// The units it carries; needed until the shipment's lines are recorded.
    pub lines: Vec<LineRef>,
    /// The shipment was cancelled: its cancel time is set from the event time.
    pub cancelled: bool,
}

/// What MarkStatus reports; the fields of `MarkStatusRequest`, checked.
#[derive(Debug, Clone)]
pub struct Fact {
    /// The order the fact is about.
    pub order_id: Uuid,
    /// The caller's id of the fact, applied once per order.
    pub event_id: String,
    /// SHA-256 of the request, to tell a retry from a reused event id.
    pub fingerprint: [u8; 32],
    /// The fact: CONFIRMED, REJECTED, SHIPPED, DELIVERED, CANCELLED or
    /// RETURNED; `None` records references only.
    pub status: Option<Status>,
    /// Units cancelled (CANCELLED), returned (RETURNED), or ready or collected
    /// (SHIPPED, DELIVERED of a PICKUP order).
    pub lines: Vec<LineRef>,
    /// Shipments to record; exactly one for SHIPPED and DELIVERED of a SHIP order.
    pub shipments: Vec<ShipmentFact>,
    /// The payment to record on the order.
    pub payment_id: Option<String>,
    /// The return the units came back through, or a return to record.
    pub return_id: Option<String>,
    /// The saga acting, recorded while the order names none.
    pub saga_id: Option<String>,
    /// Lock the shipping address from now on.
    pub lock_shipping_address: bool,
    /// Other references for the timeline event.
    pub references: Vec<(RefKind, String)>,
    /// Who reports the fact.
    pub actor: Actor,
    /// Why; the order's status reason when it ends REJECTED or CANCELLED.
    pub reason: String,
    /// When it happened at its source; the time of the call when `None`.
    pub event_time: Option<DateTime<Utc>>,
    /// For CONFIRMED of a PICKUP order: the store that hands the goods over.
    pub pickup_location_id: Option<String>,
    /// With CANCELLED: the partial cancellation it ends (0: none).
    pub cancellation: i32,
}

/// One line of an order as the decision sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The line's id.
    pub line_id: Uuid,
    /// The SKU sold on the line.
    pub sku: String,
    /// The line's status.
    pub status: Status,
    /// The line's unit counters.
    pub units: Units,
    /// When its last units were delivered.
    pub delivery_time: Option<DateTime<Utc>>,
}

/// A shipment already recorded on the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedShipment {
    /// The shipping service's id of the shipment.
    pub shipment_id: String,
    /// Empty while the shipment's lines are not known yet.
    pub lines: Vec<EventLine>,
    /// A ship time is recorded.
    pub shipped: bool,
    /// A delivery time is recorded.
    pub delivered: bool,
}

/// What [`decide`] reads of an order, loaded under the order's row lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The order's status.
    pub status: Status,
    /// The fulfilment saga confirmed the order (CONFIRMED was applied once).
    pub confirmed: bool,
    /// A PICKUP order: SHIPPED and DELIVERED take lines, not a shipment.
    pub pickup: bool,
    /// The payment recorded; empty when none is.
    pub payment_id: String,
    /// The saga recorded; empty when none is.
    pub saga_id: String,
    /// The pickup store recorded; empty when none is.
    pub pickup_location_id: String,
    /// The shipping address is locked.
    pub address_locked: bool,
    /// The returns recorded on the order.
    pub return_ids: Vec<String>,
    /// Every line, in line number order.
    pub lines: Vec<OrderLine>,
    /// The recorded shipments among those the fact names.
    pub shipments: Vec<RecordedShipment>,
    /// The lines whose units of the fact's return are counted already.
    pub returned_lines: Vec<Uuid>,
    /// The partial cancellation whose saga runs, if one does.
    pub cancelling: Option<i32>,
}

/// A line's new status and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineChange {
    /// The line changed.
    pub line_id: Uuid,
    /// Its new status.
    pub status: Status,
    /// Its new unit counters.
    pub units: Units,
    /// Its delivery time, set when units were delivered.
    pub delivery_time: Option<DateTime<Utc>>,
}

/// A shipment to record, or to merge into the one recorded: empty texts and
/// set times of the recorded one win, and its lines once known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentRecord {
    /// The shipping service's id of the shipment.
    pub shipment_id: String,
    /// Where it leaves from.
    pub location_id: String,
    /// The carrier's code.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// The units it carries; empty while unknown.
    pub lines: Vec<EventLine>,
    /// When the carrier took it.
    pub ship_time: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivery_time: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancel_time: Option<DateTime<Utc>>,
}

/// Units of a line that came back through a return, counted once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnedUnits {
    /// The return the units came back through.
    pub return_id: String,
    /// The line they belong to.
    pub line_id: Uuid,
    /// How many.
    pub quantity: i32,
}

/// What a fact changes: every write, and nothing else. The default changes
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The order's new status.
    pub status: Option<Status>,
    /// The order's new status reason (it ended REJECTED or CANCELLED).
    pub status_reason: Option<String>,
    /// The lines whose status or counters change.
    pub lines: Vec<LineChange>,
    /// Shipments to record or merge.
    pub shipments: Vec<ShipmentRecord>,
    /// Returned units to count.
    pub returned: Vec<ReturnedUnits>,
    /// The payment to record; `None` keeps the order's.
    pub payment_id: Option<String>,
    /// The saga to record; `None` keeps the order's.
    pub saga_id: Option<String>,
    /// The pickup store to record; `None` keeps the order's.
    pub pickup_location_id: Option<String>,
    /// Appended to the order's return ids.
    pub return_id: Option<String>,
    /// Lock the shipping address now.
    pub lock_shipping_address: bool,
    /// The order becomes confirmed.
    pub confirm: bool,
    /// The running partial cancellation ended.
    pub cancellation_ended: bool,
    /// The timeline event; set exactly when the fact changed the order.
    pub event: Option<Event>,
}

impl Changes {
    /// Whether the fact changed the order (MarkStatusResponse.changed).
    pub fn changed(&self) -> bool {
        self.event.is_some()
    }
}

/// Why a fact is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field of the fact is wrong for this order.
    #[error("invalid {field}: {description}")]
    Invalid {
        /// The request's field, e.g. `lines[0]`.
        field: String,
        /// What is wrong with it.
        description: String,
    },
    /// The transition table forbids the move (of the order or of a line).
    #[error("illegal state transition")]
    IllegalTransition {
        /// The status of the order (or line) now.
        from: Status,
        /// The status the fact would give it.
        to: Status,
    },
    /// More units would come back than were delivered.
    #[error("more units returned than delivered")]
    ReturnNotEligible {
        /// The line's SKU.
        sku: String,
        /// The request's field of the units, e.g. `lines[1].quantity`.
        field: String,
    },
}

impl Refusal {
    fn invalid(field: impl Into<String>, description: impl Into<String>) -> Refusal {
        Refusal::Invalid {
            field: field.into(),
            description: description.into(),
        }
    }
}

fn illegal(from: Status, to: Status) -> Refusal {
    Refusal::IllegalTransition { from, to }
}

/// The path an order walks once confirmed; CONFIRMED on an order already on
/// it (and confirmed) changes nothing.
fn on_path(status: Status) -> bool {
    !matches!(
        status,
        Status::Rejected | Status::CancelRequested | Status::Cancelled
    )
}

/// The lines `refs` name, as (index in `lines`, units), in the order given.
fn resolve(refs: &[LineRef], lines: &[OrderLine]) -> Result<Vec<(usize, i32)>, Refusal> {
    refs.iter()
        .enumerate()
        .map(|(index, r)| {
            let found = lines.iter().position(|line| {
                r.line_id.as_deref() == Some(line.line_id.to_string().as_str())
                    || (r.line_id.is_none() && r.sku.as_deref() == Some(line.sku.as_str()))
            });
            found.map(|position| (position, r.quantity)).ok_or_else(|| {
                Refusal::invalid(format!("lines[{index}]"), "not a line of the order")
            })
        })
        .collect()
}

fn event_lines(resolved: &[(usize, i32)], lines: &[OrderLine]) -> Vec<EventLine> {
    resolved
        .iter()
        .map(|&(index, quantity)| EventLine {
            line_id: lines[index].line_id.to_string(),
            quantity,
        })
        .collect()
}

fn record(
    shipment: &ShipmentFact,
    lines: Vec<EventLine>,
    event_time: DateTime<Utc>,
) -> ShipmentRecord {
    ShipmentRecord {
        shipment_id: shipment.shipment_id.clone(),
        location_id: shipment.location_id.clone(),
        carrier: shipment.carrier.clone(),
        tracking_number: shipment.tracking_number.clone(),
        lines,
        ship_time: None,
        delivery_time: None,
        // A cancellation keeps its first time: the recorded one wins.
        cancel_time: shipment.cancelled.then_some(event_time),
    }
}

/// The decision of MarkStatus: what `fact` changes on the order `order`
/// describes, by the rules of order.proto (MarkStatus, OrderStatus and
/// LineStatus). `now` stands in for a fact without an event time.
pub fn decide(fact: &Fact, order: &Snapshot, now: DateTime<Utc>) -> Result<Changes, Refusal> {
    let from = order.status;
    let event_time = fact.event_time.unwrap_or(now);
    let mut lines = order.lines.clone();
    let mut confirmed = order.confirmed;
    let mut forced = None;
    let mut moved_lines = Vec::new();
    let mut shipments = Vec::new();
    let mut returned = Vec::new();
    let mut cancellation_ended = false;

    match fact.status {
        None => {}
        Some(Status::Confirmed) if fact.pickup_location_id.is_some() && !order.pickup => {
            return Err(Refusal::invalid(
                "pickup_location_id",
                "only for a PICKUP order",
            ));
        }
        Some(Status::Confirmed) => match from {
            Status::Pending => confirmed = true,
            // The cancel saga decides; the shipments and payment are recorded.
            Status::CancelRequested => {}
            // Reached or passed already: nothing to do.
            status if on_path(status) && order.confirmed => return Ok(Changes::default()),
            // A carrier event overtook the confirmation: record its references.
            status if on_path(status) => confirmed = true,
            _ => return Err(illegal(from, Status::Confirmed)),
        },
        Some(Status::Rejected) => match from {
            Status::Pending => forced = Some(Status::Rejected),
            Status::Rejected | Status::Cancelled => {}
            _ => return Err(illegal(from, Status::Rejected)),
        },
        // A partial cancellation's end: the units its saga cancelled, maybe none.
        Some(Status::Cancelled) if fact.cancellation > 0 => {
            if order.cancelling != Some(fact.cancellation) {
                return Ok(Changes::default());
            }
            if !fact.lines.is_empty() {
                moved_lines = cancel(&fact.lines, &mut lines)?;
            }
            cancellation_ended = true;
        }
        Some(Status::Cancelled) => match from {
            Status::CancelRequested => moved_lines = cancel(&fact.lines, &mut lines)?,
            Status::Rejected | Status::Cancelled => {}
            _ => return Err(illegal(from, Status::Cancelled)),
        },
        Some(status @ (Status::Shipped | Status::Delivered)) => {
            if matches!(from, Status::Rejected | Status::Cancelled) {
                return Err(illegal(from, status));
            }
            let moved: Vec<Move> = if order.pickup {
                let chosen = if fact.lines.is_empty() {
                    lines
                        .iter()
                        .enumerate()
                        .map(|(index, line)| (index, line.units.quantity))
                        .collect()
                } else {
                    resolve(&fact.lines, &lines)?
                };
                chosen
                    .into_iter()
                    .map(|(index, quantity)| Move {
                        index,
                        quantity,
                        shipped_before: false,
                    })
                    .collect()
            } else {
                let (shipment, moved) = shipment_moves(fact, order, status, event_time)?;
                shipments.push(shipment);
                moved
            };
            moved_lines = advance(&mut lines, &moved, status == Status::Delivered, event_time);
        }
        Some(Status::Returned)
            if matches!(
                from,
                Status::Rejected | Status::Cancelled | Status::CancelRequested
            ) =>
        {
            return Err(illegal(from, Status::Returned));
        }
        Some(Status::Returned) => {
            (moved_lines, returned) = count_returned(fact, order, &mut lines)?;
        }
        Some(other) => {
            return Err(Refusal::invalid(
                "status",
                format!("{} cannot be named", other.name()),
            ));
        }
    }

    // Shipments, payment, saga, address lock, return and pickup store.
    let mut recorded = false;
    if !matches!(fact.status, Some(Status::Shipped | Status::Delivered)) {
        for shipment in &fact.shipments {
            let resolved = resolve(&shipment.lines, &lines)?;
            shipments.push(record(shipment, event_lines(&resolved, &lines), event_time));
            recorded = true;
        }
    }
    let lock_shipping_address = fact.lock_shipping_address && !order.address_locked;
    let return_id = fact
        .return_id
        .clone()
        .filter(|id| !order.return_ids.contains(id));
    let payment_id = fact.payment_id.clone().filter(|id| *id != order.payment_id);
    let confirm = confirmed && !order.confirmed;
    recorded |= lock_shipping_address
        || return_id.is_some()
        || payment_id.is_some()
        || confirm
        || cancellation_ended;

    // The statuses that follow.
    let to = if let Some(status) = forced {
        status
    } else if from == Status::CancelRequested && fact.status != Some(Status::Cancelled) {
        Status::CancelRequested
    } else if matches!(from, Status::Rejected | Status::Cancelled) {
        from
    } else {
        derive(lines.iter().map(|line| line.units), confirmed)
    };
    let mut line_changes = Vec::new();
    for (line, old) in lines.iter().zip(&order.lines) {
        let status = match forced {
            Some(status) => status,
            None if to == Status::CancelRequested && line.units == old.units => old.status,
            // An order that ended keeps its lines as they ended.
            None if from.is_terminal() && to == from => old.status,
            None => derive([line.units], confirmed),
        };
        if status != old.status && !old.status.can_become(status) {
            return Err(illegal(old.status, status));
        }
        if status != old.status || line.units != old.units {
            line_changes.push(LineChange {
                line_id: line.line_id,
                status,
                units: line.units,
                delivery_time: line.delivery_time,
            });
        }
    }
    if to != from && !from.can_become(to) {
        return Err(illegal(from, to));
    }

    let status_changed = to != from;
    let event = (status_changed || !line_changes.is_empty() || recorded).then(|| {
        let kind = if status_changed {
            EventKind::StatusChanged
        } else if !line_changes.is_empty() || cancellation_ended {
            EventKind::LinesChanged
        } else if lock_shipping_address {
            EventKind::ShippingAddressLocked
        } else if !fact.shipments.is_empty() {
            EventKind::ShipmentRecorded
        } else if fact.return_id.is_some() {
            EventKind::ReturnRecorded
        } else {
            EventKind::PaymentRecorded
        };
        let mut event = Event::by(kind, fact.actor.clone());
        event.event_time = Some(event_time);
        event.reason = fact.reason.clone();
        if status_changed {
            event.from = Some(from);
            event.to = Some(to);
        }
        event.lines = moved_lines;
        event.references = fact.references.clone();
        for shipment in &fact.shipments {
            event
                .references
                .push((RefKind::ShipmentId, shipment.shipment_id.clone()));
        }
        let named = [
            (RefKind::PaymentId, &fact.payment_id),
            (RefKind::ReturnId, &fact.return_id),
            (RefKind::SagaId, &fact.saga_id),
        ];
        for (kind, value) in named {
            if let Some(value) = value {
                event.references.push((kind, value.clone()));
            }
        }
        event
    });
    Ok(Changes {
        status: status_changed.then_some(to),
        status_reason: (status_changed && matches!(to, Status::Rejected | Status::Cancelled))
            .then(|| fact.reason.clone()),
        lines: line_changes,
        shipments,
        returned,
        payment_id,
        saga_id: fact.saga_id.clone().filter(|_| order.saga_id.is_empty()),
        pickup_location_id: fact
            .pickup_location_id
            .clone()
            .filter(|id| *id != order.pickup_location_id),
        return_id,
        lock_shipping_address,
        confirm,
        cancellation_ended,
        event,
    })
}

/// What CancelOrder with lines does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelPlan {
    /// The lines name every unit still open: the whole order is cancelled.
    Whole,
    /// A partial cancellation of these units, by line id.
    Partial(Vec<EventLine>),
}

/// Checks CancelOrder's `refs` against the order: CONFIRMED or
/// PARTIALLY_SHIPPED with no cancellation running, each line of the order
/// named once, at most its open units (not shipped nor cancelled).
pub fn plan_cancel(
    status: Status,
    cancelling: bool,
    refs: &[LineRef],
    lines: &[OrderLine],
) -> Result<CancelPlan, Refusal> {
    if cancelling || !matches!(status, Status::Confirmed | Status::PartiallyShipped) {
        return Err(illegal(status, Status::CancelRequested));
    }
    let open = |units: &Units| units.quantity - units.shipped - units.cancelled;
    let resolved = resolve(refs, lines)?;
    let mut named = vec![0; lines.len()];
    for (index, &(position, quantity)) in resolved.iter().enumerate() {
        if named[position] > 0 {
            return Err(Refusal::invalid(
                format!("lines[{index}]"),
                "names a line named before",
            ));
        }
        let units = open(&lines[position].units);
        if quantity > units {
            return Err(Refusal::invalid(
                format!("lines[{index}].quantity"),
                format!("more than the {units} units not shipped nor cancelled"),
            ));
        }
        named[position] = quantity;
    }
    let whole = lines
        .iter()
        .zip(&named)
        .all(|(line, &quantity)| quantity == open(&line.units));
    if whole {
        return Ok(CancelPlan::Whole);
    }
    Ok(CancelPlan::Partial(event_lines(&resolved, lines)))
}

/// CANCELLED on a CANCEL_REQUESTED order: cancels the units named (every unit
/// not shipped when none are), never more than are open.
fn cancel(refs: &[LineRef], lines: &mut [OrderLine]) -> Result<Vec<EventLine>, Refusal> {
    let open = |units: &Units| units.quantity - units.shipped - units.cancelled;
    let chosen = if refs.is_empty() {
        lines
            .iter()
            .enumerate()
            .map(|(index, line)| (index, open(&line.units)))
            .collect()
    } else {
        resolve(refs, lines)?
    };
    let mut cancelled = Vec::new();
    for (index, quantity) in chosen {
        let line = &mut lines[index];
        let units = quantity.min(open(&line.units));
        if units > 0 {
            line.units.cancelled += units;
            cancelled.push(EventLine {
                line_id: line.line_id.to_string(),
                quantity: units,
            });
        }
    }
    Ok(cancelled)
}

/// Units a SHIPPED or DELIVERED fact moves on one line.
#[derive(Debug, Clone, Copy)]
struct Move {
    /// The line's index in the snapshot.
    index: usize,
    quantity: i32,
    /// The units were shipped before this fact (it delivers them).
    shipped_before: bool,
}

/// SHIPPED or DELIVERED of a SHIP order's one shipment: the shipment to
/// record, and the units it moves. Its
/// lines are the recorded ones, or the fact's for a shipment not recorded
/// yet; a shipment that already reached the status moves nothing.
fn shipment_moves(
    fact: &Fact,
    order: &Snapshot,
    status: Status,
    event_time: DateTime<Utc>,
) -> Result<(ShipmentRecord, Vec<Move>), Refusal> {
    let [shipment] = fact.shipments.as_slice() else {
        return Err(Refusal::invalid(
            "shipments",
            "exactly one shipment for SHIPPED or DELIVERED",
        ));
    };
    let known = order
        .shipments
        .iter()
        .find(|known| known.shipment_id == shipment.shipment_id);
    let already = known.is_some_and(|known| match status {
        Status::Shipped => known.shipped || known.delivered,
        _ => known.delivered,
    });
    let lines = match known {
        Some(known) if !known.lines.is_empty() => known.lines.clone(),
        _ => {
            if shipment.lines.is_empty() {
                return Err(Refusal::invalid(
                    "shipments[0].lines",
                    "required for a shipment not recorded yet",
                ));
            }
            event_lines(&resolve(&shipment.lines, &order.lines)?, &order.lines)
        }
    };
    let shipped_before = known.is_some_and(|known| known.shipped);
    let moved = if already {
        Vec::new()
    } else {
        lines
            .iter()
            .filter_map(|moved| {
                let index = order
                    .lines
                    .iter()
                    .position(|line| line.line_id.to_string() == moved.line_id)?;
                Some(Move {
                    index,
                    quantity: moved.quantity,
                    shipped_before,
                })
            })
            .collect()
    };
    let mut record = record(shipment, lines, event_time);
    if !already {
        record.ship_time = Some(event_time);
        record.delivery_time = (status == Status::Delivered).then_some(event_time);
    }
    Ok((record, moved))
}

/// Ships (unless shipped before) and, for DELIVERED, delivers the units
/// moved, never more than the line has live; the event's lines.
fn advance(
    lines: &mut [OrderLine],
    moved: &[Move],
    delivered: bool,
    event_time: DateTime<Utc>,
) -> Vec<EventLine> {
    let mut event_lines = Vec::new();
    for &Move {
        index,
        quantity,
        shipped_before,
    } in moved
    {
        let line = &mut lines[index];
        let units = &mut line.units;
        if !shipped_before {
            let live = units.quantity - units.cancelled;
            units.shipped += quantity.min(live - units.shipped).max(0);
        }
        if delivered {
            let deliver = quantity.min(units.shipped - units.delivered);
            if deliver > 0 {
                units.delivered += deliver;
                line.delivery_time = Some(event_time);
            }
        }
        event_lines.push(EventLine {
            line_id: line.line_id.to_string(),
            quantity,
        });
    }
    event_lines
}

/// RETURNED: counts the units of each (return, line) once; more than were
/// delivered is refused.
fn count_returned(
    fact: &Fact,
    order: &Snapshot,
    lines: &mut [OrderLine],
) -> Result<(Vec<EventLine>, Vec<ReturnedUnits>), Refusal> {
    let return_id = fact.return_id.clone().unwrap_or_default();
    let mut counted = order.returned_lines.clone();
    let mut moved = Vec::new();
    let mut returned = Vec::new();
    for (position, (index, quantity)) in resolve(&fact.lines, lines)?.into_iter().enumerate() {
        let line = &mut lines[index];
        if counted.contains(&line.line_id) {
            continue;
        }
        counted.push(line.line_id);
        if line.units.returned.saturating_add(quantity) > line.units.delivered {
            return Err(Refusal::ReturnNotEligible {
                sku: line.sku.clone(),
                field: format!("lines[{position}].quantity"),
            });
        }
        line.units.returned += quantity;
        moved.push(EventLine {
            line_id: line.line_id.to_string(),
            quantity,
        });
        returned.push(ReturnedUnits {
            return_id: return_id.clone(),
            line_id: line.line_id,
            quantity,
        });
    }
    Ok((moved, returned))
}

#[cfg(test)]
mod tests;
