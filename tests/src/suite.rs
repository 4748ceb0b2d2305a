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

use oms_platform::{client::OmsChannel, config::Service};
use oms_proto::{
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    payment::v1::payment_service_client::PaymentServiceClient,
    returns::v1::returns_service_client::ReturnsServiceClient,
    routing::v1::routing_service_client::RoutingServiceClient,
    saga::v1::saga_service_client::SagaServiceClient,
    shipping::v1::shipping_service_client::ShippingServiceClient,
};
use oms_testkit::{ReservedPort, TestService, peers};
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
    saga_address: std::net::SocketAddr,
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
            order: order_config,
            returns: returns_config,
        } = settings;
        let (order, inventory, routing, payment, shipping, returns) = tokio::join!(
            oms_order::test_util::start(order, client.clone(), |config| {
                config.database.pool_size = POOL_SIZE;
                if let Some(change) = order_config {
                    change(config);
                }
            }),
            oms_inventory::test_util::start(inventory, |config| {
                config.database.pool_size = POOL_SIZE;
                if let Some(change) = inventory_config {
                    change(config);
                }
            }),
            oms_routing::test_util::start(routing, client.clone(), |config| {
                config.database.pool_size = POOL_SIZE;
            }),
            oms_payment::test_util::start(payment, |config| {
                config.database.pool_size = POOL_SIZE;
                if let Some(change) = payment_config {
                    change(config);
                }
            }),
            oms_shipping::test_util::start(shipping, client.clone(), |config| {
                config.database.pool_size = POOL_SIZE;
                if let Some(change) = shipping_config {
                    change(config);
                }
            }),
            oms_returns::test_util::start(returns, client.clone(), |config| {
                config.database.pool_size = POOL_SIZE;
                if let Some(change) = returns_config {
                    change(config);
                }
            }),
        );
        let (saga, saga_port) = if run_saga {
            let service = oms_saga::test_util::start(saga, client, |config| {
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
        Suite {
            order,
            inventory,
            routing,
            payment,
            shipping,
            returns,
            saga,
            saga_port,
            saga_address,
        }
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

    /// A client of oms-saga; panics unless the suite runs it.
    pub fn saga(&self) -> SagaServiceClient<OmsChannel> {
        SagaServiceClient::new(
            self.saga
                .as_ref()
                .expect("the suite runs the saga coordinator")
                .channel(),
        )
    }

    /// A client of oms-order.
    pub fn order(&self) -> OrderServiceClient<OmsChannel> {
        OrderServiceClient::new(self.order.channel())
    }

    /// A client of oms-inventory.
    pub fn inventory(&self) -> InventoryServiceClient<OmsChannel> {
        InventoryServiceClient::new(self.inventory.channel())
    }

    /// A client of oms-routing.
    pub fn routing(&self) -> RoutingServiceClient<OmsChannel> {
        RoutingServiceClient::new(self.routing.channel())
    }

    /// A client of oms-payment.
    pub fn payment(&self) -> PaymentServiceClient<OmsChannel> {
        PaymentServiceClient::new(self.payment.channel())
    }

    /// A client of oms-shipping.
    pub fn shipping(&self) -> ShippingServiceClient<OmsChannel> {
        ShippingServiceClient::new(self.shipping.channel())
    }

    /// A client of oms-returns.
    pub fn returns(&self) -> ReturnsServiceClient<OmsChannel> {
        ReturnsServiceClient::new(self.returns.channel())
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
