//! W3C trace context from a client built by `oms_platform::client` to a server
//! built by `oms_platform::server`.

use oms_testkit::{TestServer, server_config};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::probe::{self, ProbeState};

/// Records spans with OpenTelemetry ids on this thread until the guard drops.
/// Each test runs on one thread, so the server and the client use it too.
fn trace_this_thread() -> tracing::subscriber::DefaultGuard {
    let provider = SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("platform-test")));
    oms_testkit::logs::set_default(subscriber)
}

#[tokio::test(flavor = "current_thread")]
async fn the_callers_trace_continues_in_the_server_span() {
    let _guard = trace_this_thread();

    let state = ProbeState::open();
    let server = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let checkout = tracing::info_span!("checkout");
    let caller_trace = checkout.context().span().span_context().trace_id();

    probe::wait(server.channel(), probe::request("traced"))
        .instrument(checkout.clone())
        .await
        .unwrap();

    let seen = state.seen.lock().unwrap().last().cloned().unwrap();
    assert!(caller_trace != opentelemetry::trace::TraceId::INVALID);
    assert_eq!(
        seen.trace_id, caller_trace,
        "server span is in the caller's trace"
    );
    let traceparent = seen.traceparent.expect("traceparent metadata sent");
    assert!(
        traceparent.contains(&caller_trace.to_string()),
        "{traceparent}"
    );
    assert_ne!(
        seen.span_id,
        checkout.context().span().span_context().span_id(),
        "the server has a span of its own"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_call_without_trace_context_starts_a_new_trace() {
    let _guard = trace_this_thread();

    let state = ProbeState::open();
    let server = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let request = probe::request("untraced");
    // A plain tonic client, without the platform's client layer.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    probe::wait(channel, request).await.unwrap();

    let seen = state.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(seen.traceparent, None);
    assert_ne!(seen.trace_id, opentelemetry::trace::TraceId::INVALID);
}
