//! How one call is made: its deadline, its idempotency key, and its retries.
//!
//! Every call gets a deadline ([`CallPolicy::deadline`]): sent to the server as
//! `grpc-timeout`, and kept here too, so a server that does not answer cannot
//! hold the caller longer. A call is sent again only when that is safe: a read,
//! or a change carrying its idempotency key (the same key on every attempt, so
//! the service acts once and answers the retry with the first result). It is
//! retried only on UNAVAILABLE (the service or its database could not be
//! reached), with exponential backoff and jitter, at most
//! [`CallPolicy::max_attempts`] times in all; every other error is the answer.

use std::{future::Future, time::Duration};

pub use oms_platform::idempotency::IdempotencyKey;
use oms_platform::idempotency::METADATA_KEY;
use tonic::{Code, Request, Response, Status, metadata::MetadataValue};

/// A fresh idempotency key: `prefix` and a random UUID, e.g.
/// `omsctl-6f1c...`. Keep it to send the same change again.
pub fn new_key(prefix: &str) -> IdempotencyKey {
    let key = format!("{prefix}-{}", uuid::Uuid::new_v4());
    // A prefix that makes the key invalid falls back to the bare UUID.
    IdempotencyKey::parse(key).unwrap_or_else(|_| {
        IdempotencyKey::parse(uuid::Uuid::new_v4().to_string())
            .expect("a UUID is a valid idempotency key")
    })
}

/// Deadlines and retries of the calls one client makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallPolicy {
    /// How long one attempt may take.
    pub deadline: Duration,
    /// Attempts in all for a call that is safe to retry (at least 1).
    pub max_attempts: u32,
    /// The wait before the second attempt; it doubles after each attempt.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for CallPolicy {
    /// 10 s per attempt (the suite's `OMS_CLIENT_DEADLINE` default), 4
    /// attempts, backoff from 100 ms to 2 s.
    fn default() -> Self {
        CallPolicy {
            deadline: Duration::from_secs(10),
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl CallPolicy {
    /// This policy with another deadline per attempt.
    pub fn with_deadline(self, deadline: Duration) -> Self {
        CallPolicy { deadline, ..self }
    }

    /// This policy with at most `max_attempts` attempts (1: no retry).
    pub fn with_max_attempts(self, max_attempts: u32) -> Self {
        CallPolicy {
            max_attempts: max_attempts.max(1),
            ..self
        }
    }

    /// The wait after attempt `attempt` (from 1): the backoff, between half
    /// and all of it (jitter, so retrying callers spread out).
    fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let backoff = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let jitter = f64::from(uuid::Uuid::new_v4().as_bytes()[0]) / 255.0;
        backoff.mul_f64(0.5 + jitter / 2.0)
    }
}

/// Whether a call may be sent again after UNAVAILABLE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Safety {
    /// A read: sending it again changes nothing.
    Read,
    /// A change with its idempotency key: a retry with the same key is
    /// answered with the first result. Every mutating RPC of the OMS is
    /// idempotent, by this key or by a natural key in the request.
    Keyed,
    /// Sent once: the first UNAVAILABLE is the answer. For a caller's own
    /// calls through [`call`] that are not safe to repeat; no RPC of the OMS
    /// needs it.
    Once,
}

/// Makes one call under `policy`: `send` sends a request built from
/// `message` (with `key` as its `idempotency-key`, and the deadline), and is
/// called again after UNAVAILABLE while `safety` allows it and attempts are
/// left.
pub async fn call<M, R, F, Fut>(
    policy: &CallPolicy,
    safety: Safety,
    message: &M,
    key: Option<&IdempotencyKey>,
    mut send: F,
) -> Result<R, Status>
where
    M: Clone,
    F: FnMut(Request<M>) -> Fut,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let max_attempts = match safety {
        Safety::Read | Safety::Keyed => policy.max_attempts.max(1),
        Safety::Once => 1,
    };
    let mut attempt = 1;
    loop {
        let mut request = Request::new(message.clone());
        request.set_timeout(policy.deadline);
        if let Some(key) = key {
            let value = MetadataValue::try_from(key.as_str())
                .map_err(|_| Status::invalid_argument("idempotency key is not printable"))?;
            request.metadata_mut().insert(METADATA_KEY, value);
        }
        let started = tokio::time::Instant::now();
        let late = || {
            Status::deadline_exceeded(format!(
                "no answer within the deadline of {}",
                humantime::format_duration(policy.deadline)
            ))
        };
        let answer = match tokio::time::timeout(policy.deadline, send(request)).await {
            // tonic's channel enforces the same deadline and reports it as
            // CANCELLED; the caller's deadline passed, whoever noticed first.
            Ok(Err(status))
                if status.code() == Code::Cancelled && started.elapsed() >= policy.deadline =>
            {
                Err(late())
            }
            Ok(answer) => answer.map(Response::into_inner),
            Err(_elapsed) => Err(late()),
        };
        match answer {
            Err(status) if status.code() == Code::Unavailable && attempt < max_attempts => {
                tokio::time::sleep(policy.backoff(attempt)).await;
                attempt += 1;
            }
            answer => return answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn quick() -> CallPolicy {
        CallPolicy {
            deadline: Duration::from_secs(1),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    async fn unavailable_then_ok(
        safety: Safety,
        failures: u32,
    ) -> (Result<u32, Status>, u32, Vec<String>) {
        let sent = AtomicU32::new(0);
        let keys = std::sync::Mutex::new(Vec::new());
        let key = new_key("test");
        let answer = call(
            &quick(),
            safety,
            &7_u32,
            Some(&key),
            |request: Request<u32>| {
                let n = sent.fetch_add(1, Ordering::SeqCst);
                let key = request.metadata().get(METADATA_KEY).unwrap();
                keys.lock().unwrap().push(key.to_str().unwrap().to_owned());
                let message = *request.get_ref();
                async move {
                    if n < failures {
                        Err(Status::unavailable("down"))
                    } else {
                        Ok(Response::new(message))
                    }
                }
            },
        )
        .await;
        let keys = keys.into_inner().unwrap();
        (answer, sent.load(Ordering::SeqCst), keys)
    }

    #[tokio::test]
    async fn a_keyed_call_is_retried_with_the_same_key_until_it_succeeds() {
        let (answer, sent, keys) = unavailable_then_ok(Safety::Keyed, 2).await;
        assert_eq!(answer.unwrap(), 7);
        assert_eq!(sent, 3);
        assert!(keys.iter().all(|key| *key == keys[0]), "{keys:?}");
    }

    #[tokio::test]
    async fn retries_stop_after_the_last_attempt() {
        let (answer, sent, _) = unavailable_then_ok(Safety::Read, 10).await;
        assert_eq!(answer.unwrap_err().code(), Code::Unavailable);
        assert_eq!(sent, 3);
    }

    #[tokio::test]
    async fn a_call_that_is_not_safe_to_retry_is_sent_once() {
        let (answer, sent, _) = unavailable_then_ok(Safety::Once, 1).await;
        assert_eq!(answer.unwrap_err().code(), Code::Unavailable);
        assert_eq!(sent, 1);
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let sent = AtomicU32::new(0);
        let answer: Result<u32, Status> = call(&quick(), Safety::Read, &1_u32, None, |_request| {
            sent.fetch_add(1, Ordering::SeqCst);
            async { Err(Status::failed_precondition("no")) }
        })
        .await;
        assert_eq!(answer.unwrap_err().code(), Code::FailedPrecondition);
        assert_eq!(sent.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_ends_at_the_deadline() {
        let policy = quick().with_deadline(Duration::from_millis(50));
        let answer: Result<u32, Status> = call(&policy, Safety::Read, &1_u32, None, |_request| {
            std::future::pending()
        })
        .await;
        assert_eq!(answer.unwrap_err().code(), Code::DeadlineExceeded);
    }

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let policy = CallPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            ..CallPolicy::default()
        };
        let first = policy.backoff(1);
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
        let third = policy.backoff(3);
        assert!(third >= Duration::from_millis(150) && third <= Duration::from_millis(300));
    }

    #[test]
    fn fresh_keys_differ_and_carry_their_prefix() {
        let (one, two) = (new_key("omsctl"), new_key("omsctl"));
        assert_ne!(one, two);
        assert!(one.as_str().starts_with("omsctl-"));
    }
}
