//! The flows the coordinator runs, one per file: each declares its steps as
//! data ([`StepDef`]: RPCs, compensation, pivot, retry policy) and holds the
//! code of each step's calls beside its definition, so a step, its
//! compensation and its retry read together.
//!
//! - [`order`]: order fulfilment (record, plan, reserve, authorize, ship,
//!   capture, commit, confirm).
//!
//! A saga records the version of the flow it started on and finishes on it:
//! [`definition`] knows every version this build can run, and a coordinator
//! that finds unfinished sagas of a version it does not know refuses to start
//! (see `crate::run`).

pub mod order;

use crate::{
    domain::{SagaKind, step::Outcome, step::StepDef},
    engine::context::StepContext,
};

/// Every (kind, version) this build runs.
pub const KNOWN: &[(SagaKind, i32)] = &[(SagaKind::Order, order::VERSION)];

/// The steps of a flow version, if this build has it.
pub fn definition(kind: SagaKind, version: i32) -> Option<&'static [StepDef]> {
    match (kind, version) {
        (SagaKind::Order, order::VERSION) => Some(&order::STEPS),
        _ => None,
    }
}

/// The version new sagas of `kind` start on; `None` for kinds this build does
/// not start yet.
pub fn current_version(kind: SagaKind) -> Option<i32> {
    match kind {
        SagaKind::Order => Some(order::VERSION),
        SagaKind::Cancel | SagaKind::Return => None,
    }
}

/// Whether a saga of `kind` past its pivot (or always, for some kinds) only
/// goes forward, so that an operator may not compensate it.
pub fn forward_only(kind: SagaKind, pivot_passed: bool) -> bool {
    match kind {
        SagaKind::Order => false,
        SagaKind::Cancel => true,
        SagaKind::Return => pivot_passed,
    }
}

/// Runs step `index`'s forward call of a saga of `kind`.
pub async fn forward(kind: SagaKind, index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match kind {
        SagaKind::Order => order::forward(index, ctx).await,
        SagaKind::Cancel | SagaKind::Return => unknown_flow(ctx),
    }
}

/// Runs step `index`'s compensation of a saga of `kind`.
pub async fn compensate(kind: SagaKind, index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match kind {
        SagaKind::Order => order::compensate(index, ctx).await,
        SagaKind::Cancel | SagaKind::Return => unknown_flow(ctx),
    }
}

fn unknown_flow(ctx: &StepContext<'_>) -> Outcome {
    Outcome::Refused(ctx.refusal("", "this coordinator does not run this flow", &[]))
}
