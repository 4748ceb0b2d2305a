//! Many callers, one SKU, two instances: exactly the stock is held, also while
//! Redis loses every key.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tonic::Code;

use crate::helpers::*;

const UNITS: i32 = 50;
const CALLERS: usize = 200;

/// 200 single-unit Reserve calls for one SKU with 50 units, alternating
/// between two instances; returns how many were held.
async fn contend(inventory: &mut TestInventory) -> usize {
    inventory.location("wh-1").await;
    inventory.set_stock("hot", "wh-1", UNITS).await;
    let clients = [inventory.client(), inventory.another_instance().await];

    let calls = (0..CALLERS).map(|index| {
        let mut client = clients[index % 2].clone();
        async move {
            reserve(
                &mut client,
                &format!("order-{index}"),
                vec![line("hot", "wh-1", 1)],
            )
            .await
        }
    });
    let outcomes = join_all(calls).await;

    for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(reason(refused), "INSUFFICIENT_STOCK");
    }
    outcomes.iter().filter(|outcome| outcome.is_ok()).count()
}

#[tokio::test]
async fn two_hundred_callers_on_two_instances_hold_exactly_the_fifty_units() {
    let mut inventory = TestInventory::start().await;

    let held = contend(&mut inventory).await;

    assert_eq!(held, 50);
    let availability = inventory.availability("hot", None).await;
    assert_eq!((availability.reserved, availability.available), (UNITS, 0));
    inventory.finish().await;
}

#[tokio::test]
async fn losing_every_redis_key_while_callers_contend_still_holds_exactly_the_fifty_units() {
    let mut inventory = TestInventory::start().await;
    let flushing = Arc::new(AtomicBool::new(true));
    let flusher = {
        let flushing = flushing.clone();
        let redis = inventory.redis.config();
        tokio::spawn(async move {
            let client = redis::Client::open(redis.url.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let mut flushes = 0_u32;
            while flushing.load(Ordering::Relaxed) {
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}*", redis.key_prefix))
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                if !keys.is_empty() {
                    let _: () = redis::cmd("DEL")
                        .arg(&keys)
                        .query_async(&mut connection)
                        .await
                        .unwrap();
                }
                flushes += 1;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            flushes
        })
    };

    let held = contend(&mut inventory).await;
    flushing.store(false, Ordering::Relaxed);
    let flushes = flusher.await.unwrap();

    assert!(flushes > 1, "redis was flushed while the calls ran");
    assert_eq!(held, 50);
    assert_eq!(inventory.availability("hot", None).await.available, 0);
    inventory.finish().await;
}
