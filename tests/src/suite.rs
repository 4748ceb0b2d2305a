//! [`Suite`]: every service of the OMS on port 0 in the test's process, each
//! with a fresh database, wired to each other, with a typed client per
//! service.
//!
//! Each service starts through its own test starter on a port reserved first,
//! so that every peer address is known before any service starts. The saga
//! coordinator runs when [`Settings::saga`] asks for it; otherwise its address
//! is a port the suite holds without listening, so the order and returns
//! outboxes find it down and retry, as they would in production while it is
//! (and a test may start a coordinator there itself, e.g. a process to kill).
//!
//! The suite runs in plaintext unless [`Settings::tls`] asks for mutual TLS:
//! then a CA made for the suite signs a certificate for each service, which
//! it serves and calls its peers with, and the test's clients call as the
//! `operator` ([`Suite::caller_as`] and [`Suite::clients_as`] make others).
//! With [`Settings::tokens`] every service verifies bearer tokens signed by a
//! key made for the suite, and the test's clients carry an `operator` token
//! whose subject is [`crate::world::operator`]'s id ([`Suite::token`] signs
//! others).

use std::{net::SocketAddr, sync::Arc};

use oms_platform::{
    access::Principal,
    auth::{DevTokenKey, Role, TokenConfig, TokenRequest},
    certs::DevCa,
    config::{ClientConfig, Service, TlsConfig},
};
use oms_proto::{
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    payment::v1::payment_service_client::PaymentServiceClient,
    returns::v1::returns_service_client::ReturnsServiceClient,
    routing::v1::routing_service_client::RoutingServiceClient,
    saga::v1::saga_service_client::SagaServiceClient,
    shipping::v1::shipping_service_client::ShippingServiceClient,
};
use oms_testkit::{ReservedPort, TestService, peers, reached_with};

use crate::callers::{Caller, Clients, TestChannel};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Connections in each service's pool: the production default
/// (`OMS_DATABASE_POOL_SIZE`), so that a burst of calls meets the pool it
/// would meet in production.
pub const POOL_SIZE: u32 = 5;

/// The services, running.
pub struct Suite {
    /// oms-order.
    pub order: TestService,
    /// oms-inventory.
    pub inventory: TestService,
    /// oms-routing.
    pub routing: TestService,
    /// oms-payment.
    pub payment: TestService,
    /// oms-shipping.
    pub shipping: TestService,
    /// oms-returns.
    pub returns: TestService,
    /// oms-saga, when the suite runs it in this process.
    pub saga: Option<TestService>,
    /// Where the services expect the saga coordinator, while nothing listens
    /// there (the suite runs none, or a test starts one itself).
    saga_port: Option<ReservedPort>,
    saga_address: SocketAddr,
    /// The suite's CA, when it runs mutual TLS.
    ca: Option<Arc<DevCa>>,
    /// The key that signs the tokens the services accept, when they verify
    /// tokens.
    token_key: Option<DevTokenKey>,
    /// How the test's clients reach the services.
    caller: Caller,
    /// The test's clients: [`Suite::order`] and the others.
    clients: Clients,
}

type Tweak<C> = Box<dyn FnOnce(&mut C) + Send>;

/// What a test changes in the suite: whether the saga coordinator runs in
/// this process, and any service's test settings (faults of the simulators,
/// the coordinator's pauses and budgets).
#[derive(Default)]
pub struct Settings {
    /// Run oms-saga in this process (else its port is held, not listening).
    pub saga: bool,
    /// Changes to oms-saga's settings.
    pub saga_config: Option<Tweak<oms_saga::Config>>,
    /// Changes to oms-shipping's settings.
    pub shipping: Option<Tweak<oms_shipping::Config>>,
    /// Changes to oms-payment's settings.
    pub payment: Option<Tweak<oms_payment::Config>>,
    /// Changes to oms-inventory's settings.
    pub inventory: Option<Tweak<oms_inventory::Config>>,
    /// Every service serves and calls over mutual TLS with its own
    /// certificate of a CA made for the suite; the test's clients call as
    /// the `operator`.
    pub tls: bool,
    /// Every service verifies bearer tokens (`OMS_JWT_KEYS`) signed by a key
    /// made for the suite; the test's clients send an `operator` token.
    pub tokens: bool,
    /// Changes to oms-order's settings.
    pub order: Option<Tweak<oms_order::Config>>,
    /// Changes to oms-returns's settings.
    pub returns: Option<Tweak<oms_returns::Config>>,
}

impl Settings {
    /// The whole suite with the saga coordinator running.
    pub fn with_saga() -> Settings {
        Settings {
            saga: true,
            ..Settings::default()
        }
    }

    /// These settings, over mutual TLS.
    pub fn with_tls(self) -> Settings {
        Settings { tls: true, ..self }
    }

    /// These settings, with holds that lapse after a second and the order
    /// saga pausing two seconds before `commit_stock`: a test that takes the
    /// held stock away meanwhile (a count) gets the saga STUCK there.
    pub fn with_holds_lapsing_before_commit(self) -> Settings {
        Settings {
            saga_config: Some(Box::new(|config: &mut oms_saga::Config| {
                config.flows.reservation_ttl = std::time::Duration::from_secs(1);
                config.engine.pause = Some(oms_saga::engine::Pause {
                    step: "commit_stock".into(),
                    before: true,
                    duration: std::time::Duration::from_secs(2),
                });
            })),
            ..self
        }
    }

    /// These settings, with bearer tokens verified by every service.
    pub fn with_tokens(self) -> Settings {
        Settings {
            tokens: true,
            ..self
        }
    }
}

impl Suite {
    /// Starts the six domain services with fresh databases and returns once
    /// each reports SERVING; the saga coordinator's port is held, not
    /// listening, so outboxes find it down and retry.
    pub async fn start() -> Suite {
        Suite::start_with(Settings::default()).await
    }

    /// Starts the suite as `settings` say.
    pub async fn start_with(settings: Settings) -> Suite {
        let ports: [ReservedPort; 7] = std::array::from_fn(|_| ReservedPort::new());
        let [order, inventory, routing, payment, shipping, returns, saga] = ports;
        let saga_address = saga.address();
        let client = peers([
            (Service::Order, order.address()),
            (Service::Inventory, inventory.address()),
            (Service::Routing, routing.address()),
            (Service::Payment, payment.address()),
            (Service::Shipping, shipping.address()),
            (Service::Returns, returns.address()),
            (Service::Saga, saga_address),
        ]);
        let Settings {
            saga: run_saga,
            saga_config,
            shipping: shipping_config,
            payment: payment_config,
            inventory: inventory_config,
            tls,
            tokens,
            order: order_config,
            returns: returns_config,
        } = settings;
        let token_key = tokens.then(|| DevTokenKey::generate("e2e").expect("a signing key"));
        let verifier = token_key.as_ref().map(|key| TokenConfig {
            keys_path: "e2e".into(),
            verifier: Arc::new(key.verifier()),
        });
        let [
            order_tokens,
            inventory_tokens,
            routing_tokens,
            payment_tokens,
            shipping_tokens,
            returns_tokens,
            saga_tokens,
        ] = std::array::from_fn(|_| verifier.clone());
        let ca = tls.then(|| Arc::new(DevCa::new("oms e2e suite ca").expect("a CA")));
        let caller = match &ca {
            Some(ca) => Caller::principal(ca, Principal::Operator),
            None => Caller::plaintext(),
        };
        // Each service's certificate, which it serves and calls its peers with.
        let identity = |service: Service| match &ca {
            Some(ca) => ca
                .tls(Principal::Service(service))
                .expect("a service certificate"),
            None => TlsConfig::Off,
        };
        let [
            order_tls,
            inventory_tls,
            routing_tls,
            payment_tls,
            shipping_tls,
            returns_tls,
            saga_tls,
        ] = Service::ALL.map(identity);
        let calling_as = |tls: &TlsConfig| ClientConfig {
            tls: tls.clone(),
            ..client.clone()
        };
        let started = async {
            let (order, inventory, routing, payment, shipping, returns) = tokio::join!(
                oms_order::test_util::start(order, calling_as(&order_tls), |config| {
                    config.server.tls = order_tls;
                    config.server.tokens = order_tokens;
                    config.database.pool_size = POOL_SIZE;
                    if let Some(change) = order_config {
                        change(config);
                    }
                }),
                oms_inventory::test_util::start(inventory, |config| {
                    config.server.tls = inventory_tls;
                    config.server.tokens = inventory_tokens;
                    config.database.pool_size = POOL_SIZE;
                    if let Some(change) = inventory_config {
                        change(config);
                    }
                }),
                oms_routing::test_util::start(routing, calling_as(&routing_tls), |config| {
                    config.server.tls = routing_tls;
                    config.server.tokens = routing_tokens;
                    config.database.pool_size = POOL_SIZE;
                }),
                oms_payment::test_util::start(payment, |config| {
                    config.server.tls = payment_tls;
                    config.server.tokens = payment_tokens;
                    config.database.pool_size = POOL_SIZE;
                    if let Some(change) = payment_config {
                        change(config);
                    }
                }),
                oms_shipping::test_util::start(shipping, calling_as(&shipping_tls), |config| {
                    config.server.tls = shipping_tls;
                    config.server.tokens = shipping_tokens;
                    config.database.pool_size = POOL_SIZE;
                    if let Some(change) = shipping_config {
                        change(config);
                    }
                }),
                oms_returns::test_util::start(returns, calling_as(&returns_tls), |config| {
                    config.server.tls = returns_tls;
                    config.server.tokens = returns_tokens;
                    config.database.pool_size = POOL_SIZE;
                    if let Some(change) = returns_config {
                        change(config);
                    }
                }),
            );
            let (saga, saga_port) = if run_saga {
                let service = oms_saga::test_util::start(saga, calling_as(&saga_tls), |config| {
                    config.server.tls = saga_tls;
                    config.server.tokens = saga_tokens;
                    config.database.pool_size = POOL_SIZE;
                    if let Some(change) = saga_config {
                        change(config);
                    }
                })
                .await;
                (Some(service), None)
            } else {
                (None, Some(saga))
            };
            (
                order, inventory, routing, payment, shipping, returns, saga, saga_port,
            )
        };
        // The services' health checks, and the channels of the test's
        // clients, reach them as the test's caller does.
        let (order, inventory, routing, payment, shipping, returns, saga, saga_port) =
            reached_with(caller.config(), started).await;
        let mut suite = Suite {
            order,
            inventory,
            routing,
            payment,
            shipping,
            returns,
            saga,
            saga_port,
            saga_address,
            ca,
            token_key,
            caller,
            clients: Clients::new(std::collections::HashMap::new()),
        };
        suite.clients = Clients::new(
            suite
                .services()
                .into_iter()
                .map(|(service, running)| (service, running.channel()))
                .collect(),
        );
        if suite.token_key.is_some() {
            let operator = suite.token(&crate::world::operator().id, &[Role::Operator]);
            suite.clients = suite.clients.clone().with_token(&operator);
        }
        suite
    }

    /// Every running service with its name, in port order.
    pub fn services(&self) -> Vec<(Service, &TestService)> {
        let mut services = vec![
            (Service::Order, &self.order),
            (Service::Inventory, &self.inventory),
            (Service::Routing, &self.routing),
            (Service::Payment, &self.payment),
            (Service::Shipping, &self.shipping),
            (Service::Returns, &self.returns),
        ];
        if let Some(saga) = &self.saga {
            services.push((Service::Saga, saga));
        }
        services
    }

    /// Where the services expect the saga coordinator.
    pub fn saga_address(&self) -> std::net::SocketAddr {
        self.saga_address
    }

    /// The held port of the saga coordinator, for a test that starts one
    /// itself (e.g. as a child process it can kill); `None` when the suite
    /// runs it or the port was taken before.
    pub fn take_saga_port(&mut self) -> Option<ReservedPort> {
        self.saga_port.take()
    }

    /// The suite's CA, when it runs mutual TLS.
    pub fn ca(&self) -> Option<&DevCa> {
        self.ca.as_deref()
    }

    /// How the test's clients reach the services: plaintext, or mutual TLS
    /// as the `operator`.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Mutual TLS as `principal`, with a certificate of the suite's CA;
    /// panics unless the suite runs mutual TLS.
    pub fn caller_as(&self, principal: Principal) -> Caller {
        Caller::principal(self.tls_ca(), principal)
    }

    /// TLS trusting the suite's CA without a client certificate; panics
    /// unless the suite runs mutual TLS.
    pub fn caller_without_certificate(&self) -> Caller {
        Caller::without_certificate(self.tls_ca())
    }

    /// A certificate for `principal` of a CA the services do not trust;
    /// panics unless the suite runs mutual TLS.
    pub fn caller_from_another_ca(&self, principal: Principal) -> Caller {
        Caller::from_another_ca(self.tls_ca(), principal)
    }

    /// A token for `subject` with `roles`, signed by the key the services
    /// trust (the suite runs with [`Settings::tokens`]).
    pub fn token(&self, subject: &str, roles: &[Role]) -> String {
        self.sign(&TokenRequest::new(subject, roles))
    }

    /// A token as `request` says, signed by the key the services trust.
    pub fn sign(&self, request: &TokenRequest) -> String {
        self.token_key
            .as_ref()
            .expect("the suite verifies tokens (Settings::with_tokens)")
            .sign(request)
            .expect("a signed token")
    }

    fn tls_ca(&self) -> &DevCa {
        self.ca
            .as_deref()
            .expect("the suite runs mutual TLS (Settings::with_tls)")
    }

    /// The test's clients, which [`Suite::order`] and the others hand out.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Replaces the test's clients, e.g. with the same ones carrying a token
    /// (`suite.clients().clone().with_token(..)`), so that every helper of
    /// the suite and of `World` calls with it.
    pub fn set_clients(&mut self, clients: Clients) {
        self.clients = clients;
    }

    /// Clients of every running service calling as `caller`, each over a
    /// new connection.
    pub fn clients_as(&self, caller: &Caller) -> Clients {
        let addresses: Vec<(Service, SocketAddr)> = self
            .services()
            .into_iter()
            .map(|(service, running)| (service, running.address()))
            .collect();
        Clients::connect(caller, &addresses)
    }

    /// A client of oms-saga; panics unless the suite runs it.
    pub fn saga(&self) -> SagaServiceClient<TestChannel> {
        assert!(self.saga.is_some(), "the suite runs the saga coordinator");
        self.clients.saga()
    }

    /// A client of oms-order.
    pub fn order(&self) -> OrderServiceClient<TestChannel> {
        self.clients.order()
    }

    /// A client of oms-inventory.
    pub fn inventory(&self) -> InventoryServiceClient<TestChannel> {
        self.clients.inventory()
    }

    /// A client of oms-routing.
    pub fn routing(&self) -> RoutingServiceClient<TestChannel> {
        self.clients.routing()
    }

    /// A client of oms-payment.
    pub fn payment(&self) -> PaymentServiceClient<TestChannel> {
        self.clients.payment()
    }

    /// A client of oms-shipping.
    pub fn shipping(&self) -> ShippingServiceClient<TestChannel> {
        self.clients.shipping()
    }

    /// A client of oms-returns.
    pub fn returns(&self) -> ReturnsServiceClient<TestChannel> {
        self.clients.returns()
    }

    /// The services whose health check does not answer SERVING, each with
    /// what it answered.
    pub async fn not_serving(&self) -> Vec<(Service, String)> {
        let mut down = Vec::new();
        for (service, running) in self.services() {
            let answer = HealthClient::new(running.channel())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await;
            match answer.map(|response| response.into_inner().status()) {
                Ok(ServingStatus::Serving) => {}
                Ok(status) => down.push((service, format!("{status:?}"))),
                Err(status) => down.push((service, format!("{status:?}"))),
            }
        }
        down
    }

    /// Stops every service as SIGTERM would; panics unless each stops cleanly.
    pub async fn stop(self) {
        let Suite {
            order,
            inventory,
            routing,
            payment,
            shipping,
            returns,
            saga,
            ..
        } = self;
        if let Some(saga) = saga {
            saga.stop().await;
        }
        tokio::join!(
            order.stop(),
            inventory.stop(),
            routing.stop(),
            payment.stop(),
            shipping.stop(),
            returns.stop(),
        );
    }
}
