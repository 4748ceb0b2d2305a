//! `omsctl returns ...`: a return from request to inspection; the return
//! saga does the rest (label, restock, refund), followed with `--wait`.

use clap::Subcommand;
use oms_platform::config::Service;
use oms_proto::{
    common::v1::LineItem,
    returns::v1::{
        ApproveReturnRequest, CloseReason, GetReturnRequest, InspectReturnRequest, LineInspection,
        ReceiveReturnRequest, RequestReturnRequest, Return, ReturnLineRequest, ReturnReason,
        ReturnResolution, ReturnStatus,
    },
    saga::v1::SagaKind,
};

use crate::{
    Ctx, Failure, POLL, enum_label,
    orders::resolve,
    output::to_json,
    output::{self, Table, money, or_dash, say},
    parse::{parse_amount, parse_int},
    refused, sagas,
};

/// The return commands.
#[derive(Subcommand)]
pub enum ReturnsCommand {
    /// Open a return for delivered lines of an order.
    Request {
        /// The order's id, number or external reference.
        order: String,
        /// SKU:QUANTITY[:REASON] (no-longer-needed, wrong-size,
        /// not-as-described, defective, wrong-item, arrived-late); repeatable.
        #[arg(long = "line", required = true, value_name = "SKU:QTY[:REASON]")]
        lines: Vec<String>,
        /// Exchange for these, SKU:QUANTITY:UNIT_PRICE, instead of a refund;
        /// repeatable.
        #[arg(long = "exchange", value_name = "SKU:QTY:PRICE")]
        exchange: Vec<String>,
        /// The currency of the exchange's prices.
        #[arg(long, default_value = "EUR")]
        currency: String,
        /// The customer's comment.
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Approve a requested return: its saga issues the label.
    Approve {
        /// The return's id.
        #[arg(name = "return")]
        return_id: String,
        /// Where the goods go back to.
        #[arg(long)]
        location: String,
    },
    /// Record that the goods arrived at a location.
    Receive {
        /// The return's id.
        #[arg(name = "return")]
        return_id: String,
        /// Where they arrived.
        #[arg(long)]
        location: String,
    },
    /// Record the inspection: per line, units to restock, damaged, missing.
    Inspect {
        /// The return's id.
        #[arg(name = "return")]
        return_id: String,
        /// SKU:RESTOCK:DAMAGED:MISSING; one per return line.
        #[arg(
            long = "line",
            required = true,
            value_name = "SKU:RESTOCK:DAMAGED:MISSING"
        )]
        lines: Vec<String>,
        /// Follow the return saga to its end (restock, refund, close).
        #[arg(long)]
        wait: bool,
    },
    /// Show a return.
    Get {
        /// The return's id.
        #[arg(name = "return")]
        return_id: String,
    },
}

/// Runs a return command.
pub async fn run(ctx: &Ctx, command: ReturnsCommand) -> Result<(), Failure> {
    let returns = &ctx.oms.returns;
    let failed = refused(Service::Returns);
    let rma = match command {
        ReturnsCommand::Request {
            order,
            lines,
            exchange,
            currency,
            comment,
        } => {
            let order_id = resolve(ctx, &order).await?;
            let lines = lines
                .iter()
                .map(|line| parse_return_line(line))
                .collect::<Result<Vec<_>, _>>()?;
            let replacement = exchange
                .iter()
                .map(|line| {
                    let parts: Vec<&str> = line.split(':').collect();
                    let [sku, quantity, price] = parts.as_slice() else {
                        return Err(Failure::Usage(format!(
                            "--exchange {line:?}: expected SKU:QUANTITY:UNIT_PRICE"
                        )));
                    };
                    Ok(LineItem {
                        sku: (*sku).to_owned(),
                        quantity: parse_int(quantity, "--exchange quantity")?,
                        unit_price: Some(oms_proto::common::v1::Money {
                            currency_code: currency.clone(),
                            amount_minor: parse_amount(price)?,
                        }),
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let resolution = if replacement.is_empty() {
                ReturnResolution::Refund
            } else {
                ReturnResolution::Exchange
            };
            let request = RequestReturnRequest {
                order_id,
                lines,
                resolution: resolution as i32,
                replacement_lines: replacement,
                comment,
                actor: Some(ctx.actor.clone()),
            };
            let key = ctx.key("return");
            returns.request_return(request, &key).await.map(|r| r.rma)
        }
        ReturnsCommand::Approve {
            return_id,
            location,
        } => {
            let key = ctx.key("approval");
            let request = ApproveReturnRequest {
                return_id,
                receiving_location_id: location,
                note: String::new(),
                actor: Some(ctx.actor.clone()),
            };
            returns.approve_return(request, &key).await.map(|r| r.rma)
        }
        ReturnsCommand::Receive {
            return_id,
            location,
        } => {
            let key = ctx.key("receipt");
            let request = ReceiveReturnRequest {
                return_id,
                location_id: location,
                note: String::new(),
                actor: Some(ctx.actor.clone()),
            };
            returns.receive_return(request, &key).await.map(|r| r.rma)
        }
        ReturnsCommand::Inspect {
            return_id,
            lines,
            wait,
        } => {
            let lines = lines
                .iter()
                .map(|line| {
                    let parts: Vec<&str> = line.split(':').collect();
                    let [sku, restock, damaged, missing] = parts.as_slice() else {
                        return Err(Failure::Usage(format!(
                            "--line {line:?}: expected SKU:RESTOCK:DAMAGED:MISSING"
                        )));
                    };
                    Ok(LineInspection {
                        sku: (*sku).to_owned(),
                        restock_quantity: parse_int(restock, "restock")?,
                        damaged_quantity: parse_int(damaged, "damaged")?,
                        missing_quantity: parse_int(missing, "missing")?,
                        note: String::new(),
                    })
                })
                .collect::<Result<Vec<_>, Failure>>()?;
            let key = ctx.key("inspection");
            let request = InspectReturnRequest {
                return_id: return_id.clone(),
                lines,
                actor: Some(ctx.actor.clone()),
            };
            let rma = returns
                .inspect_return(request, &key)
                .await
                .map_err(refused(Service::Returns))?
                .rma
                .unwrap_or_default();
            if wait {
                let saga = sagas::wait_for(ctx, SagaKind::Return, "", &return_id).await?;
                let rma = get(ctx, &return_id).await?;
                if ctx.json() {
                    output::json(&serde_json::json!({
                        "return": to_json(&rma)?,
                        "saga": to_json(&saga)?,
                    }));
                } else {
                    print_return(&rma);
                    sagas::print_saga(&saga);
                }
                return Ok(());
            }
            Ok(Some(rma))
        }
        ReturnsCommand::Get { return_id } => Ok(Some(get(ctx, &return_id).await?)),
    }
    .map_err(failed)?
    .unwrap_or_default();
    if ctx.json() {
        output::json(&to_json(&rma)?);
    } else {
        print_return(&rma);
    }
    Ok(())
}

/// The return as the returns service holds it.
pub async fn get(ctx: &Ctx, return_id: &str) -> Result<Return, Failure> {
    Ok(ctx
        .oms
        .returns
        .get_return(GetReturnRequest {
            return_id: return_id.to_owned(),
        })
        .await
        .map_err(refused(Service::Returns))?
        .rma
        .unwrap_or_default())
}

/// Waits until the return is in `status` (or further along, when `or_later`);
/// the return then.
pub async fn wait_until(
    ctx: &Ctx,
    return_id: &str,
    status: ReturnStatus,
) -> Result<Return, Failure> {
    let deadline = tokio::time::Instant::now() + ctx.wait;
    loop {
        let rma = get(ctx, return_id).await?;
        if rma.status >= status as i32 {
            return Ok(rma);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure::Failed(format!(
                "gave up waiting after {}: return {return_id} is {}, not {}",
                humantime::format_duration(ctx.wait),
                enum_label!(ReturnStatus, rma.status, "RETURN_STATUS_"),
                status.as_str_name().trim_start_matches("RETURN_STATUS_")
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn parse_return_line(text: &str) -> Result<ReturnLineRequest, Failure> {
    let parts: Vec<&str> = text.split(':').collect();
    let (sku, quantity, reason) = match parts.as_slice() {
        [sku, quantity] => (*sku, *quantity, "no-longer-needed"),
        [sku, quantity, reason] => (*sku, *quantity, *reason),
        _ => {
            return Err(Failure::Usage(format!(
                "--line {text:?}: expected SKU:QUANTITY[:REASON]"
            )));
        }
    };
    let name = format!(
        "RETURN_REASON_{}",
        reason.to_ascii_uppercase().replace('-', "_")
    );
    let reason = ReturnReason::from_str_name(&name).ok_or_else(|| {
        Failure::Usage(format!(
            "unknown return reason {reason:?}; reasons are no-longer-needed, wrong-size, not-as-described, defective, wrong-item, arrived-late"
        ))
    })?;
    Ok(ReturnLineRequest {
        sku: sku.to_owned(),
        quantity: parse_int(quantity, "--line quantity")?,
        reason: reason as i32,
    })
}

fn print_return(rma: &Return) {
    let mut headline = format!(
        "return {} {}  order {}  {}",
        rma.return_id,
        enum_label!(ReturnStatus, rma.status, "RETURN_STATUS_"),
        rma.order_id,
        enum_label!(ReturnResolution, rma.resolution, "RETURN_RESOLUTION_").to_lowercase()
    );
    if rma.close_reason != 0 {
        headline.push_str(&format!(
            "  closed {}",
            enum_label!(CloseReason, rma.close_reason, "CLOSE_REASON_")
        ));
    }
    say(headline);
    if let Some(label) = &rma.label {
        say(format!(
            "  label {} {} ({})",
            label.carrier, label.tracking_number, label.shipment_id
        ));
    }
    if let Some(refund) = &rma.refund {
        say(format!(
            "  refund {}{}{}",
            money(refund.total.as_ref()),
            if refund.estimate { " (estimate)" } else { "" },
            if rma.refund_transaction_id.is_empty() {
                String::new()
            } else {
                format!(", paid in transaction {}", rma.refund_transaction_id)
            }
        ));
    }
    let mut lines = Table::new(&["SKU", "QTY", "REASON", "RESTOCK", "DAMAGED", "MISSING"]);
    for line in &rma.lines {
        lines.row(vec![
            line.sku.clone(),
            line.quantity.to_string(),
            enum_label!(ReturnReason, line.reason, "RETURN_REASON_").to_lowercase(),
            line.restock_quantity.to_string(),
            line.damaged_quantity.to_string(),
            line.missing_quantity.to_string(),
        ]);
    }
    say(lines.render(2));
    if rma.receiving_location_id.is_empty() {
        say(format!(
            "  goes back to {}",
            or_dash(&rma.expected_location_id)
        ));
    } else {
        say(format!("  received at {}", rma.receiving_location_id));
    }
}
