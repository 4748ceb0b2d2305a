//! Orders: placing one exactly once, reading it whole, and the edits of
//! customer service. Every change records its timeline event in the same
//! transaction.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use oms_platform::outbox;

use super::Store;
use crate::{
    domain::{
        Actor, ActorKind,
        order::{Address, Exchange, NewOrder, PaymentMethod},
        status::{CancelPlan, LineRef, Status, plan_cancel},
        timeline::{Event, EventKind, EventLine, RefKind},
        values::Tag,
    },
    error::OrderError,
};

/// The outbox topic of fulfilment saga starts, queued with PlaceOrder; the key
/// is the order id. [`crate::outbox`] delivers it.
pub const START_ORDER_SAGA: &str = "oms.saga.v1.SagaService/StartOrderSaga";
/// The outbox topic of cancel saga starts, queued with CancelOrder; the key is
/// the order id, or "<order id>:<cancellation>" for a partial cancellation.
pub const START_CANCEL_SAGA: &str = "oms.saga.v1.SagaService/StartCancelSaga";

/// An order as stored, with its lines, notes and timeline.
#[derive(Debug, Clone)]
pub struct OrderRecord {
    /// The order's row.
    pub row: OrderRow,
    /// Its lines, by line number.
    pub lines: Vec<LineRow>,
    /// Its shipments as MarkStatus reported them.
    pub shipments: Vec<ShipmentRow>,
    /// Its notes, oldest first.
    pub notes: Vec<NoteRow>,
    /// Its timeline, in the order recorded.
    pub timeline: Vec<EventRow>,
}

/// An order's row: the order without its lines, notes and timeline. Holds
/// personal data, which `Debug` leaves out.
#[derive(Clone, FromRow)]
pub struct OrderRow {
    /// The id the service minted.
    pub order_id: Uuid,
    /// The number people read, e.g. `OMS-0000042`.
    pub order_number: String,
    /// The channel's kind code.
    pub channel_kind: i16,
    /// The channel's name.
    pub channel_name: String,
    /// The channel's own reference of the order.
    pub external_reference: String,
    /// SHA-256 of the PlaceOrder request's content, to tell a retry from a conflict.
    pub fingerprint: Vec<u8>,
    /// The order's status code.
    pub status: i16,
    /// Why it is in its status, e.g. why it was rejected or cancelled.
    pub status_reason: String,
    /// The customer's name.
    pub customer_name: String,
    /// The customer's email; empty when not given.
    pub customer_email: String,
    /// The customer's phone; empty when not given.
    pub customer_phone: String,
    /// The shipping address as JSON; `None` for pickup.
    pub shipping_address: Option<String>,
    /// The currency of every amount.
    pub currency_code: String,
    /// Lines total, in minor units.
    pub lines_total: i64,
    /// Shipping total, in minor units.
    pub shipping_total: i64,
    /// An exchange's credit, in minor units.
    pub credit_total: i64,
    /// What the customer pays, in minor units.
    pub grand_total: i64,
    /// Units over every line.
    pub item_count: i32,
    /// The delivery method's code.
    pub delivery_method: i16,
    /// The service level's code; 0 when unspecified.
    pub service_level: i16,
    /// The pickup store; empty when shipped.
    pub pickup_location_id: String,
    /// The payment method as JSON (tokens, never card numbers).
    pub payment_method: Option<String>,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// The payment recorded by MarkStatus; empty until then.
    pub payment_id: String,
    /// The fulfilment saga's id; empty until the coordinator accepted the start.
    pub saga_id: String,
    /// The returns of the order.
    pub return_ids: Vec<String>,
    /// The exchange as JSON, for a replacement order.
    pub exchange: Option<String>,
    /// When shipments began to be created: the address is fixed from then on.
    pub shipping_address_lock_time: Option<DateTime<Utc>>,
    /// Partial cancellations requested so far.
    pub cancellations: i32,
    /// The last partial cancellation's saga still runs.
    pub cancelling: bool,
    /// The order has been CONFIRMED at some point (it may have moved on).
    pub confirmed: bool,
    /// When the channel says it was placed.
    pub place_time: DateTime<Utc>,
    /// When the service recorded it.
    pub create_time: DateTime<Utc>,
    /// The last change.
    pub update_time: DateTime<Utc>,
}

// Personal data and tokens stay out of logs even when a row is printed.
impl std::fmt::Debug for OrderRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderRow")
            .field("order_id", &self.order_id)
            .field("order_number", &self.order_number)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl OrderRow {
    /// The order's status.
    pub fn status(&self) -> Result<Status, OrderError> {
        Status::from_code(i32::from(self.status))
            .ok_or_else(|| OrderError::Corrupt(format!("status of order {}", self.order_id)))
    }

    /// The shipping address; `None` for pickup.
    pub fn address(&self) -> Result<Option<Address>, OrderError> {
        Ok(self
            .shipping_address
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?)
    }

    /// The payment method.
    pub fn payment(&self) -> Result<Option<PaymentMethod>, OrderError> {
        Ok(self
            .payment_method
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?)
    }

    /// The exchange, for a replacement order.
    pub fn exchange(&self) -> Result<Option<Exchange>, OrderError> {
        Ok(self
            .exchange
            .as_deref()
            .map(serde_json::from_str)
            .transpose()?)
    }
}

/// What CancelOrder asks.
pub struct Cancel<'a> {
    /// Why.
    pub reason: &'a str,
    /// Who.
    pub actor: &'a Actor,
    /// The units of a partial cancellation; empty for the whole order.
    pub lines: &'a [LineRef],
    /// The trace the saga start goes on in.
    pub traceparent: &'a str,
}

const ORDER_COLUMNS: &str =
    "order_id, order_number, channel_kind, channel_name, external_reference,
    fingerprint, status, status_reason, customer_name, customer_email, customer_phone,
    shipping_address::text AS shipping_address, currency_code, lines_total, shipping_total,
    credit_total, grand_total, item_count, delivery_method, service_level, pickup_location_id,
    payment_method::text AS payment_method, tags, payment_id, saga_id, return_ids,
    exchange::text AS exchange, shipping_address_lock_time, cancellations, cancelling, confirmed,
    place_time, create_time, update_time";

/// One line of an order as stored.
#[derive(Debug, Clone, FromRow, Deserialize)]
pub struct LineRow {
    /// The id the service minted.
    pub line_id: Uuid,
    /// Its place in the order, from 1.
    pub line_number: i32,
    /// The SKU sold.
    pub sku: String,
    /// Units sold.
    pub quantity: i32,
    /// The price of one unit, in minor units.
    pub unit_price: i64,
    /// The line's status code.
    pub status: i16,
    /// Units handed to a carrier (or made ready for pickup).
    pub shipped_quantity: i32,
    /// Units delivered (or collected).
    pub delivered_quantity: i32,
    /// Units that came back through returns.
    pub returned_quantity: i32,
    /// Units cancelled.
    pub cancelled_quantity: i32,
    /// When its most recent delivered unit was delivered; the return window counts from it.
    pub delivery_time: Option<DateTime<Utc>>,
}

/// A shipment of an order as MarkStatus reported it.
#[derive(Debug, Clone, FromRow, Deserialize)]
pub struct ShipmentRow {
    /// The shipment's id (shipping service).
    pub shipment_id: String,
    /// The location it ships from.
    pub location_id: String,
    /// The carrier's code.
    pub carrier: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// Its lines and units, as JSON.
    pub lines: String,
    /// When the carrier took it.
    pub ship_time: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivery_time: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancel_time: Option<DateTime<Utc>>,
}

/// A note on an order. Its text may hold personal data, which `Debug` leaves out.
#[derive(Clone, FromRow, Deserialize)]
pub struct NoteRow {
    /// The id the service minted.
    pub note_id: Uuid,
    /// What it says.
    pub text: String,
    /// Who wrote it: the actor's kind code.
    pub actor_kind: i16,
    /// Who wrote it: the actor's id.
    pub actor_id: String,
    /// When it was added.
    pub create_time: DateTime<Utc>,
}

impl std::fmt::Debug for NoteRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteRow")
            .field("note_id", &self.note_id)
            .finish_non_exhaustive()
    }
}

/// A timeline event as stored.
#[derive(Debug, Clone, FromRow, Deserialize)]
pub struct EventRow {
    /// The id the service minted.
    pub event_id: Uuid,
    /// What happened: the event kind's code.
    pub kind: i16,
    /// When it happened at its source.
    pub event_time: DateTime<Utc>,
    /// When the service recorded it.
    pub record_time: DateTime<Utc>,
    /// Who did it: the actor's kind code.
    pub actor_kind: i16,
    /// Who did it: the actor's id.
    pub actor_id: String,
    /// Why, when said.
    pub reason: String,
    /// The status before, for a status change; 0 otherwise.
    pub from_status: i16,
    /// The status after, for a status change; 0 otherwise.
    pub to_status: i16,
    /// The lines and units concerned, as JSON.
    pub lines: String,
    /// What it points to, as JSON pairs of reference kind code and value.
    pub refs: String,
}

/// The order with `order_id = $1`, read whole by [`whole_order`].
static ORDER_BY_ID: LazyLock<String> = LazyLock::new(|| whole_order("o.order_id = $1"));
/// The order a channel knows by its reference, read whole by [`whole_order`].
static ORDER_BY_NATURAL_KEY: LazyLock<String> = LazyLock::new(|| {
    whole_order("o.channel_kind = $1 AND o.channel_name = $2 AND o.external_reference = $3")
});

/// The statement that reads the order `filter` picks (over `orders o`)
/// whole: its row, and its lines, shipments, notes and timeline as JSON
/// arrays in their order, built by Postgres in the same statement. One round
/// trip and one snapshot, where a query per table took five (and, outside a
/// transaction, five commits).
fn whole_order(filter: &str) -> String {
    format!(
        "SELECT {ORDER_COLUMNS},
             {} AS lines_json,
             (SELECT coalesce(json_agg(x ORDER BY x.create_time, x.shipment_id), '[]')::text FROM (
                 SELECT shipment_id, location_id, carrier, tracking_number, lines::text AS lines,
                     ship_time, delivery_time, cancel_time, create_time
                 FROM order_shipments s WHERE s.order_id = o.order_id) x) AS shipments_json,
             (SELECT coalesce(json_agg(x ORDER BY x.create_time, x.note_id), '[]')::text FROM (
                 SELECT note_id, text, actor_kind, actor_id, create_time
                 FROM order_notes n WHERE n.order_id = o.order_id) x) AS notes_json,
             (SELECT coalesce(json_agg(x ORDER BY x.record_time, x.seq), '[]')::text FROM (
                 SELECT event_id, kind, event_time, record_time, actor_kind, actor_id, reason,
                     from_status, to_status, lines::text AS lines, refs::text AS refs, seq
                 FROM timeline_events e WHERE e.order_id = o.order_id) x) AS timeline_json
         FROM orders o WHERE {filter}",
        lines_json("o.order_id")
    )
}

/// The lines of the order `order_id` (an SQL expression) as one JSON array
/// in line order, each as [`LineRow`] reads it: a subquery of a statement
/// that reads more.
pub(crate) fn lines_json(order_id: &str) -> String {
    format!(
        "(SELECT coalesce(json_agg(x ORDER BY x.line_number), '[]')::text FROM (
             SELECT line_id, line_number, sku, quantity, unit_price, status, shipped_quantity,
                 delivered_quantity, returned_quantity, cancelled_quantity, delivery_time
             FROM order_lines l WHERE l.order_id = {order_id}) x)"
    )
}

/// An order as [`whole_order`] reads it.
#[derive(FromRow)]
struct WholeRow {
    #[sqlx(flatten)]
    row: OrderRow,
    lines_json: String,
    shipments_json: String,
    notes_json: String,
    timeline_json: String,
}

impl WholeRow {
    fn into_record(self) -> Result<OrderRecord, OrderError> {
        fn parse<T: serde::de::DeserializeOwned>(
            what: &str,
            json: &str,
        ) -> Result<Vec<T>, OrderError> {
            serde_json::from_str(json)
                .map_err(|err| OrderError::Corrupt(format!("the order's {what} as read: {err}")))
        }
        Ok(OrderRecord {
            lines: parse("lines", &self.lines_json)?,
            shipments: parse("shipments", &self.shipments_json)?,
            notes: parse("notes", &self.notes_json)?,
            timeline: parse("timeline", &self.timeline_json)?,
            row: self.row,
        })
    }
}

/// Writes one timeline event.
pub async fn record_event(
    tx: &mut PgConnection,
    order_id: Uuid,
    event: &Event,
) -> Result<(), OrderError> {
    let references: Vec<(i16, &str)> = event
        .references
        .iter()
        .map(|(kind, value)| (i16::from(*kind), value.as_str()))
        .collect();
    sqlx::query(
        "INSERT INTO timeline_events (event_id, order_id, kind, event_time, actor_kind, actor_id,
             reason, from_status, to_status, lines, refs)
         VALUES ($1, $2, $3, coalesce($4, now()), $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb)",
    )
    .bind(Uuid::now_v7())
    .bind(order_id)
    .bind(event.kind.code())
    .bind(event.event_time)
    .bind(event.actor.kind.code())
    .bind(&event.actor.id)
    .bind(&event.reason)
    .bind(event.from.map_or(0, Status::code))
    .bind(event.to.map_or(0, Status::code))
    .bind(serde_json::to_string(&event.lines)?)
    .bind(serde_json::to_string(&references)?)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What placing an order needs besides the order itself.
pub struct Placement<'a> {
    /// The order, checked, with its totals.
    pub order: &'a NewOrder,
    /// SHA-256 of the request's content, to tell a retry from a conflict.
    pub fingerprint: [u8; 32],
    /// The StartOrderSaga request for the outbox, built once the id is known.
    pub saga_start: &'a (dyn Fn(Uuid) -> Vec<u8> + Send + Sync),
    /// The trace context of the call, stored with the saga start.
    pub traceparent: &'a str,
}

impl Store {
    /// Creates the order with its lines, notes, ORDER_PLACED event and the
    /// outbox entry of its saga start, in `tx`; its id, or `None` (and nothing
    /// written) when an order already has its natural key.
    pub async fn place(
        tx: &mut PgConnection,
        placement: &Placement<'_>,
    ) -> Result<Option<Uuid>, OrderError> {
        let order = placement.order;
        let totals = &order.totals;
        let order_id = Uuid::now_v7();
        let address = order
            .shipping_address
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let payment = order
            .payment_method
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let exchange = order
            .exchange
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let tags: Vec<&str> = order.tags.iter().map(Tag::as_str).collect();
        let (country, region) = order
            .shipping_address
            .as_ref()
            .map_or((String::new(), String::new()), |a| {
                (a.country_code.clone(), a.region.clone())
            });
        let skus: Vec<&str> = order.lines.iter().map(|line| line.sku.as_str()).collect();
        let quantities: Vec<i32> = order.lines.iter().map(|line| line.quantity.get()).collect();
        let prices: Vec<i64> = order
            .lines
            .iter()
            .map(|line| line.unit_price.minor())
            .collect();
        let line_ids: Vec<Uuid> = order.lines.iter().map(|_| Uuid::now_v7()).collect();
        // Waits while another transaction holds the same natural key. The
        // lines go in with the order, in the same statement, or not at all.
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "WITH placed AS (
                 INSERT INTO orders (order_id, order_number, channel_kind, channel_name,
                     external_reference, fingerprint, status, customer_name, customer_email,
                     customer_phone, shipping_address, destination_country, destination_region,
                     currency_code, lines_total, shipping_total, credit_total, grand_total,
                     line_count, item_count, delivery_method, service_level, pickup_location_id,
                     payment_method, tags, exchange, place_time)
                 VALUES ($1, 'OMS-' || lpad(nextval('order_number_sequence')::text, 7, '0'), $2,
                     $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19, $20, $21, $22, $23::jsonb, $24, $25::jsonb, coalesce($26, now()))
                 ON CONFLICT (channel_kind, channel_name, external_reference) DO NOTHING
                 RETURNING order_id
             ),
             lines AS (
                 INSERT INTO order_lines (order_id, line_number, line_id, sku, quantity,
                     unit_price, status)
                 SELECT placed.order_id, l.n::integer, l.id, l.sku, l.quantity, l.price, $6
                 FROM placed,
                     unnest($27::uuid[], $28::text[], $29::int4[], $30::int8[]) WITH ORDINALITY
                         AS l(id, sku, quantity, price, n)
             )
             SELECT order_id FROM placed",
        )
        .bind(order_id)
        .bind(order.channel.kind)
        .bind(&order.channel.name)
        .bind(order.external_reference.as_str())
        .bind(placement.fingerprint.as_slice())
        .bind(Status::Pending.code())
        .bind(&order.customer.name.0)
        .bind(
            order
                .customer
                .email
                .as_ref()
                .map_or("", |email| email.as_str()),
        )
        .bind(
            order
                .customer
                .phone
                .as_ref()
                .map_or("", |phone| phone.as_str()),
        )
        .bind(address)
        .bind(country)
        .bind(region)
        .bind(order.currency.as_str())
        .bind(totals.lines_total.minor())
        .bind(totals.shipping_total.minor())
        .bind(totals.credit_total.minor())
        .bind(totals.grand_total.minor())
        .bind(i32::try_from(order.lines.len()).unwrap_or(i32::MAX))
        .bind(totals.item_count)
        .bind(order.delivery.method.code())
        .bind(order.delivery.service_level)
        .bind(order.delivery.pickup_location_id.as_deref().unwrap_or(""))
        .bind(payment)
        .bind(&tags)
        .bind(exchange)
        .bind(order.place_time)
        .bind(&line_ids)
        .bind(&skus)
        .bind(&quantities)
        .bind(&prices)
        .fetch_optional(&mut *tx)
        .await?;

        let Some(order_id) = inserted else {
            return Ok(None);
        };

        for note in &order.notes {
            insert_note(tx, order_id, &note.0, &order.actor).await?;
        }
        let mut placed = Event::by(EventKind::OrderPlaced, order.actor.clone());
        placed.event_time = order.place_time;
        placed.to = Some(Status::Pending);
        record_event(tx, order_id, &placed).await?;
        outbox::enqueue(
            tx,
            START_ORDER_SAGA,
            &order_id.to_string(),
            &(placement.saga_start)(order_id),
            placement.traceparent,
        )
        .await?;
        Ok(Some(order_id))
    }

    /// The order with its lines, notes and timeline.
    pub async fn get(&self, order_id: Uuid) -> Result<Option<OrderRecord>, OrderError> {
        let mut conn = self.pool.acquire().await?;
        Self::read(&mut conn, order_id).await
    }

    /// The order with its lines, notes and timeline, read on `conn` (e.g. in
    /// the transaction that just changed it).
    pub async fn read(
        conn: &mut PgConnection,
        order_id: Uuid,
    ) -> Result<Option<OrderRecord>, OrderError> {
        let row: Option<WholeRow> = sqlx::query_as(sqlx::AssertSqlSafe(ORDER_BY_ID.as_str()))
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(WholeRow::into_record).transpose()
    }

    /// The order a channel knows by `external_reference`.
    pub async fn by_natural_key(
        &self,
        channel_kind: i16,
        channel_name: &str,
        external_reference: &str,
    ) -> Result<Option<OrderRecord>, OrderError> {
        let row: Option<WholeRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(ORDER_BY_NATURAL_KEY.as_str()))
                .bind(channel_kind)
                .bind(channel_name)
                .bind(external_reference)
                .fetch_optional(&self.pool)
                .await?;
        row.map(WholeRow::into_record).transpose()
    }

    /// The order row locked for a change, in `tx`.
    pub(crate) async fn lock(
        tx: &mut PgConnection,
        order_id: Uuid,
    ) -> Result<OrderRow, OrderError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1 FOR UPDATE");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| OrderError::NotFound(order_id.to_string()))
    }

    /// CancelOrder in `tx`. Without `lines`, or with lines naming every unit
    /// still open: moves the order and its lines to CANCEL_REQUESTED and
    /// queues the cancel saga's start (`start(0, [])`); an order already
    /// cancelling or cancelled is left as is. With lines: a partial
    /// cancellation, numbered after the order's earlier ones, recorded as
    /// running and on the timeline, its saga's start queued (`start(number,
    /// units)`).
    pub async fn cancel(
        tx: &mut PgConnection,
        order_id: Uuid,
        cancel: &Cancel<'_>,
        start: impl Fn(i32, &[EventLine]) -> Vec<u8>,
    ) -> Result<(), OrderError> {
        let row = Self::lock(tx, order_id).await?;
        let from = row.status()?;
        if !cancel.lines.is_empty() {
            let lines = super::status::order_lines(tx, order_id).await?;
            let plan =
                plan_cancel(from, row.cancelling, cancel.lines, &lines).map_err(|refusal| {
                    match OrderError::from(refusal) {
                        OrderError::IllegalTransition { from, to, .. } => {
                            OrderError::IllegalTransition {
                                from,
                                to,
                                action: "cancel",
                            }
                        }
                        err => err,
                    }
                })?;
            if let CancelPlan::Partial(units) = plan {
                let number = row.cancellations + 1;
                sqlx::query(
                    "UPDATE orders SET cancellations = $2, cancelling = true, update_time = now()
                     WHERE order_id = $1",
                )
                .bind(order_id)
                .bind(number)
                .execute(&mut *tx)
                .await?;
                let mut event = Event::by(EventKind::CancellationRequested, cancel.actor.clone());
                event.reason = cancel.reason.to_owned();
                event.lines.clone_from(&units);
                record_event(tx, order_id, &event).await?;
                outbox::enqueue(
                    tx,
                    START_CANCEL_SAGA,
                    &format!("{order_id}:{number}"),
                    &start(number, &units),
                    cancel.traceparent,
                )
                .await?;
                return Ok(());
            }
        }
        if matches!(from, Status::CancelRequested | Status::Cancelled) {
            return Ok(());
        }
        if row.cancelling || !from.can_become(Status::CancelRequested) {
            return Err(OrderError::IllegalTransition {
                from,
                to: Some(Status::CancelRequested),
                action: "cancel",
            });
        }
        sqlx::query(
            "UPDATE orders SET status = $2, status_reason = $3, update_time = now() WHERE order_id = $1",
        )
        .bind(order_id)
        .bind(Status::CancelRequested.code())
        .bind(cancel.reason)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE order_lines SET status = $2 WHERE order_id = $1")
            .bind(order_id)
            .bind(Status::CancelRequested.code())
            .execute(&mut *tx)
            .await?;
        let mut event = Event::by(EventKind::StatusChanged, cancel.actor.clone());
        event.reason = cancel.reason.to_owned();
        event.from = Some(from);
        event.to = Some(Status::CancelRequested);
        record_event(tx, order_id, &event).await?;
        outbox::enqueue(
            tx,
            START_CANCEL_SAGA,
            &order_id.to_string(),
            &start(0, &[]),
            cancel.traceparent,
        )
        .await?;
        Ok(())
    }

    /// Adds a note in `tx` (the caller holds the idempotency claim); returns its id.
    pub async fn add_note(
        tx: &mut PgConnection,
        order_id: Uuid,
        text: &str,
        actor: &Actor,
    ) -> Result<Uuid, OrderError> {
        Self::lock(tx, order_id).await?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM order_notes WHERE order_id = $1")
            .bind(order_id)
            .fetch_one(&mut *tx)
            .await?;
        if count >= 500 {
            return Err(OrderError::invalid(
                "order_id",
                "the order has 500 notes, the most it may have",
            ));
        }
        let note_id = insert_note(tx, order_id, text, actor).await?;
        let mut event = Event::by(EventKind::NoteAdded, actor.clone());
        event
            .references
            .push((RefKind::NoteId, note_id.to_string()));
        record_event(tx, order_id, &event).await?;
        touch(tx, order_id).await?;
        Ok(note_id)
    }

    /// Adds the tags the order does not have yet, in `tx`; records TAGS_ADDED
    /// naming them.
    pub async fn add_tags(
        tx: &mut PgConnection,
        order_id: Uuid,
        tags: &[Tag],
        actor: &Actor,
    ) -> Result<(), OrderError> {
        let row = Self::lock(tx, order_id).await?;
        let new: Vec<&str> = tags
            .iter()
            .map(Tag::as_str)
            .filter(|tag| !row.tags.iter().any(|have| have == tag))
            .collect();
        if !new.is_empty() {
            if row.tags.len() + new.len() > 50 {
                return Err(OrderError::invalid(
                    "tags",
                    "the order would have more than 50 tags",
                ));
            }
            sqlx::query(
                "UPDATE orders SET tags = (SELECT array_agg(t ORDER BY t) FROM unnest(tags || $2::text[]) t),
                     update_time = now()
                 WHERE order_id = $1",
            )
            .bind(order_id)
            .bind(&new)
            .execute(&mut *tx)
            .await?;
            let mut event = Event::by(EventKind::TagsAdded, actor.clone());
            event.references = new
                .iter()
                .map(|tag| (RefKind::Tag, (*tag).to_owned()))
                .collect();
            record_event(tx, order_id, &event).await?;
        }
        Ok(())
    }

    /// Removes a tag if the order has it, in `tx`; records TAG_REMOVED.
    pub async fn remove_tag(
        tx: &mut PgConnection,
        order_id: Uuid,
        tag: &Tag,
        actor: &Actor,
    ) -> Result<(), OrderError> {
        let row = Self::lock(tx, order_id).await?;
        if row.tags.iter().any(|have| have == tag.as_str()) {
            sqlx::query("UPDATE orders SET tags = array_remove(tags, $2), update_time = now() WHERE order_id = $1")
                .bind(order_id)
                .bind(tag.as_str())
                .execute(&mut *tx)
                .await?;
            let mut event = Event::by(EventKind::TagRemoved, actor.clone());
            event
                .references
                .push((RefKind::Tag, tag.as_str().to_owned()));
            record_event(tx, order_id, &event).await?;
        }
        Ok(())
    }
}

async fn insert_note(
    tx: &mut PgConnection,
    order_id: Uuid,
    text: &str,
    actor: &Actor,
) -> Result<Uuid, OrderError> {
    let note_id = Uuid::now_v7();
    sqlx::query("INSERT INTO order_notes (note_id, order_id, text, actor_kind, actor_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(note_id)
        .bind(order_id)
        .bind(text)
        .bind(actor.kind.code())
        .bind(&actor.id)
        .execute(&mut *tx)
        .await?;
    Ok(note_id)
}

async fn touch(tx: &mut PgConnection, order_id: Uuid) -> Result<(), OrderError> {
    sqlx::query("UPDATE orders SET update_time = now() WHERE order_id = $1")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The actor a channel places orders as when the request names none.
pub fn channel_actor(name: &str) -> Actor {
    Actor {
        kind: ActorKind::Channel,
        id: name.to_owned(),
    }
}

impl Store {
    /// Replaces the shipping address while no shipment exists or is being
    /// created; the same address again changes nothing.
    pub async fn update_address(
        tx: &mut PgConnection,
        order_id: Uuid,
        address: &Address,
        actor: &Actor,
        reason: &str,
    ) -> Result<OrderRecord, OrderError> {
        let row = Self::lock(tx, order_id).await?;
        let status = row.status()?;
        if !matches!(status, Status::Pending | Status::Confirmed) {
            return Err(OrderError::IllegalTransition {
                from: status,
                to: None,
                action: "update_shipping_address",
            });
        }
        let shipments: i64 =
            sqlx::query_scalar("SELECT count(*) FROM order_shipments WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(&mut *tx)
                .await?;
        if row.shipping_address_lock_time.is_some() || shipments > 0 {
            return Err(OrderError::AddressLocked(order_id.to_string()));
        }
        if row.address()?.as_ref() != Some(address) {
            sqlx::query(
                "UPDATE orders SET shipping_address = $2::jsonb, destination_country = $3,
                     destination_region = $4, update_time = now()
                 WHERE order_id = $1",
            )
            .bind(order_id)
            .bind(serde_json::to_string(address)?)
            .bind(&address.country_code)
            .bind(&address.region)
            .execute(&mut *tx)
            .await?;
            let mut event = Event::by(EventKind::ShippingAddressUpdated, actor.clone());
            event.reason = reason.to_owned();
            record_event(tx, order_id, &event).await?;
        }
        Self::read(tx, order_id)
            .await?
            .ok_or_else(|| OrderError::NotFound(order_id.to_string()))
    }
}
