//! The stock ledger: counts, adjustments, transfers, restocks, safety stock,
//! thresholds, channel views and the ledger itself.

use oms_proto::{
    common::v1::ChannelKind,
    inventory::v1::{
        AdjustStockRequest, AdjustmentReason, ChannelAvailabilityPolicy, ListLowStockRequest,
        ListStockMovementsRequest, PutChannelAvailabilityPolicyRequest, SetSafetyStockRequest,
        SetStockRequest, SetStockThresholdRequest, StockMovementKind, TransferLine,
        TransferStockRequest,
    },
};
use tonic::{Code, Request};

use crate::helpers::*;

fn adjust(sku: &str, delta: i32, reason: AdjustmentReason) -> AdjustStockRequest {
    AdjustStockRequest {
        sku: sku.into(),
        location_id: "wh-1".into(),
        delta,
        reason: reason as i32,
        actor: Some(operator()),
        reference_id: "po-77".into(),
        note: String::new(),
    }
}

#[tokio::test]
async fn a_count_is_recorded_once_per_key_and_a_reused_key_is_refused() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let mut client = inventory.client();
    let count = |on_hand| SetStockRequest {
        sku: "tee-m".into(),
        location_id: "wh-1".into(),
        on_hand,
        actor: Some(operator()),
        note: "cycle count".into(),
    };

    let first = client
        .set_stock(keyed(count(7), "count-1"))
        .await
        .unwrap()
        .into_inner();
    let retry = client
        .set_stock(keyed(count(7), "count-1"))
        .await
        .unwrap()
        .into_inner();
    let reused = client
        .set_stock(keyed(count(8), "count-1"))
        .await
        .unwrap_err();
    let unkeyed = client.set_stock(Request::new(count(7))).await.unwrap_err();

    assert_eq!(first, retry);
    assert_eq!(first.stock.unwrap().on_hand, 7);
    let movement = first.movement.unwrap();
    assert_eq!(movement.kind, StockMovementKind::Count as i32);
    assert_eq!((movement.on_hand_before, movement.on_hand_after), (0, 7));
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    assert_eq!(bad_fields(&unkeyed), ["idempotency-key"]);
    let ledger = client
        .list_stock_movements(ListStockMovementsRequest {
            sku: "tee-m".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ledger.movements.len(), 1);
    inventory.finish().await;
}

#[tokio::test]
async fn adjustments_keep_the_sign_of_their_reason_and_never_go_below_zero() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let mut client = inventory.client();

    client
        .adjust_stock(keyed(adjust("tee-m", 5, AdjustmentReason::Receipt), "a1"))
        .await
        .unwrap();
    let damaged = client
        .adjust_stock(keyed(adjust("tee-m", -2, AdjustmentReason::Damage), "a2"))
        .await
        .unwrap()
        .into_inner();
    let wrong_sign = client
        .adjust_stock(keyed(adjust("tee-m", 2, AdjustmentReason::Damage), "a3"))
        .await
        .unwrap_err();
    let too_many = client
        .adjust_stock(keyed(adjust("tee-m", -4, AdjustmentReason::Loss), "a4"))
        .await
        .unwrap_err();
    let unknown = client
        .adjust_stock(keyed(adjust("hat", -1, AdjustmentReason::Loss), "a5"))
        .await
        .unwrap_err();

    assert_eq!(damaged.stock.unwrap().on_hand, 3);
    assert_eq!(damaged.movement.unwrap().reference_id, "po-77");
    assert_eq!(bad_fields(&wrong_sign), ["delta"]);
    assert_eq!(reason(&too_many), "INSUFFICIENT_STOCK");
    assert_eq!(metadata(&too_many, "available"), "3");
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(inventory.availability("tee-m", None).await.on_hand, 3);
    inventory.finish().await;
}

#[tokio::test]
async fn a_transfer_moves_every_line_or_none_and_never_moves_held_units() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("wh-2").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    inventory.set_stock("cap", "wh-1", 2).await;
    reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("cap", "wh-1", 1)],
    )
    .await
    .unwrap();
    let mut client = inventory.client();
    let transfer = |cap| TransferStockRequest {
        from_location_id: "wh-1".into(),
        to_location_id: "wh-2".into(),
        lines: vec![
            TransferLine {
                sku: "tee-m".into(),
                quantity: 3,
            },
            TransferLine {
                sku: "cap".into(),
                quantity: cap,
            },
        ],
        actor: Some(operator()),
        note: String::new(),
    };

    let refused = client
        .transfer_stock(keyed(transfer(2), "t1"))
        .await
        .unwrap_err();
    let moved = client
        .transfer_stock(keyed(transfer(1), "t2"))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(reason(&refused), "INSUFFICIENT_STOCK");
    assert_eq!(metadata(&refused, "sku"), "cap");
    let sides: Vec<_> = moved
        .stock
        .iter()
        .map(|s| (s.sku.as_str(), s.location_id.as_str(), s.on_hand))
        .collect();
    assert_eq!(
        sides,
        [
            ("tee-m", "wh-1", 2),
            ("tee-m", "wh-2", 3),
            ("cap", "wh-1", 1),
            ("cap", "wh-2", 1)
        ]
    );
    let kinds: Vec<_> = moved.movements.iter().map(|m| m.kind).collect();
    let (out, into) = (
        StockMovementKind::TransferOut as i32,
        StockMovementKind::TransferIn as i32,
    );
    assert_eq!(kinds, [out, into, out, into]);
    assert!(
        moved
            .movements
            .iter()
            .all(|m| m.reference_id == moved.transfer_id)
    );
    let same = client
        .transfer_stock(keyed(
            TransferStockRequest {
                to_location_id: "wh-1".into(),
                ..transfer(1)
            },
            "t3",
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&same), ["to_location_id"]);
    inventory.finish().await;
}

#[tokio::test]
async fn a_restock_line_is_applied_once_per_key() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 1).await;
    let mut client = inventory.client();
    let restock = |quantity| returned(&id("rma-1"), "tee-m", "wh-1", quantity);

    let first = client.restock(restock(2)).await.unwrap().into_inner();
    let again = client.restock(restock(2)).await.unwrap().into_inner();
    let changed = client.restock(restock(3)).await.unwrap_err();

    assert_eq!(first.stock[0].on_hand, 3);
    assert_eq!(again.movements, first.movements);
    // A natural key (source, source_id, line_id) reused with another request.
    assert_eq!(changed.code(), tonic::Code::AlreadyExists);
    assert_eq!(reason(&changed), "NATURAL_KEY_CONFLICT");
    assert_eq!(metadata(&changed, "line_id"), "tee-m");
    assert_eq!(inventory.availability("tee-m", None).await.on_hand, 3);
    inventory.finish().await;
}

#[tokio::test]
async fn channels_see_sellable_stock_at_their_locations_less_their_buffer() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("store-1").await;
    inventory.set_stock("tee-m", "wh-1", 10).await;
    inventory.set_stock("tee-m", "store-1", 4).await;
    let mut client = inventory.client();
    client
        .set_safety_stock(SetSafetyStockRequest {
            sku: "tee-m".into(),
            location_id: "wh-1".into(),
            safety_stock: 2,
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let amazon = channel(ChannelKind::Marketplace, "amazon-de");
    client
        .put_channel_availability_policy(PutChannelAvailabilityPolicyRequest {
            policy: Some(ChannelAvailabilityPolicy {
                channel: Some(amazon.clone()),
                safety_buffer: 3,
                location_ids: vec!["wh-1".into()],
                ..Default::default()
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap();

    let web = inventory
        .availability("tee-m", Some(channel(ChannelKind::Web, "")))
        .await;
    let marketplace = inventory.availability("tee-m", Some(amazon)).await;

    assert_eq!((web.available, web.sellable), (14, 12));
    assert_eq!(web.channel.unwrap().available, 12);
    let view = marketplace.channel.unwrap();
    assert_eq!(
        (view.available, view.location_ids),
        (5, vec!["wh-1".to_owned()])
    );
    let unknown = inventory.availability("never-stocked", None).await;
    assert!(!unknown.stocked);
    inventory.finish().await;
}

#[tokio::test]
async fn low_stock_lists_what_is_at_or_under_its_threshold_furthest_under_first() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let mut client = inventory.client();
    for (sku, on_hand, threshold) in [("a", 5, 2), ("b", 1, 3), ("c", 3, 3), ("d", 0, 0)] {
        inventory.set_stock(sku, "wh-1", on_hand).await;
        client
            .set_stock_threshold(SetStockThresholdRequest {
                sku: sku.into(),
                location_id: "wh-1".into(),
                threshold,
                actor: Some(operator()),
            })
            .await
            .unwrap();
    }

    let low = client
        .list_low_stock(ListLowStockRequest::default())
        .await
        .unwrap()
        .into_inner();

    let skus: Vec<_> = low.stock.iter().map(|s| s.sku.as_str()).collect();
    assert_eq!(skus, ["b", "c"]);
    assert!(low.stock.iter().all(|s| s.low_stock));
    inventory.finish().await;
}

#[tokio::test]
async fn quantities_that_would_overflow_on_hand_are_refused() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", i32::MAX - 1).await;
    let mut client = inventory.client();

    let past_max = client
        .adjust_stock(keyed(adjust("tee-m", 2, AdjustmentReason::Receipt), "o1"))
        .await
        .unwrap_err();
    let min = client
        .adjust_stock(keyed(
            adjust("tee-m", i32::MIN, AdjustmentReason::Loss),
            "o2",
        ))
        .await
        .unwrap_err();

    assert_eq!(bad_fields(&past_max), ["quantity"]);
    assert_eq!(bad_fields(&min), ["delta"]);
    assert_eq!(
        inventory.availability("tee-m", None).await.on_hand,
        i32::MAX - 1
    );
    inventory.finish().await;
}

#[tokio::test]
async fn stock_keys_sort_byte_wise_whatever_the_database_locale() {
    // Writers lock stock rows in (sku, location_id) order both in SQL and in
    // Rust; the two orders agree only under the "C" collation.
    let inventory = TestInventory::start().await;
    let pool = inventory.db.pool().await;
    let collations: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, collation_name::text
         FROM information_schema.columns
         WHERE column_name IN ('sku', 'location_id')
           AND table_name IN ('stock', 'reservation_lines', 'locations')
         ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;

    assert_eq!(collations.len(), 5);
    for (table, column, collation) in collations {
        assert_eq!(collation.as_deref(), Some("C"), "{table}.{column}");
    }
    inventory.finish().await;
}

#[tokio::test]
async fn a_channel_without_a_policy_gets_the_default_and_policies_are_listed_by_kind() {
    use oms_proto::inventory::v1::{
        GetChannelAvailabilityPolicyRequest, ListChannelAvailabilityPoliciesRequest,
    };
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let mut client = inventory.client();
    for (kind, name, buffer) in [
        (ChannelKind::Marketplace, "zalando", 1),
        (ChannelKind::Marketplace, "amazon-de", 2),
        (ChannelKind::Web, "", 0),
    ] {
        client
            .put_channel_availability_policy(PutChannelAvailabilityPolicyRequest {
                policy: Some(ChannelAvailabilityPolicy {
                    channel: Some(channel(kind, name)),
                    safety_buffer: buffer,
                    ..Default::default()
                }),
                actor: Some(operator()),
            })
            .await
            .unwrap();
    }

    let default = client
        .get_channel_availability_policy(GetChannelAvailabilityPolicyRequest {
            channel: Some(channel(ChannelKind::App, "")),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    let marketplaces = client
        .list_channel_availability_policies(ListChannelAvailabilityPoliciesRequest {
            channel_kind: ChannelKind::Marketplace as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let unknown_location = client
        .put_channel_availability_policy(PutChannelAvailabilityPolicyRequest {
            policy: Some(ChannelAvailabilityPolicy {
                channel: Some(channel(ChannelKind::Web, "")),
                location_ids: vec!["wh-9".into()],
                ..Default::default()
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap_err();

    assert!(!default.configured);
    assert_eq!(default.safety_buffer, 0);
    let names: Vec<_> = marketplaces
        .policies
        .iter()
        .map(|policy| {
            (
                policy.channel.as_ref().unwrap().name.as_str(),
                policy.safety_buffer,
                policy.configured,
            )
        })
        .collect();
    assert_eq!(names, [("amazon-de", 2, true), ("zalando", 1, true)]);
    assert_eq!(unknown_location.code(), Code::NotFound);
    inventory.finish().await;
}
