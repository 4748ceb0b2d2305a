//! A flow's steps as data, and what a step's call comes back with.
//!
//! A [`StepDef`] names the step, its forward RPC, its compensation RPC (if
//! any), whether it is the pivot, and how it is retried; the flow module that
//! defines it also holds the code that makes the calls. An [`Outcome`] is what
//! that code reports; [`super::saga`] decides what follows from it.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How one step is retried, in each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per direction before the step fails (or the saga is STUCK).
    pub max_attempts: i32,
    /// Deadline of one attempt's call.
    pub attempt_timeout: Duration,
    /// Time budget of the step from its first attempt (for a waiting step, how
    /// long it waits).
    pub deadline: Duration,
    /// The first retry's wait; each further one doubles it, up to `max_backoff`.
    pub first_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The default for calls to the OMS services: 12 attempts over at least
    /// half a minute of backoff (a service restarting is waited for), 10 s per
    /// call, 5 minutes in all.
    pub const SERVICE_CALL: RetryPolicy = RetryPolicy {
        max_attempts: 12,
        attempt_timeout: Duration::from_secs(10),
        deadline: Duration::from_secs(300),
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(10),
    };

    /// The wait before the attempt after `failed` failed ones: exponential, at
    /// most `max_backoff`, half of it fixed and half drawn from `seed` (the
    /// saga and step), so that sagas refused together by a service that went
    /// down do not all come back at the same instant.
    pub fn backoff(&self, failed: i32, seed: u64) -> Duration {
        let exponent = u32::try_from(failed.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let full = self
            .first_backoff
            .saturating_mul(2_u32.saturating_pow(exponent))
            .min(self.max_backoff);
        let draw = splitmix64(seed ^ u64::from(exponent)) >> 11;
        #[allow(clippy::cast_precision_loss, reason = "53 bits of a random draw")]
        let share = draw as f64 / (1_u64 << 53) as f64;
        full / 2 + full.mul_f64(share / 2.0)
    }
}

/// One step of a flow.
#[derive(Clone, Copy, Debug)]
pub struct StepDef {
    /// The step's name, unique in its flow, e.g. "reserve_stock".
    pub name: &'static str,
    /// The forward RPC as a full method name; empty for a step inside the
    /// coordinator.
    pub forward_rpc: &'static str,
    /// The compensation RPC as a full method name, if the step has one.
    pub compensation_rpc: Option<&'static str>,
    /// The compensation runs only through an operator's CompensateSaga (steps
    /// after the pivot).
    pub compensation_operator_only: bool,
    /// The saga's pivot: once it succeeded the saga only goes forward.
    pub pivot: bool,
    /// How it is retried.
    pub retry: RetryPolicy,
}

/// An error a step call returned, as GetSaga shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepError {
    /// The step that got it.
    pub step: String,
    /// True when it came from the compensation call.
    pub compensation: bool,
    /// The gRPC code name, e.g. "FAILED_PRECONDITION".
    pub code: String,
    /// The ErrorInfo reason, e.g. "PAYMENT_DECLINED"; empty when none.
    pub reason: String,
    /// The status message as received (services keep PII out of it).
    pub message: String,
    /// The ErrorInfo metadata.
    pub metadata: BTreeMap<String, String>,
    /// Which attempt of its direction returned it, from 1.
    pub attempt: i32,
    /// When it was received.
    pub event_time: DateTime<Utc>,
}

impl StepError {
    /// "<reason or code>" as operators read it in a stuck reason or a rejected
    /// order's status reason, e.g. "INSUFFICIENT_STOCK for sku TEE-M".
    pub fn summary(&self) -> String {
        let head = if self.reason.is_empty() {
            &self.code
        } else {
            &self.reason
        };
        match self.metadata.get("sku") {
            Some(sku) => format!("{head} for sku {sku}"),
            None => head.clone(),
        }
    }
}

/// What a step's call came back with.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The call succeeded; `detail` says what it did, for operators.
    Done {
        /// What the step did, never PII, e.g. "2 shipments".
        detail: String,
    },
    /// The step does not apply (e.g. no payment for a zero total).
    Skipped {
        /// Why.
        detail: String,
    },
    /// The call failed in a way that may pass: the callee or the network was
    /// down or too slow (UNAVAILABLE, DEADLINE_EXCEEDED). Retried.
    Transient(StepError),
    /// The callee refused for good (a business refusal, a bad request, an
    /// unknown thing). Not retried.
    Refused(StepError),
    /// Fail this step without undoing it (nothing was done, e.g. the order was
    /// not PENDING any more), and compensate the steps before it.
    Abandon(StepError),
    /// Run the flow again from the earlier step `to` (the order saga's one
    /// re-plan after a stock race).
    Rewind {
        /// The step to run again.
        to: &'static str,
        /// Why this step could not go on.
        error: StepError,
        /// What the earlier step will do differently, for operators.
        detail: String,
    },
    /// The saga cannot go on by itself (e.g. it waited past its deadline for
    /// something that never came): STUCK, for an operator.
    Park(StepError),
    /// The call is made; poll again at `until` for the outside event.
    Wait {
        /// When to look again.
        until: DateTime<Utc>,
        /// What it waits for.
        detail: String,
    },
}

/// One step of SplitMix64: a well-spread 64-bit value from any seed.
pub fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap() {
        let policy = RetryPolicy::SERVICE_CALL;
        for seed in [0, 1, 99, u64::MAX] {
            let first = policy.backoff(1, seed);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3, seed);
            assert!(third >= Duration::from_millis(200) && third <= Duration::from_millis(400));
            for failed in [20, 1000, i32::MAX, i32::MIN] {
                assert!(policy.backoff(failed, seed) <= policy.max_backoff);
            }
        }
        let spread: std::collections::HashSet<Duration> =
            (0..20).map(|seed| policy.backoff(4, seed)).collect();
        assert!(spread.len() > 15);
    }

    #[test]
    fn an_error_reads_as_its_reason_and_sku() {
        let mut error = StepError {
            code: "FAILED_PRECONDITION".into(),
            reason: "INSUFFICIENT_STOCK".into(),
            ..StepError::default()
        };
        error.metadata.insert("sku".into(), "TEE-M".into());
        assert_eq!(error.summary(), "INSUFFICIENT_STOCK for sku TEE-M");
        let down = StepError {
            code: "UNAVAILABLE".into(),
            ..StepError::default()
        };
        assert_eq!(down.summary(), "UNAVAILABLE");
    }
}
