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

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    OrderPlaced = 1,
    StatusChanged = 2,
    LinesChanged = 3,
    ShippingAddressUpdated = 4,
    ShippingAddressLocked = 5,
    NoteAdded = 6,
    TagsAdded = 7,
    TagRemoved = 8,
    SagaStarted = 9,
    PaymentRecorded = 10,
    ShipmentRecorded = 11,
    ReturnRecorded = 12,
    CancellationRequested = 13,
}

impl EventKind {
    pub fn code(self) -> i16 {
        self as i16
    }
}

/// What a reference on an event points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "i16", try_from = "i16")]
pub enum RefKind {
    SagaId = 1,
    PaymentId = 2,
    TransactionId = 3,
    ReservationId = 4,
    ShipmentId = 5,
    TrackingNumber = 6,
    Carrier = 7,
    CarrierEventId = 8,
    LocationId = 9,
    ReturnId = 10,
    OrderId = 11,
    NoteId = 12,
    Tag = 13,
}

impl From<RefKind> for i16 {
    fn from(kind: RefKind) -> i16 {
        kind as i16
    }
}

impl TryFrom<i16> for RefKind {
    type Error = String;

    fn try_from(code: i16) -> Result<Self, Self::Error> {
        use RefKind::*;
        [
            SagaId,
            PaymentId,
            TransactionId,
            ReservationId,
            ShipmentId,
            TrackingNumber,
            Carrier,
            CarrierEventId,
            LocationId,
            ReturnId,
            OrderId,
            NoteId,
            Tag,
        ]
        .into_iter()
        .find(|kind| *kind as i16 == code)
        .ok_or_else(|| format!("unknown reference kind {code}"))
    }
}
