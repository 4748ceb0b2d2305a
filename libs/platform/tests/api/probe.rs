//! `Probe`: a one-method gRPC service written by hand for these tests, so the
//! platform is tested without any OMS service. `Wait` answers once the test
//! opens its gate, and remembers the trace context it ran in; labels the test
//! marks as refused are answered FAILED_PRECONDITION.

use std::{
    collections::HashSet,
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
};

use http::uri::PathAndQuery;
use oms_platform::server::GrpcServer;
use opentelemetry::trace::{SpanId, TraceContextExt as _, TraceId};
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, body::Body, server::NamedService};
use tonic_prost::ProstCodec;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

pub const NAME: &str = "oms.platform.test.Probe";

#[derive(Clone, PartialEq, prost::Message)]
pub struct WaitRequest {
    #[prost(string, tag = "1")]
    pub label: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WaitResponse {
    #[prost(string, tag = "1")]
    pub label: String,
}

/// What the probe saw of one call.
#[derive(Clone, Debug)]
pub struct Seen {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub traceparent: Option<String>,
    pub label: String,
}

/// Shared between the test and the probe it serves.
pub struct ProbeState {
    /// Calls that reached the handler.
    pub entered: AtomicUsize,
    /// Permits to answer; calls wait for one.
    pub gate: Semaphore,
    pub seen: Mutex<Vec<Seen>>,
    /// Labels answered FAILED_PRECONDITION, as a receiver refusing for good.
    pub refused: Mutex<HashSet<String>>,
}

impl ProbeState {
    /// A probe that answers at once.
    pub fn open() -> Arc<Self> {
        Self::with_permits(Semaphore::MAX_PERMITS)
    }

    /// A probe whose calls wait until the test adds permits.
    pub fn closed() -> Arc<Self> {
        Self::with_permits(0)
    }

    /// Returns once `calls` calls have reached the handler.
    pub async fn wait_until_entered(&self, calls: usize) {
        oms_testkit::poll_until(
            "calls to reach the handler",
            std::time::Duration::from_secs(10),
            || {
                let entered = self.entered.load(Ordering::SeqCst);
                async move { (entered >= calls).then_some(()) }
            },
        )
        .await;
    }

    fn with_permits(permits: usize) -> Arc<Self> {
        Arc::new(ProbeState {
            entered: AtomicUsize::new(0),
            gate: Semaphore::new(permits),
            seen: Mutex::new(Vec::new()),
            refused: Mutex::new(HashSet::new()),
        })
    }
}

#[derive(Clone)]
pub struct ProbeServer(pub Arc<ProbeState>);

impl NamedService for ProbeServer {
    const NAME: &'static str = NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower::Service<http::Request<Body>> for ProbeServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let state = self.0.clone();
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
            Ok(grpc.unary(WaitHandler(state), request).await)
        })
    }
}

struct WaitHandler(Arc<ProbeState>);

impl tonic::server::UnaryService<WaitRequest> for WaitHandler {
    type Response = WaitResponse;
    type Future = BoxFuture<Result<Response<WaitResponse>, Status>>;

    fn call(&mut self, request: Request<WaitRequest>) -> Self::Future {
        let state = self.0.clone();
        let context = tracing::Span::current().context();
        let span_context = context.span().span_context().clone();
        let traceparent = request
            .metadata()
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Box::pin(async move {
            let label = request.get_ref().label.clone();
            state.seen.lock().unwrap().push(Seen {
                trace_id: span_context.trace_id(),
                span_id: span_context.span_id(),
                traceparent,
                label: label.clone(),
            });
            if state.refused.lock().unwrap().contains(&label) {
                return Err(Status::failed_precondition("refused by the probe"));
            }
            tracing::info!(label, "probe answered");
            state.entered.fetch_add(1, Ordering::SeqCst);
            let permit = state
                .gate
                .acquire()
                .await
                .map_err(|_| Status::aborted("gate closed"))?;
            permit.forget();
            Ok(Response::new(WaitResponse {
                label: request.into_inner().label,
            }))
        })
    }
}

/// Serves the probe with the platform's server on `listener`.
pub fn serve(
    state: Arc<ProbeState>,
    config: oms_platform::config::ServerConfig,
) -> impl FnOnce(TcpListener, CancellationToken) -> BoxFuture<Result<(), oms_platform::server::ServeError>>
{
    move |listener, shutdown| {
        Box::pin(
            GrpcServer::new(&config)
                .add_service(ProbeServer(state))
                .serve(listener, shutdown),
        )
    }
}

/// Calls `Wait` as a generated client would, over any channel.
pub async fn wait<T>(channel: T, request: Request<WaitRequest>) -> Result<WaitResponse, Status>
where
    T: tonic::client::GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|err| Status::unavailable(err.into().to_string()))?;
    let path = PathAndQuery::from_static("/oms.platform.test.Probe/Wait");
    let response = grpc.unary(request, path, ProstCodec::default()).await?;
    Ok(response.into_inner())
}

/// A request for `Wait`.
pub fn request(label: &str) -> Request<WaitRequest> {
    Request::new(WaitRequest {
        label: label.to_owned(),
    })
}
