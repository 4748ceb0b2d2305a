//! `omsctl carrier ...`: the tracking events a carrier's webhook reports,
//! sent to the shipping service as the carrier simulator would, so a demo or
//! a test can move parcels: picked up, delivered, a return parcel on its way.
//! Each event's id is derived from the shipment, so running one again
//! changes nothing (the events are idempotent by carrier and event id).

use clap::Subcommand;
use oms_platform::config::Service;
use oms_proto::{
    order::v1::OrderStatus,
    returns::v1::ReturnStatus,
    shipping::v1::{RecordTrackingEventRequest, TrackingEventType},
};

use crate::{Ctx, Failure, POLL, enum_label, orders, output::say, refused, returns};

/// The carrier commands.
#[derive(Subcommand)]
pub enum CarrierCommand {
    /// Every open shipment of the order picked up and delivered; waits until
    /// the order is DELIVERED.
    Deliver {
        /// The order's id, number or external reference.
        order: String,
    },
    /// The return's parcel picked up from the customer (once its label is
    /// issued); waits until the return is IN_TRANSIT.
    PickUpReturn {
        /// The return's id.
        #[arg(name = "return")]
        return_id: String,
    },
    /// One tracking event.
    Event {
        /// The carrier's code, e.g. sim-standard.
        #[arg(long)]
        carrier: String,
        /// The parcel's tracking number.
        #[arg(long)]
        tracking: String,
        /// picked-up, in-transit, out-for-delivery, delivery-attempted,
        /// delivered, exception, returned-to-sender.
        #[arg(long = "type")]
        event_type: String,
        /// The carrier's id of the event (its natural key).
        #[arg(long)]
        event_id: String,
    },
}

/// Runs a carrier command.
pub async fn run(ctx: &Ctx, command: CarrierCommand) -> Result<(), Failure> {
    match command {
        CarrierCommand::Deliver { order } => {
            let order = orders::get(ctx, &order).await?;
            for (n, shipment) in order.shipments.iter().enumerate() {
                if shipment.cancel_time.is_some() {
                    continue;
                }
                // What the carrier reported before is not reported again.
                let done = [
                    shipment.ship_time.is_some(),
                    shipment.delivery_time.is_some(),
                ];
                for ((event, id), done) in [
                    (TrackingEventType::PickedUp, "pickup"),
                    (TrackingEventType::Delivered, "delivery"),
                ]
                .into_iter()
                .zip(done)
                {
                    if done {
                        continue;
                    }
                    let id = format!("{id}-{}", shipment.shipment_id);
                    event_on(
                        ctx,
                        n,
                        &shipment.carrier,
                        &shipment.tracking_number,
                        event,
                        &id,
                    )
                    .await?;
                }
            }
            let deadline = tokio::time::Instant::now() + ctx.wait;
            loop {
                let now = orders::get(ctx, &order.order_id).await?;
                if now.status == OrderStatus::Delivered as i32 {
                    say(format!("order {} DELIVERED", now.order_number));
                    return Ok(());
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(Failure::Failed(format!(
                        "order {} is {}, not DELIVERED, after {}",
                        now.order_number,
                        enum_label!(OrderStatus, now.status, "ORDER_STATUS_"),
                        humantime::format_duration(ctx.wait)
                    )));
                }
                tokio::time::sleep(POLL).await;
            }
        }
        CarrierCommand::PickUpReturn { return_id } => {
            let labelled = returns::wait_until(ctx, &return_id, ReturnStatus::LabelIssued).await?;
            let label = labelled.label.unwrap_or_default();
            let id = format!("return-pickup-{return_id}");
            event_on(
                ctx,
                0,
                &label.carrier,
                &label.tracking_number,
                TrackingEventType::PickedUp,
                &id,
            )
            .await?;
            let rma = returns::wait_until(ctx, &return_id, ReturnStatus::InTransit).await?;
            say(format!(
                "return {return_id} {} with {} {}",
                enum_label!(ReturnStatus, rma.status, "RETURN_STATUS_"),
                label.carrier,
                label.tracking_number
            ));
            Ok(())
        }
        CarrierCommand::Event {
            carrier,
            tracking,
            event_type,
            event_id,
        } => {
            let name = format!(
                "TRACKING_EVENT_TYPE_{}",
                event_type.to_ascii_uppercase().replace('-', "_")
            );
            let event = TrackingEventType::from_str_name(&name).ok_or_else(|| {
                Failure::Usage(format!("unknown tracking event type {event_type:?}"))
            })?;
            event_on(ctx, 0, &carrier, &tracking, event, &event_id).await?;
            say(format!(
                "{} recorded for {carrier} {tracking}",
                event.as_str_name()
            ));
            Ok(())
        }
    }
}

async fn event_on(
    ctx: &Ctx,
    n: usize,
    carrier: &str,
    tracking_number: &str,
    event: TrackingEventType,
    id: &str,
) -> Result<(), Failure> {
    let request = RecordTrackingEventRequest {
        carrier: carrier.to_owned(),
        carrier_event_id: id.to_owned(),
        tracking_number: tracking_number.to_owned(),
        event_type: event as i32,
        event_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
        location: "carrier hub".to_owned(),
        description: String::new(),
    };
    ctx.oms
        .shipping
        .record_tracking_event(request, &ctx.nth_key(n))
        .await
        .map_err(refused(Service::Shipping))?;
    Ok(())
}
