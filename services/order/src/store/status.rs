//! MarkStatus' reads and writes. The decision is `domain::status::decide`;
//! this module claims the fact's event id, loads the [`Snapshot`] it reads and
//! writes the [`Changes`] it returns. The caller owns the transaction and
//! holds the order's row lock ([`Store::lock`](super::Store::lock)) throughout.

use std::sync::LazyLock;

use sqlx::PgConnection;
use uuid::Uuid;

use super::orders::{LineRow, OrderRow, ShipmentRow, lines_json};
use crate::{
    domain::{
        order::DeliveryMethod,
        status::{
            Changes, Fact, OrderLine, RecordedShipment, ShipmentRecord, Snapshot, Status, Units,
        },
        timeline::EventLine,
    },
    error::OrderError,
};

/// The claim of a fact's event id and the order's lines, in one statement.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH claimed AS (
             INSERT INTO status_facts (order_id, event_id, fingerprint) VALUES ($1, $2, $3)
             ON CONFLICT (order_id, event_id) DO NOTHING
             RETURNING 1)
         SELECT EXISTS (SELECT 1 FROM claimed), {}",
        lines_json("$1")
    )
});

/// Claims the fact's event id on its order: the order's lines for a new fact
/// (read in the same statement, after the caller took the row lock, so a
/// line changed by the fact that held the lock before is seen as it
/// committed), `None` for a retry of one applied; the same event id with
/// another request is [`OrderError::KeyReused`].
pub async fn claim(
    conn: &mut PgConnection,
    fact: &Fact,
) -> Result<Option<Vec<OrderLine>>, OrderError> {
    let (claimed, lines): (bool, String) = sqlx::query_as(sqlx::AssertSqlSafe(CLAIM.as_str()))
        .bind(fact.order_id)
        .bind(&fact.event_id)
        .bind(fact.fingerprint.as_slice())
        .fetch_one(&mut *conn)
        .await?;
    if claimed {
        let lines: Vec<LineRow> = serde_json::from_str(&lines)
            .map_err(|err| OrderError::Corrupt(format!("the order's lines as read: {err}")))?;
        return lines
            .into_iter()
            .map(|line| order_line(fact.order_id, line))
            .collect::<Result<_, _>>()
            .map(Some);
    }
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT fingerprint FROM status_facts WHERE order_id = $1 AND event_id = $2",
    )
    .bind(fact.order_id)
    .bind(&fact.event_id)
    .fetch_one(&mut *conn)
    .await?;
    if stored != fact.fingerprint {
        return Err(OrderError::KeyReused {
            key: "event_id",
            value: fact.event_id.clone(),
        });
    }
    Ok(None)
}

/// What the decision of `fact` reads of the order `row` (locked), its
/// `lines` as [`claim`] read them: the recorded shipments the fact names, and
/// the lines whose units of the fact's return are counted already.
pub async fn snapshot(
    conn: &mut PgConnection,
    row: &OrderRow,
    lines: Vec<OrderLine>,
    fact: &Fact,
) -> Result<Snapshot, OrderError> {
    let order_id = row.order_id;

    let mut shipments = Vec::new();
    if !fact.shipments.is_empty() {
        let named: Vec<&str> = fact
            .shipments
            .iter()
            .map(|shipment| shipment.shipment_id.as_str())
            .collect();
        let rows: Vec<ShipmentRow> = sqlx::query_as(
            "SELECT shipment_id, location_id, carrier, tracking_number, lines::text AS lines,
                 ship_time, delivery_time, cancel_time
             FROM order_shipments WHERE order_id = $1 AND shipment_id = ANY($2)",
        )
        .bind(order_id)
        .bind(&named)
        .fetch_all(&mut *conn)
        .await?;
        for shipment in rows {
            shipments.push(RecordedShipment {
                lines: serde_json::from_str(&shipment.lines)?,
                shipped: shipment.ship_time.is_some(),
                delivered: shipment.delivery_time.is_some(),
                shipment_id: shipment.shipment_id,
            });
        }
    }

    let returned_lines = match &fact.return_id {
        Some(return_id) => {
            sqlx::query_scalar(
                "SELECT line_id FROM returned_units WHERE order_id = $1 AND return_id = $2",
            )
            .bind(order_id)
            .bind(return_id)
            .fetch_all(&mut *conn)
            .await?
        }
        None => Vec::new(),
    };

    Ok(Snapshot {
        status: row.status()?,
        confirmed: row.confirmed,
        pickup: row.delivery_method == DeliveryMethod::Pickup.code(),
        payment_id: row.payment_id.clone(),
        saga_id: row.saga_id.clone(),
        pickup_location_id: row.pickup_location_id.clone(),
        address_locked: row.shipping_address_lock_time.is_some(),
        return_ids: row.return_ids.clone(),
        lines,
        shipments,
        returned_lines,
        cancelling: row.cancelling.then_some(row.cancellations),
    })
}

/// The order's lines, as decisions read them.
pub async fn order_lines(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<OrderLine>, OrderError> {
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT line_id, line_number, sku, quantity, unit_price, status, shipped_quantity,
             delivered_quantity, returned_quantity, cancelled_quantity, delivery_time
         FROM order_lines WHERE order_id = $1 ORDER BY line_number",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    lines
        .into_iter()
        .map(|line| order_line(order_id, line))
        .collect()
}

fn order_line(order_id: Uuid, line: LineRow) -> Result<OrderLine, OrderError> {
    let status = Status::from_code(i32::from(line.status))
        .ok_or_else(|| OrderError::Corrupt(format!("status of a line of order {order_id}")))?;
    Ok(OrderLine {
        line_id: line.line_id,
        units: Units {
            quantity: line.quantity,
            shipped: line.shipped_quantity,
            delivered: line.delivered_quantity,
            returned: line.returned_quantity,
            cancelled: line.cancelled_quantity,
        },
        sku: line.sku,
        status,
        delivery_time: line.delivery_time,
    })
}

/// Writes what the decision changed on the order `order_id`.
pub async fn write(
    conn: &mut PgConnection,
    order_id: Uuid,
    changes: &Changes,
) -> Result<(), OrderError> {
    for shipment in &changes.shipments {
        record_shipment(conn, order_id, shipment).await?;
    }
    if !changes.returned.is_empty() {
        let return_ids: Vec<&str> = changes
            .returned
            .iter()
            .map(|units| units.return_id.as_str())
            .collect();
        let line_ids: Vec<Uuid> = changes.returned.iter().map(|units| units.line_id).collect();
        let quantities: Vec<i32> = changes
            .returned
            .iter()
            .map(|units| units.quantity)
            .collect();
        sqlx::query(
            "INSERT INTO returned_units (order_id, return_id, line_id, quantity)
             SELECT $1, return_id, line_id, quantity
             FROM unnest($2::text[], $3::uuid[], $4::int4[]) AS r(return_id, line_id, quantity)",
        )
        .bind(order_id)
        .bind(&return_ids)
        .bind(&line_ids)
        .bind(&quantities)
        .execute(&mut *conn)
        .await?;
    }
    if !changes.lines.is_empty() {
        let column = |value: fn(&Units) -> i32| -> Vec<i32> {
            changes
                .lines
                .iter()
                .map(|line| value(&line.units))
                .collect()
        };
        let line_ids: Vec<Uuid> = changes.lines.iter().map(|line| line.line_id).collect();
        let statuses: Vec<i16> = changes
            .lines
            .iter()
            .map(|line| line.status.code())
            .collect();
        let delivery_times: Vec<_> = changes
            .lines
            .iter()
            .map(|line| line.delivery_time)
            .collect();
        sqlx::query(
            "UPDATE order_lines AS l SET status = c.status, shipped_quantity = c.shipped,
                 delivered_quantity = c.delivered, returned_quantity = c.returned,
                 cancelled_quantity = c.cancelled, delivery_time = c.delivery_time
             FROM unnest($2::uuid[], $3::int2[], $4::int4[], $5::int4[], $6::int4[], $7::int4[],
                     $8::timestamptz[])
                 AS c(line_id, status, shipped, delivered, returned, cancelled, delivery_time)
             WHERE l.order_id = $1 AND l.line_id = c.line_id",
        )
        .bind(order_id)
        .bind(&line_ids)
        .bind(&statuses)
        .bind(column(|units| units.shipped))
        .bind(column(|units| units.delivered))
        .bind(column(|units| units.returned))
        .bind(column(|units| units.cancelled))
        .bind(&delivery_times)
        .execute(&mut *conn)
        .await?;
    }
    let order_changed = changes.status.is_some()
        || changes.payment_id.is_some()
        || changes.saga_id.is_some()
        || changes.pickup_location_id.is_some()
        || changes.return_id.is_some()
        || changes.lock_shipping_address
        || changes.confirm
        || changes.cancellation_ended
        || changes.event.is_some();
    if !order_changed {
        return Ok(());
    }
    // The order's row and its timeline event in one statement: the event's
    // insert selects no row when the fact records none.
    let event = changes.event.as_ref();
    let references = event.map(|event| {
        event
            .references
            .iter()
            .map(|(kind, value)| (i16::from(*kind), value.as_str()))
            .collect::<Vec<_>>()
    });
    sqlx::query(
        "WITH changed AS (
             UPDATE orders SET
                 status = coalesce($2, status),
                 status_reason = coalesce($3, status_reason),
                 payment_id = coalesce($4, payment_id),
                 saga_id = coalesce($5, saga_id),
                 pickup_location_id = coalesce($6, pickup_location_id),
                 return_ids = CASE WHEN $7::text IS NULL THEN return_ids
                     ELSE array_append(return_ids, $7) END,
                 shipping_address_lock_time = CASE WHEN $8 THEN now()
                     ELSE shipping_address_lock_time END,
                 confirmed = confirmed OR $9,
                 cancelling = cancelling AND NOT $10,
                 update_time = CASE WHEN $11::uuid IS NULL THEN update_time ELSE now() END
             WHERE order_id = $1)
         INSERT INTO timeline_events (event_id, order_id, kind, event_time, actor_kind, actor_id,
             reason, from_status, to_status, lines, refs)
         SELECT $11, $1, $12, coalesce($13, now()), $14, $15, $16, $17, $18, $19::jsonb,
             $20::jsonb
         WHERE $11::uuid IS NOT NULL",
    )
    .bind(order_id)
    .bind(changes.status.map(Status::code))
    .bind(&changes.status_reason)
    .bind(&changes.payment_id)
    .bind(&changes.saga_id)
    .bind(&changes.pickup_location_id)
    .bind(&changes.return_id)
    .bind(changes.lock_shipping_address)
    .bind(changes.confirm)
    .bind(changes.cancellation_ended)
    .bind(event.map(|_| Uuid::now_v7()))
    .bind(event.map(|event| event.kind.code()))
    .bind(event.and_then(|event| event.event_time))
    .bind(event.map(|event| event.actor.kind.code()))
    .bind(event.map(|event| event.actor.id.as_str()))
    .bind(event.map(|event| event.reason.as_str()))
    .bind(event.map(|event| event.from.map_or(0, Status::code)))
    .bind(event.map(|event| event.to.map_or(0, Status::code)))
    .bind(
        event
            .map(|event| serde_json::to_string(&event.lines))
            .transpose()?,
    )
    .bind(
        references
            .map(|refs| serde_json::to_string(&refs))
            .transpose()?,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Records a shipment or merges it into the recorded one: texts and lines
/// once known, and each time first set wins.
async fn record_shipment(
    conn: &mut PgConnection,
    order_id: Uuid,
    shipment: &ShipmentRecord,
) -> Result<(), OrderError> {
    sqlx::query(
        "INSERT INTO order_shipments (order_id, shipment_id, location_id, carrier, tracking_number,
             lines, ship_time, delivery_time, cancel_time)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)
         ON CONFLICT (order_id, shipment_id) DO UPDATE SET
             location_id = CASE WHEN excluded.location_id = '' THEN order_shipments.location_id ELSE excluded.location_id END,
             carrier = CASE WHEN excluded.carrier = '' THEN order_shipments.carrier ELSE excluded.carrier END,
             tracking_number = CASE WHEN excluded.tracking_number = '' THEN order_shipments.tracking_number ELSE excluded.tracking_number END,
             lines = CASE WHEN order_shipments.lines = '[]'::jsonb THEN excluded.lines ELSE order_shipments.lines END,
             ship_time = coalesce(order_shipments.ship_time, excluded.ship_time),
             delivery_time = coalesce(order_shipments.delivery_time, excluded.delivery_time),
             cancel_time = coalesce(order_shipments.cancel_time, excluded.cancel_time)",
    )
    .bind(order_id)
    .bind(&shipment.shipment_id)
    .bind(&shipment.location_id)
    .bind(&shipment.carrier)
    .bind(&shipment.tracking_number)
    .bind(serde_json::to_string::<[EventLine]>(&shipment.lines)?)
    .bind(shipment.ship_time)
    .bind(shipment.delivery_time)
    .bind(shipment.cancel_time)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
