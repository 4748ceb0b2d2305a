//! The carriers the service buys from: every call under the carrier timeout
//! (no answer in time is a [`CarrierError::Timeout`], an unknown outcome), the
//! choice of carrier for a shipment, and carrier errors as service errors.

use std::{future::Future, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::{
    carrier::{
        BoughtLabel, Carrier, CarrierError, CarrierRate, LabelRequest, MAX_TRACKING_NUMBER, Route,
    },
    domain::parcel::{Parcel, ServiceLevel},
    error::ShippingError,
};

/// The configured carriers and how long each call may take.
pub struct Carriers {
    carriers: Vec<Arc<dyn Carrier>>,
    timeout: Duration,
}

/// What a carrier is asked to ship: enough to choose one and to name the
/// shipment in its errors.
pub struct Wanted<'a> {
    pub service_level: ServiceLevel,
    pub location_id: &'a str,
    pub parcels: &'a [Parcel],
    /// The carrier the caller named, if any.
    pub carrier: Option<&'a str>,
}

impl Carriers {
    /// The carriers, each call to them within `timeout`.
    pub fn new(carriers: Vec<Arc<dyn Carrier>>, timeout: Duration) -> Carriers {
        Carriers { carriers, timeout }
    }

    /// Every carrier, in configured order.
    pub fn all(&self) -> &[Arc<dyn Carrier>] {
        &self.carriers
    }

    /// The carrier with this code.
    pub fn find(&self, code: &str) -> Result<&Arc<dyn Carrier>, ShippingError> {
        self.carriers
            .iter()
            .find(|carrier| carrier.code() == code)
            .ok_or_else(|| ShippingError::CarrierNotFound(code.to_owned()))
    }

    async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, CarrierError>>,
    ) -> Result<T, CarrierError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(CarrierError::Timeout))
    }

    /// The rates `carrier` offers.
    pub async fn rates(
        &self,
        carrier: &dyn Carrier,
        route: &Route,
        parcels: &[Parcel],
        ship_time: DateTime<Utc>,
    ) -> Result<Vec<CarrierRate>, CarrierError> {
        self.within(carrier.rates(route, parcels, ship_time)).await
    }

    /// Buys a label from `carrier`; a label shipping could not hand on to the
    /// order and returns services is [`CarrierError::Unusable`].
    pub async fn buy_label(
        &self,
        carrier: &dyn Carrier,
        request: &LabelRequest,
    ) -> Result<BoughtLabel, CarrierError> {
        let label = self.within(carrier.buy_label(request)).await?;
        let tracking_number = label.tracking_number.len();
        if !(1..=MAX_TRACKING_NUMBER).contains(&tracking_number) || label.rate.price_minor < 0 {
            tracing::warn!(
                carrier = carrier.code(),
                tracking_number,
                price_minor = label.rate.price_minor,
                "carrier: a label shipping cannot use"
            );
            return Err(CarrierError::Unusable);
        }
        Ok(label)
    }

    /// Voids a label of `carrier`.
    pub async fn void_label(
        &self,
        carrier: &dyn Carrier,
        tracking_number: &str,
    ) -> Result<(), CarrierError> {
        self.within(carrier.void_label(tracking_number)).await
    }

    /// The carrier to buy from: the one named, or the cheapest offering the level.
    pub async fn choose(
        &self,
        wanted: &Wanted<'_>,
        route: &Route,
    ) -> Result<Arc<dyn Carrier>, ShippingError> {
        if let Some(code) = wanted.carrier {
            return Ok(self.find(code)?.clone());
        }
        let mut best: Option<(i64, &Arc<dyn Carrier>)> = None;
        let mut last_error = None;
        for carrier in &self.carriers {
            match self
                .rates(carrier.as_ref(), route, wanted.parcels, Utc::now())
                .await
            {
                Ok(rates) => {
                    for rate in rates
                        .iter()
                        .filter(|r| r.service_level == wanted.service_level)
                    {
                        if best.is_none_or(|(price, _)| rate.price_minor < price) {
                            best = Some((rate.price_minor, carrier));
                        }
                    }
                }
                Err(err) => last_error = Some((carrier.code().to_owned(), err)),
            }
        }
        match (best, last_error) {
            (Some((_, carrier)), _) => Ok(carrier.clone()),
            (None, Some((code, err @ (CarrierError::ServerError | CarrierError::Timeout))))
                if self.carriers.len() == 1 =>
            {
                Err(wanted.error(&code, err))
            }
            (None, Some((code, err @ CarrierError::AddressRejected { .. }))) => {
                Err(wanted.error(&code, err))
            }
            (None, _) => Err(wanted.unavailable()),
        }
    }
}

impl Wanted<'_> {
    /// A carrier's refusal of this shipment as a service error.
    pub fn error(&self, carrier: &str, err: CarrierError) -> ShippingError {
        match err {
            // A label the carrier does not know comes only from a void.
            CarrierError::ServerError
            | CarrierError::Timeout
            | CarrierError::LabelNotFound
            | CarrierError::Unusable => {
                tracing::warn!(carrier, error = %err, "carrier call failed");
                ShippingError::ProviderUnavailable {
                    provider: carrier.to_owned(),
                }
            }
            CarrierError::AddressRejected { detail } => ShippingError::AddressRejected {
                carrier: carrier.to_owned(),
                detail,
            },
            CarrierError::ServiceLevelUnavailable => self.unavailable(),
        }
    }

    fn unavailable(&self) -> ShippingError {
        ShippingError::ServiceLevelUnavailable {
            service_level: self.service_level,
            location_id: self.location_id.to_owned(),
        }
    }
}
