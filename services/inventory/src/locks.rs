//! Per-SKU stock locks: a lease in Redis (key, random token, TTL) behind a
//! local queue.
//!
//! Reservations of one SKU take turns here before they reach Postgres, so a hot
//! SKU occupies one pooled connection per instance instead of parking every
//! connection on the same row lock while other SKUs wait for the pool. Within
//! an instance the turns are a FIFO async mutex; across instances, the Redis
//! lease. An instance hands a young lease from one of its callers to the next
//! (lock cohorting), so a queue of callers costs one lease, not one per call,
//! and gives it back within 100 ms so other instances get their turn. A lease
//! expires by itself, so a crashed holder blocks nobody for longer than the TTL.
//!
//! Nothing depends on the lock for correctness: the guarded write in Postgres
//! decides. When Redis is unreachable, or a lease is not granted in time, the
//! caller goes ahead without it.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use redis::{Script, aio::ConnectionManager};
use tokio::{
    sync::{Mutex as AsyncMutex, OwnedMutexGuard},
    time::Instant,
};

use crate::domain::Sku;

/// Deletes a lease only if it still holds our token.
const RELEASE: &str = r"
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0";

/// Settings of the stock locks.
#[derive(Debug, Clone)]
pub struct LockConfig {
    /// The key prefix of this service's Redis keys.
    pub key_prefix: String,
    /// How long a lease lives if its holder never releases it.
    pub lease: Duration,
    /// How long a caller waits for a lease before going ahead without it.
    pub wait: Duration,
}

/// The stock locks of one service instance.
pub struct StockLocks {
    redis: ConnectionManager,
    config: LockConfig,
    release: Script,
    local: Mutex<HashMap<String, Weak<Turn>>>,
}

/// One SKU's queue in this instance, and the lease the instance holds for it.
struct Turn {
    lease: Arc<AsyncMutex<Option<Lease>>>,
    /// Callers of this instance waiting for the SKU.
    waiting: AtomicUsize,
}

/// A lease granted by Redis.
struct Lease {
    key: String,
    token: String,
    granted: Instant,
}

/// The turns taken for one reservation; given back by [`Leases::release`] or
/// on drop.
pub struct Leases {
    redis: ConnectionManager,
    release: Script,
    handoff: Duration,
    turns: Vec<(Arc<Turn>, OwnedMutexGuard<Option<Lease>>)>,
}

/// How long an instance may keep a lease for its own queue before giving
/// other instances a chance: well inside the lease's TTL.
const MAX_HANDOFF: Duration = Duration::from_millis(100);

impl StockLocks {
    /// Stock locks in `redis`, as `config` says.
    pub fn new(redis: ConnectionManager, config: LockConfig) -> StockLocks {
        StockLocks {
            redis,
            config,
            release: Script::new(RELEASE),
            local: Mutex::new(HashMap::new()),
        }
    }

    /// Takes the turn of every SKU, in sorted order so two callers never wait
    /// on each other in a cycle.
    pub async fn acquire<'a>(&self, skus: impl IntoIterator<Item = &'a Sku>) -> Leases {
        let mut skus: Vec<&Sku> = skus.into_iter().collect();
        skus.sort();
        skus.dedup();
        let deadline = Instant::now() + self.config.wait;
        let mut leases = Leases {
            redis: self.redis.clone(),
            release: self.release.clone(),
            handoff: MAX_HANDOFF.min(self.config.lease / 2),
            turns: Vec::with_capacity(skus.len()),
        };
        let mut redis_up = true;
        for sku in skus {
            let turn = self.turn(sku.as_str());
            turn.waiting.fetch_add(1, Ordering::AcqRel);
            let taken = tokio::time::timeout_at(deadline, turn.lease.clone().lock_owned()).await;
            turn.waiting.fetch_sub(1, Ordering::AcqRel);
            let Ok(mut lease) = taken else {
                tracing::debug!(sku = sku.as_str(), "stock lock: turn not granted in time");
                continue;
            };
            // A lease handed over by the previous caller of this instance is
            // used while it is young; an old one goes back to Redis first.
            if let Some(old) = lease.take_if(|old| old.granted.elapsed() >= leases.handoff) {
                release_all(&mut leases.redis, &leases.release, vec![old]).await;
            }
            if lease.is_none() && redis_up {
                let key = format!("{}stock-lock:{}", self.config.key_prefix, sku.as_str());
                let token = uuid::Uuid::new_v4().simple().to_string();
                match self.lease(&key, &token, deadline).await {
                    Ok(true) => {
                        *lease = Some(Lease {
                            key,
                            token,
                            granted: Instant::now(),
                        })
                    }
                    Ok(false) => {
                        tracing::debug!(sku = sku.as_str(), "stock lock not granted in time")
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "redis unavailable: reserving without stock locks");
                        redis_up = false;
                    }
                }
            }
            leases.turns.push((turn, lease));
        }
        leases
    }

    /// This instance's queue for one SKU, shared by every caller waiting on it.
    fn turn(&self, sku: &str) -> Arc<Turn> {
        let mut local = self
            .local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(turn) = local.get(sku).and_then(Weak::upgrade) {
            return turn;
        }
        // Forget queues nobody holds, so the map stays as small as the SKUs in flight.
        if local.len() > 1024 {
            local.retain(|_, turn| turn.strong_count() > 0);
        }
        let turn = Arc::new(Turn {
            lease: Arc::new(AsyncMutex::new(None)),
            waiting: AtomicUsize::new(0),
        });
        local.insert(sku.to_owned(), Arc::downgrade(&turn));
        turn
    }

    /// Tries to set the lease until `deadline`; false when another instance
    /// held it all along.
    async fn lease(&self, key: &str, token: &str, deadline: Instant) -> redis::RedisResult<bool> {
        let mut redis = self.redis.clone();
        let lease_ms = u64::try_from(self.config.lease.as_millis()).unwrap_or(u64::MAX);
        let mut backoff = Duration::from_micros(500);
        loop {
            let granted: Option<String> = redis::cmd("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(lease_ms)
                .query_async(&mut redis)
                .await?;
            if granted.is_some() {
                return Ok(true);
            }
            if Instant::now() + backoff > deadline {
                return Ok(false);
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(8));
        }
    }
}

impl Leases {
    /// Gives the turns back: a young lease stays with the instance when another
    /// of its callers waits for the SKU, otherwise it goes back to Redis.
    pub async fn release(mut self) {
        let mut returned = Vec::new();
        for (turn, lease) in &mut self.turns {
            let keep = turn.waiting.load(Ordering::Acquire) > 0;
            if let Some(old) = lease.take_if(|held| !keep || held.granted.elapsed() >= self.handoff)
            {
                returned.push(old);
            }
        }
        self.turns.clear();
        release_all(&mut self.redis, &self.release, returned).await;
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        // A call dropped mid-way (cancelled by its client) still frees its leases.
        let returned: Vec<Lease> = self
            .turns
            .iter_mut()
            .filter_map(|(_, lease)| lease.take())
            .collect();
        self.turns.clear();
        if returned.is_empty() {
            return;
        }
        let mut redis = self.redis.clone();
        let release = self.release.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { release_all(&mut redis, &release, returned).await });
        }
    }
}

async fn release_all(redis: &mut ConnectionManager, release: &Script, leases: Vec<Lease>) {
    for lease in leases {
        let released: redis::RedisResult<i64> = release
            .key(&lease.key)
            .arg(&lease.token)
            .invoke_async(redis)
            .await;
        if let Err(err) = released {
            // The lease lapses on its own at the end of its TTL.
            tracing::debug!(error = %err, "stock lock not released");
        }
    }
}
