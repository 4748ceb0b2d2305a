//! The engine: runs sagas step by step, durably, on several replicas at once.
//!
//! ```text
//! Start*Saga ── insert (held by this replica, fence 1) ──▶ runner ─┐
//! poll (fallback) ── claim due rows with a free lease ───▶ runner ─┤
//! RetrySaga/CompensateSaga ── take the STUCK row ────────▶ runner ─┤
//!   runner: loop { run the cursor's step ─▶ Saga::record_* ─▶ commit (fenced) }
//! ```
//!
//! - **One commit per step**: the step's outcome and the next step's intent
//!   are one write of the saga's row ([`Store::commit`]), made before the next
//!   step starts. A crash between a call and its commit re-runs the call with
//!   the same idempotency key, which the callee answers without acting twice.
//! - **Leases with a fencing token**: a runner holds its saga under a claim
//!   whose fence every write must carry; each commit renews the lease. A
//!   replica that stalls past its lease is taken over by another, which bumps
//!   the fence: the stalled one's writes then match nothing and it stops.
//! - **Due times, not sleeps**: a retry's backoff and a waiting step's next
//!   look are due times in the row. A runner waits in memory only for a short
//!   due time while it holds the lease; for a longer one it lets the lease go
//!   and the poll (or any replica) takes the saga when it is due.
//! - **Woken in-process**: a started saga, or one an operator resumed, gets a
//!   runner at once on the replica that wrote it; polling is only the fallback
//!   (retries, waits, takeovers after a crash). No LISTEN/NOTIFY.
//! - Every step call runs in the trace stored with the saga, so a step retried
//!   after a crash or hours later is in the same trace as the order.

pub mod context;

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use oms_platform::rpc::set_stored_parent;
use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{
    domain::{
        SagaState,
        saga::{NewSaga, Saga, Timing},
        step::{Outcome, StepDef, StepError},
    },
    error::SagaError,
    flows,
    metrics::{AttemptResult, Metrics},
    store::{Claimed, Store},
};
use context::{FlowSettings, Peers, RunCache, StepContext};

/// How the engine runs.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// How often to look for due sagas whose lease is free.
    pub poll: Duration,
    /// How long a claim keeps other replicas off a saga; renewed at each step.
    pub lease: Duration,
    /// Sagas run at once by this replica; more wait for a place.
    pub max_running: usize,
    /// The longest due time a runner waits for in memory; a longer one lets
    /// the lease go.
    pub hold: Duration,
    /// Fault injection for crash tests: pause at one step.
    pub pause: Option<Pause>,
}

/// A pause at one step, so a test can kill the coordinator there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    /// The step.
    pub step: String,
    /// Before its forward call (else after it, before its commit).
    pub before: bool,
    /// How long.
    pub duration: Duration,
}

/// The engine of one replica. Clones share it.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    peers: Peers,
    flows: FlowSettings,
    settings: EngineSettings,
    /// This replica's id in the rows it holds.
    owner: String,
    running: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    metrics: Metrics,
}

impl Engine {
    /// An engine over `store`, calling `peers`.
    pub fn new(
        store: Store,
        peers: Peers,
        flows: FlowSettings,
        settings: EngineSettings,
        metrics: Metrics,
    ) -> Engine {
        let running = Arc::new(Semaphore::new(settings.max_running.max(1)));
        Engine {
            inner: Arc::new(Inner {
                store,
                peers,
                flows,
                settings,
                owner: format!("saga-{}", Uuid::new_v4()),
                running,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                metrics,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The services the flows call.
    pub fn peers(&self) -> &Peers {
        &self.inner.peers
    }

    /// This replica's owner id.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// The lease of a claim.
    pub fn lease(&self) -> Duration {
        self.inner.settings.lease
    }

    /// Starts a saga (or finds the one its natural key names); a new one runs
    /// at once on this replica. True when this call created it.
    pub async fn start(&self, new: NewSaga) -> Result<(Saga, bool), SagaError> {
        let Some(flow) = flows::definition(new.kind, new.flow_version) else {
            return Err(SagaError::Corrupt(format!(
                "no flow {} version {}",
                new.kind.name(),
                new.flow_version
            )));
        };
        let saga = Saga::start(new, flow, Utc::now());
        let (claimed, created) = self
            .inner
            .store
            .insert(&saga, &self.inner.owner, self.inner.settings.lease)
            .await?;
        let saga = claimed.saga.clone();
        if created {
            self.run(claimed);
        }
        Ok((saga, created))
    }

    /// Runs a saga this replica holds, in the background.
    pub fn run(&self, claimed: Claimed) {
        let inner = self.inner.clone();
        self.inner.tasks.spawn(drive(inner, claimed));
    }

    /// The fallback: claims due sagas whose lease is free (retries due, waits
    /// over, sagas of a replica that died) until shutdown, and refreshes the
    /// gauges.
    pub async fn poll(self) {
        loop {
            let free = self.inner.running.available_permits();
            if free > 0 {
                let limit = i64::try_from(free.min(100)).unwrap_or(100);
                match self
                    .inner
                    .store
                    .claim_due(&self.inner.owner, self.inner.settings.lease, limit)
                    .await
                {
                    Ok(claimed) => {
                        if !claimed.is_empty() {
                            self.inner.metrics.claimed(claimed.len());
                        }
                        for saga in claimed {
                            self.run(saga);
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "saga poll failed; retrying"),
                }
            }
            match self.inner.store.health().await {
                Ok((stuck, oldest)) => self.inner.metrics.health(stuck, oldest),
                Err(err) => tracing::debug!(error = %err, "saga gauges not refreshed"),
            }
            tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                () = tokio::time::sleep(self.inner.settings.poll) => {}
            }
        }
    }

    /// Stops the runners at their next step boundary (a call in flight
    /// finishes and is committed) and waits for them, at most `grace`; their
    /// sagas are let go for any replica to take.
    pub async fn stop(&self, grace: Duration) {
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        if tokio::time::timeout(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "saga runners still busy after the grace period; their leases will lapse"
            );
        }
    }
}

/// Runs one saga until it ends, is STUCK, waits long, or is taken over.
async fn drive(inner: Arc<Inner>, claimed: Claimed) {
    let Ok(_place) = inner.running.clone().acquire_owned().await else {
        return;
    };
    let Claimed {
        mut saga,
        fence,
        mut abort_requested,
    } = claimed;
    let Some(flow) = flows::definition(saga.kind, saga.flow_version) else {
        tracing::error!(saga_id = %saga.saga_id, version = saga.flow_version, "no flow for this saga's version");
        release(&inner, saga.saga_id, fence).await;
        return;
    };
    let mut cache = RunCache::default();
    loop {
        if inner.shutdown.is_cancelled() {
            release(&inner, saga.saga_id, fence).await;
            return;
        }
        let Some(work) = saga.next_work() else {
            // Ended or STUCK: the last commit let the lease go.
            return;
        };
        if abort_requested && !work.compensating {
            let error = StepError {
                step: flow[work.index].name.to_owned(),
                code: "CANCELLED".into(),
                message: "the order was cancelled".into(),
                event_time: Utc::now(),
                ..StepError::default()
            };
            if saga.abort(flow, error, Utc::now()) {
                tracing::info!(saga_id = %saga.saga_id, "cancel: the saga compensates");
                match commit(&inner, &saga, fence).await {
                    Some(abort) => abort_requested = abort,
                    None => return,
                }
                continue;
            }
        }
        if let Some(due) = work.due {
            let wait = (due - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            if wait > inner.settings.hold {
                // The row says when; the poll brings it back.
                release(&inner, saga.saga_id, fence).await;
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = inner.shutdown.cancelled() => {
                    release(&inner, saga.saga_id, fence).await;
                    return;
                }
            }
        }
        let def = &flow[work.index];
        let (outcome, started) = attempt(
            &inner,
            &mut saga,
            &mut cache,
            def,
            work.index,
            work.compensating,
        )
        .await;
        let result = match outcome {
            Outcome::Transient(_)
            | Outcome::Refused(_)
            | Outcome::Abandon(_)
            | Outcome::Park(_) => AttemptResult::Error,
            _ => AttemptResult::Ok,
        };
        let retried = matches!(outcome, Outcome::Transient(_));
        let compensated =
            work.compensating && matches!(outcome, Outcome::Done { .. } | Outcome::Skipped { .. });
        let before = saga.state;
        let timing = Timing {
            start: started,
            end: Utc::now(),
        };
        inner.metrics.attempt(
            saga.kind,
            def.name,
            work.compensating,
            result,
            (timing.end - timing.start).as_seconds_f64(),
        );
        if work.compensating {
            saga.record_compensation(flow, outcome, timing);
        } else {
            saga.record_forward(flow, outcome, timing);
        }
        if retried && saga.state == before {
            inner.metrics.retry(saga.kind, def.name, work.compensating);
        }
        if compensated {
            inner.metrics.compensated(saga.kind, def.name);
        }
        if saga.state != before {
            inner
                .metrics
                .state(saga.kind, saga.state, saga.current_step());
            if saga.state == SagaState::Stuck {
                tracing::warn!(saga_id = %saga.saga_id, step = def.name, reason = saga.body.stuck.as_ref().map(|s| s.reason.as_str()), "saga STUCK");
            }
        }
        match commit(&inner, &saga, fence).await {
            Some(abort) => abort_requested = abort,
            None => return,
        }
    }
}

/// Runs one attempt of a step's call in the saga's trace; its outcome and
/// when the call started.
async fn attempt(
    inner: &Inner,
    saga: &mut Saga,
    cache: &mut RunCache,
    def: &StepDef,
    index: usize,
    compensating: bool,
) -> (Outcome, chrono::DateTime<Utc>) {
    let record = &saga.body.steps[index];
    let attempt = 1 + if compensating {
        record.compensation_attempts
    } else {
        record.forward_attempts
    };
    if let Some(pause) = &inner.settings.pause
        && pause.before
        && pause.step == def.name
        && !compensating
    {
        tokio::time::sleep(pause.duration).await;
    }
    let span = tracing::info_span!(
        "saga.step",
        otel.name = format!("saga {} {}", def.name, if compensating { "compensation" } else { "forward" }),
        saga.id = %saga.saga_id,
        saga.kind = saga.kind.name(),
        saga.step = def.name,
        saga.attempt = attempt,
        saga.compensation = compensating,
        order.id = %saga.order_id,
    );
    // Every call of the saga lands in the trace of the call that started it.
    set_stored_parent(&span, &saga.body.traceparent);
    let started = Utc::now();
    let failure = saga.body.failure.clone();
    let mut ctx = StepContext {
        saga_id: saga.saga_id,
        order_id: &saga.order_id,
        return_id: &saga.return_id,
        cancel_reason: &saga.body.cancel_reason,
        cancellation: saga.cancellation,
        step: def,
        compensating,
        attempt,
        failure: failure.as_ref(),
        operator_compensation: saga.body.operator_compensation,
        data: &mut saga.body.data,
        cache,
        peers: &inner.peers,
        settings: &inner.flows,
        sagas: &inner.store,
    };
    let kind = saga.kind;
    let outcome = async {
        if compensating {
            flows::compensate(kind, index, &mut ctx).await
        } else {
            flows::forward(kind, index, &mut ctx).await
        }
    }
    .instrument(span)
    .await;
    if let Some(pause) = &inner.settings.pause
        && !pause.before
        && pause.step == def.name
        && !compensating
    {
        tokio::time::sleep(pause.duration).await;
    }
    (outcome, started)
}

/// Commits the saga under its claim; `None` when this runner must stop (the
/// claim was taken over, or the database stayed away longer than the lease:
/// whoever takes the saga next runs the step again with the same key).
/// Otherwise whether a cancel asked the saga to stop.
async fn commit(inner: &Inner, saga: &Saga, fence: i64) -> Option<bool> {
    let keep = saga.next_work().map(|_| inner.settings.lease);
    let deadline = tokio::time::Instant::now() + inner.settings.lease / 2;
    let mut wait = Duration::from_millis(50);
    loop {
        match inner.store.commit(saga, fence, keep).await {
            Ok(Some(abort)) => return Some(abort),
            Ok(None) => {
                tracing::info!(saga_id = %saga.saga_id, "saga taken over by another replica; this runner stops");
                return None;
            }
            Err(err) if tokio::time::Instant::now() + wait < deadline => {
                tracing::warn!(saga_id = %saga.saga_id, error = %err, "saga step not committed yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
            Err(err) => {
                tracing::error!(saga_id = %saga.saga_id, error = %err, "saga step not committed; the saga will be taken over");
                return None;
            }
        }
    }
}

async fn release(inner: &Inner, saga_id: Uuid, fence: i64) {
    if let Err(err) = inner.store.release(saga_id, fence).await {
        tracing::warn!(%saga_id, error = %err, "saga lease not released; it will lapse");
    }
}
