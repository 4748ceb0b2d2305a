//! The gRPC face of the shipping service: this module is the thin
//! `ShippingService` impl; each RPC's steps live with their concern. Proto
//! types stop here.
//!
//! - `convert`: request validation and stored shipments as contract messages.
//! - `carriers`: carrier calls under a deadline and the choice of carrier.
//! - `quotes`: the QuoteRates RPC.
//! - `shipments`: CreateShipment, CreateReturnLabel, CancelShipment,
//!   GetShipment, ListShipments. A create buys the label first (keyed by the
//!   shipment's natural key, so a retry never buys a second one) and then writes
//!   the shipment in one transaction under the key's lock.
//! - `tracking`: the RecordTrackingEvent RPC.
//! - `labels`: the label and packing slip of a shipment.
//! - `bulk`: CreateShipments, a bulk label run with one combined file.
//! - `reports`: what the order and returns services hear, queued in the outbox
//!   in the transaction of the change (a cancel, a tracking event).

mod bulk;
mod carriers;
mod convert;
mod labels;
mod quotes;
mod reports;
mod shipments;
mod tracking;

use std::{sync::Arc, time::Duration};

use oms_platform::client::OmsChannel;
use oms_proto::{
    common::v1 as common,
    inventory::v1::{GetLocationRequest, inventory_service_client::InventoryServiceClient},
    shipping::v1::{self as pb, shipping_service_server::ShippingService},
};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use self::carriers::Carriers;
use crate::{carrier::Carrier, documents::Fonts, error::ShippingError, store::Store};

/// The shipping service.
pub struct ShippingApi {
    store: Store,
    inventory: InventoryServiceClient<OmsChannel>,
    carriers: Carriers,
    /// What labels and packing slips are set in.
    fonts: Arc<Fonts>,
    /// Wakes the outbox dispatcher after a report was queued.
    wake: Arc<Notify>,
}

impl ShippingApi {
    /// The service over its store, the inventory service (for location
    /// addresses) and the carriers it buys from, each call within
    /// `carrier_timeout`; its documents are set in `fonts`.
    pub fn new(
        store: Store,
        inventory: InventoryServiceClient<OmsChannel>,
        carriers: Vec<Arc<dyn Carrier>>,
        carrier_timeout: Duration,
        fonts: Arc<Fonts>,
        wake: Arc<Notify>,
    ) -> ShippingApi {
        ShippingApi {
            store,
            inventory,
            carriers: Carriers::new(carriers, carrier_timeout),
            fonts,
            wake,
        }
    }

    /// The address of a location: the one given, else the one inventory holds.
    async fn location_address(
        &self,
        location_id: &str,
        given: Option<&common::Address>,
    ) -> Result<common::Address, ShippingError> {
        if let Some(address) = given {
            return Ok(address.clone());
        }
        let response = self
            .inventory
            .clone()
            .get_location(GetLocationRequest {
                location_id: location_id.to_owned(),
            })
            .await;
        match response {
            Ok(response) => Ok(response
                .into_inner()
                .location
                .and_then(|location| location.address)
                .unwrap_or_default()),
            Err(status) if status.code() == tonic::Code::NotFound => {
                Err(ShippingError::LocationNotFound(location_id.to_owned()))
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "inventory: location lookup failed");
                Err(ShippingError::InventoryUnavailable)
            }
        }
    }
}

fn respond<T>(result: Result<T, ShippingError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl ShippingService for ShippingApi {
    async fn quote_rates(
        &self,
        request: Request<pb::QuoteRatesRequest>,
    ) -> Result<Response<pb::QuoteRatesResponse>, Status> {
        respond(self.quote_rates(request.get_ref()).await)
    }

    async fn create_shipment(
        &self,
        request: Request<pb::CreateShipmentRequest>,
    ) -> Result<Response<pb::CreateShipmentResponse>, Status> {
        let new = shipments::outbound(request.get_ref());
        respond(
            self.create_shipment(new, !request.get_ref().omit_documents)
                .await
                .map(|shipment| pb::CreateShipmentResponse {
                    shipment: Some(shipment),
                }),
        )
    }

    async fn create_shipments(
        &self,
        request: Request<pb::CreateShipmentsRequest>,
    ) -> Result<Response<pb::CreateShipmentsResponse>, Status> {
        respond(self.create_shipments(request.into_inner().requests).await)
    }

    async fn cancel_shipment(
        &self,
        request: Request<pb::CancelShipmentRequest>,
    ) -> Result<Response<pb::CancelShipmentResponse>, Status> {
        respond(
            self.cancel_shipment(request.get_ref())
                .await
                .map(|shipment| pb::CancelShipmentResponse { shipment }),
        )
    }

    async fn create_return_label(
        &self,
        request: Request<pb::CreateReturnLabelRequest>,
    ) -> Result<Response<pb::CreateReturnLabelResponse>, Status> {
        let new = shipments::return_label(request.get_ref());
        respond(self.create_shipment(new, true).await.map(|shipment| {
            pb::CreateReturnLabelResponse {
                shipment: Some(shipment),
            }
        }))
    }

    async fn record_tracking_event(
        &self,
        request: Request<pb::RecordTrackingEventRequest>,
    ) -> Result<Response<pb::RecordTrackingEventResponse>, Status> {
        respond(self.record_tracking_event(request.get_ref()).await)
    }

    async fn get_shipment(
        &self,
        request: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::GetShipmentResponse>, Status> {
        respond(
            self.get_shipment(&request.get_ref().shipment_id)
                .await
                .map(|shipment| pb::GetShipmentResponse {
                    shipment: Some(shipment),
                }),
        )
    }

    async fn list_shipments(
        &self,
        request: Request<pb::ListShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsResponse>, Status> {
        respond(self.list_shipments(request.into_inner()).await)
    }
}
