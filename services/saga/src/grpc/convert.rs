//! A saga as the contract shows it.

use oms_platform::convert::timestamp;
use oms_proto::{
    common::v1::Actor,
    saga::v1::{self as pb},
};

use crate::{
    domain::{
        SagaKind,
        saga::{ActorRecord, Attempt, OperatorActionKind, Saga, StepRecord},
        step::{StepDef, StepError},
    },
    flows,
};

fn actor(actor: &ActorRecord) -> Actor {
    Actor {
        kind: actor.kind,
        id: actor.id.clone(),
    }
}

fn step_error(error: &StepError) -> pb::StepError {
    pb::StepError {
        step: error.step.clone(),
        compensation: error.compensation,
        code: error.code.clone(),
        reason: error.reason.clone(),
        message: error.message.clone(),
        metadata: error.metadata.clone(),
        attempt: error.attempt,
        event_time: Some(timestamp(error.event_time)),
    }
}

fn attempt(attempt: &Attempt) -> pb::StepAttempt {
    pb::StepAttempt {
        compensation: attempt.compensation,
        attempt: attempt.attempt,
        start_time: Some(timestamp(attempt.start_time)),
        duration: Some(prost_types::Duration {
            seconds: attempt.duration_ms.max(0) / 1000,
            nanos: i32::try_from((attempt.duration_ms.max(0) % 1000) * 1_000_000).unwrap_or(0),
        }),
        error: attempt.error.as_ref().map(step_error),
    }
}

fn duration(duration: std::time::Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(duration).unwrap_or_default()
}

fn step(saga: &Saga, index: usize, record: &StepRecord, def: Option<&StepDef>) -> pb::SagaStep {
    let key =
        |compensation| crate::engine::context::step_key(saga.saga_id, &record.name, compensation);
    pb::SagaStep {
        name: record.name.clone(),
        index: i32::try_from(index + 1).unwrap_or(i32::MAX),
        forward_rpc: def
            .map(|def| def.forward_rpc.to_owned())
            .unwrap_or_default(),
        compensation_rpc: def
            .and_then(|def| def.compensation_rpc)
            .unwrap_or_default()
            .to_owned(),
        compensation_operator_only: def.is_some_and(|def| def.compensation_operator_only),
        pivot: def.is_some_and(|def| def.pivot),
        state: i32::from(record.state.code()),
        forward_attempts: record.forward_attempts,
        compensation_attempts: record.compensation_attempts,
        max_attempts: def.map_or(0, |def| def.retry.max_attempts),
        attempt_timeout: def.map(|def| duration(def.retry.attempt_timeout)),
        deadline: def.map(|def| duration(def.retry.deadline)),
        idempotency_key: key(false),
        last_error: record.last_error.as_ref().map(step_error),
        detail: record.detail.clone(),
        next_attempt_time: record.next_attempt_time.map(timestamp),
        start_time: record.start_time.map(timestamp),
        finish_time: record.finish_time.map(timestamp),
        compensation_start_time: record.compensation_start_time.map(timestamp),
        compensate_time: record.compensate_time.map(timestamp),
        attempts: record.attempts.iter().map(attempt).collect(),
    }
}

/// The trace id of a W3C `traceparent`.
fn trace_id(traceparent: &str) -> String {
    traceparent
        .split('-')
        .nth(1)
        .filter(|id| id.len() == 32)
        .unwrap_or_default()
        .to_owned()
}

/// The saga with every step.
pub fn saga(saga: &Saga) -> pb::Saga {
    let defs = flows::definition(saga.kind, saga.flow_version).unwrap_or(&[]);
    let stuck = saga.body.stuck.as_ref();
    pb::Saga {
        saga_id: saga.saga_id.to_string(),
        kind: i32::from(saga.kind.code()),
        state: i32::from(saga.state.code()),
        order_id: saga.order_id.clone(),
        return_id: saga.return_id.clone(),
        cancel_reason: saga.body.cancel_reason.clone(),
        cancellation: saga.cancellation,
        cancel_lines: if saga.kind == SagaKind::Cancel {
            flows::cancel::requested_lines(&saga.body.data)
        } else {
            Vec::new()
        },
        started_by: Some(actor(&saga.body.started_by)),
        steps: saga
            .body
            .steps
            .iter()
            .enumerate()
            .map(|(index, record)| step(saga, index, record, defs.get(index)))
            .collect(),
        current_step: saga.current_step().to_owned(),
        pivot_passed: saga.body.pivot_passed,
        failure: saga.body.failure.as_ref().map(step_error),
        stuck_reason: stuck.map(|stuck| stuck.reason.clone()).unwrap_or_default(),
        stuck_step: stuck.map(|stuck| stuck.step.clone()).unwrap_or_default(),
        stuck_time: stuck.map(|stuck| timestamp(stuck.time)),
        operator_actions: saga
            .body
            .operator_actions
            .iter()
            .map(|action| pb::OperatorAction {
                kind: match action.kind {
                    OperatorActionKind::Retry => pb::OperatorActionKind::Retry,
                    OperatorActionKind::Compensate => pb::OperatorActionKind::Compensate,
                } as i32,
                actor: Some(actor(&action.actor)),
                reason: action.reason.clone(),
                step: action.step.clone(),
                event_time: Some(timestamp(action.time)),
            })
            .collect(),
        trace_id: trace_id(&saga.body.traceparent),
        owner_id: saga.owner_id.clone().unwrap_or_default(),
        lease_expire_time: saga.lease_expire_time.map(timestamp),
        create_time: Some(timestamp(saga.create_time)),
        update_time: Some(timestamp(saga.update_time)),
        finish_time: saga.finish_time.map(timestamp),
    }
}
