//! The machine's Postgres commit ceiling, measured in the same run with
//! pgbench: one-row inserts into a table of its own database
//! (`oms_bench_pgbench`), each its own transaction, at the closed loop's
//! client counts.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::{Connection as _, PgConnection};
use tokio::process::Command;

use crate::{report::Ceiling, suite::database_url};

const DATABASE: &str = "oms_bench_pgbench";

/// pgbench's committed one-row inserts per second at each of `clients`,
/// `duration` each; `None` when pgbench is not installed.
pub async fn ceiling(
    clients: &[usize],
    duration: Duration,
) -> anyhow::Result<Option<Vec<Ceiling>>> {
    if Command::new("pgbench")
        .arg("--version")
        .output()
        .await
        .is_err()
    {
        return Ok(None);
    }
    let mut server = PgConnection::connect(&database_url("postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
    )))
    .execute(&mut server)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
        .execute(&mut server)
        .await?;
    let mut db = PgConnection::connect(&database_url(DATABASE)).await?;
    sqlx::query("CREATE TABLE rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, client integer NOT NULL, create_time timestamptz NOT NULL DEFAULT now())")
        .execute(&mut db)
        .await?;
    let script = std::env::temp_dir().join(format!("oms-bench-insert-{}.sql", std::process::id()));
    std::fs::write(&script, "INSERT INTO rows (client) VALUES (:client_id);\n")?;
    let mut results = Vec::new();
    for &count in clients {
        let output = Command::new("pgbench")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-n", "-M", "prepared"])
            .args(["-c", &count.to_string(), "-j", &count.min(2).to_string()])
            .args(["-T", &duration.as_secs().max(1).to_string()])
            .arg("-f")
            .arg(&script)
            .arg(DATABASE)
            .output()
            .await
            .context("running pgbench")?;
        let text = String::from_utf8_lossy(&output.stdout);
        match parse_tps(&text) {
            Some(tps) => results.push(Ceiling {
                clients: count,
                tps,
            }),
            // e.g. the server's connections are taken by others' tests: that
            // client count goes unmeasured, the run goes on.
            None => warn(&format!(
                "pgbench with {count} clients printed no tps: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }
    let _ = std::fs::remove_file(&script);
    drop(db);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
    )))
    .execute(&mut server)
    .await?;
    Ok(Some(results))
}

fn warn(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "bench: {message}");
}

/// The tps of pgbench's summary (`tps = 1234.5 (without initial connection time)`).
pub fn parse_tps(summary: &str) -> Option<f64> {
    summary
        .lines()
        .find(|line| line.starts_with("tps = "))?
        .trim_start_matches("tps = ")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tps_is_read_from_pgbenchs_summary() {
        let summary = "number of failed transactions: 0 (0.000%)\nlatency average = 1.2 ms\ninitial connection time = 3.1 ms\ntps = 812.345678 (without initial connection time)\n";
        assert_eq!(parse_tps(summary), Some(812.345678));
        assert_eq!(parse_tps("no summary"), None);
    }
}
