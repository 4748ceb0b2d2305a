//! `oms-bench`: the whole-suite benchmark, run by `make bench`.
//!
//! It starts the seven services from the release build as processes, each
//! with a database of its own (`oms_bench_<service>`, made anew each run),
//! seeds locations and stock, measures the machine's Postgres commit ceiling
//! with pgbench, then runs phases: closed loop at several concurrencies and
//! open loop at fixed rates with every order succeeding, then a declined-card
//! mix, a hot SKU that runs out, and split and pickup orders. Each phase
//! reports completed orders per second, due-to-end latency, CPU, commits and
//! WAL syncs per order, and peak memory; the run checks that nothing was
//! oversold or lost. A second, short run with the services' telemetry on
//! counts the gRPC calls per order of each mix. The table goes to stdout, the
//! JSON to `target/bench/`.
//!
//! - `suite`: the services as processes, their databases and Redis keys
//! - `orders`: the seeded stock and the orders of each mix
//! - `load`: closed and open loop, and the watcher of saga ends
//! - `probe`: CPU and RSS from `/proc`, Postgres's counters
//! - `pgbench`: the commit ceiling
//! - `calls`: the gRPC calls per order, counted from the services' spans
//! - `check`: oversell, the stock ledger, ends agreeing across services
//! - `unit`: what a bare gRPC call, statement and commit cost here
//! - `report`: the arithmetic, the table and the JSON

mod calls;
mod check;
mod load;
mod orders;
mod pgbench;
mod probe;
mod report;
mod suite;
mod unit;

use std::{
    path::PathBuf,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::Context as _;
use clap::Parser;
use indicatif::MultiProgress;
use oms_proto::order::v1::order_service_client::OrderServiceClient;
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::{
    load::{Driver, Load, Watcher, progress_bar},
    orders::Mix,
    probe::Probe,
    report::{PhaseMeasures, RunReport},
    suite::{Suite, database, database_url},
};

/// The whole-suite benchmark: every service as a process, orders over gRPC.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Instead of the phases, one sustained open-loop run of the blended
    /// mix for this long (e.g. 10m).
    #[arg(long, value_parser = humantime::parse_duration)]
    soak: Option<Duration>,
    /// The soak's arrival rate, orders per second (below what a 2-core
    /// machine completes today, so the soak measures a steady state).
    #[arg(long, default_value_t = 30.0)]
    soak_rate: f64,
    /// How long each phase offers orders.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    phase: Duration,
    /// Closed-loop concurrencies of the all-succeed mix (also pgbench's client counts).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    concurrency: Vec<usize>,
    /// Open-loop rates of the all-succeed mix, orders per second.
    #[arg(long, value_delimiter = ',', default_value = "50,100,250")]
    rates: Vec<f64>,
    /// Closed-loop concurrency of the other mixes.
    #[arg(long, default_value_t = 16)]
    mix_concurrency: usize,
    /// Open-loop rate of the declined-card mix, orders per second, so the
    /// latency to REJECTED is measured below saturation too (a closed loop
    /// at saturation measures its queue); 0 leaves the phase out.
    #[arg(long, default_value_t = 40.0)]
    declined_rate: f64,
    /// The first of seven consecutive ports for the services (below the
    /// ephemeral range, which tests on port 0 draw from).
    #[arg(long, default_value_t = 28051)]
    base_port: u16,
    /// How long a phase waits for the sagas in flight once it stops
    /// offering (an overloaded open loop leaves a backlog to work off).
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    drain: Duration,
    /// How long after a phase before Postgres's counters are read (an idle
    /// backend reports its counts up to 10 s late).
    #[arg(long, default_value = "11s", value_parser = humantime::parse_duration)]
    settle: Duration,
    /// How often the watcher looks for ended sagas.
    #[arg(long, default_value = "5ms", value_parser = humantime::parse_duration)]
    watch_interval: Duration,
    /// Open loop: the most orders in flight before further ones are skipped.
    #[arg(long, default_value_t = 5000)]
    max_in_flight: usize,
    /// pgbench's run at each client count.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pgbench_time: Duration,
    /// How long each building block (a bare gRPC call, statement, commit)
    /// is priced; 0s leaves the unit costs out.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    unit_time: Duration,
    /// Callers at once while the building blocks are priced.
    #[arg(long, default_value_t = 8)]
    unit_callers: usize,
    /// The services' log filter (`RUST_LOG`) in the measured run; `info`
    /// is what they run with by default.
    #[arg(long, default_value = "info")]
    service_log: String,
    /// Leave out the second run that counts the gRPC calls per order.
    #[arg(long)]
    skip_calls: bool,
    /// How long the calls run offers each mix.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    calls_time: Duration,
    /// Where the JSON report and the services' logs go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let started_at = chrono::Utc::now();
    let out = args.out.clone();
    std::fs::create_dir_all(&out)?;

    let bars = MultiProgress::new();
    let status = bars.add(progress_bar("starting the suite".into()));
    let suite = Suite::start(
        &suite::release_dir(),
        args.base_port,
        &out.join("logs"),
        &args.service_log,
        None,
    )
    .await?;
    status.finish_with_message("serving");
    let result = run(&args, &suite, &bars, command, started_at).await;
    suite.stop().await;
    let mut report = result?;
    if !args.skip_calls {
        report.calls = count_calls(&args, &bars).await?;
    }
    report.fill_floors();

    let json = serde_json::to_string_pretty(&report)?;
    let stamp = started_at.format("%Y%m%dT%H%M%SZ");
    std::fs::write(out.join(format!("run-{stamp}.json")), &json)?;
    std::fs::write(out.join("latest.json"), &json)?;
    report::print(&report)?;
    {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr(),
            "bench: JSON in {}",
            out.join("latest.json").display()
        );
    }
    let failed = report.oversell != 0
        || report.lost != 0
        || !report.ledger_mismatches.is_empty()
        || report.phases.iter().any(|phase| phase.stuck != 0);
    if failed {
        anyhow::bail!("oversell, lost or stuck orders, or a ledger mismatch: see the report");
    }
    Ok(())
}

/// The phases: (mix, load) in the order run.
fn plan(args: &Args) -> Vec<(Mix, Load, Duration)> {
    if let Some(soak) = args.soak {
        return vec![(
            Mix::Blend,
            Load::Open {
                rate: args.soak_rate,
            },
            soak,
        )];
    }
    let mut phases = Vec::new();
    for &concurrency in &args.concurrency {
        phases.push((Mix::AllSucceed, Load::Closed { concurrency }, args.phase));
    }
    for &rate in &args.rates {
        phases.push((Mix::AllSucceed, Load::Open { rate }, args.phase));
    }
    for mix in [Mix::Declined10, Mix::HotSku, Mix::SplitPickup] {
        let load = Load::Closed {
            concurrency: args.mix_concurrency,
        };
        phases.push((mix, load, args.phase));
        if mix == Mix::Declined10 && args.declined_rate > 0.0 {
            let load = Load::Open {
                rate: args.declined_rate,
            };
            phases.push((mix, load, args.phase));
        }
    }
    phases
}

async fn pool(database: &str, connections: u32) -> anyhow::Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(connections)
        .connect(&database_url(database))
        .await
        .with_context(|| format!("connecting to {database}"))
}

async fn run(
    args: &Args,
    suite: &Suite,
    bars: &MultiProgress,
    command: String,
    started_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<RunReport> {
    orders::seed(suite.channel("inventory")?).await?;
    let server = pool("postgres", 1).await?;
    let machine = probe::Machine::read(&server).await?;

    let status = bars.add(progress_bar("pgbench commit ceiling".into()));
    let mut clients: Vec<usize> = args.concurrency.clone();
    if args.soak.is_none() && !clients.contains(&args.mix_concurrency) {
        clients.push(args.mix_concurrency);
    }
    let ceiling = pgbench::ceiling(&clients, args.pgbench_time)
        .await?
        .unwrap_or_default();
    status.finish_with_message(format!("{} client counts", ceiling.len()));

    // The watcher reads the coordinator's table on one connection of its
    // own, whose backend the CPU figures leave out.
    let saga_database = database("saga");
    let watch_pool = pool(&saga_database, 1).await?;
    let watcher_backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&watch_pool)
        .await?;
    let probe = Probe::new(suite, server.clone(), u32::try_from(watcher_backend).ok()).await?;
    let unit_costs = if args.unit_time.is_zero() {
        None
    } else {
        let status = bars.add(progress_bar("unit costs".into()));
        let costs = unit::measure(suite, &probe, args.unit_callers, args.unit_time).await?;
        finish(
            &status,
            format!(
                "gRPC call {:.0} µs, statement {:.0} µs, committed write {:.0} µs of CPU",
                costs.grpc_call.cpu_us, costs.statement.cpu_us, costs.committed_write.cpu_us
            ),
        );
        Some(costs)
    };
    let watcher = Watcher::start(watch_pool.clone(), args.watch_interval);
    let driver = Driver {
        order: OrderServiceClient::new(suite.channel("order")?),
        watcher: watcher.clone(),
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        next: Arc::new(AtomicU64::new(0)),
        drain: args.drain,
        max_in_flight: args.max_in_flight,
    };

    // Counts reported late by the seeding's backends land before the first phase.
    tokio::time::sleep(args.settle).await;
    let mut measured = Vec::new();
    let mut phase_orders = Vec::new();
    for (mix, load, duration) in plan(args) {
        let name = format!("{} {}", mix.name(), load.label());
        let bar = bars.add(progress_bar(name.clone()));
        probe.reset_peak_rss();
        let cpu_before = probe.cpu().await?;
        let bench_before = own_cpu_ms();
        let pg_before = probe.pg().await?;
        let polls_before = watcher.polls();

        let window = std::time::Instant::now();
        let run = driver.run(mix, load, duration, &bar).await;
        let busy = window.elapsed();

        let cpu_after = probe.cpu().await?;
        let bench_cpu_ms = own_cpu_ms() - bench_before;
        let peak_rss_mib = probe.peak_rss_mib();
        bar.set_message(format!("settling {:?}", args.settle));
        tokio::time::sleep(args.settle).await;
        let pg_after = probe.pg().await?;
        let idle_for = window.elapsed().saturating_sub(busy);
        let watcher_queries = watcher.polls() - polls_before;
        let last_end = run
            .finished
            .iter()
            .map(|f| f.at)
            .max()
            .unwrap_or(run.started);
        let commits_by_database = pg_after
            .commits
            .iter()
            .map(|(name, after)| {
                let before = pg_before.commits.get(name).copied().unwrap_or(0);
                (name.clone(), after.saturating_sub(before))
            })
            .collect();
        let clients = match load {
            Load::Closed { concurrency } => Some(concurrency),
            Load::Open { .. } => None,
        };
        let measures = PhaseMeasures {
            name,
            mix: mix.name().to_owned(),
            load,
            offered_for: run.offered_for,
            placed: run.placed,
            refused: run.refused,
            skipped: run.skipped,
            lost: run.lost.len(),
            window: last_end
                .duration_since(run.started)
                .unwrap_or(Duration::ZERO),
            finished: run.finished,
            cpu_ms: probe.cpu_ms(&cpu_before, &cpu_after),
            bench_cpu_ms,
            commits_by_database,
            watcher_queries,
            watcher_database: saga_database.clone(),
            pgbench_ceiling_tps: clients
                .and_then(|clients| ceiling.iter().find(|c| c.clients == clients).map(|c| c.tps)),
            wal: pg_after.wal.since(pg_before.wal),
            idle_for,
            peak_rss_mib,
        };
        phase_orders.push(
            measures
                .finished
                .iter()
                .map(|finished| finished.order_id.clone())
                .collect::<Vec<_>>(),
        );
        finish(
            &bar,
            format!(
                "{} ended ({} rejected, {} lost), p50 {:.1} ms, p99 {:.1} ms",
                measures.finished.len(),
                measures
                    .finished
                    .iter()
                    .filter(|f| f.end == load::End::Rejected)
                    .count(),
                measures.lost,
                report::Latency::of(measures.finished.iter().map(|f| f.latency)).p50_ms,
                report::Latency::of(measures.finished.iter().map(|f| f.latency)).p99_ms,
            ),
        );
        measured.push(measures);
    }

    // The suite's background with nothing in flight, for the seconds each
    // phase's window had to run on after its drain.
    let status = bars.add(progress_bar("idle background".into()));
    status.set_message(format!("{:?}", args.settle));
    let idle_start = probe.pg().await?;
    let idle_clock = std::time::Instant::now();
    tokio::time::sleep(args.settle).await;
    let idle = probe::IdleRates::between(
        &idle_start,
        &probe.pg().await?,
        idle_clock.elapsed().as_secs_f64(),
    );
    status.finish_with_message(format!(
        "{:.1} commits/s",
        idle.commits_per_second.values().sum::<f64>()
    ));
    let mut phases: Vec<_> = measured
        .into_iter()
        .map(|measures| measures.report(&idle))
        .collect();

    // After every phase was measured: these queries commit in the
    // coordinator's database too.
    for (phase, order_ids) in phases.iter_mut().zip(&phase_orders) {
        let attempts = check::step_attempts(&watch_pool, order_ids).await?;
        phase.saga_step_attempts_per_order = report::ratio(attempts as f64, order_ids.len() as f64);
    }
    let inventory = pool(&database("inventory"), 1).await?;
    let order = pool(&database("order"), 1).await?;
    let stock = check::stock(&inventory, &order).await?;
    let mut ledger_mismatches = stock.mismatches;
    ledger_mismatches.extend(check::ends_agree(&order, &watch_pool).await?);
    let lost = phases.iter().map(|phase| phase.lost).sum();
    Ok(RunReport {
        command,
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        commit: git_commit(),
        machine,
        pgbench_ceiling: ceiling,
        unit_costs,
        phases,
        calls: Vec::new(),
        service_log: args.service_log.clone(),
        idle,
        oversell: stock.oversell,
        ledger_mismatches,
        lost,
    })
}

/// The mixes of the calls run, each with this many customers.
const CALLS_CONCURRENCY: usize = 4;

/// A second run of the suite, fresh databases and the services' telemetry
/// exported to the bench, offering each mix in turn; the calls each mix's
/// orders made, from the spans that started in its window.
async fn count_calls(args: &Args, bars: &MultiProgress) -> anyhow::Result<Vec<report::CallCount>> {
    let collector = calls::Collector::default();
    let endpoint = collector.start().await?;
    let status = bars.add(progress_bar("calls run: starting".into()));
    let suite = Suite::start(
        &suite::release_dir(),
        args.base_port,
        &args.out.join("logs").join("calls"),
        "info",
        Some(&endpoint),
    )
    .await?;
    status.finish_with_message("serving, telemetry on");
    let windows = offer_each_mix(args, &suite, bars).await;
    // Stopping flushes every span the services still hold.
    suite.stop().await;
    Ok(windows?
        .into_iter()
        .map(|(mix, from, to, orders)| {
            report::CallCount::of(mix.name(), orders, &collector.calls_between(from, to))
        })
        .collect())
}

/// (mix, from, to, orders ended) of each mix offered in the calls run.
async fn offer_each_mix(
    args: &Args,
    suite: &Suite,
    bars: &MultiProgress,
) -> anyhow::Result<Vec<(Mix, std::time::SystemTime, std::time::SystemTime, usize)>> {
    orders::seed(suite.channel("inventory")?).await?;
    let watch_pool = pool(&database("saga"), 1).await?;
    let driver = Driver {
        order: OrderServiceClient::new(suite.channel("order")?),
        watcher: Watcher::start(watch_pool, args.watch_interval),
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        next: Arc::new(AtomicU64::new(0)),
        drain: args.drain,
        max_in_flight: args.max_in_flight,
    };
    let mut windows = Vec::new();
    for mix in [
        Mix::AllSucceed,
        Mix::Declined10,
        Mix::HotSku,
        Mix::SplitPickup,
    ] {
        let bar = bars.add(progress_bar(format!("calls run: {}", mix.name())));
        let from = std::time::SystemTime::now();
        let load = Load::Closed {
            concurrency: CALLS_CONCURRENCY,
        };
        let run = driver.run(mix, load, args.calls_time, &bar).await;
        finish(&bar, format!("{} ended", run.finished.len()));
        windows.push((mix, from, std::time::SystemTime::now(), run.finished.len()));
    }
    Ok(windows)
}

/// Ends `bar` with `message`; without a terminal (CI's log), where no bar
/// is drawn, the message goes to stderr as a line.
fn finish(bar: &indicatif::ProgressBar, message: String) {
    use std::io::{IsTerminal as _, Write as _};
    if !std::io::stderr().is_terminal() {
        let _ = writeln!(std::io::stderr(), "bench: {}: {message}", bar.prefix());
    }
    bar.finish_with_message(message);
}

/// The bench's own CPU time so far, in milliseconds.
fn own_cpu_ms() -> f64 {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| probe::parse_stat_ticks(&stat))
        .unwrap_or(0);
    // The kernel's USER_HZ is 100 on Linux.
    ticks as f64 * 10.0
}

fn git_commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|commit| !commit.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases_of(command: &[&str]) -> Vec<(Mix, Load)> {
        let args = Args::parse_from(std::iter::once("oms-bench").chain(command.iter().copied()));
        plan(&args)
            .into_iter()
            .map(|(mix, load, _)| (mix, load))
            .collect()
    }

    #[test]
    fn declined_cards_run_closed_and_open_and_a_rate_of_zero_leaves_the_open_phase_out() {
        let phases = phases_of(&[
            "--concurrency",
            "4",
            "--rates",
            "50",
            "--declined-rate",
            "30",
        ]);
        let declined: Vec<Load> = phases
            .iter()
            .filter(|(mix, _)| *mix == Mix::Declined10)
            .map(|(_, load)| *load)
            .collect();
        assert_eq!(
            declined,
            [Load::Closed { concurrency: 16 }, Load::Open { rate: 30.0 }]
        );
        assert_eq!(phases.len(), 6, "{phases:?}");

        let phases = phases_of(&[
            "--concurrency",
            "4",
            "--rates",
            "50",
            "--declined-rate",
            "0",
        ]);
        assert_eq!(phases.len(), 5, "{phases:?}");
        assert!(
            phases
                .iter()
                .all(|(mix, load)| *mix != Mix::Declined10 || matches!(load, Load::Closed { .. }))
        );
    }
}
