//! Limits that must agree: what shipping takes from carriers and callers, it
//! hands on to the order service (MarkStatus), the returns service
//! (MarkReturnInTransit) and, through the return saga, RecordReturnLabel. Each
//! pair is tried at shipping's largest value, which the receiver must take,
//! and one past it, which shipping refuses.

use std::{sync::Arc, time::Duration};

use oms_proto::{
    common::v1::ActorKind,
    order::v1::OrderStatus,
    returns::v1::GetReturnRequest,
    shipping::v1::{ListShipmentsRequest, TrackingEventType},
};
use oms_shipping::{
    carrier::{
        BoughtLabel, Carrier, CarrierError, CarrierRate, CarrierSimulator, LabelRequest,
        MAX_CARRIER_CODE, MAX_CARRIER_EVENT_ID, MAX_TRACKING_NUMBER, Route, SimulatorConfig,
    },
    domain::parcel::Parcel,
    test_util,
};
use oms_testkit::{ReservedPort, TestDatabase, client_config, minted_id};
use tokio_util::sync::CancellationToken;
use tonic::Code;

use crate::helpers::{TestShipping, bad_fields, create, event, reason, shipment};

/// The simulator under a code and tracking numbers stretched to a length.
struct Stretched {
    simulator: Arc<CarrierSimulator>,
    code: String,
    tracking_number_len: usize,
}

impl Stretched {
    fn new(simulator: Arc<CarrierSimulator>, code_len: usize, tracking_number_len: usize) -> Self {
        Stretched {
            simulator,
            code: format!("{:c<code_len$}", "sim-"),
            tracking_number_len,
        }
    }
}

#[tonic::async_trait]
impl Carrier for Stretched {
    fn code(&self) -> &str {
        &self.code
    }

    async fn rates(
        &self,
        route: &Route,
        parcels: &[Parcel],
        ship_time: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<CarrierRate>, CarrierError> {
        self.simulator.rates(route, parcels, ship_time).await
    }

    async fn buy_label(&self, request: &LabelRequest) -> Result<BoughtLabel, CarrierError> {
        let mut label = self.simulator.buy_label(request).await?;
        label.tracking_number = format!(
            "{:X<width$}",
            label.tracking_number,
            width = self.tracking_number_len
        );
        Ok(label)
    }

    async fn void_label(&self, tracking_number: &str) -> Result<(), CarrierError> {
        // The simulator's numbers are "SIM" and digits: the padding comes off.
        let sold = tracking_number.trim_end_matches('X');
        self.simulator.void_label(sold).await
    }
}

/// A carrier at shipping's limits: a code and tracking numbers as long as
/// shipping takes them.
fn longest(simulator: Arc<CarrierSimulator>) -> Arc<dyn Carrier> {
    Arc::new(Stretched::new(
        simulator,
        MAX_CARRIER_CODE,
        MAX_TRACKING_NUMBER,
    ))
}

/// A carrier selling tracking numbers one byte longer than shipping takes.
fn too_long_tracking_numbers(simulator: Arc<CarrierSimulator>) -> Arc<dyn Carrier> {
    Arc::new(Stretched::new(
        simulator,
        MAX_CARRIER_CODE,
        MAX_TRACKING_NUMBER + 1,
    ))
}

/// MarkStatus event ids are "shipment:<uuid>:<carrier event id>": the longest
/// carrier event id shipping takes moves the order, a longer one is refused.
#[tokio::test]
async fn the_longest_carrier_event_id_reaches_the_order_and_a_longer_one_is_refused() {
    let app = TestShipping::start().await;
    let mut client = app.client();
    let order_id = app.placed_order("web-long-event").await;
    let created = create(&mut client, shipment(&order_id)).await;
    let longest = "e".repeat(MAX_CARRIER_EVENT_ID);
    let picked_up = event(
        &created.tracking_number,
        &longest,
        TrackingEventType::PickedUp,
        0,
    );
    let recorded = client.record_tracking_event(picked_up).await.unwrap();
    assert!(recorded.into_inner().applied);
    app.order_in(&order_id, OrderStatus::Shipped).await;

    let longer = "e".repeat(MAX_CARRIER_EVENT_ID + 1);
    let status = client
        .record_tracking_event(event(
            &created.tracking_number,
            &longer,
            TrackingEventType::InTransit,
            10,
        ))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["carrier_event_id"]);
    app.stop().await;
}

/// MarkStatus names the carrier as its actor and the shipment by carrier and
/// tracking number: the longest ones shipping takes reach the order.
#[tokio::test]
async fn the_longest_carrier_code_and_tracking_number_reach_the_order() {
    let app = TestShipping::start_buying_from(longest).await;
    let mut client = app.client();
    let order_id = app.placed_order("web-long-carrier").await;
    let created = create(&mut client, shipment(&order_id)).await;
    assert_eq!(created.carrier.len(), MAX_CARRIER_CODE);
    assert_eq!(created.tracking_number.len(), MAX_TRACKING_NUMBER);
    let mut picked_up = event(
        &created.tracking_number,
        "p1",
        TrackingEventType::PickedUp,
        0,
    );
    picked_up.carrier = created.carrier.clone();
    client.record_tracking_event(picked_up).await.unwrap();

    let order = app.order_in(&order_id, OrderStatus::Shipped).await;
    let reported = &order.shipments[0];
    assert_eq!(reported.carrier, created.carrier);
    assert_eq!(reported.tracking_number, created.tracking_number);
    app.stop().await;
}

/// The return saga hands the label shipping sold on to RecordReturnLabel:
/// the longest carrier code and tracking number are recorded as sold.
#[tokio::test]
async fn the_longest_carrier_code_and_tracking_number_are_recorded_on_the_return() {
    let app = TestShipping::start_with_returns_buying_from(longest).await;
    let (return_id, label) = app.labelled_return("web-r").await;
    let rma = app
        .returns()
        .get_return(GetReturnRequest { return_id })
        .await
        .unwrap()
        .into_inner()
        .rma
        .unwrap();
    let recorded = rma.label.unwrap();
    assert_eq!(recorded.shipment_id, label.shipment_id);
    assert_eq!(recorded.carrier.len(), MAX_CARRIER_CODE);
    assert_eq!(recorded.tracking_number.len(), MAX_TRACKING_NUMBER);
    app.stop().await;
}

/// MarkReturnInTransit names the carrier as its actor and the pickup's event
/// time: the longest code and the earliest time shipping takes put the return
/// in transit.
#[tokio::test]
async fn the_longest_carrier_code_and_the_earliest_event_time_put_the_return_in_transit() {
    let app = TestShipping::start_with_returns_buying_from(longest).await;
    let (return_id, label) = app.labelled_return("web-r").await;
    let mut picked_up = event(&label.tracking_number, "r1", TrackingEventType::PickedUp, 0);
    picked_up.carrier = label.carrier.clone();
    // 0001-01-01T00:00:00Z, the first instant a timestamp may hold.
    picked_up.event_time = Some(prost_types::Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    });
    let recorded = app
        .client()
        .record_tracking_event(picked_up.clone())
        .await
        .unwrap();
    assert!(recorded.into_inner().applied);

    let rma = app.in_transit(&return_id).await;
    let entry = rma.timeline.last().unwrap();
    assert_eq!(entry.time, picked_up.event_time);
    let actor = entry.actor.as_ref().unwrap();
    assert_eq!(actor.kind, ActorKind::Carrier as i32);
    assert_eq!(actor.id, label.carrier);
    app.stop().await;
}

/// One past each limit, shipping refuses: a caller's carrier code or tracking
/// number, a label whose tracking number is too long (the carrier's answer is
/// unusable: nothing is stored), and a carrier whose code is too long (the
/// service does not start).
#[tokio::test]
async fn carrier_codes_and_tracking_numbers_past_the_limits_are_refused() {
    let app = TestShipping::start_buying_from(too_long_tracking_numbers).await;
    let mut client = app.client();
    let mut request = shipment(&minted_id("order-1"));
    request.carrier = "c".repeat(MAX_CARRIER_CODE + 1);
    let status = client.create_shipment(request).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["carrier"]);

    let mut tracked = event("SIM1", "e1", TrackingEventType::PickedUp, 0);
    tracked.carrier = "c".repeat(MAX_CARRIER_CODE + 1);
    tracked.tracking_number = "X".repeat(MAX_TRACKING_NUMBER + 1);
    let status = client.record_tracking_event(tracked).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["carrier", "tracking_number"]);

    let status = client
        .create_shipment(shipment(&minted_id("order-2")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(reason(&status), "PROVIDER_UNAVAILABLE");
    let listed = client
        .list_shipments(ListShipmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.shipments.is_empty());
    app.stop().await;

    let database = TestDatabase::create().await;
    let config = test_util::config(database.config(), client_config());
    let simulator = Arc::new(CarrierSimulator::connect(
        &config.database,
        SimulatorConfig::default(),
    ));
    let carrier = Arc::new(Stretched::new(simulator, MAX_CARRIER_CODE + 1, 15));
    let run = oms_shipping::run_with_carrier(
        config,
        carrier,
        ReservedPort::new().listen(),
        CancellationToken::new(),
    );
    let refused = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("refused at once, not served");
    assert!(refused.is_err());
}
