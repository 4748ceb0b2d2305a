//! Status changes for the order and returns services through the platform's
//! outbox: a shipment change queues its report with the change, and
//! [`StatusCourier`] delivers it until the receiver accepts it.
//!
//! - OUTBOUND shipments: OrderService.MarkStatus, whose natural key (the event
//!   id, also the outbox key) makes a repeated delivery change nothing.
//! - RETURN shipments: ReturnsService.MarkReturnInTransit when the parcel
//!   leaves LABEL_CREATED, naturally idempotent on the return's side.

use oms_platform::{
    client::OmsChannel,
    outbox::{Courier, Message},
};
use oms_proto::{
    order::v1::{MarkStatusRequest, order_service_client::OrderServiceClient},
    returns::v1::{MarkReturnInTransitRequest, returns_service_client::ReturnsServiceClient},
};

/// The topic of order status changes; the key is the MarkStatus event id,
/// e.g. "shipment:<shipment_id>:<carrier_event_id>".
pub const MARK_STATUS: &str = "oms.order.v1.OrderService/MarkStatus";
/// The topic of return parcels picked up; the key is "shipment:<shipment_id>".
pub const MARK_RETURN_IN_TRANSIT: &str = "oms.returns.v1.ReturnsService/MarkReturnInTransit";

/// Delivers status changes to the order and returns services.
pub struct StatusCourier {
    orders: OrderServiceClient<OmsChannel>,
    returns: ReturnsServiceClient<OmsChannel>,
}

impl StatusCourier {
    /// A courier calling the order and returns services through these clients.
    pub fn new(
        orders: OrderServiceClient<OmsChannel>,
        returns: ReturnsServiceClient<OmsChannel>,
    ) -> StatusCourier {
        StatusCourier { orders, returns }
    }
}

impl Courier for StatusCourier {
    type Receipt = ();

    async fn send(&self, message: &Message) -> Result<(), tonic::Status> {
        match message.topic.as_str() {
            MARK_STATUS => {
                let mut request: MarkStatusRequest = message.decode()?;
                // The courier reads only whether the call succeeded.
                request.omit_order = true;
                self.orders.clone().mark_status(request).await?;
            }
            MARK_RETURN_IN_TRANSIT => {
                let request: MarkReturnInTransitRequest = message.decode()?;
                self.returns.clone().mark_return_in_transit(request).await?;
            }
            _ => return Err(message.unknown_topic()),
        }
        Ok(())
    }
}
