//! The tower layers every OMS call passes through: [`ServerLayer`] on the serving
//! side, [`ClientLayer`] on the calling side. Between them they keep one trace
//! across services and one deadline per call:
//!
//! - the client opens a `grpc.client` span, writes its W3C trace context
//!   (`traceparent`, `tracestate`) into the request metadata, and sets a
//!   `grpc-timeout` when the caller set none;
//! - the server reads that context, opens a `grpc.server` span as its child, ends
//!   the call with DEADLINE_EXCEEDED when the caller's deadline (or the server's
//!   own limit, if shorter) passes, and records the call's duration and status code
//!   in the `rpc.server.call.duration` histogram.
//!
//! Span and metric attributes follow the OpenTelemetry RPC conventions
//! (`rpc.system`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use opentelemetry::{KeyValue, metrics::Histogram, propagation::TextMapPropagator as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Status;
use tower::{Layer, Service};
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The gRPC metadata key of a call's deadline.
const GRPC_TIMEOUT: &str = "grpc-timeout";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A span named `$name` with the RPC attributes; the status fields are recorded
/// when the call ends. `$level` must be a constant.
macro_rules! rpc_span {
    ($level:expr, $name:literal, $kind:literal, $service:expr, $method:expr) => {
        tracing::span!(
            $level,
            $name,
            otel.name = format!("{}/{}", $service, $method),
            otel.kind = $kind,
            rpc.system = "grpc",
            rpc.service = $service,
            rpc.method = $method,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    };
}

/// Server side: trace context in, one span per call, deadline, metrics.
#[derive(Clone, Debug)]
pub struct ServerLayer {
    max_timeout: Duration,
    duration: Histogram<f64>,
}

impl ServerLayer {
    /// Calls run at most `max_timeout`, or less when the caller's deadline is
    /// sooner.
    pub fn new(max_timeout: Duration) -> Self {
        let duration = opentelemetry::global::meter("oms")
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Time from request to response headers, per RPC and status")
            .build();
        ServerLayer {
            max_timeout,
            duration,
        }
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ServerLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    layer: ServerLayer,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ServerService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let (service, method) = rpc_name(request.uri().path());
        let span = if is_infrastructure(service) {
            // Probes call health every few seconds; their spans are noise at `info`.
            rpc_span!(
                tracing::Level::DEBUG,
                "grpc.server",
                "server",
                service,
                method
            )
        } else {
            rpc_span!(
                tracing::Level::INFO,
                "grpc.server",
                "server",
                service,
                method
            )
        };
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
        if let Err(err) = span.set_parent(parent) {
            tracing::debug!(error = %err, "trace context not attached");
        }

        let timeout = match request.headers().get(GRPC_TIMEOUT).map(parse_grpc_timeout) {
            Some(Ok(deadline)) => deadline.min(self.layer.max_timeout),
            Some(Err(())) => {
                let status = Status::invalid_argument("malformed grpc-timeout metadata");
                return Box::pin(std::future::ready(Ok(status.into_http())));
            }
            None => self.layer.max_timeout,
        };
        let attributes = [
            KeyValue::new("rpc.system", "grpc"),
            KeyValue::new("rpc.service", service.to_owned()),
            KeyValue::new("rpc.method", method.to_owned()),
        ];

        // The ready service handles this call; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = span.in_scope(|| inner.call(request));
        let duration = self.layer.duration.clone();
        let started = Instant::now();
        Box::pin(
            async move {
                let response = match tokio::time::timeout(timeout, call).await {
                    Ok(response) => response?,
                    Err(_elapsed) => Status::deadline_exceeded("deadline exceeded").into_http(),
                };
                let code = response_code(&response);
                record_status(&Span::current(), code, is_server_fault(code));
                let mut attributes = attributes.to_vec();
                attributes.push(KeyValue::new("rpc.grpc.status_code", i64::from(code)));
                duration.record(started.elapsed().as_secs_f64(), &attributes);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Client side: one span per call, trace context out, a default deadline.
#[derive(Clone, Copy, Debug)]
pub struct ClientLayer {
    default_deadline: Duration,
}

impl ClientLayer {
    /// Calls that set no deadline of their own get `default_deadline`.
    pub fn new(default_deadline: Duration) -> Self {
        ClientLayer { default_deadline }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            default_deadline: self.default_deadline,
        }
    }
}

/// The service [`ClientLayer`] wraps around a channel.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    default_deadline: Duration,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for ClientService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let (service, method) = rpc_name(request.uri().path());
        let span = rpc_span!(
            tracing::Level::INFO,
            "grpc.client",
            "client",
            service,
            method
        );
        TraceContextPropagator::new()
            .inject_context(&span.context(), &mut HeaderInjector(request.headers_mut()));
        if !request.headers().contains_key(GRPC_TIMEOUT) {
            request.headers_mut().insert(
                GRPC_TIMEOUT,
                http::HeaderValue::from_str(&format_grpc_timeout(self.default_deadline))
                    .unwrap_or_else(|_| http::HeaderValue::from_static("10S")),
            );
        }

        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = span.in_scope(|| inner.call(request));
        Box::pin(
            async move {
                let result = call.await;
                let code = match &result {
                    Ok(response) => response_code(response),
                    // The channel could not deliver the call at all.
                    Err(_) => tonic::Code::Unavailable as i32,
                };
                // Seen from the caller, any non-OK status is a failed call.
                record_status(&Span::current(), code, code != 0);
                result
            }
            .instrument(span),
        )
    }
}

/// Splits `/oms.inventory.v1.InventoryService/Reserve` into service and method.
fn rpc_name(path: &str) -> (&str, &str) {
    path.trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("unknown", "unknown"))
}

fn is_infrastructure(service: &str) -> bool {
    service.starts_with("grpc.health.") || service.starts_with("grpc.reflection.")
}

/// The status code in the response headers. A successful unary response carries it
/// in the trailers instead, which arrive after this layer has returned: no header
/// means the call has not failed so far, so it counts as OK.
fn response_code<B>(response: &http::Response<B>) -> i32 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// Codes that mean the server failed, as opposed to the caller's request being
/// refused (OpenTelemetry's RPC conventions for server spans).
fn is_server_fault(code: i32) -> bool {
    use tonic::Code;
    [
        Code::Unknown,
        Code::DeadlineExceeded,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
    ]
    .iter()
    .any(|fault| *fault as i32 == code)
}

fn record_status(span: &Span, code: i32, is_error: bool) {
    span.record("rpc.grpc.status_code", code);
    if is_error {
        span.record("otel.status_code", "ERROR");
    }
}

/// Parses a `grpc-timeout` value: up to 8 digits and a unit (H, M, S, m, u, n).
fn parse_grpc_timeout(value: &http::HeaderValue) -> Result<Duration, ()> {
    let value = value.to_str().map_err(drop)?;
    if value.len() < 2 || value.len() > 9 {
        return Err(());
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(());
    }
    let amount: u64 = digits.parse().map_err(drop)?;
    Ok(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return Err(()),
    })
}

/// Formats a deadline for `grpc-timeout`, in the finest unit that fits 8 digits.
fn format_grpc_timeout(deadline: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let millis = deadline.as_millis();
    if millis <= MAX {
        format!("{millis}m")
    } else {
        format!("{}S", deadline.as_secs().min(MAX as u64))
    }
}

/// The W3C `traceparent` of the current span, to store with work done later
/// (an outbox entry, a saga step) so that the work joins the same trace.
/// Empty when there is no trace.
pub fn current_traceparent() -> String {
    let mut carrier = std::collections::HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove("traceparent").unwrap_or_default()
}

/// Makes `span` a child of a stored `traceparent`; nothing happens when it is
/// empty or malformed.
pub fn set_stored_parent(span: &tracing::Span, traceparent: &str) {
    if traceparent.is_empty() {
        return;
    }
    let carrier =
        std::collections::HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let parent = TraceContextPropagator::new().extract(&carrier);
    if let Err(err) = span.set_parent(parent) {
        tracing::debug!(error = %err, "stored trace context not applied");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(value: &str) -> http::HeaderValue {
        http::HeaderValue::from_str(value).unwrap()
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit() {
        for (value, expected) in [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("10S", Duration::from_secs(10)),
            ("250m", Duration::from_millis(250)),
            ("7u", Duration::from_micros(7)),
            ("99999999n", Duration::from_nanos(99_999_999)),
        ] {
            assert_eq!(parse_grpc_timeout(&header(value)), Ok(expected), "{value}");
        }
    }

    #[test]
    fn malformed_grpc_timeouts_are_refused() {
        for value in ["", "S", "10", "10s", "-1S", "123456789S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(&header(value)), Err(()), "{value:?}");
        }
    }

    #[test]
    fn deadlines_format_so_they_parse_back() {
        for deadline in [Duration::from_millis(1500), Duration::from_secs(200_000)] {
            let formatted = header(&format_grpc_timeout(deadline));
            assert_eq!(parse_grpc_timeout(&formatted), Ok(deadline));
        }
    }

    #[test]
    fn rpc_names_split_into_service_and_method() {
        assert_eq!(
            rpc_name("/oms.inventory.v1.InventoryService/Reserve"),
            ("oms.inventory.v1.InventoryService", "Reserve")
        );
        assert_eq!(rpc_name("/"), ("unknown", "unknown"));
    }
}
