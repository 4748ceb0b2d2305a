//! The return state machine of `oms.returns.v1.ReturnStatus`: one table of
//! which step may leave which status ([`ReturnStatus::allows`]).

oms_platform::code_enum! {
    /// The status of a return (`oms.returns.v1.ReturnStatus`).
    pub enum ReturnStatus {
        /// The customer asked; waiting for approval.
        Requested = 1 => "REQUESTED",
        /// Accepted; waiting for a label or a drop-off.
        Approved = 2 => "APPROVED",
        /// Refused. Terminal.
        Rejected = 3 => "REJECTED",
        /// A return label exists; waiting for the customer to send the parcel.
        LabelIssued = 4 => "LABEL_ISSUED",
        /// The carrier has the parcel.
        InTransit = 5 => "IN_TRANSIT",
        /// The goods arrived; waiting for inspection.
        Received = 6 => "RECEIVED",
        /// Inspected: the restock list and the refund amount are final.
        Inspected = 7 => "INSPECTED",
        /// The refund was paid.
        Refunded = 8 => "REFUNDED",
        /// The replacement order was placed.
        Exchanged = 9 => "EXCHANGED",
        /// Finished; the close reason says how. Terminal.
        Closed = 10 => "CLOSED",
    }
}

oms_platform::code_enum! {
    /// Why a return was closed (`oms.returns.v1.CloseReason`).
    pub enum CloseReason {
        /// Refunded or exchanged, and the saga finished.
        Completed = 1 => "COMPLETED",
        /// The inspection left nothing to refund and there is no exchange.
        NothingToRefund = 2 => "NOTHING_TO_REFUND",
        /// The customer withdrew the return before sending the goods.
        Withdrawn = 3 => "WITHDRAWN",
        /// The goods were not sent in time after approval.
        Expired = 4 => "EXPIRED",
        /// Cancelled by the return saga's compensation or an operator before receipt.
        Cancelled = 5 => "CANCELLED",
    }
}

/// A call that moves a return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// ApproveReturn.
    Approve,
    /// RejectReturn.
    Reject,
    /// RecordReturnLabel.
    RecordLabel,
    /// MarkReturnInTransit.
    MarkInTransit,
    /// ReceiveReturn.
    Receive,
    /// InspectReturn.
    Inspect,
    /// RecordRefund.
    RecordRefund,
    /// RecordExchange.
    RecordExchange,
    /// CloseReturn, for a reason.
    Close(CloseReason),
}

impl ReturnStatus {
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
        for &from in ReturnStatus::ALL {
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
        for &status in ReturnStatus::ALL {
            assert_eq!(
                ReturnStatus::from_code(i32::from(status.code())),
                Some(status)
            );
        }
        for &reason in CloseReason::ALL {
            assert_eq!(
                CloseReason::from_code(i32::from(reason.code())),
                Some(reason)
            );
        }
        assert_eq!(ReturnStatus::from_code(0), None);
        assert_eq!(CloseReason::from_code(6), None);
    }
}
