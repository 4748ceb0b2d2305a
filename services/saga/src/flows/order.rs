//! The order fulfilment saga, as saga.proto specifies it: each step's
//! definition, then its forward call and its compensation.
//!
//! ```text
//! record_order      GetOrder (PENDING?), MarkStatus saga_id     <- MarkStatus REJECTED / CANCELLED
//! plan_fulfilment   PlanFulfillment (one re-plan after a race)      (read-only)
//! reserve_stock     Reserve per plan, all or nothing            <- Release
//! authorize_payment Authorize the grand total                   <- Void by authorization key
//! create_shipments  MarkStatus lock address, CreateShipment/loc <- CancelShipment by key
//! capture_payment   Capture (THE PIVOT)                         <- Refund (operator only)
//! commit_stock      CommitReservation                           <- Restock (operator only)
//! confirm_order     MarkStatus CONFIRMED
//! ```
//!
//! The working data ([`OrderData`]) holds ids, the plan and amounts, never
//! the customer's personal data: steps that need the address or the payment
//! method read the order at the time of the call and keep it in memory only.

use std::time::Duration;

use oms_proto::{
    common::v1::{DeliveryMethod, LineItem, Money},
    inventory::v1::{
        CommitReservationRequest, GetReservationRequest, ReleaseRequest, ReservationLine,
        ReservationState, ReserveRequest, RestockLine, RestockRequest, RestockSource,
        get_reservation_request,
    },
    order::v1::{
        GetOrderRequest, LineQuantity, MarkStatusRequest, Order, OrderStatus, ShipmentRef,
    },
    payment::v1::{
        AuthorizeRequest, CaptureRequest, GetPaymentRequest, RefundReason, RefundRequest,
        VoidRequest, void_request,
    },
    routing::v1::{ExplanationDetail, PlanFulfillmentRequest, PlanOutcome},
    shipping::v1::{
        CancelShipmentRequest, CreateShipmentRequest, ShipmentKey, ShipmentLine,
        cancel_shipment_request,
    },
};
use serde::{Deserialize, Serialize};
use tonic::Code;

use crate::{
    domain::step::{Outcome, RetryPolicy, StepDef, StepError},
    engine::context::StepContext,
};

/// The version of this flow that new sagas start on.
pub const VERSION: i32 = 1;

/// The order saga's steps, in order.
pub static STEPS: [StepDef; 8] = [
    RECORD_ORDER,
    PLAN_FULFILMENT,
    RESERVE_STOCK,
    AUTHORIZE_PAYMENT,
    CREATE_SHIPMENTS,
    CAPTURE_PAYMENT,
    COMMIT_STOCK,
    CONFIRM_ORDER,
];

/// Steps after the pivot go forward until they succeed or the saga is STUCK:
/// a longer budget than before it.
const AFTER_PIVOT: RetryPolicy = RetryPolicy {
    max_attempts: 20,
    deadline: Duration::from_secs(900),
    ..RetryPolicy::SERVICE_CALL
};

/// What the saga keeps between its steps. No personal data: no name, address,
/// email, phone or payment method.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderData {
    /// The order's currency.
    pub currency: String,
    /// What the customer pays (minor units).
    pub grand_total_minor: i64,
    /// The order's lines.
    pub lines: Vec<Line>,
    /// A PICKUP order.
    pub pickup: bool,
    /// The planned shipments: what each location ships.
    pub plan: Vec<Planned>,
    /// Locations the re-plan excludes (they lost a stock race).
    pub excluded_locations: Vec<String>,
    /// The one re-plan was used.
    pub replanned: bool,
    /// The reservation held.
    pub reservation_id: String,
    /// The payment authorized.
    pub payment_id: String,
    /// The shipments created.
    pub shipments: Vec<Shipped>,
}

/// An order line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// The order line's id.
    pub line_id: String,
    /// Its SKU.
    pub sku: String,
    /// Its units.
    pub quantity: i32,
}

/// What one location ships.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Planned {
    /// The location.
    pub location_id: String,
    /// (sku, units).
    pub lines: Vec<(String, i32)>,
}

/// A shipment created.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Shipped {
    /// The shipping service's id.
    pub shipment_id: String,
    /// Where it ships from.
    pub location_id: String,
    /// The carrier.
    pub carrier: String,
    /// Its tracking number.
    pub tracking_number: String,
    /// (sku, units).
    pub lines: Vec<(String, i32)>,
}

/// Runs the forward call of step `index`.
pub async fn forward(index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match STEPS[index].name {
        "record_order" => record_order(ctx).await,
        "plan_fulfilment" => plan_fulfilment(ctx).await,
        "reserve_stock" => reserve_stock(ctx).await,
        "authorize_payment" => authorize_payment(ctx).await,
        "create_shipments" => create_shipments(ctx).await,
        "capture_payment" => capture_payment(ctx).await,
        "commit_stock" => commit_stock(ctx).await,
        _ => confirm_order(ctx).await,
    }
}

/// Runs the compensation of step `index`.
pub async fn compensate(index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match STEPS[index].name {
        "record_order" => unrecord_order(ctx).await,
        "reserve_stock" => release_stock(ctx).await,
        "authorize_payment" => void_payment(ctx).await,
        "create_shipments" => cancel_shipments(ctx).await,
        "capture_payment" => refund_payment(ctx).await,
        "commit_stock" => restock(ctx).await,
        _ => Outcome::Skipped {
            detail: "nothing to undo".into(),
        },
    }
}

/// The order, from this run's memory or read now (with its payment method when
/// asked).
async fn order(ctx: &mut StepContext<'_>, with_payment_method: bool) -> Result<Order, Outcome> {
    if let Some((order, has_method)) = &ctx.cache.order
        && (*has_method || !with_payment_method)
    {
        return Ok(order.clone());
    }
    let request = ctx.request(GetOrderRequest {
        order_id: ctx.order_id.to_owned(),
        include_payment_method: with_payment_method,
        ..Default::default()
    });
    match ctx.peers.order.clone().get_order(request).await {
        Ok(response) => {
            let order = response.into_inner().order.unwrap_or_default();
            ctx.cache.order = Some((order.clone(), with_payment_method));
            Ok(order)
        }
        Err(status) => Err(ctx.failed(&status)),
    }
}

fn done(detail: impl Into<String>) -> Outcome {
    Outcome::Done {
        detail: detail.into(),
    }
}

fn money(currency: &str, minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: currency.to_owned(),
        amount_minor: minor,
    })
}

// ---- record_order: the order must be PENDING; the saga is recorded on it.

const RECORD_ORDER: StepDef = StepDef {
    name: "record_order",
    forward_rpc: "oms.order.v1.OrderService/MarkStatus",
    compensation_rpc: Some("oms.order.v1.OrderService/MarkStatus"),
    compensation_operator_only: false,
    pivot: false,
    retry: RetryPolicy::SERVICE_CALL,
};

async fn record_order(ctx: &mut StepContext<'_>) -> Outcome {
    // Read once with the payment method, which authorize_payment needs: one
    // GetOrder per run instead of two. It stays in this run's memory only.
    let order = match order(ctx, true).await {
        Ok(order) => order,
        // Unknown order: nothing was done, nothing to undo.
        Err(Outcome::Refused(error)) => return Outcome::Abandon(error),
        Err(other) => return other,
    };
    if order.status != OrderStatus::Pending as i32 {
        let status = OrderStatus::try_from(order.status)
            .map(|status| status.as_str_name())
            .unwrap_or("UNKNOWN");
        return Outcome::Abandon(ctx.refusal(
            "ILLEGAL_STATE_TRANSITION",
            "the order is not PENDING",
            &[("from_state", status), ("order_id", ctx.order_id)],
        ));
    }
    let totals = order.totals.clone().unwrap_or_default();
    let data = OrderData {
        currency: order.currency_code.clone(),
        grand_total_minor: totals.grand_total.map_or(0, |money| money.amount_minor),
        lines: order
            .lines
            .iter()
            .map(|line| Line {
                line_id: line.line_id.clone(),
                sku: line.sku.clone(),
                quantity: line.quantity,
            })
            .collect(),
        pickup: order
            .delivery_option
            .as_ref()
            .is_some_and(|option| option.method == DeliveryMethod::Pickup as i32),
        ..OrderData::default()
    };
    ctx.save(&data);
    let request = ctx.request(MarkStatusRequest {
        order_id: ctx.order_id.to_owned(),
        event_id: ctx.key(),
        saga_id: ctx.saga_id.to_string(),
        actor: Some(ctx.actor()),
        // Only the fact: the order was read above.
        omit_order: true,
        ..Default::default()
    });
    match ctx.peers.order.clone().mark_status(request).await {
        Ok(_) => done(format!("{} lines", data.lines.len())),
        Err(status) => ctx.failed(&status),
    }
}

/// Ends the order REJECTED with the saga's failure, or CANCELLED when a
/// cancel is pending.
async fn unrecord_order(ctx: &mut StepContext<'_>) -> Outcome {
    let request = ctx.request(GetOrderRequest {
        order_id: ctx.order_id.to_owned(),
        ..Default::default()
    });
    let order = match ctx.peers.order.clone().get_order(request).await {
        Ok(response) => response.into_inner().order.unwrap_or_default(),
        Err(status) => return ctx.failed(&status),
    };
    let cancelling = order.status == OrderStatus::CancelRequested as i32;
    let (status, reason) = if cancelling {
        let reason = if order.status_reason.is_empty() {
            "cancelled".to_owned()
        } else {
            order.status_reason.clone()
        };
        (OrderStatus::Cancelled, reason)
    } else {
        let reason = ctx.failure.map_or_else(
            || "the order could not be fulfilled".to_owned(),
            StepError::summary,
        );
        (OrderStatus::Rejected, reason)
    };
    let request = ctx.request(MarkStatusRequest {
        order_id: ctx.order_id.to_owned(),
        event_id: ctx.key(),
        status: status as i32,
        saga_id: ctx.saga_id.to_string(),
        actor: Some(ctx.actor()),
        reason: reason.chars().take(500).collect(),
        omit_order: true,
        ..Default::default()
    });
    match ctx.peers.order.clone().mark_status(request).await {
        Ok(_) => done(format!("order {}", status.as_str_name())),
        Err(status) => ctx.failed(&status),
    }
}

// ---- plan_fulfilment: which locations ship what (read-only).

const PLAN_FULFILMENT: StepDef = StepDef {
    name: "plan_fulfilment",
    forward_rpc: "oms.routing.v1.RoutingService/PlanFulfillment",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: RetryPolicy::SERVICE_CALL,
};

async fn plan_fulfilment(ctx: &mut StepContext<'_>) -> Outcome {
    let order = match order(ctx, false).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    let mut data: OrderData = ctx.load();
    let request = ctx.request(PlanFulfillmentRequest {
        order_id: ctx.order_id.to_owned(),
        lines: order
            .lines
            .iter()
            .map(|line| LineItem {
                sku: line.sku.clone(),
                quantity: line.quantity,
                unit_price: None,
            })
            .collect(),
        destination: order.shipping_address.clone(),
        delivery: order.delivery_option.clone(),
        channel: order.channel.clone(),
        excluded_location_ids: data.excluded_locations.clone(),
        explanation_detail: ExplanationDetail::Compact as i32,
    });
    let plan = match ctx.peers.routing.clone().plan_fulfillment(request).await {
        Ok(response) => response.into_inner().plan.unwrap_or_default(),
        Err(status) => return ctx.failed(&status),
    };
    if plan.outcome != PlanOutcome::Complete as i32 {
        let sku = plan
            .lines
            .iter()
            .find(|line| line.unfulfillable_quantity > 0 || line.backordered_quantity > 0)
            .map(|line| line.sku.clone())
            .unwrap_or_default();
        return Outcome::Refused(ctx.refusal(
            "UNFULFILLABLE",
            "no location can fulfil the order",
            &[("sku", &sku)],
        ));
    }
    data.plan = plan
        .shipments
        .iter()
        .map(|shipment| Planned {
            location_id: shipment.location_id.clone(),
            lines: shipment
                .lines
                .iter()
                .map(|line| (line.sku.clone(), line.quantity))
                .collect(),
        })
        .collect();
    let locations: Vec<&str> = data.plan.iter().map(|p| p.location_id.as_str()).collect();
    let detail = format!("ship from {}", locations.join(", "));
    ctx.save(&data);
    done(detail)
}

// ---- reserve_stock: hold the plan's units, all or nothing.

const RESERVE_STOCK: StepDef = StepDef {
    name: "reserve_stock",
    forward_rpc: "oms.inventory.v1.InventoryService/Reserve",
    compensation_rpc: Some("oms.inventory.v1.InventoryService/Release"),
    compensation_operator_only: false,
    pivot: false,
    retry: RetryPolicy::SERVICE_CALL,
};

async fn reserve_stock(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: OrderData = ctx.load();
    let ttl = prost_types::Duration::try_from(ctx.settings.reservation_ttl).ok();
    let request = ctx.request(ReserveRequest {
        order_id: ctx.order_id.to_owned(),
        lines: data
            .plan
            .iter()
            .flat_map(|planned| {
                planned.lines.iter().map(|(sku, quantity)| ReservationLine {
                    sku: sku.clone(),
                    location_id: planned.location_id.clone(),
                    quantity: *quantity,
                })
            })
            .collect(),
        ttl,
        channel: ctx
            .cache
            .order
            .as_ref()
            .and_then(|(order, _)| order.channel.clone()),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.inventory.clone().reserve(request).await {
        Ok(response) => {
            let reservation = response.into_inner().reservation.unwrap_or_default();
            data.reservation_id = reservation.reservation_id;
            ctx.save(&data);
            done(format!("reservation {}", data.reservation_id))
        }
        Err(status) => {
            let error = ctx.error(&status);
            let lost_race =
                status.code() == Code::FailedPrecondition && error.reason == "INSUFFICIENT_STOCK";
            match error.metadata.get("location_id") {
                // One re-plan without the location that ran out.
                Some(location) if lost_race && !data.replanned => {
                    let detail = format!("re-planned without location {location}");
                    data.excluded_locations.push(location.clone());
                    data.replanned = true;
                    ctx.save(&data);
                    Outcome::Rewind {
                        to: PLAN_FULFILMENT.name,
                        error,
                        detail,
                    }
                }
                _ => ctx.failed(&status),
            }
        }
    }
}

async fn release_stock(ctx: &mut StepContext<'_>) -> Outcome {
    let reason = ctx.failure.map(StepError::summary).unwrap_or_default();
    let request = ctx.request(ReleaseRequest {
        order_id: ctx.order_id.to_owned(),
        reason: reason.chars().take(500).collect(),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.inventory.clone().release(request).await {
        Ok(_) => done("stock released"),
        Err(status) => {
            let error = ctx.error(&status);
            // Committed after all (a commit whose answer was lost): the units
            // come back by Restock, with the keys commit_stock's compensation
            // uses, so they never come back twice.
            if error.reason == "ILLEGAL_STATE_TRANSITION"
                && error.metadata.get("from_state").map(String::as_str) == Some("COMMITTED")
            {
                return restock_committed(ctx).await;
            }
            ctx.failed(&status)
        }
    }
}

// ---- authorize_payment: hold the grand total on the payment method.

const AUTHORIZE_PAYMENT: StepDef = StepDef {
    name: "authorize_payment",
    forward_rpc: "oms.payment.v1.PaymentService/Authorize",
    compensation_rpc: Some("oms.payment.v1.PaymentService/Void"),
    compensation_operator_only: false,
    pivot: false,
    retry: RetryPolicy {
        // A payment provider down for a while is waited for.
        max_attempts: 15,
        ..RetryPolicy::SERVICE_CALL
    },
};

async fn authorize_payment(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: OrderData = ctx.load();
    if data.grand_total_minor == 0 {
        return Outcome::Skipped {
            detail: "nothing to pay".into(),
        };
    }
    let order = match order(ctx, true).await {
        Ok(order) => order,
        Err(outcome) => return outcome,
    };
    let request = ctx.request(AuthorizeRequest {
        order_id: ctx.order_id.to_owned(),
        amount: money(&data.currency, data.grand_total_minor),
        payment_method: order.payment_method,
        actor: Some(ctx.actor()),
    });
    match ctx.peers.payment.clone().authorize(request).await {
        Ok(response) => {
            let payment = response.into_inner().payment.unwrap_or_default();
            data.payment_id = payment.payment_id;
            ctx.save(&data);
            done(format!("payment {}", data.payment_id))
        }
        Err(status) => ctx.failed(&status),
    }
}

/// Voids by the authorization key, so an authorization whose answer was lost
/// is voided too (and a late one authorizes nothing).
async fn void_payment(ctx: &mut StepContext<'_>) -> Outcome {
    let request = ctx.request(VoidRequest {
        target: Some(void_request::Target::AuthorizationKey(ctx.forward_key())),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.payment.clone().void(request).await {
        Ok(_) => done("authorization voided"),
        Err(status) => ctx.failed(&status),
    }
}

// ---- create_shipments: lock the address, one labelled shipment per location.

const CREATE_SHIPMENTS: StepDef = StepDef {
    name: "create_shipments",
    forward_rpc: "oms.shipping.v1.ShippingService/CreateShipment",
    compensation_rpc: Some("oms.shipping.v1.ShippingService/CancelShipment"),
    compensation_operator_only: false,
    pivot: false,
    retry: RetryPolicy::SERVICE_CALL,
};

async fn create_shipments(ctx: &mut StepContext<'_>) -> Outcome {
    let mut data: OrderData = ctx.load();
    if data.pickup {
        return Outcome::Skipped {
            detail: "store pickup: the store hands the goods over".into(),
        };
    }
    // The address as it is once locked: it cannot change under the label.
    let lock = ctx.request(MarkStatusRequest {
        order_id: ctx.order_id.to_owned(),
        event_id: ctx.key(),
        lock_shipping_address: true,
        saga_id: ctx.saga_id.to_string(),
        payment_id: data.payment_id.clone(),
        actor: Some(ctx.actor()),
        ..Default::default()
    });
    let destination = match ctx.peers.order.clone().mark_status(lock).await {
        Ok(response) => response
            .into_inner()
            .order
            .and_then(|order| order.shipping_address),
        Err(status) => return ctx.failed(&status),
    };
    // Read again after a restart: a retry must send the same request.
    let service_level = match order(ctx, false).await {
        Ok(order) => order
            .delivery_option
            .as_ref()
            .map_or(0, |option| option.service_level),
        Err(outcome) => return outcome,
    };
    for planned in data.plan.clone() {
        if data
            .shipments
            .iter()
            .any(|s| s.location_id == planned.location_id)
        {
            continue;
        }
        let request = ctx.request(CreateShipmentRequest {
            order_id: ctx.order_id.to_owned(),
            location_id: planned.location_id.clone(),
            lines: planned
                .lines
                .iter()
                .map(|(sku, quantity)| ShipmentLine {
                    sku: sku.clone(),
                    quantity: *quantity,
                    description: String::new(),
                })
                .collect(),
            service_level,
            parcels: vec![ctx.settings.parcel],
            destination: destination.clone(),
            actor: Some(ctx.actor()),
            // The saga keeps ids, not the label and packing slip.
            omit_documents: true,
            ..Default::default()
        });
        match ctx.peers.shipping.clone().create_shipment(request).await {
            Ok(response) => {
                let shipment = response.into_inner().shipment.unwrap_or_default();
                data.shipments.push(Shipped {
                    shipment_id: shipment.shipment_id,
                    location_id: planned.location_id.clone(),
                    carrier: shipment.carrier,
                    tracking_number: shipment.tracking_number,
                    lines: planned.lines.clone(),
                });
                // Kept even if a later location fails: a retry skips it.
                ctx.save(&data);
            }
            Err(status) => return ctx.failed(&status),
        }
    }
    done(format!("{} shipments", data.shipments.len()))
}

/// Cancels the shipment of every planned location by its natural key, so one
/// whose creation answer was lost is cancelled too.
async fn cancel_shipments(ctx: &mut StepContext<'_>) -> Outcome {
    let data: OrderData = ctx.load();
    for planned in &data.plan {
        let request = ctx.request(CancelShipmentRequest {
            target: Some(cancel_shipment_request::Target::Key(ShipmentKey {
                order_id: ctx.order_id.to_owned(),
                location_id: planned.location_id.clone(),
            })),
            reason: "order saga compensation".into(),
            actor: Some(ctx.actor()),
        });
        if let Err(status) = ctx.peers.shipping.clone().cancel_shipment(request).await {
            return ctx.failed(&status);
        }
    }
    done(format!("{} shipments cancelled", data.plan.len()))
}

// ---- capture_payment: THE PIVOT.

const CAPTURE_PAYMENT: StepDef = StepDef {
    name: "capture_payment",
    forward_rpc: "oms.payment.v1.PaymentService/Capture",
    compensation_rpc: Some("oms.payment.v1.PaymentService/Refund"),
    compensation_operator_only: true,
    pivot: true,
    retry: AFTER_PIVOT,
};

async fn capture_payment(ctx: &mut StepContext<'_>) -> Outcome {
    let data: OrderData = ctx.load();
    if data.grand_total_minor == 0 {
        return Outcome::Skipped {
            detail: "nothing to pay".into(),
        };
    }
    let request = ctx.request(CaptureRequest {
        payment_id: data.payment_id.clone(),
        amount: None,
        actor: Some(ctx.actor()),
    });
    match ctx.peers.payment.clone().capture(request).await {
        Ok(response) => done(format!("capture {}", response.into_inner().transaction_id)),
        Err(status) => ctx.failed(&status),
    }
}

/// Refunds what was captured (operator only); nothing when nothing was.
async fn refund_payment(ctx: &mut StepContext<'_>) -> Outcome {
    let data: OrderData = ctx.load();
    if data.payment_id.is_empty() {
        return Outcome::Skipped {
            detail: "no payment".into(),
        };
    }
    let read = ctx.request(GetPaymentRequest {
        payment_id: data.payment_id.clone(),
    });
    let payment = match ctx.peers.payment.clone().get_payment(read).await {
        Ok(response) => response.into_inner().payment.unwrap_or_default(),
        Err(status) => return ctx.failed(&status),
    };
    let refundable = payment
        .refundable_amount
        .as_ref()
        .map_or(0, |money| money.amount_minor);
    let captured = payment
        .captured_amount
        .as_ref()
        .map_or(0, |money| money.amount_minor);
    if captured == 0 {
        return Outcome::Skipped {
            detail: "nothing captured".into(),
        };
    }
    if refundable == 0 {
        return done("already refunded");
    }
    let request = ctx.request(RefundRequest {
        payment_id: data.payment_id.clone(),
        amount: None,
        reason: RefundReason::Cancellation as i32,
        reference_id: ctx.saga_id.to_string(),
        note: "order saga compensated by an operator".into(),
        actor: Some(ctx.actor()),
    });
    match ctx.peers.payment.clone().refund(request).await {
        Ok(_) => done(format!("refunded {refundable}")),
        Err(status) => ctx.failed(&status),
    }
}

// ---- commit_stock: the units leave on hand.

const COMMIT_STOCK: StepDef = StepDef {
    name: "commit_stock",
    forward_rpc: "oms.inventory.v1.InventoryService/CommitReservation",
    compensation_rpc: Some("oms.inventory.v1.InventoryService/Restock"),
    compensation_operator_only: true,
    pivot: false,
    retry: AFTER_PIVOT,
};

async fn commit_stock(ctx: &mut StepContext<'_>) -> Outcome {
    // The money is taken: the goods are owed even if the hold lapsed while
    // the saga waited (they are taken again where still available).
    let request = ctx.request(CommitReservationRequest {
        order_id: ctx.order_id.to_owned(),
        actor: Some(ctx.actor()),
        reacquire_if_expired: true,
    });
    match ctx
        .peers
        .inventory
        .clone()
        .commit_reservation(request)
        .await
    {
        Ok(_) => done("stock committed"),
        Err(status) => ctx.failed(&status),
    }
}

/// Puts the committed units back on hand where they were to ship from
/// (operator only); nothing when the commit never happened (Restock adds
/// units: it must not run for a commit that was refused).
async fn restock(ctx: &mut StepContext<'_>) -> Outcome {
    let read = ctx.request(GetReservationRequest {
        key: Some(get_reservation_request::Key::OrderId(
            ctx.order_id.to_owned(),
        )),
    });
    let state = match ctx.peers.inventory.clone().get_reservation(read).await {
        Ok(response) => response.into_inner().reservation.map(|r| r.state),
        Err(status) if status.code() == Code::NotFound => None,
        Err(status) => return ctx.failed(&status),
    };
    if state != Some(ReservationState::Committed as i32) {
        return Outcome::Skipped {
            detail: "nothing was committed".into(),
        };
    }
    restock_committed(ctx).await
}

/// Restock of every planned unit, keyed "<order line_id>@<location_id>" per
/// line and location: repeated, it restocks nothing more.
async fn restock_committed(ctx: &mut StepContext<'_>) -> Outcome {
    let data: OrderData = ctx.load();
    let line_id = |sku: &str| {
        data.lines
            .iter()
            .find(|line| line.sku == sku)
            .map_or_else(|| sku.to_owned(), |line| line.line_id.clone())
    };
    let lines: Vec<RestockLine> = data
        .plan
        .iter()
        .flat_map(|planned| {
            planned.lines.iter().map(|(sku, quantity)| RestockLine {
                line_id: format!("{}@{}", line_id(sku), planned.location_id),
                sku: sku.clone(),
                location_id: planned.location_id.clone(),
                quantity: *quantity,
            })
        })
        .collect();
    if lines.is_empty() {
        return Outcome::Skipped {
            detail: "nothing committed".into(),
        };
    }
    let request = ctx.request(RestockRequest {
        source: RestockSource::Cancellation as i32,
        source_id: ctx.order_id.to_owned(),
        lines,
        actor: Some(ctx.actor()),
        note: "order saga compensated by an operator".into(),
    });
    match ctx.peers.inventory.clone().restock(request).await {
        Ok(_) => done("committed stock restocked"),
        Err(status) => ctx.failed(&status),
    }
}

// ---- confirm_order: the order is CONFIRMED with its shipments and payment.

const CONFIRM_ORDER: StepDef = StepDef {
    name: "confirm_order",
    forward_rpc: "oms.order.v1.OrderService/MarkStatus",
    compensation_rpc: None,
    compensation_operator_only: false,
    pivot: false,
    retry: AFTER_PIVOT,
};

async fn confirm_order(ctx: &mut StepContext<'_>) -> Outcome {
    let data: OrderData = ctx.load();
    let pickup_location_id = if data.pickup {
        data.plan
            .first()
            .map(|planned| planned.location_id.clone())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let request = ctx.request(MarkStatusRequest {
        order_id: ctx.order_id.to_owned(),
        event_id: ctx.key(),
        status: OrderStatus::Confirmed as i32,
        shipments: data
            .shipments
            .iter()
            .map(|shipment| ShipmentRef {
                shipment_id: shipment.shipment_id.clone(),
                location_id: shipment.location_id.clone(),
                carrier: shipment.carrier.clone(),
                tracking_number: shipment.tracking_number.clone(),
                lines: shipment
                    .lines
                    .iter()
                    .map(|(sku, quantity)| LineQuantity {
                        line_id: String::new(),
                        sku: sku.clone(),
                        quantity: *quantity,
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        payment_id: data.payment_id.clone(),
        saga_id: ctx.saga_id.to_string(),
        actor: Some(ctx.actor()),
        pickup_location_id,
        omit_order: true,
        ..Default::default()
    });
    match ctx.peers.order.clone().mark_status(request).await {
        Ok(_) => done("order CONFIRMED"),
        Err(status) => ctx.failed(&status),
    }
}
