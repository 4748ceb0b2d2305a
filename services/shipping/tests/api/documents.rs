//! Labels and packing slips print every address in its own script and carry
//! a barcode of the tracking number a scanner reads back.

use std::path::PathBuf;

use oms_proto::{
    common::v1::Address,
    shipping::v1::{
        CreateReturnLabelRequest, ShipmentLine, shipping_service_client::ShippingServiceClient,
    },
};

use crate::{
    helpers::{TestShipping, create, operator, parcel, require_cjk_font, shipment, warehouse},
    pdf,
};
use oms_testkit::minted_id;

fn korean() -> Address {
    Address {
        recipient_name: "김민준".into(),
        lines: vec![
            "서울특별시 강남구 테헤란로 152".into(),
            "강남파이낸스센터 21층".into(),
        ],
        city: "서울".into(),
        postal_code: "06236".into(),
        country_code: "KR".into(),
        ..Default::default()
    }
}

fn german() -> Address {
    Address {
        recipient_name: "Jürgen Müller".into(),
        lines: vec!["Schloßstraße 5".into()],
        city: "Göttingen".into(),
        postal_code: "37073".into(),
        country_code: "DE".into(),
        ..Default::default()
    }
}

fn japanese() -> Address {
    Address {
        recipient_name: "山田 花子".into(),
        company: "株式会社サンプル商事".into(),
        lines: vec!["千代田区丸の内1-9-1".into()],
        city: "東京都".into(),
        postal_code: "100-0005".into(),
        country_code: "JP".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn korean_german_and_japanese_labels_read_back_with_their_text_and_barcode() {
    require_cjk_font();
    let app = TestShipping::start().await;
    let mut client = app.client();
    for (order_id, address, expected) in [
        (
            "order-kr",
            korean(),
            ["김민준", "서울특별시 강남구 테헤란로 152", "06236 서울"],
        ),
        (
            "order-de",
            german(),
            ["Jürgen Müller", "Schloßstraße 5", "37073 Göttingen"],
        ),
        (
            "order-jp",
            japanese(),
            [
                "株式会社サンプル商事",
                "千代田区丸の内1-9-1",
                "100-0005 東京都",
            ],
        ),
    ] {
        let mut request = shipment(&minted_id(order_id));
        request.destination = Some(address);
        let created = create(&mut client, request).await;
        let label = created.label.unwrap().content;
        let text = pdf::text(&label);
        for line in expected {
            assert!(text.contains(line), "{line:?} not in {text:?}");
        }
        assert!(text.contains(&created.tracking_number), "{text:?}");
        assert!(!text.contains('?'), "{text:?}");
        assert_eq!(pdf::barcode(&label), created.tracking_number);
        // Only the glyphs used are embedded: a few dozen KB, not the fonts' MB.
        assert!(label.len() < 64 * 1024, "{} bytes", label.len());

        let slip = pdf::text(&created.packing_slip.unwrap().content);
        assert!(slip.contains(expected[1]), "{slip:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_return_label_from_korea_and_its_packing_lines_print_in_korean() {
    require_cjk_font();
    let app = TestShipping::start().await;
    let mut request = shipment(&minted_id("order-1"));
    request.lines = vec![ShipmentLine {
        sku: "TEE-M".into(),
        quantity: 2,
        description: "반팔 티셔츠 (M)".into(),
    }];
    let created = create(&mut app.client(), request).await;
    let slip = pdf::text(&created.packing_slip.unwrap().content);
    assert!(slip.contains("2  TEE-M  반팔 티셔츠 (M)"), "{slip:?}");

    let label = app
        .client()
        .create_return_label(CreateReturnLabelRequest {
            return_id: minted_id("rma-kr"),
            order_id: minted_id("order-1"),
            location_id: "wh-berlin".into(),
            lines: created.lines.clone(),
            parcels: vec![parcel(800)],
            origin: Some(korean()),
            destination: Some(warehouse()),
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    let content = label.label.unwrap().content;
    let text = pdf::text(&content);
    assert!(text.contains("서울특별시 강남구 테헤란로 152"), "{text:?}");
    assert!(text.contains("OMS Warehouse Berlin"), "{text:?}");
    assert_eq!(pdf::barcode(&content), label.tracking_number);
    app.stop().await;
}

#[tokio::test]
async fn a_replica_without_the_cjk_font_serves_and_prints_korean_as_question_marks() {
    let app = TestShipping::start().await;
    let replica = app
        .start_replica_with(|config| {
            config.cjk_font = PathBuf::from("/nonexistent/NotoSansCJK-Regular.ttc");
        })
        .await;
    let mut request = shipment(&minted_id("order-kr"));
    request.destination = Some(korean());
    let created = create(&mut ShippingServiceClient::new(replica.channel()), request).await;
    let label = created.label.unwrap().content;
    let text = pdf::text(&label);
    assert!(text.contains("????? ??? ???? 152"), "{text:?}");
    assert!(text.contains("06236 ??"), "{text:?}");
    assert!(text.contains(&created.tracking_number), "{text:?}");
    assert_eq!(pdf::barcode(&label), created.tracking_number);
    replica.stop().await.expect("a clean stop");
    app.stop().await;
}

#[tokio::test]
async fn a_label_and_packing_slip_are_kept_compressed_with_lz4_and_read_back_whole() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let created = create(&mut client, shipment(&minted_id("order-lz4"))).await;
    let pool = app.service.database.pool().await;
    let expected = oms_testkit::lz4_or_default(&pool).await;
    for column in ["label", "packing_slip"] {
        let stored = oms_testkit::stored_compression(
            &pool,
            "shipments",
            column,
            "shipment_id",
            &created.shipment_id,
        )
        .await;
        assert_eq!(stored.as_deref(), Some(expected), "{column}");
    }
    let read = client
        .get_shipment(oms_proto::shipping::v1::GetShipmentRequest {
            shipment_id: created.shipment_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .shipment
        .unwrap();
    assert_eq!(read.label, created.label);
    assert_eq!(read.packing_slip, created.packing_slip);
}
