//! The shipment state machine. The status starts at LABEL_CREATED, becomes
//! CANCELLED by CancelShipment, and otherwise moves by carrier tracking events:
//! an event applies only if it is newer than the event that set the current
//! status and the transition table allows it, so the status never goes backwards.

use chrono::{DateTime, Utc};

oms_platform::code_enum! {
    /// The status of a shipment (`oms.shipping.v1.ShipmentStatus`).
    pub enum ShipmentStatus {
        /// The label is bought; the parcel waits for the carrier.
        LabelCreated = 1 => "SHIPMENT_STATUS_LABEL_CREATED",
        /// The carrier has the parcel.
        PickedUp = 2 => "SHIPMENT_STATUS_PICKED_UP",
        /// The parcel moves through the carrier's network.
        InTransit = 3 => "SHIPMENT_STATUS_IN_TRANSIT",
        /// The parcel is on the vehicle for delivery today.
        OutForDelivery = 4 => "SHIPMENT_STATUS_OUT_FOR_DELIVERY",
        /// Delivery was tried and failed; the carrier tries again or holds it.
        DeliveryAttempted = 5 => "SHIPMENT_STATUS_DELIVERY_ATTEMPTED",
        /// Delivered. Terminal.
        Delivered = 6 => "SHIPMENT_STATUS_DELIVERED",
        /// The carrier reports a problem; later events move it on.
        Exception = 7 => "SHIPMENT_STATUS_EXCEPTION",
        /// Brought back to the sender. Terminal.
        ReturnedToSender = 8 => "SHIPMENT_STATUS_RETURNED_TO_SENDER",
        /// Cancelled before pickup; the label is void. Terminal.
        Cancelled = 9 => "SHIPMENT_STATUS_CANCELLED",
    }
}

use ShipmentStatus as S;

/// Transitions by tracking event: (from, allowed to). CANCELLED comes only from
/// CancelShipment, out of LABEL_CREATED ([`ShipmentStatus::cancel`]).
const EVENT_TRANSITIONS: &[(ShipmentStatus, &[ShipmentStatus])] = &[
    (
        S::LabelCreated,
        &[
            S::PickedUp,
            S::InTransit,
            S::OutForDelivery,
            S::DeliveryAttempted,
            S::Delivered,
            S::Exception,
            S::ReturnedToSender,
        ],
    ),
    (
        S::PickedUp,
        &[
            S::InTransit,
            S::OutForDelivery,
            S::DeliveryAttempted,
            S::Delivered,
            S::Exception,
            S::ReturnedToSender,
        ],
    ),
    (
        S::InTransit,
        &[
            S::OutForDelivery,
            S::DeliveryAttempted,
            S::Delivered,
            S::Exception,
            S::ReturnedToSender,
        ],
    ),
    (
        S::OutForDelivery,
        &[
            S::DeliveryAttempted,
            S::Delivered,
            S::Exception,
            S::ReturnedToSender,
        ],
    ),
    (
        S::DeliveryAttempted,
        &[
            S::OutForDelivery,
            S::Delivered,
            S::Exception,
            S::ReturnedToSender,
        ],
    ),
    (
        S::Exception,
        &[
            S::InTransit,
            S::OutForDelivery,
            S::DeliveryAttempted,
            S::Delivered,
            S::ReturnedToSender,
        ],
    ),
];

/// Why CancelShipment is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelRefusal {
    /// The carrier has the parcel.
    InCarrierCustody,
    /// The shipment has ended (DELIVERED or RETURNED_TO_SENDER).
    Ended,
}

impl ShipmentStatus {
    /// True when the table allows a tracking event to move `self` to `to`.
    pub fn allows(self, to: ShipmentStatus) -> bool {
        EVENT_TRANSITIONS
            .iter()
            .any(|(from, allowed)| *from == self && allowed.contains(&to))
    }

    /// True when the carrier has (or had) the parcel.
    pub fn in_carrier_custody(self) -> bool {
        !matches!(self, S::LabelCreated | S::Cancelled)
    }

    /// Whether CancelShipment may cancel from here; `Ok(false)` when it is
    /// already CANCELLED (nothing to do).
    pub fn cancel(self) -> Result<bool, CancelRefusal> {
        match self {
            S::LabelCreated => Ok(true),
            S::Cancelled => Ok(false),
            S::Delivered | S::ReturnedToSender => Err(CancelRefusal::Ended),
            _ => Err(CancelRefusal::InCarrierCustody),
        }
    }
}

oms_platform::code_enum! {
    /// What a carrier tracking event reports
    /// (`oms.shipping.v1.TrackingEventType`); each reports the status of the
    /// same number.
    pub enum TrackingEventType {
        /// The carrier registered the label; moves nothing.
        LabelCreated = 1 => "TRACKING_EVENT_TYPE_LABEL_CREATED",
        /// The carrier took the parcel.
        PickedUp = 2 => "TRACKING_EVENT_TYPE_PICKED_UP",
        /// A scan in the carrier's network.
        InTransit = 3 => "TRACKING_EVENT_TYPE_IN_TRANSIT",
        /// Loaded for delivery.
        OutForDelivery = 4 => "TRACKING_EVENT_TYPE_OUT_FOR_DELIVERY",
        /// A delivery attempt failed.
        DeliveryAttempted = 5 => "TRACKING_EVENT_TYPE_DELIVERY_ATTEMPTED",
        /// Delivered.
        Delivered = 6 => "TRACKING_EVENT_TYPE_DELIVERED",
        /// A problem; the event's description says which.
        Exception = 7 => "TRACKING_EVENT_TYPE_EXCEPTION",
        /// Brought back to the sender.
        ReturnedToSender = 8 => "TRACKING_EVENT_TYPE_RETURNED_TO_SENDER",
    }
}

impl TrackingEventType {
    /// The status the event reports.
    pub fn status(self) -> ShipmentStatus {
        use TrackingEventType as T;
        match self {
            T::LabelCreated => S::LabelCreated,
            T::PickedUp => S::PickedUp,
            T::InTransit => S::InTransit,
            T::OutForDelivery => S::OutForDelivery,
            T::DeliveryAttempted => S::DeliveryAttempted,
            T::Delivered => S::Delivered,
            T::Exception => S::Exception,
            T::ReturnedToSender => S::ReturnedToSender,
        }
    }
}

/// Whether an event moves a shipment: it must be newer than the event that set
/// the current status (`status_time`; none for LABEL_CREATED, which any event may
/// leave) and allowed by the table. LABEL_CREATED events move nothing.
pub fn event_applies(
    current: ShipmentStatus,
    status_time: Option<DateTime<Utc>>,
    event: TrackingEventType,
    event_time: DateTime<Utc>,
) -> bool {
    let newer = status_time.is_none_or(|time| event_time > time);
    newer && current.allows(event.status())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;
    use TrackingEventType as T;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, hour, 0, 0).unwrap()
    }

    #[test]
    fn terminal_statuses_allow_no_event() {
        for terminal in [S::Delivered, S::ReturnedToSender, S::Cancelled] {
            for &to in ShipmentStatus::ALL {
                assert!(!terminal.allows(to), "{terminal:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn the_status_never_goes_back_to_an_earlier_step() {
        let cases = [
            (S::InTransit, S::PickedUp, false),
            (S::OutForDelivery, S::InTransit, false),
            (S::OutForDelivery, S::PickedUp, false),
            (S::DeliveryAttempted, S::OutForDelivery, true),
            (S::Exception, S::InTransit, true),
            (S::LabelCreated, S::Delivered, true),
            (S::PickedUp, S::LabelCreated, false),
            (S::LabelCreated, S::Cancelled, false),
        ];
        for (from, to, allowed) in cases {
            assert_eq!(from.allows(to), allowed, "{from:?} -> {to:?}");
        }
    }

    #[test]
    fn an_event_older_than_the_one_that_set_the_status_does_not_apply() {
        let cases = [
            (S::LabelCreated, None, T::InTransit, at(9), true),
            (S::LabelCreated, None, T::LabelCreated, at(9), false),
            (S::PickedUp, Some(at(10)), T::InTransit, at(9), false),
            (S::PickedUp, Some(at(10)), T::InTransit, at(11), true),
            (S::PickedUp, Some(at(10)), T::InTransit, at(10), false),
            (S::Delivered, Some(at(10)), T::InTransit, at(11), false),
        ];
        for (current, status_time, event, time, applies) in cases {
            assert_eq!(
                event_applies(current, status_time, event, time),
                applies,
                "{current:?} {event:?}"
            );
        }
    }

    #[test]
    fn cancel_is_allowed_only_before_pickup_and_repeats_harmlessly() {
        assert_eq!(S::LabelCreated.cancel(), Ok(true));
        assert_eq!(S::Cancelled.cancel(), Ok(false));
        assert_eq!(S::PickedUp.cancel(), Err(CancelRefusal::InCarrierCustody));
        assert_eq!(S::Exception.cancel(), Err(CancelRefusal::InCarrierCustody));
        assert_eq!(S::Delivered.cancel(), Err(CancelRefusal::Ended));
        assert_eq!(S::ReturnedToSender.cancel(), Err(CancelRefusal::Ended));
    }

    #[test]
    fn codes_round_trip_and_cancelled_is_no_event() {
        for &status in ShipmentStatus::ALL {
            assert_eq!(ShipmentStatus::from_code(status.code()), Some(status));
        }
        // An event type's number is the number of the status it reports.
        for &event in TrackingEventType::ALL {
            assert_eq!(event.code(), event.status().code(), "{event:?}");
        }
        assert_eq!(TrackingEventType::from_code(9), None);
        assert_eq!(TrackingEventType::from_code(0), None);
        assert_eq!(
            TrackingEventType::from_code(6).map(TrackingEventType::status),
            Some(S::Delivered)
        );
    }
}
