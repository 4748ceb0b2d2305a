//! A saga's record and the rules that move it.
//!
//! [`Saga`] is everything the coordinator keeps of one run of a flow: the
//! steps with their attempts and errors, the cursor, the flow's working data
//! (ids, the plan, amounts: never personal data), the failure, the stuck
//! reason and the operators' actions. The engine loads it, runs the step the
//! cursor points at, hands the [`Outcome`] to [`Saga::record_forward`] or
//! [`Saga::record_compensation`], and writes the result back in one commit.
//! Every decision of the contract lives here, as plain functions of the record
//! and the outcome:
//!
//! - forward: done or skipped -> the next step (or COMPLETED); transient ->
//!   retry after a backoff within the step's budget; refused, or out of
//!   budget -> compensate, unless the pivot was passed (or is the step, with
//!   its outcome unknown) -> STUCK;
//! - compensating: the steps that ran, in reverse order, each retried until
//!   its budget runs out (INVALID_ARGUMENT at once) -> STUCK; none left ->
//!   COMPENSATED;
//! - operators: RetrySaga resumes a STUCK saga in its direction with a fresh
//!   budget; CompensateSaga turns it back, operator-only compensations
//!   included.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    SagaKind, SagaState, StepState,
    step::{Outcome, StepDef, StepError, splitmix64},
};

/// How many attempts of one step the record keeps, per direction: the most
/// recent ones.
const KEPT_ATTEMPTS: usize = 20;

/// One saga.
#[derive(Clone, Debug, PartialEq)]
pub struct Saga {
    /// The saga's id.
    pub saga_id: Uuid,
    /// Its flow.
    pub kind: SagaKind,
    /// The version of the flow it started on.
    pub flow_version: i32,
    /// Its state.
    pub state: SagaState,
    /// The order concerned.
    pub order_id: String,
    /// The return concerned (RETURN sagas).
    pub return_id: String,
    /// The order's cancellation (CANCEL sagas): 0 for the whole order, 1, 2,
    /// ... for partial ones.
    pub cancellation: i32,
    /// Everything else.
    pub body: Body,
    /// When it was started.
    pub create_time: DateTime<Utc>,
    /// When it last changed.
    pub update_time: DateTime<Utc>,
    /// When it reached COMPLETED or COMPENSATED.
    pub finish_time: Option<DateTime<Utc>>,
    /// The replica holding its lease.
    pub owner_id: Option<String>,
    /// When that lease runs out.
    pub lease_expire_time: Option<DateTime<Utc>>,
}

/// Who acted (a request's actor), as recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorRecord {
    /// `oms.common.v1.ActorKind` number.
    pub kind: i32,
    /// Who exactly; never PII.
    pub id: String,
}

/// The part of a saga kept as one document: written whole at each step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Body {
    /// The steps, in forward order.
    pub steps: Vec<StepRecord>,
    /// The step being run, waited on or compensated (while compensating, the
    /// next one down to consider).
    pub cursor: i32,
    /// The pivot step succeeded.
    pub pivot_passed: bool,
    /// The flow's working data (its own serde type), never personal data.
    pub data: serde_json::Value,
    /// The error that made the saga compensate.
    pub failure: Option<StepError>,
    /// Why the saga is STUCK.
    pub stuck: Option<Stuck>,
    /// Operator actions, oldest first.
    pub operator_actions: Vec<OperatorAction>,
    /// An operator's CompensateSaga: the operator-only compensations run too.
    pub operator_compensation: bool,
    /// The cancel's reason (CANCEL sagas).
    pub cancel_reason: String,
    /// Who started the flow.
    pub started_by: ActorRecord,
    /// The W3C trace context of the call that started the saga; every step
    /// call is made in this trace.
    pub traceparent: String,
}

/// Why a saga is STUCK.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stuck {
    /// For operators, e.g. "commit_stock: INSUFFICIENT_STOCK after 12 attempts".
    pub reason: String,
    /// The step it is stuck on.
    pub step: String,
    /// When it became STUCK.
    pub time: DateTime<Utc>,
    /// It was compensating (RetrySaga resumes the compensation).
    pub compensating: bool,
}

/// What an operator did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorActionKind {
    /// RetrySaga.
    Retry,
    /// CompensateSaga.
    Compensate,
}

/// One operator action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorAction {
    /// Retry or compensate.
    pub kind: OperatorActionKind,
    /// Who.
    pub actor: ActorRecord,
    /// Why, as given; never PII.
    pub reason: String,
    /// The step the saga was stuck on.
    pub step: String,
    /// When.
    pub time: DateTime<Utc>,
}

/// One step's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// The step's name.
    pub name: String,
    /// Its state.
    #[serde(with = "step_state_name")]
    pub state: StepState,
    /// Forward attempts made (a re-plan counts on).
    pub forward_attempts: i32,
    /// Compensation attempts made.
    pub compensation_attempts: i32,
    /// Forward attempts made before the current budget (RetrySaga, a re-run).
    pub forward_budget_base: i32,
    /// Compensation attempts made before the current budget.
    pub compensation_budget_base: i32,
    /// When the current budget started (its first attempt).
    pub budget_start: Option<DateTime<Utc>>,
    /// The last error of either direction.
    pub last_error: Option<StepError>,
    /// What the step did or decided, for operators; never PII.
    pub detail: String,
    /// When the next attempt is due.
    pub next_attempt_time: Option<DateTime<Utc>>,
    /// When the first forward attempt started.
    pub start_time: Option<DateTime<Utc>>,
    /// When the forward call succeeded or failed for good.
    pub finish_time: Option<DateTime<Utc>>,
    /// When the compensation started.
    pub compensation_start_time: Option<DateTime<Utc>>,
    /// When the compensation succeeded.
    pub compensate_time: Option<DateTime<Utc>>,
    /// The most recent attempts of both directions, oldest first.
    pub attempts: Vec<Attempt>,
}

impl StepRecord {
    fn new(name: &str) -> StepRecord {
        StepRecord {
            name: name.to_owned(),
            state: StepState::Pending,
            forward_attempts: 0,
            compensation_attempts: 0,
            forward_budget_base: 0,
            compensation_budget_base: 0,
            budget_start: None,
            last_error: None,
            detail: String::new(),
            next_attempt_time: None,
            start_time: None,
            finish_time: None,
            compensation_start_time: None,
            compensate_time: None,
            attempts: Vec::new(),
        }
    }
}

/// One attempt of a step's call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// The compensation call (else the forward one).
    pub compensation: bool,
    /// Its number in its direction, from 1.
    pub attempt: i32,
    /// When it started.
    pub start_time: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// What it returned when it failed.
    pub error: Option<StepError>,
}

/// When and how long an attempt ran, as the engine measured it.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// When the call started.
    pub start: DateTime<Utc>,
    /// When the outcome came back.
    pub end: DateTime<Utc>,
}

/// The work a saga needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Work {
    /// The step.
    pub index: usize,
    /// Its compensation (else its forward call).
    pub compensating: bool,
    /// When it is due; `None` means now.
    pub due: Option<DateTime<Utc>>,
}

/// Why an operator action does not apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotActionable {
    /// The saga is not STUCK.
    #[error("the saga is not stuck")]
    NotStuck,
    /// CANCEL sagas, and RETURN sagas past their pivot, only go forward.
    #[error("the saga only goes forward")]
    ForwardOnly,
}

/// What starts a saga.
#[derive(Clone, Debug)]
pub struct NewSaga {
    /// The flow.
    pub kind: SagaKind,
    /// Its version.
    pub flow_version: i32,
    /// The order.
    pub order_id: String,
    /// The return (RETURN sagas).
    pub return_id: String,
    /// The order's cancellation (CANCEL sagas).
    pub cancellation: i32,
    /// The cancel's reason (CANCEL sagas).
    pub cancel_reason: String,
    /// Who starts it.
    pub started_by: ActorRecord,
    /// The trace it runs in.
    pub traceparent: String,
    /// The flow's initial working data.
    pub data: serde_json::Value,
}

impl Saga {
    /// A new RUNNING saga at its first step.
    pub fn start(new: NewSaga, flow: &[StepDef], now: DateTime<Utc>) -> Saga {
        let mut steps: Vec<StepRecord> = flow.iter().map(|def| StepRecord::new(def.name)).collect();
        if let Some(first) = steps.first_mut() {
            first.state = StepState::Running;
        }
        Saga {
            saga_id: Uuid::now_v7(),
            kind: new.kind,
            flow_version: new.flow_version,
            state: SagaState::Running,
            order_id: new.order_id,
            return_id: new.return_id,
            cancellation: new.cancellation,
            body: Body {
                steps,
                cursor: 0,
                pivot_passed: false,
                data: new.data,
                failure: None,
                stuck: None,
                operator_actions: Vec::new(),
                operator_compensation: false,
                cancel_reason: new.cancel_reason,
                started_by: new.started_by,
                traceparent: new.traceparent,
            },
            create_time: now,
            update_time: now,
            finish_time: None,
            owner_id: None,
            lease_expire_time: None,
        }
    }

    /// The step the saga works on next, if it has work: none once it ended or
    /// while it is STUCK.
    pub fn next_work(&self) -> Option<Work> {
        let compensating = match self.state {
            SagaState::Running => false,
            SagaState::Compensating => true,
            _ => return None,
        };
        let index = usize::try_from(self.body.cursor).ok()?;
        let step = self.body.steps.get(index)?;
        Some(Work {
            index,
            compensating,
            due: step.next_attempt_time,
        })
    }

    /// When the engine must act next: `None` when finished or STUCK.
    pub fn due_time(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.next_work().map(|work| {
            work.due
                .unwrap_or(now)
                .max(now - chrono::Duration::hours(1))
        })
    }

    /// The name of the step being run, compensated or waited on, or the stuck
    /// step; empty once the saga ended.
    pub fn current_step(&self) -> &str {
        if let Some(stuck) = &self.body.stuck {
            return &stuck.step;
        }
        match self.next_work() {
            Some(work) => &self.body.steps[work.index].name,
            None => "",
        }
    }

    /// Records an attempt of the current step's forward call and what follows
    /// from its outcome.
    pub fn record_forward(&mut self, flow: &[StepDef], outcome: Outcome, timing: Timing) {
        let now = timing.end;
        let Some(index) = self.cursor_index() else {
            return;
        };
        let def = flow[index];
        let seed = self.seed(index);
        let pivot_passed = self.body.pivot_passed;
        let step = &mut self.body.steps[index];
        step.forward_attempts += 1;
        step.start_time.get_or_insert(timing.start);
        step.budget_start.get_or_insert(timing.start);
        let error = match &outcome {
            Outcome::Transient(err)
            | Outcome::Refused(err)
            | Outcome::Abandon(err)
            | Outcome::Park(err) => Some(err.clone()),
            Outcome::Rewind { error, .. } => Some(error.clone()),
            _ => None,
        };
        log_attempt(step, false, step.forward_attempts, timing, error);
        match outcome {
            Outcome::Done { detail } => {
                step.state = StepState::Succeeded;
                step.detail = detail;
                step.finish_time = Some(now);
                step.next_attempt_time = None;
                if def.pivot {
                    self.body.pivot_passed = true;
                }
                self.advance(now);
            }
            Outcome::Skipped { detail } => {
                step.state = StepState::Skipped;
                step.detail = detail;
                step.finish_time = Some(now);
                step.next_attempt_time = None;
                self.advance(now);
            }
            Outcome::Wait { until, detail } => {
                step.state = StepState::Waiting;
                step.detail = detail;
                step.next_attempt_time = Some(until);
            }
            Outcome::Transient(err) => {
                step.last_error = Some(err.clone());
                let used = step.forward_attempts - step.forward_budget_base;
                let started = step.budget_start.unwrap_or(now);
                if within_budget(&def, used, started, now) {
                    step.next_attempt_time = Some(now + backoff(&def, used, seed));
                } else if pivot_passed || def.pivot {
                    // After the pivot the saga only goes forward; at the pivot
                    // the outcome is unknown (the money may be taken).
                    let reason = format!("{}: {} after {used} attempts", def.name, err.summary());
                    self.park(def.name, reason, false, now);
                } else {
                    self.fail(flow, index, err, true, now);
                }
            }
            Outcome::Refused(err) => {
                step.last_error = Some(err.clone());
                if pivot_passed {
                    let reason = format!("{}: {}", def.name, err.summary());
                    self.park(def.name, reason, false, now);
                } else {
                    self.fail(flow, index, err, true, now);
                }
            }
            Outcome::Abandon(err) => {
                step.last_error = Some(err.clone());
                self.fail(flow, index, err, false, now);
            }
            Outcome::Park(err) => {
                step.last_error = Some(err.clone());
                let reason = format!("{}: {}", def.name, err.summary());
                self.park(def.name, reason, false, now);
            }
            Outcome::Rewind { to, error, detail } => {
                step.state = StepState::Failed;
                step.last_error = Some(error);
                step.next_attempt_time = None;
                let Some(target) = flow.iter().position(|def| def.name == to) else {
                    let reason = format!("{}: the flow has no step {to}", def.name);
                    self.park(def.name, reason, false, now);
                    return;
                };
                let again = &mut self.body.steps[target];
                again.state = StepState::Running;
                again.detail = detail;
                again.forward_budget_base = again.forward_attempts;
                again.budget_start = None;
                again.next_attempt_time = None;
                self.body.cursor = i32::try_from(target).unwrap_or(0);
            }
        }
    }

    /// Records an attempt of the current step's compensation and what follows.
    pub fn record_compensation(&mut self, flow: &[StepDef], outcome: Outcome, timing: Timing) {
        let now = timing.end;
        let Some(index) = self.cursor_index() else {
            return;
        };
        let def = flow[index];
        let seed = self.seed(index) ^ 0xC0;
        let step = &mut self.body.steps[index];
        step.compensation_attempts += 1;
        step.compensation_start_time.get_or_insert(timing.start);
        step.budget_start.get_or_insert(timing.start);
        let attempt = step.compensation_attempts;
        match outcome {
            Outcome::Done { detail } | Outcome::Skipped { detail } => {
                log_attempt(step, true, attempt, timing, None);
                step.state = StepState::Compensated;
                step.compensate_time = Some(now);
                step.next_attempt_time = None;
                if !detail.is_empty() {
                    step.detail = detail;
                }
                self.body.cursor -= 1;
                self.settle_compensation(flow, now);
            }
            Outcome::Transient(err)
            | Outcome::Refused(err)
            | Outcome::Abandon(err)
            | Outcome::Park(err) => {
                log_attempt(step, true, attempt, timing, Some(err.clone()));
                step.last_error = Some(err.clone());
                let used = step.compensation_attempts - step.compensation_budget_base;
                let started = step.budget_start.unwrap_or(now);
                // A compensation refused as malformed will never pass.
                if err.code != "INVALID_ARGUMENT" && within_budget(&def, used, started, now) {
                    step.next_attempt_time = Some(now + backoff(&def, used, seed));
                } else {
                    let reason = format!(
                        "{} compensation: {} after {used} attempts",
                        def.name,
                        err.summary()
                    );
                    self.park(def.name, reason, true, now);
                }
            }
            Outcome::Rewind { error, .. } => {
                log_attempt(step, true, attempt, timing, Some(error));
                let reason = format!("{} compensation: cannot go back", def.name);
                self.park(def.name, reason, true, now);
            }
            Outcome::Wait { until, detail } => {
                log_attempt(step, true, attempt, timing, None);
                step.detail = detail;
                step.next_attempt_time = Some(until);
            }
        }
    }

    /// Stops a RUNNING saga before its pivot at the current step boundary and
    /// compensates what it did (a cancel arrived). False when it is past its
    /// pivot or not running: then it goes on.
    pub fn abort(&mut self, flow: &[StepDef], error: StepError, now: DateTime<Utc>) -> bool {
        if self.state != SagaState::Running || self.body.pivot_passed {
            return false;
        }
        let Some(index) = self.cursor_index() else {
            return false;
        };
        let step = &mut self.body.steps[index];
        if step.forward_attempts == step.forward_budget_base {
            // Reached but never called: nothing to undo.
            step.state = StepState::Skipped;
            step.detail = "not run: the saga was stopped before it".into();
            step.next_attempt_time = None;
            self.body.failure = Some(error);
            self.body.cursor -= 1;
            self.state = SagaState::Compensating;
            self.settle_compensation(flow, now);
        } else {
            // Called before (its outcome may be unknown): undo it too.
            self.fail(flow, index, error, true, now);
        }
        true
    }

    /// RetrySaga: a STUCK saga resumes in the direction it was going, its
    /// stuck step with a fresh attempt budget.
    pub fn retry_by_operator(
        &mut self,
        actor: ActorRecord,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), NotActionable> {
        let stuck = self.body.stuck.take().ok_or(NotActionable::NotStuck)?;
        if self.state != SagaState::Stuck {
            self.body.stuck = Some(stuck);
            return Err(NotActionable::NotStuck);
        }
        self.record_action(OperatorActionKind::Retry, actor, reason, &stuck.step, now);
        self.resume(stuck.compensating);
        Ok(())
    }

    /// CompensateSaga: a STUCK saga gives up its forward path and undoes every
    /// step that ran, the operator-only compensations included; one stuck
    /// while compensating resumes its compensation. `forward_only` flows
    /// (CANCEL, a RETURN past its pivot) are refused.
    pub fn compensate_by_operator(
        &mut self,
        flow: &[StepDef],
        forward_only: bool,
        actor: ActorRecord,
        reason: String,
        now: DateTime<Utc>,
    ) -> Result<(), NotActionable> {
        if self.state != SagaState::Stuck {
            return Err(NotActionable::NotStuck);
        }
        let stuck = self.body.stuck.clone().ok_or(NotActionable::NotStuck)?;
        if forward_only && !stuck.compensating {
            return Err(NotActionable::ForwardOnly);
        }
        self.body.stuck = None;
        self.body.operator_compensation = true;
        self.record_action(
            OperatorActionKind::Compensate,
            actor,
            reason,
            &stuck.step,
            now,
        );
        if stuck.compensating {
            self.resume(true);
            // Steps above the cursor whose compensation is operator-only were
            // passed over before; they are owed now.
            self.body.cursor = i32::try_from(self.body.steps.len()).unwrap_or(0) - 1;
            self.settle_compensation(flow, now);
            return Ok(());
        }
        let Some(index) = self.cursor_index() else {
            return Ok(());
        };
        let error = self.body.steps[index]
            .last_error
            .clone()
            .unwrap_or_else(|| StepError {
                step: stuck.step.clone(),
                code: "ABORTED".into(),
                message: "compensated by an operator".into(),
                event_time: now,
                ..StepError::default()
            });
        self.state = SagaState::Running;
        self.fail(flow, index, error, true, now);
        Ok(())
    }

    fn resume(&mut self, compensating: bool) {
        self.state = if compensating {
            SagaState::Compensating
        } else {
            SagaState::Running
        };
        if let Some(index) = self.cursor_index() {
            let step = &mut self.body.steps[index];
            if compensating {
                step.compensation_budget_base = step.compensation_attempts;
            } else {
                step.forward_budget_base = step.forward_attempts;
            }
            step.budget_start = None;
            step.next_attempt_time = None;
        }
    }

    fn record_action(
        &mut self,
        kind: OperatorActionKind,
        actor: ActorRecord,
        reason: String,
        step: &str,
        now: DateTime<Utc>,
    ) {
        self.body.operator_actions.push(OperatorAction {
            kind,
            actor,
            reason,
            step: step.to_owned(),
            time: now,
        });
    }

    fn cursor_index(&self) -> Option<usize> {
        usize::try_from(self.body.cursor)
            .ok()
            .filter(|index| *index < self.body.steps.len())
    }

    /// A seed for the backoff draws of one step of this saga.
    fn seed(&self, index: usize) -> u64 {
        let (high, low) = self.saga_id.as_u64_pair();
        splitmix64(high ^ low ^ u64::try_from(index).unwrap_or(0))
    }

    /// On to the next step, or COMPLETED after the last.
    fn advance(&mut self, now: DateTime<Utc>) {
        self.body.cursor += 1;
        match self.cursor_index() {
            Some(index) => {
                let next = &mut self.body.steps[index];
                next.state = StepState::Running;
                next.next_attempt_time = None;
                if next.forward_attempts > 0 {
                    // Run again after a re-plan: a fresh budget.
                    next.forward_budget_base = next.forward_attempts;
                    next.budget_start = None;
                }
            }
            None => {
                self.state = SagaState::Completed;
                self.finish_time = Some(now);
            }
        }
    }

    /// The forward path failed at `index`: compensate, from that step (its
    /// outcome may be unknown) or from the one before it.
    fn fail(
        &mut self,
        flow: &[StepDef],
        index: usize,
        error: StepError,
        undo_failed_step: bool,
        now: DateTime<Utc>,
    ) {
        let step = &mut self.body.steps[index];
        step.state = StepState::Failed;
        step.finish_time = Some(now);
        step.next_attempt_time = None;
        self.body.failure = Some(error);
        self.state = SagaState::Compensating;
        let index = i32::try_from(index).unwrap_or(0);
        self.body.cursor = if undo_failed_step { index } else { index - 1 };
        self.settle_compensation(flow, now);
    }

    /// Moves the cursor down to the next step that owes a compensation, or
    /// ends the saga COMPENSATED when none is left.
    fn settle_compensation(&mut self, flow: &[StepDef], now: DateTime<Utc>) {
        while self.body.cursor >= 0 {
            let index = usize::try_from(self.body.cursor).unwrap_or(0);
            let def = flow[index];
            let step = &mut self.body.steps[index];
            let ran = matches!(
                step.state,
                StepState::Succeeded | StepState::Failed | StepState::Compensating
            );
            let owed = def.compensation_rpc.is_some()
                && (!def.compensation_operator_only || self.body.operator_compensation);
            if ran && owed {
                step.state = StepState::Compensating;
                step.budget_start = None;
                step.next_attempt_time = None;
                return;
            }
            self.body.cursor -= 1;
        }
        self.state = SagaState::Compensated;
        self.finish_time = Some(now);
        for step in &mut self.body.steps {
            if step.state == StepState::Pending {
                step.state = StepState::Skipped;
            }
        }
    }

    fn park(&mut self, step: &str, reason: String, compensating: bool, now: DateTime<Utc>) {
        self.state = SagaState::Stuck;
        self.body.stuck = Some(Stuck {
            reason,
            step: step.to_owned(),
            time: now,
            compensating,
        });
        if let Some(index) = self.cursor_index() {
            self.body.steps[index].next_attempt_time = None;
        }
    }
}

/// A step's state in the record, by its contract name.
mod step_state_name {
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    use crate::domain::StepState;

    pub fn serialize<S: Serializer>(state: &StepState, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(state.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<StepState, D::Error> {
        let name = String::deserialize(deserializer)?;
        StepState::ALL
            .iter()
            .copied()
            .find(|state| state.name() == name)
            .ok_or_else(|| D::Error::custom(format!("unknown step state {name}")))
    }
}

fn within_budget(def: &StepDef, used: i32, started: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    let deadline = chrono::Duration::from_std(def.retry.deadline).unwrap_or(chrono::Duration::MAX);
    used < def.retry.max_attempts && now - started < deadline
}

fn backoff(def: &StepDef, used: i32, seed: u64) -> chrono::Duration {
    chrono::Duration::from_std(def.retry.backoff(used, seed)).unwrap_or(chrono::Duration::zero())
}

fn log_attempt(
    step: &mut StepRecord,
    compensation: bool,
    attempt: i32,
    timing: Timing,
    error: Option<StepError>,
) {
    step.attempts.push(Attempt {
        compensation,
        attempt,
        start_time: timing.start,
        duration_ms: (timing.end - timing.start).num_milliseconds(),
        error,
    });
    let same_direction = step
        .attempts
        .iter()
        .filter(|attempt| attempt.compensation == compensation)
        .count();
    if same_direction > KEPT_ATTEMPTS
        && let Some(oldest) = step
            .attempts
            .iter()
            .position(|attempt| attempt.compensation == compensation)
    {
        step.attempts.remove(oldest);
    }
}

#[cfg(test)]
mod tests;
