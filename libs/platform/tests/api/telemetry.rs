//! OTLP export: spans and metrics reach a collector, flushed at shutdown.
//!
//! The collector is a real OTLP/gRPC receiver on port 0 that keeps what it gets.
//! This is the only test in the binary that installs the global subscriber.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use oms_platform::{
    config::{Env, TelemetryConfig},
    telemetry::Telemetry,
};
use oms_testkit::poll_until;
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

    let telemetry = Telemetry::init(&config).unwrap();
    tracing::info_span!("reserve_stock").in_scope(|| tracing::info!("reserved"));
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
