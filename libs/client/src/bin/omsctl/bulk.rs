//! The bulk commands: `omsctl orders import` (orders from a CSV or JSON-lines
//! file) and `omsctl shipments labels` (the labels of many shipments written
//! to a folder). Both show a progress bar on a terminal (none in a pipe or a
//! log), report one outcome per row, and can be run again after a failure
//! without doing anything twice: an order is placed under its natural key
//! (channel and external reference) with an idempotency key derived from it,
//! so a row placed before answers "already placed"; a label already written
//! is not fetched again.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use oms_client::{IdempotencyKey, json, status::describe};
use oms_platform::config::Service;
use oms_proto::{
    common::v1::{
        Address, CardToken, DeliveryMethod, DeliveryOption, LineItem, Money, PageRequest,
        PaymentMethod, payment_method::Method,
    },
    order::v1::{Customer, PlaceOrderRequest},
    shipping::v1::{DocumentFormat, GetShipmentRequest, ListShipmentsRequest, ShipmentStatus},
};

use crate::{
    Ctx, Failure,
    orders::resolve,
    output::{self, Table, channel, say},
    parse::{parse_amount, parse_channel, parse_int},
    refused,
};

/// `orders import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The file: `.csv` (a header row; one row per order line, the rows of one
    /// order together) or `.jsonl` (one PlaceOrderRequest in JSON per line).
    file: PathBuf,
    /// csv or jsonl; from the file's extension when unset.
    #[arg(long)]
    format: Option<String>,
}

/// One order read from the file, or why its rows could not be read.
struct Row {
    /// The file's line (CSV: the order's first row) it starts on.
    line: usize,
    order: Result<PlaceOrderRequest, String>,
}

/// What happened to one order of the file.
struct Outcome {
    line: usize,
    channel: String,
    reference: String,
    outcome: &'static str,
    order_number: String,
    order_id: String,
    detail: String,
}

/// Places every order of the file, in file order; prints one outcome per
/// order; fails (exit 1) when any was refused or unreadable.
pub async fn import(ctx: &Ctx, args: ImportArgs) -> Result<(), Failure> {
    let format = match args.format.as_deref() {
        Some(format) => format.to_owned(),
        None => args
            .file
            .extension()
            .and_then(|ext| ext.to_str())
            .map_or_else(String::new, |ext| ext.to_ascii_lowercase()),
    };
    let text = std::fs::read_to_string(&args.file)
        .map_err(|err| Failure::Usage(format!("cannot read {}: {err}", args.file.display())))?;
    let rows = match format.as_str() {
        "csv" => csv_rows(&text)?,
        "jsonl" | "ndjson" | "json" => jsonl_rows(&text),
        other => {
            return Err(Failure::Usage(format!(
                "unknown format {other:?}: name a .csv or .jsonl file, or give --format csv|jsonl"
            )));
        }
    };
    let progress = progress(rows.len(), "orders");
    let mut outcomes = Vec::new();
    for row in rows {
        let outcome = place(ctx, row).await;
        progress.set_message(format!("{} {}", outcome.outcome, outcome.reference));
        progress.inc(1);
        outcomes.push(outcome);
    }
    progress.finish_and_clear();
    report(ctx, &outcomes)?;
    let refused = outcomes
        .iter()
        .filter(|outcome| outcome.outcome == "refused" || outcome.outcome == "invalid")
        .count();
    let placed = outcomes.iter().filter(|o| o.outcome == "placed").count();
    output::note(format!(
        "{placed} placed, {} already placed, {refused} not placed; run the import again once they are fixed: placed orders are not placed twice",
        outcomes.len() - placed - refused
    ));
    if refused > 0 {
        return Err(Failure::Failed(format!("{refused} orders were not placed")));
    }
    Ok(())
}

async fn place(ctx: &Ctx, row: Row) -> Outcome {
    let request = match row.order {
        Ok(request) => request,
        Err(detail) => {
            return Outcome {
                line: row.line,
                channel: String::new(),
                reference: String::new(),
                outcome: "invalid",
                order_number: String::new(),
                order_id: String::new(),
                detail,
            };
        }
    };
    let channel = channel(request.channel.as_ref());
    let reference = request.external_reference.clone();
    let key = import_key(&channel, &reference);
    let mut outcome = Outcome {
        line: row.line,
        channel,
        reference,
        outcome: "refused",
        order_number: String::new(),
        order_id: String::new(),
        detail: String::new(),
    };
    match ctx.oms.order.place_order(request, &key).await {
        Ok(response) => {
            let order = response.order.unwrap_or_default();
            outcome.outcome = if response.created {
                "placed"
            } else {
                "already placed"
            };
            outcome.order_number = order.order_number;
            outcome.order_id = order.order_id;
        }
        Err(status) => outcome.detail = describe(&status),
    }
    outcome
}

/// The idempotency key of an imported order: the same for the same channel
/// and reference in every run (two FNV-1a hashes, 128 bits in hex).
fn import_key(channel: &str, reference: &str) -> IdempotencyKey {
    let text = format!("{channel}\u{0}{reference}");
    let hash = |offset: u64| {
        text.bytes().fold(offset, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let key = format!(
        "import-{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4)
    );
    IdempotencyKey::parse(key).expect("hex is a valid idempotency key")
}

fn report(ctx: &Ctx, outcomes: &[Outcome]) -> Result<(), Failure> {
    if ctx.json() {
        let rows: Vec<serde_json::Value> = outcomes
            .iter()
            .map(|outcome| {
                serde_json::json!({
                    "line": outcome.line,
                    "channel": outcome.channel,
                    "externalReference": outcome.reference,
                    "outcome": outcome.outcome,
                    "orderNumber": outcome.order_number,
                    "orderId": outcome.order_id,
                    "detail": outcome.detail,
                })
            })
            .collect();
        output::json(&serde_json::Value::Array(rows));
        return Ok(());
    }
    let mut table = Table::new(&["LINE", "CHANNEL", "REF", "OUTCOME", "ORDER", "DETAIL"]);
    for outcome in outcomes {
        table.row(vec![
            outcome.line.to_string(),
            outcome.channel.clone(),
            outcome.reference.clone(),
            outcome.outcome.to_owned(),
            outcome.order_number.clone(),
            outcome.detail.clone(),
        ]);
    }
    say(table.render(0));
    Ok(())
}

fn jsonl_rows(text: &str) -> Vec<Row> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| Row {
            line: index + 1,
            order: json::from_json::<PlaceOrderRequest>(line).map_err(|err| err.to_string()),
        })
        .collect()
}

/// The CSV columns, by header name. Required: channel, external_reference,
/// sku, quantity, unit_price; the rest default.
const CSV_COLUMNS: [&str; 18] = [
    "channel",
    "external_reference",
    "customer",
    "email",
    "phone",
    "street",
    "postal_code",
    "city",
    "country",
    "geo",
    "pickup",
    "currency",
    "sku",
    "quantity",
    "unit_price",
    "shipping_price",
    "card",
    "tag",
];

fn csv_rows(text: &str) -> Result<Vec<Row>, Failure> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|err| Failure::Usage(format!("the CSV header: {err}")))?
        .clone();
    for header in &headers {
        if !CSV_COLUMNS.contains(&header) {
            return Err(Failure::Usage(format!(
                "unknown CSV column {header:?}; the columns are {}",
                CSV_COLUMNS.join(", ")
            )));
        }
    }
    // Rows in file order, grouped by order (channel, reference) as they come.
    let mut orders: Vec<(usize, Result<PlaceOrderRequest, String>)> = Vec::new();
    let mut index: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (number, record) in reader.records().enumerate() {
        let line = number + 2;
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                orders.push((line, Err(err.to_string())));
                continue;
            }
        };
        let field = |name: &str| {
            headers
                .iter()
                .position(|header| header == name)
                .and_then(|column| record.get(column))
                .unwrap_or("")
                .to_owned()
        };
        let key = (field("channel"), field("external_reference"));
        let line_item = csv_line(&field);
        match index.get(&key) {
            Some(&at) => {
                let order = &mut orders[at].1;
                match line_item {
                    Ok(item) => {
                        if let Ok(order) = order {
                            order.lines.push(item);
                        }
                    }
                    Err(err) => {
                        if order.is_ok() {
                            *order = Err(format!("line {line}: {err}"));
                        }
                    }
                }
            }
            None => {
                index.insert(key, orders.len());
                let order = csv_order(&field).and_then(|mut order| {
                    order.lines.push(line_item?);
                    Ok(order)
                });
                orders.push((line, order));
            }
        }
    }
    Ok(orders
        .into_iter()
        .map(|(line, order)| Row { line, order })
        .collect())
}

/// A failure as the sentence a report row shows.
fn sentence(failure: Failure) -> String {
    match failure {
        Failure::Usage(message) | Failure::Failed(message) => message,
        Failure::Refused { status, .. } => describe(&status),
    }
}

fn csv_line(field: &dyn Fn(&str) -> String) -> Result<LineItem, String> {
    let currency = non_empty(field("currency"), "EUR");
    Ok(LineItem {
        sku: field("sku"),
        quantity: parse_int(&field("quantity"), "quantity").map_err(sentence)?,
        unit_price: Some(Money {
            currency_code: currency,
            amount_minor: parse_amount(&field("unit_price")).map_err(sentence)?,
        }),
    })
}

fn csv_order(field: &dyn Fn(&str) -> String) -> Result<PlaceOrderRequest, String> {
    let currency = non_empty(field("currency"), "EUR");
    let customer = field("customer");
    let pickup = field("pickup");
    let geo = field("geo");
    let address = if field("country").is_empty() {
        None
    } else {
        Some(Address {
            recipient_name: customer.clone(),
            lines: vec![field("street")],
            city: field("city"),
            postal_code: field("postal_code"),
            country_code: field("country"),
            geo: if geo.is_empty() {
                None
            } else {
                let (lat, lon) = geo
                    .split_once(' ')
                    .or_else(|| geo.split_once(';'))
                    .ok_or_else(|| format!("geo {geo:?}: expected \"LAT LON\""))?;
                Some(oms_proto::common::v1::GeoPoint {
                    latitude: lat.trim().parse().map_err(|_| format!("geo {geo:?}"))?,
                    longitude: lon.trim().parse().map_err(|_| format!("geo {geo:?}"))?,
                })
            },
            ..Default::default()
        })
    };
    let delivery = if pickup.is_empty() {
        DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            service_level: oms_proto::common::v1::ServiceLevel::Standard as i32,
            pickup_location_id: String::new(),
        }
    } else {
        DeliveryOption {
            method: DeliveryMethod::Pickup as i32,
            service_level: oms_proto::common::v1::ServiceLevel::Standard as i32,
            pickup_location_id: pickup,
        }
    };
    let shipping_price = non_empty(field("shipping_price"), "0");
    Ok(PlaceOrderRequest {
        channel: Some(parse_channel(&field("channel")).map_err(sentence)?),
        external_reference: field("external_reference"),
        customer: Some(Customer {
            name: customer,
            email: field("email"),
            phone: field("phone"),
        }),
        shipping_address: address,
        lines: Vec::new(),
        currency_code: currency.clone(),
        delivery_option: Some(delivery),
        shipping_price: Some(Money {
            currency_code: currency,
            amount_minor: parse_amount(&shipping_price).map_err(sentence)?,
        }),
        payment_method: Some(PaymentMethod {
            method: Some(Method::Card(CardToken {
                token: non_empty(field("card"), "tok_visa_4242"),
            })),
        }),
        tags: field("tag").split_whitespace().map(str::to_owned).collect(),
        ..Default::default()
    })
}

fn non_empty(value: String, default: &str) -> String {
    if value.is_empty() {
        default.to_owned()
    } else {
        value
    }
}

/// A progress bar of `len` items on stderr, drawn only on a terminal.
fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    let template = format!("{{bar:40}} {{pos}}/{{len}} {what} ({{eta}} left) {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// `shipments labels`.
#[derive(Args)]
pub struct LabelsArgs {
    /// Write the labels into this folder, one file per shipment, named by
    /// its tracking number.
    #[arg(long, default_value = "labels")]
    out: PathBuf,
    /// The shipments of these orders (id, number or external reference);
    /// repeatable.
    #[arg(long = "order")]
    orders: Vec<String>,
    /// The shipments leaving this location whose label is not yet picked up.
    #[arg(long)]
    location: Option<String>,
}

/// Writes the labels of the shipments asked for; one outcome per shipment.
pub async fn labels(ctx: &Ctx, args: LabelsArgs) -> Result<(), Failure> {
    if args.orders.is_empty() && args.location.is_none() {
        return Err(Failure::Usage(
            "name the shipments: --order (repeatable) or --location".to_owned(),
        ));
    }
    let mut requests = Vec::new();
    for order in &args.orders {
        requests.push(ListShipmentsRequest {
            order_id: resolve(ctx, order).await?,
            ..Default::default()
        });
    }
    if let Some(location) = &args.location {
        requests.push(ListShipmentsRequest {
            location_id: location.clone(),
            statuses: vec![ShipmentStatus::LabelCreated as i32],
            ..Default::default()
        });
    }
    let mut shipments = Vec::new();
    for mut request in requests {
        loop {
            request.page = Some(PageRequest {
                page_size: 100,
                page_token: request
                    .page
                    .take()
                    .map(|page| page.page_token)
                    .unwrap_or_default(),
            });
            let response = ctx
                .oms
                .shipping
                .list_shipments(request.clone())
                .await
                .map_err(refused(Service::Shipping))?;
            shipments.extend(
                response
                    .shipments
                    .into_iter()
                    .filter(|shipment| shipment.status != ShipmentStatus::Cancelled as i32),
            );
            match response.page.map(|page| page.next_page_token) {
                Some(token) if !token.is_empty() => {
                    request.page = Some(PageRequest {
                        page_size: 100,
                        page_token: token,
                    });
                }
                _ => break,
            }
        }
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|err| Failure::Failed(format!("cannot create {}: {err}", args.out.display())))?;
    let progress = progress(shipments.len(), "labels");
    let mut table = Table::new(&["SHIPMENT", "ORDER", "TRACKING", "OUTCOME", "FILE"]);
    let mut failed = 0;
    for shipment in &shipments {
        let (outcome, file) = label(ctx, &args.out, shipment).await;
        if outcome.starts_with("failed") {
            failed += 1;
        }
        progress.inc(1);
        table.row(vec![
            shipment.shipment_id.clone(),
            shipment.order_id.clone(),
            shipment.tracking_number.clone(),
            outcome,
            file.display().to_string(),
        ]);
    }
    progress.finish_and_clear();
    say(table.render(0));
    if failed > 0 {
        return Err(Failure::Failed(format!(
            "{failed} labels were not written; run the command again to fetch only those"
        )));
    }
    Ok(())
}

/// Writes one shipment's label unless its file exists: (outcome, file).
async fn label(
    ctx: &Ctx,
    folder: &Path,
    shipment: &oms_proto::shipping::v1::Shipment,
) -> (String, PathBuf) {
    let extension = match shipment.label.as_ref().map(|label| label.format) {
        Some(format) if format == DocumentFormat::Zpl as i32 => "zpl",
        _ => "pdf",
    };
    let name: String = shipment
        .tracking_number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let file = folder.join(format!("{name}.{extension}"));
    if file.exists() {
        return ("already written".to_owned(), file);
    }
    let fetched = ctx
        .oms
        .shipping
        .get_shipment(GetShipmentRequest {
            shipment_id: shipment.shipment_id.clone(),
        })
        .await;
    let content = match fetched {
        Ok(response) => response
            .shipment
            .and_then(|shipment| shipment.label)
            .map(|label| label.content)
            .unwrap_or_default(),
        Err(status) => return (format!("failed: {}", describe(&status)), file),
    };
    if content.is_empty() {
        return ("failed: the shipment has no label".to_owned(), file);
    }
    // Written under a temporary name first, so a file that exists is whole.
    let partial = file.with_extension(format!("{extension}.partial"));
    let written =
        std::fs::write(&partial, &content).and_then(|()| std::fs::rename(&partial, &file));
    match written {
        Ok(()) => (format!("written ({} bytes)", content.len()), file),
        Err(err) => (format!("failed: {err}"), file),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
channel,external_reference,customer,email,country,city,street,postal_code,geo,sku,quantity,unit_price
web,A-1,Ada Lovelace,ada@example.com,DE,Berlin,Unter den Linden 77,10117,52.51 13.37,TEE-M,2,19.99
web,A-1,Ada Lovelace,ada@example.com,DE,Berlin,Unter den Linden 77,10117,52.51 13.37,CAP,1,15
marketplace:amazon-de,B-7,Alan Turing,alan@example.com,DE,Munich,Marienplatz 1,80331,,CAP,x,15
store:berlin-mitte,C-3,Grace Hopper,grace@example.com,,,,,,TEE-M,1,19.99
";

    #[test]
    fn csv_rows_of_one_order_become_its_lines() {
        let rows = csv_rows(CSV).unwrap();
        assert_eq!(rows.len(), 3);
        let first = rows[0].order.as_ref().unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(first.external_reference, "A-1");
        let skus: Vec<&str> = first.lines.iter().map(|line| line.sku.as_str()).collect();
        assert_eq!(skus, ["TEE-M", "CAP"]);
        assert_eq!(
            first.lines[0].unit_price.as_ref().unwrap().amount_minor,
            1999
        );
        let geo = first.shipping_address.as_ref().unwrap().geo.unwrap();
        assert!((geo.latitude - 52.51).abs() < 1e-9);
    }

    #[test]
    fn a_bad_row_is_reported_with_its_line_and_the_others_go_on() {
        let rows = csv_rows(CSV).unwrap();
        assert_eq!(rows[1].line, 4);
        assert!(rows[1].order.as_ref().unwrap_err().contains("quantity"));
        assert!(rows[2].order.is_ok());
    }

    #[test]
    fn an_unknown_column_is_named() {
        let Err(Failure::Usage(message)) = csv_rows("channel,colour\nweb,red\n") else {
            panic!("refused");
        };
        assert!(message.contains("colour"), "{message}");
    }

    #[test]
    fn an_order_keeps_its_idempotency_key_across_runs() {
        assert_eq!(import_key("web", "A-1"), import_key("web", "A-1"));
        assert_ne!(import_key("web", "A-1"), import_key("app", "A-1"));
    }
}
