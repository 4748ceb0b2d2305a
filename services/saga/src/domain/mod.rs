//! The saga coordinator's domain: what a saga is and how it moves, with no
//! tonic and no sqlx.
//!
//! - [`SagaKind`], [`SagaState`], [`StepState`]: the contract's enums with
//!   their transition tables, as saga.proto documents them.
//! - [`saga`]: a saga's record (steps, attempts, working data, failure,
//!   operator actions) and the rules that move it after each step's outcome:
//!   retry, go on, compensate, or park as STUCK.
//! - [`step`]: a flow's step as data (RPCs, retry policy, pivot) and the
//!   outcome a step's call comes back with.

pub mod saga;
pub mod step;

oms_platform::code_enum! {
    /// Which flow a saga runs (`oms.saga.v1.SagaKind`).
    pub enum SagaKind {
        /// Order fulfilment.
        Order = 1 => "ORDER",
        /// Order cancellation.
        Cancel = 2 => "CANCEL",
        /// A return.
        Return = 3 => "RETURN",
    }
}

oms_platform::code_enum! {
    /// The state of a saga (`oms.saga.v1.SagaState`).
    pub enum SagaState {
        /// Running its forward steps (or waiting in one).
        Running = 1 => "RUNNING",
        /// Running its compensations in reverse order.
        Compensating = 2 => "COMPENSATING",
        /// Every forward step done or skipped. Terminal.
        Completed = 3 => "COMPLETED",
        /// Failed and undone. Terminal.
        Compensated = 4 => "COMPENSATED",
        /// Parked until an operator retries or compensates it.
        Stuck = 5 => "STUCK",
    }
}

impl SagaState {
    /// The transition table of saga.proto's SagaState.
    pub fn can_become(self, to: SagaState) -> bool {
        use SagaState::*;
        matches!(
            (self, to),
            (Running, Completed | Compensating | Stuck)
                | (Compensating, Compensated | Stuck)
                | (Stuck, Running | Compensating)
        )
    }

    /// True for COMPLETED and COMPENSATED.
    pub fn is_terminal(self) -> bool {
        matches!(self, SagaState::Completed | SagaState::Compensated)
    }
}

oms_platform::code_enum! {
    /// The state of one step (`oms.saga.v1.StepState`).
    pub enum StepState {
        /// Not started.
        Pending = 1 => "PENDING",
        /// The forward call is in flight or waits for its next attempt.
        Running = 2 => "RUNNING",
        /// The forward call is done; the step polls for an outside event.
        Waiting = 3 => "WAITING",
        /// The forward call succeeded.
        Succeeded = 4 => "SUCCEEDED",
        /// The forward call was refused or ran out of attempts.
        Failed = 5 => "FAILED",
        /// Not run.
        Skipped = 6 => "SKIPPED",
        /// The compensation call is in flight or waits for its next attempt.
        Compensating = 7 => "COMPENSATING",
        /// The compensation succeeded.
        Compensated = 8 => "COMPENSATED",
    }
}

impl StepState {
    /// The transition table of saga.proto's StepState. (A STUCK saga's step
    /// stays where it was; RetrySaga runs it again in the same state.)
    pub fn can_become(self, to: StepState) -> bool {
        use StepState::*;
        matches!(
            (self, to),
            (Pending, Running | Skipped)
                | (Running, Succeeded | Waiting | Failed | Skipped)
                | (Waiting, Succeeded | Failed)
                | (Succeeded, Compensating | Running)
                | (Failed, Compensating | Running)
                | (Compensating, Compensated)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sagas_end_completed_or_compensated_and_only_stuck_ones_come_back() {
        use SagaState::*;
        let allowed: Vec<(SagaState, SagaState)> = SagaState::ALL
            .iter()
            .flat_map(|from| SagaState::ALL.iter().map(move |to| (*from, *to)))
            .filter(|(from, to)| from.can_become(*to))
            .collect();
        assert_eq!(
            allowed,
            [
                (Running, Compensating),
                (Running, Completed),
                (Running, Stuck),
                (Compensating, Compensated),
                (Compensating, Stuck),
                (Stuck, Running),
                (Stuck, Compensating),
            ]
        );
        for terminal in [Completed, Compensated] {
            assert!(terminal.is_terminal());
            assert!(SagaState::ALL.iter().all(|to| !terminal.can_become(*to)));
        }
    }

    #[test]
    fn a_step_is_compensated_only_after_it_ran() {
        use StepState::*;
        assert!(Succeeded.can_become(Compensating));
        assert!(Failed.can_become(Compensating));
        assert!(!Pending.can_become(Compensating));
        assert!(!Skipped.can_become(Compensating));
        assert!(Compensating.can_become(Compensated));
        assert!(StepState::ALL.iter().all(|to| !Compensated.can_become(*to)));
        assert!(StepState::ALL.iter().all(|to| !Skipped.can_become(*to)));
    }

    #[test]
    fn codes_are_the_contract_numbers() {
        use oms_proto::saga::v1 as pb;
        assert_eq!(SagaKind::Return.code(), pb::SagaKind::Return as i16);
        assert_eq!(SagaState::Stuck.code(), pb::SagaState::Stuck as i16);
        assert_eq!(
            StepState::Compensated.code(),
            pb::StepState::Compensated as i16
        );
        assert_eq!(SagaState::from_code(0), None);
    }
}
