//! Hostile and extreme input: a NUL or a card number in any string field, every
//! number at its limits, ids the OMS never minted, and the largest requests
//! other services build. Each is refused with INVALID_ARGUMENT naming the field
//! (or served), never INTERNAL, never a panic, and nothing changes.

use oms_proto::{
    common::v1::PageRequest,
    inventory::v1::{
        AdjustStockRequest, AdjustmentReason, GetLocationLoadRequest, GetReservationRequest,
        ListReservationsRequest, ListStockMovementsRequest, LocationLoadQuery, ReleaseRequest,
        ReserveRequest, RestockLine, RestockRequest, RestockSource, SetSafetyStockRequest,
        SetStockRequest, SetStockThresholdRequest, TransferLine, TransferStockRequest,
        WatchAvailabilityRequest, get_reservation_request::Key,
    },
};
use prost_types::{Duration, Timestamp};
use tonic::Code;

use crate::helpers::*;

const CARD: &str = "4111 1111 1111 1111";

fn set_stock(note: &str, actor_id: &str) -> SetStockRequest {
    let mut actor = operator();
    actor.id = actor_id.into();
    SetStockRequest {
        sku: "tee-m".into(),
        location_id: "wh-1".into(),
        on_hand: 5,
        actor: Some(actor),
        note: note.into(),
    }
}

#[tokio::test]
async fn a_nul_or_a_card_number_in_a_string_field_is_refused_naming_it() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let mut client = inventory.client();

    let cases = [
        (set_stock("counted\0", "op-1"), vec!["note"]),
        (set_stock("ok", "op\0"), vec!["actor.id"]),
        (
            set_stock(&format!("card {CARD}"), CARD),
            vec!["actor.id", "note"],
        ),
    ];
    for (index, (request, fields)) in cases.into_iter().enumerate() {
        let status = client
            .set_stock(keyed(request, &format!("nul-{index}")))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), fields);
        assert!(!status.message().contains("4111"));
    }
    inventory.set_stock("tee-m", "wh-1", 5).await;
    reserve(&mut client, "order-1", vec![line("tee-m", "wh-1", 1)])
        .await
        .unwrap();
    let release = client
        .release(ReleaseRequest {
            order_id: id("order-1"),
            reason: "payment\0declined".into(),
            actor: Some(saga()),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&release), ["reason"]);
    // Reads too: a NUL in a filter never reaches Postgres.
    let read = client
        .list_stock_movements(ListStockMovementsRequest {
            reference_id: "\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&read), ["reference_id"]);

    assert_eq!(inventory.availability("tee-m", None).await.reserved, 1);
    inventory.finish().await;
}

#[tokio::test]
async fn a_ttl_at_any_extreme_is_refused_naming_it_and_holds_nothing() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    let mut client = inventory.client();
    for (seconds, nanos) in [
        (i64::MIN, 0),
        (i64::MIN, i32::MIN),
        (i64::MAX, i32::MAX),
        (-1, 0),
        (0, -1),
        (0, 0),
        (3600, 1_000_000_000),
        (7 * 24 * 3600 + 1, 0),
    ] {
        let mut request = reserve_request("order-1", vec![line("tee-m", "wh-1", 1)]);
        request.ttl = Some(Duration { seconds, nanos });
        let status = client.reserve(request).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["ttl"], "{seconds} s {nanos} ns");
    }
    let mut longest = reserve_request("order-1", vec![line("tee-m", "wh-1", 1)]);
    longest.ttl = Some(Duration {
        seconds: 7 * 24 * 3600,
        nanos: 0,
    });
    client.reserve(longest).await.unwrap();
    assert_eq!(inventory.availability("tee-m", None).await.reserved, 1);
    inventory.finish().await;
}

#[tokio::test]
async fn quantities_at_their_limits_are_refused_or_served_never_overflowed() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("wh-2").await;
    let mut client = inventory.client();
    let count = |on_hand| SetStockRequest {
        on_hand,
        ..set_stock("", "op-1")
    };
    let status = client
        .set_stock(keyed(count(i32::MIN), "min"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["on_hand"]);
    client
        .set_stock(keyed(count(i32::MAX), "max"))
        .await
        .unwrap();

    // On hand is at i32::MAX: one more unit would overflow it.
    let adjust = |delta| AdjustStockRequest {
        sku: "tee-m".into(),
        location_id: "wh-1".into(),
        delta,
        reason: AdjustmentReason::Correction as i32,
        actor: Some(operator()),
        reference_id: String::new(),
        note: String::new(),
    };
    for (key, delta) in [("plus-one", 1), ("plus-max", i32::MAX), ("min", i32::MIN)] {
        let status = client
            .adjust_stock(keyed(adjust(delta), key))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{delta}: {status:?}");
    }
    let restock = client
        .restock(returned(&id("rma-1"), "tee-m", "wh-1", i32::MAX))
        .await
        .unwrap_err();
    assert_eq!(restock.code(), Code::InvalidArgument);
    // wh-2 holds i32::MAX too: a transfer into it would overflow.
    client
        .set_stock(keyed(
            SetStockRequest {
                location_id: "wh-2".into(),
                ..count(i32::MAX)
            },
            "max-2",
        ))
        .await
        .unwrap();
    let transfer = client
        .transfer_stock(keyed(
            TransferStockRequest {
                from_location_id: "wh-1".into(),
                to_location_id: "wh-2".into(),
                lines: vec![TransferLine {
                    sku: "tee-m".into(),
                    quantity: i32::MAX,
                }],
                actor: Some(operator()),
                note: String::new(),
            },
            "transfer",
        ))
        .await
        .unwrap_err();
    assert_eq!(transfer.code(), Code::InvalidArgument);

    // Reserving everything there is, and more than there is.
    let all = reserve(
        &mut client,
        "order-1",
        vec![line("tee-m", "wh-1", i32::MAX)],
    )
    .await;
    assert!(all.is_ok(), "{all:?}");
    let more = reserve(
        &mut client,
        "order-2",
        vec![line("tee-m", "wh-2", i32::MAX), line("tee-m", "wh-1", 1)],
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&more), "INSUFFICIENT_STOCK");
    for quantity in [0, -1, i32::MIN] {
        let status = reserve(
            &mut client,
            "order-3",
            vec![line("tee-m", "wh-1", quantity)],
        )
        .await
        .unwrap_err();
        assert_eq!(bad_fields(&status), ["lines[0].quantity"]);
    }

    for value in [i32::MIN, -1] {
        let safety = client
            .set_safety_stock(SetSafetyStockRequest {
                sku: "tee-m".into(),
                location_id: "wh-1".into(),
                safety_stock: value,
                actor: Some(operator()),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&safety), ["safety_stock"]);
        let threshold = client
            .set_stock_threshold(SetStockThresholdRequest {
                sku: "tee-m".into(),
                location_id: "wh-1".into(),
                threshold: value,
                actor: Some(operator()),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&threshold), ["threshold"]);
    }
    client
        .set_safety_stock(SetSafetyStockRequest {
            sku: "tee-m".into(),
            location_id: "wh-1".into(),
            safety_stock: i32::MAX,
            actor: Some(operator()),
        })
        .await
        .unwrap();
    client
        .set_stock_threshold(SetStockThresholdRequest {
            sku: "tee-m".into(),
            location_id: "wh-1".into(),
            threshold: i32::MAX,
            actor: Some(operator()),
        })
        .await
        .unwrap();
    let level = inventory.availability("tee-m", None).await;
    assert_eq!((level.available, level.sellable), (i32::MAX, i32::MAX));
    inventory.finish().await;
}

#[tokio::test]
async fn timestamps_sequences_and_page_sizes_at_their_limits_are_refused_naming_them() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    let mut client = inventory.client();
    let extremes = [
        Timestamp {
            seconds: i64::MIN,
            nanos: 0,
        },
        Timestamp {
            seconds: i64::MAX,
            nanos: i32::MAX,
        },
        // Year 0 and year 10000: outside google.protobuf.Timestamp's range,
        // and the first one outside Postgres's too.
        Timestamp {
            seconds: -62_198_755_200,
            nanos: 0,
        },
        Timestamp {
            seconds: 253_402_300_800,
            nanos: 0,
        },
        Timestamp {
            seconds: 0,
            nanos: -1,
        },
    ];
    for time in extremes {
        let movements = client
            .list_stock_movements(ListStockMovementsRequest {
                start_time: Some(time),
                end_time: Some(time),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            bad_fields(&movements),
            ["start_time", "end_time"],
            "{time:?}"
        );
        let reservations = client
            .list_reservations(ListReservationsRequest {
                expire_before: Some(time),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&reservations), ["expire_before"]);
        let load = client
            .get_location_load(GetLocationLoadRequest {
                queries: vec![LocationLoadQuery {
                    location_id: "wh-1".into(),
                    since: Some(time),
                }],
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&load), ["queries[0].since"]);
    }
    for page_size in [i32::MIN, -1, 501, i32::MAX] {
        let status = client
            .list_reservations(ListReservationsRequest {
                page: Some(PageRequest {
                    page_size,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["page.page_size"]);
    }
    for start_after_sequence in [i64::MIN, -1, i64::MAX] {
        let status = client
            .watch_availability(WatchAvailabilityRequest {
                skus: vec!["tee-m".into()],
                start_after_sequence,
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["start_after_sequence"]);
    }
    inventory.finish().await;
}

#[tokio::test]
async fn an_id_the_oms_never_minted_is_refused_naming_it() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    let mut client = inventory.client();
    let upper = id("order-1").to_uppercase();
    for order_id in [
        "order-1",
        upper.as_str(),
        "0190f5a08d3c7b6e9f001c2d3e4f5a6b",
    ] {
        let request = ReserveRequest {
            order_id: order_id.into(),
            ..reserve_request("order-1", vec![line("tee-m", "wh-1", 1)])
        };
        let status = client.reserve(request).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["order_id"], "{order_id}");
        let status = client
            .release(ReleaseRequest {
                order_id: order_id.into(),
                reason: String::new(),
                actor: Some(saga()),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["order_id"], "{order_id}");
    }
    let by_id = client
        .get_reservation(GetReservationRequest {
            key: Some(Key::ReservationId("res-1".into())),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&by_id), ["reservation_id"]);
    let unknown = client
        .get_reservation(GetReservationRequest {
            key: Some(Key::ReservationId(id("res-1"))),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let restock = client
        .restock(returned("rma-1", "tee-m", "wh-1", 1))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&restock), ["source_id"]);
    assert_eq!(inventory.availability("tee-m", None).await.reserved, 0);
    inventory.finish().await;
}

/// The saga reserves per routing's plan: an order's 200 lines (the order
/// service's limit), each split over up to 20 locations (routing's largest
/// max_shipments). Its cancel saga restocks the same lines, with line ids
/// "<order line_id>@<location_id>" of up to 36 + 1 + 64 characters.
#[tokio::test]
async fn the_largest_plan_the_saga_sends_is_reserved_and_restocked() {
    let inventory = TestInventory::start().await;
    let locations: Vec<String> = (0..20).map(|n| format!("{n:0>62}-l")).collect();
    let skus: Vec<String> = (0..200).map(|n| format!("sku-{n}")).collect();
    for location in &locations {
        inventory.location(location).await;
    }
    let mut client = inventory.client();
    let mut lines = Vec::new();
    for sku in &skus {
        for location in &locations {
            lines.push(line(sku, location, 1));
        }
    }
    // Stock comes in as restocks of 4000 lines, each named as the saga names them.
    let restock_lines: Vec<RestockLine> = lines
        .iter()
        .map(|line| RestockLine {
            line_id: format!("{}@{}", id(&line.sku), line.location_id),
            sku: line.sku.clone(),
            location_id: line.location_id.clone(),
            quantity: 1,
        })
        .collect();
    assert!(restock_lines.iter().all(|line| line.line_id.len() == 101));
    // 4000 rows per call: on a loaded machine that takes longer than the client's
    // default deadline, which is not what this test is about.
    let mut restock = tonic::Request::new(RestockRequest {
        source: RestockSource::Cancellation as i32,
        source_id: id("order-0"),
        lines: restock_lines,
        actor: Some(saga()),
        note: String::new(),
    });
    restock.set_timeout(std::time::Duration::from_secs(60));
    client.restock(restock).await.unwrap();
    let mut request = tonic::Request::new(reserve_request("order-1", lines));
    request.set_timeout(std::time::Duration::from_secs(60));
    let reserved = client
        .reserve(request)
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    assert_eq!(reserved.lines.len(), 4000);
    assert_eq!(inventory.availability("sku-7", None).await.reserved, 20);
    inventory.finish().await;
}
