//! The data a storm's valid request needs, made through the services' own
//! RPCs: locations with stock, placed and delivered orders, reservations,
//! payments, shipments and returns at each step of their life. Every helper
//! makes new ids, so storms never share what they change.

use oms_e2e::Suite;
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, Channel, ChannelKind, GeoPoint, LineItem, Money},
    inventory::v1::{
        Location, LocationKind, PutLocationRequest, ReservationLine, ReserveRequest,
        SetStockRequest,
    },
    order::v1::{LineQuantity, MarkStatusRequest, Order, OrderStatus, ShipmentRef},
    payment::v1::{AuthorizeRequest, CaptureRequest, Payment},
    returns::v1::{
        ApproveReturnRequest, InspectReturnRequest, LineInspection, MarkReturnInTransitRequest,
        ReceiveReturnRequest, RecordReturnLabelRequest, RequestReturnRequest, Return, ReturnLabel,
        ReturnLineRequest, ReturnReason, ReturnResolution,
    },
    shipping::v1::{CreateShipmentRequest, Parcel, Shipment, ShipmentLine},
};
use tonic::{IntoRequest as _, Request};

/// The warehouse every order ships from and returns go back to.
pub const WAREHOUSE: &str = "wh-berlin";
/// A second location, for transfers.
pub const STORE: &str = "store-mitte";

/// A fresh id with `prefix`, e.g. `storm-3f2a9c01`.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &id[..12])
}

/// A fresh SKU, e.g. `STORM-3F2A9C01BEEF`.
pub fn sku() -> String {
    unique("STORM").to_uppercase()
}

/// `message` with the `idempotency-key` metadata.
pub fn keyed<T>(message: T) -> Request<T> {
    let mut request = message.into_request();
    let key = unique("seed");
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().expect("an ASCII key"));
    request
}

/// An operator of the merchant.
pub fn operator() -> Option<Actor> {
    Some(Actor {
        kind: ActorKind::Operator as i32,
        id: "op-7".into(),
    })
}

/// The saga coordinator, as internal callers are.
pub fn saga() -> Option<Actor> {
    Some(Actor {
        kind: ActorKind::Saga as i32,
        id: "saga-1".into(),
    })
}

/// `amount_minor` euro cents.
pub fn eur(amount_minor: i64) -> Option<Money> {
    oms_order::test_util::eur(amount_minor)
}

/// A marketplace channel of its own, so that policies do not collide.
pub fn marketplace() -> Option<Channel> {
    Some(Channel {
        kind: ChannelKind::Marketplace as i32,
        name: unique("market"),
    })
}

/// The warehouse's address, with its position.
pub fn warehouse_address() -> Address {
    Address {
        company: "OMS Warehouse Berlin".into(),
        lines: vec!["Lagerstrasse 1".into()],
        city: "Berlin".into(),
        postal_code: "10115".into(),
        country_code: "DE".into(),
        geo: Some(GeoPoint {
            latitude: 52.53,
            longitude: 13.38,
        }),
        ..Default::default()
    }
}

/// A customer's address in Berlin.
pub fn customer_address() -> Address {
    Address {
        recipient_name: "Ada Lovelace".into(),
        lines: vec!["Unter den Linden 77".into()],
        city: "Berlin".into(),
        postal_code: "10117".into(),
        country_code: "DE".into(),
        phone: "+49 30 1234567".into(),
        ..Default::default()
    }
}

/// PutLocation's request for an active warehouse `location_id`.
pub fn location(location_id: &str) -> PutLocationRequest {
    PutLocationRequest {
        location: Some(Location {
            location_id: location_id.into(),
            name: location_id.into(),
            kind: LocationKind::Warehouse as i32,
            address: Some(warehouse_address()),
            ships_to_customers: true,
            active: true,
            ..Default::default()
        }),
        actor: operator(),
    }
}

/// What every storm's data stands on: [`WAREHOUSE`] and [`STORE`].
pub async fn plant(suite: &Suite) {
    for location_id in [WAREHOUSE, STORE] {
        suite
            .inventory()
            .put_location(location(location_id))
            .await
            .expect("the seed locations are stored");
    }
}

/// `on_hand` units of a new SKU at [`WAREHOUSE`]; returns the SKU.
pub async fn stocked(suite: &Suite, on_hand: i32) -> String {
    let sku = sku();
    suite
        .inventory()
        .set_stock(keyed(SetStockRequest {
            sku: sku.clone(),
            location_id: WAREHOUSE.into(),
            on_hand,
            actor: operator(),
            note: String::new(),
        }))
        .await
        .expect("stock is set");
    sku
}

/// A held reservation of 2 units of a new SKU (10 on hand) for a new order:
/// (order id, sku).
pub async fn reservation(suite: &Suite) -> (String, String) {
    let sku = stocked(suite, 10).await;
    let order_id = uuid::Uuid::now_v7().to_string();
    suite
        .inventory()
        .reserve(reserve_request(&order_id, &sku))
        .await
        .expect("the reservation is held");
    (order_id, sku)
}

/// Reserve's request: 2 units of `sku` at [`WAREHOUSE`] for `order_id`,
/// held for 10 minutes.
pub fn reserve_request(order_id: &str, sku: &str) -> ReserveRequest {
    ReserveRequest {
        order_id: order_id.into(),
        lines: vec![ReservationLine {
            sku: sku.into(),
            location_id: WAREHOUSE.into(),
            quantity: 2,
        }],
        ttl: Some(prost_types::Duration {
            seconds: 600,
            nanos: 0,
        }),
        channel: None,
        actor: saga(),
    }
}

/// A PENDING web order (the sample order: TEE-M × 2, CAP × 1) with a new
/// external reference, `tags` on it.
pub async fn order_with_tags(suite: &Suite, tags: &[&str]) -> Order {
    let mut request = oms_order::test_util::web_order(&unique("storm"));
    request.tags = tags.iter().map(|tag| (*tag).to_owned()).collect();
    suite
        .order()
        .place_order(request)
        .await
        .expect("the order is placed")
        .into_inner()
        .order
        .expect("the placed order")
}

/// A PENDING web order.
pub async fn order(suite: &Suite) -> Order {
    order_with_tags(suite, &[]).await
}

/// The sample order's lines, as shipped.
pub fn shipped_lines() -> Vec<LineQuantity> {
    vec![
        LineQuantity {
            sku: "TEE-M".into(),
            quantity: 2,
            ..Default::default()
        },
        LineQuantity {
            sku: "CAP".into(),
            quantity: 1,
            ..Default::default()
        },
    ]
}

/// A web order confirmed, shipped in one shipment from [`WAREHOUSE`] and
/// delivered a day ago, as the saga and the carrier would have told it.
pub async fn delivered_order(suite: &Suite) -> Order {
    let order = order(suite).await;
    let shipment = ShipmentRef {
        shipment_id: uuid::Uuid::now_v7().to_string(),
        location_id: WAREHOUSE.into(),
        carrier: "simulator".into(),
        tracking_number: unique("TRK"),
        lines: shipped_lines(),
        ..Default::default()
    };
    let now = chrono::Utc::now();
    for (status, hours_ago) in [
        (OrderStatus::Confirmed, 48),
        (OrderStatus::Shipped, 36),
        (OrderStatus::Delivered, 24),
    ] {
        suite
            .order()
            .mark_status(MarkStatusRequest {
                order_id: order.order_id.clone(),
                event_id: unique("event"),
                status: status as i32,
                shipments: vec![shipment.clone()],
                payment_id: if status == OrderStatus::Confirmed {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    String::new()
                },
                actor: saga(),
                event_time: Some(timestamp(now - chrono::Duration::hours(hours_ago))),
                ..Default::default()
            })
            .await
            .expect("the order moves on");
    }
    order
}

/// `time` as a protobuf timestamp.
pub fn timestamp(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

/// An AUTHORIZED payment of 50.00 EUR for a new order.
pub async fn authorized(suite: &Suite) -> Payment {
    suite
        .payment()
        .authorize(keyed(AuthorizeRequest {
            order_id: uuid::Uuid::now_v7().to_string(),
            amount: eur(5000),
            payment_method: oms_order::test_util::web_order("x").payment_method,
            actor: saga(),
        }))
        .await
        .expect("the payment is authorized")
        .into_inner()
        .payment
        .expect("the payment")
}

/// A CAPTURED payment of 50.00 EUR.
pub async fn captured(suite: &Suite) -> Payment {
    let payment = authorized(suite).await;
    suite
        .payment()
        .capture(keyed(CaptureRequest {
            payment_id: payment.payment_id,
            amount: None,
            actor: saga(),
        }))
        .await
        .expect("the payment is captured")
        .into_inner()
        .payment
        .expect("the payment")
}

/// CreateShipment's request: the sample order's lines from [`WAREHOUSE`]
/// to a customer in Berlin, for order `order_id`.
pub fn shipment_request(order_id: &str) -> CreateShipmentRequest {
    CreateShipmentRequest {
        order_id: order_id.into(),
        location_id: WAREHOUSE.into(),
        lines: vec![
            ShipmentLine {
                sku: "TEE-M".into(),
                quantity: 2,
                description: "T-shirt, size M".into(),
            },
            ShipmentLine {
                sku: "CAP".into(),
                quantity: 1,
                description: String::new(),
            },
        ],
        service_level: oms_proto::common::v1::ServiceLevel::Standard as i32,
        parcels: vec![Parcel {
            weight_grams: 1200,
            length_mm: 300,
            width_mm: 200,
            height_mm: 100,
        }],
        destination: Some(customer_address()),
        origin: Some(warehouse_address()),
        carrier: String::new(),
        label_format: 0,
        actor: operator(),
        omit_documents: false,
    }
}

/// A shipment with its label for a new order id.
pub async fn shipment(suite: &Suite) -> Shipment {
    let order_id = uuid::Uuid::now_v7().to_string();
    suite
        .shipping()
        .create_shipment(shipment_request(&order_id))
        .await
        .expect("the shipment is created")
        .into_inner()
        .shipment
        .expect("the shipment")
}

/// How far a seeded return has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// REQUESTED.
    Requested,
    /// APPROVED, to [`WAREHOUSE`].
    Approved,
    /// LABEL_ISSUED.
    Labelled,
    /// IN_TRANSIT.
    InTransit,
    /// RECEIVED at [`WAREHOUSE`].
    Received,
    /// INSPECTED: the unit restocks.
    Inspected,
}

/// A return of one TEE-M of a delivered order, as a refund or, with
/// `exchange`, for one TEE-L at the same price, brought to `step`.
pub async fn return_at(suite: &Suite, step: Step, exchange: bool) -> Return {
    let order = delivered_order(suite).await;
    let mut returns = suite.returns();
    let (resolution, replacement_lines) = if exchange {
        let line = LineItem {
            sku: "TEE-L".into(),
            quantity: 1,
            unit_price: eur(1999),
        };
        (ReturnResolution::Exchange, vec![line])
    } else {
        (ReturnResolution::Refund, Vec::new())
    };
    let mut rma = returns
        .request_return(keyed(RequestReturnRequest {
            order_id: order.order_id,
            lines: vec![ReturnLineRequest {
                sku: "TEE-M".into(),
                quantity: 1,
                reason: ReturnReason::NoLongerNeeded as i32,
            }],
            resolution: resolution as i32,
            replacement_lines,
            comment: String::new(),
            actor: operator(),
        }))
        .await
        .expect("the return is requested")
        .into_inner()
        .rma
        .expect("the return");
    let id = rma.return_id.clone();
    if step >= Step::Approved {
        rma = returns
            .approve_return(ApproveReturnRequest {
                return_id: id.clone(),
                receiving_location_id: WAREHOUSE.into(),
                note: String::new(),
                actor: operator(),
            })
            .await
            .expect("the return is approved")
            .into_inner()
            .rma
            .expect("the return");
    }
    if step >= Step::Labelled {
        rma = returns
            .record_return_label(label_request(&id))
            .await
            .expect("the label is recorded")
            .into_inner()
            .rma
            .expect("the return");
    }
    if step >= Step::InTransit {
        let shipment_id = rma
            .label
            .as_ref()
            .map(|label| label.shipment_id.clone())
            .unwrap_or_default();
        rma = returns
            .mark_return_in_transit(MarkReturnInTransitRequest {
                return_id: id.clone(),
                shipment_id,
                event_time: Some(timestamp(chrono::Utc::now())),
                actor: saga(),
            })
            .await
            .expect("the return is in transit")
            .into_inner()
            .rma
            .expect("the return");
    }
    if step >= Step::Received {
        rma = returns
            .receive_return(ReceiveReturnRequest {
                return_id: id.clone(),
                location_id: WAREHOUSE.into(),
                note: String::new(),
                actor: operator(),
            })
            .await
            .expect("the return is received")
            .into_inner()
            .rma
            .expect("the return");
    }
    if step >= Step::Inspected {
        rma = returns
            .inspect_return(inspection(&id))
            .await
            .expect("the return is inspected")
            .into_inner()
            .rma
            .expect("the return");
    }
    rma
}

/// RecordReturnLabel's request for return `return_id`: a new label.
pub fn label_request(return_id: &str) -> RecordReturnLabelRequest {
    RecordReturnLabelRequest {
        return_id: return_id.into(),
        label: Some(ReturnLabel {
            shipment_id: uuid::Uuid::now_v7().to_string(),
            carrier: "simulator".into(),
            tracking_number: unique("TRK"),
            price: eur(495),
        }),
        actor: saga(),
    }
}

/// InspectReturn's request: the returned unit restocks.
pub fn inspection(return_id: &str) -> InspectReturnRequest {
    InspectReturnRequest {
        return_id: return_id.into(),
        lines: vec![LineInspection {
            sku: "TEE-M".into(),
            restock_quantity: 1,
            damaged_quantity: 0,
            missing_quantity: 0,
            note: String::new(),
        }],
        actor: operator(),
    }
}
