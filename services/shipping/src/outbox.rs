//! Status changes for the order service through the platform's outbox: a
//! shipment change queues its MarkStatus with the change, [`OrderCourier`]
//! delivers it until the order service accepts it. MarkStatus's natural key
//! (the event id, also the outbox key) makes a repeated delivery change nothing.

use oms_platform::{
    client::OmsChannel,
    outbox::{Courier, Message},
};
use oms_proto::order::v1::{MarkStatusRequest, order_service_client::OrderServiceClient};
use prost::Message as _;
use sqlx::PgConnection;

/// The topic of status changes; the key is the MarkStatus event id,
/// e.g. "shipment:<shipment_id>:<carrier_event_id>".
pub const MARK_STATUS: &str = "oms.order.v1.OrderService/MarkStatus";

/// Delivers status changes to the order service.
pub struct OrderCourier {
    orders: OrderServiceClient<OmsChannel>,
}

impl OrderCourier {
    pub fn new(orders: OrderServiceClient<OmsChannel>) -> OrderCourier {
        OrderCourier { orders }
    }
}

impl Courier for OrderCourier {
    type Receipt = ();

    async fn send(&mut self, message: &Message) -> Result<(), tonic::Status> {
        let request = MarkStatusRequest::decode(message.payload.as_slice())
            .map_err(|_| tonic::Status::internal("undecodable outbox message"))?;
        self.orders.mark_status(request).await?;
        Ok(())
    }

    async fn accepted(
        &mut self,
        _tx: &mut PgConnection,
        _message: &Message,
        (): (),
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Ok(())
    }
}
