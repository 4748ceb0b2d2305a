//! MarkStatus: a fulfilment fact applied to an order and its lines, once per
//! event id, moving them only as the state machines allow.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Store,
    orders::{Event, EventLine, LineRow, OrderRecord, record_event},
};
use crate::{
    domain::{
        Actor,
        order::DeliveryMethod,
        status::{Status, Units, derive},
        timeline::{EventKind, RefKind},
    },
    error::OrderError,
};

/// Units of one line, named by line id or SKU.
#[derive(Debug, Clone)]
pub struct LineRef {
    pub line_id: Option<String>,
    pub sku: Option<String>,
    pub quantity: i32,
}

/// A shipment as a fact reports it.
#[derive(Debug, Clone)]
pub struct ShipmentFact {
    pub shipment_id: String,
    pub location_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<LineRef>,
    /// The shipment was cancelled: its cancel time is set from the event time.
    pub cancelled: bool,
}

/// What MarkStatus reports. `status` is the fact (None: references only).
#[derive(Debug, Clone)]
pub struct Fact {
    pub order_id: Uuid,
    pub event_id: String,
    pub fingerprint: [u8; 32],
    pub status: Option<Status>,
    pub lines: Vec<LineRef>,
    pub shipments: Vec<ShipmentFact>,
    pub payment_id: Option<String>,
    pub return_id: Option<String>,
    pub saga_id: Option<String>,
    pub lock_shipping_address: bool,
    pub references: Vec<(RefKind, String)>,
    pub actor: Actor,
    pub reason: String,
    pub event_time: Option<DateTime<Utc>>,
    pub pickup_location_id: Option<String>,
}

/// A recorded shipment: its lines (JSON), ship time and delivery time.
type KnownShipment = (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Why a fact was refused, beyond the state machine.
fn illegal(from: Status, to: Status) -> OrderError {
    OrderError::IllegalTransition {
        from,
        to: Some(to),
        action: "mark_status",
    }
}

/// The path an order walks once confirmed; a fact for a status already
/// reached or passed on it changes nothing.
fn path_rank(status: Status) -> Option<u8> {
    Some(match status {
        Status::Pending => 0,
        Status::Confirmed => 1,
        Status::PartiallyShipped => 2,
        Status::Shipped => 3,
        Status::Delivered => 4,
        Status::PartiallyReturned => 5,
        Status::Returned => 6,
        _ => return None,
    })
}

fn units(line: &LineRow) -> Units {
    Units {
        quantity: line.quantity,
        shipped: line.shipped_quantity,
        delivered: line.delivered_quantity,
        returned: line.returned_quantity,
        cancelled: line.cancelled_quantity,
    }
}

impl Store {
    /// Applies a fact; returns the order and whether anything changed.
    pub async fn mark_status(&self, fact: &Fact) -> Result<(OrderRecord, bool), OrderError> {
        let mut tx = self.pool.begin().await?;
        let row = Self::lock(&mut tx, fact.order_id).await?;
        let claimed = sqlx::query(
            "INSERT INTO status_facts (order_id, event_id, fingerprint) VALUES ($1, $2, $3)
             ON CONFLICT (order_id, event_id) DO NOTHING",
        )
        .bind(fact.order_id)
        .bind(&fact.event_id)
        .bind(fact.fingerprint.as_slice())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            let stored: Vec<u8> = sqlx::query_scalar(
                "SELECT fingerprint FROM status_facts WHERE order_id = $1 AND event_id = $2",
            )
            .bind(fact.order_id)
            .bind(&fact.event_id)
            .fetch_one(&mut *tx)
            .await?;
            tx.rollback().await?;
            if stored != fact.fingerprint {
                return Err(OrderError::KeyReused {
                    key: "event_id",
                    value: fact.event_id.clone(),
                });
            }
            let record = self
                .get(fact.order_id)
                .await?
                .ok_or_else(|| OrderError::NotFound(fact.order_id.to_string()))?;
            return Ok((record, false));
        }

        let from = row.status()?;
        let confirmed_before: bool =
            sqlx::query_scalar("SELECT confirmed FROM orders WHERE order_id = $1")
                .bind(fact.order_id)
                .fetch_one(&mut *tx)
                .await?;
        let mut lines: Vec<LineRow> = sqlx::query_as(
            "SELECT line_id, line_number, sku, quantity, unit_price, status, shipped_quantity,
                 delivered_quantity, returned_quantity, cancelled_quantity, delivery_time
             FROM order_lines WHERE order_id = $1 ORDER BY line_number",
        )
        .bind(fact.order_id)
        .fetch_all(&mut *tx)
        .await?;
        let before: Vec<Units> = lines.iter().map(units).collect();
        let event_time = fact.event_time.unwrap_or_else(Utc::now);
        let mut confirmed = confirmed_before;
        let mut forced: Option<Status> = None;
        let mut recorded = false;
        let mut event_lines: Vec<EventLine> = Vec::new();

        let resolve = |refs: &[LineRef],
                       lines: &[LineRow]|
         -> Result<Vec<(usize, i32)>, OrderError> {
            refs.iter()
                .enumerate()
                .map(|(index, r)| {
                    let found = lines.iter().position(|line| {
                        r.line_id.as_deref() == Some(line.line_id.to_string().as_str())
                            || (r.line_id.is_none() && r.sku.as_deref() == Some(line.sku.as_str()))
                    });
                    found.map(|position| (position, r.quantity)).ok_or_else(|| {
                        OrderError::invalid(format!("lines[{index}]"), "not a line of the order")
                    })
                })
                .collect()
        };

        match fact.status {
            None => {}
            Some(Status::Confirmed)
                if fact.pickup_location_id.is_some()
                    && row.delivery_method != DeliveryMethod::Pickup as i16 =>
            {
                return Err(OrderError::invalid(
                    "pickup_location_id",
                    "only for a PICKUP order",
                ));
            }
            Some(Status::Confirmed) => match from {
                Status::Pending => confirmed = true,
                Status::CancelRequested => {}
                // Reached or passed already: nothing to do.
                status if path_rank(status).is_some() && confirmed_before => {
                    tx.commit().await?;
                    let record = self
                        .get(fact.order_id)
                        .await?
                        .ok_or_else(|| OrderError::NotFound(fact.order_id.to_string()))?;
                    return Ok((record, false));
                }
                // A carrier event overtook the confirmation: record its references.
                status if path_rank(status).is_some() => confirmed = true,
                _ => return Err(illegal(from, Status::Confirmed)),
            },
            Some(Status::Rejected) => match from {
                Status::Pending => forced = Some(Status::Rejected),
                Status::Rejected | Status::Cancelled => {}
                _ => return Err(illegal(from, Status::Rejected)),
            },
            Some(Status::Cancelled) => match from {
                Status::CancelRequested => {
                    let chosen = if fact.lines.is_empty() {
                        (0..lines.len())
                            .map(|index| {
                                (
                                    index,
                                    lines[index].quantity
                                        - lines[index].shipped_quantity
                                        - lines[index].cancelled_quantity,
                                )
                            })
                            .collect()
                    } else {
                        resolve(&fact.lines, &lines)?
                    };
                    for (index, quantity) in chosen {
                        let line = &mut lines[index];
                        let open = line.quantity - line.shipped_quantity - line.cancelled_quantity;
                        let cancel = quantity.min(open);
                        if cancel > 0 {
                            line.cancelled_quantity += cancel;
                            event_lines.push(EventLine {
                                line_id: line.line_id.to_string(),
                                quantity: cancel,
                            });
                        }
                    }
                }
                Status::Rejected | Status::Cancelled => {}
                _ => return Err(illegal(from, Status::Cancelled)),
            },
            Some(status @ (Status::Shipped | Status::Delivered)) => {
                if matches!(from, Status::Rejected | Status::Cancelled) {
                    return Err(illegal(from, status));
                }
                let pickup = row.delivery_method == DeliveryMethod::Pickup as i16;
                // (line, units, whether the units were shipped before this fact)
                let moved: Vec<(usize, i32, bool)> = if pickup {
                    let chosen = if fact.lines.is_empty() {
                        (0..lines.len())
                            .map(|index| (index, lines[index].quantity))
                            .collect()
                    } else {
                        resolve(&fact.lines, &lines)?
                    };
                    chosen
                        .into_iter()
                        .map(|(index, quantity)| (index, quantity, false))
                        .collect()
                } else {
                    let [shipment] = fact.shipments.as_slice() else {
                        return Err(OrderError::invalid(
                            "shipments",
                            "exactly one shipment for SHIPPED or DELIVERED",
                        ));
                    };
                    let known: Option<KnownShipment> = sqlx::query_as(
                        "SELECT lines::text, ship_time, delivery_time FROM order_shipments
                         WHERE order_id = $1 AND shipment_id = $2",
                    )
                    .bind(fact.order_id)
                    .bind(&shipment.shipment_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let already = match &known {
                        Some((_, ship_time, delivery_time)) => match status {
                            Status::Shipped => ship_time.is_some() || delivery_time.is_some(),
                            _ => delivery_time.is_some(),
                        },
                        None => false,
                    };
                    let shipment_lines: Vec<EventLine> = match &known {
                        Some((stored, ..)) if stored != "[]" => serde_json::from_str(stored)?,
                        _ => {
                            if shipment.lines.is_empty() {
                                return Err(OrderError::invalid(
                                    "shipments[0].lines",
                                    "required for a shipment not recorded yet",
                                ));
                            }
                            resolve(&shipment.lines, &lines)?
                                .into_iter()
                                .map(|(index, quantity)| EventLine {
                                    line_id: lines[index].line_id.to_string(),
                                    quantity,
                                })
                                .collect()
                        }
                    };
                    let was_shipped = known
                        .as_ref()
                        .is_some_and(|(_, ship_time, _)| ship_time.is_some());
                    record_shipment(
                        &mut tx,
                        fact.order_id,
                        shipment,
                        &shipment_lines,
                        event_time,
                    )
                    .await?;
                    if already {
                        Vec::new()
                    } else {
                        sqlx::query(
                            "UPDATE order_shipments SET ship_time = coalesce(ship_time, $3),
                                 delivery_time = CASE WHEN $4 THEN $3 ELSE delivery_time END
                             WHERE order_id = $1 AND shipment_id = $2",
                        )
                        .bind(fact.order_id)
                        .bind(&shipment.shipment_id)
                        .bind(event_time)
                        .bind(status == Status::Delivered)
                        .execute(&mut *tx)
                        .await?;
                        let mut moved = Vec::new();
                        for line in &shipment_lines {
                            if let Some(index) = lines
                                .iter()
                                .position(|l| l.line_id.to_string() == line.line_id)
                            {
                                moved.push((index, line.quantity, was_shipped));
                            }
                        }
                        moved
                    }
                };
                for (index, quantity, shipped_before) in moved {
                    let line = &mut lines[index];
                    let live = line.quantity - line.cancelled_quantity;
                    if !shipped_before {
                        let ship = quantity.min(live - line.shipped_quantity);
                        line.shipped_quantity += ship.max(0);
                    }
                    if status == Status::Delivered {
                        let deliver = quantity.min(line.shipped_quantity - line.delivered_quantity);
                        if deliver > 0 {
                            line.delivered_quantity += deliver;
                            line.delivery_time = Some(event_time);
                        }
                    }
                    event_lines.push(EventLine {
                        line_id: line.line_id.to_string(),
                        quantity,
                    });
                }
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
                let return_id = fact.return_id.clone().unwrap_or_default();
                for (position, (index, quantity)) in
                    resolve(&fact.lines, &lines)?.into_iter().enumerate()
                {
                    let line = &mut lines[index];
                    let inserted = sqlx::query(
                        "INSERT INTO returned_units (order_id, return_id, line_id, quantity) VALUES ($1, $2, $3, $4)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(fact.order_id)
                    .bind(&return_id)
                    .bind(line.line_id)
                    .bind(quantity)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        continue;
                    }
                    if line.returned_quantity + quantity > line.delivered_quantity {
                        return Err(OrderError::ReturnNotEligible {
                            sku: line.sku.clone(),
                            field: format!("lines[{position}].quantity"),
                        });
                    }
                    line.returned_quantity += quantity;
                    event_lines.push(EventLine {
                        line_id: line.line_id.to_string(),
                        quantity,
                    });
                }
            }
            Some(other) => {
                return Err(OrderError::invalid(
                    "status",
                    format!("{} cannot be named", other.name()),
                ));
            }
        }

        // References, shipments, payment, saga, lock, pickup store.
        if !matches!(fact.status, Some(Status::Shipped | Status::Delivered)) {
            for shipment in &fact.shipments {
                let resolved: Vec<EventLine> = resolve(&shipment.lines, &lines)?
                    .into_iter()
                    .map(|(index, quantity)| EventLine {
                        line_id: lines[index].line_id.to_string(),
                        quantity,
                    })
                    .collect();
                record_shipment(&mut tx, fact.order_id, shipment, &resolved, event_time).await?;
                recorded = true;
            }
        }
        let lock = fact.lock_shipping_address && row.shipping_address_lock_time.is_none();
        let return_new = fact
            .return_id
            .as_ref()
            .filter(|id| !row.return_ids.contains(id));
        sqlx::query(
            "UPDATE orders SET
                 payment_id = coalesce($2, payment_id),
                 saga_id = CASE WHEN saga_id = '' THEN coalesce($3, saga_id) ELSE saga_id END,
                 shipping_address_lock_time = CASE WHEN $4 THEN now() ELSE shipping_address_lock_time END,
                 return_ids = CASE WHEN $5::text IS NULL THEN return_ids ELSE array_append(return_ids, $5) END,
                 pickup_location_id = coalesce($6, pickup_location_id),
                 confirmed = $7
             WHERE order_id = $1",
        )
        .bind(fact.order_id)
        .bind(&fact.payment_id)
        .bind(&fact.saga_id)
        .bind(lock)
        .bind(return_new)
        .bind(&fact.pickup_location_id)
        .bind(confirmed)
        .execute(&mut *tx)
        .await?;
        recorded |= lock
            || return_new.is_some()
            || fact
                .payment_id
                .as_ref()
                .is_some_and(|id| *id != row.payment_id)
            || (confirmed && !confirmed_before);

        // The statuses that follow.
        let to = if let Some(status) = forced {
            status
        } else if from == Status::CancelRequested && fact.status != Some(Status::Cancelled) {
            Status::CancelRequested
        } else if matches!(from, Status::Rejected) || (from == Status::Cancelled) {
            from
        } else {
            derive(lines.iter().map(units), confirmed)
        };
        let mut line_changes = Vec::new();
        for (line, old) in lines.iter().zip(&before) {
            let old_status = Status::from_code(i32::from(line.status)).unwrap_or(Status::Pending);
            let new_status = match forced {
                Some(status) => status,
                None if to == Status::CancelRequested && units(line) == *old => old_status,
                // An order that ended keeps its lines as they ended.
                None if from.is_terminal() && to == from => old_status,
                None => derive([units(line)], confirmed),
            };
            if new_status != old_status && !old_status.can_become(new_status) {
                return Err(OrderError::IllegalTransition {
                    from: old_status,
                    to: Some(new_status),
                    action: "mark_status",
                });
            }
            if new_status != old_status || units(line) != *old {
                line_changes.push((line.clone(), new_status));
            }
        }
        if to != from && !from.can_become(to) {
            return Err(illegal(from, to));
        }
        for (line, status) in &line_changes {
            sqlx::query(
                "UPDATE order_lines SET status = $3, shipped_quantity = $4, delivered_quantity = $5,
                     returned_quantity = $6, cancelled_quantity = $7, delivery_time = $8
                 WHERE order_id = $1 AND line_id = $2",
            )
            .bind(fact.order_id)
            .bind(line.line_id)
            .bind(status.code())
            .bind(line.shipped_quantity)
            .bind(line.delivered_quantity)
            .bind(line.returned_quantity)
            .bind(line.cancelled_quantity)
            .bind(line.delivery_time)
            .execute(&mut *tx)
            .await?;
        }
        let status_changed = to != from;
        if status_changed {
            let reason = if matches!(to, Status::Rejected | Status::Cancelled) {
                fact.reason.clone()
            } else {
                row.status_reason.clone()
            };
            sqlx::query("UPDATE orders SET status = $2, status_reason = $3 WHERE order_id = $1")
                .bind(fact.order_id)
                .bind(to.code())
                .bind(reason)
                .execute(&mut *tx)
                .await?;
        }
        let changed = status_changed || !line_changes.is_empty() || recorded;
        if changed {
            let kind = if status_changed {
                EventKind::StatusChanged
            } else if !line_changes.is_empty() {
                EventKind::LinesChanged
            } else if lock {
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
            event.lines = event_lines;
            event.references = fact.references.clone();
            for shipment in &fact.shipments {
                event
                    .references
                    .push((RefKind::ShipmentId, shipment.shipment_id.clone()));
            }
            if let Some(payment_id) = &fact.payment_id {
                event
                    .references
                    .push((RefKind::PaymentId, payment_id.clone()));
            }
            if let Some(return_id) = &fact.return_id {
                event
                    .references
                    .push((RefKind::ReturnId, return_id.clone()));
            }
            if let Some(saga_id) = &fact.saga_id {
                event.references.push((RefKind::SagaId, saga_id.clone()));
            }
            record_event(&mut tx, fact.order_id, &event).await?;
            sqlx::query("UPDATE orders SET update_time = now() WHERE order_id = $1")
                .bind(fact.order_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let record = self
            .get(fact.order_id)
            .await?
            .ok_or_else(|| OrderError::NotFound(fact.order_id.to_string()))?;
        Ok((record, changed))
    }
}

/// Records or merges a shipment; lines are kept once known.
async fn record_shipment(
    tx: &mut sqlx::PgConnection,
    order_id: Uuid,
    shipment: &ShipmentFact,
    lines: &[EventLine],
    event_time: DateTime<Utc>,
) -> Result<(), OrderError> {
    // A cancellation keeps its first time: a repeated report changes nothing.
    sqlx::query(
        "INSERT INTO order_shipments (order_id, shipment_id, location_id, carrier, tracking_number, lines, cancel_time)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
         ON CONFLICT (order_id, shipment_id) DO UPDATE SET
             location_id = CASE WHEN excluded.location_id = '' THEN order_shipments.location_id ELSE excluded.location_id END,
             carrier = CASE WHEN excluded.carrier = '' THEN order_shipments.carrier ELSE excluded.carrier END,
             tracking_number = CASE WHEN excluded.tracking_number = '' THEN order_shipments.tracking_number ELSE excluded.tracking_number END,
             lines = CASE WHEN order_shipments.lines = '[]'::jsonb THEN excluded.lines ELSE order_shipments.lines END,
             cancel_time = coalesce(order_shipments.cancel_time, excluded.cancel_time)",
    )
    .bind(order_id)
    .bind(&shipment.shipment_id)
    .bind(&shipment.location_id)
    .bind(&shipment.carrier)
    .bind(&shipment.tracking_number)
    .bind(serde_json::to_string(lines)?)
    .bind(shipment.cancelled.then_some(event_time))
    .execute(&mut *tx)
    .await?;
    Ok(())
}
