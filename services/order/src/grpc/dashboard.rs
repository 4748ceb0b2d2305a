//! Proto <-> domain for the operator dashboard: search filters and page
//! tokens, stats ranges, customer lookups, and their results.

use std::collections::BTreeMap;

use chrono::{Datelike as _, Duration as ChronoDuration, NaiveDate, Utc};
use oms_platform::{convert::time, error::FieldViolations, paging::Pages};
use oms_proto::{common::v1 as common, order::v1 as pb};

use super::convert::timestamp;
use crate::{
    domain::{
        Channel, Sku,
        status::Status,
        values::{Email, Phone, Tag},
    },
    error::OrderError,
    store::search::{
        ChannelFilter, Cursor, OrderFilter, Page, RevenueRow, SortField, StatusRow, SummaryRow,
    },
};

fn channels(
    v: &mut FieldViolations,
    field: &str,
    channels: &[common::Channel],
) -> Vec<(i16, Option<String>)> {
    let mut parsed = Vec::new();
    for (index, channel) in channels.iter().enumerate() {
        let field = format!("{field}[{index}]");
        if !(1..=5).contains(&channel.kind) {
            v.add(format!("{field}.kind"), "not a channel kind");
        } else if channel.name.is_empty() {
            parsed.push((channel.kind as i16, None));
        } else if let Some(channel) = v.check(field, Channel::new(channel.kind, &channel.name)) {
            parsed.push((channel.kind, Some(channel.name)));
        }
    }
    parsed
}

/// Checks a SearchOrders request.
pub fn search_request(
    request: &pb::SearchOrdersRequest,
) -> Result<(OrderFilter, Page), OrderError> {
    let mut v = FieldViolations::new();
    let mut statuses = Vec::new();
    for (index, status) in request.statuses.iter().enumerate() {
        match Status::from_code(*status) {
            Some(status) => statuses.push(status.code()),
            None => v.add(format!("statuses[{index}]"), "not an order status"),
        }
    }
    let channels = channels(&mut v, "channels", &request.channels);
    let text = |value: &str| Some(value.to_owned()).filter(|value| !value.is_empty());
    let sku = text(&request.sku);
    if let Some(sku) = &sku {
        v.check("sku", Sku::parse(sku));
    }
    let country = text(&request.destination_country_code);
    if let Some(country) = &country
        && (country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()))
    {
        v.add(
            "destination_country_code",
            "must be an ISO 3166-1 alpha-2 code",
        );
    }
    let from = time(
        &mut v,
        "create_time_from",
        request.create_time_from.as_ref(),
    );
    let to = time(&mut v, "create_time_to", request.create_time_to.as_ref());
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        v.add("create_time_from", "must be before create_time_to");
    }
    if request.tags.len() > 10 {
        v.add("tags", "at most 10 tags");
    }
    let tags: Vec<String> = request
        .tags
        .iter()
        .enumerate()
        .filter_map(|(index, tag)| v.check(format!("tags[{index}]"), Tag::parse(tag)))
        .map(|tag| tag.as_str().to_owned())
        .collect();
    let email = text(&request.customer_email)
        .and_then(|email| v.check("customer_email", Email::parse(&email)));
    let phone = text(&request.customer_phone)
        .and_then(|phone| v.check("customer_phone", Phone::parse(&phone)));
    let query = text(request.query.trim());
    if query
        .as_ref()
        .is_some_and(|query| query.chars().count() > 128)
    {
        v.add("query", "at most 128 characters");
    }
    let sort = match pb::OrderSortField::try_from(request.sort_by) {
        Ok(pb::OrderSortField::Unspecified | pb::OrderSortField::CreatedAt) => {
            SortField::CreateTime
        }
        Ok(pb::OrderSortField::GrandTotal) => SortField::GrandTotal,
        Ok(pb::OrderSortField::Status) => SortField::Status,
        Err(_) => {
            v.add("sort_by", "not a sort field");
            SortField::CreateTime
        }
    };
    // Bound to the filters with the sort, so a token's cursor is of this sort
    // unless someone made the token up.
    let pages = Pages::<Cursor>::of_request(request, |r| r.page.take(), &mut v);
    if pages
        .after
        .as_ref()
        .is_some_and(|after| after.sort() != sort)
    {
        v.add("page.page_token", "not a token of this sort");
    }
    if !v.is_empty() {
        return Err(OrderError::Invalid(v));
    }
    let filter = OrderFilter {
        statuses,
        channels,
        sku,
        country,
        region: text(&request.destination_region),
        from,
        to,
        tags,
        email: email.map(|email| email.as_str().to_owned()),
        phone: phone.map(|phone| phone.as_str().to_owned()),
        query,
    };
    Ok((
        filter,
        Page {
            sort,
            ascending: request.ascending,
            pages,
        },
    ))
}

/// Cuts the rows of a search (fetched for `page`) to the page, and says where
/// the next one starts.
pub fn next_page(page: &Page, rows: &mut Vec<SummaryRow>) -> common::PageResponse {
    page.pages.finish(rows, |row| Cursor::of(page.sort, row))
}

pub fn summary(row: &SummaryRow) -> pb::OrderSummary {
    pb::OrderSummary {
        order_id: row.order_id.to_string(),
        order_number: row.order_number.clone(),
        channel: Some(common::Channel {
            kind: i32::from(row.channel_kind),
            name: row.channel_name.clone(),
        }),
        external_reference: row.external_reference.clone(),
        status: i32::from(row.status),
        customer: Some(pb::Customer {
            name: row.customer_name.clone(),
            email: row.customer_email.clone(),
            phone: row.customer_phone.clone(),
        }),
        destination_country_code: row.destination_country.clone(),
        destination_region: row.destination_region.clone(),
        grand_total: Some(common::Money {
            currency_code: row.currency_code.clone(),
            amount_minor: row.grand_total,
        }),
        line_count: row.line_count,
        item_count: row.item_count,
        tags: row.tags.clone(),
        place_time: Some(timestamp(row.place_time)),
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
    }
}

/// Checks an OrderStats request: the local days and the channels.
pub fn stats_request(
    request: &pb::OrderStatsRequest,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate, ChannelFilter), OrderError> {
    let mut v = FieldViolations::new();
    // Years 1 to 9999, as timestamps: the days become timestamps in Postgres.
    let date = |v: &mut FieldViolations, field: &str, value: &str| -> Option<NaiveDate> {
        v.check(
            field,
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .filter(|date| (1..=9999).contains(&date.year()))
                .ok_or("must be a date as YYYY-MM-DD, in the years 1 to 9999"),
        )
    };
    let end = if request.end_date.is_empty() {
        Some(today)
    } else {
        date(&mut v, "end_date", &request.end_date)
    };
    let start = if request.start_date.is_empty() {
        end.and_then(|end| end.checked_sub_signed(ChronoDuration::days(29)))
    } else {
        date(&mut v, "start_date", &request.start_date)
    };
    if let (Some(start), Some(end)) = (start, end) {
        if start > end {
            v.add("start_date", "after end_date");
        } else if (end - start).num_days() >= 366 {
            v.add("start_date", "the range covers more than 366 days");
        }
    }
    let channels = channels(&mut v, "channels", &request.channels);
    match (start, end) {
        (Some(start), Some(end)) if v.is_empty() => Ok((start, end, channels)),
        _ => Err(OrderError::Invalid(v)),
    }
}

fn status_counts(counts: impl Iterator<Item = (i16, i64)>) -> Vec<pb::StatusCount> {
    let mut by_status: BTreeMap<i16, i64> = BTreeMap::new();
    for (status, count) in counts {
        *by_status.entry(status).or_default() += count;
    }
    by_status
        .into_iter()
        .map(|(status, count)| pb::StatusCount {
            status: i32::from(status),
            count,
        })
        .collect()
}

fn channel_counts<'a>(
    rows: impl Iterator<Item = (&'a (i16, String), i16, i64)>,
) -> Vec<pb::ChannelCount> {
    let mut by_channel: BTreeMap<(i16, String), Vec<(i16, i64)>> = BTreeMap::new();
    for (channel, status, count) in rows {
        by_channel
            .entry(channel.clone())
            .or_default()
            .push((status, count));
    }
    by_channel
        .into_iter()
        .map(|((kind, name), statuses)| pb::ChannelCount {
            channel: Some(common::Channel {
                kind: i32::from(kind),
                name,
            }),
            count: statuses.iter().map(|(_, count)| count).sum(),
            by_status: status_counts(statuses.into_iter()),
        })
        .collect()
}

pub fn stats(
    zone: &str,
    start: NaiveDate,
    end: NaiveDate,
    counts: &[StatusRow],
    revenue: &[RevenueRow],
) -> pb::OrderStatsResponse {
    let keyed: Vec<((i16, String), i16, i64)> = counts
        .iter()
        .map(|row| {
            (
                (row.channel_kind, row.channel_name.clone()),
                row.status,
                row.count,
            )
        })
        .collect();
    pb::OrderStatsResponse {
        as_of: Some(timestamp(Utc::now())),
        time_zone: zone.to_owned(),
        start_date: start.format("%Y-%m-%d").to_string(),
        end_date: end.format("%Y-%m-%d").to_string(),
        by_status: status_counts(counts.iter().map(|row| (row.status, row.count))),
        by_channel: channel_counts(
            keyed
                .iter()
                .map(|(channel, status, count)| (channel, *status, *count)),
        ),
        revenue: revenue
            .iter()
            .map(|row| pb::DailyRevenue {
                date: row.day.clone(),
                channel: Some(common::Channel {
                    kind: i32::from(row.channel_kind),
                    name: row.channel_name.clone(),
                }),
                revenue: Some(common::Money {
                    currency_code: row.currency_code.clone(),
                    amount_minor: row.revenue,
                }),
                order_count: row.count,
            })
            .collect(),
    }
}

/// Checks a CustomerSummary request: the normalised email and phone.
pub fn customer_request(
    request: &pb::CustomerSummaryRequest,
) -> Result<(Option<String>, Option<String>), OrderError> {
    let mut v = FieldViolations::new();
    if request.email.trim().is_empty() && request.phone.trim().is_empty() {
        v.add("email", "email or phone is required");
    }
    let email = (!request.email.trim().is_empty())
        .then(|| v.check("email", Email::parse(&request.email)))
        .flatten()
        .map(|email| email.as_str().to_owned());
    let phone = (!request.phone.trim().is_empty())
        .then(|| v.check("phone", Phone::parse(&request.phone)))
        .flatten()
        .map(|phone| phone.as_str().to_owned());
    if v.is_empty() {
        Ok((email, phone))
    } else {
        Err(OrderError::Invalid(v))
    }
}

/// The summary of a customer's orders, newest first; `None` without orders.
pub fn customer_summary(rows: &[SummaryRow]) -> Option<pb::CustomerSummary> {
    let latest = rows.first()?;
    let oldest = rows.last()?;
    let keyed: Vec<((i16, String), i16, i64)> = rows
        .iter()
        .map(|row| ((row.channel_kind, row.channel_name.clone()), row.status, 1))
        .collect();
    let mut value: BTreeMap<&str, i64> = BTreeMap::new();
    for row in rows {
        let counted = !matches!(
            Status::from_code(i32::from(row.status)),
            Some(Status::Rejected | Status::Cancelled)
        );
        if counted {
            // Saturates: a customer's orders may add up to more than 64 bits hold.
            let total = value.entry(row.currency_code.as_str()).or_default();
            *total = total.saturating_add(row.grand_total);
        }
    }
    Some(pb::CustomerSummary {
        customer: Some(pb::Customer {
            name: latest.customer_name.clone(),
            email: latest.customer_email.clone(),
            phone: latest.customer_phone.clone(),
        }),
        order_count: i64::try_from(rows.len()).unwrap_or(i64::MAX),
        by_channel: channel_counts(
            keyed
                .iter()
                .map(|(channel, status, count)| (channel, *status, *count)),
        ),
        lifetime_value: value
            .into_iter()
            .map(|(currency, amount)| common::Money {
                currency_code: currency.to_owned(),
                amount_minor: amount,
            })
            .collect(),
        first_order_time: Some(timestamp(oldest.create_time)),
        last_order_time: Some(timestamp(latest.create_time)),
        recent_orders: rows.iter().take(10).map(summary).collect(),
    })
}
