//! Counting the gRPC calls between the services: an OTLP receiver on
//! loopback that keeps the start time and name of every server span the
//! services export (one per call served, named `<service>/<method>`).
//!
//! Exporting spans costs the services CPU, so the calls are counted in a
//! separate, shorter run of the suite after the measured phases, with the
//! services' telemetry on; each span is counted for the phase whose window
//! holds its start.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

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
    trace::v1::span::SpanKind,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// The server spans received: (start, `<service>/<method>`).
#[derive(Clone, Default)]
pub struct Collector {
    spans: Arc<Mutex<Vec<(SystemTime, String)>>>,
}

impl Collector {
    /// Serves OTLP/gRPC on a free loopback port; its endpoint URL.
    pub async fn start(&self) -> anyhow::Result<String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(self.clone()))
                .add_service(MetricsServiceServer::new(self.clone()))
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        Ok(endpoint)
    }

    /// Calls served by method, of the spans that started in `from..to`.
    pub fn calls_between(&self, from: SystemTime, to: SystemTime) -> BTreeMap<String, u64> {
        let spans = self
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut calls = BTreeMap::new();
        for (start, name) in spans.iter() {
            if (from..to).contains(start) {
                *calls.entry(name.clone()).or_insert(0) += 1;
            }
        }
        calls
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self
            .spans
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for resource_spans in request.into_inner().resource_spans {
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    if span.kind == SpanKind::Server as i32 {
                        let start = UNIX_EPOCH + Duration::from_nanos(span.start_time_unix_nano);
                        spans.push((start, span.name));
                    }
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

/// Metrics are accepted and dropped: the spans count the calls.
#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        _request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}
