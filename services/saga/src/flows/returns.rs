//! The return saga, as saga.proto specifies it. Its waits are timers in the
//! saga's row ([`Outcome::Wait`]), never sleeps: a restart, a takeover or a
//! week of waiting loses nothing.
//!
//! ```text
//! issue_return_label  CreateReturnLabel + RecordReturnLabel   <- CancelShipment + CloseReturn
//! await_receipt       GetReturn until RECEIVED (THE PIVOT); expires unsent
//!                     goods, STUCK when a parcel never arrives
//! await_inspection    GetReturn until INSPECTED
//! restock             Restock of what inspection passed
//! settle_money        Refund + RecordRefund, or PlaceOrder + RecordExchange
//! mark_returned       MarkStatus RETURNED
//! close_return        CloseReturn COMPLETED
//! ```
//!
//! Money of a return from an exchange's replacement order: the refund on
//! that order's payment is at most what was captured there (nothing when its
//! total was zero); the rest, at most the order's credit, is the credit the
//! exchange gave, and goes back where that money was captured: the original
//! order's payment.

use chrono::{DateTime, Utc};
use oms_proto::{
    common::v1::Money,
    inventory::v1::{RestockLine, RestockRequest, RestockSource},
    order::v1::{
        self as order_pb, GetOrderRequest, LineQuantity, MarkStatusRequest, Order, OrderStatus,
        PlaceOrderRequest, Reference, ReferenceKind,
    },
    payment::v1::{GetPaymentRequest, RefundReason, RefundRequest},
    returns::v1::{
        CloseReason, CloseReturnRequest, GetReturnRequest, RecordExchangeRequest,
        RecordRefundRequest, RecordReturnLabelRequest, Return, ReturnLabel, ReturnResolution,
        ReturnStatus,
    },
    shipping::v1::{
        CancelShipmentRequest, CreateReturnLabelRequest, ShipmentLine, cancel_shipment_request,
    },
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::{
    domain::step::{Outcome, RetryPolicy, StepDef},
    engine::context::StepContext,
};

/// The version of this flow that new sagas start on.
pub const VERSION: i32 = 1;

/// The return saga's steps, in order.
pub static STEPS: [StepDef; 7] = [
    ISSUE_RETURN_LABEL,
    AWAIT_RECEIPT,
    AWAIT_INSPECTION,
    RESTOCK,
    SETTLE_MONEY,
    MARK_RETURNED,
    CLOSE_RETURN,
];

/// A step keeps trying for a quarter of an hour before the saga compensates
/// (before the pivot) or is STUCK (after it).
const CALLS: RetryPolicy = RetryPolicy {
    max_attempts: 20,
    deadline: Duration::from_secs(900),
    ..RetryPolicy::SERVICE_CALL
};

/// The waits: their deadlines are the flow's own (the coordinator's
/// settings); a failing GetReturn is retried for a day.
const WAITS: RetryPolicy = RetryPolicy {
    max_attempts: 1000,
    deadline: Duration::from_secs(24 * 3600),
    ..RetryPolicy::SERVICE_CALL
};

/// Why await_receipt gave up: the goods were not sent in time. The
/// compensation closes the return EXPIRED.
pub const EXPIRED: &str = "RETURN_EXPIRED";

/// What the saga keeps between its steps; never personal data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReturnData {
    /// A return label was issued.
    pub label: bool,
    /// When await_receipt first looked: its deadlines count from here.
    pub waiting_since: Option<DateTime<Utc>>,
    /// Units received per SKU: (sku, restock, damaged).
    pub received: Vec<(String, i32, i32)>,
    /// What inspection sends back to stock: (sku, location, units).
    pub restock: Vec<(String, String, i32)>,
    /// The refund total decided at inspection, in minor units.
    pub refund_total: i64,
    /// The order's currency.
    pub currency: String,
    /// The resolution is an exchange.
    pub exchange: bool,
    /// The exchange's price difference (replacement minus refund total).
    pub price_difference: i64,
    /// The exchange's replacement order, once placed.
    pub replacement_order_id: String,
    /// The return was closed by settle_money (nothing to refund).
    pub closed: bool,
}

/// Runs the forward call of step `index`.
pub async fn forward(index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match STEPS[index].name {
        "issue_return_label" => issue_return_label(ctx).await,
        "await_receipt" => await_receipt(ctx).await,
        "await_inspection" => await_inspection(ctx).await,
        "restock" => restock(ctx).await,
        "settle_money" => settle_money(ctx).await,
        "mark_returned" => mark_returned(ctx).await,
        _ => close_return(ctx).await,
    }
}

/// Runs the compensation of step `index`: only the label has one.
pub async fn compensate(index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match STEPS[index].name {
        "issue_return_label" => cancel_label(ctx).await,
        _ => Outcome::Skipped {
            detail: "nothing to undo".into(),
        },
    }
}

fn done(detail: impl Into<String>) -> Outcome {
    Outcome::Done {
        detail: detail.into(),
    }
}

fn status_of(rma: &Return) -> ReturnStatus {
    ReturnStatus::try_from(rma.status).unwrap_or(ReturnStatus::Unspecified)
}

fn amount(money: Option<&Money>) -> i64 {
    money.map_or(0, |money| money.amount_minor)
}

async fn read_return(ctx: &mut StepContext<'_>) -> Result<Return, Outcome> {
    let request = ctx.request(GetReturnRequest {
        return_id: ctx.return_id.to_owned(),
    });
    match ctx.peers.returns.clone().get_return(request).await {
        Ok(response) => Ok(response.into_inner().rma.unwrap_or_default()),
        Err(status) => Err(ctx.failed(&status)),
    }
}

async fn read_order(
    ctx: &mut StepContext<'_>,
    order_id: &str,
    with_payment_method: bool,
) -> Result<Order, Outcome> {
    let request = ctx.request(GetOrderRequest {
        order_id: order_id.to_owned(),
        include_payment_method: with_payment_method,
        ..Default::default()
    });
    match ctx.peers.order.clone().get_order(request).await {
        Ok(response) => Ok(response.into_inner().order.unwrap_or_default()),
        Err(status) => Err(ctx.failed(&status)),
    }
}

// ---- issue_return_label: a label from the customer's address, recorded.

const ISSUE_RETURN_LABEL: StepDef = StepDef {
    name: "issue_return_label",
    forward_rpc: "oms.shipping.v1.ShippingService/CreateReturnLabel",
    compensation_rpc: Some("oms.shipping.v1.ShippingService/CancelShipment"),
    compensation_operator_only: false,
    pivot: false,
    retry: CALLS,
};

async fn issue_return_label(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: ReturnData = ctx.load();
    let rma = match read_return(ctx).await {
        Ok(rma) => rma,
        Err(outcome) => return outcome,
    };
    match status_of(&rma) {
        ReturnStatus::Approved => {}
        ReturnStatus::Closed | ReturnStatus::Rejected | ReturnStatus::Requested => {
            return Outcome::Abandon(ctx.refusal(
                "ILLEGAL_STATE_TRANSITION",
                "the return is not approved (closed, rejected or not yet approved)",
                &[("status", status_of(&rma).as_str_name())],
            ));
        }
        _ => {
            data.label = rma.label.is_some();
            ctx.save(&data);
            return done("the label was issued, or the goods came without one");
        }
    }
    let order = match read_order(ctx, ctx.order_id.to_owned().as_str(), false).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    let Some(origin) = order.shipping_address.clone() else {
        return done("no shipping address: the goods come back by drop-off at a store");
    };
    let request = ctx.request(CreateReturnLabelRequest {
        return_id: ctx.return_id.to_owned(),
        order_id: ctx.order_id.to_owned(),
        location_id: rma.expected_location_id.clone(),
        lines: rma
            .lines
            .iter()
            .map(|line| ShipmentLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                description: String::new(),
            })
            .collect(),
        parcels: vec![ctx.settings.parcel],
        origin: Some(origin),
        actor: Some(ctx.actor()),
        ..Default::default()
    });
    let shipment = match ctx
        .peers
        .shipping
        .clone()
        .create_return_label(request)
        .await
    {
        Ok(response) => response.into_inner().shipment.unwrap_or_default(),
        Err(status) => return ctx.failed(&status),
    };
    let request = ctx.request(RecordReturnLabelRequest {
        return_id: ctx.return_id.to_owned(),
        label: Some(ReturnLabel {
            shipment_id: shipment.shipment_id.clone(),
            carrier: shipment.carrier.clone(),
            tracking_number: shipment.tracking_number.clone(),
            price: shipment.price.clone(),
        }),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.returns.clone().record_return_label(request).await {
        Ok(_) => {
            data.label = true;
            ctx.save(&data);
            done(format!(
                "label {} with {}",
                shipment.shipment_id, shipment.carrier
            ))
        }
        Err(status) => ctx.failed(&status),
    }
}

/// Voids the label (harmless without one) and closes the return: EXPIRED
/// when the goods were not sent in time, CANCELLED otherwise.
async fn cancel_label(ctx: &mut StepContext<'_>) -> Outcome {
    let expired = ctx.failure.is_some_and(|failure| failure.reason == EXPIRED);
    let request = ctx.request(CancelShipmentRequest {
        target: Some(cancel_shipment_request::Target::ReturnId(
            ctx.return_id.to_owned(),
        )),
        reason: if expired {
            "return expired".into()
        } else {
            "return saga stopped".into()
        },
        actor: Some(ctx.actor()),
    });
    if let Err(status) = ctx.peers.shipping.clone().cancel_shipment(request).await {
        return ctx.failed(&status);
    }
    let (reason, note) = if expired {
        (CloseReason::Expired, "the goods were not sent in time")
    } else {
        (
            CloseReason::Cancelled,
            "the return saga stopped before receipt",
        )
    };
    let request = ctx.request(CloseReturnRequest {
        return_id: ctx.return_id.to_owned(),
        close_reason: reason as i32,
        note: note.into(),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.returns.clone().close_return(request).await {
        Ok(_) => done(format!(
            "label voided, return closed {}",
            reason.as_str_name()
        )),
        Err(status) => ctx.failed(&status),
    }
}

// ---- await_receipt: THE PIVOT. Wait for the goods, within the deadlines.

const AWAIT_RECEIPT: StepDef = StepDef {
    name: "await_receipt",
    forward_rpc: "oms.returns.v1.ReturnsService/GetReturn",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: true,
    retry: WAITS,
};

/// The next look: after the poll interval, or at `deadline` if sooner.
fn next_look(ctx: &StepContext<'_>, now: DateTime<Utc>, deadline: DateTime<Utc>) -> DateTime<Utc> {
    let poll = chrono::Duration::from_std(ctx.settings.return_poll)
        .unwrap_or_else(|_| chrono::Duration::minutes(1));
    (now + poll).min(deadline)
}

fn after(since: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    since + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
}

async fn await_receipt(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: ReturnData = ctx.load();
    let rma = match read_return(ctx).await {
        Ok(rma) => rma,
        Err(outcome) => return outcome,
    };
    let now = Utc::now();
    let since = *data.waiting_since.get_or_insert(now);
    ctx.save(&data);
    let status = status_of(&rma);
    match status {
        ReturnStatus::Received
        | ReturnStatus::Inspected
        | ReturnStatus::Refunded
        | ReturnStatus::Exchanged => done(format!(
            "the goods arrived at {}",
            rma.receiving_location_id
        )),
        ReturnStatus::Closed if !rma.receiving_location_id.is_empty() => {
            done("the goods arrived; the return was closed since")
        }
        ReturnStatus::InTransit => {
            let deadline = after(since, ctx.settings.return_transit_within);
            if now >= deadline {
                return Outcome::Park(ctx.refusal(
                    "RETURN_LOST_IN_TRANSIT",
                    "the parcel has not arrived within the transit deadline",
                    &[],
                ));
            }
            Outcome::Wait {
                until: next_look(ctx, now, deadline),
                detail: "the parcel is on its way".into(),
            }
        }
        ReturnStatus::Approved | ReturnStatus::LabelIssued => {
            let deadline = after(since, ctx.settings.return_send_within);
            if now >= deadline {
                return Outcome::Abandon(ctx.refusal(
                    EXPIRED,
                    "the goods were not sent within the time to send them",
                    &[("status", status.as_str_name())],
                ));
            }
            Outcome::Wait {
                until: next_look(ctx, now, deadline),
                detail: "waiting for the customer to send the goods".into(),
            }
        }
        _ => Outcome::Abandon(ctx.refusal(
            "ILLEGAL_STATE_TRANSITION",
            "the return was closed or rejected before its goods arrived",
            &[("status", status.as_str_name())],
        )),
    }
}

// ---- await_inspection: wait for the restock list and the money decided.

const AWAIT_INSPECTION: StepDef = StepDef {
    name: "await_inspection",
    forward_rpc: "oms.returns.v1.ReturnsService/GetReturn",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: WAITS,
};

async fn await_inspection(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: ReturnData = ctx.load();
    let rma = match read_return(ctx).await {
        Ok(rma) => rma,
        Err(outcome) => return outcome,
    };
    let inspected = matches!(
        status_of(&rma),
        ReturnStatus::Inspected
            | ReturnStatus::Refunded
            | ReturnStatus::Exchanged
            | ReturnStatus::Closed
    );
    if !inspected {
        let now = Utc::now();
        return Outcome::Wait {
            until: next_look(ctx, now, DateTime::<Utc>::MAX_UTC),
            detail: "waiting for the inspection".into(),
        };
    }
    data.received = rma
        .lines
        .iter()
        .map(|line| {
            (
                line.sku.clone(),
                line.restock_quantity,
                line.damaged_quantity,
            )
        })
        .collect();
    data.restock = rma
        .restock
        .iter()
        .map(|item| (item.sku.clone(), item.location_id.clone(), item.quantity))
        .collect();
    let refund = rma.refund.clone().unwrap_or_default();
    data.refund_total = amount(refund.total.as_ref());
    data.currency = refund
        .total
        .as_ref()
        .map(|money| money.currency_code.clone())
        .unwrap_or_default();
    data.exchange = rma.resolution == ReturnResolution::Exchange as i32;
    if let Some(exchange) = &rma.exchange {
        data.price_difference = amount(exchange.price_difference.as_ref());
        data.replacement_order_id
            .clone_from(&exchange.replacement_order_id);
    }
    ctx.save(&data);
    done(format!(
        "inspected: {} units to restock, {} to settle",
        data.restock.iter().map(|item| item.2).sum::<i32>(),
        data.refund_total
    ))
}

// ---- restock: what inspection passed, where it arrived.

const RESTOCK: StepDef = StepDef {
    name: "restock",
    forward_rpc: "oms.inventory.v1.InventoryService/Restock",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: CALLS,
};

async fn restock(ctx: &mut StepContext<'_>) -> Outcome {
    let data: ReturnData = ctx.load();
    if data.restock.is_empty() {
        return Outcome::Skipped {
            detail: "nothing passed inspection as sellable".into(),
        };
    }
    let request = ctx.request(RestockRequest {
        source: RestockSource::Return as i32,
        source_id: ctx.return_id.to_owned(),
        lines: data
            .restock
            .iter()
            .map(|(sku, location, quantity)| RestockLine {
                line_id: sku.clone(),
                sku: sku.clone(),
                location_id: location.clone(),
                quantity: *quantity,
            })
            .collect(),
        actor: Some(ctx.actor()),
        note: "returned goods".into(),
    });
    match ctx.peers.inventory.clone().restock(request).await {
        Ok(_) => done(format!(
            "{} units back on hand",
            data.restock.iter().map(|item| item.2).sum::<i32>()
        )),
        Err(status) => ctx.failed(&status),
    }
}

// ---- settle_money: the refund, or the exchange's replacement order.

const SETTLE_MONEY: StepDef = StepDef {
    name: "settle_money",
    forward_rpc: "oms.payment.v1.PaymentService/Refund",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: CALLS,
};

/// A refund made: the payment, its transaction and the amount.
struct Refunded {
    payment_id: String,
    transaction_id: String,
    amount: i64,
}

/// What `payment_id` can still give back.
async fn refundable(ctx: &mut StepContext<'_>, payment_id: &str) -> Result<i64, Outcome> {
    if payment_id.is_empty() {
        return Ok(0);
    }
    let request = ctx.request(GetPaymentRequest {
        payment_id: payment_id.to_owned(),
    });
    match ctx.peers.payment.clone().get_payment(request).await {
        Ok(response) => Ok(amount(
            response
                .into_inner()
                .payment
                .unwrap_or_default()
                .refundable_amount
                .as_ref(),
        )),
        Err(status) => Err(ctx.failed(&status)),
    }
}

/// Refunds `value` on `payment_id`, under its own idempotency key (`part`
/// tells the step's refunds apart).
async fn refund(
    ctx: &mut StepContext<'_>,
    payment_id: &str,
    value: i64,
    reason: RefundReason,
    part: &str,
) -> Result<Refunded, Outcome> {
    let currency = ctx.load::<ReturnData>().currency;
    let request = ctx.request_part(
        RefundRequest {
            payment_id: payment_id.to_owned(),
            amount: Some(Money {
                currency_code: currency,
                amount_minor: value,
            }),
            reason: reason as i32,
            reference_id: ctx.return_id.to_owned(),
            note: "returned goods".into(),
            actor: Some(ctx.actor()),
        },
        part,
    );
    match ctx.peers.payment.clone().refund(request).await {
        Ok(response) => Ok(Refunded {
            payment_id: payment_id.to_owned(),
            transaction_id: response.into_inner().transaction_id,
            amount: value,
        }),
        Err(status) => Err(ctx.failed(&status)),
    }
}

async fn settle_money(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: ReturnData = ctx.load();
    let rma = match read_return(ctx).await {
        Ok(rma) => rma,
        Err(outcome) => return outcome,
    };
    match status_of(&rma) {
        ReturnStatus::Refunded | ReturnStatus::Exchanged => {
            if let Some(exchange) = &rma.exchange {
                data.replacement_order_id
                    .clone_from(&exchange.replacement_order_id);
                ctx.save(&data);
            }
            return done("settled already");
        }
        ReturnStatus::Closed => {
            data.closed = true;
            ctx.save(&data);
            return done("the return was closed already");
        }
        _ => {}
    }
    if data.exchange {
        return exchange(ctx, &mut data).await;
    }
    if data.refund_total <= 0 {
        let request = ctx.request(CloseReturnRequest {
            return_id: ctx.return_id.to_owned(),
            close_reason: CloseReason::NothingToRefund as i32,
            note: "nothing to refund".into(),
            actor: Some(ctx.actor()),
        });
        return match ctx.peers.returns.clone().close_return(request).await {
            Ok(_) => {
                data.closed = true;
                ctx.save(&data);
                done("nothing to refund: return closed")
            }
            Err(status) => ctx.failed(&status),
        };
    }
    refund_return(ctx, &data).await
}

/// Refunds the return's total: on the order's payment at most what it can
/// give back, the rest (a replacement order's credit) on the original
/// order's payment; then records it.
async fn refund_return(ctx: &mut StepContext<'_>, data: &ReturnData) -> Outcome {
    let order_id = ctx.order_id.to_owned();
    let order = match read_order(ctx, &order_id, false).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    let available = match refundable(ctx, &order.payment_id).await {
        Ok(available) => available,
        Err(outcome) => return outcome,
    };
    let total = data.refund_total;
    let paid_part = total.min(available);
    let mut credit_part = total - paid_part;
    let mut paid = None;
    if paid_part > 0 {
        match refund(
            ctx,
            &order.payment_id,
            paid_part,
            RefundReason::Return,
            "paid",
        )
        .await
        {
            Ok(refunded) => paid = Some(refunded),
            Err(outcome) => return outcome,
        }
    }
    let mut credit = None;
    if credit_part > 0 {
        let credit_total = order
            .totals
            .as_ref()
            .map_or(0, |totals| amount(totals.credit_total.as_ref()));
        let original = order
            .exchange
            .as_ref()
            .map(|exchange| exchange.original_order_id.clone())
            .unwrap_or_default();
        if original.is_empty() || credit_part > credit_total {
            return Outcome::Refused(ctx.refusal(
                "REFUND_EXCEEDS_CAPTURE",
                "the refund total is more than the order's payment can give back",
                &[("refund_total", &total.to_string())],
            ));
        }
        let original = match read_order(ctx, &original, false).await {
            Ok(order) => order,
            Err(outcome) => return outcome,
        };
        let there = match refundable(ctx, &original.payment_id).await {
            Ok(there) => there,
            Err(outcome) => return outcome,
        };
        credit_part = credit_part.min(there);
        if credit_part < total - paid_part {
            return Outcome::Refused(ctx.refusal(
                "REFUND_EXCEEDS_CAPTURE",
                "the credit is more than the original order's payment can give back",
                &[("refund_total", &total.to_string())],
            ));
        }
        match refund(
            ctx,
            &original.payment_id,
            credit_part,
            RefundReason::Return,
            "credit",
        )
        .await
        {
            Ok(refunded) => credit = Some(refunded),
            Err(outcome) => return outcome,
        }
    }
    let money = |value: i64| {
        Some(Money {
            currency_code: data.currency.clone(),
            amount_minor: value,
        })
    };
    let (paid_payment, paid_transaction) = paid
        .as_ref()
        .map(|r| (r.payment_id.clone(), r.transaction_id.clone()))
        .unwrap_or_default();
    let (credit_payment, credit_transaction, credit_amount) = credit
        .as_ref()
        .map(|r| (r.payment_id.clone(), r.transaction_id.clone(), r.amount))
        .unwrap_or_default();
    let request = ctx.request(RecordRefundRequest {
        return_id: ctx.return_id.to_owned(),
        payment_id: paid_payment,
        transaction_id: paid_transaction,
        amount: money(paid_part),
        actor: Some(ctx.actor()),
        credit_amount: money(credit_amount),
        credit_payment_id: credit_payment,
        credit_transaction_id: credit_transaction,
    });
    match ctx.peers.returns.clone().record_refund(request).await {
        Ok(_) => done(format!(
            "refunded {paid_part} on the order's payment, {credit_amount} of credit"
        )),
        Err(status) => ctx.failed(&status),
    }
}

/// Places the exchange's replacement order (its own saga charges what the
/// credit does not cover), refunds a negative difference on the original
/// order's payment, and records the exchange.
async fn exchange(ctx: &mut StepContext<'_>, data: &mut ReturnData) -> Outcome {
    let rma = match read_return(ctx).await {
        Ok(rma) => rma,
        Err(outcome) => return outcome,
    };
    let order_id = ctx.order_id.to_owned();
    let original = match read_order(ctx, &order_id, true).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    let replacement = rma.exchange.clone().unwrap_or_default();
    let place = ctx.request(PlaceOrderRequest {
        channel: original.channel.clone(),
        external_reference: format!("exchange:{}", ctx.return_id),
        customer: original.customer.clone(),
        shipping_address: original.shipping_address.clone(),
        lines: replacement.replacement_lines.clone(),
        currency_code: original.currency_code.clone(),
        delivery_option: original.delivery_option.clone(),
        payment_method: original.payment_method.clone(),
        exchange: Some(order_pb::Exchange {
            return_id: ctx.return_id.to_owned(),
            original_order_id: original.order_id.clone(),
            credit: Some(Money {
                currency_code: original.currency_code.clone(),
                amount_minor: data.refund_total,
            }),
        }),
        actor: Some(ctx.actor()),
        ..Default::default()
    });
    let placed = match ctx.peers.order.clone().place_order(place).await {
        Ok(response) => response.into_inner().order.unwrap_or_default(),
        Err(status) => return ctx.failed(&status),
    };
    data.replacement_order_id.clone_from(&placed.order_id);
    ctx.save(data);
    let mut refunded = None;
    if data.price_difference < 0 {
        let back = -data.price_difference;
        match refund(
            ctx,
            &original.payment_id,
            back,
            RefundReason::ExchangeDifference,
            "difference",
        )
        .await
        {
            Ok(refund) => refunded = Some(refund),
            Err(outcome) => return outcome,
        }
    }
    let (payment_id, transaction_id) = refunded
        .map(|r| (r.payment_id, r.transaction_id))
        .unwrap_or_default();
    let request = ctx.request(RecordExchangeRequest {
        return_id: ctx.return_id.to_owned(),
        replacement_order_id: placed.order_id.clone(),
        price_difference: Some(Money {
            currency_code: original.currency_code.clone(),
            amount_minor: data.price_difference,
        }),
        payment_id,
        transaction_id,
        actor: Some(ctx.actor()),
    });
    match ctx.peers.returns.clone().record_exchange(request).await {
        Ok(_) => done(format!(
            "replacement order {} placed, difference {}",
            placed.order_id, data.price_difference
        )),
        Err(status) => ctx.failed(&status),
    }
}

// ---- mark_returned: the order counts the units that came back.

const MARK_RETURNED: StepDef = StepDef {
    name: "mark_returned",
    forward_rpc: "oms.order.v1.OrderService/MarkStatus",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: CALLS,
};

async fn mark_returned(ctx: &mut StepContext<'_>) -> Outcome {
    let data: ReturnData = ctx.load();
    let lines: Vec<LineQuantity> = data
        .received
        .iter()
        .filter(|(_, restock, damaged)| restock + damaged > 0)
        .map(|(sku, restock, damaged)| LineQuantity {
            line_id: String::new(),
            sku: sku.clone(),
            quantity: restock + damaged,
        })
        .collect();
    if lines.is_empty() {
        return Outcome::Skipped {
            detail: "no unit came back".into(),
        };
    }
    let mut references = Vec::new();
    if !data.replacement_order_id.is_empty() {
        references.push(Reference {
            kind: ReferenceKind::OrderId as i32,
            value: data.replacement_order_id.clone(),
        });
    }
    let request = ctx.request(MarkStatusRequest {
        order_id: ctx.order_id.to_owned(),
        event_id: ctx.key(),
        status: OrderStatus::Returned as i32,
        lines,
        return_id: ctx.return_id.to_owned(),
        saga_id: ctx.saga_id.to_string(),
        references,
        actor: Some(ctx.actor()),
        reason: "returned goods".into(),
        ..Default::default()
    });
    match ctx.peers.order.clone().mark_status(request).await {
        Ok(response) => {
            let order = response.into_inner().order.unwrap_or_default();
            done(format!(
                "order {}",
                OrderStatus::try_from(order.status)
                    .unwrap_or(OrderStatus::Unspecified)
                    .as_str_name()
            ))
        }
        Err(status) => ctx.failed(&status),
    }
}

// ---- close_return: the return is done.

const CLOSE_RETURN: StepDef = StepDef {
    name: "close_return",
    forward_rpc: "oms.returns.v1.ReturnsService/CloseReturn",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: CALLS,
};

async fn close_return(ctx: &mut StepContext<'_>) -> Outcome {
    let data: ReturnData = ctx.load();
    if data.closed {
        return Outcome::Skipped {
            detail: "closed by settle_money: nothing to refund".into(),
        };
    }
    let request = ctx.request(CloseReturnRequest {
        return_id: ctx.return_id.to_owned(),
        close_reason: CloseReason::Completed as i32,
        note: String::new(),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.returns.clone().close_return(request).await {
        Ok(_) => done("return closed COMPLETED"),
        Err(status) => ctx.failed(&status),
    }
}
