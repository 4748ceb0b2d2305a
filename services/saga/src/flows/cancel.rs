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

use std::time::Duration;

use chrono::Utc;
use oms_proto::{
    common::v1::Money,
    inventory::v1::{RestockLine, RestockRequest, RestockSource},
    order::v1::{GetOrderRequest, LineQuantity, MarkStatusRequest, Order, OrderStatus},
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

/// What the saga keeps between its steps; never personal data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CancelData {
    /// The order saga completed: stock was committed and money captured.
    pub fulfilled: bool,
    /// Shipments cancelled.
    pub cancelled_shipments: Vec<String>,
    /// Shipments the carrier already had: they go on, their units are not
    /// cancelled.
    pub kept_shipments: Vec<String>,
    /// Units cancelled: (order line id, sku, location, units).
    pub units: Vec<(String, String, String, i32)>,
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
        .by_natural_key(SagaKind::Order, ctx.order_id, "")
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
    match saga.state {
        SagaState::Running if !saga.body.pivot_passed => {
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
            data.fulfilled = true;
            ctx.save(&data);
            Outcome::Done {
                detail: format!("fulfilment saga {} completed", saga.saga_id),
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
    let order = match read_order(ctx).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    for shipment in &order.shipments {
        let id = &shipment.shipment_id;
        if data.cancelled_shipments.contains(id) || data.kept_shipments.contains(id) {
            continue;
        }
        if shipment.cancel_time.is_some() {
            data.cancelled_shipments.push(id.clone());
            continue;
        }
        if shipment.ship_time.is_some() || shipment.delivery_time.is_some() {
            data.kept_shipments.push(id.clone());
            continue;
        }
        let request = ctx.request(CancelShipmentRequest {
            target: Some(cancel_shipment_request::Target::ShipmentId(id.clone())),
            reason: "order cancelled".into(),
            actor: Some(ctx.actor()),
        });
        match ctx.peers.shipping.clone().cancel_shipment(request).await {
            Ok(_) => data.cancelled_shipments.push(id.clone()),
            Err(status) => {
                let error = ctx.error(&status);
                // The carrier has it (or it arrived): it goes on.
                if matches!(
                    error.reason.as_str(),
                    "SHIPMENT_IN_CARRIER_CUSTODY" | "ILLEGAL_STATE_TRANSITION"
                ) {
                    data.kept_shipments.push(id.clone());
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

// ---- restock: the cancelled units, where they were to ship from.

const RESTOCK: StepDef = StepDef {
    name: "restock",
    forward_rpc: "oms.inventory.v1.InventoryService/Restock",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: FORWARD,
};

/// The cancelled units per (order line, location): those of the cancelled
/// shipments, or for a pickup order every unit at the store.
fn cancelled_units(order: &Order, data: &CancelData) -> Vec<(String, String, String, i32)> {
    let line_id = |sku: &str, line_id: &str| {
        if line_id.is_empty() {
            order
                .lines
                .iter()
                .find(|line| line.sku == sku)
                .map(|line| line.line_id.clone())
                .unwrap_or_default()
        } else {
            line_id.to_owned()
        }
    };
    let sku_of = |line_id: &str, sku: &str| {
        if sku.is_empty() {
            order
                .lines
                .iter()
                .find(|line| line.line_id == line_id)
                .map(|line| line.sku.clone())
                .unwrap_or_default()
        } else {
            sku.to_owned()
        }
    };
    if order.shipments.is_empty() {
        return order
            .lines
            .iter()
            .filter(|line| line.quantity > line.shipped_quantity)
            .map(|line| {
                (
                    line.line_id.clone(),
                    line.sku.clone(),
                    order.pickup_location_id.clone(),
                    line.quantity - line.shipped_quantity,
                )
            })
            .collect();
    }
    order
        .shipments
        .iter()
        .filter(|shipment| data.cancelled_shipments.contains(&shipment.shipment_id))
        .flat_map(|shipment| {
            shipment.lines.iter().map(|line| {
                (
                    line_id(&line.sku, &line.line_id),
                    sku_of(&line.line_id, &line.sku),
                    shipment.location_id.clone(),
                    line.quantity,
                )
            })
        })
        .collect()
}

async fn restock(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: CancelData = ctx.load();
    if let Some(skipped) = skipped_unless_fulfilled(&data) {
        return skipped;
    }
    let order = match read_order(ctx).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    data.units = cancelled_units(&order, &data);
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
                line_id: format!("{line_id}@{location}"),
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
    if data.kept_shipments.is_empty() {
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
    // Only the units not with a carrier are cancelled; the order says which
    // shipments go on.
    let lines = if data.kept_shipments.is_empty() {
        Vec::new()
    } else {
        reason = format!(
            "{reason}; with the carrier, goes on: {}",
            data.kept_shipments.join(", ")
        );
        data.units
            .iter()
            .map(|(line_id, _, _, units)| LineQuantity {
                line_id: line_id.clone(),
                sku: String::new(),
                quantity: *units,
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
        ..Default::default()
    });
    match ctx.peers.order.clone().mark_status(request).await {
        Ok(response) => Outcome::Done {
            detail: if response.into_inner().changed {
                "order CANCELLED".into()
            } else {
                "the order was cancelled already".into()
            },
        },
        Err(status) => ctx.failed(&status),
    }
}
