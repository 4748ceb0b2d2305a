//! The telemetry pipeline: OTLP export of spans and metrics to a collector,
//! flushed at shutdown, and JSON log lines that carry their trace.
//!
//! The collector is a real OTLP/gRPC receiver on port 0 that keeps what it gets.
//! Each test applies the pipeline to its own thread, as the process-global
//! subscriber belongs to the testkit.

use std::{
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use oms_platform::{
    config::{Env, TelemetryConfig},
    telemetry::Telemetry,
};
use oms_testkit::{TestServer, poll_until, server_config};
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::any_value::Value,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

#[derive(Clone, Default)]
struct Collector {
    /// (service.name, span name)
    spans: Arc<Mutex<Vec<(String, String)>>>,
    metrics: Arc<Mutex<Vec<String>>>,
}

fn service_name(resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>) -> String {
    resource
        .into_iter()
        .flat_map(|resource| &resource.attributes)
        .find(|attribute| attribute.key == "service.name")
        .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
        .map(|value| match value {
            Value::StringValue(name) => name.clone(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = service_name(resource_spans.resource.as_ref());
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push((service.clone(), span.name));
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let mut metrics = self.metrics.lock().unwrap();
        for resource_metrics in request.into_inner().resource_metrics {
            for scope in resource_metrics.scope_metrics {
                metrics.extend(scope.metrics.into_iter().map(|metric| metric.name));
            }
        }
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_and_metrics_reach_the_collector_and_are_flushed_at_shutdown() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let env = Env::from_pairs([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("RUST_LOG", "info"),
    ]);
    let config = TelemetryConfig::from_env(&env, "oms-telemetry-test").unwrap();

    let (telemetry, subscriber) = Telemetry::build(&config, io::sink).unwrap();
    let guard = oms_testkit::logs::set_default(subscriber);
    tracing::info_span!("reserve_stock").in_scope(|| tracing::info!("reserved"));
    drop(guard);
    opentelemetry::global::meter("oms")
        .u64_counter("oms.test.reservations")
        .build()
        .add(1, &[]);
    // Nothing is exported before the batch interval; shutdown must flush it.
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    poll_until("the span at the collector", Duration::from_secs(10), || {
        let spans = collector.spans.lock().unwrap().clone();
        async move {
            spans
                .contains(&("oms-telemetry-test".into(), "reserve_stock".into()))
                .then_some(())
        }
    })
    .await;
    poll_until(
        "the metric at the collector",
        Duration::from_secs(10),
        || {
            let metrics = collector.metrics.lock().unwrap().clone();
            async move {
                metrics
                    .iter()
                    .any(|name| name == "oms.test.reservations")
                    .then_some(())
            }
        },
    )
    .await;
}

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl io::Write for Lines {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'writer> tracing_subscriber::fmt::MakeWriter<'writer> for Lines {
    type Writer = Lines;

    fn make_writer(&'writer self) -> Lines {
        self.clone()
    }
}

impl Lines {
    /// Every line, each a JSON object.
    fn json(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// Without an OTLP endpoint too, a JSON log line written during a call carries
/// the trace the caller sent in `traceparent` and the server span's id, so the
/// line can be joined to the trace.
#[tokio::test(flavor = "current_thread")]
async fn a_json_log_line_carries_the_trace_and_span_it_was_written_in() {
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN_ID: &str = "00f067aa0ba902b7";
    let env = Env::from_pairs([("OMS_LOG_FORMAT", "json"), ("RUST_LOG", "info")]);
    let config = TelemetryConfig::from_env(&env, "oms-json-test").unwrap();
    assert_eq!(config.otlp_endpoint, None);
    let lines = Lines::default();
    let (telemetry, subscriber) = Telemetry::build(&config, lines.clone()).unwrap();
    let _guard = oms_testkit::logs::set_default(subscriber);

    let state = crate::probe::ProbeState::open();
    let server = TestServer::start(crate::probe::serve(state.clone(), server_config())).await;
    // A plain tonic client: the trace context is only what the request carries.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = crate::probe::request("joined");
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-{CALLER_SPAN_ID}-01")
            .parse()
            .unwrap(),
    );
    crate::probe::wait(channel, request).await.unwrap();
    server.stop().await.unwrap();
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    let lines = lines.json();
    let answered = lines
        .iter()
        .find(|line| line["message"] == "probe answered")
        .unwrap_or_else(|| panic!("the probe's line: {lines:#?}"));
    assert_eq!(answered["trace_id"], TRACE_ID, "{answered}");
    let span_id = answered["span_id"].as_str().unwrap();
    assert_eq!(span_id.len(), 16, "{span_id}");
    assert!(
        span_id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)),
        "{span_id}"
    );
    let server_span = state.seen.lock().unwrap().last().unwrap().span_id;
    assert_eq!(span_id, server_span.to_string(), "the server span's id");
    assert_ne!(span_id, CALLER_SPAN_ID);
    // A line written outside any span claims no trace.
    let stopped = lines
        .iter()
        .find(|line| line["message"] == "server stopped")
        .unwrap();
    assert!(stopped.get("trace_id").is_none(), "{stopped}");
}

/// RUST_LOG quiets the logs, not the trace: with only warnings logged, a call
/// still gets its span, its trace id is what the caller sent, and what it logs
/// at info is not written.
#[tokio::test(flavor = "current_thread")]
async fn a_quiet_log_filter_keeps_the_trace_but_not_the_info_lines() {
    const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
    let env = Env::from_pairs([("OMS_LOG_FORMAT", "json"), ("RUST_LOG", "warn")]);
    let config = TelemetryConfig::from_env(&env, "oms-quiet-test").unwrap();
    let lines = Lines::default();
    let (telemetry, subscriber) = Telemetry::build(&config, lines.clone()).unwrap();
    let _guard = oms_testkit::logs::set_default(subscriber);

    let state = crate::probe::ProbeState::open();
    let server = TestServer::start(crate::probe::serve(state.clone(), server_config())).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", server.address()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = crate::probe::request("quiet");
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{TRACE_ID}-b7ad6b7169203331-01")
            .parse()
            .unwrap(),
    );
    crate::probe::wait(channel, request).await.unwrap();
    tracing::warn!("a warning is still written");
    server.stop().await.unwrap();
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    let seen = state.seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        seen.trace_id.to_string(),
        TRACE_ID,
        "the server span joined the trace"
    );
    let lines = lines.json();
    assert!(
        lines.iter().all(|line| line["message"] != "probe answered"),
        "info lines are filtered: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "a warning is still written"),
        "{lines:#?}"
    );
}
