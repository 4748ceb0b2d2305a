//! Reserve decided in groups: many orders of one stock row at once, each with
//! its own answer, reservation and ledger entry; all-or-nothing across lines;
//! idempotent; a sold-out row refused cheaply but never while stock remains.

use sqlx::PgPool;
use tonic::Code;

use crate::helpers::*;

/// The reservation of the order the test calls `order`: its id and state.
async fn reservation_of(pool: &PgPool, order: &str) -> Option<(uuid::Uuid, String)> {
    sqlx::query_as("SELECT reservation_id, state FROM reservations WHERE order_id = $1")
        .bind(id(order))
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// The RESERVE ledger entries of the order the test calls `order`, as
/// (sku, units held by the entry).
async fn reserve_entries(pool: &PgPool, order: &str) -> Vec<(String, i32)> {
    sqlx::query_as(
        "SELECT sku, reserved_after - reserved_before FROM stock_movements
         WHERE reference_id = $1 AND kind = 5 ORDER BY sku",
    )
    .bind(id(order))
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn many_reserves_of_one_sku_at_once_hold_exactly_the_stock_each_with_its_reservation_and_ledger_entry()
 {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("hot", "wh-1", 40).await;

    let calls = (0..160).map(|index| {
        let mut client = inventory.client();
        async move {
            let order = format!("order-{index}");
            let outcome = reserve(&mut client, &order, vec![line("hot", "wh-1", 1)]).await;
            (order, outcome)
        }
    });
    let outcomes = join_all(calls).await;

    let pool = inventory.db.pool().await;
    let mut held = 0;
    for (order, outcome) in &outcomes {
        match outcome {
            Ok(response) => {
                held += 1;
                let answered = response.reservation.as_ref().unwrap();
                let (stored, state) = reservation_of(&pool, order).await.expect("a reservation");
                assert_eq!(answered.reservation_id, stored.to_string());
                assert_eq!(state, "held");
                assert_eq!(answered.lines.len(), 1);
                assert_eq!(reserve_entries(&pool, order).await, vec![("hot".into(), 1)]);
            }
            Err(refused) => {
                assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
                assert_eq!(reason(refused), "INSUFFICIENT_STOCK");
                assert_eq!(metadata(refused, "available"), "0");
                assert_eq!(reservation_of(&pool, order).await, None);
                assert!(reserve_entries(&pool, order).await.is_empty());
            }
        }
    }
    assert_eq!(held, 40);
    // Some transaction held more than one order: the orders were grouped.
    let transactions: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT xmin::text) FROM stock_movements WHERE sku = 'hot' AND kind = 5",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        transactions < 40,
        "{transactions} transactions held 40 orders"
    );
    pool.close().await;
    let availability = inventory.availability("hot", None).await;
    assert_eq!((availability.reserved, availability.available), (40, 0));
    inventory.finish().await;
}

#[tokio::test]
async fn reserves_of_many_skus_at_once_share_transactions_and_hold_each_order_whole_or_not_at_all()
{
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let skus: Vec<String> = (0..30).map(|index| format!("sku-{index:02}")).collect();
    for sku in &skus {
        inventory.set_stock(sku, "wh-1", 2).await;
    }

    // Three single-line orders for each SKU (stock 2), and thirty orders of
    // two SKUs that land in different queues as often as in the same one.
    let orders: Vec<(String, Vec<String>)> = (0..120)
        .map(|index| {
            let wanted = if index < 90 {
                vec![skus[index % 30].clone()]
            } else {
                vec![skus[index % 30].clone(), skus[(index * 7 + 3) % 30].clone()]
            };
            (format!("order-{index}"), wanted)
        })
        .filter(|(_, wanted)| wanted.len() == 1 || wanted[0] != wanted[1])
        .collect();
    let calls = orders.iter().cloned().map(|(order, wanted)| {
        let mut client = inventory.client();
        async move {
            let lines = wanted.iter().map(|sku| line(sku, "wh-1", 1)).collect();
            reserve(&mut client, &order, lines).await
        }
    });
    let outcomes = join_all(calls).await;

    let pool = inventory.db.pool().await;
    let mut held_orders = 0;
    let mut held_units = std::collections::HashMap::<&str, i32>::new();
    for ((order, wanted), outcome) in orders.iter().zip(&outcomes) {
        let mut entries = reserve_entries(&pool, order).await;
        entries.sort();
        match outcome {
            Ok(_) => {
                held_orders += 1;
                let mut expected: Vec<(String, i32)> =
                    wanted.iter().map(|sku| (sku.clone(), 1)).collect();
                expected.sort();
                assert_eq!(entries, expected, "{order} holds every line");
                for sku in wanted {
                    *held_units.entry(sku).or_default() += 1;
                }
            }
            Err(refused) => {
                assert_eq!(reason(refused), "INSUFFICIENT_STOCK", "{refused:?}");
                assert_eq!(reservation_of(&pool, order).await, None);
                assert!(entries.is_empty(), "{order} holds nothing");
            }
        }
    }
    // Every SKU had more single-line orders than units, so each sold out, and
    // never beyond its stock.
    for sku in &skus {
        assert_eq!(held_units.get(sku.as_str()), Some(&2), "{sku}");
    }
    check_invariants(&pool).await;
    // Some transaction held single-line orders of different SKUs: orders of
    // different rows were grouped, not only those of one row.
    let single: Vec<String> = orders
        .iter()
        .filter(|(_, wanted)| wanted.len() == 1)
        .map(|(order, _)| id(order))
        .collect();
    let mixed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
             SELECT xmin::text FROM stock_movements WHERE kind = 5 AND reference_id = ANY($1)
             GROUP BY xmin::text HAVING count(DISTINCT sku) > 1
         ) t",
    )
    .bind(&single)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(mixed > 0, "every transaction held one SKU only");
    assert!(held_orders >= 30);
    pool.close().await;
    inventory.finish().await;
}

#[tokio::test]
async fn a_multi_line_order_with_one_sold_out_line_holds_nothing_in_its_group() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    // "a-hot" sorts first, so every order below waits in the queue of its row.
    inventory.set_stock("a-hot", "wh-1", 40).await;
    inventory.set_stock("z-gone", "wh-1", 1).await;
    reserve(
        &mut inventory.client(),
        "first",
        vec![line("z-gone", "wh-1", 1)],
    )
    .await
    .unwrap();

    let calls = (0..40).map(|index| {
        let mut client = inventory.client();
        async move {
            let both = index % 4 == 0;
            let lines = if both {
                vec![line("a-hot", "wh-1", 1), line("z-gone", "wh-1", 1)]
            } else {
                vec![line("a-hot", "wh-1", 1)]
            };
            let order = format!("order-{index}");
            let outcome = reserve(&mut client, &order, lines).await;
            (order, both, outcome)
        }
    });
    let outcomes = join_all(calls).await;

    let pool = inventory.db.pool().await;
    for (order, both, outcome) in &outcomes {
        if *both {
            let refused = outcome
                .as_ref()
                .expect_err("the sold-out line refuses the order");
            assert_eq!(reason(refused), "INSUFFICIENT_STOCK");
            assert_eq!(metadata(refused, "sku"), "z-gone");
            assert_eq!(metadata(refused, "available"), "0");
            assert_eq!(reservation_of(&pool, order).await, None);
            assert!(reserve_entries(&pool, order).await.is_empty());
        }
    }
    let singles_held = outcomes
        .iter()
        .filter(|(_, both, outcome)| !both && outcome.is_ok())
        .count();
    assert_eq!(singles_held, 30);
    pool.close().await;
    assert_eq!(inventory.availability("a-hot", None).await.reserved, 30);
    assert_eq!(inventory.availability("z-gone", None).await.reserved, 1);
    inventory.finish().await;
}

#[tokio::test]
async fn the_same_order_sent_many_times_at_once_is_reserved_once() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("hot", "wh-1", 30).await;

    let calls = (0..40).map(|index| {
        let mut client = inventory.client();
        async move {
            let order = if index % 2 == 0 {
                "twice".to_owned()
            } else {
                format!("order-{index}")
            };
            reserve(&mut client, &order, vec![line("hot", "wh-1", 1)]).await
        }
    });
    let outcomes = join_all(calls).await;

    let pool = inventory.db.pool().await;
    let (stored, _) = reservation_of(&pool, "twice").await.expect("a reservation");
    for outcome in outcomes.iter().step_by(2) {
        let reservation = outcome.as_ref().unwrap().reservation.clone().unwrap();
        assert_eq!(reservation.reservation_id, stored.to_string());
    }
    assert_eq!(
        reserve_entries(&pool, "twice").await,
        vec![("hot".into(), 1)]
    );
    pool.close().await;
    assert!(outcomes.iter().all(Result::is_ok));
    // 20 answers for one reservation, and one each for the 20 other orders.
    assert_eq!(inventory.availability("hot", None).await.available, 9);
    inventory.finish().await;
}

#[tokio::test]
async fn a_sold_out_sku_is_held_again_as_soon_as_another_instance_returns_a_unit() {
    let mut inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("hot", "wh-1", 5).await;
    let other = inventory.another_instance().await;
    let calls = (0..20).map(|index| {
        let mut client = inventory.client();
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
    let held: Vec<usize> = (0..20).filter(|index| outcomes[*index].is_ok()).collect();
    assert_eq!(held.len(), 5);
    let refused = reserve(
        &mut inventory.client(),
        "late",
        vec![line("hot", "wh-1", 1)],
    )
    .await
    .expect_err("sold out");
    assert_eq!(reason(&refused), "INSUFFICIENT_STOCK");

    // A retry of a held order gets its reservation back, sold out or not.
    let first = format!("order-{}", held[0]);
    let retried = reserve(
        &mut inventory.client(),
        &first,
        vec![line("hot", "wh-1", 1)],
    )
    .await
    .expect("the first reservation");
    assert_eq!(
        retried.reservation.unwrap().reservation_id,
        outcomes[held[0]]
            .as_ref()
            .unwrap()
            .reservation
            .as_ref()
            .unwrap()
            .reservation_id
    );

    // Another instance returns a unit while Redis has lost everything: the
    // first instance holds it on the very next call.
    inventory.redis.flush().await;
    other
        .clone()
        .release(oms_proto::inventory::v1::ReleaseRequest {
            order_id: id(&first),
            reason: "customer cancelled".into(),
            actor: Some(operator()),
        })
        .await
        .unwrap();
    reserve(
        &mut inventory.client(),
        "after",
        vec![line("hot", "wh-1", 1)],
    )
    .await
    .expect("the returned unit");
    inventory.finish().await;
}

/// The plan cache mode of the session `executor` runs on, and whether it
/// may scan a table whole where an index can serve.
async fn planner_settings<'e>(executor: impl sqlx::PgExecutor<'e>) -> (String, String) {
    sqlx::query_as("SELECT current_setting('plan_cache_mode'), current_setting('enable_seqscan')")
        .fetch_one(executor)
        .await
        .unwrap()
}

#[tokio::test]
async fn grouped_reserves_run_on_generic_plans_by_index_and_the_other_statements_do_not() {
    use std::time::Duration;

    use oms_inventory::store::{self, Store};

    let inventory = TestInventory::start().await;
    let config = inventory.db.config();
    // One connection, so the last check reads the one the groups ran on.
    let main = oms_platform::db::pool_options(1, config.acquire_timeout, Duration::ZERO)
        .connect_with(config.options.clone())
        .await
        .unwrap();
    let group = store::group_pool(&config).await.unwrap();

    // The sold-out read runs on the group pool's own connections.
    assert_eq!(
        planner_settings(&group).await,
        ("force_generic_plan".into(), "off".into())
    );
    // A group's transaction, on the group pool and, where a store has none,
    // on the main pool.
    for store in [
        Store::new(main.clone()).with_group_pool(group.clone()),
        Store::new(main.clone()),
    ] {
        let mut connection = store.group_connection().await.unwrap();
        let mut tx = Store::begin_group(&mut connection).await.unwrap();
        assert_eq!(
            planner_settings(&mut *tx).await,
            ("force_generic_plan".into(), "off".into())
        );
        tx.commit().await.unwrap();
    }
    // The setting of a group on the main pool ended with its transaction.
    let mut connection = main.acquire().await.unwrap();
    assert_eq!(
        planner_settings(&mut *connection).await,
        ("auto".into(), "on".into())
    );
}

#[tokio::test]
async fn the_group_pool_opens_its_connections_before_a_group_asks_for_one() {
    use oms_inventory::{group_commit::SHARDS, store};

    let inventory = TestInventory::start().await;
    let group = store::group_pool(&inventory.db.config()).await.unwrap();
    let wanted = 2 * SHARDS;
    assert_eq!(group.size(), u32::try_from(wanted).unwrap());
    assert_eq!(group.num_idle(), wanted);
    // Each is ready for a group: session set, the sold-out read and the
    // statement of a group held whole planned already.
    let mut connections = Vec::new();
    for _ in 0..wanted {
        connections.push(group.acquire().await.unwrap());
    }
    for connection in &mut connections {
        assert_eq!(
            planner_settings(&mut **connection).await,
            ("force_generic_plan".into(), "off".into())
        );
        let planned: (i64, i64) = sqlx::query_as(
            // (The patterns are built so that this query does not match them.)
            "SELECT count(*) FILTER (WHERE statement LIKE '%inventory' || '_lock_stock($6%'),
                 count(*) FILTER (WHERE statement LIKE '%order_id = ' || 'ANY($3%')
             FROM pg_prepared_statements WHERE generic_plans > 0",
        )
        .fetch_one(&mut **connection)
        .await
        .unwrap();
        assert_eq!(planned, (1, 1));
    }
}

/// A line of a request to the store, for the tests that call it directly.
fn store_line(sku: &str, location_id: &str, units: i32) -> oms_inventory::domain::ReservationLine {
    use oms_inventory::domain::{LocationId, Quantity, Sku};
    oms_inventory::domain::ReservationLine {
        sku: Sku::parse(sku).unwrap(),
        location_id: LocationId::parse(location_id).unwrap(),
        quantity: Quantity::new(units).unwrap(),
    }
}

/// Stock rows as (sku, reserved), and the number of ledger entries.
async fn stock_and_entries(pool: &PgPool) -> (Vec<(String, i32)>, i64) {
    let rows = sqlx::query_as("SELECT sku, reserved FROM stock ORDER BY sku")
        .fetch_all(pool)
        .await
        .unwrap();
    let entries = sqlx::query_scalar("SELECT count(*) FROM stock_movements")
        .fetch_one(pool)
        .await
        .unwrap();
    (rows, entries)
}

#[tokio::test]
async fn a_group_held_whole_holds_every_order_it_claims_or_writes_nothing() {
    use std::time::Duration;

    use oms_inventory::{
        domain::{Actor, OrderId},
        store::{Store, reservations::NewReservation},
    };

    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    put_location(&mut inventory.client(), "wh-off", false).await;
    inventory.set_stock("a", "wh-1", 10).await;
    inventory.set_stock("b", "wh-1", 3).await;
    inventory.set_stock("c", "wh-off", 5).await;
    let pool = inventory.db.pool().await;
    let store = Store::new(pool.clone());
    let actor = Actor::new(operator().kind, &operator().id).unwrap();
    let orders: Vec<(OrderId, Vec<oms_inventory::domain::ReservationLine>)> = [
        ("o-1", vec![store_line("a", "wh-1", 2)]),
        (
            "o-2",
            vec![store_line("a", "wh-1", 3), store_line("b", "wh-1", 1)],
        ),
        ("o-3", vec![store_line("b", "wh-1", 2)]),
        ("o-4", vec![store_line("a", "wh-1", 6)]),
        ("o-5", vec![store_line("a", "wh-1", 1)]),
        ("o-6", vec![store_line("c", "wh-off", 1)]),
        ("o-7", vec![store_line("d", "wh-1", 1)]),
    ]
    .into_iter()
    .map(|(order, lines)| (OrderId::parse(&id(order)).unwrap(), lines))
    .collect();
    let request = |index: usize| {
        let (order_id, lines) = &orders[index];
        (
            uuid::Uuid::now_v7(),
            NewReservation {
                order_id,
                lines,
                ttl: Duration::from_secs(600),
                channel: None,
                actor: &actor,
            },
        )
    };
    let mut connection = store.group_connection().await.unwrap();
    let mut hold = async |indexes: &[usize], check_rows: bool| {
        let requests: Vec<_> = indexes.iter().map(|index| request(*index)).collect();
        let holding: Vec<_> = requests
            .iter()
            .map(|(id, request)| (*id, request))
            .collect();
        Store::hold_all(&mut connection, &holding, check_rows)
            .await
            .unwrap()
    };

    // Three orders that fit: all held, each row's entries chained in order.
    let held = hold(&[0, 1, 2], true).await.expect("every order fits");
    assert_eq!(held.claims.len(), 3);
    let mut free = held.free.clone();
    free.sort();
    assert_eq!(
        free,
        vec![
            ("a".into(), "wh-1".into(), 5),
            ("b".into(), "wh-1".into(), 0)
        ]
    );
    let entries: Vec<(String, String, i32, i32)> = sqlx::query_as(
        "SELECT sku, reference_id, reserved_before, reserved_after FROM stock_movements
         WHERE kind = 5 ORDER BY sku, sequence",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        entries,
        vec![
            ("a".into(), id("o-1"), 0, 2),
            ("a".into(), id("o-2"), 2, 5),
            ("b".into(), id("o-2"), 0, 1),
            ("b".into(), id("o-3"), 1, 3),
        ]
    );
    let before = stock_and_entries(&pool).await;
    assert_eq!(
        before.0,
        vec![("a".into(), 5), ("b".into(), 3), ("c".into(), 0)]
    );

    // Nothing is written when one order does not fit (6 of a, 5 free), or
    // names a row at an inactive location or one that does not exist: not
    // even the others' claims.
    // Checked before the claims or under the locks, the same.
    for check_rows in [true, false] {
        for group in [&[4, 3][..], &[4, 5], &[4, 6]] {
            assert!(
                hold(group, check_rows).await.is_none(),
                "group {group:?} held"
            );
            assert_eq!(stock_and_entries(&pool).await, before, "group {group:?}");
            assert_eq!(reservation_of(&pool, "o-5").await, None, "group {group:?}");
        }
    }
    // An order that has a reservation, or is earlier in the group, is not
    // claimed and changes nothing; the others are held.
    let held = hold(&[4, 0, 4], true).await.expect("o-5 fits");
    assert_eq!(held.claims.len(), 1);
    let (stored, state) = reservation_of(&pool, "o-5").await.expect("o-5 held");
    assert!(held.claims.contains_key(&stored));
    assert_eq!(state, "held");
    let after = stock_and_entries(&pool).await;
    assert_eq!(after.0[0], ("a".into(), 6));
    assert_eq!(after.1, before.1 + 1);
    let none = hold(&[0, 1], true).await.expect("nothing to hold");
    assert!(none.claims.is_empty());
    assert_eq!(stock_and_entries(&pool).await, after);
    drop(connection);
    pool.close().await;
    inventory.finish().await;
}

#[tokio::test]
async fn an_instance_that_guesses_too_much_stock_still_holds_only_what_is_free() {
    let mut inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("hot", "wh-1", 10).await;
    let mut other = inventory.another_instance().await;
    // The first instance last saw 9 units free; the other takes 8 of them.
    reserve(
        &mut inventory.client(),
        "first",
        vec![line("hot", "wh-1", 1)],
    )
    .await
    .unwrap();
    reserve(&mut other, "big", vec![line("hot", "wh-1", 8)])
        .await
        .unwrap();

    let calls = (0..6).map(|index| {
        let mut client = inventory.client();
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
    let held = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(held, 1, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(reason(refused), "INSUFFICIENT_STOCK", "{refused:?}");
    }
    assert_eq!(inventory.availability("hot", None).await.available, 0);
    inventory.finish().await;
}

#[tokio::test]
async fn a_group_held_whole_that_waits_for_a_rows_lock_decides_on_what_the_holder_committed() {
    use std::time::Duration;

    use oms_inventory::{
        domain::{Actor, OrderId},
        store::{Store, group::rows_of, reservations::NewReservation},
    };

    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("a", "wh-1", 5).await;
    let pool = inventory.db.pool().await;
    let store = Store::new(inventory.db.pool().await);
    let actor = Actor::new(operator().kind, &operator().id).unwrap();
    let ids: Vec<OrderId> = ["first", "second", "third"]
        .iter()
        .map(|order| OrderId::parse(&id(order)).unwrap())
        .collect();
    let three = vec![store_line("a", "wh-1", 3)];
    let two = vec![store_line("a", "wh-1", 2)];
    let request = |order: usize, lines| NewReservation {
        order_id: &ids[order],
        lines,
        ttl: Duration::from_secs(600),
        channel: None,
        actor: &actor,
    };

    // Another writer holds the row's lock and takes 3 of the 5 units.
    let first = request(0, &three);
    let first = [(uuid::Uuid::now_v7(), &first)];
    let mut tx = pool.begin().await.unwrap();
    let (claims, locked) = Store::claim_and_lock(&mut tx, &first, &rows_of([three.as_slice()]))
        .await
        .unwrap();
    assert_eq!((claims.len(), locked[0].reserved), (1, 0));
    Store::write_group(&mut tx, &locked, &first, &[])
        .await
        .unwrap();

    // A group asking 3 more waits for the lock, having claimed its order;
    // the writer commits once it does.
    let second = request(1, &three);
    let mut connection = store.group_connection().await.unwrap();
    let hold_second = async {
        let second = [(uuid::Uuid::now_v7(), &second)];
        Store::hold_all(&mut connection, &second, false)
            .await
            .unwrap()
            .is_some()
    };
    let commit_first = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let blocked: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            if blocked > 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the group never waited"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.commit().await.unwrap();
    };
    let (held_second, ()) = tokio::join!(hold_second, commit_first);
    drop(connection);

    // It decides on the committed row (2 free), not the one it first saw (5).
    assert!(!held_second, "the group held 3 of 2 free units");
    assert_eq!(reservation_of(&pool, "second").await, None);
    let third = request(2, &two);
    let mut connection = store.group_connection().await.unwrap();
    let held = Store::hold_all(&mut connection, &[(uuid::Uuid::now_v7(), &third)], false)
        .await
        .unwrap()
        .expect("2 of 2 free units fit");
    assert_eq!(held.free, vec![("a".into(), "wh-1".into(), 0)]);
    assert_eq!(stock_and_entries(&pool).await.0, vec![("a".into(), 5)]);
    drop(connection);
    pool.close().await;
    inventory.finish().await;
}
