//! The report: the arithmetic (percentiles, rates, ratios), one record per
//! phase with its conditions, the table printed on stdout and the JSON
//! written under `target/bench/`.

use std::{collections::BTreeMap, io::Write as _, time::Duration};

use serde::Serialize;

use crate::{
    load::{End, Finished, Load},
    probe::{IdleRates, Machine, WalCounters},
    unit::UnitCosts,
};

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    /// Orders measured.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
}

impl Latency {
    /// The percentiles of `samples` (nearest rank); zeros when empty.
    pub fn of(samples: impl IntoIterator<Item = Duration>) -> Latency {
        let mut ms: Vec<f64> = samples
            .into_iter()
            .map(|sample| sample.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        Latency {
            count: ms.len(),
            p50_ms: percentile(&ms, 50.0),
            p95_ms: percentile(&ms, 95.0),
            p99_ms: percentile(&ms, 99.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// The `p`-th percentile of `sorted` by nearest rank: the smallest sample
/// with at least p% of the samples at or below it; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `numerator / denominator`, or `None` when the denominator is zero.
pub fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0).then(|| numerator / denominator)
}

/// One phase: its conditions and every figure measured in it.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    /// e.g. `all-succeed closed c=16`.
    pub name: String,
    /// The mix of orders.
    pub mix: String,
    /// Closed or open loop, with its concurrency or rate.
    pub load: Load,
    /// How long orders were offered, in seconds.
    pub offered_seconds: f64,
    /// PlaceOrder calls sent.
    pub placed: u64,
    /// PlaceOrder calls refused, by status code.
    pub refused: BTreeMap<String, u64>,
    /// Open loop: orders not sent because too many were in flight.
    pub skipped: u64,
    /// Orders whose saga reached its end (CONFIRMED or REJECTED).
    pub completed: usize,
    /// Of those, CONFIRMED.
    pub confirmed: usize,
    /// Of those, REJECTED and compensated.
    pub rejected: usize,
    /// Sagas parked STUCK.
    pub stuck: usize,
    /// Accepted orders whose saga had not ended when the phase drained.
    pub lost: usize,
    /// Completed orders per second, from the first order due to the last end.
    pub orders_per_second: f64,
    /// Due-to-end latency of every completed order.
    pub latency: Latency,
    /// Of CONFIRMED orders.
    pub latency_confirmed: Latency,
    /// Of REJECTED (compensated) orders.
    pub latency_rejected: Latency,
    /// CPU milliseconds per completed order, every counted process.
    pub cpu_ms_per_order: Option<f64>,
    /// CPU milliseconds of each group of processes over the phase.
    pub cpu_ms: BTreeMap<String, f64>,
    /// CPU milliseconds of the bench itself (not in the per-order figure).
    pub bench_cpu_ms: f64,
    /// Committed transactions in the suite's databases while orders ran: the
    /// watcher's own and the idle background of the seconds after the drain
    /// taken out.
    pub commits: u64,
    /// The idle background commits taken out (see [`IdleRates`]).
    pub idle_commits_removed: u64,
    /// Of those, per database.
    pub commits_by_database: BTreeMap<String, u64>,
    /// The watcher's queries, taken out of `commits`.
    pub watcher_queries: u64,
    /// Commits per completed order.
    pub commits_per_order: Option<f64>,
    /// Commits per second while orders were offered.
    pub commits_per_second: f64,
    /// pgbench's one-row-insert commits per second at the same number of
    /// clients (closed loop only).
    pub pgbench_ceiling_tps: Option<f64>,
    /// commits_per_second / pgbench_ceiling_tps.
    pub share_of_ceiling: Option<f64>,
    /// WAL activity of the whole server over the phase (the idle syncs
    /// taken out of `syncs`, like the commits).
    pub wal: WalCounters,
    /// WAL syncs per completed order.
    pub wal_syncs_per_order: Option<f64>,
    /// gRPC calls the bench made per completed order (PlaceOrder).
    pub bench_grpc_calls_per_order: Option<f64>,
    /// The coordinator's step attempts per ended order (from its step log;
    /// a step may make more than one call).
    pub saga_step_attempts_per_order: Option<f64>,
    /// Peak resident memory of each service during the phase, MiB.
    pub peak_rss_mib: BTreeMap<String, f64>,
    /// The CPU an order of this mix would cost if each of its gRPC calls
    /// (from the calls run) and each of its commits cost what a bare one
    /// does here (see [`UnitCosts::floor_ms`]), in milliseconds.
    pub floor_cpu_ms_per_order: Option<f64>,
}

/// What one phase measured, before the arithmetic.
pub struct PhaseMeasures {
    /// e.g. `all-succeed closed c=16`.
    pub name: String,
    /// The mix's name.
    pub mix: String,
    /// The load.
    pub load: Load,
    /// How long orders were offered.
    pub offered_for: Duration,
    /// PlaceOrder calls sent.
    pub placed: u64,
    /// Refused PlaceOrder calls by code.
    pub refused: BTreeMap<String, u64>,
    /// Orders not sent (open loop, too many in flight).
    pub skipped: u64,
    /// The sagas that ended.
    pub finished: Vec<Finished>,
    /// Orders lost.
    pub lost: usize,
    /// From the first order due to the last saga's end.
    pub window: Duration,
    /// CPU milliseconds by group.
    pub cpu_ms: BTreeMap<String, f64>,
    /// The bench's own CPU milliseconds.
    pub bench_cpu_ms: f64,
    /// Commits by database, the watcher's queries included.
    pub commits_by_database: BTreeMap<String, u64>,
    /// The watcher's queries.
    pub watcher_queries: u64,
    /// The watcher's database.
    pub watcher_database: String,
    /// pgbench's ceiling at this phase's client count.
    pub pgbench_ceiling_tps: Option<f64>,
    /// WAL counters over the phase.
    pub wal: WalCounters,
    /// How much of the window the counters cover had no order in flight.
    pub idle_for: Duration,
    /// Peak RSS by service, MiB.
    pub peak_rss_mib: BTreeMap<String, f64>,
}

impl PhaseMeasures {
    /// The figures, leaving out the idle background at `idle`'s rates.
    pub fn report(self, idle: &IdleRates) -> PhaseReport {
        let ended = |end: End| self.finished.iter().filter(move |f| f.end == end);
        let completed = self.finished.iter().filter(|f| f.end != End::Stuck).count();
        let idle_seconds = self.idle_for.as_secs_f64();
        let mut commits_by_database = self.commits_by_database;
        let mut idle_commits_removed = 0;
        for (database, commits) in &mut commits_by_database {
            if *database == self.watcher_database {
                *commits = commits.saturating_sub(self.watcher_queries);
            }
            let rate = idle
                .commits_per_second
                .get(database)
                .copied()
                .unwrap_or(0.0);
            let background = ((rate * idle_seconds).round() as u64).min(*commits);
            *commits -= background;
            idle_commits_removed += background;
        }
        let mut wal = self.wal;
        wal.syncs = wal
            .syncs
            .saturating_sub((idle.wal_syncs_per_second * idle_seconds).round() as u64);
        let commits: u64 = commits_by_database.values().sum();
        let per_order = |total: f64| ratio(total, completed as f64);
        let commits_per_second =
            ratio(commits as f64, self.offered_for.as_secs_f64()).unwrap_or(0.0);
        PhaseReport {
            name: self.name,
            mix: self.mix,
            load: self.load,
            offered_seconds: self.offered_for.as_secs_f64(),
            placed: self.placed,
            refused: self.refused,
            skipped: self.skipped,
            completed,
            confirmed: ended(End::Confirmed).count(),
            rejected: ended(End::Rejected).count(),
            stuck: ended(End::Stuck).count(),
            lost: self.lost,
            orders_per_second: ratio(completed as f64, self.window.as_secs_f64()).unwrap_or(0.0),
            latency: Latency::of(
                self.finished
                    .iter()
                    .filter(|f| f.end != End::Stuck)
                    .map(|f| f.latency),
            ),
            latency_confirmed: Latency::of(ended(End::Confirmed).map(|f| f.latency)),
            latency_rejected: Latency::of(ended(End::Rejected).map(|f| f.latency)),
            cpu_ms_per_order: per_order(self.cpu_ms.values().sum()),
            cpu_ms: self.cpu_ms,
            bench_cpu_ms: self.bench_cpu_ms,
            commits,
            idle_commits_removed,
            commits_by_database,
            watcher_queries: self.watcher_queries,
            commits_per_order: per_order(commits as f64),
            commits_per_second,
            share_of_ceiling: self
                .pgbench_ceiling_tps
                .and_then(|ceiling| ratio(commits_per_second, ceiling)),
            pgbench_ceiling_tps: self.pgbench_ceiling_tps,
            wal,
            wal_syncs_per_order: per_order(wal.syncs as f64),
            bench_grpc_calls_per_order: per_order(self.placed as f64),
            saga_step_attempts_per_order: None,
            peak_rss_mib: self.peak_rss_mib,
            floor_cpu_ms_per_order: None,
        }
    }
}

/// The gRPC calls of one mix's orders, counted in the calls run (see
/// `calls`): every call served, by `<service>/<method>`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallCount {
    /// The mix.
    pub mix: String,
    /// Orders whose saga ended in the calls run.
    pub orders: usize,
    /// Calls served per ended order, every method.
    pub calls_per_order: Option<f64>,
    /// Calls served per ended order by method.
    pub by_method: BTreeMap<String, f64>,
}

impl CallCount {
    /// The per-order figures of `calls` made for `orders` orders of `mix`.
    pub fn of(mix: &str, orders: usize, calls: &BTreeMap<String, u64>) -> CallCount {
        let per_order = |count: u64| ratio(count as f64, orders as f64);
        CallCount {
            mix: mix.to_owned(),
            orders,
            calls_per_order: per_order(calls.values().sum()),
            by_method: calls
                .iter()
                .filter_map(|(method, count)| Some((method.clone(), per_order(*count)?)))
                .collect(),
        }
    }
}

/// pgbench's result at one client count.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Ceiling {
    /// Clients (connections) at once.
    pub clients: usize,
    /// Committed one-row inserts per second.
    pub tps: f64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The command that produced it.
    pub command: String,
    /// When it started (UTC).
    pub started_at: String,
    /// The commit measured (`git describe --always --dirty`).
    pub commit: String,
    /// The machine.
    pub machine: Machine,
    /// pgbench's commit ceiling per client count, measured in this run.
    pub pgbench_ceiling: Vec<Ceiling>,
    /// What a bare gRPC call, statement and commit cost in this run; `None`
    /// when not measured.
    pub unit_costs: Option<UnitCosts>,
    /// Each phase in the order run.
    pub phases: Vec<PhaseReport>,
    /// gRPC calls per ended order of each mix, counted in a separate run
    /// with the services' telemetry on; empty when not counted.
    pub calls: Vec<CallCount>,
    /// The services' `RUST_LOG` in the measured run.
    pub service_log: String,
    /// The suite's background with no order in flight, taken out of each
    /// phase's commits and WAL syncs for the seconds it had none.
    pub idle: IdleRates,
    /// Units sold beyond the stock, over every (SKU, location): must be 0.
    pub oversell: i64,
    /// Where the stock rows disagree with the seeded stock and the reservations.
    pub ledger_mismatches: Vec<String>,
    /// Accepted orders not ended when their phase drained, over the run: must be 0.
    pub lost: usize,
}

impl RunReport {
    /// Sets each phase's CPU floor from the unit costs, the calls per order
    /// of its mix and its commits per order, where all three were measured.
    pub fn fill_floors(&mut self) {
        let Some(costs) = self.unit_costs else {
            return;
        };
        for phase in &mut self.phases {
            let calls = self
                .calls
                .iter()
                .find(|count| count.mix == phase.mix)
                .and_then(|count| count.calls_per_order);
            phase.floor_cpu_ms_per_order = calls
                .zip(phase.commits_per_order)
                .map(|(calls, commits)| costs.floor_ms(calls, commits));
        }
    }

    /// Writes the table to `out`.
    pub fn write_table(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        let m = &self.machine;
        writeln!(out)?;
        writeln!(
            out,
            "OMS whole-suite benchmark, {} ({}), commit {}",
            self.started_at, self.command, self.commit
        )?;
        writeln!(
            out,
            "machine: {} cores ({}), {:.0} GiB, load average {:.2} at start; {}",
            m.cores, m.cpu_model, m.memory_gib, m.load_average_at_start, m.postgres
        )?;
        let ceiling: Vec<String> = self
            .pgbench_ceiling
            .iter()
            .map(|c| format!("{} clients {:.0}/s", c.clients, c.tps))
            .collect();
        writeln!(out, "services' RUST_LOG: {}", self.service_log)?;
        writeln!(
            out,
            "pgbench one-row-insert ceiling: {}",
            if ceiling.is_empty() {
                "not measured (no pgbench)".to_owned()
            } else {
                ceiling.join(", ")
            }
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<30} {:>7} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>7} {:>7} {:>6} {:>7} {:>4}",
            "phase",
            "ended",
            "rej",
            "lost",
            "ord/s",
            "p50ms",
            "p95ms",
            "p99ms",
            "maxms",
            "rej p99",
            "cpu ms",
            "commits",
            "ceil%",
            "wal syn",
            "RSS"
        )?;
        for p in &self.phases {
            let opt = |value: Option<f64>, digits: usize| {
                value.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
            };
            let rss = p.peak_rss_mib.values().copied().fold(0.0, f64::max);
            writeln!(
                out,
                "{:<30} {:>7} {:>6} {:>6} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>8.1} {:>8} {:>7} {:>7} {:>6} {:>7} {:>4.0}",
                p.name,
                p.completed,
                p.rejected,
                p.lost,
                p.orders_per_second,
                p.latency.p50_ms,
                p.latency.p95_ms,
                p.latency.p99_ms,
                p.latency.max_ms,
                if p.latency_rejected.count == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}", p.latency_rejected.p99_ms)
                },
                opt(p.cpu_ms_per_order, 2),
                opt(p.commits_per_order, 1),
                opt(p.share_of_ceiling.map(|share| share * 100.0), 0),
                opt(p.wal_syncs_per_order, 2),
                rss
            )?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "columns: ended = sagas ended (CONFIRMED + REJECTED); latency from the time each order was due to its saga's end; cpu ms, commits (Postgres, our databases) and wal syncs (server-wide) per ended order; ceil% = our commits/s over pgbench's at the same clients; RSS = the largest service's peak MiB"
        )?;
        if !self.calls.is_empty() {
            writeln!(
                out,
                "gRPC calls served per ended order (a second run with the services' telemetry on):"
            )?;
            for count in &self.calls {
                let mut methods: Vec<(&String, &f64)> = count.by_method.iter().collect();
                methods.sort_by(|a, b| b.1.total_cmp(a.1));
                let top: Vec<String> = methods
                    .iter()
                    .take(4)
                    .map(|(method, calls)| {
                        let short = method.rsplit('.').next().unwrap_or(method);
                        format!("{short} {calls:.1}")
                    })
                    .collect();
                writeln!(
                    out,
                    "  {:<14} {:>5} orders: {:>5} calls/order (most: {})",
                    count.mix,
                    count.orders,
                    count
                        .calls_per_order
                        .map_or_else(|| "-".to_owned(), |calls| format!("{calls:.1}")),
                    top.join(", ")
                )?;
            }
        }
        if let Some(costs) = &self.unit_costs {
            writeln!(
                out,
                "unit costs, CPU of client and server ({} callers, {:.0} s each): gRPC call {:.0} µs ({:.0}/s, Health/Check through the platform's layers); statement {:.0} µs ({:.0}/s, SELECT 1); committed write {:.0} µs ({:.0}/s, one-row insert)",
                costs.callers,
                costs.seconds,
                costs.grpc_call.cpu_us,
                costs.grpc_call.per_second,
                costs.statement.cpu_us,
                costs.statement.per_second,
                costs.committed_write.cpu_us,
                costs.committed_write.per_second,
            )?;
            for phase in &self.phases {
                let (Some(floor), Some(cpu)) =
                    (phase.floor_cpu_ms_per_order, phase.cpu_ms_per_order)
                else {
                    continue;
                };
                writeln!(
                    out,
                    "  floor of {:<30} {:>6.2} ms of CPU per order (calls x call + commits x statement), {:>3.0}% of the {:.2} ms measured",
                    phase.name,
                    floor,
                    floor / cpu * 100.0,
                    cpu
                )?;
            }
        }
        writeln!(
            out,
            "oversell: {} units; lost orders: {}; ledger mismatches: {}",
            self.oversell,
            self.lost,
            self.ledger_mismatches.len()
        )?;
        for mismatch in &self.ledger_mismatches {
            writeln!(out, "  {mismatch}")?;
        }
        Ok(())
    }
}

/// Prints the table on stdout.
pub fn print(report: &RunReport) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    report.write_table(&mut out)?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let latency = Latency::of(ms(&(1..=100).collect::<Vec<_>>()));
        assert_eq!(latency.count, 100);
        assert_eq!(latency.p50_ms, 50.0);
        assert_eq!(latency.p95_ms, 95.0);
        assert_eq!(latency.p99_ms, 99.0);
        assert_eq!(latency.max_ms, 100.0);
    }

    #[test]
    fn percentiles_of_few_samples_are_samples_and_of_none_are_zero() {
        let latency = Latency::of(ms(&[30, 10, 20]));
        assert_eq!(latency.p50_ms, 20.0);
        assert_eq!(latency.p99_ms, 30.0);
        assert_eq!(Latency::of(Vec::new()), Latency::default());
        assert_eq!(percentile(&[7.0], 1.0), 7.0);
    }

    #[test]
    fn calls_are_counted_per_ended_order() {
        let calls = BTreeMap::from([
            ("oms.order.v1.OrderService/PlaceOrder".to_owned(), 4),
            ("oms.order.v1.OrderService/GetOrder".to_owned(), 12),
        ]);
        let count = CallCount::of("all-succeed", 4, &calls);
        assert_eq!(count.calls_per_order, Some(4.0));
        assert_eq!(count.by_method["oms.order.v1.OrderService/GetOrder"], 3.0);
        assert_eq!(CallCount::of("x", 0, &calls).calls_per_order, None);
    }

    #[test]
    fn a_ratio_over_zero_is_none() {
        assert_eq!(ratio(10.0, 4.0), Some(2.5));
        assert_eq!(ratio(10.0, 0.0), None);
    }

    fn finished(latency_ms: u64, end: End) -> Finished {
        Finished {
            order_id: String::new(),
            latency: Duration::from_millis(latency_ms),
            end,
            at: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    fn measures() -> PhaseMeasures {
        PhaseMeasures {
            name: "t".into(),
            mix: "all-succeed".into(),
            load: Load::Closed { concurrency: 2 },
            offered_for: Duration::from_secs(2),
            placed: 5,
            refused: BTreeMap::new(),
            skipped: 0,
            finished: vec![
                finished(10, End::Confirmed),
                finished(20, End::Confirmed),
                finished(30, End::Rejected),
                finished(40, End::Confirmed),
                finished(99, End::Stuck),
            ],
            lost: 0,
            window: Duration::from_secs(2),
            cpu_ms: BTreeMap::from([("order".into(), 6.0), ("postgres".into(), 2.0)]),
            bench_cpu_ms: 1.0,
            commits_by_database: BTreeMap::from([
                ("oms_bench_order".into(), 20),
                ("oms_bench_saga".into(), 30),
            ]),
            watcher_queries: 10,
            watcher_database: "oms_bench_saga".into(),
            pgbench_ceiling_tps: Some(100.0),
            wal: WalCounters {
                syncs: 10,
                ..WalCounters::default()
            },
            idle_for: Duration::from_secs(2),
            peak_rss_mib: BTreeMap::new(),
        }
    }

    fn idle() -> IdleRates {
        IdleRates {
            seconds: 10.0,
            commits_per_second: BTreeMap::from([("oms_bench_order".into(), 2.5)]),
            wal_syncs_per_second: 1.0,
            wal_records_per_second: 0.0,
        }
    }

    #[test]
    fn per_order_figures_divide_by_ended_orders_without_the_watchers_queries() {
        let report = measures().report(&idle());
        assert_eq!(report.completed, 4);
        assert_eq!((report.confirmed, report.rejected, report.stuck), (3, 1, 1));
        assert_eq!(report.orders_per_second, 2.0);
        // 50 commits less the watcher's 10 and 2 s of 2.5 idle commits/s.
        assert_eq!(report.commits, 35);
        assert_eq!(report.idle_commits_removed, 5);
        assert_eq!(report.commits_by_database["oms_bench_order"], 15);
        assert_eq!(report.commits_per_order, Some(8.75));
        assert_eq!(report.commits_per_second, 17.5);
        assert_eq!(report.share_of_ceiling, Some(0.175));
        assert_eq!(report.cpu_ms_per_order, Some(2.0));
        assert_eq!(report.wal_syncs_per_order, Some(2.0));
        assert_eq!(report.latency_confirmed.p50_ms, 20.0);
        assert_eq!(report.latency_rejected.max_ms, 30.0);
        assert_eq!(report.latency.max_ms, 40.0);
    }

    #[test]
    fn the_floor_prices_the_calls_of_the_phases_mix_and_its_commits() {
        let unit = |cpu_us| crate::unit::UnitCost {
            count: 1,
            per_second: 1.0,
            cpu_us,
            client_cpu_us: 0.0,
        };
        let costs = UnitCosts {
            callers: 8,
            seconds: 1.0,
            grpc_call: unit(200.0),
            statement: unit(100.0),
            committed_write: unit(300.0),
        };
        let mut hot = measures().report(&idle());
        hot.mix = "hot-sku".into();
        let mut report = RunReport {
            command: String::new(),
            started_at: String::new(),
            commit: String::new(),
            machine: Machine {
                cores: 2,
                memory_gib: 1.0,
                cpu_model: String::new(),
                postgres: String::new(),
                load_average_at_start: 0.0,
            },
            pgbench_ceiling: Vec::new(),
            unit_costs: Some(costs),
            phases: vec![measures().report(&idle()), hot],
            calls: vec![CallCount::of(
                "all-succeed",
                2,
                &BTreeMap::from([("a".into(), 20), ("b".into(), 10)]),
            )],
            service_log: String::new(),
            idle: idle(),
            oversell: 0,
            ledger_mismatches: Vec::new(),
            lost: 0,
        };
        report.fill_floors();
        // 15 calls at 200 µs and 8.75 commits at 100 µs.
        assert_eq!(report.phases[0].floor_cpu_ms_per_order, Some(3.875));
        // No calls were counted for that mix.
        assert_eq!(report.phases[1].floor_cpu_ms_per_order, None);
        let mut table = Vec::new();
        report.write_table(&mut table).unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(table.contains("gRPC call 200 µs"), "{table}");
        assert!(table.contains("3.88 ms of CPU per order"), "{table}");
    }
}
