//! Driving orders: closed loop (a fixed number of customers, each placing
//! its next order when the last one's saga ended) and open loop (orders sent
//! at fixed times, whether or not earlier ones finished, latency counted from
//! the time each was due, so queueing is not hidden).
//!
//! An order is complete when its fulfilment saga reached its end: COMPLETED
//! (the order CONFIRMED) or COMPENSATED (REJECTED, everything undone). The
//! [`Watcher`] observes that the cheapest way there is: one indexed query a
//! few milliseconds apart over every order still in flight, against the
//! coordinator's own table, reading the saga's `finish_time` (set by the
//! coordinator in the write that ends it), so the latency is exact and does
//! not depend on how often the watcher looks. The services do no extra work
//! for it; its queries are counted and taken out of the commit figures.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use oms_proto::order::v1::order_service_client::OrderServiceClient;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::orders::Mix;

/// The saga states that end an order saga (oms.saga.v1.SagaState).
const COMPLETED: i16 = 3;
const COMPENSATED: i16 = 4;
const STUCK: i16 = 5;

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum End {
    /// COMPLETED: the order is CONFIRMED.
    Confirmed,
    /// COMPENSATED: the order is REJECTED and every step undone.
    Rejected,
    /// STUCK: parked for an operator; not an end a customer sees.
    Stuck,
}

/// One order whose saga ended.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The order.
    pub order_id: String,
    /// From the time the order was due to be sent to the saga's end.
    pub latency: Duration,
    /// How it ended.
    pub end: End,
    /// When it ended.
    pub at: SystemTime,
}

struct Waiting {
    due: SystemTime,
    done: Option<oneshot::Sender<()>>,
}

/// Watches the coordinator's table for the sagas of the orders in flight.
#[derive(Clone)]
pub struct Watcher {
    inner: Arc<WatcherInner>,
}

struct WatcherInner {
    waiting: Mutex<HashMap<String, Waiting>>,
    finished: Mutex<Vec<Finished>>,
    polls: AtomicU64,
}

impl Watcher {
    /// Starts watching through `pool` (one connection to the coordinator's
    /// database), looking every `interval` while anything is in flight.
    pub fn start(pool: PgPool, interval: Duration) -> Watcher {
        let watcher = Watcher {
            inner: Arc::new(WatcherInner {
                waiting: Mutex::new(HashMap::new()),
                finished: Mutex::new(Vec::new()),
                polls: AtomicU64::new(0),
            }),
        };
        let running = watcher.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                if let Err(err) = running.look(&pool).await {
                    tracing_free_warn(&format!("the watcher's query failed: {err}"));
                }
            }
        });
        watcher
    }

    async fn look(&self, pool: &PgPool) -> anyhow::Result<()> {
        let ids: Vec<String> = {
            let waiting = lock(&self.inner.waiting);
            if waiting.is_empty() {
                return Ok(());
            }
            waiting.keys().cloned().collect()
        };
        let rows: Vec<(String, i16, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT order_id, state, finish_time FROM sagas
             WHERE kind = 1 AND state >= 3 AND order_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        self.inner.polls.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now();
        let mut waiting = lock(&self.inner.waiting);
        let mut finished = lock(&self.inner.finished);
        for (order_id, state, finish_time) in rows {
            let Some(entry) = waiting.remove(&order_id) else {
                continue;
            };
            let end = match state {
                COMPLETED => End::Confirmed,
                COMPENSATED => End::Rejected,
                STUCK => End::Stuck,
                _ => continue,
            };
            let at = finish_time.map_or(now, SystemTime::from);
            finished.push(Finished {
                order_id,
                latency: at.duration_since(entry.due).unwrap_or_default(),
                end,
                at,
            });
            if let Some(done) = entry.done {
                let _ = done.send(());
            }
        }
        Ok(())
    }

    /// Waits for the saga of `order_id`, due at `due`; the receiver hears
    /// when it ended if `notify`.
    fn register(
        &self,
        order_id: String,
        due: SystemTime,
        notify: bool,
    ) -> Option<oneshot::Receiver<()>> {
        let (done, ended) = if notify {
            let (sender, receiver) = oneshot::channel();
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        lock(&self.inner.waiting).insert(order_id, Waiting { due, done });
        ended
    }

    /// Orders in flight.
    pub fn in_flight(&self) -> usize {
        lock(&self.inner.waiting).len()
    }

    /// Sagas ended so far in this phase.
    pub fn finished_count(&self) -> usize {
        lock(&self.inner.finished).len()
    }

    /// Queries the watcher has run (each one a committed transaction in the
    /// coordinator's database).
    pub fn polls(&self) -> u64 {
        self.inner.polls.load(Ordering::Relaxed)
    }

    /// Takes what ended in this phase, and the orders still in flight (the
    /// lost ones, once the phase drained), forgetting both.
    fn take(&self) -> (Vec<Finished>, Vec<String>) {
        let finished = std::mem::take(&mut *lock(&self.inner.finished));
        let lost = lock(&self.inner.waiting)
            .drain()
            .map(|(id, _)| id)
            .collect();
        (finished, lost)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A warning on stderr, under the progress bars.
fn tracing_free_warn(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "bench: {message}");
}

/// How a phase offers orders.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "loop")]
pub enum Load {
    /// `concurrency` customers, each with one order in flight.
    Closed {
        /// Orders in flight at once.
        concurrency: usize,
    },
    /// Orders due at `rate` per second, sent on time whatever is in flight.
    Open {
        /// Orders per second.
        rate: f64,
    },
}

impl Load {
    /// A short name, e.g. `closed c=16` or `open 250/s`.
    pub fn label(self) -> String {
        match self {
            Load::Closed { concurrency } => format!("closed c={concurrency}"),
            Load::Open { rate } => format!("open {rate}/s"),
        }
    }
}

/// One phase's orders, as driven.
pub struct PhaseRun {
    /// PlaceOrder calls sent.
    pub placed: u64,
    /// Refused PlaceOrder calls, by status code.
    pub refused: BTreeMap<String, u64>,
    /// Open loop: orders not sent because too many were in flight.
    pub skipped: u64,
    /// Orders whose saga ended.
    pub finished: Vec<Finished>,
    /// Accepted orders whose saga had not ended when the drain ran out.
    pub lost: Vec<String>,
    /// When the first order was due.
    pub started: SystemTime,
    /// How long orders were offered.
    pub offered_for: Duration,
}

/// What every phase shares.
pub struct Driver {
    /// The order service.
    pub order: OrderServiceClient<Channel>,
    /// The completion watcher.
    pub watcher: Watcher,
    /// Distinguishes this run's external references.
    pub run_id: String,
    /// Numbers every order of the run.
    pub next: Arc<AtomicU64>,
    /// How long to wait for the sagas in flight when a phase stops offering.
    pub drain: Duration,
    /// Open loop: the most orders in flight before sending is skipped.
    pub max_in_flight: usize,
}

impl Driver {
    /// Offers orders of `mix` as `load` says for `duration`, then waits for
    /// the sagas in flight, showing progress on `bar`.
    pub async fn run(
        &self,
        mix: Mix,
        load: Load,
        duration: Duration,
        bar: &ProgressBar,
    ) -> PhaseRun {
        let placed = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(Mutex::new(BTreeMap::new()));
        let started = SystemTime::now();
        let start = Instant::now();
        let deadline = start + duration;
        bar.set_length(duration.as_secs().max(1));
        let ticker = {
            let bar = bar.clone();
            let watcher = self.watcher.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let elapsed = start.elapsed();
                    bar.set_position(elapsed.as_secs().min(duration.as_secs()));
                    let done = watcher.finished_count();
                    bar.set_message(format!(
                        "{done} ended, {:.0}/s, {} in flight",
                        done as f64 / elapsed.as_secs_f64().max(0.001),
                        watcher.in_flight()
                    ));
                }
            })
        };
        let mut skipped = 0;
        match load {
            Load::Closed { concurrency } => {
                let mut customers = Vec::new();
                for _ in 0..concurrency {
                    let customer = Customer {
                        order: self.order.clone(),
                        watcher: self.watcher.clone(),
                        run_id: self.run_id.clone(),
                        next: self.next.clone(),
                        placed: placed.clone(),
                        refused: refused.clone(),
                        mix,
                        drain: self.drain,
                    };
                    customers.push(tokio::spawn(customer.shop_until(deadline)));
                }
                for customer in customers {
                    let _ = customer.await;
                }
            }
            Load::Open { rate } => {
                let total = (rate * duration.as_secs_f64()).round() as u64;
                let mut sends = Vec::new();
                for i in 0..total {
                    let due_in = Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until((start + due_in).into()).await;
                    if self.watcher.in_flight() >= self.max_in_flight {
                        skipped += 1;
                        continue;
                    }
                    let customer = Customer {
                        order: self.order.clone(),
                        watcher: self.watcher.clone(),
                        run_id: self.run_id.clone(),
                        next: self.next.clone(),
                        placed: placed.clone(),
                        refused: refused.clone(),
                        mix,
                        drain: self.drain,
                    };
                    sends.push(tokio::spawn(async move {
                        customer.place(started + due_in, false).await;
                    }));
                }
                for send in sends {
                    let _ = send.await;
                }
            }
        }
        let offered_for = start.elapsed();
        let drain_deadline = Instant::now() + self.drain;
        while self.watcher.in_flight() > 0 && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        ticker.abort();
        let (finished, lost) = self.watcher.take();
        let refused = std::mem::take(&mut *lock(&refused));
        PhaseRun {
            placed: placed.load(Ordering::Relaxed),
            refused,
            skipped,
            finished,
            lost,
            started,
            offered_for,
        }
    }
}

/// One customer: places orders of the mix.
struct Customer {
    order: OrderServiceClient<Channel>,
    watcher: Watcher,
    run_id: String,
    next: Arc<AtomicU64>,
    placed: Arc<AtomicU64>,
    refused: Arc<Mutex<BTreeMap<String, u64>>>,
    mix: Mix,
    drain: Duration,
}

impl Customer {
    /// Closed loop: one order at a time until `deadline`.
    async fn shop_until(self, deadline: Instant) {
        while Instant::now() < deadline {
            if let Some(ended) = self.place(SystemTime::now(), true).await {
                // A saga that never ends is counted lost when the phase drains.
                let _ = tokio::time::timeout(self.drain, ended).await;
            } else {
                // Refused: do not spin on a failing service.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }

    /// Places the next order, due at `due`; registers it with the watcher
    /// when accepted.
    async fn place(&self, due: SystemTime, notify: bool) -> Option<oneshot::Receiver<()>> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let request = self.mix.order(&self.run_id, n);
        self.placed.fetch_add(1, Ordering::Relaxed);
        match self.order.clone().place_order(request).await {
            Ok(response) => {
                let order_id = response.into_inner().order?.order_id;
                self.watcher.register(order_id, due, notify)
            }
            Err(status) => {
                *lock(&self.refused)
                    .entry(format!("{:?}", status.code()))
                    .or_insert(0) += 1;
                None
            }
        }
    }
}

/// The progress bar of one phase.
pub fn progress_bar(prefix: String) -> ProgressBar {
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{prefix:32} [{bar:24}] {pos:>3}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}
