//! Starting the order service for a test, a saga coordinator stand-in that
//! records the starts it receives, and requests to place.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use oms_order::{Config, run};
use oms_platform::{client::OmsChannel, config::Service, server::GrpcServer};
use oms_proto::{
    common::v1::{
        Actor, ActorKind, Address, CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption,
        GeoPoint, LineItem, Money, PaymentMethod, ServiceLevel, payment_method::Method,
    },
    order::v1::{Customer, PlaceOrderRequest, order_service_client::OrderServiceClient},
    saga::v1::{
        self as saga, Saga, SagaKind, SagaState,
        saga_service_server::{SagaService, SagaServiceServer},
    },
};
pub use oms_testkit::status::{bad_fields, reason};
use oms_testkit::{TestDatabase, TestServer, client_config, server_config};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

pub type Client = OrderServiceClient<OmsChannel>;

/// An order service with a fresh database, whose saga coordinator is expected
/// at `saga_address` (nothing need listen there).
pub struct TestOrders {
    pub db: TestDatabase,
    pub server: TestServer,
    pub saga_address: SocketAddr,
}

impl TestOrders {
    pub async fn start() -> TestOrders {
        // A free port for the coordinator, released so that it stays closed
        // until a test starts a coordinator on it.
        let saga_address = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let db = TestDatabase::create().await;
        let mut client = client_config();
        client.peers.insert(Service::Saga, saga_address.to_string());
        let config = Config {
            server: server_config(),
            database: db.config(),
            client,
            outbox_poll: Duration::from_millis(50),
        };
        let server = TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await;
        TestOrders {
            db,
            server,
            saga_address,
        }
    }

    pub fn client(&self) -> Client {
        OrderServiceClient::new(self.server.channel())
    }

    /// Starts the coordinator stand-in on the address the service calls.
    pub async fn start_coordinator(&self) -> (Coordinator, CancellationToken) {
        let listener = TcpListener::bind(self.saga_address)
            .await
            .expect("the coordinator's port is free");
        let coordinator = Coordinator::default();
        let shutdown = CancellationToken::new();
        let server = GrpcServer::new(&server_config())
            .add_service(SagaServiceServer::new(coordinator.clone()));
        tokio::spawn(server.serve(listener, shutdown.clone()));
        (coordinator, shutdown)
    }

    pub async fn stop(self) {
        self.server.stop().await.expect("a clean stop");
    }
}

/// A saga coordinator of the saga contract that records every start: one saga
/// per order and kind, as the real one's natural key does.
#[derive(Clone, Default)]
pub struct Coordinator {
    /// Calls received, per (kind, order id).
    pub calls: Arc<Mutex<HashMap<(i32, String), u32>>>,
}

impl Coordinator {
    pub fn calls(&self, kind: SagaKind, order_id: &str) -> u32 {
        let calls = self.calls.lock().unwrap();
        calls
            .get(&(kind as i32, order_id.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    fn start(&self, kind: SagaKind, order_id: &str) -> (Saga, bool) {
        let mut calls = self.calls.lock().unwrap();
        let count = calls.entry((kind as i32, order_id.to_owned())).or_insert(0);
        *count += 1;
        let saga = Saga {
            saga_id: format!("saga-{}-{order_id}", kind as i32),
            kind: kind as i32,
            state: SagaState::Running as i32,
            order_id: order_id.to_owned(),
            ..Default::default()
        };
        (saga, *count == 1)
    }
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
        _: Request<saga::StartReturnSagaRequest>,
    ) -> Result<Response<saga::StartReturnSagaResponse>, Status> {
        Err(Status::unimplemented("not part of the test"))
    }

    async fn get_saga(
        &self,
        _: Request<saga::GetSagaRequest>,
    ) -> Result<Response<saga::GetSagaResponse>, Status> {
        Err(Status::unimplemented("not part of the test"))
    }

    async fn list_sagas(
        &self,
        _: Request<saga::ListSagasRequest>,
    ) -> Result<Response<saga::ListSagasResponse>, Status> {
        Err(Status::unimplemented("not part of the test"))
    }

    async fn retry_saga(
        &self,
        _: Request<saga::RetrySagaRequest>,
    ) -> Result<Response<saga::RetrySagaResponse>, Status> {
        Err(Status::unimplemented("not part of the test"))
    }

    async fn compensate_saga(
        &self,
        _: Request<saga::CompensateSagaRequest>,
    ) -> Result<Response<saga::CompensateSagaResponse>, Status> {
        Err(Status::unimplemented("not part of the test"))
    }
}

pub fn money(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-7".into(),
    }
}

/// A web order of two lines shipped to Berlin, paid by card token.
pub fn web_order(reference: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        channel: Some(Channel {
            kind: ChannelKind::Web as i32,
            name: String::new(),
        }),
        external_reference: reference.into(),
        customer: Some(Customer {
            name: "Ada Lovelace".into(),
            email: " Ada@Example.com ".into(),
            phone: "+49 30 1234567".into(),
        }),
        shipping_address: Some(Address {
            recipient_name: "Ada Lovelace".into(),
            lines: vec!["Unter den Linden 77".into()],
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10117".into(),
            country_code: "DE".into(),
            geo: Some(GeoPoint {
                latitude: 52.5163,
                longitude: 13.3777,
            }),
            ..Default::default()
        }),
        lines: vec![
            LineItem {
                sku: "TEE-M".into(),
                quantity: 2,
                unit_price: money(1999),
            },
            LineItem {
                sku: "CAP".into(),
                quantity: 1,
                unit_price: money(1500),
            },
        ],
        currency_code: "EUR".into(),
        delivery_option: Some(DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            service_level: ServiceLevel::Standard as i32,
            pickup_location_id: String::new(),
        }),
        shipping_price: money(495),
        payment_method: Some(PaymentMethod {
            method: Some(Method::Card(CardToken {
                token: "tok_visa_4242".into(),
            })),
        }),
        notes: vec!["leave at the door".into()],
        tags: vec!["VIP".into(), "vip".into(), "gift".into()],
        place_time: None,
        actor: None,
        exchange: None,
    }
}
