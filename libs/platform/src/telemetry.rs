//! Logs, traces and metrics for one process.
//!
//! [`Telemetry::init`] installs the global `tracing` subscriber: an env filter
//! (`RUST_LOG`), a text or JSON log writer, and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, an OpenTelemetry layer exporting spans
//! plus a meter provider exporting metrics, both over OTLP/gRPC in batches.
//! [`Telemetry::shutdown`] flushes what is still buffered; call it last.
//!
//! Trace context crosses process boundaries as W3C `traceparent` metadata: see
//! [`crate::rpc`]. Spans and logs never carry PII; that is each service's rule to
//! keep, as no filter here could know which values are personal.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

use crate::config::{LogFormat, TelemetryConfig};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` does not parse.
    #[error("RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// The OTLP exporter could not be built.
    #[error("OTEL_EXPORTER_OTLP_ENDPOINT: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// Another subscriber was installed first.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
}

/// The process's telemetry pipeline; keep it alive until shutdown.
#[must_use = "dropping Telemetry loses the spans still buffered; call shutdown"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Installs the global subscriber, and the OTLP exporters when configured.
    /// Must run inside a Tokio runtime: the OTLP exporter uses tonic.
    pub fn init(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        let filter = EnvFilter::builder().parse(&config.log_filter)?;
        let logs = match config.log_format {
            LogFormat::Text => tracing_subscriber::fmt::layer().boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .boxed(),
        };

        let (tracer_provider, meter_provider) = match &config.otlp_endpoint {
            Some(endpoint) => {
                let resource = Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build();
                let spans = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .build()?;
                let tracer_provider = SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_batch_exporter(spans)
                    .build();
                let metrics = opentelemetry_otlp::MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(endpoint)
                    .build()?;
                let meter_provider = SdkMeterProvider::builder()
                    .with_resource(resource)
                    .with_periodic_exporter(metrics)
                    .build();
                opentelemetry::global::set_meter_provider(meter_provider.clone());
                (Some(tracer_provider), Some(meter_provider))
            }
            None => (None, None),
        };

        let traces = tracer_provider.as_ref().map(|provider| {
            tracing_opentelemetry::layer().with_tracer(provider.tracer(config.service_name.clone()))
        });
        tracing_subscriber::registry()
            .with(filter)
            .with(logs)
            .with(traces)
            .try_init()?;
        Ok(Telemetry {
            tracer_provider,
            meter_provider,
        })
    }

    /// Exports what is buffered and stops the exporters. Waits at most a few
    /// seconds, so an unreachable collector cannot hold up the exit.
    pub fn shutdown(self) {
        const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
        if let Some(provider) = self.tracer_provider
            && let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(error = %err, "flushing spans failed");
        }
        if let Some(provider) = self.meter_provider
            && let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(error = %err, "flushing metrics failed");
        }
    }
}
