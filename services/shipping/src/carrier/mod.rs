//! Carriers: the adapter trait every carrier integration implements, and the
//! deterministic [`CarrierSimulator`], the default carrier, which keeps its
//! labels in its own tables of the service's database.
//!
//! Each label purchase carries the shipment's own key (`carrier_key`), so a
//! retry after a failure or timeout returns the label already bought instead of
//! buying a second one.

mod simulator;

use chrono::{DateTime, Utc};
use oms_platform::ids::CountryCode;

pub use simulator::{CarrierSimulator, Fault, FaultKind, SimulatedLabel, SimulatorConfig};

use crate::domain::parcel::{Parcel, ServiceLevel};

/// The longest carrier code, in bytes. Shipping hands a carrier's code on as
/// the actor of what the carrier reported (MarkStatus, MarkReturnInTransit:
/// actor ids are at most 128 characters) and, through the return saga, to
/// ReturnsService.RecordReturnLabel, which takes codes of 128 characters.
pub const MAX_CARRIER_CODE: usize = 128;

/// The longest tracking number, in bytes: ReturnsService.RecordReturnLabel
/// takes 128 characters.
pub const MAX_TRACKING_NUMBER: usize = 128;

/// The longest carrier event id, in bytes. OrderService.MarkStatus hears an
/// event as `shipment:<shipment uuid>:<carrier event id>`, and takes event ids
/// of 256 bytes: 46 and 128 leave room.
pub const MAX_CARRIER_EVENT_ID: usize = 128;

/// The two ends of a route, as much as a carrier needs to price it. No names,
/// streets or phones: those stay on the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The country the parcels leave from.
    pub origin_country: CountryCode,
    /// The postal code they leave from; empty where the country has none.
    pub origin_postal_code: String,
    /// The country they go to.
    pub destination_country: CountryCode,
    /// The postal code they go to; empty where the country has none.
    pub destination_postal_code: String,
}

/// One price a carrier offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierRate {
    /// The service level the product delivers.
    pub service_level: ServiceLevel,
    /// The carrier's product name, e.g. "Express 12:00".
    pub carrier_service: String,
    /// The price of all the parcels, in minor units of `currency`.
    pub price_minor: i64,
    /// The price's ISO 4217 currency code.
    pub currency: String,
    /// End of the promised delivery day.
    pub promised_delivery_time: DateTime<Utc>,
}

/// A label purchase.
#[derive(Debug, Clone)]
pub struct LabelRequest {
    /// The shipment's own key: a retry with it returns the first label.
    pub carrier_key: String,
    /// The service level bought.
    pub service_level: ServiceLevel,
    /// Where the parcels go.
    pub route: Route,
    /// The parcels, each labelled alike.
    pub parcels: Vec<Parcel>,
    /// When the parcels are handed over, for the promised date.
    pub ship_time: DateTime<Utc>,
}

/// A bought label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoughtLabel {
    /// The carrier's tracking number, printed on the label: 1 to
    /// [`MAX_TRACKING_NUMBER`] bytes, or the label is [`CarrierError::Unusable`].
    pub tracking_number: String,
    /// A public page tracking the parcel; may be empty.
    pub tracking_url: String,
    /// What the label cost and promises.
    pub rate: CarrierRate,
}

/// Why a carrier call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier answered 5xx; retry.
    #[error("carrier server error")]
    ServerError,
    /// The carrier did not answer in time; the outcome is unknown, so the retry
    /// carries the same key.
    #[error("carrier timed out")]
    Timeout,
    /// The carrier refuses the address.
    #[error("address rejected")]
    AddressRejected {
        /// The carrier's reason; never PII.
        detail: String,
    },
    /// The carrier does not offer the service level on this route.
    #[error("service level unavailable")]
    ServiceLevelUnavailable,
    /// The carrier knows no label with this tracking number.
    #[error("label not found")]
    LabelNotFound,
    /// The carrier sold a label shipping cannot hand on: no tracking number,
    /// one over [`MAX_TRACKING_NUMBER`], or a negative price.
    #[error("carrier answer unusable")]
    Unusable,
}

/// A carrier integration.
#[tonic::async_trait]
pub trait Carrier: Send + Sync {
    /// The carrier's code, e.g. "simulator": 1 to [`MAX_CARRIER_CODE`]
    /// bytes, or the service does not start with it.
    fn code(&self) -> &str;

    /// The rates for `parcels` on `route` handed over at `ship_time`.
    async fn rates(
        &self,
        route: &Route,
        parcels: &[Parcel],
        ship_time: DateTime<Utc>,
    ) -> Result<Vec<CarrierRate>, CarrierError>;

    /// Buys a label, once per `carrier_key`.
    async fn buy_label(&self, request: &LabelRequest) -> Result<BoughtLabel, CarrierError>;

    /// Voids a label not yet used.
    async fn void_label(&self, tracking_number: &str) -> Result<(), CarrierError>;
}
