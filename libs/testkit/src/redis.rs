//! A Redis key prefix per test.

use ::redis::{AsyncCommands as _, RedisResult, aio::ConnectionManager};
use oms_platform::config::RedisConfig;

/// The test's own keys in the shared Redis: every key under a unique prefix.
/// They are deleted on drop.
pub struct TestRedis {
    config: RedisConfig,
}

impl TestRedis {
    /// A new, empty prefix on the test server.
    pub fn new() -> TestRedis {
        let url = std::env::var("OMS_REDIS_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
        TestRedis {
            config: RedisConfig {
                url,
                key_prefix: format!("oms-test:{}:", uuid::Uuid::new_v4().simple()),
            },
        }
    }

    /// The config a service under test uses: same server, the test's prefix.
    pub fn config(&self) -> RedisConfig {
        self.config.clone()
    }

    /// A connection of the test's own.
    pub async fn connection(&self) -> ConnectionManager {
        ::redis::Client::open(self.config.url.as_str())
            .expect("OMS_REDIS_URL is a redis:// URL")
            .get_connection_manager()
            .await
            .expect("connect to the test Redis")
    }

    /// The test's keys, e.g. to check what a service wrote.
    pub async fn keys(&self) -> Vec<String> {
        keys(&mut self.connection().await, &self.config.key_prefix)
            .await
            .expect("scan the test's keys")
    }

    /// Deletes every key of this test, as if Redis had lost them, and nothing
    /// else. Returns how many were deleted.
    pub async fn flush(&self) -> usize {
        delete_all(&mut self.connection().await, &self.config.key_prefix)
            .await
            .expect("delete the test's keys")
    }
}

impl Default for TestRedis {
    fn default() -> Self {
        TestRedis::new()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let config = self.config.clone();
        // Drop cannot await; a thread with its own runtime can.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime for deleting the test's Redis keys");
            runtime.block_on(async {
                let client = ::redis::Client::open(config.url.as_str())?;
                let mut connection = client.get_connection_manager().await?;
                delete_all(&mut connection, &config.key_prefix).await
            })
        })
        .join();
    }
}

async fn keys(connection: &mut ConnectionManager, prefix: &str) -> RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut iter = connection
        .scan_match::<_, String>(format!("{prefix}*"))
        .await?;
    while let Some(key) = iter.next_item().await {
        keys.push(key?);
    }
    Ok(keys)
}

async fn delete_all(connection: &mut ConnectionManager, prefix: &str) -> RedisResult<usize> {
    let keys = keys(connection, prefix).await?;
    if !keys.is_empty() {
        let _: usize = connection.del(&keys).await?;
    }
    Ok(keys.len())
}
