//! Proto <-> domain: fields of requests checked one by one into domain values
//! (each bad field recorded as a violation), rows turned into proto messages.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
pub use oms_platform::convert::{actor, channel_to_proto, time, timestamp};
use oms_platform::error::FieldViolations;
use oms_proto::{
    common::v1 as common,
    inventory::v1::{self as pb},
};

use crate::{
    domain::{
        Channel, LocationId, OrderId, Quantity, ReservationLine, Sku, StockFigures,
        location::{Location, LocationKind, SiteAddress},
    },
    store::{
        MovementRow, StockRow,
        locations::{ChannelPolicyRow, LocationRow},
        reservations::ReservationRecord,
    },
};

/// Most SKUs one request may name.
pub const MAX_SKUS: usize = 1000;
/// Most lines of a transfer.
pub const MAX_TRANSFER_LINES: usize = 500;

pub fn sku(violations: &mut FieldViolations, field: impl Into<String>, value: &str) -> Option<Sku> {
    violations.check(field, Sku::parse(value))
}

pub fn location_id(
    violations: &mut FieldViolations,
    field: impl Into<String>,
    value: &str,
) -> Option<LocationId> {
    violations.check(field, LocationId::parse(value))
}

/// The (SKU, location) of a call on one stock row, from its `sku` and
/// `location_id` fields.
pub fn stock_key(
    violations: &mut FieldViolations,
    sku_value: &str,
    location_value: &str,
) -> Option<(Sku, LocationId)> {
    let sku = sku(violations, "sku", sku_value);
    let location = location_id(violations, "location_id", location_value);
    Some((sku?, location?))
}

pub fn order_id(violations: &mut FieldViolations, value: &str) -> Option<OrderId> {
    violations.check("order_id", OrderId::parse(value))
}

pub fn quantity(
    violations: &mut FieldViolations,
    field: impl Into<String>,
    value: i32,
) -> Option<Quantity> {
    violations.check(field, Quantity::new(value))
}

/// An optional channel; `None` when unset, or (with a violation) bad.
pub fn channel(
    violations: &mut FieldViolations,
    field: &str,
    channel: Option<&common::Channel>,
) -> Option<Channel> {
    let channel = channel?;
    violations.check(field, Channel::new(channel.kind, &channel.name))
}

/// A channel the request must name.
pub fn required_channel(
    violations: &mut FieldViolations,
    field: &str,
    value: Option<&common::Channel>,
) -> Option<Channel> {
    if value.is_none() {
        violations.add(field, "required");
    }
    channel(violations, field, value)
}

pub fn note(violations: &mut FieldViolations, field: &str, value: &str, max: usize) -> String {
    violations
        .check(field, crate::domain::ids::note(value, max))
        .unwrap_or_default()
}

/// The stored codes of a `kinds` filter, each a known kind of `code`.
pub fn kinds(
    violations: &mut FieldViolations,
    kinds: &[i32],
    code: impl Fn(i32) -> Option<i16>,
) -> Vec<i16> {
    let mut codes = Vec::new();
    for (index, kind) in kinds.iter().enumerate() {
        match code(*kind) {
            Some(code) => codes.push(code),
            None => violations.add(format!("kinds[{index}]"), "unspecified or unknown kind"),
        }
    }
    codes
}

/// A request's lines: 1 to `max`.
pub fn line_count(violations: &mut FieldViolations, lines: usize, max: usize) {
    if lines == 0 || lines > max {
        violations.add("lines", format!("must hold 1 to {max} lines"));
    }
}

/// SKUs of a request: each valid, none twice; 1 to 1000 when `required`.
pub fn sku_list(violations: &mut FieldViolations, skus: &[String], required: bool) -> Vec<String> {
    if (required && skus.is_empty()) || skus.len() > MAX_SKUS {
        violations.add(
            "skus",
            if required {
                "must hold 1 to 1000 skus"
            } else {
                "at most 1000 skus"
            },
        );
    }
    let mut seen = HashSet::new();
    for (index, value) in skus.iter().enumerate() {
        if Sku::parse(value).is_err() {
            violations.add(
                format!("skus[{index}]"),
                "must be 1 to 64 characters of [A-Za-z0-9._-]",
            );
        } else if !seen.insert(value) {
            violations.add(format!("skus[{index}]"), "repeats an earlier sku");
        }
    }
    skus.to_vec()
}

/// The units of `lines[index]` of a Reserve or a Restock: SKU, location and
/// quantity.
pub fn units_line(
    violations: &mut FieldViolations,
    index: usize,
    (sku_value, location_value, quantity_value): (&str, &str, i32),
) -> Option<ReservationLine> {
    let sku = sku(violations, format!("lines[{index}].sku"), sku_value);
    let location = location_id(
        violations,
        format!("lines[{index}].location_id"),
        location_value,
    );
    let quantity = quantity(
        violations,
        format!("lines[{index}].quantity"),
        quantity_value,
    );
    Some(ReservationLine {
        sku: sku?,
        location_id: location?,
        quantity: quantity?,
    })
}

/// Lines of a Reserve, each checked; `None` when any is bad.
pub fn reservation_lines(
    violations: &mut FieldViolations,
    lines: &[pb::ReservationLine],
) -> Option<Vec<ReservationLine>> {
    let parsed: Vec<ReservationLine> = lines
        .iter()
        .enumerate()
        .filter_map(|(index, line)| {
            let units = (line.sku.as_str(), line.location_id.as_str(), line.quantity);
            units_line(violations, index, units)
        })
        .collect();
    (parsed.len() == lines.len()).then_some(parsed)
}

/// A location from PutLocation.
pub fn location(
    violations: &mut FieldViolations,
    location: Option<&pb::Location>,
) -> Option<Location> {
    let Some(location) = location else {
        violations.add("location", "required");
        return None;
    };
    let location_id = location_id(violations, "location.location_id", &location.location_id);
    let name_length = location.name.chars().count();
    if name_length == 0 || name_length > 128 {
        violations.add("location.name", "must be 1 to 128 characters");
    }
    let kind = LocationKind::from_code(location.kind);
    if kind.is_none() {
        violations.add("location.kind", "required");
    }
    let address = site_address(
        violations,
        location.address.as_ref(),
        location.ships_to_customers,
    );
    Some(Location {
        location_id: location_id?,
        name: location.name.clone(),
        kind: kind?,
        address: address?,
        ships_to_customers: location.ships_to_customers,
        store_pickup: location.store_pickup,
        active: location.active,
    })
}

fn site_address(
    violations: &mut FieldViolations,
    address: Option<&common::Address>,
    ships: bool,
) -> Option<SiteAddress> {
    let Some(address) = address else {
        violations.add("location.address", "required");
        return None;
    };
    let country = &address.country_code;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        violations.add(
            "location.address.country_code",
            "must be an ISO 3166-1 alpha-2 code",
        );
    }
    let geo = match &address.geo {
        None => {
            violations.add("location.address.geo", "required");
            None
        }
        Some(geo) => {
            let latitude_ok = (-90.0..=90.0).contains(&geo.latitude);
            let longitude_ok = (-180.0..=180.0).contains(&geo.longitude);
            if !latitude_ok {
                violations.add("location.address.geo.latitude", "must be within -90 to 90");
            }
            if !longitude_ok {
                violations.add(
                    "location.address.geo.longitude",
                    "must be within -180 to 180",
                );
            }
            (latitude_ok && longitude_ok).then_some((geo.latitude, geo.longitude))
        }
    };
    if ships {
        if address.lines.iter().all(|line| line.trim().is_empty()) {
            violations.add(
                "location.address.lines",
                "required for a location that ships",
            );
        }
        if address.city.trim().is_empty() {
            violations.add(
                "location.address.city",
                "required for a location that ships",
            );
        }
        if address.postal_code.trim().is_empty() {
            violations.add(
                "location.address.postal_code",
                "required for a location that ships",
            );
        }
    }
    let (latitude, longitude) = geo?;
    Some(SiteAddress {
        company: address.company.clone(),
        lines: address.lines.clone(),
        city: address.city.clone(),
        region: address.region.clone(),
        postal_code: address.postal_code.clone(),
        country_code: address.country_code.clone(),
        phone: address.phone.clone(),
        latitude,
        longitude,
    })
}

pub fn location_to_proto(row: LocationRow) -> pb::Location {
    pb::Location {
        location_id: row.location_id,
        name: row.name,
        kind: i32::from(row.kind),
        address: Some(common::Address {
            recipient_name: String::new(),
            company: row.company,
            lines: row.address_lines,
            city: row.city,
            region: row.region,
            postal_code: row.postal_code,
            country_code: row.country_code,
            phone: row.phone,
            geo: Some(common::GeoPoint {
                latitude: row.latitude,
                longitude: row.longitude,
            }),
        }),
        ships_to_customers: row.ships_to_customers,
        store_pickup: row.store_pickup,
        active: row.active,
        create_time: Some(timestamp(row.create_time)),
        update_time: Some(timestamp(row.update_time)),
    }
}

pub fn stock_level(row: &StockRow) -> pb::StockLevel {
    level_from(
        &row.sku,
        &row.location_id,
        row.figures(),
        row.sequence,
        row.update_time,
    )
}

pub fn level_from(
    sku: &str,
    location_id: &str,
    figures: StockFigures,
    sequence: i64,
    update_time: DateTime<Utc>,
) -> pb::StockLevel {
    pb::StockLevel {
        sku: sku.to_owned(),
        location_id: location_id.to_owned(),
        on_hand: figures.on_hand,
        reserved: figures.reserved,
        available: figures.available(),
        safety_stock: figures.safety_stock,
        sellable: figures.sellable(),
        shortfall: figures.shortfall(),
        low_stock_threshold: figures.low_stock_threshold,
        low_stock: figures.is_low(),
        sequence,
        update_time: Some(timestamp(update_time)),
    }
}

pub fn movement(row: &MovementRow) -> pb::StockMovement {
    pb::StockMovement {
        movement_id: row.movement_id.to_string(),
        sequence: row.sequence,
        sku: row.sku.clone(),
        location_id: row.location_id.clone(),
        kind: i32::from(row.kind),
        adjustment_reason: i32::from(row.adjustment_reason),
        on_hand_before: row.on_hand_before,
        on_hand_after: row.on_hand_after,
        reserved_before: row.reserved_before,
        reserved_after: row.reserved_after,
        safety_stock_before: row.safety_stock_before,
        safety_stock_after: row.safety_stock_after,
        actor: Some(common::Actor {
            kind: i32::from(row.actor_kind),
            id: row.actor_id.clone(),
        }),
        reference_id: row.reference_id.clone(),
        note: row.note.clone(),
        create_time: Some(timestamp(row.create_time)),
    }
}

pub fn reservation(record: &ReservationRecord) -> pb::Reservation {
    pb::Reservation {
        reservation_id: record.reservation_id.to_string(),
        order_id: record.order_id.clone(),
        channel: record.channel.as_ref().map(channel_to_proto),
        state: i32::from(record.state.code()),
        lines: record
            .lines
            .iter()
            .map(|line| pb::ReservationLine {
                sku: line.sku.to_string(),
                location_id: line.location_id.to_string(),
                quantity: line.quantity.get(),
            })
            .collect(),
        create_time: Some(timestamp(record.create_time)),
        expire_time: record.expire_time.map(timestamp),
        update_time: Some(timestamp(record.update_time)),
        release_reason: record.release_reason.clone(),
    }
}

pub fn policy_to_proto(row: ChannelPolicyRow) -> pb::ChannelAvailabilityPolicy {
    pb::ChannelAvailabilityPolicy {
        channel: Some(common::Channel {
            kind: i32::from(row.channel_kind),
            name: row.channel_name,
        }),
        safety_buffer: row.safety_buffer,
        location_ids: row.location_ids,
        configured: true,
        update_time: Some(timestamp(row.update_time)),
        updated_by: Some(common::Actor {
            kind: i32::from(row.updated_by_kind),
            id: row.updated_by_id,
        }),
    }
}
