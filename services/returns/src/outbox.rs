//! Return saga starts through the platform's outbox: an approval queues
//! StartReturnSaga with the change, [`SagaCourier`] delivers it until the
//! coordinator accepts it. The coordinator's natural key (the return id) makes
//! a repeated start create nothing.

use oms_platform::{
    client::OmsChannel,
    outbox::{AcceptError, Courier, Message},
};
use oms_proto::saga::v1::{StartReturnSagaRequest, saga_service_client::SagaServiceClient};
use sqlx::PgConnection;

/// The topic of return saga starts; the key is the return id.
pub const START_RETURN_SAGA: &str = "oms.saga.v1.SagaService/StartReturnSaga";

/// Delivers return saga starts to the coordinator.
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
        if message.topic != START_RETURN_SAGA {
            return Err(message.unknown_topic());
        }
        let saga = self
            .saga
            .clone()
            .start_return_saga(message.decode::<StartReturnSagaRequest>()?)
            .await?
            .into_inner()
            .saga;
        Ok(saga.map(|saga| saga.saga_id).unwrap_or_default())
    }

    /// The return's timeline shows status changes only; the saga is found by
    /// the return id (SagaService.ListSagas), so only the log records it.
    async fn accepted(
        &self,
        _tx: &mut PgConnection,
        message: &Message,
        saga_id: String,
    ) -> Result<(), AcceptError> {
        tracing::info!(return_id = %message.key, %saga_id, "return saga started");
        Ok(())
    }
}
