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
//!   in the `rpc.server.call.duration` histogram;
//! - the client records the same, as the caller saw it, in
//!   `rpc.client.call.duration`.
//!
//! Span and metric names and attributes follow the OpenTelemetry RPC conventions
//! as stabilised in 2025: durations in seconds, `rpc.system.name` (`grpc`),
//! `rpc.method` fully qualified (`oms.order.v1.OrderService/PlaceOrder`) and
//! `rpc.response.status_code` as the code's name (`OK`, `INVALID_ARGUMENT`). The
//! collector's Prometheus exporter turns them into
//! `rpc_server_call_duration_seconds{rpc_method=..., rpc_response_status_code=...}`.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use opentelemetry::{
    KeyValue,
    metrics::{Histogram, Meter},
    propagation::TextMapPropagator as _,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::Status;
use tower::{Layer, Service};
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::auth::BearerToken;

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
            rpc.system.name = "grpc",
            rpc.method = format!("{}/{}", $service, $method),
            rpc.response.status_code = tracing::field::Empty,
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
        Self::with_meter(max_timeout, &opentelemetry::global::meter("oms"))
    }

    /// [`ServerLayer::new`] recording its metrics with `meter`.
    pub fn with_meter(max_timeout: Duration, meter: &Meter) -> Self {
        let duration = meter
            .f64_histogram("rpc.server.call.duration")
            .with_unit("s")
            .with_description("Time from request to response headers, per RPC and status")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
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
        let attributes = rpc_attributes(service, method);

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
                record_duration(&duration, started, attributes, code);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// Client side: one span per call, trace context out, a default deadline,
/// metrics.
#[derive(Clone, Debug)]
pub struct ClientLayer {
    default_deadline: Duration,
    duration: Histogram<f64>,
    authorization: Option<http::HeaderValue>,
}

impl ClientLayer {
    /// Calls that set no deadline of their own get `default_deadline`.
    pub fn new(default_deadline: Duration) -> Self {
        Self::with_meter(default_deadline, &opentelemetry::global::meter("oms"))
    }

    /// [`ClientLayer::new`] recording its metrics with `meter`.
    pub fn with_meter(default_deadline: Duration, meter: &Meter) -> Self {
        let duration = meter
            .f64_histogram("rpc.client.call.duration")
            .with_unit("s")
            .with_description(
                "Time from request to response headers as the caller saw it, per RPC and status",
            )
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        ClientLayer {
            default_deadline,
            duration,
            authorization: None,
        }
    }

    /// The same layer sending `token` as `authorization: Bearer <token>` on
    /// every call that carries no authorization of its own.
    pub fn with_bearer(mut self, token: Option<&BearerToken>) -> Self {
        self.authorization = token.and_then(BearerToken::header_value);
        self
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ClientLayer`] wraps around a channel.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    layer: ClientLayer,
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
        let attributes = rpc_attributes(service, method);
        TraceContextPropagator::new()
            .inject_context(&span.context(), &mut HeaderInjector(request.headers_mut()));
        if !request.headers().contains_key(GRPC_TIMEOUT) {
            request.headers_mut().insert(
                GRPC_TIMEOUT,
                http::HeaderValue::from_str(&format_grpc_timeout(self.layer.default_deadline))
                    .unwrap_or_else(|_| http::HeaderValue::from_static("10S")),
            );
        }

        if let Some(authorization) = &self.layer.authorization {
            request
                .headers_mut()
                .entry(http::header::AUTHORIZATION)
                .or_insert_with(|| authorization.clone());
        }

        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let call = span.in_scope(|| inner.call(request));
        let duration = self.layer.duration.clone();
        let started = Instant::now();
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
                record_duration(&duration, started, attributes, code);
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

/// The histograms' bucket bounds in seconds: finer than the SDK's default (which
/// starts at 5 s, for milliseconds), since most of our calls take 1 to 50 ms.
const DURATION_BOUNDARIES: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The attributes every RPC measurement carries, the status code aside.
fn rpc_attributes(service: &str, method: &str) -> [KeyValue; 2] {
    [
        KeyValue::new("rpc.system.name", "grpc"),
        KeyValue::new("rpc.method", format!("{service}/{method}")),
    ]
}

fn record_duration(
    histogram: &Histogram<f64>,
    started: Instant,
    attributes: [KeyValue; 2],
    code: i32,
) {
    let [system, method] = attributes;
    histogram.record(
        started.elapsed().as_secs_f64(),
        &[
            system,
            method,
            KeyValue::new("rpc.response.status_code", code_name(code)),
        ],
    );
}

/// The gRPC name of a status code (`OK`, `NOT_FOUND`), as the RPC conventions
/// want it; a number outside the gRPC codes stays a number.
pub fn code_name(code: i32) -> String {
    use tonic::Code;
    let name = match Code::from_i32(code) {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown if code == Code::Unknown as i32 => "UNKNOWN",
        Code::Unknown => return code.to_string(),
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    };
    name.to_owned()
}

fn record_status(span: &Span, code: i32, is_error: bool) {
    span.record("rpc.response.status_code", code_name(code));
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
    fn status_codes_are_named_as_grpc_names_them() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(2), "UNKNOWN");
        assert_eq!(code_name(3), "INVALID_ARGUMENT");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "99");
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
