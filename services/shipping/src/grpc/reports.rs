//! What the order and returns services hear, as their contracts' messages: the
//! domain's [`report`] of a fact becomes an OrderService.MarkStatus or a
//! ReturnsService.MarkReturnInTransit request, queued in the outbox in the
//! transaction of the change.

use chrono::{DateTime, Utc};
use oms_platform::{convert::timestamp, ids::ActorKind, rpc::current_traceparent};
use oms_proto::{common::v1 as common, order::v1 as order, returns::v1 as returns};
use prost::Message as _;
use sqlx::PgConnection;

use super::convert;
use crate::{
    domain::report::{Fact, OrderNews, Report, report},
    error::ShippingError,
    outbox::{MARK_RETURN_IN_TRANSIT, MARK_STATUS},
    store::ShipmentRow,
};

/// When and as what a fact happened to a shipment.
pub struct Happened<'a> {
    pub fact: Fact,
    /// Names the fact within the shipment: the carrier's event id, or
    /// "cancelled". The order hears it as "shipment:<shipment_id>:<name>".
    pub name: &'a str,
    pub time: DateTime<Utc>,
}

/// Queues what `happened` to the shipment `row` reports, if anything; true when
/// a message was queued (the outbox dispatcher is then worth waking).
pub async fn queue(
    tx: &mut PgConnection,
    row: &ShipmentRow,
    happened: &Happened<'_>,
) -> Result<bool, ShippingError> {
    let (topic, key, payload) = match report(happened.fact, row.shipment_direction()?) {
        None => return Ok(false),
        Some(Report::Order(news)) => {
            let event_id = format!("shipment:{}:{}", row.shipment_id, happened.name);
            let request = mark_status(row, event_id.clone(), news, happened.time)?;
            (MARK_STATUS, event_id, request.encode_to_vec())
        }
        Some(Report::ReturnInTransit) => {
            // A RETURN shipment always has its return; without one nobody hears.
            let Some(return_id) = &row.return_id else {
                return Ok(false);
            };
            let request = returns::MarkReturnInTransitRequest {
                return_id: return_id.clone(),
                shipment_id: row.shipment_id.to_string(),
                event_time: Some(timestamp(happened.time)),
                actor: Some(carrier_actor(row)),
            };
            let key = format!("shipment:{}", row.shipment_id);
            (MARK_RETURN_IN_TRANSIT, key, request.encode_to_vec())
        }
    };
    oms_platform::outbox::enqueue(tx, topic, &key, &payload, &current_traceparent()).await?;
    Ok(true)
}

/// The carrier, as the actor of what it reported.
fn carrier_actor(row: &ShipmentRow) -> common::Actor {
    common::Actor {
        kind: i32::from(ActorKind::Carrier.code()),
        id: row.carrier.clone(),
    }
}

/// The MarkStatus request of `news` about the shipment `row`.
fn mark_status(
    row: &ShipmentRow,
    event_id: String,
    news: OrderNews,
    event_time: DateTime<Utc>,
) -> Result<order::MarkStatusRequest, ShippingError> {
    let (status, cancelled) = match news {
        OrderNews::Shipped => (order::OrderStatus::Shipped, false),
        OrderNews::Delivered => (order::OrderStatus::Delivered, false),
        OrderNews::ShipmentOnly => (order::OrderStatus::Unspecified, false),
        OrderNews::ShipmentCancelled => (order::OrderStatus::Unspecified, true),
    };
    let details = convert::details(row.shipment_direction()?, &row.details)?;
    let time = Some(timestamp(event_time));
    Ok(order::MarkStatusRequest {
        order_id: row.order_id.clone(),
        event_id,
        status: status as i32,
        shipments: vec![order::ShipmentRef {
            shipment_id: row.shipment_id.to_string(),
            location_id: row.location_id.clone(),
            carrier: row.carrier.clone(),
            tracking_number: row.tracking_number.clone(),
            lines: details
                .lines
                .iter()
                .map(|line| order::LineQuantity {
                    line_id: String::new(),
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                })
                .collect(),
            cancel_time: if cancelled { time } else { None },
            ..Default::default()
        }],
        actor: Some(carrier_actor(row)),
        event_time: time,
        ..Default::default()
    })
}
