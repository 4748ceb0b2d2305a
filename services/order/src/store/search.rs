//! The operator dashboard: SearchOrders with keyset pages, OrderStats and
//! CustomerSummary. Queries are built from the filters present only, so each
//! can use its index.

use chrono::{DateTime, Utc};
use oms_platform::paging::{self, Pages};
use sqlx::{FromRow, Postgres, QueryBuilder};
use uuid::Uuid;

use super::Store;
use crate::error::OrderError;

/// A search result row: what a dashboard row shows.
#[derive(Clone, FromRow)]
pub struct SummaryRow {
    /// The order's id.
    pub order_id: Uuid,
    /// The number people read.
    pub order_number: String,
    /// The channel's kind code.
    pub channel_kind: i16,
    /// The channel's name.
    pub channel_name: String,
    /// The channel's own reference of the order.
    pub external_reference: String,
    /// The order's status code.
    pub status: i16,
    /// The customer's name.
    pub customer_name: String,
    /// The customer's email; empty when not given.
    pub customer_email: String,
    /// The customer's phone; empty when not given.
    pub customer_phone: String,
    /// Where it ships: the country; empty for pickup.
    pub destination_country: String,
    /// Where it ships: the region; empty when none.
    pub destination_region: String,
    /// The currency of the total.
    pub currency_code: String,
    /// What the customer pays, in minor units.
    pub grand_total: i64,
    /// How many lines.
    pub line_count: i32,
    /// Units over every line.
    pub item_count: i32,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// When the channel says it was placed.
    pub place_time: DateTime<Utc>,
    /// When the service recorded it.
    pub create_time: DateTime<Utc>,
    /// The last change.
    pub update_time: DateTime<Utc>,
}

impl std::fmt::Debug for SummaryRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryRow")
            .field("order_id", &self.order_id)
            .finish_non_exhaustive()
    }
}

const SUMMARY_COLUMNS: &str =
    "order_id, order_number, channel_kind, channel_name, external_reference,
    status, customer_name, customer_email, customer_phone, destination_country, destination_region,
    currency_code, grand_total, line_count, item_count, tags, place_time, create_time, update_time";

/// What to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// Newest or oldest first.
    CreateTime,
    /// By what the customer pays.
    GrandTotal,
    /// By status code, then by create time.
    Status,
}

/// Where a page starts: the sort key of the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// After this create time and order id.
    CreateTime(DateTime<Utc>, Uuid),
    /// After this grand total and order id.
    GrandTotal(i64, Uuid),
    /// After this status code, create time and order id.
    Status(i16, DateTime<Utc>, Uuid),
}

impl Cursor {
    /// The cursor of `row` in a search sorted by `sort`.
    pub fn of(sort: SortField, row: &SummaryRow) -> Cursor {
        match sort {
            SortField::CreateTime => Cursor::CreateTime(row.create_time, row.order_id),
            SortField::GrandTotal => Cursor::GrandTotal(row.grand_total, row.order_id),
            SortField::Status => Cursor::Status(row.status, row.create_time, row.order_id),
        }
    }

    /// The sort whose pages this cursor starts.
    pub fn sort(&self) -> SortField {
        match self {
            Cursor::CreateTime(..) => SortField::CreateTime,
            Cursor::GrandTotal(..) => SortField::GrandTotal,
            Cursor::Status(..) => SortField::Status,
        }
    }
}

/// In a page token: the sort's letter, then its key (`c.<time>.<id>`).
impl paging::Cursor for Cursor {
    fn encode(&self) -> String {
        match self {
            Cursor::CreateTime(time, id) => format!("c.{}", (*time, *id).encode()),
            Cursor::GrandTotal(total, id) => format!("g.{}", (*total, *id).encode()),
            Cursor::Status(status, time, id) => format!("s.{}", (*status, *time, *id).encode()),
        }
    }

    fn decode(text: &str) -> Option<Cursor> {
        let (sort, key) = text.split_once('.')?;
        match sort {
            "c" => paging::Cursor::decode(key).map(|(time, id)| Cursor::CreateTime(time, id)),
            "g" => paging::Cursor::decode(key).map(|(total, id)| Cursor::GrandTotal(total, id)),
            "s" => paging::Cursor::decode(key)
                .map(|(status, time, id)| Cursor::Status(status, time, id)),
            _ => None,
        }
    }
}

/// Channels to match: (kind, name); a `None` name matches every channel of the kind.
pub type ChannelFilter = Vec<(i16, Option<String>)>;

/// The filters of SearchOrders, each checked; empty or `None` matches all.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Any of these status codes.
    pub statuses: Vec<i16>,
    /// Any of these channels.
    pub channels: ChannelFilter,
    /// Orders with a line of this SKU.
    pub sku: Option<String>,
    /// Orders shipping to this country.
    pub country: Option<String>,
    /// Orders shipping to this region.
    pub region: Option<String>,
    /// Recorded at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before this time.
    pub to: Option<DateTime<Utc>>,
    /// Orders with every one of these tags.
    pub tags: Vec<String>,
    /// The customer's email, normalised.
    pub email: Option<String>,
    /// The customer's phone, normalised.
    pub phone: Option<String>,
    /// An order number or a channel's order reference, case ignored.
    pub query: Option<String>,
}

/// A page request: the sort, its direction, and which page.
#[derive(Debug, Clone)]
pub struct Page {
    /// What to sort by.
    pub sort: SortField,
    /// Smallest first when true.
    pub ascending: bool,
    /// Which page.
    pub pages: Pages<Cursor>,
}

fn push_filters(builder: &mut QueryBuilder<Postgres>, filter: &OrderFilter) {
    builder.push(" WHERE true");
    if !filter.statuses.is_empty() {
        builder
            .push(" AND status = ANY(")
            .push_bind(filter.statuses.clone())
            .push(")");
    }
    if !filter.channels.is_empty() {
        builder.push(" AND (false");
        for (kind, name) in &filter.channels {
            builder.push(" OR (channel_kind = ").push_bind(*kind);
            if let Some(name) = name {
                builder.push(" AND channel_name = ").push_bind(name.clone());
            }
            builder.push(")");
        }
        builder.push(")");
    }
    if let Some(sku) = &filter.sku {
        builder
            .push(" AND order_id IN (SELECT order_id FROM order_lines WHERE sku = ")
            .push_bind(sku.clone())
            .push(")");
    }
    if let Some(country) = &filter.country {
        builder
            .push(" AND destination_country = ")
            .push_bind(country.clone());
    }
    if let Some(region) = &filter.region {
        builder
            .push(" AND destination_region = ")
            .push_bind(region.clone());
    }
    if let Some(from) = filter.from {
        builder.push(" AND create_time >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        builder.push(" AND create_time < ").push_bind(to);
    }
    if !filter.tags.is_empty() {
        builder.push(" AND tags @> ").push_bind(filter.tags.clone());
    }
    if let Some(email) = &filter.email {
        builder
            .push(" AND customer_email = ")
            .push_bind(email.clone());
    }
    if let Some(phone) = &filter.phone {
        builder
            .push(" AND customer_phone = ")
            .push_bind(phone.clone());
    }
    if let Some(query) = &filter.query {
        builder
            .push(" AND (upper(order_number) = upper(")
            .push_bind(query.clone())
            .push(") OR lower(external_reference) = lower(")
            .push_bind(query.clone())
            .push("))");
    }
}

impl Store {
    /// The orders of a page, and one more when another page follows
    /// ([`Pages::fetch`]).
    pub async fn search(
        &self,
        filter: &OrderFilter,
        page: &Page,
    ) -> Result<Vec<SummaryRow>, OrderError> {
        let mut builder =
            QueryBuilder::<Postgres>::new(format!("SELECT {SUMMARY_COLUMNS} FROM orders"));
        push_filters(&mut builder, filter);
        let (after, before) = if page.ascending {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        match &page.pages.after {
            None => {}
            Some(Cursor::CreateTime(time, id)) => {
                builder
                    .push(format!(" AND (create_time, order_id) {after} ("))
                    .push_bind(*time)
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
            Some(Cursor::GrandTotal(total, id)) => {
                builder
                    .push(format!(" AND (grand_total, order_id) {after} ("))
                    .push_bind(*total)
                    .push(", ")
                    .push_bind(*id)
                    .push(")");
            }
            Some(Cursor::Status(status, time, id)) => {
                // Status in the asked direction, then always newest first.
                builder
                    .push(format!(" AND (status {after} "))
                    .push_bind(*status)
                    .push(" OR (status = ")
                    .push_bind(*status)
                    .push(" AND (create_time, order_id) < (")
                    .push_bind(*time)
                    .push(", ")
                    .push_bind(*id)
                    .push(")))");
            }
        }
        match page.sort {
            SortField::CreateTime => {
                builder.push(format!(" ORDER BY create_time {before}, order_id {before}"))
            }
            SortField::GrandTotal => {
                builder.push(format!(" ORDER BY grand_total {before}, order_id {before}"))
            }
            SortField::Status => builder.push(format!(
                " ORDER BY status {before}, create_time DESC, order_id DESC"
            )),
        };
        builder.push(" LIMIT ").push_bind(page.pages.fetch());
        Ok(builder.build_query_as().fetch_all(&self.pool).await?)
    }

    /// Orders of a customer by email or phone (either matches), newest first.
    pub async fn customer_orders(
        &self,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<Vec<SummaryRow>, OrderError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM orders
             WHERE ($1::text IS NOT NULL AND customer_email = $1)
                OR ($2::text IS NOT NULL AND customer_phone = $2)
             ORDER BY create_time DESC, order_id DESC"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(email)
            .bind(phone)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// Today's date in an IANA time zone; `None` when Postgres does not know it.
    pub async fn today_in(&self, zone: &str) -> Result<Option<chrono::NaiveDate>, OrderError> {
        let today = sqlx::query_scalar(
            "SELECT (now() AT TIME ZONE name)::date FROM pg_timezone_names WHERE name = $1",
        )
        .bind(zone)
        .fetch_optional(&self.pool)
        .await?;
        Ok(today)
    }

    /// Counts by (channel, status) and revenue by (local day, channel,
    /// currency) of orders created in the local days `[start, end]` of `zone`.
    pub async fn stats(
        &self,
        zone: &str,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
        channels: &[(i16, Option<String>)],
    ) -> Result<(Vec<StatusRow>, Vec<RevenueRow>), OrderError> {
        let range = |builder: &mut QueryBuilder<Postgres>| {
            builder
                .push(" AND create_time >= (")
                .push_bind(start)
                .push("::timestamp AT TIME ZONE ")
                .push_bind(zone.to_owned())
                .push(") AND create_time < ((")
                .push_bind(end)
                .push(" + 1)::timestamp AT TIME ZONE ")
                .push_bind(zone.to_owned())
                .push(")");
        };
        let channel_filter = OrderFilter {
            channels: channels.to_vec(),
            ..OrderFilter::default()
        };
        let mut counts = QueryBuilder::<Postgres>::new(
            "SELECT channel_kind, channel_name, status, count(*) AS count FROM orders",
        );
        push_filters(&mut counts, &channel_filter);
        range(&mut counts);
        counts.push(" GROUP BY channel_kind, channel_name, status ORDER BY channel_kind, channel_name, status");
        let counts: Vec<StatusRow> = counts.build_query_as().fetch_all(&self.pool).await?;

        let mut revenue =
            QueryBuilder::<Postgres>::new("SELECT to_char((create_time AT TIME ZONE ");
        revenue.push_bind(zone.to_owned()).push(
            ")::date, 'YYYY-MM-DD') AS day, channel_kind, channel_name, currency_code,
                 least(sum(grand_total), 9223372036854775807)::bigint AS revenue,
                 count(*) AS count FROM orders",
        );
        push_filters(&mut revenue, &channel_filter);
        range(&mut revenue);
        revenue.push(" AND status NOT IN (6, 8) GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4");
        let revenue: Vec<RevenueRow> = revenue.build_query_as().fetch_all(&self.pool).await?;
        Ok((counts, revenue))
    }
}

/// Orders of one channel in one status.
#[derive(Debug, Clone, FromRow)]
pub struct StatusRow {
    /// The channel's kind code.
    pub channel_kind: i16,
    /// The channel's name.
    pub channel_name: String,
    /// The status code.
    pub status: i16,
    /// How many orders.
    pub count: i64,
}

/// Revenue of one channel on one local day in one currency.
#[derive(Debug, Clone, FromRow)]
pub struct RevenueRow {
    /// The local day, `YYYY-MM-DD`.
    pub day: String,
    /// The channel's kind code.
    pub channel_kind: i16,
    /// The channel's name.
    pub channel_name: String,
    /// The currency of the revenue.
    pub currency_code: String,
    /// Grand totals of the day's orders, in minor units; rejected and cancelled orders left out.
    pub revenue: i64,
    /// How many orders made it.
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_keep_their_sort() {
        use paging::Cursor as _;
        let id = Uuid::now_v7();
        let time = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        for (sort, cursor) in [
            (SortField::CreateTime, Cursor::CreateTime(time, id)),
            (SortField::GrandTotal, Cursor::GrandTotal(4999, id)),
            (SortField::Status, Cursor::Status(2, time, id)),
        ] {
            let read = Cursor::decode(&cursor.encode());
            assert_eq!(read.as_ref().map(Cursor::sort), Some(sort));
            assert_eq!(read, Some(cursor));
        }
        assert_eq!(Cursor::decode("c.x.y"), None);
        assert_eq!(Cursor::decode("x.1.2"), None);
    }
}
