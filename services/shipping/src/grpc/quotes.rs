//! QuoteRates: every carrier's rates for the parcels on the route, cheapest
//! first. A carrier that fails is listed as unavailable; the call fails only
//! when no carrier could answer, or every answer rejected the address.

use chrono::Utc;
use oms_platform::{convert::time, error::FieldViolations};
use oms_proto::{common::v1 as common, shipping::v1 as pb};

use super::{ShippingApi, convert};
use crate::{carrier::CarrierError, domain::parcel::ServiceLevel, error::ShippingError};

impl ShippingApi {
    /// Every carrier's rates for the request's parcels and route.
    pub(super) async fn quote_rates(
        &self,
        request: &pb::QuoteRatesRequest,
    ) -> Result<pb::QuoteRatesResponse, ShippingError> {
        let mut violations = FieldViolations::new();
        convert::location_id(&mut violations, "location_id", &request.location_id);
        let destination = convert::address(
            &mut violations,
            "destination",
            request.destination.as_ref(),
            false,
        );
        if request.origin.is_some() {
            convert::address(&mut violations, "origin", request.origin.as_ref(), false);
        }
        let parcels = convert::parcels(&mut violations, &request.parcels);
        let mut levels = Vec::new();
        for (i, code) in request.service_levels.iter().enumerate() {
            match ServiceLevel::from_code(*code) {
                Some(level) => levels.push(level),
                None => violations.add(
                    format!("service_levels[{i}]"),
                    "must be a service level of the enum",
                ),
            }
        }
        let ship_time = match request.ship_time.as_ref() {
            Some(ship_time) => time(&mut violations, "ship_time", Some(ship_time)),
            None => Some(Utc::now()),
        };
        let (Some(destination_country), Some(ship_time), true) =
            (destination, ship_time, violations.is_empty())
        else {
            return Err(ShippingError::Invalid(violations));
        };
        let origin = self
            .location_address(&request.location_id, request.origin.as_ref())
            .await?;
        let Some(origin_country) =
            convert::address(&mut violations, "origin", Some(&origin), false)
        else {
            return Err(ShippingError::Invalid(violations));
        };
        let route = convert::route(
            &origin,
            origin_country,
            request
                .destination
                .as_ref()
                .unwrap_or(&common::Address::default()),
            destination_country,
        );

        let mut rates = Vec::new();
        let mut unavailable = Vec::new();
        let mut rejected = None;
        for carrier in self.carriers.all() {
            match self
                .carriers
                .rates(carrier.as_ref(), &route, &parcels, ship_time)
                .await
            {
                Ok(offered) => rates.extend(
                    offered
                        .into_iter()
                        .map(|rate| (carrier.code().to_owned(), rate)),
                ),
                Err(CarrierError::AddressRejected { detail }) => {
                    rejected = Some((carrier.code().to_owned(), detail));
                }
                Err(_) => unavailable.push(carrier.code().to_owned()),
            }
        }
        if rates.is_empty() {
            if unavailable.len() == self.carriers.all().len() {
                return Err(ShippingError::ProviderUnavailable {
                    provider: unavailable.join(","),
                });
            }
            if let (Some((carrier, detail)), true) = (rejected, unavailable.is_empty()) {
                return Err(ShippingError::AddressRejected { carrier, detail });
            }
        }
        rates.retain(|(_, rate)| levels.is_empty() || levels.contains(&rate.service_level));
        rates.sort_by_key(|(_, rate)| rate.price_minor);
        Ok(pb::QuoteRatesResponse {
            rates: rates
                .into_iter()
                .map(|(carrier, rate)| convert::rate(carrier, rate))
                .collect(),
            unavailable_carriers: unavailable,
        })
    }
}
