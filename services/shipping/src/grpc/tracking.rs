//! RecordTrackingEvent: one transaction under the shipment's row lock stores
//! the event, moves the status when the event applies, and queues what the
//! order or returns service hears of it.

use chrono::{SubsecRound as _, Utc};
use oms_platform::{convert::time, error::FieldViolations};
use oms_proto::shipping::v1 as pb;

use super::{
    ShippingApi, convert,
    reports::{self, Happened},
};
use crate::{
    carrier::{MAX_CARRIER_CODE, MAX_CARRIER_EVENT_ID, MAX_TRACKING_NUMBER},
    domain::{
        report::Fact,
        shipment::{ShipmentStatus, TrackingEventType, event_applies},
    },
    error::ShippingError,
    store::{self, NewEvent},
};

/// How far in the future a carrier's event time may be (clock skew).
const MAX_EVENT_SKEW: chrono::Duration = chrono::Duration::hours(24);

/// A checked event: its type and time, the rest as the request has it.
fn checked(
    request: &pb::RecordTrackingEventRequest,
) -> Result<(TrackingEventType, chrono::DateTime<Utc>), ShippingError> {
    let mut violations = FieldViolations::new();
    for (field, value, max) in [
        ("carrier", &request.carrier, MAX_CARRIER_CODE),
        (
            "carrier_event_id",
            &request.carrier_event_id,
            MAX_CARRIER_EVENT_ID,
        ),
        (
            "tracking_number",
            &request.tracking_number,
            MAX_TRACKING_NUMBER,
        ),
    ] {
        convert::bounded(&mut violations, field, value, 1, max);
    }
    let event_type = TrackingEventType::from_code(request.event_type);
    if event_type.is_none() {
        violations.add("event_type", "must be an event type of the enum");
    }
    if request.event_time.is_none() {
        violations.add("event_time", "required");
    }
    // Postgres keeps microseconds: a repeat must compare equal to what was stored.
    let event_time = time(&mut violations, "event_time", request.event_time.as_ref())
        .map(|time| time.trunc_subsecs(6));
    if event_time.is_some_and(|time| time > Utc::now() + MAX_EVENT_SKEW) {
        violations.add("event_time", "more than 24 hours in the future");
    }
    convert::max_chars(&mut violations, "location", &request.location, 200);
    convert::max_chars(&mut violations, "description", &request.description, 500);
    match (event_type, event_time, violations.is_empty()) {
        (Some(event_type), Some(event_time), true) => Ok((event_type, event_time)),
        _ => Err(ShippingError::Invalid(violations)),
    }
}

impl ShippingApi {
    /// Records one carrier event and what it reports.
    pub(super) async fn record_tracking_event(
        &self,
        request: &pb::RecordTrackingEventRequest,
    ) -> Result<pb::RecordTrackingEventResponse, ShippingError> {
        let (event_type, event_time) = checked(request)?;
        let mut tx = self.store.begin().await?;
        // The shipment's lock serialises its events, so a repeat delivered twice
        // at once is stored once.
        let row =
            store::lock_by_tracking_number(&mut tx, &request.carrier, &request.tracking_number)
                .await?
                .ok_or_else(|| ShippingError::NotFound(request.tracking_number.clone()))?;
        if let Some((stored_shipment, stored)) =
            store::find_event(&mut tx, &request.carrier, &request.carrier_event_id).await?
        {
            let same = stored_shipment == row.shipment_id
                && stored.event_type == event_type.code()
                && stored.event_time == event_time
                && stored.location == request.location
                && stored.description == request.description;
            if !same {
                return Err(ShippingError::KeyConflict(vec![
                    ("carrier", request.carrier.clone()),
                    ("carrier_event_id", request.carrier_event_id.clone()),
                ]));
            }
            drop(tx);
            return Ok(pb::RecordTrackingEventResponse {
                shipment: Some(self.shipment(row.shipment_id).await?),
                applied: false,
            });
        }

        let current = row.shipment_status()?;
        let applied = event_applies(current, row.status_time, event_type, event_time);
        let to = event_type.status();
        let sets_pickup = current != ShipmentStatus::Cancelled
            && to.in_carrier_custody()
            && to != ShipmentStatus::ReturnedToSender;
        store::record_event(
            &mut tx,
            row.shipment_id,
            &NewEvent {
                carrier: request.carrier.clone(),
                carrier_event_id: request.carrier_event_id.clone(),
                event_type: event_type.code(),
                event_time,
                location: request.location.clone(),
                description: request.description.clone(),
                applied,
            },
            applied.then_some(to.code()),
            sets_pickup,
            applied && to == ShipmentStatus::Delivered,
        )
        .await?;
        let happened = Happened {
            fact: Fact::Tracked {
                applied,
                from: current,
                to,
            },
            name: &request.carrier_event_id,
            time: event_time,
        };
        let reported = reports::queue(&mut tx, &row, &happened).await?;
        tx.commit().await?;
        if reported {
            self.wake.notify_one();
        }
        tracing::info!(shipment_id = %row.shipment_id, carrier_event_id = %request.carrier_event_id, applied, "tracking event recorded");
        Ok(pb::RecordTrackingEventResponse {
            shipment: Some(self.shipment(row.shipment_id).await?),
            applied,
        })
    }
}
