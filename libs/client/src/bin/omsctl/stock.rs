//! `omsctl stock ...`: locations, counts, adjustments, transfers,
//! availability, low stock, and the availability feed.

use clap::Subcommand;
use oms_platform::config::Service;
use oms_proto::{
    common::v1::{Address, GeoPoint, PageRequest},
    inventory::v1::{
        AdjustStockRequest, AdjustmentReason, GetAvailabilityRequest, ListLocationsRequest,
        ListLowStockRequest, Location, LocationKind, PutLocationRequest, SetStockRequest,
        StockLevel, TransferLine, TransferStockRequest, WatchAvailabilityRequest,
        watch_availability_response::Event,
    },
};
use tokio_stream::StreamExt as _;

use crate::{
    Ctx, Failure, enum_label,
    output::to_json,
    output::{self, Table, say, time},
    parse::{parse_channel, parse_int},
    refused,
};

/// The stock commands.
#[derive(Subcommand)]
pub enum StockCommand {
    /// List locations: warehouses, stores, 3PL sites.
    Locations {
        /// Only locations in this country.
        #[arg(long)]
        country: Option<String>,
    },
    /// Create a location or replace its settings (idempotent by its id).
    Location {
        /// Its id, [a-z0-9._-], e.g. wh-berlin.
        id: String,
        /// Its name.
        #[arg(long)]
        name: Option<String>,
        /// warehouse, store or 3pl.
        #[arg(long, default_value = "warehouse")]
        kind: String,
        /// Street and number.
        #[arg(long, default_value = "")]
        street: String,
        /// City.
        #[arg(long, default_value = "")]
        city: String,
        /// Postal code.
        #[arg(long, default_value = "")]
        postal_code: String,
        /// ISO 3166-1 alpha-2 country code.
        #[arg(long)]
        country: String,
        /// Coordinates, LAT,LON.
        #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
        geo: String,
        /// Ships to customers (default: warehouses do, stores do not).
        #[arg(long)]
        ships: Option<bool>,
        /// Customers pick up here (default: stores do).
        #[arg(long)]
        pickup: Option<bool>,
        /// Deactivate it: it keeps its stock, takes no new reservation.
        #[arg(long)]
        inactive: bool,
    },
    /// Set on hand to a counted number (a stock take).
    Set {
        /// The SKU.
        sku: String,
        /// The location.
        location: String,
        /// Units counted.
        #[arg(allow_negative_numbers = true)]
        on_hand: i32,
    },
    /// Change on hand by a signed delta with a reason.
    Adjust {
        /// The SKU.
        sku: String,
        /// The location.
        location: String,
        /// Units to add (positive) or take (negative).
        #[arg(allow_hyphen_values = true)]
        delta: i32,
        /// receipt, damage, loss, found, correction, return, expired-goods,
        /// internal-use.
        #[arg(long, default_value = "correction")]
        reason: String,
    },
    /// Move units from one location to another, all lines or none.
    Transfer {
        /// Where the units are.
        #[arg(long)]
        from: String,
        /// Where they go.
        #[arg(long)]
        to: String,
        /// SKU:QUANTITY; repeatable.
        #[arg(required = true, value_name = "SKU:QTY")]
        lines: Vec<String>,
    },
    /// Stock of SKUs over every location, and per location.
    Availability {
        /// The SKUs.
        #[arg(required = true)]
        skus: Vec<String>,
        /// As this channel sees it (web, marketplace:amazon-de, ...).
        #[arg(long)]
        channel: Option<String>,
    },
    /// The (SKU, location) pairs at or under their low-stock threshold.
    Low {
        /// Only at this location.
        #[arg(long)]
        location: Option<String>,
    },
    /// Follow availability changes as they happen.
    Watch {
        /// Only these SKUs (all when none).
        skus: Vec<String>,
        /// Stop after this many changes.
        #[arg(long)]
        count: Option<usize>,
        /// Start after this ledger sequence (replays what came after it); 0:
        /// from now.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

/// Runs a stock command.
pub async fn run(ctx: &Ctx, command: StockCommand) -> Result<(), Failure> {
    let inventory = &ctx.oms.inventory;
    let failed = refused(Service::Inventory);
    match command {
        StockCommand::Locations { country } => {
            let request = ListLocationsRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                country_codes: country.into_iter().collect(),
                ..Default::default()
            };
            let response = inventory.list_locations(request).await.map_err(failed)?;
            if ctx.json() {
                output::json(&to_json(&response)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                "LOCATION", "NAME", "KIND", "CITY", "COUNTRY", "SHIPS", "PICKUP", "ACTIVE",
            ]);
            for location in &response.locations {
                let address = location.address.clone().unwrap_or_default();
                table.row(vec![
                    location.location_id.clone(),
                    location.name.clone(),
                    enum_label!(LocationKind, location.kind, "LOCATION_KIND_"),
                    address.city,
                    address.country_code,
                    yes_no(location.ships_to_customers),
                    yes_no(location.store_pickup),
                    yes_no(location.active),
                ]);
            }
            say(table.render(0));
            Ok(())
        }
        StockCommand::Location {
            id,
            name,
            kind,
            street,
            city,
            postal_code,
            country,
            geo,
            ships,
            pickup,
            inactive,
        } => {
            let kind = match kind.as_str() {
                "warehouse" => LocationKind::Warehouse,
                "store" => LocationKind::Store,
                "3pl" => LocationKind::ThirdPartyLogistics,
                other => {
                    return Err(Failure::Usage(format!(
                        "unknown location kind {other:?}; kinds are warehouse, store, 3pl"
                    )));
                }
            };
            let (latitude, longitude) = geo
                .split_once(',')
                .and_then(|(lat, lon)| Some((lat.trim().parse().ok()?, lon.trim().parse().ok()?)))
                .ok_or_else(|| Failure::Usage(format!("--geo {geo:?}: expected LAT,LON")))?;
            let location = Location {
                location_id: id.clone(),
                name: name.unwrap_or_else(|| id.clone()),
                kind: kind as i32,
                address: Some(Address {
                    company: "OMS".into(),
                    lines: if street.is_empty() {
                        Vec::new()
                    } else {
                        vec![street]
                    },
                    city,
                    postal_code,
                    country_code: country,
                    geo: Some(GeoPoint {
                        latitude,
                        longitude,
                    }),
                    ..Default::default()
                }),
                ships_to_customers: ships.unwrap_or(kind != LocationKind::Store),
                store_pickup: pickup.unwrap_or(kind == LocationKind::Store),
                active: !inactive,
                ..Default::default()
            };
            let key = ctx.key("location");
            let request = PutLocationRequest {
                location: Some(location),
                actor: Some(ctx.actor.clone()),
            };
            let response = inventory
                .put_location(request, &key)
                .await
                .map_err(failed)?;
            if ctx.json() {
                output::json(&to_json(&response)?);
            } else {
                let location = response.location.unwrap_or_default();
                say(format!(
                    "location {} ({}) saved",
                    location.location_id,
                    enum_label!(LocationKind, location.kind, "LOCATION_KIND_").to_lowercase()
                ));
            }
            Ok(())
        }
        StockCommand::Set {
            sku,
            location,
            on_hand,
        } => {
            let key = ctx.key("stock count");
            let request = SetStockRequest {
                sku,
                location_id: location,
                on_hand,
                actor: Some(ctx.actor.clone()),
                note: String::new(),
            };
            let response = inventory.set_stock(request, &key).await.map_err(failed)?;
            print_levels(ctx, &to_json(&response)?, response.stock.as_slice())
        }
        StockCommand::Adjust {
            sku,
            location,
            delta,
            reason,
        } => {
            let name = format!(
                "ADJUSTMENT_REASON_{}",
                reason.to_ascii_uppercase().replace('-', "_")
            );
            let reason = AdjustmentReason::from_str_name(&name).ok_or_else(|| {
                Failure::Usage(format!(
                    "unknown reason {reason:?}; reasons are receipt, damage, loss, found, correction, return, expired-goods, internal-use"
                ))
            })?;
            let key = ctx.key("adjustment");
            let request = AdjustStockRequest {
                sku,
                location_id: location,
                delta,
                reason: reason as i32,
                actor: Some(ctx.actor.clone()),
                ..Default::default()
            };
            let response = inventory
                .adjust_stock(request, &key)
                .await
                .map_err(failed)?;
            print_levels(ctx, &to_json(&response)?, response.stock.as_slice())
        }
        StockCommand::Transfer { from, to, lines } => {
            let lines = lines
                .iter()
                .map(|line| {
                    let (sku, quantity) = line.split_once(':').ok_or_else(|| {
                        Failure::Usage(format!("{line:?}: expected SKU:QUANTITY"))
                    })?;
                    Ok(TransferLine {
                        sku: sku.to_owned(),
                        quantity: parse_int(quantity, "quantity")?,
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let key = ctx.key("transfer");
            let request = TransferStockRequest {
                from_location_id: from,
                to_location_id: to,
                lines,
                actor: Some(ctx.actor.clone()),
                note: String::new(),
            };
            let response = inventory
                .transfer_stock(request, &key)
                .await
                .map_err(failed)?;
            print_levels(ctx, &to_json(&response)?, &response.stock)
        }
        StockCommand::Availability { skus, channel } => {
            let request = GetAvailabilityRequest {
                skus,
                location_ids: Vec::new(),
                channel: channel.as_deref().map(parse_channel).transpose()?,
            };
            let response = inventory.get_availability(request).await.map_err(failed)?;
            if ctx.json() {
                output::json(&to_json(&response)?);
                return Ok(());
            }
            let mut totals = Table::new(&[
                "SKU",
                "ON HAND",
                "RESERVED",
                "AVAILABLE",
                "SELLABLE",
                "CHANNEL SEES",
            ]);
            let mut levels = Vec::new();
            for sku in &response.skus {
                totals.row(vec![
                    sku.sku.clone(),
                    sku.on_hand.to_string(),
                    sku.reserved.to_string(),
                    sku.available.to_string(),
                    sku.sellable.to_string(),
                    sku.channel
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |channel| channel.available.to_string()),
                ]);
                levels.extend(sku.locations.iter().cloned());
            }
            say(totals.render(0));
            if !levels.is_empty() {
                say(level_table(&levels).render(2));
            }
            Ok(())
        }
        StockCommand::Low { location } => {
            let request = ListLowStockRequest {
                page: Some(PageRequest {
                    page_size: 500,
                    page_token: String::new(),
                }),
                location_ids: location.into_iter().collect(),
                skus: Vec::new(),
            };
            let response = inventory.list_low_stock(request).await.map_err(failed)?;
            print_levels(ctx, &to_json(&response)?, &response.stock)
        }
        StockCommand::Watch { skus, count, after } => {
            let request = WatchAvailabilityRequest {
                skus,
                location_ids: Vec::new(),
                channel: None,
                start_after_sequence: after,
            };
            let mut stream = inventory
                .watch_availability(request)
                .await
                .map_err(failed)?;
            let mut seen = 0;
            while count.is_none_or(|count| seen < count) {
                let Some(message) = stream.next().await else {
                    break;
                };
                let message = message.map_err(refused(Service::Inventory))?;
                let Some(event) = &message.event else {
                    continue;
                };
                if ctx.json() {
                    say(to_json(&message)?.to_string());
                } else {
                    match event {
                        Event::Change(change) => {
                            let stock = change.stock.clone().unwrap_or_default();
                            say(format!(
                                "{}  #{}  {} at {}: available {} -> {} (on hand {}, reserved {})",
                                time(change.change_time.as_ref()),
                                change.sequence,
                                change.sku,
                                change.location_id,
                                change.available_before,
                                stock.available,
                                stock.on_hand,
                                stock.reserved
                            ));
                        }
                        Event::ResyncRequired(resync) => say(format!(
                            "resync required at #{}: re-read availability",
                            resync.sequence
                        )),
                        Event::Heartbeat(_) => continue,
                    }
                }
                if matches!(event, Event::Change(_)) {
                    seen += 1;
                }
            }
            Ok(())
        }
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn level_table(levels: &[StockLevel]) -> Table {
    let mut table = Table::new(&[
        "SKU",
        "LOCATION",
        "ON HAND",
        "RESERVED",
        "AVAILABLE",
        "SAFETY",
        "LOW AT",
    ]);
    for level in levels {
        table.row(vec![
            level.sku.clone(),
            level.location_id.clone(),
            level.on_hand.to_string(),
            level.reserved.to_string(),
            level.available.to_string(),
            level.safety_stock.to_string(),
            if level.low_stock_threshold > 0 {
                level.low_stock_threshold.to_string()
            } else {
                "-".to_owned()
            },
        ]);
    }
    table
}

fn print_levels(ctx: &Ctx, json: &serde_json::Value, levels: &[StockLevel]) -> Result<(), Failure> {
    if ctx.json() {
        output::json(json);
    } else {
        say(level_table(levels).render(0));
    }
    Ok(())
}
