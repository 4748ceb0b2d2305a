//! The cancel saga, as saga.proto specifies it. Forward only: its first step
//! is its pivot, so every later step is retried until it succeeds, or the saga
//! is STUCK for an operator.
//!
//! ```text
//! settle_fulfilment  (inside the coordinator) stop the order saga before its
//!                    pivot, or wait until it ended
//! cancel_shipments   CancelShipment per open shipment; one the carrier has goes on
//! restock            Restock the cancelled units where they were to ship from
//! refund_payment     Refund their value (and the shipping price when all is cancelled)
//! mark_cancelled     MarkStatus CANCELLED
//! ```
//!
//! When the order saga ended COMPENSATED (or never ran), nothing was taken:
//! steps 2 to 4 are SKIPPED and only mark_cancelled runs.
//!
//! A partial cancellation (CancelOrder with lines) runs the same steps on the
//! units it names: the shipments carrying nothing else are cancelled, its
//! units in a shipment with other goods are taken out of it (that shipment
//! goes on, and the timeline says so), the units restocked and refunded (the shipping price only once every unit of
//! the order is cancelled), and MarkStatus CANCELLED with the cancellation's
//! number records them. The shipments to cancel are chosen once, at the
//! pivot, so a step run again after a crash cancels and counts the same ones.

use std::{collections::HashMap, time::Duration};

use chrono::Utc;
use oms_proto::{
    common::v1::Money,
    inventory::v1::{RestockLine, RestockRequest, RestockSource},
    order::v1::{GetOrderRequest, LineQuantity, MarkStatusRequest, Order, OrderLine, OrderStatus},
    payment::v1::{GetPaymentRequest, RefundReason, RefundRequest},
    shipping::v1::{CancelShipmentRequest, cancel_shipment_request},
};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        SagaKind, SagaState,
        step::{Outcome, RetryPolicy, StepDef},
    },
    engine::context::StepContext,
};

/// The version of this flow that new sagas start on.
pub const VERSION: i32 = 1;

/// The cancel saga's steps, in order.
pub static STEPS: [StepDef; 5] = [
    SETTLE_FULFILMENT,
    CANCEL_SHIPMENTS,
    RESTOCK,
    REFUND_PAYMENT,
    MARK_CANCELLED,
];

/// Forward only: a step keeps trying for a quarter of an hour before the
/// saga is STUCK.
const FORWARD: RetryPolicy = RetryPolicy {
    max_attempts: 20,
    deadline: Duration::from_secs(900),
    ..RetryPolicy::SERVICE_CALL
};

/// When settle_fulfilment looks at the order saga again, after `looks`
/// looks: soon at first (an aborted saga compensates in moments), then every
/// half minute (a STUCK one may wait for an operator for days).
fn next_look(looks: i32) -> chrono::Duration {
    let exponent = u32::try_from((looks / 2).clamp(0, 7)).unwrap_or(7);
    chrono::Duration::milliseconds(250 * i64::from(2_u32.pow(exponent)))
}

/// A unit count a partial cancellation names: an order line by id or SKU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requested {
    /// The order line's id, or empty when named by `sku`.
    pub line_id: String,
    /// The line's SKU, or empty when named by `line_id`.
    pub sku: String,
    /// Units to cancel, at least 1.
    pub quantity: i32,
}

/// What the saga keeps between its steps; never personal data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CancelData {
    /// A partial cancellation's units; empty for the whole order.
    pub requested: Vec<Requested>,
    /// The order saga completed: stock was committed and money captured.
    pub fulfilled: bool,
    /// The open shipments to cancel, chosen at the pivot.
    pub planned: Vec<String>,
    /// Units cancelled outside the cancelled shipments, chosen at the pivot:
    /// a partial cancellation's units taken out of a shipment that goes on
    /// with other goods, or a pickup order's units at the store.
    /// (order line id, sku, location, units).
    pub loose: Vec<(String, String, String, i32)>,
    /// The shipments that go on without the loose units.
    pub trimmed_shipments: Vec<String>,
    /// Shipments cancelled.
    pub cancelled_shipments: Vec<String>,
    /// Shipments the carrier already had: they go on, their units are not
    /// cancelled.
    pub kept_shipments: Vec<String>,
    /// Units cancelled: (order line id, sku, location, units).
    pub units: Vec<(String, String, String, i32)>,
}

/// A new cancel saga's data: the units of a partial cancellation, or none
/// for the whole order.
pub fn initial_data(requested: Vec<Requested>) -> serde_json::Value {
    serde_json::to_value(CancelData {
        requested,
        ..CancelData::default()
    })
    .unwrap_or_default()
}

/// The units a cancel saga's data names (empty: the whole order).
pub fn requested(data: &serde_json::Value) -> Vec<Requested> {
    serde_json::from_value::<CancelData>(data.clone())
        .map(|data| data.requested)
        .unwrap_or_default()
}

/// [`requested`], as the contract shows it.
pub fn requested_lines(data: &serde_json::Value) -> Vec<LineQuantity> {
    requested(data)
        .into_iter()
        .map(|line| LineQuantity {
            line_id: line.line_id,
            sku: line.sku,
            quantity: line.quantity,
        })
        .collect()
}

/// Runs the forward call of step `index`.
pub async fn forward(index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match STEPS[index].name {
        "settle_fulfilment" => settle_fulfilment(ctx).await,
        "cancel_shipments" => cancel_shipments(ctx).await,
        "restock" => restock(ctx).await,
        "refund_payment" => refund_payment(ctx).await,
        _ => mark_cancelled(ctx).await,
    }
}

/// The cancel saga has no compensations.
pub fn compensate() -> Outcome {
    Outcome::Skipped {
        detail: "the cancel saga goes forward only".into(),
    }
}

async fn read_order(ctx: &mut StepContext<'_>) -> Result<Order, Outcome> {
    let request = ctx.request(GetOrderRequest {
        order_id: ctx.order_id.to_owned(),
        ..Default::default()
    });
    match ctx.peers.order.clone().get_order(request).await {
        Ok(response) => Ok(response.into_inner().order.unwrap_or_default()),
        Err(status) => Err(ctx.failed(&status)),
    }
}

fn skipped_unless_fulfilled(data: &CancelData) -> Option<Outcome> {
    (!data.fulfilled).then(|| Outcome::Skipped {
        detail: "nothing was taken: the fulfilment saga was undone or never ran".into(),
    })
}

// ---- settle_fulfilment: THE PIVOT. Stop the order saga, or wait for its end.

const SETTLE_FULFILMENT: StepDef = StepDef {
    name: "settle_fulfilment",
    forward_rpc: "",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: true,
    retry: RetryPolicy {
        // It waits as long as an order saga may be STUCK: a week.
        deadline: Duration::from_secs(7 * 24 * 3600),
        ..FORWARD
    },
};

async fn settle_fulfilment(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: CancelData = ctx.load();
    let order_saga = match ctx
        .sagas
        .by_natural_key(SagaKind::Order, ctx.order_id, "", 0)
        .await
    {
        Ok(saga) => saga,
        Err(err) => {
            return Outcome::Transient(ctx.refusal("", &format!("sagas table: {err}"), &[]));
        }
    };
    let looks = ctx.attempt;
    let wait = |detail: &str| Outcome::Wait {
        until: Utc::now() + next_look(looks),
        detail: detail.to_owned(),
    };
    let Some(order_saga) = order_saga else {
        // Its start is still in the order's outbox: when it comes, it finds the
        // order no longer PENDING and does nothing.
        data.fulfilled = false;
        ctx.save(&data);
        return Outcome::Done {
            detail: "no fulfilment saga has run".into(),
        };
    };
    let saga = &order_saga.saga;
    let partial = !data.requested.is_empty();
    match saga.state {
        // A partial cancellation comes after the confirmation: it never stops
        // the fulfilment saga, it waits for its end.
        SagaState::Running if !saga.body.pivot_passed && !partial => {
            if !order_saga.abort_requested
                && let Err(err) = ctx.sagas.request_abort(ctx.order_id).await
            {
                return Outcome::Transient(ctx.refusal("", &format!("sagas table: {err}"), &[]));
            }
            wait("stopping the fulfilment saga before its capture")
        }
        SagaState::Running | SagaState::Compensating => {
            wait("waiting for the fulfilment saga to end")
        }
        SagaState::Stuck => wait("waiting for an operator to fix the STUCK fulfilment saga"),
        SagaState::Completed => {
            let order = match read_order(ctx).await {
                Ok(order) => order,
                Err(outcome) => return outcome,
            };
            data.fulfilled = true;
            plan(&order, &mut data);
            ctx.save(&data);
            Outcome::Done {
                detail: format!(
                    "fulfilment saga {} completed; {} shipments to cancel",
                    saga.saga_id,
                    data.planned.len()
                ),
            }
        }
        SagaState::Compensated => {
            data.fulfilled = false;
            ctx.save(&data);
            Outcome::Done {
                detail: format!("fulfilment saga {} undone", saga.saga_id),
            }
        }
    }
}

// ---- cancel_shipments: every open shipment; one the carrier has goes on.

const CANCEL_SHIPMENTS: StepDef = StepDef {
    name: "cancel_shipments",
    forward_rpc: "oms.shipping.v1.ShippingService/CancelShipment",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: FORWARD,
};

async fn cancel_shipments(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: CancelData = ctx.load();
    if let Some(skipped) = skipped_unless_fulfilled(&data) {
        return skipped;
    }
    for id in data.planned.clone() {
        if data.cancelled_shipments.contains(&id) || data.kept_shipments.contains(&id) {
            continue;
        }
        // Cancelling a cancelled shipment succeeds: a run after a crash
        // cancels the same ones again, harmlessly.
        let request = ctx.request(CancelShipmentRequest {
            target: Some(cancel_shipment_request::Target::ShipmentId(id.clone())),
            reason: "order cancelled".into(),
            actor: Some(ctx.actor()),
        });
        match ctx.peers.shipping.clone().cancel_shipment(request).await {
            Ok(_) => data.cancelled_shipments.push(id),
            Err(status) => {
                let error = ctx.error(&status);
                // The carrier has it (or it arrived): it goes on.
                if matches!(
                    error.reason.as_str(),
                    "SHIPMENT_IN_CARRIER_CUSTODY" | "ILLEGAL_STATE_TRANSITION"
                ) {
                    data.kept_shipments.push(id);
                } else {
                    ctx.save(&data);
                    return ctx.failed(&status);
                }
            }
        }
        ctx.save(&data);
    }
    ctx.save(&data);
    Outcome::Done {
        detail: format!(
            "{} cancelled, {} with the carrier",
            data.cancelled_shipments.len(),
            data.kept_shipments.len()
        ),
    }
}

/// An order line's id, for a shipment line named by id or by SKU.
fn line_of<'a>(order: &'a Order, line_id: &str, sku: &str) -> Option<&'a OrderLine> {
    order.lines.iter().find(|line| {
        if line_id.is_empty() {
            line.sku == sku
        } else {
            line.line_id == line_id
        }
    })
}

/// Units of a line neither shipped nor cancelled.
fn open_units(line: &OrderLine) -> i32 {
    (line.quantity - line.shipped_quantity - line.cancelled_quantity).max(0)
}

/// Chooses, once the fulfilment saga completed, what the saga cancels.
/// The whole order: every open shipment (not cancelled, not with a carrier),
/// or for an order without shipments (pickup) every open unit at the store.
/// A partial cancellation: the open shipments carrying only units it names
/// are cancelled; its units in a shipment carrying other goods are taken out
/// of it (the shipment goes on with the rest); at a pickup store, the named
/// units.
fn plan(order: &Order, data: &mut CancelData) {
    let partial = !data.requested.is_empty();
    let mut wanted: HashMap<String, i32> = HashMap::new();
    for requested in &data.requested {
        if let Some(line) = line_of(order, &requested.line_id, &requested.sku) {
            *wanted.entry(line.line_id.clone()).or_default() += requested.quantity;
        }
    }
    data.planned.clear();
    data.loose.clear();
    data.trimmed_shipments.clear();
    data.kept_shipments.clear();
    if order.shipments.is_empty() {
        for line in &order.lines {
            let open = open_units(line);
            let units = if partial {
                open.min(wanted.get(&line.line_id).copied().unwrap_or(0))
            } else {
                open
            };
            if units > 0 {
                data.loose.push((
                    line.line_id.clone(),
                    line.sku.clone(),
                    order.pickup_location_id.clone(),
                    units,
                ));
            }
        }
        return;
    }
    for shipment in &order.shipments {
        if shipment.cancel_time.is_some() {
            continue;
        }
        if shipment.ship_time.is_some() || shipment.delivery_time.is_some() {
            // With the carrier: it goes on, and the order says so when it
            // carries units this cancellation names.
            let concerned = !partial
                || shipment.lines.iter().any(|carried| {
                    line_of(order, &carried.line_id, &carried.sku)
                        .is_some_and(|line| wanted.get(&line.line_id).is_some_and(|n| *n > 0))
                });
            if concerned {
                data.kept_shipments.push(shipment.shipment_id.clone());
            }
            continue;
        }
        if !partial {
            data.planned.push(shipment.shipment_id.clone());
            continue;
        }
        let mut taken = Vec::new();
        let mut everything = true;
        for carried in &shipment.lines {
            let Some(line) = line_of(order, &carried.line_id, &carried.sku) else {
                everything = false;
                continue;
            };
            let left = wanted.entry(line.line_id.clone()).or_default();
            let units = carried.quantity.min(*left);
            *left -= units;
            everything &= units == carried.quantity;
            if units > 0 {
                taken.push((
                    line.line_id.clone(),
                    line.sku.clone(),
                    shipment.location_id.clone(),
                    units,
                ));
            }
        }
        if everything {
            data.planned.push(shipment.shipment_id.clone());
        } else if !taken.is_empty() {
            data.loose.extend(taken);
            data.trimmed_shipments.push(shipment.shipment_id.clone());
        }
    }
}

// ---- restock: the cancelled units, where they were to ship from.

const RESTOCK: StepDef = StepDef {
    name: "restock",
    forward_rpc: "oms.inventory.v1.InventoryService/Restock",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: FORWARD,
};

/// The units of the cancelled shipments per (order line, location).
fn shipped_units(order: &Order, data: &CancelData) -> Vec<(String, String, String, i32)> {
    order
        .shipments
        .iter()
        .filter(|shipment| data.cancelled_shipments.contains(&shipment.shipment_id))
        .flat_map(|shipment| {
            shipment.lines.iter().filter_map(|carried| {
                let line = line_of(order, &carried.line_id, &carried.sku)?;
                Some((
                    line.line_id.clone(),
                    line.sku.clone(),
                    shipment.location_id.clone(),
                    carried.quantity,
                ))
            })
        })
        .collect()
}

async fn restock(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: CancelData = ctx.load();
    if let Some(skipped) = skipped_unless_fulfilled(&data) {
        return skipped;
    }
    // Those of the shipments cancelled, and the loose ones chosen at the pivot,
    // once per (line, location).
    let mut units = data.loose.clone();
    if !data.cancelled_shipments.is_empty() {
        let order = match read_order(ctx).await {
            Ok(order) => order,
            Err(outcome) => return outcome,
        };
        units.extend(shipped_units(&order, &data));
    }
    data.units = Vec::new();
    for unit in units {
        match data
            .units
            .iter_mut()
            .find(|known| known.0 == unit.0 && known.2 == unit.2)
        {
            Some(known) => known.3 += unit.3,
            None => data.units.push(unit),
        }
    }
    ctx.save(&data);
    if data.units.is_empty() {
        return Outcome::Skipped {
            detail: "no unit to put back".into(),
        };
    }
    let request = ctx.request(RestockRequest {
        source: RestockSource::Cancellation as i32,
        source_id: ctx.order_id.to_owned(),
        lines: data
            .units
            .iter()
            .map(|(line_id, sku, location, quantity)| RestockLine {
                line_id: restock_key(line_id, location, ctx.cancellation),
                sku: sku.clone(),
                location_id: location.clone(),
                quantity: *quantity,
            })
            .collect(),
        actor: Some(ctx.actor()),
        note: "order cancelled".into(),
    });
    match ctx.peers.inventory.clone().restock(request).await {
        Ok(_) => Outcome::Done {
            detail: format!(
                "{} units back on hand",
                data.units.iter().map(|unit| unit.3).sum::<i32>()
            ),
        },
        Err(status) => ctx.failed(&status),
    }
}

/// Restock's key of a line's units back at a location: "<line>@<location>",
/// with "#<cancellation>" for a partial cancellation, so that the whole
/// order's cancellation after partial ones restocks its own units.
fn restock_key(line_id: &str, location: &str, cancellation: i32) -> String {
    if cancellation == 0 {
        format!("{line_id}@{location}")
    } else {
        format!("{line_id}@{location}#{cancellation}")
    }
}

/// Units this saga cancels, per order line id.
fn units_per_line(data: &CancelData) -> Vec<(String, i32)> {
    let mut per_line: Vec<(String, i32)> = Vec::new();
    for (line_id, _, _, units) in &data.units {
        match per_line.iter_mut().find(|(known, _)| known == line_id) {
            Some((_, total)) => *total += units,
            None => per_line.push((line_id.clone(), *units)),
        }
    }
    per_line
}

// ---- refund_payment: the cancelled units' value.

const REFUND_PAYMENT: StepDef = StepDef {
    name: "refund_payment",
    forward_rpc: "oms.payment.v1.PaymentService/Refund",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: FORWARD,
};

async fn refund_payment(ctx: &mut StepContext<'_>) -> Outcome {
    let data: CancelData = ctx.load();
    if let Some(skipped) = skipped_unless_fulfilled(&data) {
        return skipped;
    }
    let order = match read_order(ctx).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    if order.payment_id.is_empty() {
        return Outcome::Skipped {
            detail: "no payment: nothing was paid".into(),
        };
    }
    let price = |line_id: &str| {
        order
            .lines
            .iter()
            .find(|line| line.line_id == line_id)
            .and_then(|line| line.unit_price.as_ref())
            .map_or(0, |money| money.amount_minor)
    };
    let mut amount: i64 = data
        .units
        .iter()
        .map(|(line_id, _, _, units)| price(line_id).saturating_mul(i64::from(*units)))
        .fold(0, i64::saturating_add);
    let totals = order.totals.clone().unwrap_or_default();
    let now = units_per_line(&data);
    let every_unit_cancelled = order.lines.iter().all(|line| {
        let cancelled_now = now
            .iter()
            .find(|(line_id, _)| *line_id == line.line_id)
            .map_or(0, |(_, units)| *units);
        line.cancelled_quantity + cancelled_now >= line.quantity
    });
    if every_unit_cancelled {
        // Every unit is cancelled: the shipping price too, less any credit.
        let shipping = totals.shipping_total.map_or(0, |money| money.amount_minor);
        let credit = totals.credit_total.map_or(0, |money| money.amount_minor);
        amount = amount.saturating_add(shipping).saturating_sub(credit);
    }
    let read = ctx.request(GetPaymentRequest {
        payment_id: order.payment_id.clone(),
    });
    let payment = match ctx.peers.payment.clone().get_payment(read).await {
        Ok(response) => response.into_inner().payment.unwrap_or_default(),
        Err(status) => return ctx.failed(&status),
    };
    let refundable = payment
        .refundable_amount
        .as_ref()
        .map_or(0, |money| money.amount_minor);
    let amount = amount.min(refundable);
    if amount <= 0 {
        return Outcome::Skipped {
            detail: "nothing to refund".into(),
        };
    }
    let request = ctx.request(RefundRequest {
        payment_id: order.payment_id.clone(),
        amount: Some(Money {
            currency_code: order.currency_code.clone(),
            amount_minor: amount,
        }),
        reason: RefundReason::Cancellation as i32,
        reference_id: ctx.saga_id.to_string(),
        note: "order cancelled".into(),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.payment.clone().refund(request).await {
        Ok(_) => Outcome::Done {
            detail: format!("refunded {amount}"),
        },
        Err(status) => ctx.failed(&status),
    }
}

// ---- mark_cancelled: the order is CANCELLED (what the carrier has goes on).

const MARK_CANCELLED: StepDef = StepDef {
    name: "mark_cancelled",
    forward_rpc: "oms.order.v1.OrderService/MarkStatus",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: FORWARD,
};

async fn mark_cancelled(ctx: &mut StepContext<'_>) -> Outcome {
    let data: CancelData = ctx.load();
    let mut reason = ctx.cancel_reason.to_owned();
    let partial = ctx.cancellation > 0;
    // Only the units not with a carrier are cancelled; the order says which
    // shipments go on.
    if !data.kept_shipments.is_empty() {
        reason = format!(
            "{reason}; with the carrier, goes on: {}",
            data.kept_shipments.join(", ")
        );
    }
    if !data.trimmed_shipments.is_empty() {
        reason = format!(
            "{reason}; goes on without the cancelled units: {}",
            data.trimmed_shipments.join(", ")
        );
    }
    let lines = if data.kept_shipments.is_empty() && !partial {
        Vec::new()
    } else {
        units_per_line(&data)
            .into_iter()
            .map(|(line_id, units)| LineQuantity {
                line_id,
                sku: String::new(),
                quantity: units,
            })
            .collect()
    };
    let request = ctx.request(MarkStatusRequest {
        order_id: ctx.order_id.to_owned(),
        event_id: ctx.key(),
        status: OrderStatus::Cancelled as i32,
        lines,
        saga_id: ctx.saga_id.to_string(),
        actor: Some(ctx.actor()),
        reason: reason.chars().take(500).collect(),
        cancellation: ctx.cancellation,
        // Whether it changed the order is all this step reads.
        omit_order: true,
        ..Default::default()
    });
    match ctx.peers.order.clone().mark_status(request).await {
        Ok(response) => Outcome::Done {
            detail: match (response.into_inner().changed, partial) {
                (true, true) => format!(
                    "{} units recorded cancelled",
                    data.units.iter().map(|unit| unit.3).sum::<i32>()
                ),
                (true, false) => "order CANCELLED".into(),
                (false, _) => "the cancellation was recorded already".into(),
            },
        },
        Err(status) => ctx.failed(&status),
    }
}
