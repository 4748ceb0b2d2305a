//! What the suite's building blocks cost on this machine, measured in the
//! same run: CPU per gRPC call, per Postgres statement and per committed
//! write, each the client's and the server's CPU together. A confirmed
//! order makes about fifteen calls and thirty-odd commits; at these prices
//! the report gives the floor of its CPU, what it would cost if each call
//! and each commit did nothing else, so the per-order figure is read
//! against what the design itself costs.
//!
//! - gRPC call: `grpc.health.v1.Health/Check` on the order service, through
//!   the same tower layers as every OMS call, but no handler work. CPU of the
//!   bench (the client) and the order service.
//! - statement: `SELECT 1` on a pool of the bench's own, each its own
//!   transaction, as any read outside a transaction is. CPU of the bench and
//!   Postgres (its backends and the WAL writer).
//! - committed write: a one-row insert, each its own transaction (what
//!   pgbench measures for the ceiling), WAL flush included.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use serde::Serialize;
use sqlx::{Connection as _, PgConnection, PgPool, postgres::PgPoolOptions};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use crate::{
    own_cpu_ms,
    probe::Probe,
    suite::{Suite, database_url},
};

const DATABASE: &str = "oms_bench_unit";

/// The service whose health the gRPC call asks.
const SERVICE: &str = "order";

/// One building block's price.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct UnitCost {
    /// Operations done.
    pub count: u64,
    /// Operations per second.
    pub per_second: f64,
    /// CPU microseconds per operation, client and server.
    pub cpu_us: f64,
    /// Of which the client's (the bench).
    pub client_cpu_us: f64,
}

/// The prices of the building blocks, measured with `callers` at once.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct UnitCosts {
    /// Callers at once.
    pub callers: usize,
    /// How long each block was measured, in seconds.
    pub seconds: f64,
    /// A gRPC call through the platform's layers, no handler work.
    pub grpc_call: UnitCost,
    /// A statement round trip (`SELECT 1`), its own transaction.
    pub statement: UnitCost,
    /// A committed one-row insert.
    pub committed_write: UnitCost,
}

impl UnitCosts {
    /// The CPU floor of an order that makes `calls` gRPC calls and `commits`
    /// commits, in milliseconds: each call at the price of a bare call, each
    /// commit at the price of a bare statement (the least a commit costs).
    pub fn floor_ms(&self, calls: f64, commits: f64) -> f64 {
        (calls * self.grpc_call.cpu_us + commits * self.statement.cpu_us) / 1000.0
    }
}

/// Measures each block for `duration` with `callers` at once, on `suite`
/// while it has nothing else to do.
pub async fn measure(
    suite: &Suite,
    probe: &Probe,
    callers: usize,
    duration: Duration,
) -> anyhow::Result<UnitCosts> {
    let health = HealthClient::new(suite.channel(SERVICE)?);
    let grpc_call = priced(probe, &[SERVICE], callers, duration, move || {
        let mut health = health.clone();
        async move {
            health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .context("health check")?;
            Ok(())
        }
    })
    .await?;

    let pool = database(callers).await?;
    let postgres = ["postgres", "postgres-aux"];
    let statement = {
        let pool = pool.clone();
        priced(probe, &postgres, callers, duration, move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1").execute(&pool).await?;
                Ok(())
            }
        })
        .await?
    };
    let committed_write = {
        let pool = pool.clone();
        priced(probe, &postgres, callers, duration, move || {
            let pool = pool.clone();
            async move {
                sqlx::query("INSERT INTO rows (n) VALUES (1)")
                    .execute(&pool)
                    .await?;
                Ok(())
            }
        })
        .await?
    };
    pool.close().await;
    drop_database().await?;
    Ok(UnitCosts {
        callers,
        seconds: duration.as_secs_f64(),
        grpc_call,
        statement,
        committed_write,
    })
}

/// Runs `operation` in a closed loop of `callers` for `duration`; its price
/// is the CPU of the bench and of the processes in `servers` per operation.
async fn priced<F, Fut>(
    probe: &Probe,
    servers: &[&str],
    callers: usize,
    duration: Duration,
    operation: F,
) -> anyhow::Result<UnitCost>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let cpu_before = probe.cpu().await?;
    let client_before = own_cpu_ms();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers.max(1) {
        let operation = operation.clone();
        let done = done.clone();
        tasks.spawn(async move {
            while Instant::now() < deadline {
                operation().await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let client_ms = own_cpu_ms() - client_before;
    let cpu = probe.cpu_ms(&cpu_before, &probe.cpu().await?);
    let server_ms: f64 = servers.iter().filter_map(|group| cpu.get(*group)).sum();
    let count = done.load(Ordering::Relaxed);
    let per = |ms: f64| {
        if count == 0 {
            0.0
        } else {
            ms * 1000.0 / count as f64
        }
    };
    Ok(UnitCost {
        count,
        per_second: count as f64 / elapsed.max(f64::EPSILON),
        cpu_us: per(client_ms + server_ms),
        client_cpu_us: per(client_ms),
    })
}

/// A database of its own, with one table, and a pool of `connections` to it,
/// every connection open before the clock starts.
async fn database(connections: usize) -> anyhow::Result<PgPool> {
    drop_database().await?;
    let mut server = PgConnection::connect(&database_url("postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {DATABASE}")))
        .execute(&mut server)
        .await?;
    let connections = u32::try_from(connections.max(1)).unwrap_or(u32::MAX);
    let pool = PgPoolOptions::new()
        .min_connections(connections)
        .max_connections(connections)
        .connect(&database_url(DATABASE))
        .await
        .with_context(|| format!("connecting to {DATABASE}"))?;
    sqlx::query("CREATE TABLE rows (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n integer NOT NULL)")
        .execute(&pool)
        .await?;
    // The pool opens its minimum in the background: wait for all of them.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pool.size() < connections && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(pool)
}

async fn drop_database() -> anyhow::Result<()> {
    let mut server = PgConnection::connect(&database_url("postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"
    )))
    .execute(&mut server)
    .await?;
    Ok(())
}
