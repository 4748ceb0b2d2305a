//! How orders, their outcomes and the order stats print.

use oms_platform::config::Service;
use oms_proto::{
    common::v1::{ActorKind, DeliveryMethod, ServiceLevel},
    order::v1::{
        LineStatus, Order, OrderStatsRequest, OrderStatus, ReferenceKind, TimelineEventKind,
    },
    saga::v1::Saga,
};

use super::StatsArgs;
use crate::{
    Ctx, Failure, enum_label,
    output::{self, Table, channel, money, or_dash, say, time, to_json},
    refused, sagas,
};

/// Prints how an order's saga ended: the order's status, its shipments, the
/// saga's steps and its trace id.
pub fn print_outcome(ctx: &Ctx, order: &Order, saga: &Saga) -> Result<(), Failure> {
    if ctx.json() {
        output::json(&serde_json::json!({
            "order": to_json(order)?,
            "saga": to_json(saga)?,
        }));
        return Ok(());
    }
    say(order_headline(order));
    if !order.status_reason.is_empty() {
        say(format!("  reason: {}", order.status_reason));
    }
    if order.shipments.is_empty() {
        if !order.pickup_location_id.is_empty() {
            say(format!(
                "  pickup at {}, no shipment",
                order.pickup_location_id
            ));
        }
    } else {
        say(shipments(order).render(2));
    }
    sagas::print_saga(saga);
    Ok(())
}

fn order_headline(order: &Order) -> String {
    format!(
        "order {} {}  {}  ref {}  {}  id {}",
        order.order_number,
        enum_label!(OrderStatus, order.status, "ORDER_STATUS_"),
        channel(order.channel.as_ref()),
        order.external_reference,
        money(order.totals.as_ref().and_then(|t| t.grand_total.as_ref())),
        order.order_id
    )
}

pub(super) fn print_order(ctx: &Ctx, order: &Order, with_timeline: bool) -> Result<(), Failure> {
    if ctx.json() {
        output::json(&to_json(order)?);
        return Ok(());
    }
    say(order_headline(order));
    let delivery = order.delivery_option.clone().unwrap_or_default();
    let destination = order
        .shipping_address
        .as_ref()
        .map_or_else(String::new, |address| {
            format!(" to {}, {}", address.city, address.country_code)
        });
    let delivery = if delivery.method == DeliveryMethod::Pickup as i32 {
        let store = if order.pickup_location_id.is_empty() {
            &delivery.pickup_location_id
        } else {
            &order.pickup_location_id
        };
        format!("pickup at {}", or_dash(store))
    } else {
        format!(
            "ship {}{destination}",
            enum_label!(ServiceLevel, delivery.service_level, "SERVICE_LEVEL_").to_lowercase()
        )
    };
    let facts = [
        ("delivery", delivery),
        ("reason", or_dash(&order.status_reason)),
        ("payment", or_dash(&order.payment_id)),
        ("saga", or_dash(&order.saga_id)),
        ("tags", or_dash(&order.tags.join(", "))),
        ("notes", order.notes.len().to_string()),
        ("returns", or_dash(&order.return_ids.join(", "))),
        ("created", time(order.create_time.as_ref())),
    ];
    for (name, value) in facts {
        say(format!("  {name:<9} {value}"));
    }
    let mut lines = Table::new(&[
        "#",
        "SKU",
        "QTY",
        "UNIT PRICE",
        "STATUS",
        "SHIPPED",
        "DELIVERED",
        "RETURNED",
        "CANCELLED",
    ]);
    for line in &order.lines {
        lines.row(vec![
            line.line_number.to_string(),
            line.sku.clone(),
            line.quantity.to_string(),
            money(line.unit_price.as_ref()),
            enum_label!(LineStatus, line.status, "LINE_STATUS_"),
            line.shipped_quantity.to_string(),
            line.delivered_quantity.to_string(),
            line.returned_quantity.to_string(),
            line.cancelled_quantity.to_string(),
        ]);
    }
    say(lines.render(2));
    if !order.shipments.is_empty() {
        say(shipments(order).render(2));
    }
    if with_timeline {
        say(timeline(order).render(2));
    }
    Ok(())
}

fn shipments(order: &Order) -> Table {
    let mut table = Table::new(&[
        "SHIPMENT",
        "FROM",
        "CARRIER",
        "TRACKING",
        "SHIPPED",
        "DELIVERED",
        "CANCELLED",
    ]);
    for shipment in &order.shipments {
        table.row(vec![
            shipment.shipment_id.clone(),
            shipment.location_id.clone(),
            shipment.carrier.clone(),
            shipment.tracking_number.clone(),
            time(shipment.ship_time.as_ref()),
            time(shipment.delivery_time.as_ref()),
            time(shipment.cancel_time.as_ref()),
        ]);
    }
    table
}

pub(super) fn timeline(order: &Order) -> Table {
    let mut table = Table::new(&["TIME", "EVENT", "ACTOR", "WHAT"]);
    for event in &order.timeline {
        let mut what = Vec::new();
        if event.kind == TimelineEventKind::StatusChanged as i32 {
            what.push(format!(
                "{} -> {}",
                enum_label!(OrderStatus, event.from_status, "ORDER_STATUS_"),
                enum_label!(OrderStatus, event.to_status, "ORDER_STATUS_")
            ));
        }
        if !event.reason.is_empty() {
            what.push(event.reason.clone());
        }
        for reference in &event.references {
            what.push(format!(
                "{} {}",
                enum_label!(ReferenceKind, reference.kind, "REFERENCE_KIND_").to_lowercase(),
                reference.value
            ));
        }
        let actor = event.actor.clone().unwrap_or_default();
        table.row(vec![
            time(event.record_time.as_ref()),
            enum_label!(TimelineEventKind, event.kind, "TIMELINE_EVENT_KIND_"),
            format!(
                "{}:{}",
                enum_label!(ActorKind, actor.kind, "ACTOR_KIND_").to_lowercase(),
                actor.id
            ),
            what.join("; "),
        ]);
    }
    table
}

/// `stats`.
pub async fn stats(ctx: &Ctx, args: StatsArgs) -> Result<(), Failure> {
    let request = OrderStatsRequest {
        time_zone: args.time_zone,
        start_date: args.from.unwrap_or_default(),
        end_date: args.to.unwrap_or_default(),
        channels: Vec::new(),
    };
    let stats = ctx
        .oms
        .order
        .order_stats(request)
        .await
        .map_err(refused(Service::Order))?;
    if ctx.json() {
        output::json(&to_json(&stats)?);
        return Ok(());
    }
    say(format!(
        "orders created {} to {} ({}), as of {}",
        stats.start_date,
        stats.end_date,
        stats.time_zone,
        time(stats.as_of.as_ref())
    ));
    let mut by_status = Table::new(&["STATUS", "ORDERS"]);
    for count in &stats.by_status {
        by_status.row(vec![
            enum_label!(OrderStatus, count.status, "ORDER_STATUS_"),
            count.count.to_string(),
        ]);
    }
    say(by_status.render(2));
    let mut by_channel = Table::new(&["CHANNEL", "ORDERS", "BY STATUS"]);
    for count in &stats.by_channel {
        let statuses: Vec<String> = count
            .by_status
            .iter()
            .map(|status| {
                format!(
                    "{} {}",
                    enum_label!(OrderStatus, status.status, "ORDER_STATUS_"),
                    status.count
                )
            })
            .collect();
        by_channel.row(vec![
            channel(count.channel.as_ref()),
            count.count.to_string(),
            statuses.join(", "),
        ]);
    }
    say(by_channel.render(2));
    let mut revenue = Table::new(&["DAY", "CHANNEL", "ORDERS", "REVENUE"]);
    for day in &stats.revenue {
        revenue.row(vec![
            day.date.clone(),
            channel(day.channel.as_ref()),
            day.order_count.to_string(),
            money(day.revenue.as_ref()),
        ]);
    }
    say(revenue.render(2));
    Ok(())
}
