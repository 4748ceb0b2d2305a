//! QuoteRates: one rate per service level, cheapest first, same day only in
//! range, and bad input refused by field.

use oms_proto::common::v1::ServiceLevel;
use tonic::Code;

use crate::helpers::{TestShipping, bad_fields, metadata, parcel, quote, reason};

#[tokio::test]
async fn a_quote_within_the_postal_region_offers_every_level_cheapest_first() {
    let app = TestShipping::start().await;
    let mut request = quote("10117");
    request.ship_time = Some(prost_types::Timestamp {
        seconds: 1_793_610_000,
        nanos: 0,
    });
    let rates = app
        .client()
        .quote_rates(request)
        .await
        .unwrap()
        .into_inner();

    assert!(rates.unavailable_carriers.is_empty());
    let levels: Vec<i32> = rates.rates.iter().map(|r| r.service_level).collect();
    assert_eq!(
        levels,
        [
            ServiceLevel::Standard as i32,
            ServiceLevel::Express as i32,
            ServiceLevel::SameDay as i32
        ]
    );
    let standard = &rates.rates[0];
    assert_eq!(standard.carrier, "simulator");
    let price = standard.price.clone().unwrap();
    // 4.95 base and 2 started kilograms at 0.60.
    assert_eq!(
        (price.amount_minor, price.currency_code.as_str()),
        (615, "EUR")
    );
    // Handed over on 2 November: standard takes three days, same day none.
    let promised = |i: usize| rates.rates[i].promised_delivery_time.unwrap().seconds;
    let end_of_nov_2 = 1_793_663_999;
    assert_eq!(promised(2), end_of_nov_2);
    assert_eq!(promised(0), end_of_nov_2 + 3 * 86_400);
    app.stop().await;
}

#[tokio::test]
async fn same_day_is_not_offered_out_of_range_and_levels_can_be_filtered() {
    let app = TestShipping::start().await;
    let far = app
        .client()
        .quote_rates(quote("80331"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(far.rates.len(), 2);
    assert!(
        far.rates
            .iter()
            .all(|rate| rate.service_level != ServiceLevel::SameDay as i32)
    );

    let mut express_only = quote("10117");
    express_only.service_levels = vec![ServiceLevel::Express as i32];
    let rates = app
        .client()
        .quote_rates(express_only)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rates.rates.len(), 1);
    assert_eq!(rates.rates[0].service_level, ServiceLevel::Express as i32);
    app.stop().await;
}

#[tokio::test]
async fn bad_parcels_and_a_missing_destination_are_refused_by_field() {
    let app = TestShipping::start().await;
    let mut request = quote("10117");
    request.parcels = vec![parcel(0)];
    request.destination = None;
    request.location_id = String::new();
    let status = app.client().quote_rates(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        bad_fields(&status),
        ["location_id", "destination", "parcels[0].weight_grams"]
    );

    let mut request = quote("10117");
    request.parcels.clear();
    let status = app.client().quote_rates(request).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["parcels"]);
    app.stop().await;
}

#[tokio::test]
async fn an_address_every_carrier_rejects_is_a_failed_precondition() {
    let app = TestShipping::start().await;
    let status = app.client().quote_rates(quote("00000")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(reason(&status), "ADDRESS_REJECTED");
    assert_eq!(metadata(&status, "carrier"), "simulator");
    app.stop().await;
}
