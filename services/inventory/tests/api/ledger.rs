//! Reading the ledger's tail (what the feed behind WatchAvailability follows):
//! the entries and the snapshot they were read in, from one statement, so a
//! position still being written shows as a gap until its writer finishes.

use oms_inventory::store::Store;
use sqlx::{Connection as _, PgConnection};

use crate::helpers::*;

/// Writes a count of 5 units of `sku` (first entry of its row) at the
/// ledger's next position, on `conn`.
async fn entry(conn: &mut PgConnection, sku: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO stock_movements (sequence, sku, location_id, kind, on_hand_before,
             on_hand_after, reserved_before, reserved_after, safety_stock_before,
             safety_stock_after, actor_kind, actor_id)
         VALUES (nextval('stock_ledger_sequence'), $1, 'wh-1', 1, 0, 5, 0, 0, 0, 0, 2, 'ops')
         RETURNING sequence",
    )
    .bind(sku)
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_tail_shows_a_position_still_being_written_as_a_gap_until_its_writer_ends() {
    let inventory = TestInventory::start().await;
    let store = Store::new(inventory.db.pool().await);
    let start = store.latest_position().await.unwrap();

    let empty = store.tail(start, 10).await.unwrap();
    assert!(empty.rows.is_empty());
    assert!(
        store.snapshot_settled(&empty.snapshot).await.unwrap(),
        "nothing was being written: {}",
        empty.snapshot
    );

    let url = inventory.db.config().options.clone();
    let mut slow = PgConnection::connect_with(&url).await.unwrap();
    let mut writing = slow.begin().await.unwrap();
    let first = entry(&mut writing, "slow").await;
    let mut quick = PgConnection::connect_with(&url).await.unwrap();
    let second = entry(&mut quick, "quick").await;
    assert_eq!((first, second), (start + 1, start + 2));

    let gap = store.tail(start, 10).await.unwrap();
    let seen: Vec<i64> = gap.rows.iter().map(|row| row.movement.sequence).collect();
    assert_eq!(seen, [second], "only the committed entry shows");
    assert!(
        !store.snapshot_settled(&gap.snapshot).await.unwrap(),
        "the writer of the gap was running in the read's snapshot"
    );

    writing.commit().await.unwrap();
    assert!(store.snapshot_settled(&gap.snapshot).await.unwrap());
    let filled = store.tail(start, 10).await.unwrap();
    let seen: Vec<i64> = filled
        .rows
        .iter()
        .map(|row| row.movement.sequence)
        .collect();
    assert_eq!(seen, [first, second]);
    assert_eq!(filled.rows[0].movement.sku, "slow");
    inventory.finish().await;
}
