//! The fuzz suite: every unary RPC that a running [`Suite`] serves, called
//! over real gRPC with requests generated from its contract's descriptors,
//! and every answer checked against what the contract promises.
//!
//! How a run goes:
//! 1. Each server is asked by reflection which services it serves; every
//!    unary RPC of those in the `oms.` packages becomes a job (OutboxService
//!    is a job on each of order, shipping and returns). Contracts no server
//!    serves are reported, not fuzzed.
//! 2. Each job sends the fixed cases of [`generate::catalog`], then
//!    [`Settings::cases`] random ones of [`generate::random`] from a proptest
//!    RNG seeded with the run's seed and the job's name, so one job's cases
//!    do not depend on which other RPCs exist. Mutating RPCs get a fresh
//!    `idempotency-key` on every call.
//! 3. An answer fails when its code is not one the contract lists (OK always
//!    passes, but not with the card number a request held in the answer;
//!    INTERNAL passes only
//!    for a body that does not decode, tonic's own refusal), when it takes
//!    over [`SLOW`], or when none comes within [`NO_ANSWER`]. A failing random case is shrunk by proptest first.
//! 4. The [`Report`] lists the failures grouped by RPC, code and problem,
//!    with the seed that repeats them.
//!
//! Over mutual TLS (`Settings::with_tls` of the suite) each job calls as a
//! principal the access table lets call its RPC, so the cases reach the
//! handlers. [`refusals`] sends the fixed cases as callers the table refuses
//! (no certificate; a principal it does not list) and fails every answer
//! but the access layer's refusal, and every message with [`internal_text`].
//!
//! Checking the logs for panics and the services' health afterwards is the
//! caller's part, as it owns the runtime and the captured logs.

pub mod generate;
mod refusals;

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use oms_platform::{
    access::{self, Principal},
    client::OmsChannel,
    config::Service,
};
use proptest::{
    strategy::{Strategy as _, ValueTree as _},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use tokio::sync::Semaphore;
use tonic::Code;
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::{
    Caller, Suite, TestChannel,
    contracts::{self, Contract},
    raw,
};
use generate::Case;
use refusals::Refusal;
pub use refusals::{INTERNAL_TEXT, internal_text, refusals};

/// An answer slower than this fails.
pub const SLOW: Duration = Duration::from_secs(5);
/// A call with no answer by then is given up and fails.
pub const NO_ANSWER: Duration = Duration::from_secs(15);
/// At most this many shrinking steps per failing random case.
const SHRINK_STEPS: usize = 32;
/// The seed when `FUZZ_SEED` is not set: `make test` runs the same cases
/// every time.
pub const DEFAULT_SEED: u64 = 0x0e2e_f022;

/// How much to fuzz and with which seed.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Seeds every job's RNG (`FUZZ_SEED`, decimal or 0x-hex).
    pub seed: u64,
    /// Random cases per RPC after the fixed ones (`FUZZ_CASES`).
    pub cases: usize,
    /// Stop starting random cases after this long (`FUZZ_DURATION`, e.g.
    /// `10m`); with it and no `FUZZ_CASES`, the cases are unbounded.
    pub duration: Option<Duration>,
    /// Only RPCs whose name contains this (`FUZZ_RPC`, e.g. `AddNote`).
    pub only: Option<String>,
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Which fixed cases each RPC gets before the random ones.
    pub fixed: Fixed,
}

/// Which of [`generate::catalog`]'s fixed cases each RPC gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fixed {
    /// Every one: each field at each extreme, each list long.
    All,
    /// The empty, the filled and the truncated request: for a run whose
    /// point is the way calls come (e.g. over mutual TLS) rather than the
    /// handlers, which a run with [`Fixed::All`] covers.
    Basic,
}

impl Settings {
    /// The settings from the environment, `cases` random cases per RPC unless
    /// `FUZZ_CASES` or `FUZZ_DURATION` say otherwise.
    pub fn from_env(cases: usize) -> Result<Settings, String> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let seed = match var("FUZZ_SEED") {
            None => DEFAULT_SEED,
            Some(text) => parse_seed(&text).ok_or(format!("FUZZ_SEED: not a number: {text}"))?,
        };
        let duration = var("FUZZ_DURATION")
            .map(|text| {
                humantime::parse_duration(&text).map_err(|err| format!("FUZZ_DURATION: {err}"))
            })
            .transpose()?;
        let cases = match (var("FUZZ_CASES"), duration) {
            (Some(text), _) => text
                .parse()
                .map_err(|_| format!("FUZZ_CASES: not a count: {text}"))?,
            (None, Some(_)) => usize::MAX,
            (None, None) => cases,
        };
        Ok(Settings {
            seed,
            cases,
            duration,
            only: var("FUZZ_RPC"),
            concurrency: 8,
            fixed: Fixed::All,
        })
    }
}

fn parse_seed(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// One answer that broke the contract.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The service that answered.
    pub server: &'static str,
    /// `<package>.<Service>/<Method>`.
    pub rpc: String,
    /// Which case: a catalog label or `random #n`.
    pub case: String,
    /// What the request held, shortened.
    pub request: String,
    /// The answer's code.
    pub code: Code,
    /// The answer's message, shortened.
    pub message: String,
    /// What is wrong with the answer.
    pub problem: Problem,
    /// How long the answer took.
    pub elapsed: Duration,
}

/// What is wrong with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// INTERNAL to a request that decodes.
    InternalOnWellFormed,
    /// A code the contract does not list.
    CodeNotInContract,
    /// Slower than [`SLOW`].
    Slow,
    /// No answer within [`NO_ANSWER`].
    NoAnswer,
    /// OK to a request that holds a card number, with the card number in the
    /// answer: accepted and kept (every free-text and identifier field must
    /// refuse card numbers; an OK that does not echo it is not caught).
    CardNumberAccepted,
    /// The connection failed under the call (e.g. a GOAWAY because the
    /// answer's headers were too large): the status comes from the client's
    /// transport, not from the service.
    Transport,
    /// A caller the access table refuses was not refused with the access
    /// layer's code and message.
    NotRefused,
    /// The message holds internal text (see [`internal_text`]).
    InternalText,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::InternalOnWellFormed => "INTERNAL on a well-formed request",
            Problem::CodeNotInContract => "code not in the contract",
            Problem::Slow => "slower than 5 s",
            Problem::NoAnswer => "no answer",
            Problem::Transport => "the connection failed under the call",
            Problem::CardNumberAccepted => "a card number accepted",
            Problem::NotRefused => "not refused as the access table says",
            Problem::InternalText => "internal text in the message",
        })
    }
}

/// What a run did and found.
#[derive(Debug, Default)]
pub struct Report {
    /// The seed that repeats the run.
    pub seed: u64,
    /// RPCs fuzzed, each on each server that serves it.
    pub jobs: usize,
    /// Calls made.
    pub calls: usize,
    /// How long the run took.
    pub elapsed: Duration,
    /// Every failing answer.
    pub failures: Vec<Failure>,
    /// Fuzzed RPCs whose contract lists no codes (no `Errors:` paragraph).
    pub undocumented: Vec<String>,
    /// `oms.` services no server of the suite serves (not fuzzed).
    pub unserved: Vec<String>,
}

impl Report {
    /// Whether nothing failed and every fuzzed RPC has its codes documented.
    pub fn is_clean(&self) -> bool {
        self.failures.is_empty() && self.undocumented.is_empty()
    }

    /// The failures grouped by (RPC, code, problem), with how many cases each
    /// and the shortest request of each.
    pub fn groups(&self) -> Vec<(String, Code, Problem, Vec<&Failure>)> {
        let mut groups: BTreeMap<(String, i32, Problem), Vec<&Failure>> = BTreeMap::new();
        for failure in &self.failures {
            groups
                .entry((failure.rpc.clone(), failure.code as i32, failure.problem))
                .or_default()
                .push(failure);
        }
        groups
            .into_iter()
            .map(|((rpc, code, problem), mut failures)| {
                failures.sort_by_key(|failure| failure.request.len());
                (rpc, Code::from(code), problem, failures)
            })
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fuzz: seed {:#x} (FUZZ_SEED={:#x} repeats it): {} RPCs, {} calls in {:.1?}, {} failing cases",
            self.seed,
            self.seed,
            self.jobs,
            self.calls,
            self.elapsed,
            self.failures.len()
        )?;
        for name in &self.unserved {
            writeln!(f, "  not served by the suite, not fuzzed: {name}")?;
        }
        for rpc in &self.undocumented {
            writeln!(f, "  UNDOCUMENTED: {rpc} has no Errors: paragraph")?;
        }
        for (rpc, code, problem, failures) in self.groups() {
            let first = failures[0];
            writeln!(
                f,
                "  FAIL {rpc} on {}: {problem}: {code:?} in {} case(s)",
                first.server,
                failures.len()
            )?;
            let cases: Vec<&str> = failures
                .iter()
                .map(|failure| failure.case.as_str())
                .collect();
            writeln!(f, "       cases: {}", cases.join("; "))?;
            writeln!(
                f,
                "       e.g. {}: {code:?} {:?} after {:.0?}",
                first.case, first.message, first.elapsed
            )?;
            writeln!(f, "       request: {}", first.request)?;
        }
        Ok(())
    }
}

/// One RPC on one server.
struct Job {
    server: Service,
    channel: TestChannel,
    contract: Contract,
    /// The refusal every answer must be, for a caller the table refuses.
    refusal: Option<Refusal>,
}

impl Job {
    fn name(&self) -> String {
        format!("{}@{}", self.contract.name(), self.server.name())
    }
}

/// The unary jobs: every `oms.` RPC each server of `suite` lists by
/// reflection (as [`Settings::only`] narrows them), each with the channel
/// `channel` makes for its contract and server, and the `oms.` services no
/// server lists.
async fn collect_jobs(
    suite: &Suite,
    settings: &Settings,
    mut channel: impl FnMut(&Contract, std::net::SocketAddr) -> (TestChannel, Option<Refusal>),
) -> (Vec<Job>, Vec<String>) {
    let contracts = contracts::unary();
    let mut jobs = Vec::new();
    let mut served = Vec::new();
    for (server, service) in suite.services() {
        let names = served_services(service.channel()).await;
        for contract in contracts.iter().filter(|c| names.contains(&c.service)) {
            let wanted = settings
                .only
                .as_ref()
                .is_none_or(|only| contract.name().contains(only.as_str()));
            if wanted {
                // A connection per job: when the server or the client ends a
                // connection (GOAWAY), only this job's call fails with it.
                let (channel, refusal) = channel(contract, service.address());
                jobs.push(Job {
                    server,
                    channel,
                    contract: contract.clone(),
                    refusal,
                });
            }
        }
        served.extend(names);
    }
    let mut unserved: Vec<String> = contracts
        .iter()
        .map(|contract| contract.service.clone())
        .filter(|service| !served.contains(service))
        .collect();
    unserved.dedup();
    (jobs, unserved)
}

/// Callers of the suite by principal, each made once.
struct Callers<'a> {
    suite: &'a Suite,
    made: std::collections::HashMap<Principal, Caller>,
}

impl Callers<'_> {
    /// The suite's caller over plaintext; over mutual TLS, `principal`.
    fn get(&mut self, principal: Principal) -> &Caller {
        if self.suite.ca().is_none() {
            return self.suite.caller();
        }
        let suite = self.suite;
        self.made
            .entry(principal)
            .or_insert_with(|| suite.caller_as(principal))
    }
}

/// Fuzzes every unary RPC the suite serves, as the module documentation
/// describes.
pub async fn run(suite: &Suite, settings: &Settings) -> Report {
    let started = Instant::now();
    let headers = suite.clients().headers().clone();
    let mut callers = Callers {
        suite,
        made: std::collections::HashMap::new(),
    };
    // Over mutual TLS, each RPC as a caller the table lets call it, so that
    // the cases reach the handlers.
    let (jobs, unserved) = collect_jobs(suite, settings, |contract, address| {
        let principal = access::callers(&contract.path())
            .and_then(|callers| callers.first().copied())
            .unwrap_or(Principal::Operator);
        let channel = callers.get(principal).channel(address);
        (headers.wrap(channel), None)
    })
    .await;
    let mut report = Report {
        seed: settings.seed,
        jobs: jobs.len(),
        unserved,
        ..Report::default()
    };
    report.undocumented = jobs
        .iter()
        .filter(|job| job.contract.codes.is_none())
        .map(Job::name)
        .collect();
    execute(jobs, settings, started, &mut report).await;
    report
}

/// Runs `jobs` as `settings` say, adding their calls and failures to
/// `report`.
async fn execute(jobs: Vec<Job>, settings: &Settings, started: Instant, report: &mut Report) {
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let calls = Arc::new(AtomicUsize::new(0));
    let deadline = settings.duration.map(|duration| started + duration);
    // Proptest's strategies are not Send: the jobs run on this thread.
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let mut running = tokio::task::JoinSet::new();
            for job in jobs {
                running.spawn_local(fuzz_job(
                    job,
                    settings.clone(),
                    deadline,
                    permits.clone(),
                    calls.clone(),
                ));
            }
            while let Some(done) = running.join_next().await {
                match done {
                    Ok(failures) => report.failures.extend(failures),
                    Err(err) => panic!("a fuzz job failed: {err}"),
                }
            }
        })
        .await;
    report.calls = calls.load(Ordering::Relaxed);
    report.elapsed = started.elapsed();
}

/// The fixed cases, then the random ones, of one job.
async fn fuzz_job(
    job: Job,
    settings: Settings,
    deadline: Option<Instant>,
    permits: Arc<Semaphore>,
    calls: Arc<AtomicUsize>,
) -> Vec<Failure> {
    let caller = Sender {
        job: &job,
        permits,
        calls,
    };
    let mut failures = Vec::new();
    let mut catalog = generate::catalog(&job.contract.input);
    if settings.fixed == Fixed::Basic || job.refusal.is_some() {
        catalog.retain(|(label, _)| {
            label == "empty" || label == "filled" || label.starts_with("filled, truncated")
        });
    }
    for (label, case) in catalog {
        if let Some(failure) = caller.check(&label, &case).await {
            failures.push(failure);
        }
    }

    let rng = TestRng::from_seed(
        RngAlgorithm::ChaCha,
        &seed_bytes(settings.seed, &job.name()),
    );
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let strategy = generate::random(&job.contract.input);
    let mut shrunk = Vec::new();
    for n in 0..settings.cases {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            break;
        }
        let Ok(mut tree) = strategy.new_tree(&mut runner) else {
            break;
        };
        let label = format!("random #{n}");
        let Some(mut failure) = caller.check(&label, &tree.current()).await else {
            continue;
        };
        // Shrinking costs calls: only the first random failure of each kind
        // in a job is shrunk.
        if shrunk.contains(&failure.problem) {
            failures.push(failure);
            continue;
        }
        shrunk.push(failure.problem);
        // Proptest's shrinking: simplify while the case still fails, step
        // back towards the failing case when it stops failing.
        let mut steps = 0;
        if tree.simplify() {
            while steps < SHRINK_STEPS {
                steps += 1;
                match caller.check(&label, &tree.current()).await {
                    Some(smaller) if smaller.problem == failure.problem => {
                        failure = smaller;
                        if !tree.simplify() {
                            break;
                        }
                    }
                    _ if !tree.complicate() => break,
                    _ => {}
                }
            }
        }
        failure.case = format!("{label} (shrunk in {steps} steps)");
        failures.push(failure);
    }
    failures
}

/// Sends a job's cases and judges the answers.
struct Sender<'a> {
    job: &'a Job,
    permits: Arc<Semaphore>,
    calls: Arc<AtomicUsize>,
}

impl Sender<'_> {
    async fn check(&self, label: &str, case: &Case) -> Option<Failure> {
        let contract = &self.job.contract;
        let body = case.encode();
        let n = self.calls.fetch_add(1, Ordering::Relaxed);
        let key = contract
            .mutating
            .then(|| format!("fuzz-{}-{n}", contract.method));
        let _permit = self.permits.acquire().await.ok()?;
        let started = Instant::now();
        let answer = tokio::time::timeout(
            NO_ANSWER,
            raw::unary(
                self.job.channel.clone(),
                &contract.path(),
                body.clone(),
                key.as_deref(),
            ),
        )
        .await;
        let elapsed = started.elapsed();
        let (code, message, transport) = match &answer {
            Ok(Ok(_)) => (Code::Ok, String::new(), false),
            Ok(Err(status)) => match std::error::Error::source(status) {
                Some(source) => (
                    status.code(),
                    shorten(&format!("{}: {source:?}", status.message())),
                    true,
                ),
                None => (status.code(), shorten(status.message()), false),
            },
            Err(_) => (Code::DeadlineExceeded, "no answer".to_owned(), false),
        };
        let problem = if let Some(refusal) = &self.job.refusal {
            if internal_text(&message).is_some() {
                Problem::InternalText
            } else if code != refusal.code || message != refusal.message {
                Problem::NotRefused
            } else {
                return None;
            }
        } else if transport {
            Problem::Transport
        } else {
            let answered = match &answer {
                Ok(Ok(answered)) => Some(answered),
                _ => None,
            };
            judge(contract, &body, answered, code, elapsed, answer.is_err())?
        };
        Some(Failure {
            server: self.job.server.name(),
            rpc: contract.name(),
            case: label.to_owned(),
            request: case.describe(),
            code,
            message,
            problem,
            elapsed,
        })
    }
}

/// What is wrong with an answer of `code` (and `answer`, when OK) after
/// `elapsed` to `body`, if anything.
fn judge(
    contract: &Contract,
    body: &Bytes,
    answer: Option<&Bytes>,
    code: Code,
    elapsed: Duration,
    timed_out: bool,
) -> Option<Problem> {
    if timed_out {
        return Some(Problem::NoAnswer);
    }
    if code == Code::Internal && generate::decodes(&contract.input, body) {
        return Some(Problem::InternalOnWellFormed);
    }
    let echoed = answer.is_some_and(|answer| generate::holds_card_number(answer));
    if echoed && generate::holds_card_number(body) {
        return Some(Problem::CardNumberAccepted);
    }
    let undocumented = contract.codes.is_none();
    if code != Code::Internal && !undocumented && !contract.allows(code) {
        return Some(Problem::CodeNotInContract);
    }
    (elapsed > SLOW).then_some(Problem::Slow)
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// 32 seed bytes for ChaCha from the run's seed and a job's name
/// (splitmix64 over the seed mixed with an FNV-1a hash of the name).
fn seed_bytes(seed: u64, name: &str) -> [u8; 32] {
    let mut state = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    }) ^ seed;
    let mut bytes = [0; 32];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes
}

/// Makes every panic also an ERROR event `panicked: ...` of the panicking
/// thread's tracing subscriber, so that captured logs show a panic inside a
/// service (tonic answers the call as reset, and the panic message goes to
/// stderr only). The previous hook still runs. Installed once per process.
pub fn log_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            tracing::error!("panicked: {info}");
            previous(info);
        }));
    });
}

/// The services a server lists by reflection (v1).
pub async fn served_services(channel: OmsChannel) -> Vec<String> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let Ok(response) = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
    else {
        return Vec::new();
    };
    let mut stream = response.into_inner();
    let Ok(Some(answer)) = stream.message().await else {
        return Vec::new();
    };
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list
            .service
            .into_iter()
            .map(|service| service.name)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_read_in_decimal_or_hex_and_differ_per_job() {
        assert_eq!(parse_seed("0x2a"), Some(42));
        assert_eq!(parse_seed("42"), Some(42));
        assert_eq!(parse_seed("forty-two"), None);
        assert_eq!(seed_bytes(1, "a"), seed_bytes(1, "a"));
        assert_ne!(seed_bytes(1, "a"), seed_bytes(1, "b"));
        assert_ne!(seed_bytes(1, "a"), seed_bytes(2, "a"));
    }

    #[test]
    fn internal_passes_only_for_a_body_that_does_not_decode() {
        let contract = contracts::unary()
            .into_iter()
            .find(|contract| contract.method == "GetPayment")
            .expect("GetPayment is a unary RPC");
        let fast = Duration::from_millis(3);
        let garbage = Bytes::from_static(&[0x0a, 0x05, b'a']);
        let fine = Bytes::from_static(&[0x0a, 0x01, b'a']);
        assert_eq!(
            judge(&contract, &garbage, None, Code::Internal, fast, false),
            None
        );
        assert_eq!(
            judge(&contract, &fine, None, Code::Internal, fast, false),
            Some(Problem::InternalOnWellFormed)
        );
        assert_eq!(
            judge(&contract, &fine, None, Code::NotFound, fast, false),
            None
        );
        let card = Bytes::from(format!("\n\x13{}", generate::CARD_NUMBER));
        assert_eq!(
            judge(&contract, &card, Some(&card), Code::Ok, fast, false),
            Some(Problem::CardNumberAccepted)
        );
        assert_eq!(
            judge(&contract, &card, Some(&fine), Code::Ok, fast, false),
            None
        );
        assert_eq!(
            judge(&contract, &fine, None, Code::AlreadyExists, fast, false),
            Some(Problem::CodeNotInContract)
        );
        assert_eq!(
            judge(
                &contract,
                &fine,
                Some(&fine),
                Code::Ok,
                Duration::from_secs(6),
                false
            ),
            Some(Problem::Slow)
        );
    }
}
