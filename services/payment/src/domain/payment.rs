//! The payment state machine of `oms.payment.v1.PaymentStatus`.
//!
//! A payment's status is never stored: it is derived from its transactions
//! ([`Totals::status`]), so it can never disagree with the money. What each call
//! may do in each status is one table ([`PaymentStatus::effect`]).

use oms_platform::ids::Invalid;

oms_platform::code_enum! {
    /// The status of a payment (`oms.payment.v1.PaymentStatus`), derived from
    /// its transactions.
    pub enum PaymentStatus {
        /// The authorization's outcome is unknown until the PSP is asked.
        AuthorizationPending = 1 => "AUTHORIZATION_PENDING",
        /// The amount is held; nothing captured yet.
        Authorized = 2 => "AUTHORIZED",
        /// The PSP refused the authorization.
        Declined = 3 => "DECLINED",
        /// The authorization was released before anything was captured.
        Voided = 4 => "VOIDED",
        /// Part of the authorization is captured and the rest is still held.
        PartiallyCaptured = 5 => "PARTIALLY_CAPTURED",
        /// Everything captured, or the rest released.
        Captured = 6 => "CAPTURED",
        /// Nothing held and part of the captured money refunded.
        PartiallyRefunded = 7 => "PARTIALLY_REFUNDED",
        /// Nothing held and everything captured refunded.
        Refunded = 8 => "REFUNDED",
    }
}

/// What a call asks of an existing payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Take held money.
    Capture,
    /// Give captured money back.
    Refund,
    /// Release what is left of the hold.
    Void,
}

impl Action {
    /// The contract's name, for error metadata.
    pub fn name(self) -> &'static str {
        match self {
            Action::Capture => "capture",
            Action::Refund => "refund",
            Action::Void => "void",
        }
    }
}

/// What the table says an action does in a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The action goes to the PSP.
    Apply,
    /// Nothing to do; the call succeeds and changes nothing (Void only).
    NoOp,
    /// FAILED_PRECONDITION (ILLEGAL_STATE_TRANSITION).
    Refuse,
}

impl PaymentStatus {
    /// The transition table of the contract: what `action` does from `self`.
    /// Where an applied action leads is [`Totals::status`] of the money after it.
    pub fn effect(self, action: Action) -> Effect {
        use PaymentStatus::*;
        match (action, self) {
            (Action::Capture, Authorized | PartiallyCaptured) => Effect::Apply,
            (Action::Capture, _) => Effect::Refuse,
            (Action::Refund, PartiallyCaptured | Captured | PartiallyRefunded) => Effect::Apply,
            (Action::Refund, _) => Effect::Refuse,
            // A pending authorization is asked about first, then voided.
            (Action::Void, AuthorizationPending | Authorized | PartiallyCaptured) => Effect::Apply,
            // Nothing left to release: harmless, so a compensation always succeeds.
            (Action::Void, Declined | Voided | Captured | PartiallyRefunded | Refunded) => {
                Effect::NoOp
            }
        }
    }

    /// True when nothing can change the payment any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PaymentStatus::Declined | PaymentStatus::Voided | PaymentStatus::Refunded
        )
    }
}

oms_platform::code_enum! {
    /// What one call asked the PSP (`oms.payment.v1.TransactionKind`).
    pub enum TransactionKind {
        /// Hold an amount (Authorize).
        Authorization = 1 => "AUTHORIZATION",
        /// Take held money (Capture).
        Capture = 2 => "CAPTURE",
        /// Release what is left of the hold (Void).
        Void = 3 => "VOID",
        /// Give captured money back (Refund).
        Refund = 4 => "REFUND",
    }
}

oms_platform::code_enum! {
    /// The outcome of one PSP call (`oms.payment.v1.TransactionStatus`).
    pub enum TransactionStatus {
        /// Sent, outcome unknown until it is resolved.
        Pending = 1 => "PENDING",
        /// The PSP did it.
        Succeeded = 2 => "SUCCEEDED",
        /// The PSP refused it or reports it never happened.
        Failed = 3 => "FAILED",
    }
}

impl TransactionStatus {
    /// The transaction table: only a PENDING call changes, once.
    pub fn can_become(self, to: TransactionStatus) -> bool {
        self == TransactionStatus::Pending && to != TransactionStatus::Pending
    }
}

oms_platform::code_enum! {
    /// Why the PSP refused (`oms.payment.v1.DeclineReason`).
    pub enum DeclineReason {
        /// The issuer declined without saying why.
        Generic = 1 => "GENERIC",
        /// Not enough funds or credit on the payment method.
        InsufficientFunds = 2 => "INSUFFICIENT_FUNDS",
        /// The card behind the token has expired.
        ExpiredCard = 3 => "EXPIRED_CARD",
        /// The token, gift card code or billing reference is unknown, blocked or used up.
        InvalidPaymentMethod = 4 => "INVALID_PAYMENT_METHOD",
        /// The PSP or issuer suspects fraud.
        SuspectedFraud = 5 => "SUSPECTED_FRAUD",
        /// The issuer requires customer authentication (e.g. 3-D Secure) first.
        AuthenticationRequired = 6 => "AUTHENTICATION_REQUIRED",
        /// The invoice credit check failed.
        CreditCheckFailed = 7 => "CREDIT_CHECK_FAILED",
        /// The authorization lapsed at the PSP before this capture.
        AuthorizationExpired = 8 => "AUTHORIZATION_EXPIRED",
        /// The PSP reports the call failed on its side and did nothing.
        ProcessingError = 9 => "PROCESSING_ERROR",
    }
}

/// Why money is given back, as `oms.payment.v1.RefundReason` codes it (1 to 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundReason(i16);

impl RefundReason {
    /// Checks a refund reason code: 1 to 5.
    pub fn new(code: i32) -> Result<RefundReason, Invalid> {
        if !(1..=5).contains(&code) {
            return Err(Invalid::new("required"));
        }
        Ok(RefundReason(code as i16))
    }

    /// The contract code, as stored.
    pub fn code(self) -> i16 {
        self.0
    }
}

/// An amount in minor units of the payment's currency, more than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PositiveAmount(i64);

impl PositiveAmount {
    /// Checks an amount: more than zero.
    pub fn new(minor: i64) -> Result<PositiveAmount, Invalid> {
        if minor <= 0 {
            return Err(Invalid::new("must be positive"));
        }
        Ok(PositiveAmount(minor))
    }

    /// The amount in minor units.
    pub fn minor(self) -> i64 {
        self.0
    }
}

/// An amount and its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    /// The currency.
    pub currency: super::CurrencyCode,
    /// The amount, more than zero.
    pub amount: PositiveAmount,
}

/// The money of one payment, summed from its transactions; every amount in
/// minor units of the payment's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// The outcome of the authorization.
    pub authorization: Option<TransactionStatus>,
    /// The amount the authorization asked for.
    pub authorized: i64,
    /// Captured by SUCCEEDED captures.
    pub captured: i64,
    /// Released by SUCCEEDED voids.
    pub voided: i64,
    /// Given back by SUCCEEDED refunds.
    pub refunded: i64,
    /// SUCCEEDED voids, counted apart because a void of an authorization that
    /// never happened releases nothing and still makes the payment VOIDED.
    pub voids: u32,
    /// Asked for by captures still PENDING.
    pub pending_captures: i64,
    /// Asked for by voids still PENDING.
    pub pending_voids: i64,
    /// Asked for by refunds still PENDING.
    pub pending_refunds: i64,
}

impl Totals {
    /// Adds one transaction's amount where its kind and status say.
    pub fn add(&mut self, kind: TransactionKind, status: TransactionStatus, amount: i64) {
        use TransactionStatus::{Pending, Succeeded};
        match (kind, status) {
            (TransactionKind::Authorization, status) => self.authorization = Some(status),
            (TransactionKind::Capture, Succeeded) => self.captured += amount,
            (TransactionKind::Capture, Pending) => self.pending_captures += amount,
            (TransactionKind::Void, Succeeded) => {
                self.voided += amount;
                self.voids += 1;
            }
            (TransactionKind::Void, Pending) => self.pending_voids += amount,
            (TransactionKind::Refund, Succeeded) => self.refunded += amount,
            (TransactionKind::Refund, Pending) => self.pending_refunds += amount,
            (_, TransactionStatus::Failed) => {}
        }
    }

    /// The status the contract derives from the money.
    pub fn status(&self) -> PaymentStatus {
        match self.authorization {
            None | Some(TransactionStatus::Pending) => PaymentStatus::AuthorizationPending,
            Some(TransactionStatus::Failed) if self.voids > 0 => PaymentStatus::Voided,
            Some(TransactionStatus::Failed) => PaymentStatus::Declined,
            Some(TransactionStatus::Succeeded) => {
                let open = self.authorized - self.captured - self.voided;
                match (open > 0, self.captured > 0) {
                    (true, false) => PaymentStatus::Authorized,
                    (true, true) => PaymentStatus::PartiallyCaptured,
                    (false, false) => PaymentStatus::Voided,
                    (false, true) if self.refunded == 0 => PaymentStatus::Captured,
                    (false, true) if self.refunded < self.captured => {
                        PaymentStatus::PartiallyRefunded
                    }
                    (false, true) => PaymentStatus::Refunded,
                }
            }
        }
    }

    /// What Capture may still take: pending captures and voids are held
    /// against it, so concurrent calls cannot exceed the authorization.
    pub fn capturable(&self) -> i64 {
        match self.status() {
            PaymentStatus::Authorized | PaymentStatus::PartiallyCaptured => (self.authorized
                - self.captured
                - self.voided
                - self.pending_captures
                - self.pending_voids)
                .max(0),
            _ => 0,
        }
    }

    /// What Refund may still give back: pending refunds are held against it.
    pub fn refundable(&self) -> i64 {
        (self.captured - self.refunded - self.pending_refunds).max(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PaymentStatus::*;

    #[test]
    fn every_action_has_the_effect_of_the_contracts_table() {
        let table: [(PaymentStatus, [Effect; 3]); 8] = [
            // status                [capture,        refund,         void]
            (
                AuthorizationPending,
                [Effect::Refuse, Effect::Refuse, Effect::Apply],
            ),
            (Authorized, [Effect::Apply, Effect::Refuse, Effect::Apply]),
            (Declined, [Effect::Refuse, Effect::Refuse, Effect::NoOp]),
            (Voided, [Effect::Refuse, Effect::Refuse, Effect::NoOp]),
            (
                PartiallyCaptured,
                [Effect::Apply, Effect::Apply, Effect::Apply],
            ),
            (Captured, [Effect::Refuse, Effect::Apply, Effect::NoOp]),
            (
                PartiallyRefunded,
                [Effect::Refuse, Effect::Apply, Effect::NoOp],
            ),
            (Refunded, [Effect::Refuse, Effect::Refuse, Effect::NoOp]),
        ];
        for (status, effects) in table {
            for (action, effect) in [Action::Capture, Action::Refund, Action::Void]
                .into_iter()
                .zip(effects)
            {
                assert_eq!(status.effect(action), effect, "{action:?} from {status:?}");
            }
        }
    }

    #[test]
    fn terminal_statuses_allow_nothing_but_a_harmless_void() {
        for status in PaymentStatus::ALL.iter().filter(|s| s.is_terminal()) {
            assert_eq!(status.effect(Action::Capture), Effect::Refuse);
            assert_eq!(status.effect(Action::Refund), Effect::Refuse);
            assert_eq!(status.effect(Action::Void), Effect::NoOp);
        }
    }

    fn totals(
        authorization: Option<TransactionStatus>,
        captured: i64,
        voided: i64,
        refunded: i64,
    ) -> Totals {
        Totals {
            authorization,
            authorized: 1000,
            captured,
            voided,
            refunded,
            voids: u32::from(voided > 0),
            ..Totals::default()
        }
    }

    #[test]
    fn the_status_follows_the_money() {
        use TransactionStatus::*;
        let table = [
            (totals(None, 0, 0, 0), AuthorizationPending),
            (totals(Some(Pending), 0, 0, 0), AuthorizationPending),
            (totals(Some(Failed), 0, 0, 0), Declined),
            (totals(Some(Succeeded), 0, 0, 0), Authorized),
            (totals(Some(Succeeded), 400, 0, 0), PartiallyCaptured),
            (totals(Some(Succeeded), 400, 0, 100), PartiallyCaptured),
            (totals(Some(Succeeded), 1000, 0, 0), Captured),
            (totals(Some(Succeeded), 400, 600, 0), Captured),
            (totals(Some(Succeeded), 400, 600, 100), PartiallyRefunded),
            (totals(Some(Succeeded), 1000, 0, 1000), Refunded),
            (totals(Some(Succeeded), 0, 1000, 0), Voided),
        ];
        for (totals, status) in table {
            assert_eq!(totals.status(), status, "{totals:?}");
        }
        let mut never_happened = totals(Some(Failed), 0, 0, 0);
        never_happened.voids = 1;
        assert_eq!(never_happened.status(), Voided);
    }

    #[test]
    fn pending_calls_are_held_against_what_remains() {
        let mut totals = totals(Some(TransactionStatus::Succeeded), 300, 0, 100);
        totals.pending_captures = 200;
        totals.pending_refunds = 50;
        assert_eq!(totals.capturable(), 500);
        assert_eq!(totals.refundable(), 150);
    }

    #[test]
    fn only_a_pending_transaction_is_resolved_and_only_once() {
        use TransactionStatus::*;
        assert!(Pending.can_become(Succeeded));
        assert!(Pending.can_become(Failed));
        for from in [Succeeded, Failed] {
            for to in [Pending, Succeeded, Failed] {
                assert!(!from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn amounts_must_be_positive_and_refund_reasons_set() {
        assert!(PositiveAmount::new(1).is_ok());
        assert!(PositiveAmount::new(0).is_err());
        assert!(PositiveAmount::new(-5).is_err());
        assert!(RefundReason::new(0).is_err());
        assert!(RefundReason::new(6).is_err());
        assert_eq!(RefundReason::new(1).unwrap().code(), 1);
    }

    #[test]
    fn codes_round_trip() {
        for &status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::from_code(status.code()), Some(status));
        }
        for &reason in DeclineReason::ALL {
            assert_eq!(DeclineReason::from_code(reason.code()), Some(reason));
        }
        assert_eq!(PaymentStatus::from_code(0), None);
    }
}
