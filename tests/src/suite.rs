//! [`Suite`]: every service of the OMS on port 0 in the test's process, each
//! with a fresh database, wired to each other, with a typed client per
//! service.
//!
//! Each service starts through its own test starter on a port reserved first,
//! so that every peer address is known before any service starts. The saga
//! coordinator does not exist yet: its address is a port the suite holds
//! without listening, so the order and returns outboxes find it down and
//! retry, as they would in production while it is.

use oms_platform::{
    client::OmsChannel,
    config::{ClientConfig, Service},
};
use oms_proto::{
    inventory::v1::inventory_service_client::InventoryServiceClient,
    order::v1::order_service_client::OrderServiceClient,
    payment::v1::payment_service_client::PaymentServiceClient,
    returns::v1::returns_service_client::ReturnsServiceClient,
    routing::v1::routing_service_client::RoutingServiceClient,
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

/// The six services, running.
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
    /// Where the services expect the saga coordinator: held, not listening.
    saga: ReservedPort,
}

impl Suite {
    /// Starts every service with a fresh database and returns once each
    /// reports SERVING.
    pub async fn start() -> Suite {
        let ports: [ReservedPort; 6] = std::array::from_fn(|_| ReservedPort::new());
        let saga = ReservedPort::new();
        let [order, inventory, routing, payment, shipping, returns] = ports;
        let client = peers([
            (Service::Order, order.address()),
            (Service::Inventory, inventory.address()),
            (Service::Routing, routing.address()),
            (Service::Payment, payment.address()),
            (Service::Shipping, shipping.address()),
            (Service::Returns, returns.address()),
            (Service::Saga, saga.address()),
        ]);
        let (order, inventory, routing, payment, shipping, returns) = tokio::join!(
            oms_order::test_util::start(order, client.clone(), |config| {
                config.database.pool_size = POOL_SIZE;
            }),
            oms_inventory::test_util::start(inventory, |config| {
                config.database.pool_size = POOL_SIZE;
            }),
            oms_routing::test_util::start(routing, client.clone(), |config| {
                config.database.pool_size = POOL_SIZE;
            }),
            oms_payment::test_util::start(payment, |config| {
                config.database.pool_size = POOL_SIZE;
            }),
            start_shipping(shipping, client.clone()),
            oms_returns::test_util::start(returns, client, |config| {
                config.database.pool_size = POOL_SIZE;
            }),
        );
        Suite {
            order,
            inventory,
            routing,
            payment,
            shipping,
            returns,
            saga,
        }
    }

    /// Every running service with its name, in port order.
    pub fn services(&self) -> [(Service, &TestService); 6] {
        [
            (Service::Order, &self.order),
            (Service::Inventory, &self.inventory),
            (Service::Routing, &self.routing),
            (Service::Payment, &self.payment),
            (Service::Shipping, &self.shipping),
            (Service::Returns, &self.returns),
        ]
    }

    /// Where the services expect the saga coordinator (nothing listens yet).
    pub fn saga_address(&self) -> std::net::SocketAddr {
        self.saga.address()
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
            saga: _,
        } = self;
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

/// Starts oms-shipping on `port` with a fresh database.
///
/// STAND-IN until `oms_shipping::test_util::start` lands: the integrator
/// replaces this function's body with that call (with the pool at
/// [`POOL_SIZE`]) and deletes the rest.
async fn start_shipping(port: ReservedPort, client: ClientConfig) -> TestService {
    let database = oms_testkit::TestDatabase::create().await;
    let mut config = oms_shipping::Config {
        server: oms_testkit::server_config(),
        database: database.config(),
        client,
        simulator: oms_shipping::carrier::SimulatorConfig::default(),
        carrier_timeout: std::time::Duration::from_secs(5),
        outbox_poll: std::time::Duration::from_millis(50),
    };
    config.database.pool_size = POOL_SIZE;
    TestService::start(port, database, None, |listener, shutdown| {
        oms_shipping::run(config, listener, shutdown)
    })
    .await
}
