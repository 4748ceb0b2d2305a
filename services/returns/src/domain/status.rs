//! The return state machine of `oms.returns.v1.ReturnStatus`: one table of
//! which step may leave which status ([`ReturnStatus::allows`]).

/// The status of a return, as the contract codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReturnStatus {
    Requested = 1,
    Approved = 2,
    Rejected = 3,
    LabelIssued = 4,
    InTransit = 5,
    Received = 6,
    Inspected = 7,
    Refunded = 8,
    Exchanged = 9,
    Closed = 10,
}

/// Why a return was closed, as the contract codes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    Completed = 1,
    NothingToRefund = 2,
    Withdrawn = 3,
    Expired = 4,
    Cancelled = 5,
}

/// A call that moves a return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Approve,
    Reject,
    RecordLabel,
    MarkInTransit,
    Receive,
    Inspect,
    RecordRefund,
    RecordExchange,
    Close(CloseReason),
}

impl ReturnStatus {
    pub const ALL: [ReturnStatus; 10] = [
        ReturnStatus::Requested,
        ReturnStatus::Approved,
        ReturnStatus::Rejected,
        ReturnStatus::LabelIssued,
        ReturnStatus::InTransit,
        ReturnStatus::Received,
        ReturnStatus::Inspected,
        ReturnStatus::Refunded,
        ReturnStatus::Exchanged,
        ReturnStatus::Closed,
    ];

    pub fn from_code(code: i32) -> Option<ReturnStatus> {
        ReturnStatus::ALL
            .into_iter()
            .find(|status| *status as i32 == code)
    }

    pub fn code(self) -> i16 {
        self as i16
    }

    /// The contract's name, for error metadata.
    pub fn name(self) -> &'static str {
        match self {
            ReturnStatus::Requested => "REQUESTED",
            ReturnStatus::Approved => "APPROVED",
            ReturnStatus::Rejected => "REJECTED",
            ReturnStatus::LabelIssued => "LABEL_ISSUED",
            ReturnStatus::InTransit => "IN_TRANSIT",
            ReturnStatus::Received => "RECEIVED",
            ReturnStatus::Inspected => "INSPECTED",
            ReturnStatus::Refunded => "REFUNDED",
            ReturnStatus::Exchanged => "EXCHANGED",
            ReturnStatus::Closed => "CLOSED",
        }
    }

    /// The transition table of the contract: whether `step` may leave `self`.
    /// Conditions beyond the status (the resolution, a zero refund, the label
    /// a pickup belongs to) are checked by the step itself.
    pub fn allows(self, step: Step) -> bool {
        use CloseReason::*;
        use ReturnStatus::*;
        match self {
            Requested => matches!(
                step,
                Step::Approve | Step::Reject | Step::Close(Withdrawn | Cancelled)
            ),
            Approved => matches!(
                step,
                Step::RecordLabel | Step::Receive | Step::Close(Withdrawn | Expired | Cancelled)
            ),
            LabelIssued => matches!(
                step,
                Step::MarkInTransit | Step::Receive | Step::Close(Withdrawn | Expired | Cancelled)
            ),
            InTransit => step == Step::Receive,
            Received => step == Step::Inspect,
            Inspected => matches!(
                step,
                Step::RecordRefund | Step::RecordExchange | Step::Close(NothingToRefund)
            ),
            Refunded | Exchanged => step == Step::Close(Completed),
            Rejected | Closed => false,
        }
    }
}

impl Step {
    /// The status the step leads to.
    pub fn target(self) -> ReturnStatus {
        match self {
            Step::Approve => ReturnStatus::Approved,
            Step::Reject => ReturnStatus::Rejected,
            Step::RecordLabel => ReturnStatus::LabelIssued,
            Step::MarkInTransit => ReturnStatus::InTransit,
            Step::Receive => ReturnStatus::Received,
            Step::Inspect => ReturnStatus::Inspected,
            Step::RecordRefund => ReturnStatus::Refunded,
            Step::RecordExchange => ReturnStatus::Exchanged,
            Step::Close(_) => ReturnStatus::Closed,
        }
    }
}

impl CloseReason {
    pub const ALL: [CloseReason; 5] = [
        CloseReason::Completed,
        CloseReason::NothingToRefund,
        CloseReason::Withdrawn,
        CloseReason::Expired,
        CloseReason::Cancelled,
    ];

    pub fn from_code(code: i32) -> Option<CloseReason> {
        CloseReason::ALL
            .into_iter()
            .find(|reason| *reason as i32 == code)
    }

    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Completed => "COMPLETED",
            CloseReason::NothingToRefund => "NOTHING_TO_REFUND",
            CloseReason::Withdrawn => "WITHDRAWN",
            CloseReason::Expired => "EXPIRED",
            CloseReason::Cancelled => "CANCELLED",
        }
    }

    /// True for the reasons that end a return before its goods arrived: its
    /// units no longer count against what the order has left to return.
    pub fn before_receipt(self) -> bool {
        matches!(
            self,
            CloseReason::Withdrawn | CloseReason::Expired | CloseReason::Cancelled
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEPS: [Step; 13] = [
        Step::Approve,
        Step::Reject,
        Step::RecordLabel,
        Step::MarkInTransit,
        Step::Receive,
        Step::Inspect,
        Step::RecordRefund,
        Step::RecordExchange,
        Step::Close(CloseReason::Completed),
        Step::Close(CloseReason::NothingToRefund),
        Step::Close(CloseReason::Withdrawn),
        Step::Close(CloseReason::Expired),
        Step::Close(CloseReason::Cancelled),
    ];

    /// The contract's table, written out as (from, step) pairs.
    fn contract() -> Vec<(ReturnStatus, Step)> {
        use CloseReason::*;
        use ReturnStatus::*;
        vec![
            (Requested, Step::Approve),
            (Requested, Step::Reject),
            (Requested, Step::Close(Withdrawn)),
            (Requested, Step::Close(Cancelled)),
            (Approved, Step::RecordLabel),
            (Approved, Step::Receive),
            (Approved, Step::Close(Withdrawn)),
            (Approved, Step::Close(Expired)),
            (Approved, Step::Close(Cancelled)),
            (LabelIssued, Step::MarkInTransit),
            (LabelIssued, Step::Receive),
            (LabelIssued, Step::Close(Withdrawn)),
            (LabelIssued, Step::Close(Expired)),
            (LabelIssued, Step::Close(Cancelled)),
            (InTransit, Step::Receive),
            (Received, Step::Inspect),
            (Inspected, Step::RecordRefund),
            (Inspected, Step::RecordExchange),
            (Inspected, Step::Close(NothingToRefund)),
            (Refunded, Step::Close(Completed)),
            (Exchanged, Step::Close(Completed)),
        ]
    }

    #[test]
    fn every_status_and_step_pair_follows_the_contract_table() {
        let allowed = contract();
        for from in ReturnStatus::ALL {
            for step in STEPS {
                assert_eq!(
                    from.allows(step),
                    allowed.contains(&(from, step)),
                    "{from:?} -> {step:?}"
                );
            }
        }
    }

    #[test]
    fn codes_round_trip() {
        for status in ReturnStatus::ALL {
            assert_eq!(
                ReturnStatus::from_code(i32::from(status.code())),
                Some(status)
            );
        }
        for reason in CloseReason::ALL {
            assert_eq!(
                CloseReason::from_code(i32::from(reason.code())),
                Some(reason)
            );
        }
        assert_eq!(ReturnStatus::from_code(0), None);
        assert_eq!(CloseReason::from_code(6), None);
    }
}
