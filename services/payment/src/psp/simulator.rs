//! The PSP simulator: a deterministic payment service provider, the default
//! PSP of the service and the one every test runs against.
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
//! unavailable, drawn from a seeded generator, so a run on a fresh database
//! repeats exactly) and a latency before each answer. Like a real PSP it keeps the answer of every
//! (kind, idempotency key): a repeated call is answered again without acting,
//! and [`Psp::lookup`] reports what happened. It counts the charges it made.
//!
//! And like a real PSP it keeps what it did where every caller finds it: its
//! answers, authorizations, gift card balances, counters and failure draws are
//! rows of its own tables (`psp_sim_*`, migration `0002_psp_simulator.sql`) in
//! the payment service's database, so a restart of the service or a capture
//! on another replica than its authorization changes nothing ([`tables`]
//! holds the SQL). It reaches them through a pool of its own: a payment
//! handler calls the PSP while holding a connection of the service's pool,
//! and must never wait for a second one from that pool.

mod tables;

use std::time::Duration;

use oms_platform::{config::DatabaseConfig, db};
use sha2::{Digest as _, Sha256};
use sqlx::{Connection as _, PgConnection, PgPool};

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

impl Behaviour {
    /// As stored: a behaviour code and, for a decline, its reason's code.
    fn code(self) -> (i16, i16) {
        match self {
            Behaviour::Approve => (1, 0),
            Behaviour::Decline(reason) => (2, reason.code()),
            Behaviour::Timeout => (3, 0),
            Behaviour::Lost => (4, 0),
            Behaviour::Unavailable => (5, 0),
        }
    }

    fn from_code(code: i16, reason: i16) -> Option<Behaviour> {
        Some(match code {
            1 => Behaviour::Approve,
            2 => Behaviour::Decline(DeclineReason::from_code(reason)?),
            3 => Behaviour::Timeout,
            4 => Behaviour::Lost,
            5 => Behaviour::Unavailable,
            _ => return None,
        })
    }
}

/// Which later call an authorization's token scripts, and how.
type Script = (TransactionKind, Behaviour);

const NO_SCRIPT: Script = (TransactionKind::Authorization, Behaviour::Approve);

/// The n-th number (from 1) of the splitmix64 sequence of `seed`: tiny, good
/// enough for fault injection, no dependency, and computed from the count of
/// draws alone, so replicas sharing the count share the sequence.
fn splitmix64(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How a gift card is known to the simulator: never by its code.
fn gift_card_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.as_bytes()).to_vec()
}

/// The simulator's database could not be used: the provider is unavailable.
fn unavailable(err: sqlx::Error) -> PspError {
    tracing::warn!(error = %err, "the psp simulator cannot reach its tables");
    PspError::Unavailable
}

/// The deterministic PSP simulator; see the module documentation.
#[derive(Debug, Clone)]
pub struct PspSimulator {
    config: SimulatorConfig,
    pool: PgPool,
}

impl PspSimulator {
    /// A simulator keeping its state in `database` (the payment service's), with
    /// a pool of its own as large as the service's, connected on first use: the
    /// service's start runs the migrations that create its tables.
    pub fn new(config: SimulatorConfig, database: &DatabaseConfig) -> PspSimulator {
        let pool = db::pool_options(
            database.pool_size,
            database.acquire_timeout,
            db::ALIVE_BYPASS,
        )
        .connect_lazy_with(database.options.clone());
        PspSimulator { config, pool }
    }

    /// Authorizations the simulator made: each one is money taken from a
    /// customer's payment method.
    pub async fn charges(&self) -> Result<u64, sqlx::Error> {
        tables::charges(&mut *self.pool.acquire().await?).await
    }

    /// Calls of `kind` received, answered or not, repeats included.
    pub async fn calls(&self, kind: TransactionKind) -> Result<u64, sqlx::Error> {
        tables::calls(&mut *self.pool.acquire().await?, kind).await
    }

    /// The balance of a gift card the simulator has seen.
    pub async fn gift_card_balance(&self, code: &str) -> Result<Option<i64>, sqlx::Error> {
        tables::gift_card_balance(&mut *self.pool.acquire().await?, &gift_card_hash(code)).await
    }

    /// Whether this call is refused by the configured failure rate.
    async fn fails_now(&self, conn: &mut PgConnection) -> Result<bool, PspError> {
        let rate = self.config.failure_rate;
        if rate <= 0.0 {
            return Ok(false);
        }
        let n = tables::next_draw(conn, self.config.seed)
            .await
            .map_err(unavailable)?;
        #[allow(clippy::cast_precision_loss, reason = "53 bits of a random draw")]
        let draw = (splitmix64(self.config.seed, n) >> 11) as f64 / (1u64 << 53) as f64;
        Ok(draw < rate)
    }

    /// Receives and answers one call, keeping what it did; the behaviour says
    /// how the answer travels back.
    async fn act(&self, call: &PspCall) -> Result<(PspAnswer, Behaviour), PspError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        if self.fails_now(&mut conn).await? {
            tables::count_call(&mut conn, call.kind)
                .await
                .map_err(unavailable)?;
            return Err(PspError::Unavailable);
        }
        // The call is counted in the transaction that answers it, last before
        // the commit (with its answer kept, when it is new): one commit per
        // call, and the counter's row (one per kind, shared by every call) is
        // locked only while the commit runs, as when the count committed on
        // its own.
        let key = call.idempotency_key.as_str();
        let mut tx = conn.begin().await.map_err(unavailable)?;
        if let Some(answer) = tables::answer(&mut tx, call.kind, key)
            .await
            .map_err(unavailable)?
        {
            // A repeated call: answered again, never acted on twice.
            counted(tx, call.kind).await?;
            return Ok((answer, Behaviour::Approve));
        }
        let (answer, behaviour) = match decide(&mut tx, call).await.map_err(unavailable)? {
            Err(refusal) => (refusal, Behaviour::Approve),
            Ok(Behaviour::Unavailable) => {
                counted(tx, call.kind).await?;
                return Err(PspError::Unavailable);
            }
            Ok(Behaviour::Lost) => {
                counted(tx, call.kind).await?;
                let never = PspAnswer::Approved {
                    reference: String::new(),
                };
                return Ok((never, Behaviour::Lost));
            }
            Ok(Behaviour::Decline(reason)) => (declined(reason), Behaviour::Decline(reason)),
            Ok(behaviour) => {
                let number = tables::next_reference(&mut tx).await.map_err(unavailable)?;
                // References read `sim_authorization_000001`.
                let kind = call.kind.name().to_ascii_lowercase();
                let reference = format!("sim_{kind}_{number:06}");
                apply(&mut tx, call, &reference)
                    .await
                    .map_err(unavailable)?;
                (PspAnswer::Approved { reference }, behaviour)
            }
        };
        if !tables::keep_answer(&mut tx, call.kind, key, &answer)
            .await
            .map_err(unavailable)?
        {
            // The same call reached another replica first: its answer stands.
            tx.rollback().await.map_err(unavailable)?;
            tables::count_call(&mut conn, call.kind)
                .await
                .map_err(unavailable)?;
            let first = tables::answer(&mut conn, call.kind, key)
                .await
                .map_err(unavailable)?
                .ok_or(PspError::Unavailable)?;
            return Ok((first, Behaviour::Approve));
        }
        // A commit without an answer may have happened all the same.
        tx.commit().await.map_err(|_| PspError::Timeout)?;
        Ok((answer, behaviour))
    }
}

/// Counts the call in `tx`, which wrote nothing else, and commits.
async fn counted(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    kind: TransactionKind,
) -> Result<(), PspError> {
    tables::count_call(&mut tx, kind)
        .await
        .map_err(unavailable)?;
    tx.commit().await.map_err(unavailable)
}

/// What a new call does, or the refusal it gets before anything happens.
async fn decide(
    conn: &mut PgConnection,
    call: &PspCall,
) -> Result<Result<Behaviour, PspAnswer>, sqlx::Error> {
    if call.kind != TransactionKind::Authorization {
        let Some((kind, behaviour)) = tables::script(conn, &call.authorization_reference).await?
        else {
            return Ok(Err(declined(DeclineReason::InvalidPaymentMethod)));
        };
        return Ok(Ok(if kind == call.kind {
            behaviour
        } else {
            Behaviour::Approve
        }));
    }
    Ok(match &call.method {
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
                return Ok(Err(declined(DeclineReason::InvalidPaymentMethod)));
            };
            let hash = gift_card_hash(code.expose());
            let (currency, balance_minor) =
                tables::gift_card(conn, &hash, &currency, balance_minor).await?;
            if currency != call.currency.as_str() {
                Err(PspAnswer::CurrencyMismatch { expected: currency })
            } else if balance_minor < call.amount_minor {
                Err(PspAnswer::ExceedsBalance {
                    remaining_minor: balance_minor,
                })
            } else {
                Ok(Behaviour::Approve)
            }
        }
        Some(PaymentMethod::Invoice { billing_reference }) => {
            Ok(if billing_reference.contains("credit_fail") {
                Behaviour::Decline(DeclineReason::CreditCheckFailed)
            } else {
                Behaviour::Approve
            })
        }
        None => Err(declined(DeclineReason::InvalidPaymentMethod)),
    })
}

/// Makes the approved call's effects on the simulated accounts.
async fn apply(
    conn: &mut PgConnection,
    call: &PspCall,
    reference: &str,
) -> Result<(), sqlx::Error> {
    match call.kind {
        TransactionKind::Authorization => {
            let (script, gift_card) = match &call.method {
                Some(PaymentMethod::Card { token }) => (script(token.expose()), None),
                Some(PaymentMethod::GiftCard { code }) => {
                    let hash = gift_card_hash(code.expose());
                    tables::add_to_gift_card(conn, &hash, call.amount_minor.saturating_neg())
                        .await?;
                    (NO_SCRIPT, Some(hash))
                }
                _ => (NO_SCRIPT, None),
            };
            tables::insert_authorization(
                conn,
                reference,
                script,
                gift_card.as_deref(),
                call.currency.as_str(),
                call.amount_minor,
            )
            .await
        }
        TransactionKind::Void | TransactionKind::Refund => {
            tables::give_back(conn, &call.authorization_reference, call.amount_minor).await
        }
        TransactionKind::Capture => Ok(()),
    }
}

#[tonic::async_trait]
impl Psp for PspSimulator {
    fn name(&self) -> &'static str {
        "simulator"
    }

    async fn execute(&self, call: &PspCall) -> Result<PspAnswer, PspError> {
        // A call that reached the provider is carried out even when its caller
        // stops waiting (a timeout): the provider's work is its own task.
        let simulator = self.clone();
        let call = call.clone();
        let (answer, behaviour) = tokio::spawn(async move { simulator.act(&call).await })
            .await
            .map_err(|_| PspError::Unavailable)??;
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
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        if self.fails_now(&mut conn).await? {
            return Err(PspError::Unavailable);
        }
        tables::answer(&mut conn, kind, idempotency_key)
            .await
            .map_err(unavailable)
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
    use std::sync::Arc;

    use oms_testkit::TestDatabase;

    use super::*;
    use crate::domain::{CurrencyCode, method::Secret};

    /// A migrated database of the test's own; keep it until the test ends.
    async fn database() -> TestDatabase {
        let db = TestDatabase::create().await;
        let pool = oms_platform::db::connect(&db.config(), &crate::MIGRATOR)
            .await
            .unwrap();
        pool.close().await;
        db
    }

    /// A simulator without faults on a database of its own.
    async fn simulator() -> (TestDatabase, PspSimulator) {
        let db = database().await;
        let psp = PspSimulator::new(SimulatorConfig::default(), &db.config());
        (db, psp)
    }

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

    fn gift_card(key: &str, code: &str, amount_minor: i64) -> PspCall {
        PspCall {
            amount_minor,
            method: Some(PaymentMethod::GiftCard {
                code: Secret::parse(code).unwrap(),
            }),
            ..authorize(key, "tok")
        }
    }

    fn follow_up(kind: TransactionKind, key: &str, authorization: &PspAnswer) -> PspCall {
        let PspAnswer::Approved { reference } = authorization else {
            panic!("not approved: {authorization:?}");
        };
        PspCall {
            kind,
            method: None,
            authorization_reference: reference.clone(),
            ..authorize(key, "tok")
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

    #[test]
    fn behaviours_round_trip_through_their_stored_codes() {
        let all = [
            Behaviour::Approve,
            Behaviour::Decline(DeclineReason::SuspectedFraud),
            Behaviour::Timeout,
            Behaviour::Lost,
            Behaviour::Unavailable,
        ];
        for behaviour in all {
            let (code, reason) = behaviour.code();
            assert_eq!(Behaviour::from_code(code, reason), Some(behaviour));
        }
        assert_eq!(Behaviour::from_code(9, 0), None);
    }

    #[tokio::test]
    async fn a_repeated_call_is_answered_again_without_charging_twice() {
        let (_db, psp) = simulator().await;
        let first = psp.execute(&authorize("k1", "tok_visa")).await.unwrap();
        let again = psp.execute(&authorize("k1", "tok_visa")).await.unwrap();
        assert_eq!(first, again);
        assert_eq!(psp.charges().await.unwrap(), 1);
        assert_eq!(psp.calls(TransactionKind::Authorization).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_timed_out_call_happened_and_lookup_says_so() {
        let (_db, psp) = simulator().await;
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
        assert_eq!(psp.charges().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_lost_call_is_counted_and_nothing_else() {
        let (_db, psp) = simulator().await;
        let err = psp.execute(&authorize("k1", "tok_lost")).await;
        assert_eq!(err, Err(PspError::Timeout));
        let lookup = psp.lookup(TransactionKind::Authorization, "k1").await;
        assert_eq!(lookup, Ok(None));
        assert_eq!(psp.charges().await.unwrap(), 0);
        assert_eq!(psp.calls(TransactionKind::Authorization).await.unwrap(), 1);
    }

    const FAILING: SimulatorConfig = SimulatorConfig {
        failure_rate: 0.5,
        latency: Duration::ZERO,
        seed: 7,
    };

    /// Whether each of `calls` authorizations got an answer, sent in turn to
    /// the simulators given.
    async fn answered(simulators: &[&PspSimulator], calls: usize) -> Vec<bool> {
        let mut outcomes = Vec::new();
        for i in 0..calls {
            let psp = simulators[i % simulators.len()];
            let call = authorize(&format!("k{i}"), "tok_visa");
            outcomes.push(psp.execute(&call).await.is_ok());
        }
        outcomes
    }

    #[tokio::test]
    async fn the_failure_rate_repeats_for_a_seed() {
        let mut runs = Vec::new();
        for _ in 0..2 {
            let db = database().await;
            let psp = PspSimulator::new(FAILING, &db.config());
            runs.push(answered(&[&psp], 32).await);
        }
        assert_eq!(runs[0], runs[1]);
        assert!(runs[0].contains(&true) && runs[0].contains(&false));
    }

    #[tokio::test]
    async fn replicas_on_one_database_draw_one_sequence_of_failures() {
        let alone = database().await;
        let psp = PspSimulator::new(FAILING, &alone.config());
        let one = answered(&[&psp], 32).await;

        let shared = database().await;
        let first = PspSimulator::new(FAILING, &shared.config());
        let second = PspSimulator::new(FAILING, &shared.config());
        let two = answered(&[&first, &second], 32).await;
        assert_eq!(one, two);
    }

    #[tokio::test]
    async fn gift_cards_hold_a_balance_in_one_currency() {
        let (db, psp) = simulator().await;
        let code = "GC-EUR-1500-7781";
        let mut call = gift_card("g1", code, 1000);
        assert!(matches!(
            psp.execute(&call).await,
            Ok(PspAnswer::Approved { .. })
        ));
        assert_eq!(psp.gift_card_balance(code).await.unwrap(), Some(500));
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
        // The simulator knows the card by a hash of its code, never the code.
        let pool = db.pool().await;
        let kept: Vec<String> = sqlx::query_scalar(
            "SELECT row_to_json(t)::text FROM psp_sim_gift_cards t
             UNION ALL SELECT row_to_json(t)::text FROM psp_sim_authorizations t
             UNION ALL SELECT row_to_json(t)::text FROM psp_sim_answers t",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().all(|row| !row.contains("7781")), "{kept:?}");
    }

    #[tokio::test]
    async fn another_simulator_on_the_database_carries_on_where_the_first_left_off() {
        let db = database().await;
        let first = PspSimulator::new(SimulatorConfig::default(), &db.config());
        let card = first
            .execute(&authorize("a1", "tok_visa_capture_decline"))
            .await
            .unwrap();
        let gift = first
            .execute(&gift_card("a2", "GC-EUR-5000-1", 2000))
            .await
            .unwrap();
        drop(first);

        let second = PspSimulator::new(SimulatorConfig::default(), &db.config());
        // The token's script travels with the authorization.
        assert_eq!(
            second
                .execute(&follow_up(TransactionKind::Capture, "c1", &card))
                .await,
            Ok(declined(DeclineReason::Generic))
        );
        let void = PspCall {
            amount_minor: 2000,
            ..follow_up(TransactionKind::Void, "v1", &gift)
        };
        let voided = second.execute(&void).await.unwrap();
        assert_eq!(
            second.gift_card_balance("GC-EUR-5000-1").await.unwrap(),
            Some(5000)
        );
        assert_eq!(
            second.lookup(TransactionKind::Authorization, "a1").await,
            Ok(Some(card.clone()))
        );
        // Repeats answered by either, and references never handed out twice.
        assert_eq!(second.execute(&void).await, Ok(voided.clone()));
        let third = second.execute(&authorize("a3", "tok_visa")).await.unwrap();
        assert!(![&card, &gift, &voided].contains(&&third), "{third:?}");
        assert_eq!(second.charges().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn the_same_call_on_two_replicas_at_once_acts_once() {
        let db = database().await;
        let first = Arc::new(PspSimulator::new(SimulatorConfig::default(), &db.config()));
        let second = Arc::new(PspSimulator::new(SimulatorConfig::default(), &db.config()));
        let call = gift_card("same", "GC-EUR-5000-2", 1000);
        let mut sends = tokio::task::JoinSet::new();
        for i in 0..8 {
            let psp = if i % 2 == 0 { &first } else { &second }.clone();
            let call = call.clone();
            sends.spawn(async move { psp.execute(&call).await });
        }
        let answers = sends.join_all().await;
        assert!(
            answers.iter().all(|answer| *answer == answers[0]),
            "{answers:?}"
        );
        assert!(matches!(answers[0], Ok(PspAnswer::Approved { .. })));
        assert_eq!(first.charges().await.unwrap(), 1);
        assert_eq!(
            first.gift_card_balance("GC-EUR-5000-2").await.unwrap(),
            Some(4000)
        );
    }
}
