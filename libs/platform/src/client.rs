//! Channels to peer services, for the generated clients.
//!
//! ```no_run
//! # async fn example(config: &oms_platform::config::ClientConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use oms_platform::{client, config::Service};
//! use oms_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
//!
//! let channel = client::peer_channel(Service::Inventory, config)?;
//! let inventory = InventoryServiceClient::new(channel);
//! # Ok(()) }
//! ```
//!
//! Channels connect lazily: a service starts even when its peers are down, and a
//! call to a peer that is down fails with UNAVAILABLE, which callers retry. Every
//! call goes through [`ClientLayer`]: a span, the W3C trace context in the
//! metadata, and a deadline.
//!
//! With `OMS_TLS=mutual` channels speak TLS: they trust only the suite's CA
//! and present this process's certificate, whose `spiffe://oms/<name>` URI
//! tells the peer who calls. A peer's certificate must name the host its
//! address uses: service certificates carry the service's DNS name (as k8s
//! resolves it), `localhost` and `127.0.0.1`.

use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tower::Layer as _;

use crate::{
    config::{ClientConfig, Service, TlsConfig},
    rpc::{ClientLayer, ClientService},
};

/// A channel to one peer, with the platform's client layer.
pub type OmsChannel = ClientService<Channel>;

/// The address could not be turned into a channel.
#[derive(Debug, thiserror::Error)]
#[error("invalid address {address:?}: {source}")]
pub struct ClientError {
    address: String,
    source: tonic::transport::Error,
}

/// A channel to the peer `service`, at its configured address.
pub fn peer_channel(service: Service, config: &ClientConfig) -> Result<OmsChannel, ClientError> {
    channel(&config.peer(service), config)
}

/// A channel to `address` (`host:port` or a `http://` URL).
pub fn channel(address: &str, config: &ClientConfig) -> Result<OmsChannel, ClientError> {
    let error = |source| ClientError {
        address: address.to_owned(),
        source,
    };
    let scheme = match config.tls {
        TlsConfig::Off => "http",
        TlsConfig::Mutual(_) => "https",
    };
    let uri = match address.split_once("://") {
        Some((_, rest)) => format!("{scheme}://{rest}"),
        None => format!("{scheme}://{address}"),
    };
    let mut endpoint = Endpoint::from_shared(uri).map_err(error)?;
    if let Some(files) = config.tls.files() {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&files.ca))
            .identity(Identity::from_pem(&files.cert, &files.key));
        endpoint = endpoint.tls_config(tls).map_err(error)?;
    }
    let channel = endpoint
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        // Finds a dead connection before a call does.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy();
    Ok(ClientLayer::new(config.default_deadline)
        .with_bearer(config.bearer_token.as_ref())
        .layer(channel))
}
