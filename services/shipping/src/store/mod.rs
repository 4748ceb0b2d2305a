//! Postgres, the truth of every shipment: SQL, typed rows, one transaction per
//! change.
//!
//! - this module: shipments, cancelled keys and tracking events.
//!
//! Changes of one natural key are serialised with a transaction-scoped advisory
//! lock, so a create and a cancel of the same key never both win.

use chrono::{DateTime, Utc};
use oms_platform::error;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::{
    domain::{report::Direction, shipment::ShipmentStatus},
    error::ShippingError,
};

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// The pool, for the platform's outbox dispatcher.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

const SHIPMENT_COLUMNS: &str = "shipment_id, direction, order_id, location_id, return_id, natural_key, fingerprint, details, status, status_time, carrier, service_level, carrier_service, tracking_number, tracking_url, price_minor, currency_code, promised_delivery_time, label_format, label, packing_slip, create_time, pickup_time, delivery_time, cancel_time, update_time";

/// A stored shipment, a row of `shipments` (migration 0001 says more of each
/// column). Codes are the contract's numbers.
#[derive(Debug, Clone, FromRow)]
pub struct ShipmentRow {
    /// The id the service minted (UUIDv7, so ids sort by creation).
    pub shipment_id: Uuid,
    /// [`Direction::code`].
    pub direction: i16,
    /// The order the goods belong to.
    pub order_id: String,
    /// The shipping (OUTBOUND) or receiving (RETURN) location.
    pub location_id: String,
    /// The return a RETURN shipment carries.
    pub return_id: Option<String>,
    /// `outbound:<order_id>:<location_id>` or `return:<return_id>`, also the
    /// carrier key of the label.
    pub natural_key: String,
    /// SHA-256 of the creating request without its actor.
    pub fingerprint: Vec<u8>,
    /// The creating request, encoded. PII.
    pub details: Vec<u8>,
    /// [`ShipmentStatus::code`].
    pub status: i16,
    /// The event time of the event that set the status; none while
    /// LABEL_CREATED or CANCELLED.
    pub status_time: Option<DateTime<Utc>>,
    /// The carrier's code.
    pub carrier: String,
    /// The service level bought, as its code.
    pub service_level: i16,
    /// The carrier's product.
    pub carrier_service: String,
    /// The carrier's tracking number.
    pub tracking_number: String,
    /// The carrier's public tracking page.
    pub tracking_url: String,
    /// What the label cost, in minor units.
    pub price_minor: i64,
    /// The price's currency.
    pub currency_code: String,
    /// The carrier's promise when the label was bought.
    pub promised_delivery_time: DateTime<Utc>,
    /// The label's format, as its code.
    pub label_format: i16,
    /// The label document. PII.
    pub label: Vec<u8>,
    /// The packing slip (PDF) of an OUTBOUND shipment. PII.
    pub packing_slip: Option<Vec<u8>>,
    /// When the label was bought.
    pub create_time: DateTime<Utc>,
    /// The earliest custody event's time.
    pub pickup_time: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivery_time: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancel_time: Option<DateTime<Utc>>,
    /// When anything about it last changed.
    pub update_time: DateTime<Utc>,
}

impl ShipmentRow {
    /// The stored status.
    pub fn shipment_status(&self) -> Result<ShipmentStatus, ShippingError> {
        ShipmentStatus::from_code(self.status)
            .ok_or_else(|| ShippingError::Corrupt("shipment status".to_owned()))
    }

    /// The stored direction.
    pub fn shipment_direction(&self) -> Result<Direction, ShippingError> {
        Direction::from_code(self.direction)
            .ok_or_else(|| ShippingError::Corrupt("shipment direction".to_owned()))
    }
}

/// A stored tracking event.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct EventRow {
    /// The carrier's id of the event.
    pub carrier_event_id: String,
    /// [`crate::domain::shipment::TrackingEventType::code`].
    pub event_type: i16,
    /// When it happened, as the carrier says (to the microsecond).
    pub event_time: DateTime<Utc>,
    /// When the service received it.
    pub receive_time: DateTime<Utc>,
    /// Where, as the carrier says.
    pub location: String,
    /// The carrier's text.
    pub description: String,
    /// Whether it moved the status.
    pub applied: bool,
}

/// A shipment with its timeline in event-time order.
#[derive(Debug, Clone)]
pub struct ShipmentRecord {
    /// The shipment.
    pub shipment: ShipmentRow,
    /// Its tracking events; none in listings.
    pub events: Vec<EventRow>,
}

/// What a new tracking event writes.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The carrier's code; with `carrier_event_id` the natural key.
    pub carrier: String,
    /// The carrier's id of the event.
    pub carrier_event_id: String,
    /// The event type's code.
    pub event_type: i16,
    /// When it happened, as the carrier says (to the microsecond).
    pub event_time: DateTime<Utc>,
    /// Where, as the carrier says.
    pub location: String,
    /// The carrier's text.
    pub description: String,
    /// Whether it moves the status.
    pub applied: bool,
}

impl Store {
    /// The store over the service's migrated database.
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// Opens the transaction of one change.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, ShippingError> {
        Ok(self.pool.begin().await?)
    }

    /// One shipment with its timeline, outside any change.
    pub async fn get(&self, shipment_id: Uuid) -> Result<Option<ShipmentRecord>, ShippingError> {
        let mut conn = self.pool.acquire().await?;
        get(&mut conn, shipment_id).await
    }

    /// What a natural key holds: its shipment, if one exists, and whether the
    /// key was cancelled before any shipment existed. Both are asked in one
    /// statement (one commit); the shipment's timeline only when it exists.
    pub async fn by_key(&self, key: &str) -> Result<(Option<ShipmentRecord>, bool), ShippingError> {
        let mut conn = self.pool.acquire().await?;
        let (id, cancelled): (Option<Uuid>, bool) = sqlx::query_as(
            "SELECT (SELECT shipment_id FROM shipments WHERE natural_key = $1),
                    EXISTS (SELECT 1 FROM cancelled_keys WHERE natural_key = $1)",
        )
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
        let record = match id {
            Some(id) => get(&mut conn, id).await?,
            None => None,
        };
        Ok((record, cancelled))
    }
}

/// Serialises the changes of one natural key until the transaction ends.
pub async fn lock_key(tx: &mut PgConnection, key: &str) -> Result<(), ShippingError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// One shipment with its timeline.
pub async fn get(
    conn: &mut PgConnection,
    shipment_id: Uuid,
) -> Result<Option<ShipmentRecord>, ShippingError> {
    let shipment: Option<ShipmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE shipment_id = $1"
    )))
    .bind(shipment_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(shipment) = shipment else {
        return Ok(None);
    };
    let events = sqlx::query_as(
        "SELECT carrier_event_id, event_type, event_time, receive_time, location, description, applied
         FROM tracking_events WHERE shipment_id = $1 ORDER BY event_time, seq",
    )
    .bind(shipment_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(ShipmentRecord { shipment, events }))
}

/// The shipment of a natural key, locked until the transaction ends.
pub async fn lock_by_key(
    tx: &mut PgConnection,
    key: &str,
) -> Result<Option<ShipmentRow>, ShippingError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE natural_key = $1 FOR UPDATE"
    )))
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?)
}

/// A shipment by id, locked until the transaction ends.
pub async fn lock(
    tx: &mut PgConnection,
    shipment_id: Uuid,
) -> Result<Option<ShipmentRow>, ShippingError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE shipment_id = $1 FOR UPDATE"
    )))
    .bind(shipment_id)
    .fetch_optional(&mut *tx)
    .await?)
}

/// A carrier's shipment by tracking number, locked until the transaction ends.
pub async fn lock_by_tracking_number(
    tx: &mut PgConnection,
    carrier: &str,
    tracking_number: &str,
) -> Result<Option<ShipmentRow>, ShippingError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE carrier = $1 AND tracking_number = $2 FOR UPDATE"
    )))
    .bind(carrier)
    .bind(tracking_number)
    .fetch_optional(&mut *tx)
    .await?)
}

/// True when the key was cancelled before any shipment existed.
pub async fn key_cancelled(tx: &mut PgConnection, key: &str) -> Result<bool, ShippingError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM cancelled_keys WHERE natural_key = $1)")
            .bind(key)
            .fetch_one(&mut *tx)
            .await?,
    )
}

/// Records a key as cancelled with no shipment.
pub async fn cancel_key(
    tx: &mut PgConnection,
    key: &str,
    reason: &str,
) -> Result<(), ShippingError> {
    sqlx::query(
        "INSERT INTO cancelled_keys (natural_key, reason) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(key)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Writes a new shipment (the caller holds the key's lock and checked that none
/// exists).
pub async fn insert(tx: &mut PgConnection, row: &ShipmentRow) -> Result<(), ShippingError> {
    sqlx::query(
        "INSERT INTO shipments (shipment_id, direction, order_id, location_id, return_id, natural_key,
             fingerprint, details, status, status_time, carrier, service_level, carrier_service,
             tracking_number, tracking_url, price_minor, currency_code, promised_delivery_time,
             label_format, label, packing_slip, create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
             $19, $20, $21, $22, $22)",
    )
    .bind(row.shipment_id)
    .bind(row.direction)
    .bind(&row.order_id)
    .bind(&row.location_id)
    .bind(&row.return_id)
    .bind(&row.natural_key)
    .bind(&row.fingerprint)
    .bind(&row.details)
    .bind(row.status)
    .bind(row.status_time)
    .bind(&row.carrier)
    .bind(row.service_level)
    .bind(&row.carrier_service)
    .bind(&row.tracking_number)
    .bind(&row.tracking_url)
    .bind(row.price_minor)
    .bind(&row.currency_code)
    .bind(row.promised_delivery_time)
    .bind(row.label_format)
    .bind(&row.label)
    .bind(&row.packing_slip)
    .bind(row.create_time)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Marks a shipment CANCELLED.
pub async fn cancel(
    tx: &mut PgConnection,
    shipment_id: Uuid,
    status: i16,
    reason: &str,
) -> Result<(), ShippingError> {
    sqlx::query(
        "UPDATE shipments SET status = $2, cancel_time = now(), cancel_reason = $3, update_time = now()
         WHERE shipment_id = $1",
    )
    .bind(shipment_id)
    .bind(status)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A stored event of the carrier with this id, if any.
pub async fn find_event(
    tx: &mut PgConnection,
    carrier: &str,
    carrier_event_id: &str,
) -> Result<Option<(Uuid, EventRow)>, ShippingError> {
    #[derive(FromRow)]
    struct Row {
        shipment_id: Uuid,
        #[sqlx(flatten)]
        event: EventRow,
    }
    let row: Option<Row> = sqlx::query_as(
        "SELECT shipment_id, carrier_event_id, event_type, event_time, receive_time, location, description, applied
         FROM tracking_events WHERE carrier = $1 AND carrier_event_id = $2",
    )
    .bind(carrier)
    .bind(carrier_event_id)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|row| (row.shipment_id, row.event)))
}

/// Stores an event and, when it applied, the shipment's new status; an event
/// id another shipment's event holds is a [`ShippingError::KeyConflict`].
pub async fn record_event(
    tx: &mut PgConnection,
    shipment_id: Uuid,
    event: &NewEvent,
    new_status: Option<i16>,
    sets_pickup: bool,
    sets_delivery: bool,
) -> Result<(), ShippingError> {
    sqlx::query(
        "INSERT INTO tracking_events (shipment_id, carrier, carrier_event_id, event_type, event_time,
             location, description, applied)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(shipment_id)
    .bind(&event.carrier)
    .bind(&event.carrier_event_id)
    .bind(event.event_type)
    .bind(event.event_time)
    .bind(&event.location)
    .bind(&event.description)
    .bind(event.applied)
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        // Another shipment's event took the id since the caller looked: the
        // same natural key with another request.
        if error::is_unique_violation(&err) {
            ShippingError::KeyConflict(vec![
                ("carrier", event.carrier.clone()),
                ("carrier_event_id", event.carrier_event_id.clone()),
            ])
        } else {
            ShippingError::Database(err)
        }
    })?;
    // The pickup time is the earliest custody event known, even a late one.
    sqlx::query(
        "UPDATE shipments SET
             status = coalesce($2, status),
             status_time = CASE WHEN $2 IS NULL THEN status_time ELSE $3 END,
             pickup_time = CASE WHEN $4 THEN least(coalesce(pickup_time, $3), $3) ELSE pickup_time END,
             delivery_time = CASE WHEN $5 THEN $3 ELSE delivery_time END,
             update_time = now()
         WHERE shipment_id = $1",
    )
    .bind(shipment_id)
    .bind(new_status)
    .bind(event.event_time)
    .bind(sets_pickup)
    .bind(sets_delivery)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The filters of a shipment listing; unset ones match everything.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this order's shipments.
    pub order_id: Option<String>,
    /// Only this return's shipment.
    pub return_id: Option<String>,
    /// Only this location's shipments.
    pub location_id: Option<String>,
    /// Only shipments in one of these statuses (codes); empty for any.
    pub statuses: Vec<i16>,
    /// Only this direction (its code).
    pub direction: Option<i16>,
}

impl Store {
    /// Up to `limit` shipments, newest first, after `after` (the last id of the
    /// previous page; ids are UUIDv7, so they sort by creation time). Events
    /// are not loaded: listings carry none.
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<ShipmentRecord>, ShippingError> {
        let rows: Vec<ShipmentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments
             WHERE ($1::text IS NULL OR order_id = $1)
               AND ($2::text IS NULL OR return_id = $2)
               AND ($3::text IS NULL OR location_id = $3)
               AND (cardinality($4::smallint[]) = 0 OR status = ANY($4))
               AND ($5::smallint IS NULL OR direction = $5)
               AND ($6::uuid IS NULL OR shipment_id < $6)
             ORDER BY shipment_id DESC
             LIMIT $7"
        )))
        .bind(&filter.order_id)
        .bind(&filter.return_id)
        .bind(&filter.location_id)
        .bind(&filter.statuses)
        .bind(filter.direction)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|shipment| ShipmentRecord {
                shipment,
                events: Vec::new(),
            })
            .collect())
    }
}
