//! The fuzz suite over the whole running suite: a bounded, seeded run here;
//! `make fuzz` runs the same test longer (`FUZZ_CASES`, `FUZZ_DURATION`,
//! `FUZZ_SEED`, `FUZZ_RPC`).

use oms_e2e::{
    Suite,
    fuzz::{self, Settings},
};

use oms_e2e::Settings as SuiteSettings;
use oms_testkit::logs::CapturedLogs;

/// Random cases per RPC in `make test`, after the fixed ones.
const CASES_IN_MAKE_TEST: usize = 12;

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

    eprintln!("{report}");
    let logs = captured.text();
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
