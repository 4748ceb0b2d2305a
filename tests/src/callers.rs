//! Who the test's calls come from, and what they carry.
//!
//! - [`Caller`]: how a test reaches the services: plaintext, mutual TLS as
//!   a principal with a certificate of the suite's CA, TLS without a
//!   certificate (as a probe), or with a certificate of another CA.
//! - [`Headers`]: metadata every call of a client carries, e.g. a bearer
//!   token; [`TestChannel`] is a channel with its headers.
//! - [`Clients`]: a typed client per service, all calling as one caller
//!   with the same headers. `Suite::order()` and the other clients of the
//!   suite are its default [`Clients`]; `Suite::clients_as` makes others.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use oms_platform::{
    access::Principal,
    certs::DevCa,
    client::{self, OmsChannel},
    config::{ClientConfig, Service, TlsConfig, TlsFiles},
    rpc::ClientLayer,
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
use oms_testkit::client_config;
use tonic::{
    Request, Status,
    metadata::{AsciiMetadataKey, AsciiMetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Certificate, ClientTlsConfig, Endpoint},
};
use tower::Layer as _;

/// How the test's calls reach the services.
#[derive(Clone, Debug)]
pub struct Caller {
    way: Way,
}

#[derive(Clone, Debug)]
enum Way {
    /// No TLS: the suite's default.
    Plaintext,
    /// Mutual TLS with these files (a certificate and the CA trusted).
    Mutual(TlsConfig),
    /// TLS trusting this CA (PEM), without a client certificate.
    Anonymous(Vec<u8>),
}

impl Caller {
    /// Plaintext, as the suite runs by default.
    pub fn plaintext() -> Caller {
        Caller {
            way: Way::Plaintext,
        }
    }

    /// Mutual TLS as `principal`, with a certificate of `ca`, trusting `ca`.
    pub fn principal(ca: &DevCa, principal: Principal) -> Caller {
        Caller {
            way: Way::Mutual(ca.tls(principal).expect("a certificate of the test CA")),
        }
    }

    /// TLS trusting `ca`, presenting no certificate, as a probe or grpcurl.
    pub fn without_certificate(ca: &DevCa) -> Caller {
        Caller {
            way: Way::Anonymous(ca.cert_pem().into_bytes()),
        }
    }

    /// Mutual TLS trusting `ca` (the servers' CA), presenting a certificate
    /// for `principal` signed by a CA made on the spot, which no server
    /// trusts.
    pub fn from_another_ca(ca: &DevCa, principal: Principal) -> Caller {
        let stranger = DevCa::new("another ca").expect("a CA");
        let issued = stranger
            .issue(principal)
            .expect("a certificate of another CA");
        Caller {
            way: Way::Mutual(TlsConfig::Mutual(TlsFiles {
                cert: issued.cert_pem.into_bytes(),
                key: issued.key_pem.into_bytes(),
                ca: ca.cert_pem().into_bytes(),
            })),
        }
    }

    /// The client settings of this caller (the test defaults otherwise);
    /// for a caller without a certificate, plaintext, which that caller's
    /// [`Caller::channel`] does not use.
    pub fn config(&self) -> ClientConfig {
        let mut config = client_config();
        if let Way::Mutual(tls) = &self.way {
            config.tls = tls.clone();
        }
        config
    }

    /// A channel to `address`, with the platform's client layer; it connects
    /// at its first call.
    pub fn channel(&self, address: SocketAddr) -> OmsChannel {
        let config = self.config();
        match &self.way {
            Way::Plaintext | Way::Mutual(_) => {
                client::channel(&address.to_string(), &config).expect("a channel to a test server")
            }
            Way::Anonymous(ca) => {
                let channel = Endpoint::from_shared(format!("https://{address}"))
                    .expect("a URL of a test server")
                    .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
                    .expect("TLS settings without a certificate")
                    .connect_timeout(config.connect_timeout)
                    .connect_lazy();
                ClientLayer::new(config.default_deadline).layer(channel)
            }
        }
    }
}

/// Metadata every call of a client carries: the interceptor of
/// [`TestChannel`].
#[derive(Clone, Debug, Default)]
pub struct Headers(Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>);

impl Headers {
    /// These headers and `key: value`; panics on a name or value that is not
    /// valid metadata (the test's own mistake).
    pub fn with(self, key: &str, value: &str) -> Headers {
        let mut headers = Vec::clone(&self.0);
        headers.push((
            key.parse().expect("a metadata name"),
            value.parse().expect("an ASCII metadata value"),
        ));
        Headers(Arc::new(headers))
    }

    /// `channel`, its calls carrying these headers.
    pub fn wrap(&self, channel: OmsChannel) -> TestChannel {
        InterceptedService::new(channel, self.clone())
    }
}

impl Interceptor for Headers {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        for (key, value) in self.0.iter() {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        Ok(request)
    }
}

/// A channel whose calls carry [`Headers`]: what the typed clients of
/// [`Clients`] call over.
pub type TestChannel = InterceptedService<OmsChannel, Headers>;

/// A typed client per service, all calling as one caller with the same
/// headers.
#[derive(Clone)]
pub struct Clients {
    channels: HashMap<Service, OmsChannel>,
    headers: Headers,
}

impl Clients {
    /// Clients over these channels, without headers.
    pub fn new(channels: HashMap<Service, OmsChannel>) -> Clients {
        Clients {
            channels,
            headers: Headers::default(),
        }
    }

    /// Clients over a channel of `caller` to each of these addresses.
    pub fn connect(caller: &Caller, addresses: &[(Service, SocketAddr)]) -> Clients {
        Clients::new(
            addresses
                .iter()
                .map(|(service, address)| (*service, caller.channel(*address)))
                .collect(),
        )
    }

    /// These clients, every call also carrying `key: value`.
    pub fn with_header(self, key: &str, value: &str) -> Clients {
        Clients {
            headers: self.headers.with(key, value),
            ..self
        }
    }

    /// These clients, every call carrying `authorization: Bearer <token>`.
    pub fn with_token(self, token: &str) -> Clients {
        self.with_header("authorization", &format!("Bearer {token}"))
    }

    /// The headers every call carries.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The channel to `service`, with the headers; panics when these
    /// clients have none to it (the saga coordinator of a suite that does
    /// not run it).
    pub fn channel(&self, service: Service) -> TestChannel {
        let channel = self
            .channels
            .get(&service)
            .unwrap_or_else(|| panic!("no channel to {}", service.name()));
        self.headers.wrap(channel.clone())
    }

    /// A client of oms-order.
    pub fn order(&self) -> OrderServiceClient<TestChannel> {
        OrderServiceClient::new(self.channel(Service::Order))
    }

    /// A client of oms-inventory.
    pub fn inventory(&self) -> InventoryServiceClient<TestChannel> {
        InventoryServiceClient::new(self.channel(Service::Inventory))
    }

    /// A client of oms-routing.
    pub fn routing(&self) -> RoutingServiceClient<TestChannel> {
        RoutingServiceClient::new(self.channel(Service::Routing))
    }

    /// A client of oms-payment.
    pub fn payment(&self) -> PaymentServiceClient<TestChannel> {
        PaymentServiceClient::new(self.channel(Service::Payment))
    }

    /// A client of oms-shipping.
    pub fn shipping(&self) -> ShippingServiceClient<TestChannel> {
        ShippingServiceClient::new(self.channel(Service::Shipping))
    }

    /// A client of oms-returns.
    pub fn returns(&self) -> ReturnsServiceClient<TestChannel> {
        ReturnsServiceClient::new(self.channel(Service::Returns))
    }

    /// A client of oms-saga.
    pub fn saga(&self) -> SagaServiceClient<TestChannel> {
        SagaServiceClient::new(self.channel(Service::Saga))
    }
}
