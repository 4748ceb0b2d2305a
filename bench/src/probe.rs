//! What the bench reads from the machine while the suite runs: CPU time and
//! peak RSS of each process from `/proc`, and Postgres's own counters
//! (`pg_stat_database.xact_commit` of the bench's databases, `pg_stat_wal`).
//!
//! CPU is counted for the seven services, every Postgres backend connected
//! to a bench database (`postgres`) and Postgres's auxiliary processes (WAL
//! writer, checkpointer, background writer, autovacuum launcher:
//! `postgres-aux`), and the Redis server. The bench's own completion watcher's backend is left out; Redis
//! and the auxiliary processes are shared with whatever else uses the
//! servers at the same time.

use std::collections::BTreeMap;

use anyhow::Context as _;
use serde::Serialize;
use sqlx::PgPool;

use crate::suite::{DATABASE_PREFIX, Suite};

/// CPU time of one process, in clock ticks, under the name of its group.
#[derive(Clone, Debug, Default)]
pub struct CpuSample {
    /// pid -> (group, utime + stime in ticks).
    ticks: BTreeMap<u32, (String, u64)>,
}

/// Postgres's counters at one moment.
#[derive(Clone, Debug, Default)]
pub struct PgSample {
    /// Committed transactions per bench database.
    pub commits: BTreeMap<String, u64>,
    /// WAL records, bytes, writes and syncs of the whole server.
    pub wal: WalCounters,
}

/// `pg_stat_wal`'s counters (server-wide).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct WalCounters {
    /// WAL records generated.
    pub records: u64,
    /// WAL bytes generated.
    pub bytes: u64,
    /// Times WAL buffers were written out.
    pub writes: u64,
    /// Times WAL was synced to disk (the commits' fsyncs).
    pub syncs: u64,
}

impl WalCounters {
    /// The counts between `earlier` and `self`.
    pub fn since(self, earlier: WalCounters) -> WalCounters {
        WalCounters {
            records: self.records.saturating_sub(earlier.records),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            writes: self.writes.saturating_sub(earlier.writes),
            syncs: self.syncs.saturating_sub(earlier.syncs),
        }
    }
}

/// What the suite does with no order in flight: its background work
/// (outbox and ledger polls, sweeps), per second, measured at the end of the
/// run, so each phase's figures can leave out the idle seconds its
/// measurement window had to include (Postgres reports counts up to 10 s late).
#[derive(Clone, Debug, Default, Serialize)]
pub struct IdleRates {
    /// How long the idle window was, in seconds.
    pub seconds: f64,
    /// Commits per second per bench database.
    pub commits_per_second: BTreeMap<String, f64>,
    /// Server-wide WAL syncs per second (others' work on the server included).
    pub wal_syncs_per_second: f64,
    /// Server-wide WAL records per second.
    pub wal_records_per_second: f64,
}

impl IdleRates {
    /// The rates between two samples `seconds` apart.
    pub fn between(earlier: &PgSample, later: &PgSample, seconds: f64) -> IdleRates {
        let per_second = |count: u64| {
            if seconds > 0.0 {
                count as f64 / seconds
            } else {
                0.0
            }
        };
        let wal = later.wal.since(earlier.wal);
        IdleRates {
            seconds,
            commits_per_second: later
                .commits
                .iter()
                .map(|(name, after)| {
                    let before = earlier.commits.get(name).copied().unwrap_or(0);
                    (name.clone(), per_second(after.saturating_sub(before)))
                })
                .collect(),
            wal_syncs_per_second: per_second(wal.syncs),
            wal_records_per_second: per_second(wal.records),
        }
    }
}

/// Reads the machine's counters for one suite.
pub struct Probe {
    pool: PgPool,
    services: Vec<(String, u32)>,
    redis_pid: Option<u32>,
    /// The backend of the bench's completion watcher, left out of the CPU.
    excluded_backend: Option<u32>,
    ticks_per_second: u64,
}

impl Probe {
    /// A probe of `suite`, reading Postgres through `pool` (any database on
    /// the server), leaving out `excluded_backend`.
    pub async fn new(
        suite: &Suite,
        pool: PgPool,
        excluded_backend: Option<u32>,
    ) -> anyhow::Result<Probe> {
        Ok(Probe {
            pool,
            services: suite
                .processes
                .iter()
                .map(|process| (process.service.to_owned(), process.pid))
                .collect(),
            redis_pid: redis_pid().await,
            excluded_backend,
            ticks_per_second: ticks_per_second(),
        })
    }

    /// CPU time of every counted process now.
    pub async fn cpu(&self) -> anyhow::Result<CpuSample> {
        let mut ticks = BTreeMap::new();
        for (service, pid) in &self.services {
            if let Some(used) = process_ticks(*pid) {
                ticks.insert(*pid, (service.clone(), used));
            }
        }
        if let Some(pid) = self.redis_pid
            && let Some(used) = process_ticks(pid)
        {
            ticks.insert(pid, ("redis".to_owned(), used));
        }
        let backends: Vec<(i32, bool)> = sqlx::query_as(
            "SELECT pid, datname IS NULL FROM pg_stat_activity
             WHERE datname LIKE $1 OR (datname IS NULL AND backend_type <> 'client backend')",
        )
        .bind(format!("{DATABASE_PREFIX}%"))
        .fetch_all(&self.pool)
        .await?;
        for (pid, auxiliary) in backends {
            let Ok(pid) = u32::try_from(pid) else {
                continue;
            };
            if Some(pid) == self.excluded_backend {
                continue;
            }
            let group = if auxiliary {
                "postgres-aux"
            } else {
                "postgres"
            };
            if let Some(used) = process_ticks(pid) {
                ticks.insert(pid, (group.to_owned(), used));
            }
        }
        Ok(CpuSample { ticks })
    }

    /// CPU milliseconds per group between `earlier` and `later`; a process
    /// that appeared in between counts from zero.
    pub fn cpu_ms(&self, earlier: &CpuSample, later: &CpuSample) -> BTreeMap<String, f64> {
        let mut groups = BTreeMap::new();
        for (pid, (group, used)) in &later.ticks {
            let before = earlier
                .ticks
                .get(pid)
                .filter(|(earlier_group, _)| earlier_group == group)
                .map_or(0, |(_, used)| *used);
            *groups.entry(group.clone()).or_insert(0.0) +=
                ticks_to_ms(used.saturating_sub(before), self.ticks_per_second);
        }
        groups
    }

    /// Peak resident memory of each service since its last reset, in MiB.
    pub fn peak_rss_mib(&self) -> BTreeMap<String, f64> {
        self.services
            .iter()
            .filter_map(|(service, pid)| Some((service.clone(), vm_hwm_kib(*pid)? as f64 / 1024.0)))
            .collect()
    }

    /// Starts each service's peak resident memory afresh (`clear_refs` 5).
    pub fn reset_peak_rss(&self) {
        for (_, pid) in &self.services {
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }

    /// Postgres's counters now.
    pub async fn pg(&self) -> anyhow::Result<PgSample> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT datname::text, xact_commit FROM pg_stat_database WHERE datname LIKE $1",
        )
        .bind(format!("{DATABASE_PREFIX}%"))
        .fetch_all(&self.pool)
        .await?;
        let (records, bytes, writes, syncs): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT wal_records, wal_bytes::bigint, wal_write, wal_sync FROM pg_stat_wal",
        )
        .fetch_one(&self.pool)
        .await
        .context("reading pg_stat_wal")?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        Ok(PgSample {
            commits: rows
                .into_iter()
                .map(|(name, commits)| (name, count(commits)))
                .collect(),
            wal: WalCounters {
                records: count(records),
                bytes: count(bytes),
                writes: count(writes),
                syncs: count(syncs),
            },
        })
    }
}

fn ticks_to_ms(ticks: u64, per_second: u64) -> f64 {
    ticks as f64 * 1000.0 / per_second.max(1) as f64
}

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of
/// `/proc/<pid>/stat`, counted after the command name's closing parenthesis).
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_ticks(&stat)
}

/// utime + stime from the text of a `/proc/<pid>/stat`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[0] is the state, field 3 of the file; utime is field 14.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(100)
}

async fn redis_pid() -> Option<u32> {
    let output = tokio::process::Command::new("redis-cli")
        .args(["info", "server"])
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))?
        .trim()
        .parse()
        .ok()
}

/// The machine the run measured: cores, memory, kernel, Postgres.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cores: usize,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// The CPU's model name.
    pub cpu_model: String,
    /// Postgres's `version()`.
    pub postgres: String,
    /// The load average over the last minute when the run started (other work on the machine).
    pub load_average_at_start: f64,
}

impl Machine {
    /// Reads the machine's description.
    pub async fn read(pool: &PgPool) -> anyhow::Result<Machine> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .map(|value| value.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        let load_average_at_start = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let postgres: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(pool)
            .await?;
        Ok(Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            cpu_model,
            postgres,
            load_average_at_start,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_the_command_name_even_with_spaces_in_it() {
        let stat = "1234 (oms order) S 1 1234 1234 0 -1 4194560 500 0 0 0 70 30 0 0 20 0 9 0";
        assert_eq!(parse_stat_ticks(stat), Some(100));
    }
}
