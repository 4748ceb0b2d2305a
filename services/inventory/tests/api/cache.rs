//! The availability cache: served while current, never after a change, and
//! not needed for a right answer.

use crate::helpers::*;

#[tokio::test]
async fn a_cached_availability_is_replaced_after_a_change_on_any_instance() {
    let mut inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    let mut other = inventory.another_instance().await;

    assert_eq!(inventory.availability("tee-m", None).await.available, 5);
    let keys = inventory.redis.keys().await;
    assert!(
        keys.iter().any(|key| key.ends_with("avail:tee-m")),
        "cached: {keys:?}"
    );
    assert_eq!(inventory.availability("tee-m", None).await.available, 5);

    reserve(&mut other, "order-1", vec![line("tee-m", "wh-1", 2)])
        .await
        .unwrap();
    let after = inventory.availability("tee-m", None).await;
    assert_eq!((after.reserved, after.available), (2, 3));

    inventory.redis.flush().await;
    assert_eq!(inventory.availability("tee-m", None).await.available, 3);
    inventory.finish().await;
}

#[tokio::test]
async fn deactivating_a_location_takes_it_out_of_cached_totals() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("wh-2").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    inventory.set_stock("tee-m", "wh-2", 4).await;
    assert_eq!(inventory.availability("tee-m", None).await.available, 9);

    put_location(&mut inventory.client(), "wh-2", false).await;

    let after = inventory.availability("tee-m", None).await;
    assert_eq!(after.available, 5);
    let listed: Vec<_> = after
        .locations
        .iter()
        .map(|level| level.location_id.as_str())
        .collect();
    assert_eq!(listed, ["wh-1"]);
    inventory.finish().await;
}
