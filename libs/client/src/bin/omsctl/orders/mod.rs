//! `omsctl orders ...` and `omsctl stats`: the order service, and the
//! fulfilment and cancel sagas an order starts (followed with `--wait`).
//! `show.rs` prints orders, outcomes and the stats.

mod show;

use clap::{Args, Subcommand};
use oms_client::json;
use oms_platform::config::Service;
use oms_proto::{
    common::v1::{
        Address, CardToken, DeliveryMethod, DeliveryOption, GiftCard, Invoice, Money, PageRequest,
        PaymentMethod, ServiceLevel, payment_method::Method,
    },
    order::v1::{
        AddNoteRequest, AddTagsRequest, CancelOrderRequest, Customer, GetOrderRequest,
        LineQuantity, Order, OrderStatus, PlaceOrderRequest, RemoveTagRequest, SearchOrdersRequest,
        UpdateShippingAddressRequest,
    },
    saga::v1::SagaKind,
};
use show::{print_order, timeline};
pub use show::{print_outcome, stats};

use crate::{
    Ctx, Failure, enum_label,
    output::{self, Table, channel, money, say, time, to_json},
    parse::{
        parse_amount, parse_channel, parse_geo, parse_int, parse_line, parse_service_level,
        parse_status,
    },
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
        None => place_request(&args)?,
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

fn place_request(args: &PlaceArgs) -> Result<PlaceOrderRequest, Failure> {
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
