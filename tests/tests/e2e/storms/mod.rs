//! Retry storms: for each mutating RPC, [`CALLERS`] concurrent calls of one
//! valid request with one `idempotency-key` (and so one natural key), on
//! services whose pools hold [`oms_e2e::POOL_SIZE`] connections. Every call
//! must answer OK within [`ANSWER_WITHIN`], the request must act once (read
//! back through the service's own read RPCs, see [`table`]), and a read of
//! the same service made during the storm must answer within
//! [`READ_WITHIN`].

mod sagas;
mod seed;
mod table;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use oms_e2e::{Suite, contracts, raw};
use oms_platform::config::Service;
use table::{Entry, table};
use tokio::task::JoinSet;

/// Concurrent callers of one request.
const CALLERS: usize = 50;
/// Every caller's answer comes within this. A storm that starves the pool
/// shows as calls waiting out the pool's acquire timeout (5 s) and failing
/// UNAVAILABLE; the bounds stay well below that and above what a machine busy
/// with other work takes (answers up to ~0.8 s, reads ~0.5 s seen on 2 cores
/// while compiling).
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// A read of the same service during the storm answers within this.
const READ_WITHIN: Duration = Duration::from_millis(1500);
/// Calls with no answer by then are given up.
const GIVE_UP: Duration = Duration::from_secs(15);

/// A read RPC of each service that an unrelated caller might be making, as
/// a path; its empty request is valid.
fn unrelated_read(server: Service) -> &'static str {
    match server {
        Service::Order => "/oms.order.v1.OrderService/SearchOrders",
        Service::Inventory => "/oms.inventory.v1.InventoryService/ListLocations",
        Service::Routing => "/oms.routing.v1.RoutingService/ListRoutingPolicies",
        Service::Payment => "/oms.payment.v1.PaymentService/ListPayments",
        Service::Shipping => "/oms.shipping.v1.ShippingService/ListShipments",
        Service::Returns => "/oms.returns.v1.ReturnsService/ListReturns",
        Service::Saga => "/oms.saga.v1.SagaService/ListSagas",
    }
}

#[test]
fn every_mutating_rpc_has_a_storm() {
    // The saga coordinator's rows storm a suite that runs it (see `sagas`).
    let rows: Vec<&str> = table()
        .iter()
        .chain(&sagas::table())
        .map(|entry| entry.rpc)
        .collect();
    let mutating: Vec<String> = contracts::unary()
        .into_iter()
        .filter(|contract| contract.mutating)
        .map(|contract| contract.name())
        .collect();
    let missing: Vec<&String> = mutating
        .iter()
        .filter(|rpc| !rows.contains(&rpc.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "mutating RPCs without a row in the storm table: {missing:?}"
    );
    let stale: Vec<&&str> = rows
        .iter()
        .filter(|rpc| !mutating.iter().any(|name| name == *rpc))
        .collect();
    assert!(
        stale.is_empty(),
        "rows for RPCs that are not mutating RPCs of the contracts: {stale:?}"
    );
}

/// The rule "mutating = has an Idempotency: paragraph", checked against the
/// names: every RPC that reads (Get, List, Search, Watch, and the pure
/// computations) has none, every other one has one.
#[test]
fn the_rpcs_with_an_idempotency_paragraph_are_exactly_those_that_change_something() {
    const READS: &[&str] = &[
        "OrderStats",
        "CustomerSummary",
        "PlanFulfillment",
        "QuoteRates",
    ];
    for (contract, _) in contracts::all() {
        let method = contract.method.as_str();
        let reads = ["Get", "List", "Search", "Watch"]
            .iter()
            .any(|verb| method.starts_with(verb))
            || READS.contains(&method);
        assert_eq!(
            contract.mutating,
            !reads,
            "{} {} an Idempotency: paragraph",
            contract.name(),
            if contract.mutating { "has" } else { "lacks" }
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_rpc_answers_a_storm_of_retries_once_and_fast() {
    let _one = crate::one_suite_at_a_time().await;
    let suite = Suite::start().await;
    seed::plant(&suite).await;

    let rows = table();
    let unrowed = served_mutating_rpcs_without_a_row(&suite, &rows).await;
    let mut failures = Vec::new();
    eprintln!(
        "storm: {CALLERS} callers, one key; answers within {ANSWER_WITHIN:?}, a read within {READ_WITHIN:?}"
    );
    for entry in &rows {
        let outcome = storm(&suite, entry).await;
        eprintln!("{outcome}");
        if !outcome.problems.is_empty() {
            failures.push(outcome);
        }
    }
    let not_serving = suite.not_serving().await;
    suite.stop().await;

    assert!(
        unrowed.is_empty(),
        "served mutating RPCs without a row: {unrowed:?}"
    );
    assert!(
        not_serving.is_empty(),
        "not SERVING after the storms: {not_serving:?}"
    );
    let names: Vec<String> = failures
        .iter()
        .map(|outcome| format!("{}@{}", outcome.rpc, outcome.server.name()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} storms failed: {}",
        failures.len(),
        rows.len(),
        names.join(", ")
    );
}

/// Every (mutating RPC, server) the running suite serves by reflection that
/// has no row.
async fn served_mutating_rpcs_without_a_row(suite: &Suite, rows: &[Entry]) -> Vec<String> {
    let contracts = contracts::unary();
    let mut missing = Vec::new();
    for (server, running) in suite.services() {
        let served = oms_e2e::fuzz::served_services(running.channel()).await;
        for contract in contracts
            .iter()
            .filter(|contract| contract.mutating && served.contains(&contract.service))
        {
            let name = contract.name();
            if !rows
                .iter()
                .any(|entry| entry.rpc == name && entry.server == server)
            {
                missing.push(format!("{name}@{}", server.name()));
            }
        }
    }
    missing
}

/// What one storm showed.
struct Outcome {
    rpc: &'static str,
    server: Service,
    /// Answers by code (and message, when not OK).
    answers: BTreeMap<String, usize>,
    slowest: Duration,
    slowest_read: Duration,
    problems: Vec<String>,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.problems.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        write!(
            f,
            "  {verdict} {}@{}: slowest answer {} ms, slowest read {} ms",
            self.rpc,
            self.server.name(),
            self.slowest.as_millis(),
            self.slowest_read.as_millis()
        )?;
        for (answer, count) in &self.answers {
            write!(f, "; {count} × {answer}")?;
        }
        for problem in &self.problems {
            write!(f, "\n         {problem}")?;
        }
        Ok(())
    }
}

/// Seeds and runs one row's storm, and judges it.
async fn storm(suite: &Suite, entry: &Entry) -> Outcome {
    let prepared = (entry.prepare)(suite).await;
    let running = suite
        .services()
        .into_iter()
        .find(|(service, _)| *service == entry.server)
        .map(|(_, running)| running)
        .expect("the row's server is in the suite");
    let channel = running.channel();
    let path = format!("/{}", entry.rpc);
    let key = seed::unique("storm");

    let done = Arc::new(AtomicBool::new(false));
    let reads = tokio::spawn(read_while(
        channel.clone(),
        unrelated_read(entry.server),
        done.clone(),
    ));
    let mut calls = JoinSet::new();
    for _ in 0..CALLERS {
        let (channel, path, body, key) = (
            channel.clone(),
            path.clone(),
            prepared.request.clone(),
            key.clone(),
        );
        calls.spawn(async move {
            let started = Instant::now();
            let answer =
                tokio::time::timeout(GIVE_UP, raw::unary(channel, &path, body, Some(&key))).await;
            (started.elapsed(), answer)
        });
    }
    let mut outcome = Outcome {
        rpc: entry.rpc,
        server: entry.server,
        answers: BTreeMap::new(),
        slowest: Duration::ZERO,
        slowest_read: Duration::ZERO,
        problems: Vec::new(),
    };
    let mut bodies: Vec<Bytes> = Vec::new();
    while let Some(joined) = calls.join_next().await {
        let Ok((elapsed, answer)) = joined else {
            outcome.problems.push("a caller's task failed".to_owned());
            continue;
        };
        outcome.slowest = outcome.slowest.max(elapsed);
        let label = match answer {
            Ok(Ok(body)) => {
                bodies.push(body);
                "OK".to_owned()
            }
            Ok(Err(status)) => format!("{:?} {:?}", status.code(), status.message()),
            Err(_) => "no answer".to_owned(),
        };
        *outcome.answers.entry(label).or_default() += 1;
    }
    done.store(true, Ordering::Relaxed);
    match reads.await {
        Ok(Ok(slowest)) => outcome.slowest_read = slowest,
        Ok(Err(problem)) => outcome.problems.push(problem),
        Err(err) => outcome.problems.push(format!("the reader failed: {err}")),
    }

    if bodies.len() < CALLERS {
        outcome.problems.push(format!(
            "{} of {CALLERS} callers did not get OK",
            CALLERS - bodies.len()
        ));
    }
    if outcome.slowest > ANSWER_WITHIN {
        outcome.problems.push(format!(
            "the slowest caller waited {:.1?}, over {ANSWER_WITHIN:?}",
            outcome.slowest
        ));
    }
    if outcome.slowest_read > READ_WITHIN {
        outcome.problems.push(format!(
            "an unrelated read took {:.0?}, over {READ_WITHIN:?}",
            outcome.slowest_read
        ));
    }
    if let Err(effect) = (prepared.effect)(bodies).await {
        outcome.problems.push(format!("effect: {effect}"));
    }
    outcome
}

/// Calls `path` (an empty request) one call after another until `done`, and
/// returns the slowest answer, or what went wrong.
async fn read_while(
    channel: oms_platform::client::OmsChannel,
    path: &'static str,
    done: Arc<AtomicBool>,
) -> Result<Duration, String> {
    let mut slowest = Duration::ZERO;
    loop {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            GIVE_UP,
            raw::unary(channel.clone(), path, Bytes::new(), None),
        )
        .await;
        slowest = slowest.max(started.elapsed());
        match answer {
            Ok(Ok(_)) => {}
            Ok(Err(status)) => return Err(format!("the unrelated read {path}: {status:?}")),
            Err(_) => return Err(format!("the unrelated read {path}: no answer")),
        }
        if done.load(Ordering::Relaxed) {
            return Ok(slowest);
        }
    }
}
