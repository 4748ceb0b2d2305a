//! The PSP simulator: a deterministic payment service provider in memory, the
//! default PSP of the service and the one every test runs against.
//!
//! What happens is chosen by the payment method, so a test or a demo picks an
//! outcome by picking a token:
//!
//! - Card tokens: a token containing `decline`, `insufficient`, `expired`,
//!   `fraud`, `3ds` or `invalid` is declined with that reason; `timeout` is done
//!   but answered too late (the outcome is unknown to the caller); `lost` never
//!   reaches the PSP, and the caller times out all the same; `unavailable` is
//!   refused before anything happens. By default the authorization is hit; a
//!   `capture_`, `void_` or `refund_` before the word hits that call instead,
//!   e.g. `tok_visa_refund_timeout`. Any other token is approved.
//! - Gift cards: `GC-<currency>-<balance in minor units>-<anything>`, e.g.
//!   `GC-EUR-5000-7781`, holds that balance; authorizations take from it, voids
//!   and refunds give back. Any other code is an invalid payment method.
//! - Invoices: approved unless the billing reference contains `credit_fail`.
//!
//! On top of that, [`SimulatorConfig`] adds a failure rate (calls refused as
//! unavailable, drawn from a seeded generator, so a run repeats exactly) and a
//! latency before each answer. Like a real PSP it keeps the answer of every
//! (kind, idempotency key): a repeated call is answered again without acting,
//! and [`Psp::lookup`] reports what happened. It counts the charges it made.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use super::{Psp, PspAnswer, PspCall, PspError};
use crate::domain::{
    method::PaymentMethod,
    payment::{DeclineReason, TransactionKind},
};

/// Fault injection of the simulator (`OMS_PAYMENT_PSP_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// The share of calls refused as unavailable, 0 to 1.
    pub failure_rate: f64,
    /// Time before each answer; longer than the service's PSP timeout makes
    /// every call an unknown outcome.
    pub latency: Duration,
    /// Seed of the generator that draws failures.
    pub seed: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            failure_rate: 0.0,
            latency: Duration::ZERO,
            seed: 1,
        }
    }
}

/// What a method's text scripts for one kind of call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Approve,
    Decline(DeclineReason),
    Timeout,
    /// The call never arrives: nothing happens and nothing is recorded.
    Lost,
    Unavailable,
}

/// An authorization the simulator holds, by its reference.
#[derive(Debug, Clone)]
struct Authorization {
    /// Which later call the token scripts, and how.
    scripted: (TransactionKind, Behaviour),
    gift_card: Option<String>,
}

#[derive(Debug)]
struct GiftCard {
    currency: String,
    balance_minor: i64,
}

#[derive(Debug, Default)]
struct State {
    rng: u64,
    answers: HashMap<(TransactionKind, String), PspAnswer>,
    authorizations: HashMap<String, Authorization>,
    gift_cards: HashMap<String, GiftCard>,
    charges: u64,
    calls: HashMap<TransactionKind, u64>,
    next_reference: u64,
}

impl State {
    /// splitmix64: tiny, good enough for fault injection, and no dependency.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fails_now(&mut self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        #[allow(clippy::cast_precision_loss, reason = "53 bits of a random draw")]
        let draw = (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
        draw < rate
    }

    fn reference(&mut self, kind: TransactionKind) -> String {
        self.next_reference += 1;
        format!("sim_{}_{:06}", kind.name(), self.next_reference)
    }
}

/// The deterministic PSP simulator; see the module documentation.
#[derive(Debug)]
pub struct PspSimulator {
    config: SimulatorConfig,
    state: Mutex<State>,
}

impl PspSimulator {
    pub fn new(config: SimulatorConfig) -> PspSimulator {
        let state = State {
            rng: config.seed,
            ..State::default()
        };
        PspSimulator {
            config,
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Authorizations the simulator made: each one is money taken from a
    /// customer's payment method.
    pub fn charges(&self) -> u64 {
        self.state().charges
    }

    /// Calls of `kind` received, answered or not, repeats included.
    pub fn calls(&self, kind: TransactionKind) -> u64 {
        self.state().calls.get(&kind).copied().unwrap_or(0)
    }

    /// The balance of a gift card the simulator has seen.
    pub fn gift_card_balance(&self, code: &str) -> Option<i64> {
        self.state()
            .gift_cards
            .get(code)
            .map(|card| card.balance_minor)
    }

    fn decide(&self, state: &mut State, call: &PspCall) -> Result<Behaviour, PspAnswer> {
        if call.kind != TransactionKind::Authorization {
            let Some(authorization) = state.authorizations.get(&call.authorization_reference)
            else {
                return Err(declined(DeclineReason::InvalidPaymentMethod));
            };
            let (kind, behaviour) = authorization.scripted;
            return Ok(if kind == call.kind {
                behaviour
            } else {
                Behaviour::Approve
            });
        }
        match &call.method {
            Some(PaymentMethod::Card { token }) => {
                let (kind, behaviour) = script(token.expose());
                Ok(if kind == TransactionKind::Authorization {
                    behaviour
                } else {
                    Behaviour::Approve
                })
            }
            Some(PaymentMethod::GiftCard { code }) => {
                let Some((currency, balance_minor)) = parse_gift_card(code.expose()) else {
                    return Err(declined(DeclineReason::InvalidPaymentMethod));
                };
                let card = state
                    .gift_cards
                    .entry(code.expose().to_owned())
                    .or_insert(GiftCard {
                        currency,
                        balance_minor,
                    });
                if card.currency != call.currency.as_str() {
                    return Err(PspAnswer::CurrencyMismatch {
                        expected: card.currency.clone(),
                    });
                }
                if card.balance_minor < call.amount_minor {
                    return Err(PspAnswer::ExceedsBalance {
                        remaining_minor: card.balance_minor,
                    });
                }
                Ok(Behaviour::Approve)
            }
            Some(PaymentMethod::Invoice { billing_reference }) => {
                Ok(if billing_reference.contains("credit_fail") {
                    Behaviour::Decline(DeclineReason::CreditCheckFailed)
                } else {
                    Behaviour::Approve
                })
            }
            None => Err(declined(DeclineReason::InvalidPaymentMethod)),
        }
    }

    /// Makes the approved call's effects on the simulated accounts.
    fn apply(state: &mut State, call: &PspCall, reference: &str) {
        match call.kind {
            TransactionKind::Authorization => {
                state.charges += 1;
                let (scripted, gift_card) = match &call.method {
                    Some(PaymentMethod::Card { token }) => (script(token.expose()), None),
                    Some(PaymentMethod::GiftCard { code }) => {
                        let code = code.expose().to_owned();
                        if let Some(card) = state.gift_cards.get_mut(&code) {
                            card.balance_minor -= call.amount_minor;
                        }
                        (NO_SCRIPT, Some(code))
                    }
                    _ => (NO_SCRIPT, None),
                };
                state.authorizations.insert(
                    reference.to_owned(),
                    Authorization {
                        scripted,
                        gift_card,
                    },
                );
            }
            TransactionKind::Void | TransactionKind::Refund => {
                let code = state
                    .authorizations
                    .get(&call.authorization_reference)
                    .and_then(|authorization| authorization.gift_card.clone());
                if let Some(card) = code.and_then(|code| state.gift_cards.get_mut(&code)) {
                    card.balance_minor += call.amount_minor;
                }
            }
            TransactionKind::Capture => {}
        }
    }
}

const NO_SCRIPT: (TransactionKind, Behaviour) =
    (TransactionKind::Authorization, Behaviour::Approve);

#[tonic::async_trait]
impl Psp for PspSimulator {
    fn name(&self) -> &'static str {
        "simulator"
    }

    async fn execute(&self, call: &PspCall) -> Result<PspAnswer, PspError> {
        let (answer, behaviour) = {
            let mut state = self.state();
            *state.calls.entry(call.kind).or_insert(0) += 1;
            if state.fails_now(self.config.failure_rate) {
                return Err(PspError::Unavailable);
            }
            let key = (call.kind, call.idempotency_key.clone());
            if let Some(answer) = state.answers.get(&key) {
                // A repeated call: answered again, never acted on twice.
                (answer.clone(), Behaviour::Approve)
            } else {
                match self.decide(&mut state, call) {
                    Err(refusal) => {
                        if matches!(refusal, PspAnswer::Declined { .. }) {
                            state.answers.insert(key, refusal.clone());
                        }
                        (refusal, Behaviour::Approve)
                    }
                    Ok(Behaviour::Unavailable) => return Err(PspError::Unavailable),
                    Ok(Behaviour::Lost) => (
                        PspAnswer::Approved {
                            reference: String::new(),
                        },
                        Behaviour::Lost,
                    ),
                    Ok(Behaviour::Decline(reason)) => {
                        let answer = declined(reason);
                        state.answers.insert(key, answer.clone());
                        (answer, Behaviour::Decline(reason))
                    }
                    Ok(behaviour) => {
                        let reference = state.reference(call.kind);
                        Self::apply(&mut state, call, &reference);
                        let answer = PspAnswer::Approved { reference };
                        state.answers.insert(key, answer.clone());
                        (answer, behaviour)
                    }
                }
            }
        };
        // The call is done before the answer travels: a caller that stops
        // waiting does not undo it.
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        if matches!(behaviour, Behaviour::Timeout | Behaviour::Lost) {
            return Err(PspError::Timeout);
        }
        Ok(answer)
    }

    async fn lookup(
        &self,
        kind: TransactionKind,
        idempotency_key: &str,
    ) -> Result<Option<PspAnswer>, PspError> {
        let mut state = self.state();
        if state.fails_now(self.config.failure_rate) {
            return Err(PspError::Unavailable);
        }
        Ok(state
            .answers
            .get(&(kind, idempotency_key.to_owned()))
            .cloned())
    }
}

/// Which call a card token scripts, and what happens to it.
fn script(token: &str) -> (TransactionKind, Behaviour) {
    let token = token.to_ascii_lowercase();
    let kind = if token.contains("capture_") {
        TransactionKind::Capture
    } else if token.contains("void_") {
        TransactionKind::Void
    } else if token.contains("refund_") {
        TransactionKind::Refund
    } else {
        TransactionKind::Authorization
    };
    let behaviour = [
        (
            "insufficient",
            Behaviour::Decline(DeclineReason::InsufficientFunds),
        ),
        ("expired", Behaviour::Decline(DeclineReason::ExpiredCard)),
        ("fraud", Behaviour::Decline(DeclineReason::SuspectedFraud)),
        (
            "3ds",
            Behaviour::Decline(DeclineReason::AuthenticationRequired),
        ),
        (
            "invalid",
            Behaviour::Decline(DeclineReason::InvalidPaymentMethod),
        ),
        ("decline", Behaviour::Decline(DeclineReason::Generic)),
        ("timeout", Behaviour::Timeout),
        ("lost", Behaviour::Lost),
        ("unavailable", Behaviour::Unavailable),
    ]
    .into_iter()
    .find(|(word, _)| token.contains(word))
    .map_or(Behaviour::Approve, |(_, behaviour)| behaviour);
    (kind, behaviour)
}

/// `GC-<currency>-<balance>-...`: the currency and starting balance.
fn parse_gift_card(code: &str) -> Option<(String, i64)> {
    let mut parts = code.split('-');
    if parts.next()? != "GC" {
        return None;
    }
    let currency = parts.next()?.to_owned();
    let balance = parts.next()?.parse().ok()?;
    Some((currency, balance))
}

fn declined(reason: DeclineReason) -> PspAnswer {
    let detail = match reason {
        DeclineReason::Generic => "card_declined",
        DeclineReason::InsufficientFunds => "insufficient_funds",
        DeclineReason::ExpiredCard => "expired_card",
        DeclineReason::InvalidPaymentMethod => "invalid_payment_method",
        DeclineReason::SuspectedFraud => "suspected_fraud",
        DeclineReason::AuthenticationRequired => "authentication_required",
        DeclineReason::CreditCheckFailed => "credit_check_failed",
        DeclineReason::AuthorizationExpired => "authorization_expired",
        DeclineReason::ProcessingError => "processing_error",
    };
    PspAnswer::Declined {
        reason,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CurrencyCode, method::Secret};

    fn authorize(key: &str, token: &str) -> PspCall {
        PspCall {
            kind: TransactionKind::Authorization,
            idempotency_key: key.to_owned(),
            currency: CurrencyCode::parse("EUR").unwrap(),
            amount_minor: 1000,
            method: Some(PaymentMethod::Card {
                token: Secret::parse(token).unwrap(),
            }),
            authorization_reference: String::new(),
        }
    }

    #[test]
    fn tokens_script_the_outcome_of_the_call_they_name() {
        use Behaviour::*;
        use TransactionKind::*;
        let table = [
            ("tok_visa_4242", (Authorization, Approve)),
            (
                "tok_decline",
                (Authorization, Decline(DeclineReason::Generic)),
            ),
            (
                "tok_insufficient_funds",
                (Authorization, Decline(DeclineReason::InsufficientFunds)),
            ),
            ("tok_timeout", (Authorization, Timeout)),
            ("tok_lost", (Authorization, Lost)),
            ("tok_unavailable", (Authorization, Unavailable)),
            (
                "tok_visa_capture_decline",
                (Capture, Decline(DeclineReason::Generic)),
            ),
            ("tok_visa_refund_timeout", (Refund, Timeout)),
        ];
        for (token, expected) in table {
            assert_eq!(script(token), expected, "{token}");
        }
    }

    #[tokio::test]
    async fn a_repeated_call_is_answered_again_without_charging_twice() {
        let psp = PspSimulator::new(SimulatorConfig::default());
        let first = psp.execute(&authorize("k1", "tok_visa")).await.unwrap();
        let again = psp.execute(&authorize("k1", "tok_visa")).await.unwrap();
        assert_eq!(first, again);
        assert_eq!(psp.charges(), 1);
        assert_eq!(psp.calls(TransactionKind::Authorization), 2);
    }

    #[tokio::test]
    async fn a_timed_out_call_happened_and_lookup_says_so() {
        let psp = PspSimulator::new(SimulatorConfig::default());
        let err = psp.execute(&authorize("k1", "tok_timeout")).await;
        assert_eq!(err, Err(PspError::Timeout));
        let found = psp
            .lookup(TransactionKind::Authorization, "k1")
            .await
            .unwrap();
        assert!(matches!(found, Some(PspAnswer::Approved { .. })));
        let never = psp
            .lookup(TransactionKind::Authorization, "k2")
            .await
            .unwrap();
        assert_eq!(never, None);
        assert_eq!(psp.charges(), 1);
    }

    #[tokio::test]
    async fn the_failure_rate_repeats_for_a_seed() {
        let config = SimulatorConfig {
            failure_rate: 0.5,
            ..SimulatorConfig::default()
        };
        let mut runs = Vec::new();
        for _ in 0..2 {
            let psp = PspSimulator::new(config.clone());
            let mut outcomes = Vec::new();
            for i in 0..32 {
                let key = format!("k{i}");
                outcomes.push(psp.execute(&authorize(&key, "tok_visa")).await.is_ok());
            }
            runs.push(outcomes);
        }
        assert_eq!(runs[0], runs[1]);
        assert!(runs[0].contains(&true) && runs[0].contains(&false));
    }

    #[tokio::test]
    async fn gift_cards_hold_a_balance_in_one_currency() {
        let psp = PspSimulator::new(SimulatorConfig::default());
        let mut call = authorize("g1", "tok");
        call.method = Some(PaymentMethod::GiftCard {
            code: Secret::parse("GC-EUR-1500-7781").unwrap(),
        });
        assert!(matches!(
            psp.execute(&call).await,
            Ok(PspAnswer::Approved { .. })
        ));
        assert_eq!(psp.gift_card_balance("GC-EUR-1500-7781"), Some(500));
        call.idempotency_key = "g2".into();
        assert_eq!(
            psp.execute(&call).await,
            Ok(PspAnswer::ExceedsBalance {
                remaining_minor: 500
            })
        );
        call.currency = CurrencyCode::parse("USD").unwrap();
        call.amount_minor = 100;
        assert_eq!(
            psp.execute(&call).await,
            Ok(PspAnswer::CurrencyMismatch {
                expected: "EUR".into()
            })
        );
    }
}
