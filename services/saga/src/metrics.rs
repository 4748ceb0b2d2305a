//! The coordinator's metrics: sagas by kind and outcome, step latency,
//! retries, compensations, STUCK sagas and the age of the oldest running one.

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Gauge, Histogram, Meter},
};

use crate::domain::{SagaKind, SagaState};

/// The instruments.
pub struct Metrics {
    finished: Counter<u64>,
    parked: Counter<u64>,
    step_duration: Histogram<f64>,
    retries: Counter<u64>,
    compensations: Counter<u64>,
    claimed: Counter<u64>,
    stuck: Gauge<u64>,
    oldest_running_age: Gauge<f64>,
}

/// How a step's attempt ended, for the latency histogram.
#[derive(Clone, Copy, Debug)]
pub enum AttemptResult {
    /// Done, skipped, waiting or re-planned.
    Ok,
    /// Refused or failed for now.
    Error,
}

impl Metrics {
    /// The instruments on `meter`.
    pub fn new(meter: &Meter) -> Metrics {
        Metrics {
            finished: meter
                .u64_counter("oms.saga.finished")
                .with_description("Sagas that ended, by kind and outcome (COMPLETED, COMPENSATED)")
                .build(),
            parked: meter
                .u64_counter("oms.saga.parked")
                .with_description("Sagas parked as STUCK, by kind and step")
                .build(),
            step_duration: meter
                .f64_histogram("oms.saga.step.duration")
                .with_unit("s")
                .with_description("Duration of one attempt of a step's call, by kind, step, direction and result")
                .build(),
            retries: meter
                .u64_counter("oms.saga.retries")
                .with_description("Step attempts scheduled again after a failure, by kind, step and direction")
                .build(),
            compensations: meter
                .u64_counter("oms.saga.compensations")
                .with_description("Step compensations completed, by kind and step")
                .build(),
            claimed: meter
                .u64_counter("oms.saga.claimed")
                .with_description("Sagas this replica took from the table (due retries, waits, takeovers after a crash)")
                .build(),
            stuck: meter
                .u64_gauge("oms.saga.stuck")
                .with_description("Sagas STUCK now")
                .build(),
            oldest_running_age: meter
                .f64_gauge("oms.saga.oldest_running_age")
                .with_unit("s")
                .with_description("Age of the oldest RUNNING or COMPENSATING saga")
                .build(),
        }
    }

    /// One attempt of `step` took `seconds`.
    pub fn attempt(
        &self,
        kind: SagaKind,
        step: &str,
        compensating: bool,
        result: AttemptResult,
        seconds: f64,
    ) {
        let attributes = [
            KeyValue::new("saga.kind", kind.name()),
            KeyValue::new("saga.step", step.to_owned()),
            KeyValue::new(
                "saga.direction",
                if compensating {
                    "compensation"
                } else {
                    "forward"
                },
            ),
            KeyValue::new(
                "result",
                match result {
                    AttemptResult::Ok => "ok",
                    AttemptResult::Error => "error",
                },
            ),
        ];
        self.step_duration.record(seconds, &attributes);
    }

    /// `step` will be tried again.
    pub fn retry(&self, kind: SagaKind, step: &str, compensating: bool) {
        self.retries.add(
            1,
            &[
                KeyValue::new("saga.kind", kind.name()),
                KeyValue::new("saga.step", step.to_owned()),
                KeyValue::new(
                    "saga.direction",
                    if compensating {
                        "compensation"
                    } else {
                        "forward"
                    },
                ),
            ],
        );
    }

    /// `step` was undone.
    pub fn compensated(&self, kind: SagaKind, step: &str) {
        self.compensations.add(
            1,
            &[
                KeyValue::new("saga.kind", kind.name()),
                KeyValue::new("saga.step", step.to_owned()),
            ],
        );
    }

    /// A saga reached `state` (ended, or STUCK on `step`).
    pub fn state(&self, kind: SagaKind, state: SagaState, step: &str) {
        match state {
            SagaState::Completed | SagaState::Compensated => self.finished.add(
                1,
                &[
                    KeyValue::new("saga.kind", kind.name()),
                    KeyValue::new("saga.outcome", state.name()),
                ],
            ),
            SagaState::Stuck => self.parked.add(
                1,
                &[
                    KeyValue::new("saga.kind", kind.name()),
                    KeyValue::new("saga.step", step.to_owned()),
                ],
            ),
            SagaState::Running | SagaState::Compensating => {}
        }
    }

    /// `count` sagas were claimed from the table.
    pub fn claimed(&self, count: usize) {
        self.claimed
            .add(u64::try_from(count).unwrap_or(u64::MAX), &[]);
    }

    /// The table's health now.
    pub fn health(&self, stuck: i64, oldest_running_seconds: f64) {
        self.stuck.record(u64::try_from(stuck).unwrap_or(0), &[]);
        self.oldest_running_age
            .record(oldest_running_seconds.max(0.0), &[]);
    }
}
