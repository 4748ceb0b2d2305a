//! The saga's rules over a four-step flow: `hold` (compensated), `look` (no
//! compensation), `take` (the pivot; operator-only compensation) and `keep`
//! (operator-only compensation).

use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};

use super::*;
use crate::domain::step::{Outcome, RetryPolicy, StepDef};

const POLICY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    attempt_timeout: Duration::from_secs(1),
    deadline: Duration::from_secs(60),
    first_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_secs(1),
};

const FLOW: [StepDef; 4] = [
    StepDef {
        name: "hold",
        forward_rpc: "t.T/Hold",
        compensation_rpc: Some("t.T/Release"),
        compensation_operator_only: false,
        pivot: false,
        retry: POLICY,
    },
    StepDef {
        name: "look",
        forward_rpc: "t.T/Look",
        compensation_rpc: None,
        compensation_operator_only: false,
        pivot: false,
        retry: POLICY,
    },
    StepDef {
        name: "take",
        forward_rpc: "t.T/Take",
        compensation_rpc: Some("t.T/GiveBack"),
        compensation_operator_only: true,
        pivot: true,
        retry: POLICY,
    },
    StepDef {
        name: "keep",
        forward_rpc: "t.T/Keep",
        compensation_rpc: Some("t.T/Unkeep"),
        compensation_operator_only: true,
        pivot: false,
        retry: POLICY,
    },
];

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

fn timing(seconds: i64) -> Timing {
    Timing {
        start: at(seconds),
        end: at(seconds),
    }
}

fn saga() -> Saga {
    Saga::start(
        NewSaga {
            kind: SagaKind::Order,
            flow_version: 1,
            order_id: "o-1".into(),
            return_id: String::new(),
            cancellation: 0,
            cancel_reason: String::new(),
            started_by: ActorRecord::default(),
            traceparent: String::new(),
            data: serde_json::Value::Null,
        },
        &FLOW,
        at(0),
    )
}

fn done() -> Outcome {
    Outcome::Done {
        detail: "ok".into(),
    }
}

fn error(code: &str) -> StepError {
    StepError {
        code: code.into(),
        ..StepError::default()
    }
}

fn states(saga: &Saga) -> Vec<StepState> {
    saga.body.steps.iter().map(|step| step.state).collect()
}

/// Runs the current work with `outcome`.
fn step(saga: &mut Saga, outcome: Outcome, seconds: i64) {
    let work = saga.next_work().expect("work to do");
    if work.compensating {
        saga.record_compensation(&FLOW, outcome, timing(seconds));
    } else {
        saga.record_forward(&FLOW, outcome, timing(seconds));
    }
}

#[test]
fn every_step_done_completes_the_saga() {
    let mut saga = saga();
    assert_eq!(saga.current_step(), "hold");
    for n in 0..4 {
        step(&mut saga, done(), n);
    }
    assert_eq!(saga.state, SagaState::Completed);
    assert!(saga.body.pivot_passed);
    assert_eq!(saga.finish_time, Some(at(3)));
    assert_eq!(saga.next_work(), None);
    assert_eq!(saga.due_time(at(9)), None);
    assert_eq!(saga.current_step(), "");
    assert!(
        states(&saga)
            .iter()
            .all(|state| *state == StepState::Succeeded)
    );
}

#[test]
fn a_transient_error_is_retried_after_a_backoff_and_then_succeeds() {
    let mut saga = saga();
    step(&mut saga, Outcome::Transient(error("UNAVAILABLE")), 0);
    let work = saga.next_work().unwrap();
    assert_eq!((work.index, work.compensating), (0, false));
    let due = work.due.expect("a due time");
    assert!(due > at(0) && due <= at(1), "{due}");
    assert_eq!(saga.due_time(at(0)), Some(due));
    step(&mut saga, done(), 1);
    let hold = &saga.body.steps[0];
    assert_eq!(hold.state, StepState::Succeeded);
    assert_eq!(hold.forward_attempts, 2);
    assert_eq!(hold.attempts.len(), 2);
    assert!(hold.attempts[0].error.is_some() && hold.attempts[1].error.is_none());
    assert_eq!(saga.current_step(), "look");
}

#[test]
fn out_of_attempts_before_the_pivot_compensates_in_reverse_order_from_the_failed_step() {
    let mut saga = saga();
    step(&mut saga, done(), 0);
    for n in 1..=3 {
        step(&mut saga, Outcome::Transient(error("UNAVAILABLE")), n);
    }
    // `look` has no compensation: `hold` is undone.
    assert_eq!(saga.state, SagaState::Compensating);
    assert_eq!(saga.body.failure.as_ref().unwrap().code, "UNAVAILABLE");
    assert_eq!(
        states(&saga),
        [
            StepState::Compensating,
            StepState::Failed,
            StepState::Pending,
            StepState::Pending
        ]
    );
    step(&mut saga, done(), 4);
    assert_eq!(saga.state, SagaState::Compensated);
    assert_eq!(
        states(&saga),
        [
            StepState::Compensated,
            StepState::Failed,
            StepState::Skipped,
            StepState::Skipped
        ]
    );
}

#[test]
fn a_refusal_compensates_at_once_and_undoes_the_refused_step_too() {
    let mut saga = saga();
    step(&mut saga, Outcome::Refused(error("FAILED_PRECONDITION")), 0);
    assert_eq!(saga.state, SagaState::Compensating);
    assert_eq!(saga.body.steps[0].state, StepState::Compensating);
    assert_eq!(saga.body.steps[0].forward_attempts, 1);
    step(&mut saga, done(), 1);
    assert_eq!(saga.state, SagaState::Compensated);
}

#[test]
fn an_abandoned_step_is_not_undone() {
    let mut saga = saga();
    step(&mut saga, Outcome::Abandon(error("NOT_FOUND")), 0);
    assert_eq!(saga.state, SagaState::Compensated);
    assert_eq!(saga.body.steps[0].state, StepState::Failed);
    assert_eq!(saga.body.steps[0].compensation_attempts, 0);
}

#[test]
fn a_refused_pivot_compensates_but_one_with_an_unknown_outcome_is_stuck() {
    let mut refused = saga();
    step(&mut refused, done(), 0);
    step(&mut refused, done(), 1);
    step(
        &mut refused,
        Outcome::Refused(error("FAILED_PRECONDITION")),
        2,
    );
    assert_eq!(refused.state, SagaState::Compensating);
    // The pivot's own compensation is operator-only: `hold` is next.
    assert_eq!(refused.current_step(), "hold");

    let mut unknown = saga();
    step(&mut unknown, done(), 0);
    step(&mut unknown, done(), 1);
    for n in 2..5 {
        step(
            &mut unknown,
            Outcome::Transient(error("DEADLINE_EXCEEDED")),
            n,
        );
    }
    assert_eq!(unknown.state, SagaState::Stuck);
    let stuck = unknown.body.stuck.as_ref().unwrap();
    assert_eq!(stuck.step, "take");
    assert_eq!(stuck.reason, "take: DEADLINE_EXCEEDED after 3 attempts");
    assert!(!stuck.compensating);
    assert_eq!(unknown.next_work(), None);
    assert_eq!(unknown.current_step(), "take");
}

#[test]
fn after_the_pivot_a_refusal_parks_the_saga_and_a_retry_gets_a_fresh_budget() {
    let mut saga = saga();
    for n in 0..3 {
        step(&mut saga, done(), n);
    }
    step(&mut saga, Outcome::Refused(error("FAILED_PRECONDITION")), 3);
    assert_eq!(saga.state, SagaState::Stuck);
    assert_eq!(
        saga.body.stuck.as_ref().unwrap().reason,
        "keep: FAILED_PRECONDITION"
    );

    let operator = ActorRecord {
        kind: 2,
        id: "op-1".into(),
    };
    saga.retry_by_operator(operator.clone(), "restocked".into(), at(10))
        .unwrap();
    assert_eq!(saga.state, SagaState::Running);
    assert_eq!(saga.body.stuck, None);
    assert_eq!(saga.body.operator_actions.len(), 1);
    assert_eq!(saga.body.operator_actions[0].step, "keep");
    // A fresh budget: three more attempts before it is stuck again.
    for n in 11..13 {
        step(&mut saga, Outcome::Transient(error("UNAVAILABLE")), n);
        assert_eq!(saga.state, SagaState::Running);
    }
    step(&mut saga, done(), 13);
    assert_eq!(saga.state, SagaState::Completed);
    assert_eq!(
        saga.retry_by_operator(operator, "again".into(), at(14)),
        Err(NotActionable::NotStuck)
    );
}

#[test]
fn an_operator_compensation_undoes_the_steps_past_the_pivot_too() {
    let mut saga = saga();
    for n in 0..3 {
        step(&mut saga, done(), n);
    }
    step(&mut saga, Outcome::Refused(error("FAILED_PRECONDITION")), 3);
    let operator = ActorRecord {
        kind: 2,
        id: "op-1".into(),
    };
    assert_eq!(
        saga.clone()
            .compensate_by_operator(&FLOW, true, operator.clone(), "no".into(), at(9)),
        Err(NotActionable::ForwardOnly)
    );
    saga.compensate_by_operator(&FLOW, false, operator, "refund it".into(), at(10))
        .unwrap();
    assert_eq!(saga.state, SagaState::Compensating);
    // keep (stuck, outcome unknown), take (the pivot), then hold.
    let mut order = Vec::new();
    while let Some(work) = saga.next_work() {
        order.push(saga.body.steps[work.index].name.clone());
        step(&mut saga, done(), 11);
    }
    assert_eq!(order, ["keep", "take", "hold"]);
    assert_eq!(saga.state, SagaState::Compensated);
    assert_eq!(
        saga.body.operator_actions[0].kind,
        OperatorActionKind::Compensate
    );
}

#[test]
fn a_compensation_that_keeps_failing_parks_the_saga_and_a_malformed_one_at_once() {
    let mut saga = saga();
    step(&mut saga, done(), 0);
    step(&mut saga, Outcome::Refused(error("FAILED_PRECONDITION")), 1);
    for n in 2..5 {
        step(&mut saga, Outcome::Transient(error("UNAVAILABLE")), n);
    }
    assert_eq!(saga.state, SagaState::Stuck);
    let stuck = saga.body.stuck.clone().unwrap();
    assert!(stuck.compensating);
    assert_eq!(
        stuck.reason,
        "hold compensation: UNAVAILABLE after 3 attempts"
    );

    let operator = ActorRecord {
        kind: 2,
        id: "op-1".into(),
    };
    saga.retry_by_operator(operator, "fixed".into(), at(10))
        .unwrap();
    assert_eq!(saga.state, SagaState::Compensating);
    step(&mut saga, Outcome::Refused(error("INVALID_ARGUMENT")), 11);
    assert_eq!(saga.state, SagaState::Stuck);
}

#[test]
fn a_rewind_runs_an_earlier_step_again_and_the_failed_one_after_it() {
    let mut saga = saga();
    step(&mut saga, done(), 0);
    step(&mut saga, done(), 1);
    step(
        &mut saga,
        Outcome::Rewind {
            to: "look",
            error: error("FAILED_PRECONDITION"),
            detail: "again without wh-1".into(),
        },
        2,
    );
    assert_eq!(saga.current_step(), "look");
    assert_eq!(saga.body.steps[1].state, StepState::Running);
    assert_eq!(saga.body.steps[1].detail, "again without wh-1");
    assert_eq!(saga.body.steps[2].state, StepState::Failed);
    step(&mut saga, done(), 3);
    assert_eq!(saga.body.steps[2].state, StepState::Running);
    step(&mut saga, done(), 4);
    step(&mut saga, done(), 5);
    assert_eq!(saga.state, SagaState::Completed);
    assert_eq!(saga.body.steps[1].forward_attempts, 2);
    assert_eq!(saga.body.steps[2].forward_attempts, 2);
}

#[test]
fn a_cancel_stops_the_saga_at_a_step_boundary_before_its_pivot_only() {
    let mut saga = saga();
    step(&mut saga, done(), 0);
    assert!(saga.abort(&FLOW, error("CANCELLED"), at(1)));
    // `look` was never called: skipped, and `hold` is undone.
    assert_eq!(saga.body.steps[1].state, StepState::Skipped);
    assert_eq!(saga.current_step(), "hold");
    step(&mut saga, done(), 2);
    assert_eq!(saga.state, SagaState::Compensated);
    assert_eq!(saga.body.failure.as_ref().unwrap().code, "CANCELLED");

    let mut past = saga_past_the_pivot();
    assert!(!past.abort(&FLOW, error("CANCELLED"), at(5)));
    assert_eq!(past.state, SagaState::Running);
}

fn saga_past_the_pivot() -> Saga {
    let mut saga = saga();
    for n in 0..3 {
        step(&mut saga, done(), n);
    }
    saga
}

#[test]
fn a_step_keeps_only_its_latest_attempts() {
    let policy = RetryPolicy {
        max_attempts: 100,
        ..POLICY
    };
    let flow = [StepDef {
        retry: policy,
        ..FLOW[0]
    }];
    let mut saga = Saga::start(
        NewSaga {
            kind: SagaKind::Order,
            flow_version: 1,
            order_id: "o".into(),
            return_id: String::new(),
            cancellation: 0,
            cancel_reason: String::new(),
            started_by: ActorRecord::default(),
            traceparent: String::new(),
            data: serde_json::Value::Null,
        },
        &flow,
        at(0),
    );
    for n in 0..30 {
        saga.record_forward(&flow, Outcome::Transient(error("UNAVAILABLE")), timing(n));
    }
    let step = &saga.body.steps[0];
    assert_eq!(step.forward_attempts, 30);
    assert_eq!(step.attempts.len(), 20);
    assert_eq!(step.attempts[0].attempt, 11);
}
