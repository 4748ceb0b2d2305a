//! The fuzz suite over the whole running suite: a bounded, seeded run here;
//! `make fuzz` runs the same test longer (`FUZZ_CASES`, `FUZZ_DURATION`,
//! `FUZZ_SEED`, `FUZZ_RPC`).
//!
//! The same run goes over mutual TLS, each RPC called with a certificate the
//! access table allows for it, with the basic fixed cases only; and every
//! RPC's cases go as callers the table refuses, which must all be refused
//! without a word of internal text and without a row changing anywhere.

use oms_e2e::{
    Suite,
    fuzz::{self, Fixed, Report, Settings},
};

use oms_e2e::Settings as SuiteSettings;
use oms_platform::config::Service;
use oms_testkit::logs::CapturedLogs;

/// Random cases per RPC in `make test`, after the fixed ones.
const CASES_IN_MAKE_TEST: usize = 12;
/// Random cases per RPC over mutual TLS in `make test`, after the basic
/// fixed ones (the plaintext run sends every fixed case to the handlers;
/// this one checks they answer the same through TLS and the access layer).
const TLS_CASES_IN_MAKE_TEST: usize = 12;
/// Random cases per RPC and refused caller in `make test`.
const REFUSED_CASES_IN_MAKE_TEST: usize = 2;

/// Asserts the run fuzzed every RPC of the seven services, nothing panicked
/// (in `logs`), every service still serves, and every answer kept its
/// contract.
fn assert_clean(report: &Report, logs: &str, not_serving: &[(Service, String)]) {
    eprintln!("{report}");
    let panics: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("panicked"))
        .collect();
    assert!(
        report.jobs > 70,
        "every RPC of the seven services is fuzzed, not {}",
        report.jobs
    );
    assert!(
        report.unserved.is_empty(),
        "contracts no service of the suite serves: {:?}",
        report.unserved
    );
    assert!(
        panics.is_empty(),
        "services panicked (seed {:#x}):\n{}",
        report.seed,
        panics.join("\n")
    );
    assert!(
        not_serving.is_empty(),
        "not SERVING after the run: {not_serving:?}"
    );
    assert!(
        report.is_clean(),
        "{} failing cases (seed {:#x}), listed above",
        report.failures.len(),
        report.seed
    );
}

// Current thread: the captured logs are this thread's, so every service
// runs on it.
#[tokio::test(flavor = "current_thread")]
async fn every_unary_rpc_answers_hostile_requests_as_its_contract_says() {
    let _one = crate::one_suite_at_a_time().await;
    let settings = Settings::from_env(CASES_IN_MAKE_TEST).unwrap();
    let captured = CapturedLogs::start();
    fuzz::log_panics();
    // Every service, the saga coordinator included.
    let suite = Suite::start_with(SuiteSettings::with_saga()).await;

    let report = fuzz::run(&suite, &settings).await;
    let not_serving = suite.not_serving().await;
    suite.stop().await;

    assert_clean(&report, &captured.text(), &not_serving);
}

#[tokio::test(flavor = "current_thread")]
async fn every_unary_rpc_answers_hostile_requests_over_mutual_tls_as_its_contract_says() {
    let _one = crate::one_suite_at_a_time().await;
    let settings = Settings {
        fixed: Fixed::Basic,
        ..Settings::from_env(TLS_CASES_IN_MAKE_TEST).unwrap()
    };
    let captured = CapturedLogs::start();
    fuzz::log_panics();
    let suite = Suite::start_with(SuiteSettings::with_saga().with_tls()).await;

    let report = fuzz::run(&suite, &settings).await;
    let not_serving = suite.not_serving().await;
    suite.stop().await;

    assert_clean(&report, &captured.text(), &not_serving);
}

#[tokio::test(flavor = "current_thread")]
async fn every_refused_caller_is_refused_by_the_table_without_internal_text_or_a_trace() {
    let _one = crate::one_suite_at_a_time().await;
    // A few random cases after the fixed ones: the access layer answers
    // before the body is read.
    let settings = Settings::from_env(REFUSED_CASES_IN_MAKE_TEST).unwrap();
    let captured = CapturedLogs::start();
    fuzz::log_panics();
    let suite = Suite::start_with(SuiteSettings::with_saga().with_tls()).await;
    let before = crate::tls::settled_rows(&suite, &Service::ALL).await;

    let report = fuzz::refusals(&suite, &settings).await;
    let after = crate::tls::rows(&suite, &Service::ALL).await;
    let not_serving = suite.not_serving().await;
    suite.stop().await;

    assert_clean(&report, &captured.text(), &not_serving);
    assert!(
        report.calls > 500,
        "the cases of every RPC as two callers, not {} calls",
        report.calls
    );
    assert_eq!(after, before, "a refused call changed a table");
}
