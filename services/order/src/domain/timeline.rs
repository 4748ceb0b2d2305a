//! What a timeline event records and what it may point to. Mirror
//! `oms.order.v1.TimelineEventKind` and `ReferenceKind`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Actor, status::Status};

/// Units of a line on a timeline event or a shipment, stored as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLine {
    /// The line's id.
    pub line_id: String,
    /// How many of its units.
    pub quantity: i32,
}

/// A timeline event to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// When it happened at its source; the time of recording when `None`.
    pub event_time: Option<DateTime<Utc>>,
    /// Who did it.
    pub actor: Actor,
    /// Why, when said; never personal data.
    pub reason: String,
    /// The order's status before, for a status change.
    pub from: Option<Status>,
    /// The order's status after, for a status change.
    pub to: Option<Status>,
    /// The lines and units concerned.
    pub lines: Vec<EventLine>,
    /// What the event points to.
    pub references: Vec<(RefKind, String)>,
}

impl Event {
    /// An event of `kind` by `actor`, with nothing else set.
    pub fn by(kind: EventKind, actor: Actor) -> Event {
        Event {
            kind,
            event_time: None,
            actor,
            reason: String::new(),
            from: None,
            to: None,
            lines: Vec::new(),
            references: Vec::new(),
        }
    }
}

oms_platform::code_enum! {
    /// What happened to an order (`oms.order.v1.TimelineEventKind`).
    pub enum EventKind {
        /// The order was accepted (PlaceOrder).
        OrderPlaced = 1 => "ORDER_PLACED",
        /// The order's status changed.
        StatusChanged = 2 => "STATUS_CHANGED",
        /// Line units changed without changing the order's status.
        LinesChanged = 3 => "LINES_CHANGED",
        /// The shipping address was changed.
        ShippingAddressUpdated = 4 => "SHIPPING_ADDRESS_UPDATED",
        /// The shipping address was locked because shipments are being created.
        ShippingAddressLocked = 5 => "SHIPPING_ADDRESS_LOCKED",
        /// A note was added.
        NoteAdded = 6 => "NOTE_ADDED",
        /// Tags were added.
        TagsAdded = 7 => "TAGS_ADDED",
        /// A tag was removed.
        TagRemoved = 8 => "TAG_REMOVED",
        /// A saga for the order was started.
        SagaStarted = 9 => "SAGA_STARTED",
        /// A payment fact without a status change.
        PaymentRecorded = 10 => "PAYMENT_RECORDED",
        /// A shipment fact without a status or line change.
        ShipmentRecorded = 11 => "SHIPMENT_RECORDED",
        /// A return fact without a status or line change.
        ReturnRecorded = 12 => "RETURN_RECORDED",
        /// CancelOrder with lines: these units are to be cancelled.
        CancellationRequested = 13 => "CANCELLATION_REQUESTED",
    }
}

oms_platform::code_enum! {
    /// What a reference on an event points to (`oms.order.v1.ReferenceKind`);
    /// stored in the event's JSON by its number.
    #[derive(Serialize, Deserialize)]
    #[serde(into = "i16", try_from = "i16")]
    pub enum RefKind {
        /// A saga id.
        SagaId = 1 => "SAGA_ID",
        /// A payment id.
        PaymentId = 2 => "PAYMENT_ID",
        /// A payment transaction id.
        TransactionId = 3 => "TRANSACTION_ID",
        /// An inventory reservation id.
        ReservationId = 4 => "RESERVATION_ID",
        /// A shipment id.
        ShipmentId = 5 => "SHIPMENT_ID",
        /// A carrier tracking number.
        TrackingNumber = 6 => "TRACKING_NUMBER",
        /// A carrier code.
        Carrier = 7 => "CARRIER",
        /// A carrier's tracking event id.
        CarrierEventId = 8 => "CARRIER_EVENT_ID",
        /// A location id.
        LocationId = 9 => "LOCATION_ID",
        /// A return id.
        ReturnId = 10 => "RETURN_ID",
        /// Another order: an exchange's replacement or original order.
        OrderId = 11 => "ORDER_ID",
        /// A note id on this order.
        NoteId = 12 => "NOTE_ID",
        /// A tag on this order.
        Tag = 13 => "TAG",
    }
}

impl From<RefKind> for i16 {
    fn from(kind: RefKind) -> i16 {
        kind.code()
    }
}

impl TryFrom<i16> for RefKind {
    type Error = String;

    fn try_from(code: i16) -> Result<Self, Self::Error> {
        RefKind::from_code(code).ok_or_else(|| format!("unknown reference kind {code}"))
    }
}
