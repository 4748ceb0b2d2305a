//! CreateShipment: the tracking number, a printable label that shows it, the
//! packing slip, idempotency per (order, location), and bad input.

use oms_proto::{
    common::v1::ServiceLevel,
    shipping::v1::{DocumentFormat, GetShipmentRequest, ShipmentStatus},
};
use tonic::Code;

use crate::{
    helpers::{TestShipping, bad_fields, customer, metadata, parcel, reason, shipment},
    pdf,
};
use oms_testkit::minted_id;

#[tokio::test]
async fn a_shipment_gets_a_tracking_number_a_pdf_label_showing_it_and_a_packing_slip() {
    let app = TestShipping::start().await;
    let created = app
        .client()
        .create_shipment(shipment(&minted_id("order-1")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();

    assert_eq!(created.status, ShipmentStatus::LabelCreated as i32);
    assert!(
        created.tracking_number.starts_with("SIM"),
        "{}",
        created.tracking_number
    );
    assert_eq!(created.carrier, "simulator");
    assert_eq!(created.price.as_ref().unwrap().amount_minor, 615);

    let whole = created.clone();
    let label = created.label.unwrap();
    assert_eq!(label.format, DocumentFormat::Pdf as i32);
    assert_eq!(
        label.file_name,
        format!("label-{}.pdf", created.tracking_number)
    );
    assert!(label.content.starts_with(b"%PDF-"));
    let text = pdf::text(&label.content);
    assert!(text.contains(&created.tracking_number), "{text:?}");
    assert!(text.contains("Ada Lovelace"), "{text:?}");
    assert_eq!(pdf::barcode(&label.content), created.tracking_number);

    let slip = pdf::text(&created.packing_slip.unwrap().content);
    assert!(slip.contains("  2  TEE-M  T-shirt, size M"), "{slip:?}");
    assert!(slip.contains("  1  CAP  CAP"), "{slip:?}");
    assert!(slip.contains(&created.tracking_number));

    // What GetShipment returns is what was created.
    let read = app
        .client()
        .get_shipment(GetShipmentRequest {
            shipment_id: created.shipment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(read, whole);
    app.stop().await;
}

#[tokio::test]
async fn a_zpl_label_prints_the_tracking_number_as_text_and_barcode() {
    let app = TestShipping::start().await;
    let mut request = shipment(&minted_id("order-zpl"));
    request.label_format = DocumentFormat::Zpl as i32;
    let created = app
        .client()
        .create_shipment(request)
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let label = created.label.unwrap();
    let zpl = String::from_utf8(label.content).unwrap();
    assert!(zpl.starts_with("^XA"));
    assert_eq!(
        zpl.matches(&format!("^FD{}^FS", created.tracking_number))
            .count(),
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn a_retry_returns_the_same_shipment_and_another_request_for_the_key_conflicts() {
    let app = TestShipping::start().await;
    let first = app
        .client()
        .create_shipment(shipment(&minted_id("order-2")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let again = app
        .client()
        .create_shipment(shipment(&minted_id("order-2")))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(again.shipment_id, first.shipment_id);
    assert_eq!(again.tracking_number, first.tracking_number);
    assert_eq!(app.labels_bought().await, 1);

    let mut other = shipment(&minted_id("order-2"));
    other.parcels = vec![parcel(900), parcel(800)];
    let status = app.client().create_shipment(other).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(reason(&status), "NATURAL_KEY_CONFLICT");
    assert_eq!(metadata(&status, "order_id"), minted_id("order-2"));
    assert_eq!(metadata(&status, "location_id"), "wh-berlin");
    app.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_by_field_and_nothing_is_bought() {
    let app = TestShipping::start().await;
    let mut request = shipment(&minted_id("order-3"));
    request.lines.clear();
    request.parcels = vec![parcel(0)];
    request.service_level = 42;
    request.actor = None;
    let status = app.client().create_shipment(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["lines", "parcels[0].weight_grams", "service_level", "actor"]
    );

    let mut request = shipment(&minted_id("order-3"));
    request.parcels.clear();
    request.destination.as_mut().unwrap().city.clear();
    let status = app.client().create_shipment(request).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["parcels", "destination.city"]);
    assert_eq!(app.labels_bought().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn carrier_refusals_are_failed_preconditions_with_their_reason() {
    let app = TestShipping::start().await;
    let mut rejected = shipment(&minted_id("order-4"));
    rejected.destination = Some(customer("00000"));
    let status = app.client().create_shipment(rejected).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ADDRESS_REJECTED");
    assert_eq!(metadata(&status, "detail"), "unknown postal code");

    let mut far_same_day = shipment(&minted_id("order-5"));
    far_same_day.service_level = ServiceLevel::SameDay as i32;
    far_same_day.destination = Some(customer("80331"));
    let status = app
        .client()
        .create_shipment(far_same_day)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "SERVICE_LEVEL_UNAVAILABLE");
    assert_eq!(metadata(&status, "service_level"), "SERVICE_LEVEL_SAME_DAY");

    let mut unknown_carrier = shipment(&minted_id("order-6"));
    unknown_carrier.carrier = "pigeon".into();
    let status = app
        .client()
        .create_shipment(unknown_carrier)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(app.labels_bought().await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_caller_that_omits_the_documents_gets_the_same_shipment_without_their_content() {
    let app = TestShipping::start().await;
    let order_id = minted_id("order-lean");
    let mut lean = shipment(&order_id);
    lean.omit_documents = true;
    let created = app
        .client()
        .create_shipment(lean)
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();

    let label = created.label.as_ref().unwrap();
    assert!(label.content.is_empty());
    assert_eq!(
        label.file_name,
        format!("label-{}.pdf", created.tracking_number)
    );
    let slip = created.packing_slip.as_ref().unwrap();
    assert!(slip.content.is_empty());
    // The same request with the documents: the same shipment, with them.
    let full = app
        .client()
        .create_shipment(shipment(&order_id))
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(full.shipment_id, created.shipment_id);
    assert!(full.label.as_ref().unwrap().content.starts_with(b"%PDF-"));
    assert!(!full.packing_slip.as_ref().unwrap().content.is_empty());
    let without_content = |mut shipment: oms_proto::shipping::v1::Shipment| {
        for document in [&mut shipment.label, &mut shipment.packing_slip]
            .into_iter()
            .flatten()
        {
            document.content.clear();
        }
        shipment
    };
    assert_eq!(without_content(full), created);
    app.stop().await;
}
