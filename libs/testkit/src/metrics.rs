//! Metrics a test can read: a meter of the test's own whose instruments are
//! kept in memory, so tests running in one process never read each other's
//! figures (the process's global meter is shared).

use opentelemetry::{KeyValue, metrics::Meter};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, SdkMeterProvider,
    data::{AggregatedMetrics, MetricData},
};

/// A meter provider of the test's own with an in-memory exporter.
pub struct MetricsRecorder {
    provider: SdkMeterProvider,
    exporter: InMemoryMetricExporter,
}

impl MetricsRecorder {
    /// A recorder with nothing recorded yet.
    pub fn new() -> MetricsRecorder {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_periodic_exporter(exporter.clone())
            .build();
        MetricsRecorder { provider, exporter }
    }

    /// The meter to hand to the code under test.
    pub fn meter(&self) -> Meter {
        use opentelemetry::metrics::MeterProvider as _;
        self.provider.meter("oms")
    }

    /// The latest value of counter or gauge `name` (of a histogram: how many
    /// values it recorded) at the data points whose attributes include every one
    /// of `attributes`, summed over matching points; `None` when nothing was
    /// recorded for it.
    pub fn value(&self, name: &str, attributes: &[KeyValue]) -> Option<f64> {
        self.provider.force_flush().expect("metrics flushed");
        let exported = self.exporter.get_finished_metrics().expect("metrics read");
        let matches = |point: &mut dyn Iterator<Item = &KeyValue>| {
            let point: Vec<&KeyValue> = point.collect();
            attributes.iter().all(|wanted| point.contains(&wanted))
        };
        let mut latest = None;
        for resource in &exported {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics().filter(|metric| metric.name() == name) {
                    let mut total = None::<f64>;
                    let mut add = |value: f64| *total.get_or_insert(0.0) += value;
                    #[allow(clippy::cast_precision_loss, reason = "test figures are small")]
                    match metric.data() {
                        AggregatedMetrics::U64(MetricData::Sum(sum)) => sum
                            .data_points()
                            .filter(|p| matches(&mut p.attributes()))
                            .for_each(|p| add(p.value() as f64)),
                        AggregatedMetrics::U64(MetricData::Gauge(gauge)) => gauge
                            .data_points()
                            .filter(|p| matches(&mut p.attributes()))
                            .for_each(|p| add(p.value() as f64)),
                        AggregatedMetrics::I64(MetricData::Sum(sum)) => sum
                            .data_points()
                            .filter(|p| matches(&mut p.attributes()))
                            .for_each(|p| add(p.value() as f64)),
                        AggregatedMetrics::F64(MetricData::Histogram(histogram)) => histogram
                            .data_points()
                            .filter(|p| matches(&mut p.attributes()))
                            .for_each(|p| add(p.count() as f64)),
                        AggregatedMetrics::F64(MetricData::Gauge(gauge)) => gauge
                            .data_points()
                            .filter(|p| matches(&mut p.attributes()))
                            .for_each(|p| add(p.value())),
                        AggregatedMetrics::F64(MetricData::Sum(sum)) => sum
                            .data_points()
                            .filter(|p| matches(&mut p.attributes()))
                            .for_each(|p| add(p.value())),
                        _ => {}
                    }
                    // Exports come oldest first: the last one is the latest.
                    if total.is_some() {
                        latest = total;
                    }
                }
            }
        }
        latest
    }
}

impl Default for MetricsRecorder {
    fn default() -> Self {
        MetricsRecorder::new()
    }
}
