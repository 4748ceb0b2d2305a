//! The flows the coordinator runs, one per file: each declares its steps as
//! data ([`StepDef`]: RPCs, compensation, pivot, retry policy) and holds the
//! code of each step's calls beside its definition, so a step, its
//! compensation and its retry read together.
//!
//! - [`order`]: order fulfilment (record, plan, reserve, authorize, ship,
//!   capture, commit, confirm).
//! - [`cancel`]: order cancellation, whole or partial (settle the fulfilment
//!   saga, cancel shipments, restock, refund, mark cancelled).
//! - [`returns`]: a return (label, wait for the goods and the inspection,
//!   restock, refund or exchange, mark returned, close).
//!
//! A saga records the version of the flow it started on and finishes on it:
//! [`definition`] knows every version this build can run, and a coordinator
//! that finds unfinished sagas of a version it does not know refuses to start
//! (see `crate::run`).

pub mod cancel;
pub mod order;
pub mod returns;

use crate::{
    domain::{SagaKind, step::Outcome, step::StepDef},
    engine::context::StepContext,
};

/// Every (kind, version) this build runs.
pub const KNOWN: &[(SagaKind, i32)] = &[
    (SagaKind::Order, order::VERSION),
    (SagaKind::Cancel, cancel::VERSION),
    (SagaKind::Return, returns::VERSION),
];

/// The steps of a flow version, if this build has it.
pub fn definition(kind: SagaKind, version: i32) -> Option<&'static [StepDef]> {
    match (kind, version) {
        (SagaKind::Order, order::VERSION) => Some(&order::STEPS),
        (SagaKind::Cancel, cancel::VERSION) => Some(&cancel::STEPS),
        (SagaKind::Return, returns::VERSION) => Some(&returns::STEPS),
        _ => None,
    }
}

/// The version new sagas of `kind` start on; `None` for kinds this build does
/// not start yet.
pub fn current_version(kind: SagaKind) -> Option<i32> {
    match kind {
        SagaKind::Order => Some(order::VERSION),
        SagaKind::Cancel => Some(cancel::VERSION),
        SagaKind::Return => Some(returns::VERSION),
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
        SagaKind::Cancel => cancel::forward(index, ctx).await,
        SagaKind::Return => returns::forward(index, ctx).await,
    }
}

/// Runs step `index`'s compensation of a saga of `kind`.
pub async fn compensate(kind: SagaKind, index: usize, ctx: &mut StepContext<'_>) -> Outcome {
    match kind {
        SagaKind::Order => order::compensate(index, ctx).await,
        SagaKind::Cancel => cancel::compensate(),
        SagaKind::Return => returns::compensate(index, ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DescriptorPool, Value};

    use super::*;

    /// The compensation a forward RPC declares in its contract
    /// (`oms.common.v1.compensated_by`), as a full method name.
    fn declared(pool: &DescriptorPool, rpc: &str) -> Option<String> {
        let (service, method) = rpc.split_once('/').expect("a full method name");
        let service = pool
            .get_service_by_name(service)
            .unwrap_or_else(|| panic!("{rpc}: no such service in the contracts"));
        let method = service
            .methods()
            .find(|candidate| candidate.name() == method)
            .unwrap_or_else(|| panic!("{rpc}: no such method in the contracts"));
        let option = pool
            .get_extension_by_name("oms.common.v1.compensated_by")
            .expect("common.proto declares compensated_by");
        let options = method.options();
        if !options.has_extension(&option) {
            return None;
        }
        match options.get_extension(&option).as_ref() {
            Value::String(name) if !name.is_empty() => {
                Some(format!("{}/{name}", service.full_name()))
            }
            _ => None,
        }
    }

    #[test]
    fn every_step_compensates_with_the_rpc_its_forward_rpc_declares() {
        let pool = DescriptorPool::decode(oms_proto::FILE_DESCRIPTOR_SET).unwrap();
        let mut checked = 0;
        for (kind, version) in KNOWN {
            for step in definition(*kind, *version).unwrap() {
                if step.forward_rpc.is_empty() {
                    continue;
                }
                let declared = declared(&pool, step.forward_rpc);
                if let Some(compensation) = step.compensation_rpc {
                    assert_eq!(
                        declared.as_deref(),
                        Some(compensation),
                        "{} {}: its RPC {} declares another compensation",
                        kind.name(),
                        step.name,
                        step.forward_rpc
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 6, "{checked} steps checked");
    }

    #[test]
    fn a_step_naming_another_compensation_would_be_caught() {
        let pool = DescriptorPool::decode(oms_proto::FILE_DESCRIPTOR_SET).unwrap();
        assert_eq!(
            declared(&pool, "oms.inventory.v1.InventoryService/Reserve").as_deref(),
            Some("oms.inventory.v1.InventoryService/Release")
        );
        assert_ne!(
            declared(&pool, "oms.payment.v1.PaymentService/Authorize").as_deref(),
            Some("oms.payment.v1.PaymentService/Refund")
        );
        assert_eq!(
            declared(&pool, "oms.routing.v1.RoutingService/PlanFulfillment"),
            None
        );
    }
}
