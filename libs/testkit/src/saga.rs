//! A saga coordinator stand-in on the saga contract, for the services that
//! start sagas through their outbox: it records every start it receives and
//! answers as the real coordinator's natural keys do (one saga per kind and
//! order or return), so a test can count deliveries.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use oms_platform::server::GrpcServer;
use oms_proto::saga::v1::{
    self as saga, Saga, SagaKind, SagaState,
    saga_service_server::{SagaService, SagaServiceServer},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{ReservedPort, server_config};

/// Starts received per (kind, order or return id): how many, and when the
/// first arrived.
type Starts = HashMap<(i32, String), (u32, Instant)>;

/// The stand-in. Clones share what they recorded.
#[derive(Clone, Default)]
pub struct Coordinator {
    /// Starts received, per (kind, order or return id), and when the first
    /// arrived.
    calls: Arc<Mutex<Starts>>,
}

impl Coordinator {
    /// Serves a new stand-in on `port`, which services under test were
    /// configured with, until the token is cancelled.
    pub async fn serve(port: ReservedPort) -> (Coordinator, CancellationToken) {
        Coordinator::serve_on(port.listen())
    }

    /// Serves a new stand-in on `listener` until the token is cancelled.
    pub fn serve_on(listener: TcpListener) -> (Coordinator, CancellationToken) {
        let coordinator = Coordinator::default();
        let shutdown = CancellationToken::new();
        let server = GrpcServer::new(&server_config())
            .add_service(SagaServiceServer::new(coordinator.clone()));
        tokio::spawn(server.serve(listener, shutdown.clone()));
        (coordinator, shutdown)
    }

    /// How many starts of `kind` for `id` (an order id, or a return id for
    /// return sagas) arrived.
    pub fn calls(&self, kind: SagaKind, id: &str) -> u32 {
        let calls = self.calls.lock().unwrap();
        calls
            .get(&(kind as i32, id.to_owned()))
            .map_or(0, |(count, _)| *count)
    }

    /// When the first start of `kind` for `id` arrived, if one did.
    pub fn first_arrival(&self, kind: SagaKind, id: &str) -> Option<Instant> {
        let calls = self.calls.lock().unwrap();
        calls
            .get(&(kind as i32, id.to_owned()))
            .map(|(_, first)| *first)
    }

    fn start(&self, kind: SagaKind, id: &str) -> (Saga, bool) {
        let mut calls = self.calls.lock().unwrap();
        let (count, _) = calls
            .entry((kind as i32, id.to_owned()))
            .or_insert((0, Instant::now()));
        *count += 1;
        let mut saga = Saga {
            saga_id: format!("saga-{}-{id}", kind as i32),
            kind: kind as i32,
            state: SagaState::Running as i32,
            ..Default::default()
        };
        if kind == SagaKind::Return {
            saga.return_id = id.to_owned();
        } else {
            saga.order_id = id.to_owned();
        }
        (saga, *count == 1)
    }
}

fn not_served() -> Status {
    Status::unimplemented("the stand-in only records saga starts")
}

#[tonic::async_trait]
impl SagaService for Coordinator {
    async fn start_order_saga(
        &self,
        request: Request<saga::StartOrderSagaRequest>,
    ) -> Result<Response<saga::StartOrderSagaResponse>, Status> {
        let (saga, created) = self.start(SagaKind::Order, &request.into_inner().order_id);
        Ok(Response::new(saga::StartOrderSagaResponse {
            saga: Some(saga),
            created,
        }))
    }

    async fn start_cancel_saga(
        &self,
        request: Request<saga::StartCancelSagaRequest>,
    ) -> Result<Response<saga::StartCancelSagaResponse>, Status> {
        let (saga, created) = self.start(SagaKind::Cancel, &request.into_inner().order_id);
        Ok(Response::new(saga::StartCancelSagaResponse {
            saga: Some(saga),
            created,
        }))
    }

    async fn start_return_saga(
        &self,
        request: Request<saga::StartReturnSagaRequest>,
    ) -> Result<Response<saga::StartReturnSagaResponse>, Status> {
        let (saga, created) = self.start(SagaKind::Return, &request.into_inner().return_id);
        Ok(Response::new(saga::StartReturnSagaResponse {
            saga: Some(saga),
            created,
        }))
    }

    async fn get_saga(
        &self,
        _: Request<saga::GetSagaRequest>,
    ) -> Result<Response<saga::GetSagaResponse>, Status> {
        Err(not_served())
    }

    async fn list_sagas(
        &self,
        _: Request<saga::ListSagasRequest>,
    ) -> Result<Response<saga::ListSagasResponse>, Status> {
        Err(not_served())
    }

    async fn retry_saga(
        &self,
        _: Request<saga::RetrySagaRequest>,
    ) -> Result<Response<saga::RetrySagaResponse>, Status> {
        Err(not_served())
    }

    async fn compensate_saga(
        &self,
        _: Request<saga::CompensateSagaRequest>,
    ) -> Result<Response<saga::CompensateSagaResponse>, Status> {
        Err(not_served())
    }
}
