//! The availability cache in Redis: the stock rows of one SKU, read by
//! GetAvailability instead of Postgres while nothing about the SKU changed.
//!
//! Each entry is tagged with the SKU's version (a counter every writer bumps
//! after its commit) and the global epoch (bumped when a location changes).
//! A reader takes the tag before it reads Postgres and stores the rows under
//! that tag, so rows read before a concurrent commit are stored under a tag
//! that is already stale and never served. Entries also expire after a short
//! TTL, which bounds staleness if a bump is lost (Redis flushed or down).
//! Reserve and every other write read Postgres only: the cache serves reads.
//!
//! When Redis fails, the cache steps aside for a few seconds and every read
//! goes to Postgres, so a Redis outage costs latency once, not on every call.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use crate::store::{StockRow, stock::LevelRow};

/// How long the cache steps aside after Redis failed.
const BACKOFF: Duration = Duration::from_secs(5);
/// Versions outlive any entry; they only need to change, not to last.
const VERSION_TTL_SECONDS: i64 = 24 * 3600;

/// Cached availability of SKUs.
pub struct AvailabilityCache {
    redis: ConnectionManager,
    prefix: String,
    ttl: Duration,
    /// Unix milliseconds until which Redis is not asked.
    down_until: AtomicU64,
}

/// What a lookup found: rows of the SKUs it had, tags for the rest.
#[derive(Debug, Default)]
pub struct Lookup {
    /// Stock rows per cached SKU and the ledger position they reflect.
    pub hits: HashMap<String, (i64, Vec<LevelRow>)>,
    /// Tags to store fresh rows under, per SKU that was not cached.
    pub tags: HashMap<String, String>,
}

impl AvailabilityCache {
    /// A cache in `redis` under `prefix`, each entry kept for `ttl`.
    pub fn new(redis: ConnectionManager, prefix: String, ttl: Duration) -> AvailabilityCache {
        AvailabilityCache {
            redis,
            prefix,
            ttl,
            down_until: AtomicU64::new(0),
        }
    }

    /// The cached rows of `skus` that are still current.
    pub async fn get(&self, skus: &[String]) -> Lookup {
        if self.stepped_aside() || self.ttl.is_zero() {
            return Lookup::default();
        }
        let mut keys = vec![self.epoch_key()];
        for sku in skus {
            keys.push(self.version_key(sku));
            keys.push(self.entry_key(sku));
        }
        let values: Vec<Option<String>> = match redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.redis.clone())
            .await
        {
            Ok(values) => values,
            Err(err) => {
                self.step_aside(&err);
                return Lookup::default();
            }
        };
        let epoch = values.first().cloned().flatten().unwrap_or_default();
        let mut lookup = Lookup::default();
        for (index, sku) in skus.iter().enumerate() {
            let version = values
                .get(1 + 2 * index)
                .cloned()
                .flatten()
                .unwrap_or_default();
            let tag = format!("{epoch}/{version}");
            let entry = values.get(2 + 2 * index).cloned().flatten();
            match entry.as_deref().and_then(|entry| decode(entry, &tag, sku)) {
                Some(hit) => {
                    lookup.hits.insert(sku.clone(), hit);
                }
                None => {
                    lookup.tags.insert(sku.clone(), tag);
                }
            }
        }
        lookup
    }

    /// Stores rows read from Postgres at ledger `position` under the tags a
    /// lookup handed out.
    pub async fn put(
        &self,
        position: i64,
        rows: &HashMap<String, Vec<&LevelRow>>,
        tags: &HashMap<String, String>,
    ) {
        if tags.is_empty() || self.stepped_aside() || self.ttl.is_zero() {
            return;
        }
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        let mut pipe = redis::pipe();
        for (sku, tag) in tags {
            let entry = encode(
                tag,
                position,
                rows.get(sku).map(Vec::as_slice).unwrap_or_default(),
            );
            pipe.cmd("SET")
                .arg(self.entry_key(sku))
                .arg(entry)
                .arg("PX")
                .arg(ttl_ms)
                .ignore();
        }
        if let Err(err) = pipe.query_async::<()>(&mut self.redis.clone()).await {
            self.step_aside(&err);
        }
    }

    /// Marks the SKUs changed: their entries are never served again.
    pub async fn invalidate<'a>(&self, skus: impl IntoIterator<Item = &'a str>) {
        let mut pipe = redis::pipe();
        let mut any = false;
        for sku in skus {
            let key = self.version_key(sku);
            pipe.cmd("INCR").arg(&key).ignore();
            pipe.cmd("EXPIRE")
                .arg(&key)
                .arg(VERSION_TTL_SECONDS)
                .ignore();
            any = true;
        }
        if !any || self.stepped_aside() {
            return;
        }
        if let Err(err) = pipe.query_async::<()>(&mut self.redis.clone()).await {
            self.step_aside(&err);
        }
    }

    /// Marks every entry changed (a location changed, which moves totals).
    pub async fn invalidate_all(&self) {
        let bumped: redis::RedisResult<i64> = redis::cmd("INCR")
            .arg(self.epoch_key())
            .query_async(&mut self.redis.clone())
            .await;
        if let Err(err) = bumped {
            self.step_aside(&err);
        }
    }

    fn stepped_aside(&self) -> bool {
        now_ms() < self.down_until.load(Ordering::Relaxed)
    }

    fn step_aside(&self, err: &redis::RedisError) {
        tracing::warn!(error = %err, "redis unavailable: availability served from postgres");
        let until = now_ms() + u64::try_from(BACKOFF.as_millis()).unwrap_or(u64::MAX);
        self.down_until.store(until, Ordering::Relaxed);
    }

    fn epoch_key(&self) -> String {
        format!("{}avail-epoch", self.prefix)
    }

    fn version_key(&self, sku: &str) -> String {
        format!("{}avail-version:{sku}", self.prefix)
    }

    fn entry_key(&self, sku: &str) -> String {
        format!("{}avail:{sku}", self.prefix)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// `tag`, position, then one line per row:
/// `location_id on_hand reserved safety threshold sequence update_micros active`.
fn encode(tag: &str, position: i64, rows: &[&LevelRow]) -> String {
    let mut entry = format!("{tag}\n{position}\n");
    for row in rows {
        let stock = &row.stock;
        entry.push_str(&format!(
            "{} {} {} {} {} {} {} {}\n",
            stock.location_id,
            stock.on_hand,
            stock.reserved,
            stock.safety_stock,
            stock.low_stock_threshold,
            stock.sequence,
            stock.update_time.timestamp_micros(),
            u8::from(row.active),
        ));
    }
    entry
}

/// The rows of an entry stored under `tag`; `None` when the tag is stale or
/// the entry does not parse.
fn decode(entry: &str, tag: &str, sku: &str) -> Option<(i64, Vec<LevelRow>)> {
    let mut lines = entry.lines();
    if lines.next()? != tag {
        return None;
    }
    let position = lines.next()?.parse().ok()?;
    let rows = lines
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let [
                location_id,
                on_hand,
                reserved,
                safety,
                threshold,
                sequence,
                micros,
                active,
            ] = fields.as_slice()
            else {
                return None;
            };
            Some(LevelRow {
                stock: StockRow {
                    sku: sku.to_owned(),
                    location_id: (*location_id).to_owned(),
                    on_hand: on_hand.parse().ok()?,
                    reserved: reserved.parse().ok()?,
                    safety_stock: safety.parse().ok()?,
                    low_stock_threshold: threshold.parse().ok()?,
                    sequence: sequence.parse().ok()?,
                    update_time: DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?,
                },
                active: *active == "1",
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some((position, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(location_id: &str, on_hand: i32, active: bool) -> LevelRow {
        LevelRow {
            stock: StockRow {
                sku: "tee-m".into(),
                location_id: location_id.into(),
                on_hand,
                reserved: 1,
                safety_stock: 2,
                low_stock_threshold: 3,
                sequence: 42,
                update_time: DateTime::<Utc>::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            },
            active,
        }
    }

    #[test]
    fn an_entry_round_trips_under_its_tag_only() {
        let rows = [row("wh-1", 5, true), row("wh-2", 0, false)];
        let entry = encode("3/7", 99, &rows.iter().collect::<Vec<_>>());

        let (position, decoded) = decode(&entry, "3/7", "tee-m").unwrap();
        assert_eq!(position, 99);
        assert_eq!(decoded.len(), 2);
        assert_eq!(decoded[1].stock.location_id, "wh-2");
        assert!(!decoded[1].active);
        assert_eq!(decoded[0].stock.update_time, rows[0].stock.update_time);
        assert!(decode(&entry, "3/8", "tee-m").is_none());
        assert!(decode("3/7\nnot a number\n", "3/7", "tee-m").is_none());
    }

    #[test]
    fn a_sku_with_no_rows_is_cached_as_empty() {
        let entry = encode("/", 5, &[]);
        let (_, rows) = decode(&entry, "/", "never-stocked").unwrap();
        assert!(rows.is_empty());
    }
}
