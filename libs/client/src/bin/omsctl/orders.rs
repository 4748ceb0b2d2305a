//! `omsctl orders ...` and `omsctl stats`: the order service, and the
//! fulfilment and cancel sagas an order starts (followed with `--wait`).

use std::time::Duration;

use clap::{Args, Subcommand};
use oms_client::json;
use oms_platform::config::Service;
use oms_proto::{
    common::v1::{
        Address, CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption, GeoPoint,
        GiftCard, Invoice, LineItem, Money, PageRequest, PaymentMethod, ServiceLevel,
        payment_method::Method,
    },
    order::v1::{
        AddNoteRequest, AddTagsRequest, CancelOrderRequest, Customer, GetOrderRequest,
        LineQuantity, LineStatus, Order, OrderStatsRequest, OrderStatus, PlaceOrderRequest,
        ReferenceKind, RemoveTagRequest, SearchOrdersRequest, TimelineEventKind,
        UpdateShippingAddressRequest,
    },
    saga::v1::{Saga, SagaKind},
};

use crate::{
    Ctx, Failure, enum_label,
    output::{self, Table, channel, money, or_dash, say, time},
    refused, sagas,
};

/// The order commands.
#[derive(Subcommand)]
pub enum OrdersCommand {
    /// Place an order from a sales channel (or from a JSON PlaceOrderRequest).
    Place(Box<PlaceArgs>),
    /// Show an order: lines, shipments, payment, saga (and its timeline).
    Get {
        /// The order's id, number (OMS-...) or external reference.
        order: String,
        /// Show the timeline too.
        #[arg(long)]
        timeline: bool,
    },
    /// Find orders by status, channel, SKU, tag, country or number.
    Search(SearchArgs),
    /// Cancel an order, or some units of it (--line).
    Cancel {
        /// The order's id, number or external reference.
        order: String,
        /// Why (never personal data).
        #[arg(long, default_value = "cancelled by an operator")]
        reason: String,
        /// Cancel only these units, SKU:QUANTITY; repeatable.
        #[arg(long = "line", value_name = "SKU:QTY")]
        lines: Vec<String>,
        /// Follow the cancel saga to its end and show the outcome.
        #[arg(long)]
        wait: bool,
    },
    /// Change where an order ships (before shipments are created).
    Address {
        /// The order's id, number or external reference.
        order: String,
        #[command(flatten)]
        address: AddressArgs,
        /// The recipient's name.
        #[arg(long)]
        recipient: String,
        /// Why, for the timeline.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Add a note to an order.
    Note {
        /// The order's id, number or external reference.
        order: String,
        /// The note's text.
        text: String,
    },
    /// Add tags to an order, or remove one with --remove.
    Tag {
        /// The order's id, number or external reference.
        order: String,
        /// The tags to add.
        tags: Vec<String>,
        /// Remove this tag instead.
        #[arg(long, conflicts_with = "tags")]
        remove: Option<String>,
    },
    /// Show an order's timeline: every change, oldest first.
    Timeline {
        /// The order's id, number or external reference.
        order: String,
    },
    /// Place every order of a CSV or JSON-lines file, with a per-order
    /// report; run it again after a failure: placed orders are not placed
    /// twice.
    Import(crate::bulk::ImportArgs),
    /// Wait for an order's fulfilment saga to end and show the outcome.
    Wait {
        /// The order's id, number or external reference.
        order: String,
    },
}

/// Where goods go.
#[derive(Args, Default)]
pub struct AddressArgs {
    /// Street and number (repeat for more lines).
    #[arg(long = "street")]
    streets: Vec<String>,
    /// City.
    #[arg(long)]
    city: Option<String>,
    /// Postal code.
    #[arg(long)]
    postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. DE.
    #[arg(long)]
    country: Option<String>,
    /// Region code, e.g. BE.
    #[arg(long)]
    region: Option<String>,
    /// Coordinates, LAT,LON (routing ships from the nearest location).
    #[arg(long, value_name = "LAT,LON", allow_hyphen_values = true)]
    geo: Option<String>,
}

impl AddressArgs {
    fn is_empty(&self) -> bool {
        self.streets.is_empty() && self.city.is_none() && self.country.is_none()
    }

    fn address(&self, recipient: &str) -> Result<Address, Failure> {
        Ok(Address {
            recipient_name: recipient.to_owned(),
            lines: self.streets.clone(),
            city: self.city.clone().unwrap_or_default(),
            region: self.region.clone().unwrap_or_default(),
            postal_code: self.postal_code.clone().unwrap_or_default(),
            country_code: self.country.clone().unwrap_or_default(),
            geo: self.geo.as_deref().map(parse_geo).transpose()?,
            ..Default::default()
        })
    }
}

/// `orders place`.
#[derive(Args)]
pub struct PlaceArgs {
    /// The sales channel: web, app, call-center, marketplace:<name>,
    /// store:<name>.
    #[arg(long, default_value = "web")]
    channel: String,
    /// The channel's order reference (the natural key with the channel:
    /// placing it again returns the first order). Made up when unset.
    #[arg(long = "ref")]
    reference: Option<String>,
    /// The customer's name.
    #[arg(long, default_value = "Ada Lovelace")]
    customer: String,
    /// The customer's email.
    #[arg(long, default_value = "ada@example.com")]
    email: String,
    /// The customer's phone.
    #[arg(long)]
    phone: Option<String>,
    /// A line, SKU:QUANTITY:UNIT_PRICE (price in major units, e.g.
    /// TEE-M:2:19.99); repeatable.
    #[arg(long = "line", value_name = "SKU:QTY:PRICE")]
    lines: Vec<String>,
    /// The currency of every amount.
    #[arg(long, default_value = "EUR")]
    currency: String,
    #[command(flatten)]
    address: AddressArgs,
    /// Pick up at this store instead of shipping.
    #[arg(long, value_name = "LOCATION")]
    pickup: Option<String>,
    /// standard, express or same-day.
    #[arg(long, default_value = "standard")]
    service_level: String,
    /// What the customer paid for delivery, in major units.
    #[arg(long, default_value = "0")]
    shipping_price: String,
    /// Pay by card with this PSP token (the simulator declines tokens with
    /// "decline" or "insufficient", e.g. tok_insufficient_funds).
    #[arg(long, default_value = "tok_visa_4242")]
    card: String,
    /// Pay with this gift card instead (GC-EUR-5000-1).
    #[arg(long, conflicts_with = "card")]
    gift_card: Option<String>,
    /// Pay by invoice with this billing reference instead.
    #[arg(long, conflicts_with = "card")]
    invoice: Option<String>,
    /// A tag; repeatable.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// A note from the customer; repeatable.
    #[arg(long = "note")]
    notes: Vec<String>,
    /// Read the whole PlaceOrderRequest as JSON from this file ('-': stdin)
    /// instead of the flags.
    #[arg(long, value_name = "FILE")]
    from_json: Option<String>,
    /// Follow the fulfilment saga to its end and show the outcome.
    #[arg(long)]
    wait: bool,
}

/// `orders search`.
#[derive(Args)]
pub struct SearchArgs {
    /// A status (pending, confirmed, rejected, ...); repeatable.
    #[arg(long = "status")]
    statuses: Vec<String>,
    /// A channel (web, marketplace:amazon-de, ...); repeatable.
    #[arg(long = "channel")]
    channels: Vec<String>,
    /// Orders with a line of this SKU.
    #[arg(long)]
    sku: Option<String>,
    /// Orders with every one of these tags.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Destination country.
    #[arg(long)]
    country: Option<String>,
    /// An order number or external reference.
    #[arg(long)]
    query: Option<String>,
    /// At most this many orders.
    #[arg(long, default_value_t = 50)]
    limit: i32,
}

/// `stats`.
#[derive(Args)]
pub struct StatsArgs {
    /// First local day, YYYY-MM-DD (29 days before --to when unset).
    #[arg(long)]
    from: Option<String>,
    /// Last local day, YYYY-MM-DD (today when unset).
    #[arg(long)]
    to: Option<String>,
    /// IANA time zone the days are counted in.
    #[arg(long, default_value = "UTC")]
    time_zone: String,
}

/// Runs an order command.
pub async fn run(ctx: &Ctx, command: OrdersCommand) -> Result<(), Failure> {
    match command {
        OrdersCommand::Place(args) => place(ctx, *args).await,
        OrdersCommand::Get { order, timeline } => {
            let order = get(ctx, &order).await?;
            print_order(ctx, &order, timeline)
        }
        OrdersCommand::Search(args) => search(ctx, args).await,
        OrdersCommand::Cancel {
            order,
            reason,
            lines,
            wait,
        } => cancel(ctx, &order, reason, &lines, wait).await,
        OrdersCommand::Address {
            order,
            address,
            recipient,
            reason,
        } => {
            let order_id = resolve(ctx, &order).await?;
            let request = UpdateShippingAddressRequest {
                order_id,
                shipping_address: Some(address.address(&recipient)?),
                actor: Some(ctx.actor.clone()),
                reason,
            };
            let key = ctx.key("address change");
            let order = ctx
                .oms
                .order
                .update_shipping_address(request, &key)
                .await
                .map_err(refused(Service::Order))?
                .order
                .unwrap_or_default();
            print_order(ctx, &order, false)
        }
        OrdersCommand::Note { order, text } => {
            let order_id = resolve(ctx, &order).await?;
            let key = ctx.key("note");
            let request = AddNoteRequest {
                order_id,
                text,
                actor: Some(ctx.actor.clone()),
            };
            let response = ctx
                .oms
                .order
                .add_note(request, &key)
                .await
                .map_err(refused(Service::Order))?;
            if ctx.json() {
                output::json(&to_json(&response)?);
            } else {
                let note = response.note.unwrap_or_default();
                say(format!("note {} added", note.note_id));
            }
            Ok(())
        }
        OrdersCommand::Tag {
            order,
            tags,
            remove,
        } => tag(ctx, &order, tags, remove).await,
        OrdersCommand::Timeline { order } => {
            let order = get(ctx, &order).await?;
            if ctx.json() {
                output::json(&serde_json::Value::Array(
                    order
                        .timeline
                        .iter()
                        .map(to_json)
                        .collect::<Result<_, _>>()?,
                ));
            } else {
                say(timeline(&order).render(0));
            }
            Ok(())
        }
        OrdersCommand::Import(args) => crate::bulk::import(ctx, args).await,
        OrdersCommand::Wait { order } => {
            let order_id = resolve(ctx, &order).await?;
            let saga = sagas::wait_for(ctx, SagaKind::Order, &order_id, "").await?;
            let order = get(ctx, &order_id).await?;
            print_outcome(ctx, &order, &saga)
        }
    }
}

/// Any message as JSON, a failure when it cannot be.
pub fn to_json<M: prost::Message + prost::Name>(message: &M) -> Result<serde_json::Value, Failure> {
    json::to_json(message).map_err(|err| Failure::Failed(err.to_string()))
}

/// The order's id from an id, an order number or an external reference.
pub async fn resolve(ctx: &Ctx, order: &str) -> Result<String, Failure> {
    if uuid::Uuid::parse_str(order).is_ok() {
        return Ok(order.to_owned());
    }
    let found = ctx
        .oms
        .order
        .search_orders(SearchOrdersRequest {
            query: order.to_owned(),
            page: Some(PageRequest {
                page_size: 2,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .map_err(refused(Service::Order))?
        .orders;
    match found.as_slice() {
        [only] => Ok(only.order_id.clone()),
        [] => Err(Failure::Failed(format!(
            "no order has the id, number or external reference {order:?}"
        ))),
        _ => Err(Failure::Failed(format!(
            "{order:?} is the external reference of orders on several channels; give the order's id"
        ))),
    }
}

/// The order named by id, number or external reference.
pub async fn get(ctx: &Ctx, order: &str) -> Result<Order, Failure> {
    let order_id = resolve(ctx, order).await?;
    Ok(ctx
        .oms
        .order
        .get_order(GetOrderRequest {
            order_id,
            ..Default::default()
        })
        .await
        .map_err(refused(Service::Order))?
        .order
        .unwrap_or_default())
}

async fn place(ctx: &Ctx, args: PlaceArgs) -> Result<(), Failure> {
    let request = match &args.from_json {
        Some(path) => {
            let text = if path == "-" {
                std::io::read_to_string(std::io::stdin())
            } else {
                std::fs::read_to_string(path)
            }
            .map_err(|err| Failure::Usage(format!("cannot read {path}: {err}")))?;
            json::from_json::<PlaceOrderRequest>(&text)
                .map_err(|err| Failure::Usage(format!("{path}: {err}")))?
        }
        None => place_request(ctx, &args)?,
    };
    let key = ctx.key("order");
    let response = ctx
        .oms
        .order
        .place_order(request, &key)
        .await
        .map_err(refused(Service::Order))?;
    let order = response.order.unwrap_or_default();
    if !args.wait {
        if ctx.json() {
            output::json(&serde_json::json!({
                "order": to_json(&order)?,
                "created": response.created,
            }));
        } else {
            let how = if response.created {
                "placed"
            } else {
                "already placed (same channel and reference)"
            };
            say(format!(
                "order {} {how}: {} ({}), {}",
                order.order_number,
                order.order_id,
                enum_label!(OrderStatus, order.status, "ORDER_STATUS_"),
                money(order.totals.as_ref().and_then(|t| t.grand_total.as_ref()))
            ));
        }
        return Ok(());
    }
    let saga = sagas::wait_for(ctx, SagaKind::Order, &order.order_id, "").await?;
    let order = get(ctx, &order.order_id).await?;
    print_outcome(ctx, &order, &saga)
}

fn place_request(ctx: &Ctx, args: &PlaceArgs) -> Result<PlaceOrderRequest, Failure> {
    if args.lines.is_empty() {
        return Err(Failure::Usage(
            "an order needs at least one --line SKU:QTY:PRICE".to_owned(),
        ));
    }
    let lines = args
        .lines
        .iter()
        .map(|line| parse_line(line, &args.currency))
        .collect::<Result<Vec<_>, _>>()?;
    let reference = args.reference.clone().unwrap_or_else(|| {
        format!(
            "omsctl-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        )
    });
    let delivery = match &args.pickup {
        Some(store) => DeliveryOption {
            method: DeliveryMethod::Pickup as i32,
            service_level: ServiceLevel::Standard as i32,
            pickup_location_id: store.clone(),
        },
        None => DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            service_level: parse_service_level(&args.service_level)? as i32,
            pickup_location_id: String::new(),
        },
    };
    let method = if let Some(code) = &args.gift_card {
        Method::GiftCard(GiftCard { code: code.clone() })
    } else if let Some(reference) = &args.invoice {
        Method::Invoice(Invoice {
            billing_reference: reference.clone(),
        })
    } else {
        Method::Card(CardToken {
            token: args.card.clone(),
        })
    };
    let _ = ctx;
    Ok(PlaceOrderRequest {
        channel: Some(parse_channel(&args.channel)?),
        external_reference: reference,
        customer: Some(Customer {
            name: args.customer.clone(),
            email: args.email.clone(),
            phone: args.phone.clone().unwrap_or_default(),
        }),
        shipping_address: if args.address.is_empty() {
            None
        } else {
            Some(args.address.address(&args.customer)?)
        },
        lines,
        currency_code: args.currency.clone(),
        delivery_option: Some(delivery),
        shipping_price: Some(Money {
            currency_code: args.currency.clone(),
            amount_minor: parse_amount(&args.shipping_price)?,
        }),
        payment_method: Some(PaymentMethod {
            method: Some(method),
        }),
        notes: args.notes.clone(),
        tags: args.tags.clone(),
        ..Default::default()
    })
}

async fn search(ctx: &Ctx, args: SearchArgs) -> Result<(), Failure> {
    let statuses = args
        .statuses
        .iter()
        .map(|status| parse_status(status).map(|status| status as i32))
        .collect::<Result<Vec<_>, _>>()?;
    let channels = args
        .channels
        .iter()
        .map(|channel| parse_channel(channel))
        .collect::<Result<Vec<_>, _>>()?;
    let request = SearchOrdersRequest {
        statuses,
        channels,
        sku: args.sku.unwrap_or_default(),
        destination_country_code: args.country.unwrap_or_default(),
        tags: args.tags,
        query: args.query.unwrap_or_default(),
        page: Some(PageRequest {
            page_size: args.limit,
            page_token: String::new(),
        }),
        ..Default::default()
    };
    let response = ctx
        .oms
        .order
        .search_orders(request)
        .await
        .map_err(refused(Service::Order))?;
    if ctx.json() {
        output::json(&to_json(&response)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        "NUMBER", "ORDER ID", "STATUS", "CHANNEL", "REF", "TOTAL", "ITEMS", "CREATED",
    ]);
    for order in &response.orders {
        table.row(vec![
            order.order_number.clone(),
            order.order_id.clone(),
            enum_label!(OrderStatus, order.status, "ORDER_STATUS_"),
            channel(order.channel.as_ref()),
            order.external_reference.clone(),
            money(order.grand_total.as_ref()),
            order.item_count.to_string(),
            time(order.create_time.as_ref()),
        ]);
    }
    say(table.render(0));
    if !response
        .page
        .as_ref()
        .is_none_or(|page| page.next_page_token.is_empty())
    {
        say(format!(
            "(more than {}; narrow the search or raise --limit)",
            response.orders.len()
        ));
    }
    Ok(())
}

async fn cancel(
    ctx: &Ctx,
    order: &str,
    reason: String,
    lines: &[String],
    wait: bool,
) -> Result<(), Failure> {
    let order_id = resolve(ctx, order).await?;
    let lines = lines
        .iter()
        .map(|line| {
            let (sku, quantity) = line
                .split_once(':')
                .ok_or_else(|| Failure::Usage(format!("--line {line:?}: expected SKU:QUANTITY")))?;
            Ok(LineQuantity {
                line_id: String::new(),
                sku: sku.to_owned(),
                quantity: parse_int(quantity, "--line quantity")?,
            })
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let request = CancelOrderRequest {
        order_id: order_id.clone(),
        reason,
        actor: Some(ctx.actor.clone()),
        lines,
    };
    let key = ctx.key("cancellation");
    let order = ctx
        .oms
        .order
        .cancel_order(request, &key)
        .await
        .map_err(refused(Service::Order))?
        .order
        .unwrap_or_default();
    if !wait {
        if ctx.json() {
            output::json(&to_json(&order)?);
        } else {
            say(format!(
                "order {} {}: the cancel saga runs",
                order.order_number,
                enum_label!(OrderStatus, order.status, "ORDER_STATUS_")
            ));
        }
        return Ok(());
    }
    let saga = sagas::wait_for(ctx, SagaKind::Cancel, &order_id, "").await?;
    let order = get(ctx, &order_id).await?;
    print_outcome(ctx, &order, &saga)
}

async fn tag(
    ctx: &Ctx,
    order: &str,
    tags: Vec<String>,
    remove: Option<String>,
) -> Result<(), Failure> {
    let order_id = resolve(ctx, order).await?;
    let order = match remove {
        Some(tag) => {
            let key = ctx.key("tag removal");
            let request = RemoveTagRequest {
                order_id,
                tag,
                actor: Some(ctx.actor.clone()),
            };
            ctx.oms
                .order
                .remove_tag(request, &key)
                .await
                .map(|r| r.order)
        }
        None => {
            if tags.is_empty() {
                return Err(Failure::Usage(
                    "name at least one tag, or --remove TAG".to_owned(),
                ));
            }
            let key = ctx.key("tags");
            let request = AddTagsRequest {
                order_id,
                tags,
                actor: Some(ctx.actor.clone()),
            };
            ctx.oms.order.add_tags(request, &key).await.map(|r| r.order)
        }
    }
    .map_err(refused(Service::Order))?
    .unwrap_or_default();
    if ctx.json() {
        output::json(&to_json(&order)?);
    } else {
        say(format!(
            "order {} tags: {}",
            order.order_number,
            order.tags.join(", ")
        ));
    }
    Ok(())
}

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

fn print_order(ctx: &Ctx, order: &Order, with_timeline: bool) -> Result<(), Failure> {
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
    let mut facts = Table::new(&["", ""]);
    facts.row(vec![
        "delivery".into(),
        if delivery.method == DeliveryMethod::Pickup as i32 {
            format!(
                "pickup at {}",
                or_dash(
                    &order
                        .pickup_location_id
                        .clone()
                        .max(delivery.pickup_location_id)
                )
            )
        } else {
            format!(
                "ship {}{destination}",
                enum_label!(ServiceLevel, delivery.service_level, "SERVICE_LEVEL_").to_lowercase()
            )
        },
    ]);
    facts.row(vec!["reason".into(), or_dash(&order.status_reason)]);
    facts.row(vec!["payment".into(), or_dash(&order.payment_id)]);
    facts.row(vec!["saga".into(), or_dash(&order.saga_id)]);
    facts.row(vec!["tags".into(), or_dash(&order.tags.join(", "))]);
    facts.row(vec!["notes".into(), order.notes.len().to_string()]);
    facts.row(vec![
        "returns".into(),
        or_dash(&order.return_ids.join(", ")),
    ]);
    facts.row(vec!["created".into(), time(order.create_time.as_ref())]);
    say(facts
        .render(2)
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n"));
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

fn timeline(order: &Order) -> Table {
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
                enum_label!(oms_proto::common::v1::ActorKind, actor.kind, "ACTOR_KIND_")
                    .to_lowercase(),
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

/// A channel from `web`, `app`, `call-center`, `marketplace:<name>`,
/// `store:<name>`.
pub fn parse_channel(text: &str) -> Result<Channel, Failure> {
    let (kind, name) = text.split_once(':').unwrap_or((text, ""));
    let kind = match kind {
        "web" => ChannelKind::Web,
        "app" => ChannelKind::App,
        "marketplace" => ChannelKind::Marketplace,
        "store" => ChannelKind::Store,
        "call-center" | "call_center" => ChannelKind::CallCenter,
        other => {
            return Err(Failure::Usage(format!(
                "unknown channel {other:?}; channels are web, app, call-center, marketplace:<name>, store:<name>"
            )));
        }
    };
    Ok(Channel {
        kind: kind as i32,
        name: name.to_owned(),
    })
}

fn parse_status(text: &str) -> Result<OrderStatus, Failure> {
    let name = format!(
        "ORDER_STATUS_{}",
        text.to_ascii_uppercase().replace('-', "_")
    );
    OrderStatus::from_str_name(&name).ok_or_else(|| {
        Failure::Usage(format!(
            "unknown order status {text:?}; e.g. pending, confirmed, shipped, delivered, rejected, cancelled, returned"
        ))
    })
}

fn parse_service_level(text: &str) -> Result<ServiceLevel, Failure> {
    match text {
        "standard" => Ok(ServiceLevel::Standard),
        "express" => Ok(ServiceLevel::Express),
        "same-day" | "same_day" => Ok(ServiceLevel::SameDay),
        other => Err(Failure::Usage(format!(
            "unknown service level {other:?}; levels are standard, express, same-day"
        ))),
    }
}

/// `SKU:QTY:PRICE` as a line in `currency`.
fn parse_line(text: &str, currency: &str) -> Result<LineItem, Failure> {
    let mut parts = text.split(':');
    let (Some(sku), Some(quantity), Some(price), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Failure::Usage(format!(
            "--line {text:?}: expected SKU:QUANTITY:UNIT_PRICE, e.g. TEE-M:2:19.99"
        )));
    };
    Ok(LineItem {
        sku: sku.to_owned(),
        quantity: parse_int(quantity, "--line quantity")?,
        unit_price: Some(Money {
            currency_code: currency.to_owned(),
            amount_minor: parse_amount(price)?,
        }),
    })
}

/// An integer argument.
pub fn parse_int(text: &str, what: &str) -> Result<i32, Failure> {
    text.trim()
        .parse()
        .map_err(|_| Failure::Usage(format!("{what} {text:?} is not a whole number")))
}

/// An amount in major units with up to two decimals ("19.99", "5") in minor
/// units, without going through floating point.
pub fn parse_amount(text: &str) -> Result<i64, Failure> {
    let bad = || Failure::Usage(format!("{text:?} is not an amount like 19.99"));
    let (whole, fraction) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if fraction.len() > 2 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|minor| minor.checked_add(if whole < 0 { -cents } else { cents }))
        .ok_or_else(bad)
}

fn parse_geo(text: &str) -> Result<GeoPoint, Failure> {
    let bad = || {
        Failure::Usage(format!(
            "--geo {text:?}: expected LAT,LON, e.g. 52.52,13.40"
        ))
    };
    let (latitude, longitude) = text.split_once(',').ok_or_else(bad)?;
    Ok(GeoPoint {
        latitude: latitude.trim().parse().map_err(|_| bad())?,
        longitude: longitude.trim().parse().map_err(|_| bad())?,
    })
}

/// How long to wait between two looks at something that changes.
pub const POLL: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_become_minor_units_exactly() {
        assert_eq!(parse_amount("19.99").unwrap(), 1999);
        assert_eq!(parse_amount("5").unwrap(), 500);
        assert_eq!(parse_amount("0.5").unwrap(), 50);
        assert!(parse_amount("1.999").is_err());
        assert!(parse_amount("abc").is_err());
    }

    #[test]
    fn channels_read_as_operators_write_them() {
        let channel = parse_channel("marketplace:amazon-de").unwrap();
        assert_eq!(channel.kind, ChannelKind::Marketplace as i32);
        assert_eq!(channel.name, "amazon-de");
        assert!(parse_channel("fax").is_err());
    }

    #[test]
    fn a_line_needs_sku_quantity_and_price() {
        let line = parse_line("TEE-M:2:19.99", "EUR").unwrap();
        assert_eq!(line.quantity, 2);
        assert_eq!(line.unit_price.unwrap().amount_minor, 1999);
        assert!(parse_line("TEE-M:2", "EUR").is_err());
    }
}
