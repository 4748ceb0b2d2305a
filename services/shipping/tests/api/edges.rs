//! Hostile and extreme input: a NUL or a card number in a string field, ids
//! the OMS never minted, numbers, enum codes and times at their limits. Each
//! is refused with INVALID_ARGUMENT naming the field, or served; never
//! INTERNAL, never a panic, and nothing refused is bought or stored.

use oms_proto::{
    common::v1::PageRequest,
    shipping::v1::{
        CancelShipmentRequest, CreateReturnLabelRequest, CreateShipmentsRequest,
        GetShipmentRequest, ListShipmentsRequest, QuoteRatesRequest, ShipmentKey,
        TrackingEventType, cancel_shipment_request::Target,
        create_shipment_outcome::Result as Outcome,
    },
};
use oms_shipping::domain::parcel::MAX_PARCELS;
use oms_testkit::minted_id;
use prost_types::Timestamp;
use tonic::Code;

use crate::helpers::{
    TestShipping, bad_fields, create, customer, event, operator, parcel, quote, shipment, warehouse,
};

const CARD: &str = "4111111111111111";

/// Timestamps out of google.protobuf.Timestamp's range: past the years 1 to
/// 9999, or with nanos outside 0 to 999,999,999.
const OUT_OF_RANGE: [(i64, i32); 5] = [
    (i64::MIN, 0),
    (i64::MAX, 0),
    (253_402_300_800, 0),
    (-62_135_596_801, 0),
    (0, i32::MIN),
];

fn cancel(target: Target) -> CancelShipmentRequest {
    CancelShipmentRequest {
        target: Some(target),
        reason: String::new(),
        actor: Some(operator()),
    }
}

#[tokio::test]
async fn a_nul_or_a_card_number_in_a_string_field_is_refused_and_nothing_is_bought() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let mut request = shipment(&minted_id("order-1"));
    request.destination.as_mut().unwrap().recipient_name = "Ada\0".into();
    request.lines[0].description = format!("gift for card {CARD}");
    let status = client.create_shipment(request).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        ["lines[0].description", "destination.recipient_name"]
    );
    assert!(!format!("{status:?}").contains(CARD));

    let created = create(&mut client, shipment(&minted_id("order-2"))).await;
    let mut tracked = event(
        &created.tracking_number,
        "e1",
        TrackingEventType::PickedUp,
        0,
    );
    tracked.description = "left at door\0".into();
    let status = client.record_tracking_event(tracked).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["description"]);
    let status = client
        .cancel_shipment(CancelShipmentRequest {
            reason: CARD.into(),
            ..cancel(Target::ShipmentId(created.shipment_id.clone()))
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["reason"]);

    assert_eq!(app.labels_bought().await, 1);
    let read = client
        .get_shipment(GetShipmentRequest {
            shipment_id: created.shipment_id,
        })
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert!(read.events.is_empty());
    assert!(read.cancel_time.is_none());
    app.stop().await;
}

#[tokio::test]
async fn an_id_the_oms_never_minted_is_invalid_argument_and_an_unknown_one_not_found() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = create(&mut client, shipment(&minted_id("order-1"))).await;
    let upper = created.shipment_id.to_uppercase();

    for order_id in ["order-1", &minted_id("order-1").to_uppercase()] {
        let status = client
            .create_shipment(shipment(order_id))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["order_id"], "{order_id}");
    }
    let status = client
        .create_return_label(CreateReturnLabelRequest {
            return_id: "rma-1".into(),
            order_id: "order-1".into(),
            location_id: "wh-berlin".into(),
            lines: shipment("").lines,
            parcels: vec![parcel(800)],
            origin: Some(customer("10117")),
            destination: Some(warehouse()),
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["return_id", "order_id"]);
    let response = client
        .create_shipments(CreateShipmentsRequest {
            requests: vec![shipment("order-9")],
        })
        .await
        .unwrap()
        .into_inner();
    let Some(Outcome::Error(error)) = &response.outcomes[0].result else {
        panic!("a shipment for order-9: {:?}", response.outcomes[0]);
    };
    assert_eq!(error.field_paths, ["order_id"]);

    // A shipment id that is no UUID names nothing: INVALID_ARGUMENT, not
    // NOT_FOUND.
    for shipment_id in ["s1", upper.as_str()] {
        let status = client
            .get_shipment(GetShipmentRequest {
                shipment_id: shipment_id.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["shipment_id"], "{shipment_id}");
        let status = client
            .cancel_shipment(cancel(Target::ShipmentId(shipment_id.into())))
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["shipment_id"], "{shipment_id}");
    }
    let status = client
        .cancel_shipment(cancel(Target::Key(ShipmentKey {
            order_id: "order-1".into(),
            location_id: "wh-berlin".into(),
        })))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["key.order_id"]);
    let status = client
        .cancel_shipment(cancel(Target::ReturnId("rma-1".into())))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["return_id"]);
    let status = client
        .list_shipments(ListShipmentsRequest {
            order_id: "order-1".into(),
            return_id: "rma-1".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["order_id", "return_id"]);

    // Well-formed ids of nothing.
    let status = client
        .get_shipment(GetShipmentRequest {
            shipment_id: minted_id("ship-1"),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .cancel_shipment(cancel(Target::ShipmentId(minted_id("ship-1"))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(app.labels_bought().await, 1);
    app.stop().await;
}

#[tokio::test]
async fn numbers_and_enum_codes_at_their_limits_are_refused_naming_them_or_served() {
    let app = TestShipping::start().await;
    let mut client = app.client();

    // The heaviest, largest parcels, as many as a quote takes: priced, never
    // overflowed (2,147,484 started kilograms a parcel).
    let mut heaviest = quote("10117");
    heaviest.parcels = vec![parcel(i32::MAX); MAX_PARCELS];
    for parcel in &mut heaviest.parcels {
        (parcel.length_mm, parcel.width_mm, parcel.height_mm) = (i32::MAX, i32::MAX, i32::MAX);
    }
    let rates = client
        .quote_rates(heaviest.clone())
        .await
        .unwrap()
        .into_inner()
        .rates;
    let cheapest = rates[0].price.as_ref().unwrap().amount_minor;
    assert_eq!(cheapest, 50 * (495 + 60 * 2_147_484));

    let mut refused = heaviest.clone();
    refused.parcels.push(parcel(1));
    refused.parcels[0].weight_grams = i32::MIN;
    refused.parcels[1].height_mm = 0;
    refused.service_levels = vec![i32::MIN, 1, i32::MAX];
    let status = client.quote_rates(refused).await.unwrap_err();
    assert_eq!(
        bad_fields(&status),
        [
            "parcels",
            "parcels[0].weight_grams",
            "parcels[1].height_mm",
            "service_levels[0]",
            "service_levels[2]"
        ]
    );

    // The most units of a line, on the heaviest parcels: labelled and listed.
    let mut request = shipment(&minted_id("order-max"));
    request.lines[0].quantity = i32::MAX;
    request.parcels = heaviest.parcels.clone();
    let created = create(&mut client, request).await;
    assert_eq!(created.lines[0].quantity, i32::MAX);
    for (quantity, service_level, label_format) in [(i32::MIN, i32::MIN, i32::MIN), (0, 4, 3)] {
        let mut request = shipment(&minted_id("order-min"));
        request.lines[0].quantity = quantity;
        request.service_level = service_level;
        request.label_format = label_format;
        let status = client.create_shipment(request).await.unwrap_err();
        assert_eq!(
            bad_fields(&status),
            ["lines[0].quantity", "service_level", "label_format"],
            "{quantity}"
        );
    }

    for event_type in [i32::MIN, 0, 9, i32::MAX] {
        let mut tracked = event(
            &created.tracking_number,
            "e1",
            TrackingEventType::PickedUp,
            0,
        );
        tracked.event_type = event_type;
        let status = client.record_tracking_event(tracked).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["event_type"], "{event_type}");
    }

    for (statuses, direction, page_size) in [
        (vec![i32::MIN], i32::MIN, i32::MIN),
        (vec![i32::MAX], i32::MAX, i32::MAX),
    ] {
        let status = client
            .list_shipments(ListShipmentsRequest {
                statuses,
                direction,
                page: Some(PageRequest {
                    page_size,
                    page_token: String::new(),
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(
            bad_fields(&status),
            ["statuses[0]", "direction", "page.page_size"],
            "{direction}"
        );
    }
    assert_eq!(app.labels_bought().await, 1);
    app.stop().await;
}

#[tokio::test]
async fn times_at_their_limits_are_refused_naming_them_or_served() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = create(&mut client, shipment(&minted_id("order-1"))).await;
    for (seconds, nanos) in OUT_OF_RANGE {
        let time = Some(Timestamp { seconds, nanos });
        let status = client
            .quote_rates(QuoteRatesRequest {
                ship_time: time,
                ..quote("10117")
            })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&status), ["ship_time"], "{seconds} {nanos}");
        let mut tracked = event(
            &created.tracking_number,
            "e1",
            TrackingEventType::PickedUp,
            0,
        );
        tracked.event_time = time;
        let status = client.record_tracking_event(tracked).await.unwrap_err();
        assert_eq!(bad_fields(&status), ["event_time"], "{seconds} {nanos}");
    }

    // Handed over on the last day there is: promised that day, not after it.
    let last = Timestamp {
        seconds: 253_402_300_799,
        nanos: 999_999_999,
    };
    let rates = client
        .quote_rates(QuoteRatesRequest {
            ship_time: Some(last),
            ..quote("10117")
        })
        .await
        .unwrap()
        .into_inner()
        .rates;
    for rate in rates {
        assert_eq!(
            rate.promised_delivery_time.unwrap().seconds,
            253_402_300_799
        );
    }
    // A carrier's event from the first instant there is: kept and applied.
    let mut first = event(
        &created.tracking_number,
        "e1",
        TrackingEventType::PickedUp,
        0,
    );
    first.event_time = Some(Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    });
    let recorded = client
        .record_tracking_event(first)
        .await
        .unwrap()
        .into_inner();
    assert!(recorded.applied);
    let shipment = recorded.shipment.unwrap();
    assert_eq!(shipment.pickup_time.unwrap().seconds, -62_135_596_800);
    app.stop().await;
}
