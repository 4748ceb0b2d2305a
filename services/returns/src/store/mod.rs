//! Postgres, the truth of every return: SQL, typed rows, and the locks that
//! serialise changes.
//!
//! - Every change of a return locks its row ([`lock`]) first, so two steps on
//!   one return never both apply.
//! - A request locks its order ([`lock_order`], a transaction-scoped advisory
//!   lock) before counting the units already in other returns, so two
//!   concurrent requests never both return the same units.

mod policies;
mod record;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgPool, Postgres, Transaction};
use uuid::Uuid;

pub use self::{
    policies::{PolicyRow, current_policy, insert_policy},
    record::ReturnRecord,
};
use crate::domain::{
    Actor,
    status::{CloseReason, ReturnStatus},
};

/// The service's database.
#[derive(Clone)]
pub struct Store {
    pool: PgPool,
}

impl Store {
    /// A store on an open pool whose migrations have run.
    pub fn new(pool: PgPool) -> Store {
        Store { pool }
    }

    /// The pool, for the platform's outbox dispatcher.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens the transaction of one change.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// A read-only transaction that sees one snapshot, so a return and its
    /// lines, timeline and policy are read as of the same moment.
    async fn snapshot(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// One return with everything about it, outside any change.
    pub async fn get(&self, return_id: Uuid) -> Result<Option<ReturnRecord>, sqlx::Error> {
        let mut tx = self.snapshot().await?;
        let rows: Vec<ReturnRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            // Column lists are constants of this module.
            "SELECT {RETURN_COLUMNS} FROM returns WHERE return_id = $1"
        )))
        .bind(return_id)
        .fetch_all(&mut *tx)
        .await?;
        let record = record::complete(&mut tx, rows).await?.pop();
        tx.commit().await?;
        Ok(record)
    }

    /// One page of returns, newest first, after `after` (create time and id).
    pub async fn list(
        &self,
        filter: &ListFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<ReturnRecord>, sqlx::Error> {
        let mut tx = self.snapshot().await?;
        let rows: Vec<ReturnRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RETURN_COLUMNS} FROM returns
             WHERE ($1::text IS NULL OR order_id = $1)
               AND (cardinality($2::smallint[]) = 0 OR status = ANY($2))
               AND ($3::smallint IS NULL OR (channel_kind = $3 AND channel_name = $4))
               AND ($5::timestamptz IS NULL OR (create_time, return_id) < ($5, $6))
             ORDER BY create_time DESC, return_id DESC
             LIMIT $7"
        )))
        .bind(filter.order_id.as_deref())
        .bind(&filter.statuses)
        .bind(filter.channel.as_ref().map(|channel| channel.kind))
        .bind(filter.channel.as_ref().map(|channel| channel.name.as_str()))
        .bind(after.map(|(time, _)| time))
        .bind(after.map(|(_, id)| id))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let records = record::complete(&mut tx, rows).await?;
        tx.commit().await?;
        Ok(records)
    }
}

/// What ListReturns filters on.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Returns of this order.
    pub order_id: Option<String>,
    /// Returns in any of these status codes.
    pub statuses: Vec<i16>,
    /// Returns of this channel.
    pub channel: Option<crate::domain::Channel>,
}

pub(crate) const RETURN_COLUMNS: &str = "return_id, order_id, channel_kind, channel_name, \
    currency_code, status, resolution, comment, policy_id, shipped_from_location_id, \
    expected_location_id, receiving_location_id, label_shipment_id, label_carrier, \
    label_tracking_number, label_price_minor, refund_payment_id, refund_transaction_id, \
    credit_refund_minor, credit_refund_payment_id, credit_refund_transaction_id, \
    replacement_order_id, exchange_payment_id, exchange_transaction_id, rejection_reason, \
    close_reason, requested_by_kind, requested_by_id, inspect_time, create_time, update_time";

/// A return as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ReturnRow {
    /// The id the service minted.
    pub return_id: Uuid,
    /// The order the goods came from.
    pub order_id: String,
    /// The order's channel: its kind code.
    pub channel_kind: i16,
    /// The order's channel: its name.
    pub channel_name: String,
    /// The order's currency.
    pub currency_code: String,
    /// The return status's code.
    pub status: i16,
    /// The resolution's code: refund or exchange.
    pub resolution: i16,
    /// The customer's comment. Personal data: free text.
    pub comment: String,
    /// The policy version in force when it was requested; `None` for the
    /// default policy.
    pub policy_id: Option<i64>,
    /// Where the first returned line shipped from; empty when unknown.
    pub shipped_from_location_id: String,
    /// Where the goods are expected, set on approval.
    pub expected_location_id: String,
    /// Where they arrived.
    pub receiving_location_id: String,
    /// The return label's shipment.
    pub label_shipment_id: String,
    /// The return label's carrier.
    pub label_carrier: String,
    /// The return label's tracking number.
    pub label_tracking_number: String,
    /// The return label's price, in minor units.
    pub label_price_minor: Option<i64>,
    /// The refund's payment.
    pub refund_payment_id: String,
    /// The refund's transaction.
    pub refund_transaction_id: String,
    /// The credit part of the refund, refunded on the original order's payment.
    pub credit_refund_minor: i64,
    /// The payment the credit part was refunded on.
    pub credit_refund_payment_id: String,
    /// The transaction of that refund.
    pub credit_refund_transaction_id: String,
    /// An exchange's replacement order.
    pub replacement_order_id: String,
    /// The payment that refunded an exchange's negative difference.
    pub exchange_payment_id: String,
    /// The transaction of that refund.
    pub exchange_transaction_id: String,
    /// Why it was rejected.
    pub rejection_reason: String,
    /// Why it was closed: the close reason's code; 0 while open.
    pub close_reason: i16,
    /// Who requested it: the actor's kind code.
    pub requested_by_kind: i16,
    /// Who requested it: the actor's id.
    pub requested_by_id: String,
    /// When it was inspected.
    pub inspect_time: Option<DateTime<Utc>>,
    /// When it was requested.
    pub create_time: DateTime<Utc>,
    /// The last change.
    pub update_time: DateTime<Utc>,
}

/// A line of a return as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LineRow {
    /// The return it belongs to.
    pub return_id: Uuid,
    /// Its place in the return, from 1.
    pub line_number: i32,
    /// The SKU returned.
    pub sku: String,
    /// Units requested.
    pub quantity: i32,
    /// Why: the return reason's code.
    pub reason: i16,
    /// The price of one unit as paid, in minor units.
    pub unit_price_minor: i64,
    /// Units put back on hand, after inspection.
    pub restock_quantity: i32,
    /// Units damaged, after inspection.
    pub damaged_quantity: i32,
    /// Units missing from the parcel, after inspection.
    pub missing_quantity: i32,
    /// What the inspector noted.
    pub inspection_note: String,
}

/// A replacement line of an exchange as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ReplacementRow {
    /// The return it belongs to.
    pub return_id: Uuid,
    /// Its place among the replacements, from 1.
    pub line_number: i32,
    /// The SKU sent instead.
    pub sku: String,
    /// Units.
    pub quantity: i32,
    /// The price of one unit, in minor units.
    pub unit_price_minor: i64,
}

/// A timeline entry as stored.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    /// The return it belongs to.
    pub return_id: Uuid,
    /// Its place in the return's timeline, from 1.
    pub seq: i32,
    /// When it happened.
    pub event_time: DateTime<Utc>,
    /// The status the return moved to.
    pub status: i16,
    /// Who moved it: the actor's kind code.
    pub actor_kind: i16,
    /// Who moved it: the actor's id.
    pub actor_id: String,
    /// What the step noted.
    pub note: String,
}

/// A return to create.
#[derive(Debug, Clone)]
pub struct NewReturn {
    /// The id to give it.
    pub return_id: Uuid,
    /// The order the goods came from.
    pub order_id: String,
    /// The order's channel.
    pub channel: crate::domain::Channel,
    /// The order's currency.
    pub currency_code: String,
    /// The resolution's code.
    pub resolution: i16,
    /// The customer's comment.
    pub comment: String,
    /// The policy version in force; `None` for the default policy.
    pub policy_id: Option<i64>,
    /// Where the first returned line shipped from; empty when unknown.
    pub shipped_from_location_id: String,
    /// Who requested it.
    pub actor: Actor,
    /// (sku, quantity, reason code, unit price paid).
    pub lines: Vec<(String, i32, i16, i64)>,
    /// (sku, quantity, unit price).
    pub replacements: Vec<(String, i32, i64)>,
}

/// Serialises the requests of one order until the transaction ends.
pub async fn lock_order(conn: &mut PgConnection, order_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('oms-returns:order:' || $1, 0))")
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Units per SKU of the order's returns that still count against what it has
/// left to return: all but REJECTED ones and ones closed before receipt.
pub async fn counted_units(
    conn: &mut PgConnection,
    order_id: &str,
) -> Result<HashMap<String, i32>, sqlx::Error> {
    let before_receipt: Vec<i16> = CloseReason::ALL
        .iter()
        .copied()
        .filter(|reason| reason.before_receipt())
        .map(CloseReason::code)
        .collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT l.sku, sum(l.quantity)
         FROM returns r JOIN return_lines l USING (return_id)
         WHERE r.order_id = $1
           AND r.status <> $2
           AND NOT (r.status = $3 AND r.close_reason = ANY($4))
         GROUP BY l.sku",
    )
    .bind(order_id)
    .bind(ReturnStatus::Rejected.code())
    .bind(ReturnStatus::Closed.code())
    .bind(&before_receipt)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(sku, units)| (sku, i32::try_from(units).unwrap_or(i32::MAX)))
        .collect())
}

/// Creates a return REQUESTED, with its lines and first timeline entry.
pub async fn insert_return(conn: &mut PgConnection, new: &NewReturn) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO returns (return_id, order_id, channel_kind, channel_name, currency_code,
             status, resolution, comment, policy_id, shipped_from_location_id,
             requested_by_kind, requested_by_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(new.return_id)
    .bind(&new.order_id)
    .bind(new.channel.kind)
    .bind(&new.channel.name)
    .bind(&new.currency_code)
    .bind(ReturnStatus::Requested.code())
    .bind(new.resolution)
    .bind(&new.comment)
    .bind(new.policy_id)
    .bind(&new.shipped_from_location_id)
    .bind(new.actor.kind.code())
    .bind(&new.actor.id)
    .execute(&mut *conn)
    .await?;
    let (skus, quantities, reasons, prices): (Vec<_>, Vec<_>, Vec<_>, Vec<_>) = unzip4(&new.lines);
    sqlx::query(
        "INSERT INTO return_lines (return_id, line_number, sku, quantity, reason, unit_price_minor)
         SELECT $1, n::integer, sku, quantity, reason, price
         FROM unnest($2::text[], $3::integer[], $4::smallint[], $5::bigint[])
              WITH ORDINALITY AS l (sku, quantity, reason, price, n)",
    )
    .bind(new.return_id)
    .bind(&skus)
    .bind(&quantities)
    .bind(&reasons)
    .bind(&prices)
    .execute(&mut *conn)
    .await?;
    if !new.replacements.is_empty() {
        let skus: Vec<&str> = new.replacements.iter().map(|r| r.0.as_str()).collect();
        let quantities: Vec<i32> = new.replacements.iter().map(|r| r.1).collect();
        let prices: Vec<i64> = new.replacements.iter().map(|r| r.2).collect();
        sqlx::query(
            "INSERT INTO replacement_lines (return_id, line_number, sku, quantity, unit_price_minor)
             SELECT $1, n::integer, sku, quantity, price
             FROM unnest($2::text[], $3::integer[], $4::bigint[])
                  WITH ORDINALITY AS l (sku, quantity, price, n)",
        )
        .bind(new.return_id)
        .bind(&skus)
        .bind(&quantities)
        .bind(&prices)
        .execute(&mut *conn)
        .await?;
    }
    append_event(
        conn,
        new.return_id,
        ReturnStatus::Requested,
        &new.actor,
        "",
        None,
    )
    .await
}

fn unzip4(lines: &[(String, i32, i16, i64)]) -> (Vec<&str>, Vec<i32>, Vec<i16>, Vec<i64>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (sku, quantity, reason, price) in lines {
        out.0.push(sku.as_str());
        out.1.push(*quantity);
        out.2.push(*reason);
        out.3.push(*price);
    }
    out
}

/// The return with its row locked until the transaction ends.
pub async fn lock(
    conn: &mut PgConnection,
    return_id: Uuid,
) -> Result<Option<ReturnRecord>, sqlx::Error> {
    let rows: Vec<ReturnRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {RETURN_COLUMNS} FROM returns WHERE return_id = $1 FOR UPDATE"
    )))
    .bind(return_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(record::complete(conn, rows).await?.pop())
}

/// What a step changes besides the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// ApproveReturn.
    Approve {
        /// Where the goods are expected.
        expected_location_id: &'a str,
    },
    /// RejectReturn.
    Reject {
        /// Why.
        reason: &'a str,
    },
    /// RecordReturnLabel.
    Label {
        /// The label's shipment.
        shipment_id: &'a str,
        /// The label's carrier.
        carrier: &'a str,
        /// The label's tracking number.
        tracking_number: &'a str,
        /// The label's price, in minor units.
        price_minor: i64,
    },
    /// MarkReturnInTransit.
    InTransit,
    /// ReceiveReturn.
    Receive {
        /// Where the goods arrived.
        location_id: &'a str,
    },
    /// InspectReturn.
    Inspect {
        /// Per line: (line number, restock, damaged, missing, note).
        lines: Vec<(i32, i32, i32, i32, &'a str)>,
    },
    /// RecordRefund.
    Refund {
        /// The refund's payment.
        payment_id: &'a str,
        /// The refund's transaction.
        transaction_id: &'a str,
        /// The credit part, refunded on the original order's payment.
        credit_minor: i64,
        /// That payment; empty without a credit part.
        credit_payment_id: &'a str,
        /// That refund's transaction.
        credit_transaction_id: &'a str,
    },
    /// RecordExchange.
    Exchange {
        /// The replacement order.
        replacement_order_id: &'a str,
        /// The payment that refunded a negative difference; may be empty.
        payment_id: &'a str,
        /// The transaction of that refund; may be empty.
        transaction_id: &'a str,
    },
    /// CloseReturn.
    Close {
        /// Why.
        reason: CloseReason,
    },
}

impl Change<'_> {
    /// The status the change leads to.
    pub fn status(&self) -> ReturnStatus {
        match self {
            Change::Approve { .. } => ReturnStatus::Approved,
            Change::Reject { .. } => ReturnStatus::Rejected,
            Change::Label { .. } => ReturnStatus::LabelIssued,
            Change::InTransit => ReturnStatus::InTransit,
            Change::Receive { .. } => ReturnStatus::Received,
            Change::Inspect { .. } => ReturnStatus::Inspected,
            Change::Refund { .. } => ReturnStatus::Refunded,
            Change::Exchange { .. } => ReturnStatus::Exchanged,
            Change::Close { .. } => ReturnStatus::Closed,
        }
    }
}

/// Applies one step to a locked return: its fields, the status and a timeline
/// entry at `event_time` (now when `None`).
pub async fn apply(
    conn: &mut PgConnection,
    return_id: Uuid,
    change: &Change<'_>,
    actor: &Actor,
    note: &str,
    event_time: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    let status = change.status();
    let update = |sql: &'static str| sqlx::query(sql).bind(return_id).bind(status.code());
    // $1 is the return, $2 the new status; the rest are the change's fields.
    let query = match change {
        Change::Approve {
            expected_location_id,
        } => update("UPDATE returns SET status = $2, expected_location_id = $3, update_time = now() WHERE return_id = $1")
            .bind(*expected_location_id),
        Change::Reject { reason } => update("UPDATE returns SET status = $2, rejection_reason = $3, update_time = now() WHERE return_id = $1")
            .bind(*reason),
        Change::Label {
            shipment_id,
            carrier,
            tracking_number,
            price_minor,
        } => update(
            "UPDATE returns SET status = $2, label_shipment_id = $3, label_carrier = $4,
                 label_tracking_number = $5, label_price_minor = $6, update_time = now()
             WHERE return_id = $1",
        )
        .bind(*shipment_id)
        .bind(*carrier)
        .bind(*tracking_number)
        .bind(*price_minor),
        Change::InTransit => update("UPDATE returns SET status = $2, update_time = now() WHERE return_id = $1"),
        Change::Receive { location_id } => update("UPDATE returns SET status = $2, receiving_location_id = $3, update_time = now() WHERE return_id = $1")
            .bind(*location_id),
        Change::Inspect { lines } => {
            let numbers: Vec<i32> = lines.iter().map(|line| line.0).collect();
            let restock: Vec<i32> = lines.iter().map(|line| line.1).collect();
            let damaged: Vec<i32> = lines.iter().map(|line| line.2).collect();
            let missing: Vec<i32> = lines.iter().map(|line| line.3).collect();
            let notes: Vec<&str> = lines.iter().map(|line| line.4).collect();
            sqlx::query(
                "UPDATE return_lines l
                 SET restock_quantity = i.restock, damaged_quantity = i.damaged,
                     missing_quantity = i.missing, inspection_note = i.note
                 FROM unnest($2::integer[], $3::integer[], $4::integer[], $5::integer[], $6::text[])
                      AS i (line_number, restock, damaged, missing, note)
                 WHERE l.return_id = $1 AND l.line_number = i.line_number",
            )
            .bind(return_id)
            .bind(&numbers)
            .bind(&restock)
            .bind(&damaged)
            .bind(&missing)
            .bind(&notes)
            .execute(&mut *conn)
            .await?;
            update("UPDATE returns SET status = $2, inspect_time = now(), update_time = now() WHERE return_id = $1")
        }
        Change::Refund {
            payment_id,
            transaction_id,
            credit_minor,
            credit_payment_id,
            credit_transaction_id,
        } => update(
            "UPDATE returns SET status = $2, refund_payment_id = $3, refund_transaction_id = $4,
                 credit_refund_minor = $5, credit_refund_payment_id = $6,
                 credit_refund_transaction_id = $7, update_time = now()
             WHERE return_id = $1",
        )
        .bind(*payment_id)
        .bind(*transaction_id)
        .bind(*credit_minor)
        .bind(*credit_payment_id)
        .bind(*credit_transaction_id),
        Change::Exchange {
            replacement_order_id,
            payment_id,
            transaction_id,
        } => update(
            "UPDATE returns SET status = $2, replacement_order_id = $3, exchange_payment_id = $4,
                 exchange_transaction_id = $5, update_time = now()
             WHERE return_id = $1",
        )
        .bind(*replacement_order_id)
        .bind(*payment_id)
        .bind(*transaction_id),
        Change::Close { reason } => update("UPDATE returns SET status = $2, close_reason = $3, update_time = now() WHERE return_id = $1")
            .bind(reason.code()),
    };
    query.execute(&mut *conn).await?;
    append_event(conn, return_id, status, actor, note, event_time).await
}

async fn append_event(
    conn: &mut PgConnection,
    return_id: Uuid,
    status: ReturnStatus,
    actor: &Actor,
    note: &str,
    event_time: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO return_events (return_id, seq, event_time, status, actor_kind, actor_id, note)
         SELECT $1, coalesce(max(seq), 0) + 1, coalesce($2, now()), $3, $4, $5, $6
         FROM return_events WHERE return_id = $1",
    )
    .bind(return_id)
    .bind(event_time)
    .bind(status.code())
    .bind(actor.kind.code())
    .bind(&actor.id)
    .bind(note)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
