//! A property of the whole service: any interleaving of Reserve, Release,
//! expiry and CommitReservation on one SKU, sent to two instances on one
//! database at once, ends with on hand, held and available consistent with
//! the ledger, and nothing held beyond what is on hand.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use oms_proto::inventory::v1::{CommitReservationRequest, ReleaseRequest};
use oms_testkit::poll_until;
use proptest::{
    prelude::*,
    test_runner::{Config as ProptestConfig, TestRunner},
};
use sqlx::PgPool;

use crate::helpers::*;

/// One call on the SKU, for one of a few orders.
#[derive(Debug, Clone)]
enum Op {
    Reserve {
        order: u8,
        units: i32,
    },
    Release {
        order: u8,
    },
    Commit {
        order: u8,
    },
    /// The hold's time passes: the sweep (or a commit) expires it.
    Expire {
        order: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..6_u8, 1..4_i32).prop_map(|(order, units)| Op::Reserve { order, units }),
        1 => (0..6_u8).prop_map(|order| Op::Release { order }),
        1 => (0..6_u8).prop_map(|order| Op::Commit { order }),
        1 => (0..6_u8).prop_map(|order| Op::Expire { order }),
    ]
}

/// Sends every op at once, each to the instance it names, and waits for all.
async fn interleave(clients: [Client; 2], pool: &PgPool, sku: &str, ops: Vec<(Op, bool)>) {
    let calls = ops.into_iter().map(|(op, second)| {
        let mut client = clients[usize::from(second)].clone();
        let pool = pool.clone();
        let sku = sku.to_owned();
        async move {
            let order = |order: u8| format!("{sku}-order-{order}");
            match op {
                Op::Reserve { order: o, units } => {
                    let _ = reserve(&mut client, &order(o), vec![line(&sku, "wh-1", units)]).await;
                }
                Op::Release { order: o } => {
                    let _ = client
                        .release(ReleaseRequest {
                            order_id: id(&order(o)),
                            reason: "changed mind".into(),
                            actor: Some(operator()),
                        })
                        .await;
                }
                Op::Commit { order: o } => {
                    let _ = client
                        .commit_reservation(CommitReservationRequest {
                            order_id: id(&order(o)),
                            actor: Some(saga()),
                            reacquire_if_expired: false,
                        })
                        .await;
                }
                Op::Expire { order: o } => {
                    sqlx::query(
                        "UPDATE reservations SET expire_time = now() - interval '1 second'
                         WHERE order_id = $1 AND state = 'held'",
                    )
                    .bind(id(&order(o)))
                    .execute(&pool)
                    .await
                    .unwrap();
                }
            }
        }
    });
    join_all(calls).await;
}

/// The SKU's figures agree with its ledger, its reservations and both
/// instances' answers.
async fn check_consistent(
    inventory: &TestInventory,
    other: &Client,
    pool: &PgPool,
    sku: &str,
    stock: i32,
) {
    poll_until(
        "every past-due hold expired",
        Duration::from_secs(20),
        || async {
            let due: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM reservations WHERE state = 'held' AND expire_time <= now()",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            (due == 0).then_some(())
        },
    )
    .await;
    check_invariants(pool).await;

    let (on_hand, reserved): (i32, i32) =
        sqlx::query_as("SELECT on_hand, reserved FROM stock WHERE sku = $1")
            .bind(sku)
            .fetch_one(pool)
            .await
            .unwrap();
    let (ledger_on_hand, ledger_reserved): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(on_hand_after - on_hand_before), 0),
             coalesce(sum(reserved_after - reserved_before), 0)
         FROM stock_movements WHERE sku = $1",
    )
    .bind(sku)
    .fetch_one(pool)
    .await
    .unwrap();
    let (held, committed): (i64, i64) = sqlx::query_as(
        "SELECT coalesce(sum(l.quantity) FILTER (WHERE r.state = 'held'), 0),
             coalesce(sum(l.quantity) FILTER (WHERE r.state = 'committed'), 0)
         FROM reservation_lines l JOIN reservations r USING (reservation_id)
         WHERE l.sku = $1",
    )
    .bind(sku)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        i64::from(on_hand),
        ledger_on_hand,
        "on hand is the ledger's sum"
    );
    assert_eq!(
        i64::from(reserved),
        ledger_reserved,
        "reserved is the ledger's sum"
    );
    assert_eq!(
        i64::from(reserved),
        held,
        "reserved is what held reservations hold"
    );
    assert_eq!(
        i64::from(on_hand),
        i64::from(stock) - committed,
        "on hand is the count less what was committed"
    );
    assert!(reserved <= on_hand, "held {reserved} of {on_hand} on hand");

    for client in [inventory.client(), other.clone()] {
        poll_until(
            "both instances report the ledger's figures",
            Duration::from_secs(20),
            || {
                let mut client = client.clone();
                async move {
                    let seen = client
                        .get_availability(oms_proto::inventory::v1::GetAvailabilityRequest {
                            skus: vec![sku.into()],
                            ..Default::default()
                        })
                        .await
                        .unwrap()
                        .into_inner()
                        .skus
                        .remove(0);
                    (seen.on_hand, seen.reserved, seen.available)
                        .eq(&(on_hand, reserved, on_hand - reserved))
                        .then_some(())
                }
            },
        )
        .await;
    }
}

#[test]
fn any_interleaving_on_two_instances_ends_consistent_with_the_ledger() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (inventory, other, pool) = runtime.block_on(async {
        let mut inventory = TestInventory::start().await;
        inventory.location("wh-1").await;
        let other = inventory.another_instance().await;
        let pool = inventory.db.pool().await;
        (inventory, other, pool)
    });
    let cases = AtomicUsize::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (
        0..8_i32,
        prop::collection::vec((op(), any::<bool>()), 1..30),
    );
    runner
        .run(&strategy, |(stock, ops)| {
            // Each case, shrunk ones too, on a SKU of its own.
            let sku = format!("sku-{}", cases.fetch_add(1, Ordering::Relaxed));
            runtime.block_on(async {
                inventory.set_stock(&sku, "wh-1", stock).await;
                interleave([inventory.client(), other.clone()], &pool, &sku, ops).await;
                check_consistent(&inventory, &other, &pool, &sku, stock).await;
            });
            Ok(())
        })
        .unwrap();
    runtime.block_on(async {
        pool.close().await;
        inventory.finish().await;
    });
}
