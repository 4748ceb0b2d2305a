//! GetOrder reads the order whole in one statement: every part of it comes
//! back as written, in its order, with its times to the microsecond.

use oms_proto::order::v1::{
    AddNoteRequest, LineQuantity, MarkStatusRequest, OrderStatus, ShipmentRef,
};
use prost_types::Timestamp;
use tonic::Request;

use crate::helpers::*;

#[tokio::test]
async fn an_order_reads_back_whole_lines_shipments_notes_and_timeline() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let placed = placed(&mut client, "web-read").await;
    let fact =
        |event_id: &str, status: OrderStatus, shipments: Vec<ShipmentRef>| MarkStatusRequest {
            order_id: placed.order_id.clone(),
            event_id: event_id.into(),
            status: status as i32,
            shipments,
            actor: Some(saga()),
            ..Default::default()
        };
    client
        .mark_status(fact("confirmed", OrderStatus::Confirmed, vec![]))
        .await
        .unwrap();
    // A time with microseconds, as Postgres keeps it.
    let ship_time = Timestamp {
        seconds: 1_796_000_000,
        nanos: 123_456_000,
    };
    let shipment = ShipmentRef {
        shipment_id: minted("ship-1"),
        location_id: "wh-1".into(),
        carrier: "sim-express".into(),
        tracking_number: "SIM123".into(),
        lines: placed
            .lines
            .iter()
            .map(|line| LineQuantity {
                line_id: line.line_id.clone(),
                sku: String::new(),
                quantity: line.quantity,
            })
            .collect(),
        ship_time: Some(ship_time),
        ..Default::default()
    };
    let shipped = client
        .mark_status(fact(
            "shipped",
            OrderStatus::Shipped,
            vec![shipment.clone()],
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    for (text, key) in [("first note", "n-1"), ("second note", "n-2")] {
        let mut request = Request::new(AddNoteRequest {
            order_id: placed.order_id.clone(),
            text: text.into(),
            actor: Some(operator()),
        });
        request
            .metadata_mut()
            .insert("idempotency-key", key.parse().unwrap());
        client.add_note(request).await.unwrap();
    }

    let order = get(&mut client, &placed.order_id).await;

    assert_eq!(order.status, OrderStatus::Shipped as i32);
    assert_eq!(order.lines.len(), placed.lines.len());
    for (read, written) in order.lines.iter().zip(&placed.lines) {
        assert_eq!(
            (&read.line_id, &read.sku, read.quantity, &read.unit_price),
            (
                &written.line_id,
                &written.sku,
                written.quantity,
                &written.unit_price
            )
        );
        assert_eq!(read.shipped_quantity, written.quantity);
    }
    assert_eq!(order.shipments.len(), 1);
    let read = &order.shipments[0];
    assert_eq!(
        (
            &read.shipment_id,
            &read.location_id,
            &read.carrier,
            &read.tracking_number
        ),
        (
            &shipment.shipment_id,
            &shipment.location_id,
            &shipment.carrier,
            &shipment.tracking_number
        )
    );
    // Shipped now, as the service records it; the same as MarkStatus answered.
    assert!(read.ship_time.is_some());
    assert_eq!(order.shipments, shipped.shipments);
    assert_eq!(read.lines.len(), placed.lines.len());
    assert_eq!(read.lines[0].quantity, placed.lines[0].quantity);
    let notes: Vec<&str> = order.notes.iter().map(|note| note.text.as_str()).collect();
    let mut expected: Vec<&str> = placed.notes.iter().map(|note| note.text.as_str()).collect();
    expected.extend(["first note", "second note"]);
    assert_eq!(notes, expected);
    assert_eq!(order.notes.last().unwrap().actor, Some(operator()));
    // The timeline as the last change answered it, and the two notes after.
    assert_eq!(order.timeline.len(), shipped.timeline.len() + 2);
    for (read, answered) in order.timeline.iter().zip(&shipped.timeline) {
        assert_eq!(read, answered);
    }
    let recorded: Vec<_> = order
        .timeline
        .iter()
        .map(|event| {
            let time = event.record_time.unwrap();
            (time.seconds, time.nanos)
        })
        .collect();
    assert!(recorded.is_sorted(), "{recorded:?}");
    orders.stop().await;
}

#[tokio::test]
async fn facts_at_the_ends_of_the_timestamp_range_read_back_exactly() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z.
    let ends = [
        Timestamp {
            seconds: -62_135_596_800,
            nanos: 0,
        },
        Timestamp {
            seconds: 253_402_300_799,
            nanos: 999_999_000,
        },
    ];
    for (index, time) in ends.into_iter().enumerate() {
        let placed = placed(&mut client, &format!("web-end-{index}")).await;
        client
            .mark_status(MarkStatusRequest {
                order_id: placed.order_id.clone(),
                event_id: "confirmed".into(),
                status: OrderStatus::Confirmed as i32,
                event_time: Some(time),
                actor: Some(saga()),
                ..Default::default()
            })
            .await
            .unwrap();

        let order = get(&mut client, &placed.order_id).await;
        let times: Vec<Timestamp> = order
            .timeline
            .iter()
            .filter_map(|event| event.event_time)
            .collect();
        assert!(times.contains(&time), "{time:?} in {times:?}");
    }
    orders.stop().await;
}
