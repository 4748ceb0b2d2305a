//! The gRPC server every OMS service runs.
//!
//! [`GrpcServer`] serves the service's own gRPC services next to
//! `grpc.health.v1.Health` and server reflection (v1 and v1alpha, so grpcurl and
//! any other generic client work without our code; `OMS_REFLECTION=off` leaves
//! it out, answered UNIMPLEMENTED), behind the platform's tower layers, the
//! last of which is the request guard ([`crate::guard`]): no handler of any
//! OMS RPC sees a string field holding a NUL or a card number. With
//! `OMS_TLS=mutual` it serves TLS, asks every caller for a certificate signed
//! by the suite's CA (optional at the handshake, so tools reach health and
//! reflection without one) and checks each `oms.` call against the access
//! table ([`crate::access`]).
//!
//! The kubelet's gRPC probes speak plaintext only, so with `OMS_HEALTH_ADDR`
//! set the server also serves `grpc.health.v1.Health`, and nothing else, in
//! plaintext on that address, with the same statuses as the main port.
//!
//! [`GrpcServer::serve`] runs until the shutdown token is cancelled, then:
//!
//! 1. every health status turns NOT_SERVING, on both ports, so probes and load
//!    balancers stop sending traffic;
//! 2. the listener closes and each connection gets an HTTP/2 GOAWAY: new calls are
//!    refused, calls already running go on;
//! 3. `serve` returns once the last call finished, or when the grace period is
//!    over, whichever comes first; the health port answers NOT_SERVING until
//!    then, and closes with it.

use std::{convert::Infallible, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    body::Body,
    server::NamedService,
    service::RoutesBuilder,
    transport::{Certificate, Identity, Server, ServerTlsConfig, server::TcpIncoming},
};
use tonic_health::{
    ServingStatus,
    pb::health_server::{Health, HealthServer},
};
use tower::{Service, ServiceBuilder, limit::GlobalConcurrencyLimitLayer};

use crate::{
    access::AccessLayer,
    config::{ServerConfig, TlsConfig},
    guard::{GuardError, GuardLayer, RequestGuard},
    rpc::ServerLayer,
};

/// The health service's own name, served for grpcurl and k8s probes.
const HEALTH_SERVICE: &str = "grpc.health.v1.Health";
/// The name of the reflection service (v1).
const REFLECTION_SERVICE: &str = "grpc.reflection.v1.ServerReflection";
/// The name of the reflection service (v1alpha), for older clients.
const REFLECTION_SERVICE_V1ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not read the descriptor sets.
    #[error("reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The request guard could not read the contracts.
    #[error("request guard: {0}")]
    Guard(&'static GuardError),
    /// The health port's address could not be listened on.
    #[error("OMS_HEALTH_ADDR: cannot listen on {address}: {source}")]
    HealthListen {
        /// The address asked for.
        address: String,
        /// Why it could not be bound.
        source: std::io::Error,
    },
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A gRPC server under construction: add services, then `serve`.
pub struct GrpcServer {
    config: ServerConfig,
    routes: RoutesBuilder,
    service_names: Vec<&'static str>,
    health_listener: Option<TcpListener>,
}

impl GrpcServer {
    /// A server with health, reflection and the platform layers, and no services
    /// of its own yet.
    pub fn new(config: &ServerConfig) -> Self {
        GrpcServer {
            config: config.clone(),
            routes: RoutesBuilder::default(),
            service_names: Vec::new(),
            health_listener: None,
        }
    }

    /// Serves the plaintext health port on `listener` rather than on
    /// `OMS_HEALTH_ADDR`: for tests, whose ports are chosen by the system.
    pub fn health_listener(mut self, listener: TcpListener) -> Self {
        self.health_listener = Some(listener);
        self
    }

    /// Adds a generated service (e.g. `InventoryServiceServer::new(handler)`); it is
    /// reported in health and listed by reflection.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves on `listener` until `shutdown` is cancelled, then drains as the module
    /// documentation describes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), ServeError> {
        let GrpcServer {
            config,
            mut routes,
            service_names,
            health_listener,
        } = self;
        let health_listener = match (health_listener, &config.exposure.health_addr) {
            (Some(listener), _) => Some(listener),
            (None, Some(address)) => Some(TcpListener::bind(address).await.map_err(|source| {
                ServeError::HealthListen {
                    address: address.clone(),
                    source,
                }
            })?),
            (None, None) => None,
        };

        let (health, health_service) = tonic_health::server::health_reporter();
        // The empty name is the server as a whole, which k8s gRPC probes ask about.
        let health_names: Vec<&'static str> = service_names
            .iter()
            .copied()
            .chain(["", HEALTH_SERVICE])
            .collect();
        for name in &health_names {
            health
                .set_service_status(*name, ServingStatus::Serving)
                .await;
        }
        routes.add_service(health_service.clone());
        if config.exposure.reflection {
            routes
                .add_service(reflection(&service_names).build_v1()?)
                .add_service(reflection(&service_names).build_v1alpha()?);
        }
        let health_port = health_only(health_listener, health_service, &config);

        let layers = ServiceBuilder::new()
            // Outermost, so the span and the deadline also cover time spent queued.
            .layer(ServerLayer::new(config.request_timeout))
            // Before the limit, so a refused caller takes no place in the queue.
            .layer(
                AccessLayer::new(config.tls.files().is_some()).with_tokens(
                    config
                        .tokens
                        .as_ref()
                        .map(|tokens| Arc::clone(&tokens.verifier)),
                ),
            )
            // A burst queues instead of exhausting the database pool and memory;
            // queued calls still end at their deadline.
            .layer(GlobalConcurrencyLimitLayer::new(config.concurrency_limit))
            // Innermost, so a refused request is still traced, timed and counted,
            // and the bodies it holds while checking are bounded by the limit.
            .layer(GuardLayer::new(
                RequestGuard::contracts().map_err(ServeError::Guard)?,
            ))
            .into_inner();

        let drain = {
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                tracing::info!("shutting down: not serving, draining calls in flight");
                for name in health_names {
                    health
                        .set_service_status(name, ServingStatus::NotServing)
                        .await;
                }
            }
        };

        let server = tls(Server::builder(), &config.tls)?
            // Detects peers that vanished without closing their connection.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            // Clients reconnect now and then, so new replicas get their share of
            // long-lived HTTP/2 connections.
            .max_connection_age(Duration::from_secs(300))
            .layer(layers)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                drain,
            );
        tokio::pin!(server);

        let grace_over = async {
            shutdown.cancelled().await;
            tokio::time::sleep(config.shutdown_grace).await;
        };
        tokio::select! {
            result = &mut server => result?,
            error = health_port => return Err(error),
            () = grace_over => {
                tracing::warn!(
                    grace = ?config.shutdown_grace,
                    "calls still in flight after the grace period are cut off"
                );
            }
        }
        tracing::info!("server stopped");
        Ok(())
    }
}

/// The builder, serving TLS with client certificates when `tls` says so.
fn tls(builder: Server, tls: &TlsConfig) -> Result<Server, ServeError> {
    let Some(files) = tls.files() else {
        return Ok(builder);
    };
    let config = ServerTlsConfig::new()
        .identity(Identity::from_pem(&files.cert, &files.key))
        .client_ca_root(Certificate::from_pem(&files.ca))
        // Health and reflection answer callers without a certificate; the
        // access layer refuses them every OMS call.
        .client_auth_optional(true);
    Ok(builder.tls_config(config)?)
}

/// The plaintext health port on `listener`, if any: the health service
/// alone (its statuses shared with the main port's), without TLS, access
/// table or reflection. It runs until `serve` drops it, and ends only on
/// an error.
async fn health_only(
    listener: Option<TcpListener>,
    health_service: HealthServer<impl Health>,
    config: &ServerConfig,
) -> ServeError {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving health alone in plaintext, for probes");
    }
    let served = Server::builder()
        // The same deadline, span and metrics as any call.
        .layer(ServerLayer::new(config.request_timeout))
        .add_service(health_service)
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await;
    match served {
        Err(err) => err.into(),
        // Only an error ends the stream of connections.
        Ok(()) => std::future::pending().await,
    }
}

fn reflection(service_names: &[&'static str]) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(oms_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .with_service_name(HEALTH_SERVICE)
        .with_service_name(REFLECTION_SERVICE)
        .with_service_name(REFLECTION_SERVICE_V1ALPHA);
    service_names
        .iter()
        .fold(builder, |builder, name| builder.with_service_name(*name))
}
