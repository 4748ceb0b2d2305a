//! What routing reads from the inventory service: its locations, the
//! availability of the order's SKUs, and how many orders each location took
//! today. Read-only calls, safe to retry; a failure is
//! [`RoutingError::Inventory`] and reaches the caller as UNAVAILABLE.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use oms_platform::client::OmsChannel;
use oms_proto::{
    common::v1::PageRequest,
    inventory::v1::{
        GetAvailabilityRequest, GetAvailabilityResponse, GetLocationLoadRequest,
        GetLocationRequest, ListLocationsRequest, Location, LocationLoadQuery,
        inventory_service_client::InventoryServiceClient,
    },
};
use tonic::Code;

use crate::{
    domain::{LocationId, Sku},
    error::RoutingError,
};

/// ListLocations' largest page.
const LOCATIONS_PAGE: i32 = 500;
/// GetLocationLoad's most queries per call.
const LOAD_QUERIES: usize = 5000;

/// A client of the inventory service.
#[derive(Clone)]
pub struct Inventory {
    client: InventoryServiceClient<OmsChannel>,
}

impl Inventory {
    /// Calls go through `channel` (see `oms_platform::client::peer_channel`).
    pub fn new(channel: OmsChannel) -> Inventory {
        Inventory {
            client: InventoryServiceClient::new(channel),
        }
    }

    /// Every location inventory knows, active or not, by location id.
    pub async fn locations(&self) -> Result<Vec<Location>, RoutingError> {
        let mut client = self.client.clone();
        let mut locations = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = client
                .list_locations(ListLocationsRequest {
                    page: Some(PageRequest {
                        page_size: LOCATIONS_PAGE,
                        page_token,
                    }),
                    ..Default::default()
                })
                .await
                .map_err(RoutingError::Inventory)?
                .into_inner();
            locations.extend(page.locations);
            page_token = page
                .page
                .map(|page| page.next_page_token)
                .unwrap_or_default();
            if page_token.is_empty() {
                return Ok(locations);
            }
        }
    }

    /// Availability of `skus` at every active location.
    pub async fn availability(
        &self,
        skus: &[&Sku],
    ) -> Result<GetAvailabilityResponse, RoutingError> {
        let request = GetAvailabilityRequest {
            skus: skus.iter().map(|sku| sku.as_str().to_owned()).collect(),
            location_ids: Vec::new(),
            channel: None,
        };
        Ok(self
            .client
            .clone()
            .get_availability(request)
            .await
            .map_err(RoutingError::Inventory)?
            .into_inner())
    }

    /// Orders reserved at each location since the given time, by location id.
    pub async fn orders_since(
        &self,
        queries: &[(&str, DateTime<Utc>)],
    ) -> Result<HashMap<String, u32>, RoutingError> {
        let mut client = self.client.clone();
        let mut orders = HashMap::new();
        for chunk in queries.chunks(LOAD_QUERIES) {
            let request = GetLocationLoadRequest {
                queries: chunk
                    .iter()
                    .map(|(location_id, since)| LocationLoadQuery {
                        location_id: (*location_id).to_owned(),
                        since: Some(prost_types::Timestamp {
                            seconds: since.timestamp(),
                            nanos: 0,
                        }),
                    })
                    .collect(),
            };
            let loads = client
                .get_location_load(request)
                .await
                .map_err(RoutingError::Inventory)?
                .into_inner()
                .loads;
            for load in loads {
                orders.insert(load.location_id, u32::try_from(load.orders).unwrap_or(0));
            }
        }
        Ok(orders)
    }

    /// True when inventory knows the location.
    pub async fn location_exists(&self, location_id: &LocationId) -> Result<bool, RoutingError> {
        let request = GetLocationRequest {
            location_id: location_id.as_str().to_owned(),
        };
        match self.client.clone().get_location(request).await {
            Ok(_) => Ok(true),
            Err(status) if status.code() == Code::NotFound => Ok(false),
            Err(status) => Err(RoutingError::Inventory(status)),
        }
    }
}
