//! Saga starts through the platform's outbox: CancelOrder and PlaceOrder queue
//! them with the order change, [`SagaCourier`] delivers them to the saga
//! coordinator until it accepts each one. The coordinator's natural key (the
//! order id, with the cancellation's number for a cancel) makes a repeated
//! start create nothing.

use oms_platform::{
    client::OmsChannel,
    outbox::{AcceptError, Courier, Message},
};
use oms_proto::saga::v1::{
    StartCancelSagaRequest, StartOrderSagaRequest, saga_service_client::SagaServiceClient,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    domain::{
        Actor,
        timeline::{Event, EventKind, RefKind},
    },
    store::orders::{START_CANCEL_SAGA, START_ORDER_SAGA, record_event},
};

/// Delivers saga starts to the coordinator.
pub struct SagaCourier {
    saga: SagaServiceClient<OmsChannel>,
}

impl SagaCourier {
    /// A courier calling the coordinator through `saga`.
    pub fn new(saga: SagaServiceClient<OmsChannel>) -> SagaCourier {
        SagaCourier { saga }
    }
}

impl Courier for SagaCourier {
    /// The saga id the coordinator answered with.
    type Receipt = String;

    async fn send(&self, message: &Message) -> Result<String, tonic::Status> {
        let mut saga = self.saga.clone();
        let saga = match message.topic.as_str() {
            START_ORDER_SAGA => {
                let request: StartOrderSagaRequest = message.decode()?;
                saga.start_order_saga(request).await?.into_inner().saga
            }
            START_CANCEL_SAGA => {
                let request: StartCancelSagaRequest = message.decode()?;
                saga.start_cancel_saga(request).await?.into_inner().saga
            }
            _ => return Err(message.unknown_topic()),
        };
        Ok(saga.map(|saga| saga.saga_id).unwrap_or_default())
    }

    /// Records the saga on the order (the fulfilment saga's id) and a
    /// SAGA_STARTED event on its timeline.
    async fn accepted(
        &self,
        tx: &mut PgConnection,
        message: &Message,
        saga_id: String,
    ) -> Result<(), AcceptError> {
        // A partial cancellation's key is "<order id>:<cancellation>".
        let order_id = message.key.split(':').next().unwrap_or_default();
        let order_id = Uuid::parse_str(order_id)?;
        if message.topic == START_ORDER_SAGA {
            sqlx::query("UPDATE orders SET saga_id = $2, update_time = now() WHERE order_id = $1")
                .bind(order_id)
                .bind(&saga_id)
                .execute(&mut *tx)
                .await?;
        }
        let mut event = Event::by(EventKind::SagaStarted, Actor::system("oms-order"));
        event.references.push((RefKind::SagaId, saga_id));
        record_event(tx, order_id, &event).await?;
        Ok(())
    }
}
