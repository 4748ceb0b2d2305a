//! Mutual TLS over real gRPC on port 0: a server that serves a stand-in for
//! payment's RPCs under the platform's server, and callers with and without
//! certificates, signed by the suite's CA or another one.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use oms_platform::{
    access::Principal,
    certs::DevCa,
    client::{self, OmsChannel},
    config::{ConfigError, Env, Service, TlsConfig, TlsFiles},
    server::GrpcServer,
};
use oms_proto::payment::v1::{
    CaptureRequest, GetPaymentRequest, payment_service_client::PaymentServiceClient,
};
use oms_testkit::{ReservedPort, TestServer, client_config, server_config};
use tokio::net::TcpListener;
use tonic::{
    Code, Request, Response, Status,
    body::Body,
    server::NamedService,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_prost::ProstCodec;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Answers every RPC of payment's contract with an empty response, counting
/// the calls that reach it.
#[derive(Clone)]
struct StandIn(Arc<AtomicUsize>);

impl NamedService for StandIn {
    const NAME: &'static str = "oms.payment.v1.PaymentService";
}

impl tower::Service<http::Request<Body>> for StandIn {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let served = self.0.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<(), ()>::default());
            Ok(grpc.unary(Answer(served), request).await)
        })
    }
}

struct Answer(Arc<AtomicUsize>);

impl tonic::server::UnaryService<()> for Answer {
    type Response = ();
    type Future = BoxFuture<Result<Response<()>, Status>>;

    fn call(&mut self, _: Request<()>) -> Self::Future {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(Response::new(())) })
    }
}

/// The stand-in served over mutual TLS with a payment certificate of `ca`.
struct TlsServer {
    server: TestServer,
    ca: String,
    served: Arc<AtomicUsize>,
}

impl TlsServer {
    async fn start(ca: &DevCa) -> TlsServer {
        TlsServer::start_serving(ca, None).await
    }

    /// The stand-in with a plaintext health port too, as in k8s; returns the
    /// health port's address.
    async fn start_with_health_port(ca: &DevCa) -> (TlsServer, SocketAddr) {
        let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = health.local_addr().unwrap();
        (TlsServer::start_serving(ca, Some(health)).await, address)
    }

    async fn start_serving(ca: &DevCa, health: Option<TcpListener>) -> TlsServer {
        let mut config = server_config();
        config.tls = ca.tls(Principal::Service(Service::Payment)).unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let stand_in = StandIn(served.clone());
        // The operator's certificate reaches the server's health check.
        let mut operator = client_config();
        operator.tls = ca.tls(Principal::Operator).unwrap();
        let server =
            TestServer::start_with(ReservedPort::new(), &operator, |listener, shutdown| {
                let server = GrpcServer::new(&config).add_service(stand_in);
                match health {
                    Some(health) => server.health_listener(health),
                    None => server,
                }
                .serve(listener, shutdown)
            })
            .await;
        TlsServer {
            server,
            ca: ca.cert_pem(),
            served,
        }
    }

    /// A channel that trusts the suite's CA and presents no certificate, as
    /// a probe or grpcurl would.
    fn without_certificate(&self) -> Channel {
        Endpoint::from_shared(format!("https://{}", self.server.address()))
            .unwrap()
            .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca)))
            .unwrap()
            .connect_lazy()
    }

    /// The platform's channel to the server, with these TLS settings.
    fn channel(&self, tls: TlsConfig) -> OmsChannel {
        let mut config = client_config();
        config.tls = tls;
        client::channel(&self.server.address().to_string(), &config).unwrap()
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

async fn capture<T>(channel: T) -> Result<(), Status>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    PaymentServiceClient::new(channel)
        .capture(CaptureRequest::default())
        .await
        .map(drop)
}

#[tokio::test]
async fn the_saga_may_capture_with_its_certificate() {
    let ca = DevCa::new("oms test ca").unwrap();
    let server = TlsServer::start(&ca).await;
    let saga = server.channel(ca.tls(Principal::Service(Service::Saga)).unwrap());

    capture(saga.clone()).await.unwrap();
    PaymentServiceClient::new(saga)
        .get_payment(GetPaymentRequest::default())
        .await
        .unwrap();
    assert_eq!(server.served(), 2);
}

#[tokio::test]
async fn a_call_without_a_certificate_is_unauthenticated_and_health_still_answers() {
    let ca = DevCa::new("oms test ca").unwrap();
    let server = TlsServer::start(&ca).await;

    let status = capture(server.without_certificate()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert_eq!(
        status.message(),
        "oms.payment.v1.PaymentService/Capture requires a client certificate"
    );

    let health = HealthClient::new(server.without_certificate())
        .check(HealthCheckRequest::default())
        .await
        .unwrap();
    assert_eq!(health.into_inner().status, ServingStatus::Serving as i32);
    assert_eq!(server.served(), 0);
}

#[tokio::test]
async fn a_certificate_of_another_ca_is_refused_at_the_handshake() {
    let ca = DevCa::new("oms test ca").unwrap();
    let server = TlsServer::start(&ca).await;
    let stranger = DevCa::new("another ca").unwrap();
    let issued = stranger.issue(Principal::Service(Service::Saga)).unwrap();
    // It trusts the server, which does not trust it.
    let channel = server.channel(TlsConfig::Mutual(TlsFiles {
        cert: issued.cert_pem.into_bytes(),
        key: issued.key_pem.into_bytes(),
        ca: ca.cert_pem().into_bytes(),
    }));

    let status = capture(channel).await.unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    assert_ne!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(server.served(), 0);
}

#[tokio::test]
async fn a_service_the_table_does_not_list_is_permission_denied_by_name() {
    let ca = DevCa::new("oms test ca").unwrap();
    let server = TlsServer::start(&ca).await;
    let shipping = server.channel(ca.tls(Principal::Service(Service::Shipping)).unwrap());

    let status = capture(shipping.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        status.message(),
        "shipping may not call oms.payment.v1.PaymentService/Capture"
    );
    assert_eq!(server.served(), 0);

    // An operator reads payments, but moves no money.
    let operator = server.channel(ca.tls(Principal::Operator).unwrap());
    PaymentServiceClient::new(operator.clone())
        .get_payment(GetPaymentRequest::default())
        .await
        .unwrap();
    let status = capture(operator).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(server.served(), 1);
}

#[tokio::test]
async fn the_plaintext_health_port_of_a_tls_server_answers_health_and_nothing_else() {
    let ca = DevCa::new("oms test ca").unwrap();
    let (server, health_address) = TlsServer::start_with_health_port(&ca).await;
    let probe = crate::server::plaintext(health_address);

    assert_eq!(
        crate::server::health_of(probe.clone()).await.unwrap(),
        ServingStatus::Serving as i32
    );
    let payment = HealthClient::new(probe.clone())
        .check(HealthCheckRequest {
            service: StandIn::NAME.into(),
        })
        .await
        .unwrap();
    assert_eq!(payment.into_inner().status, ServingStatus::Serving as i32);

    let status = capture(probe.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let status = crate::server::try_reflect(
        probe,
        tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(server.served(), 0);

    // Plaintext is refused on the TLS port: the health port is the only way
    // in without TLS.
    let status = crate::server::health_of(crate::server::plaintext(server.server.address()))
        .await
        .unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    // The saga still captures over mutual TLS.
    capture(server.channel(ca.tls(Principal::Service(Service::Saga)).unwrap()))
        .await
        .unwrap();
    assert_eq!(server.served(), 1);
}

/// A file of its own for a test, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(contents: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!("oms-tls-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn refused(pairs: &[(&str, &str)]) -> ConfigError {
    TlsConfig::from_env(&Env::from_pairs(pairs.iter().copied())).unwrap_err()
}

#[test]
fn mutual_tls_reads_its_files_and_names_the_one_at_fault() {
    let ca = DevCa::new("oms test ca").unwrap();
    let issued = ca.issue(Principal::Service(Service::Order)).unwrap();
    let (cert, key, ca_file) = (
        TempFile::new(&issued.cert_pem),
        TempFile::new(&issued.key_pem),
        TempFile::new(&ca.cert_pem()),
    );
    let good = [
        ("OMS_TLS", "mutual"),
        ("OMS_TLS_CERT", cert.path()),
        ("OMS_TLS_KEY", key.path()),
        ("OMS_TLS_CA", ca_file.path()),
    ];
    let tls = TlsConfig::from_env(&Env::from_pairs(good)).unwrap();
    let files = tls.files().unwrap();
    assert_eq!(files.cert, issued.cert_pem.as_bytes());
    assert_eq!(files.ca, ca.cert_pem().as_bytes());
    assert!(!format!("{tls:?}").contains("PRIVATE KEY"));

    assert_eq!(refused(&[("OMS_TLS", "on")]).variable, "OMS_TLS");
    assert_eq!(refused(&[("OMS_TLS", "mutual")]).variable, "OMS_TLS_CERT");
    let mut missing = good;
    missing[3].1 = "/nonexistent/ca.pem";
    assert_eq!(refused(&missing).variable, "OMS_TLS_CA");
    let mut swapped = good;
    swapped[2].1 = cert.path();
    assert_eq!(refused(&swapped).variable, "OMS_TLS_KEY");
    let mut key_as_cert = good;
    key_as_cert[1].1 = key.path();
    assert_eq!(refused(&key_as_cert).variable, "OMS_TLS_CERT");

    // Plaintext ignores the files, so a half-configured environment still
    // runs the default way.
    let off = [
        ("OMS_TLS", "off"),
        ("OMS_TLS_CERT", "/nonexistent/cert.pem"),
    ];
    assert_eq!(
        TlsConfig::from_env(&Env::from_pairs(off)).unwrap(),
        TlsConfig::Off
    );
}
