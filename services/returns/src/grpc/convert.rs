//! Proto <-> domain for the returns service: request checks that name every bad
//! field, the order as the eligibility rules see it, and a stored return as the
//! contract's `Return`.
//!
//! It is long because it checks every field of fourteen requests, naming each
//! bad one; each check sits beside the message it reads.

use std::collections::{BTreeSet, HashSet};

use oms_platform::{
    convert::{actor, actor_to_proto, channel_to_proto, from_timestamp, money, time, timestamp},
    error::FieldViolations,
    ids::{self, Invalid},
};
use oms_proto::{
    common::v1 as common,
    order::v1 as order,
    returns::v1::{self as pb},
};
use uuid::Uuid;

use crate::{
    domain::{
        Actor, ActorKind, Channel, LocationId, MintedId, OrderId, Sku,
        eligibility::OrderLine,
        policy::{MAX_FINAL_SALE_SKUS, Policy, Resolution, ReturnReason, ShippingPayer},
        refund,
    },
    error::ReturnsError,
    store::{PolicyRow, ReturnRecord},
};

/// The longest customer comment.
const MAX_COMMENT: usize = 1000;
/// The longest note or reason on a step.
pub const MAX_NOTE: usize = 500;
/// The most lines a return may have.
const MAX_LINES: usize = 500;
/// The most replacement lines of an exchange: the replacement order is placed
/// through PlaceOrder, which takes at most 200 lines.
const MAX_REPLACEMENT_LINES: usize = 200;
/// The longest carrier code: what the shipping service takes as one.
const MAX_CARRIER: usize = 128;
/// The most units of one line.
const MAX_UNITS: i32 = 100_000;

fn finish<T>(violations: FieldViolations, value: Option<T>) -> Result<T, ReturnsError> {
    match value {
        Some(value) if violations.is_empty() => Ok(value),
        _ => Err(ReturnsError::Invalid(violations)),
    }
}

/// A return id as this service mints them.
pub fn return_id(violations: &mut FieldViolations, value: &str) -> Option<Uuid> {
    minted(violations, "return_id", value)
}

/// A required id another OMS service minted (a shipment, payment, transaction
/// or order id).
pub fn minted(violations: &mut FieldViolations, field: &str, value: &str) -> Option<Uuid> {
    violations
        .check(field, MintedId::parse(value))
        .map(|id| id.uuid())
}

/// A required text of at most `max` characters.
fn required_text(violations: &mut FieldViolations, field: &str, value: &str, max: usize) -> String {
    if value.is_empty() {
        violations.add(field, "required");
    } else if value.chars().count() > max {
        violations.add(field, format!("must be at most {max} characters"));
    }
    value.to_owned()
}

/// An optional note of at most `max` characters.
pub fn note(violations: &mut FieldViolations, field: &str, value: &str, max: usize) -> String {
    violations
        .check(field, ids::note(value, max))
        .unwrap_or_default()
}

/// An optional location id; `Some(None)` when empty.
fn optional_location(
    violations: &mut FieldViolations,
    field: &str,
    value: &str,
) -> Option<Option<LocationId>> {
    if value.is_empty() {
        return Some(None);
    }
    violations.check(field, LocationId::parse(value)).map(Some)
}

/// A checked RequestReturn.
#[derive(Debug, Clone)]
pub struct ReturnRequest {
    pub order_id: OrderId,
    /// (sku, units, reason) in request order.
    pub lines: Vec<(Sku, i32, ReturnReason)>,
    pub resolution: Resolution,
    /// (sku, units, unit price with its currency).
    pub replacements: Vec<(Sku, i32, common::Money)>,
    pub comment: String,
    pub actor: Actor,
}

pub fn request_return(request: &pb::RequestReturnRequest) -> Result<ReturnRequest, ReturnsError> {
    let mut v = FieldViolations::new();
    let order_id = if request.order_id.is_empty() {
        v.add("order_id", "required");
        None
    } else {
        v.check("order_id", OrderId::parse(&request.order_id))
    };
    if request.lines.is_empty() {
        v.add("lines", "at least one line is required");
    } else if request.lines.len() > MAX_LINES {
        v.add("lines", format!("at most {MAX_LINES} lines"));
    }
    let mut seen = HashSet::new();
    let mut lines = Vec::with_capacity(request.lines.len());
    for (i, line) in request.lines.iter().enumerate() {
        let sku = v.check(format!("lines[{i}].sku"), Sku::parse(&line.sku));
        if let Some(sku) = &sku
            && !seen.insert(sku.clone())
        {
            v.add(format!("lines[{i}].sku"), "duplicate sku");
        }
        let units = v.check(format!("lines[{i}].quantity"), units(line.quantity));
        let reason = ReturnReason::from_code(line.reason);
        if reason.is_none() {
            v.add(format!("lines[{i}].reason"), "required");
        }
        if let (Some(sku), Some(units), Some(reason)) = (sku, units, reason) {
            lines.push((sku, units, reason));
        }
    }
    let resolution = Resolution::from_code(request.resolution);
    match resolution {
        None => v.add("resolution", "required"),
        Some(Resolution::Exchange) if request.replacement_lines.is_empty() => {
            v.add("replacement_lines", "an exchange needs at least one line");
        }
        Some(Resolution::Refund) if !request.replacement_lines.is_empty() => {
            v.add("replacement_lines", "must be empty for a refund");
        }
        Some(_) => {}
    }
    if request.replacement_lines.len() > MAX_REPLACEMENT_LINES {
        v.add(
            "replacement_lines",
            format!("at most {MAX_REPLACEMENT_LINES} lines"),
        );
    }
    let mut replacements = Vec::with_capacity(request.replacement_lines.len());
    let mut replaced = HashSet::new();
    for (i, line) in request.replacement_lines.iter().enumerate() {
        let sku = v.check(format!("replacement_lines[{i}].sku"), Sku::parse(&line.sku));
        // The replacement order takes each SKU on one line.
        if let Some(sku) = &sku
            && !replaced.insert(sku.clone())
        {
            v.add(format!("replacement_lines[{i}].sku"), "duplicate sku");
        }
        let units = v.check(
            format!("replacement_lines[{i}].quantity"),
            units(line.quantity),
        );
        let price = match &line.unit_price {
            None => {
                v.add(format!("replacement_lines[{i}].unit_price"), "required");
                None
            }
            Some(price) if price.amount_minor < 0 => {
                v.add(
                    format!("replacement_lines[{i}].unit_price"),
                    "must be zero or more",
                );
                None
            }
            Some(price) => Some(price.clone()),
        };
        if let (Some(sku), Some(units), Some(price)) = (sku, units, price) {
            replacements.push((sku, units, price));
        }
    }
    if request.comment.chars().count() > MAX_COMMENT {
        v.add(
            "comment",
            format!("must be at most {MAX_COMMENT} characters"),
        );
    }
    let actor = actor(&mut v, request.actor.as_ref());
    let value = match (order_id, resolution, actor) {
        (Some(order_id), Some(resolution), Some(actor)) => Some(ReturnRequest {
            order_id,
            lines,
            resolution,
            replacements,
            comment: request.comment.clone(),
            actor,
        }),
        _ => None,
    };
    finish(v, value)
}

fn units(quantity: i32) -> Result<i32, Invalid> {
    if !(1..=MAX_UNITS).contains(&quantity) {
        return Err(Invalid::new("must be 1 to 100000"));
    }
    Ok(quantity)
}

/// The order as the returns service sees it, read through GetOrder.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub channel: Channel,
    pub currency_code: String,
    pub lines: Vec<OrderLine>,
    /// Where each SKU's units shipped from (the first shipment carrying it that
    /// was not cancelled), or the pickup store.
    pub shipped_from: Vec<(Sku, LocationId)>,
}

/// Reads the parts of an order this service uses; an order the order service
/// answered with but that does not decode is corrupt, not the caller's fault.
pub fn order_view(order: &order::Order) -> Result<OrderView, ReturnsError> {
    let corrupt = || ReturnsError::Corrupt(format!("order {} as read", order.order_id));
    let channel = order
        .channel
        .as_ref()
        .and_then(|channel| Channel::new(channel.kind, &channel.name).ok())
        .ok_or_else(corrupt)?;
    let mut lines = Vec::with_capacity(order.lines.len());
    for line in &order.lines {
        lines.push(OrderLine {
            sku: Sku::parse(&line.sku).map_err(|_| corrupt())?,
            delivered: line.delivered_quantity,
            delivery_time: line.delivery_time.as_ref().and_then(from_timestamp),
            unit_price: line
                .unit_price
                .as_ref()
                .map(|price| price.amount_minor)
                .ok_or_else(corrupt)?,
        });
    }
    let sku_of = |quantity: &order::LineQuantity| -> Option<Sku> {
        if !quantity.sku.is_empty() {
            return Sku::parse(&quantity.sku).ok();
        }
        let line = order
            .lines
            .iter()
            .find(|line| line.line_id == quantity.line_id)?;
        Sku::parse(&line.sku).ok()
    };
    let mut shipped_from: Vec<(Sku, LocationId)> = Vec::new();
    for shipment in order.shipments.iter().filter(|s| s.cancel_time.is_none()) {
        let Ok(location) = LocationId::parse(&shipment.location_id) else {
            continue;
        };
        for sku in shipment.lines.iter().filter_map(sku_of) {
            if !shipped_from.iter().any(|(known, _)| *known == sku) {
                shipped_from.push((sku, location.clone()));
            }
        }
    }
    if let Ok(store) = LocationId::parse(&order.pickup_location_id) {
        for line in &lines {
            if !shipped_from.iter().any(|(known, _)| *known == line.sku) {
                shipped_from.push((line.sku.clone(), store.clone()));
            }
        }
    }
    Ok(OrderView {
        channel,
        currency_code: order.currency_code.clone(),
        lines,
        shipped_from,
    })
}

/// A checked ApproveReturn.
pub struct Approval {
    pub return_id: Uuid,
    pub location_id: Option<LocationId>,
    pub note: String,
    pub actor: Actor,
}

pub fn approve(request: &pb::ApproveReturnRequest) -> Result<Approval, ReturnsError> {
    let mut v = FieldViolations::new();
    let return_id = return_id(&mut v, &request.return_id);
    let location_id = optional_location(
        &mut v,
        "receiving_location_id",
        &request.receiving_location_id,
    );
    let note = note(&mut v, "note", &request.note, MAX_NOTE);
    let actor = actor(&mut v, request.actor.as_ref());
    let value = match (return_id, location_id, actor) {
        (Some(return_id), Some(location_id), Some(actor)) => Some(Approval {
            return_id,
            location_id,
            note,
            actor,
        }),
        _ => None,
    };
    finish(v, value)
}

/// The id, actor and one required text of a step request.
pub fn step(
    id: &str,
    text: Option<(&str, &str, usize)>,
    request_actor: Option<&common::Actor>,
) -> Result<(Uuid, String, Actor), ReturnsError> {
    let mut v = FieldViolations::new();
    let return_id = return_id(&mut v, id);
    let text = match text {
        Some((field, value, max)) => required_text(&mut v, field, value, max),
        None => String::new(),
    };
    let actor = actor(&mut v, request_actor);
    let value = return_id.zip(actor).map(|(id, actor)| (id, text, actor));
    finish(v, value)
}

/// A checked RecordReturnLabel.
pub struct Label {
    pub return_id: Uuid,
    pub shipment_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub price: common::Money,
    pub actor: Actor,
}

pub fn label(request: &pb::RecordReturnLabelRequest) -> Result<Label, ReturnsError> {
    let mut v = FieldViolations::new();
    let return_id = return_id(&mut v, &request.return_id);
    let label = request.label.clone().unwrap_or_default();
    if request.label.is_none() {
        v.add("label", "required");
    }
    let shipment_id = minted(&mut v, "label.shipment_id", &label.shipment_id);
    let carrier = required_text(&mut v, "label.carrier", &label.carrier, MAX_CARRIER);
    let tracking_number =
        required_text(&mut v, "label.tracking_number", &label.tracking_number, 128);
    let price = match label.price {
        Some(price) if price.amount_minor >= 0 => Some(price),
        Some(_) => {
            v.add("label.price", "must be zero or more");
            None
        }
        None => {
            if request.label.is_some() {
                v.add("label.price", "required");
            }
            None
        }
    };
    let actor = actor(&mut v, request.actor.as_ref());
    let value = match (return_id, shipment_id, price, actor) {
        (Some(return_id), Some(shipment_id), Some(price), Some(actor)) => Some(Label {
            return_id,
            shipment_id: shipment_id.to_string(),
            carrier,
            tracking_number,
            price,
            actor,
        }),
        _ => None,
    };
    finish(v, value)
}

/// A checked MarkReturnInTransit: (return, shipment, event time, actor).
pub fn in_transit(
    request: &pb::MarkReturnInTransitRequest,
) -> Result<(Uuid, String, chrono::DateTime<chrono::Utc>, Actor), ReturnsError> {
    let mut v = FieldViolations::new();
    let return_id = return_id(&mut v, &request.return_id);
    let shipment_id = minted(&mut v, "shipment_id", &request.shipment_id);
    if request.event_time.is_none() {
        v.add("event_time", "required");
    }
    let event_time = time(&mut v, "event_time", request.event_time.as_ref());
    let actor = actor(&mut v, request.actor.as_ref());
    let value = match (return_id, shipment_id, event_time, actor) {
        (Some(return_id), Some(shipment_id), Some(time), Some(actor)) => {
            Some((return_id, shipment_id.to_string(), time, actor))
        }
        _ => None,
    };
    finish(v, value)
}

/// A checked ReceiveReturn: (return, location, note, actor).
pub fn receive(
    request: &pb::ReceiveReturnRequest,
) -> Result<(Uuid, LocationId, String, Actor), ReturnsError> {
    let mut v = FieldViolations::new();
    let return_id = return_id(&mut v, &request.return_id);
    let location_id = if request.location_id.is_empty() {
        v.add("location_id", "required");
        None
    } else {
        v.check("location_id", LocationId::parse(&request.location_id))
    };
    let note = note(&mut v, "note", &request.note, MAX_NOTE);
    let actor = actor(&mut v, request.actor.as_ref());
    let value = match (return_id, location_id, actor) {
        (Some(return_id), Some(location_id), Some(actor)) => {
            Some((return_id, location_id, note, actor))
        }
        _ => None,
    };
    finish(v, value)
}

/// One line's inspection: (line number, restock, damaged, missing, note).
pub type Inspection = (i32, i32, i32, i32, String);

/// Checks an inspection against the return's lines: each line inspected once,
/// quantities that add up to the line's.
pub fn inspection(
    request: &pb::InspectReturnRequest,
    record: &ReturnRecord,
) -> Result<Vec<Inspection>, ReturnsError> {
    let mut v = FieldViolations::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(request.lines.len());
    for (i, inspection) in request.lines.iter().enumerate() {
        let field = |name: &str| format!("lines[{i}].{name}");
        let Some(line) = record.lines.iter().find(|line| line.sku == inspection.sku) else {
            v.add(field("sku"), "not a line of the return");
            continue;
        };
        if !seen.insert(line.line_number) {
            v.add(field("sku"), "inspected twice");
            continue;
        }
        let counts = [
            ("restock_quantity", inspection.restock_quantity),
            ("damaged_quantity", inspection.damaged_quantity),
            ("missing_quantity", inspection.missing_quantity),
        ];
        let mut negative = false;
        for (name, count) in counts {
            if count < 0 {
                v.add(field(name), "must be zero or more");
                negative = true;
            }
        }
        let sum = counts
            .iter()
            .map(|(_, count)| i64::from(*count))
            .sum::<i64>();
        if !negative && sum != i64::from(line.quantity) {
            v.add(
                format!("lines[{i}]"),
                format!(
                    "restock, damaged and missing must add up to the line's {} units",
                    line.quantity
                ),
            );
        }
        let note = note(&mut v, &field("note"), &inspection.note, MAX_NOTE);
        out.push((
            line.line_number,
            inspection.restock_quantity,
            inspection.damaged_quantity,
            inspection.missing_quantity,
            note,
        ));
    }
    for line in &record.lines {
        if !seen.contains(&line.line_number) {
            v.add("lines", format!("sku {} is not inspected", line.sku));
        }
    }
    finish(v, Some(out))
}

/// The checked common part of RecordRefund and RecordExchange: an amount in
/// the order's currency.
pub fn amount(
    v: &mut FieldViolations,
    field: &str,
    value: Option<&common::Money>,
) -> Option<common::Money> {
    if value.is_none() {
        v.add(field, "required");
    }
    value.cloned()
}

/// A channel of a request; `None` (with a violation) when invalid.
pub fn channel(
    v: &mut FieldViolations,
    field: &str,
    channel: Option<&common::Channel>,
) -> Option<Channel> {
    match channel {
        None => {
            v.add(field, "required");
            None
        }
        Some(channel) => v.check(field, Channel::new(channel.kind, &channel.name)),
    }
}

/// A checked PutReturnPolicy: the channel and its rules.
pub fn put_policy(
    request: &pb::PutReturnPolicyRequest,
) -> Result<(Channel, Policy, Actor), ReturnsError> {
    let mut v = FieldViolations::new();
    let policy = request.policy.clone().unwrap_or_default();
    if request.policy.is_none() {
        v.add("policy", "required");
    }
    let channel = channel(&mut v, "policy.channel", policy.channel.as_ref());
    let window_days = v.check(
        "policy.return_window_days",
        Policy::window_days(policy.return_window_days),
    );
    let restocking_fee_bps = v.check(
        "policy.restocking_fee_bps",
        Policy::restocking_fee_bps(policy.restocking_fee_bps),
    );
    let shipping_payer = ShippingPayer::from_code(policy.return_shipping_payer);
    if shipping_payer.is_none() {
        v.add("policy.return_shipping_payer", "required");
    }
    if policy.final_sale_skus.len() > MAX_FINAL_SALE_SKUS {
        v.add(
            "policy.final_sale_skus",
            format!("at most {MAX_FINAL_SALE_SKUS} skus"),
        );
    }
    let mut final_sale_skus = BTreeSet::new();
    for (i, sku) in policy.final_sale_skus.iter().enumerate() {
        if let Some(sku) = v.check(format!("policy.final_sale_skus[{i}]"), Sku::parse(sku)) {
            final_sale_skus.insert(sku);
        }
    }
    let return_location_id = optional_location(
        &mut v,
        "policy.return_location_id",
        &policy.return_location_id,
    );
    let actor = actor(&mut v, request.actor.as_ref());
    let value = match (
        channel,
        window_days,
        restocking_fee_bps,
        shipping_payer,
        return_location_id,
        actor,
    ) {
        (
            Some(channel),
            Some(window_days),
            Some(restocking_fee_bps),
            Some(shipping_payer),
            Some(return_location_id),
            Some(actor),
        ) => Some((
            channel,
            Policy {
                window_days,
                restocking_fee_bps,
                shipping_payer,
                final_sale_skus,
                auto_approve: policy.auto_approve,
                return_location_id,
            },
            actor,
        )),
        _ => None,
    };
    finish(v, value)
}

/// A policy as the contract shows it: the stored version, or the default.
pub fn policy_to_proto(
    channel: &Channel,
    row: Option<&PolicyRow>,
) -> Result<pb::ReturnPolicy, ReturnsError> {
    let policy = match row {
        Some(row) => row.policy()?,
        None => Policy::default(),
    };
    Ok(pb::ReturnPolicy {
        channel: Some(channel_to_proto(channel)),
        return_window_days: policy.window_days,
        restocking_fee_bps: policy.restocking_fee_bps,
        return_shipping_payer: i32::from(policy.shipping_payer.code()),
        final_sale_skus: policy
            .final_sale_skus
            .iter()
            .map(|sku| sku.as_str().to_owned())
            .collect(),
        auto_approve: policy.auto_approve,
        return_location_id: policy
            .return_location_id
            .map(String::from)
            .unwrap_or_default(),
        is_default: row.is_none(),
        updated_by: row.map(|row| common::Actor {
            kind: i32::from(row.updated_by_kind),
            id: row.updated_by_id.clone(),
        }),
        update_time: row.map(|row| timestamp(row.update_time)),
    })
}

fn stored_actor(kind: i16, id: &str) -> common::Actor {
    match ActorKind::from_code(i32::from(kind)) {
        Some(kind) => actor_to_proto(&Actor {
            kind,
            id: id.to_owned(),
        }),
        None => common::Actor::default(),
    }
}

/// A stored return as the contract's `Return`, with its refund breakdown,
/// restock list and exchange computed from its rows.
pub fn rma(record: &ReturnRecord) -> Result<pb::Return, ReturnsError> {
    let row = &record.row;
    let currency = row.currency_code.as_str();
    let channel = Channel::new(i32::from(row.channel_kind), &row.channel_name)
        .map_err(|_| ReturnsError::Corrupt(format!("channel of return {}", row.return_id)))?;
    let refund = record.refund()?;
    let exchange = record.exchange(refund.total)?;
    Ok(pb::Return {
        return_id: row.return_id.to_string(),
        order_id: row.order_id.clone(),
        channel: Some(channel_to_proto(&channel)),
        status: i32::from(row.status),
        resolution: i32::from(row.resolution),
        lines: record
            .lines
            .iter()
            .map(|line| pb::ReturnLine {
                sku: line.sku.clone(),
                quantity: line.quantity,
                reason: i32::from(line.reason),
                unit_price: Some(money(currency, line.unit_price_minor)),
                restock_quantity: line.restock_quantity,
                damaged_quantity: line.damaged_quantity,
                missing_quantity: line.missing_quantity,
                inspection_note: line.inspection_note.clone(),
            })
            .collect(),
        comment: row.comment.clone(),
        policy: Some(policy_to_proto(&channel, record.policy.as_ref())?),
        expected_location_id: row.expected_location_id.clone(),
        receiving_location_id: row.receiving_location_id.clone(),
        label: row.label_price_minor.map(|price| pb::ReturnLabel {
            shipment_id: row.label_shipment_id.clone(),
            carrier: row.label_carrier.clone(),
            tracking_number: row.label_tracking_number.clone(),
            price: Some(money(currency, price)),
        }),
        refund: Some(breakdown_to_proto(currency, &refund)),
        restock: record
            .restock()
            .into_iter()
            .map(|(sku, quantity, location_id)| pb::RestockItem {
                sku,
                quantity,
                location_id,
            })
            .collect(),
        exchange: exchange.map(|(replacement_total, price_difference)| pb::Exchange {
            replacement_lines: record
                .replacements
                .iter()
                .map(|line| common::LineItem {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price: Some(money(currency, line.unit_price_minor)),
                })
                .collect(),
            replacement_total: Some(money(currency, replacement_total)),
            price_difference: Some(money(currency, price_difference)),
            replacement_order_id: row.replacement_order_id.clone(),
            payment_id: row.exchange_payment_id.clone(),
            transaction_id: row.exchange_transaction_id.clone(),
        }),
        refund_payment_id: row.refund_payment_id.clone(),
        refund_transaction_id: row.refund_transaction_id.clone(),
        credit_refund_amount: Some(money(currency, row.credit_refund_minor)),
        credit_refund_payment_id: row.credit_refund_payment_id.clone(),
        credit_refund_transaction_id: row.credit_refund_transaction_id.clone(),
        rejection_reason: row.rejection_reason.clone(),
        close_reason: i32::from(row.close_reason),
        requested_by: Some(stored_actor(row.requested_by_kind, &row.requested_by_id)),
        timeline: record
            .events
            .iter()
            .map(|event| pb::ReturnEvent {
                time: Some(timestamp(event.event_time)),
                status: i32::from(event.status),
                actor: Some(stored_actor(event.actor_kind, &event.actor_id)),
                note: event.note.clone(),
            })
            .collect(),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
    })
}

fn breakdown_to_proto(currency: &str, refund: &refund::Breakdown) -> pb::RefundBreakdown {
    pb::RefundBreakdown {
        lines: refund
            .lines
            .iter()
            .map(|line| pb::RefundLine {
                sku: line.sku.clone(),
                quantity: line.units,
                unit_price: Some(money(currency, line.unit_price)),
                amount: Some(money(currency, line.amount)),
                restocking_fee: Some(money(currency, line.restocking_fee)),
            })
            .collect(),
        lines_total: Some(money(currency, refund.lines_total)),
        restocking_fee: Some(money(currency, refund.restocking_fee)),
        return_shipping_fee: Some(money(currency, refund.return_shipping_fee)),
        total: Some(money(currency, refund.total)),
        estimate: refund.estimate,
    }
}
