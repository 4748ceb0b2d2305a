//! Logs, traces and metrics for one process.
//!
//! [`Telemetry::init`] installs the global `tracing` subscriber: an env filter
//! (`RUST_LOG`), a text or JSON log writer, and an OpenTelemetry layer that
//! gives every span a trace and span id. When `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, spans and metrics are exported there over OTLP/gRPC in batches;
//! without it the ids still exist, so a JSON log line carries the `trace_id`
//! and `span_id` of the span it was written in (the caller's trace, when the
//! call came with a `traceparent`) and can be joined to the trace.
//! [`Telemetry::shutdown`] flushes what is still buffered; call it last.
//!
//! Trace context crosses process boundaries as W3C `traceparent` metadata: see
//! [`crate::rpc`]. Spans and logs never carry PII; that is each service's rule to
//! keep, as no filter here could know which values are personal.

use std::{
    fmt,
    io::IsTerminal as _,
    sync::{Arc, OnceLock},
    time::Duration,
};

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, metrics::SdkMeterProvider, trace::SdkTracerProvider};
use tracing::{Dispatch, dispatcher::WeakDispatch};
use tracing_subscriber::{
    EnvFilter, Layer as _,
    filter::LevelFilter,
    fmt::{
        FmtContext, FormatEvent, MakeWriter,
        format::{Format, Json, JsonFields, Writer},
    },
    layer::SubscriberExt as _,
    registry::LookupSpan,
    util::SubscriberInitExt as _,
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
    tracer_provider: SdkTracerProvider,
    meter_provider: Option<SdkMeterProvider>,
}

impl Telemetry {
    /// Installs the global subscriber, logging to stdout, and the OTLP
    /// exporters when configured. Must run inside a Tokio runtime: the OTLP
    /// exporter uses tonic.
    pub fn init(config: &TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        // Colours only for a person at a terminal: a log file or a collector
        // reading stdout gets plain text (and NO_COLOR is honoured).
        let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let (telemetry, subscriber) = Telemetry::build_pipeline(config, std::io::stdout, ansi)?;
        subscriber.try_init()?;
        Ok(telemetry)
    }

    /// The pipeline of [`Telemetry::init`] without installing it: the
    /// subscriber writes its logs to `logs`, and the caller decides where it
    /// applies (a test makes it its thread's default).
    /// Text logs carry no colour codes.
    pub fn build<W>(
        config: &TelemetryConfig,
        logs: W,
    ) -> Result<(Telemetry, Dispatch), TelemetryError>
    where
        W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    {
        Telemetry::build_pipeline(config, logs, false)
    }

    fn build_pipeline<W>(
        config: &TelemetryConfig,
        logs: W,
        ansi: bool,
    ) -> Result<(Telemetry, Dispatch), TelemetryError>
    where
        W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
    {
        let filter = EnvFilter::builder().parse(&config.log_filter)?;
        // Filled once the subscriber exists: JSON lines look up the span's
        // OpenTelemetry ids through it.
        let dispatch = Arc::new(OnceLock::new());
        let logs = match config.log_format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(logs)
                .with_ansi(ansi)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .with_writer(logs)
                .with_ansi(false)
                .fmt_fields(JsonFields::new())
                .event_format(JsonWithTraceIds {
                    inner: Format::default()
                        .json()
                        .flatten_event(true)
                        .with_current_span(true)
                        .with_span_list(false),
                    dispatch: dispatch.clone(),
                })
                .boxed(),
        };

        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .build();
        let (tracer_provider, meter_provider) = match &config.otlp_endpoint {
            Some(endpoint) => {
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
                (tracer_provider, Some(meter_provider))
            }
            // Spans exported nowhere: they exist for their ids, which the logs
            // carry and outgoing calls propagate.
            None => (
                SdkTracerProvider::builder().with_resource(resource).build(),
                None,
            ),
        };

        // RUST_LOG filters the logs only: the spans of a trace (info and above)
        // exist whatever it says, so an order's trace id is kept and
        // propagated even where only warnings are logged.
        let traces = tracing_opentelemetry::layer()
            .with_tracer(tracer_provider.tracer(config.service_name.clone()))
            .with_filter(LevelFilter::INFO);
        let subscriber = Dispatch::new(
            tracing_subscriber::registry()
                .with(logs.with_filter(filter))
                .with(traces),
        );
        dispatch.get_or_init(|| subscriber.downgrade());
        Ok((
            Telemetry {
                tracer_provider,
                meter_provider,
            },
            subscriber,
        ))
    }

    /// Exports what is buffered and stops the exporters. Waits at most a few
    /// seconds, so an unreachable collector cannot hold up the exit.
    pub fn shutdown(self) {
        const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
        if let Err(err) = self.tracer_provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!(error = %err, "flushing spans failed");
        }
        if let Some(provider) = self.meter_provider
            && let Err(err) = provider.shutdown_with_timeout(FLUSH_TIMEOUT)
        {
            tracing::warn!(error = %err, "flushing metrics failed");
        }
    }
}

/// tracing-subscriber's JSON lines with the `trace_id` and `span_id` of the
/// OpenTelemetry span the event was written in, when there is one.
struct JsonWithTraceIds {
    inner: Format<Json>,
    /// The subscriber, whose OpenTelemetry layer holds each span's ids.
    dispatch: Arc<OnceLock<WeakDispatch>>,
}

impl JsonWithTraceIds {
    /// The trace and span id of `span`, when it belongs to a trace.
    fn ids(&self, span: &tracing::span::Id) -> Option<(String, String)> {
        let dispatch = self.dispatch.get()?.upgrade()?;
        let context = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
        let span = context.span();
        let span_context = span.span_context();
        span_context.is_valid().then(|| {
            (
                span_context.trace_id().to_string(),
                span_context.span_id().to_string(),
            )
        })
    }
}

impl<S> FormatEvent<S, JsonFields> for JsonWithTraceIds
where
    S: tracing::Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let ids = ctx.parent_span().and_then(|span| self.ids(&span.id()));
        // The line is one JSON object: the ids go in before its closing brace.
        if let Some((trace_id, span_id)) = ids
            && let Some(end) = line.rfind('}')
        {
            line.insert_str(
                end,
                &format!(",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""),
            );
        }
        writer.write_str(&line)
    }
}
