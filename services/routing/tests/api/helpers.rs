//! Starting routing next to a real inventory for a test, and calling both.

use oms_platform::{client::OmsChannel, config::Service};
use oms_proto::{
    common::v1::{
        Actor, ActorKind, Address, Channel, ChannelKind, DeliveryMethod, DeliveryOption, GeoPoint,
        LineItem,
    },
    inventory::v1::{
        Location, LocationKind, PutLocationRequest, ReservationLine, ReserveRequest,
        SetSafetyStockRequest, SetStockRequest, inventory_service_client::InventoryServiceClient,
    },
    routing::v1::{
        PlanFulfillmentRequest, PlanFulfillmentResponse,
        routing_service_client::RoutingServiceClient,
    },
};
pub use oms_testkit::status::bad_fields;
use oms_testkit::{ReservedPort, TestService, peers};
use tonic::Status;
use tonic_types::StatusExt as _;

pub type Client = RoutingServiceClient<OmsChannel>;
pub type InventoryClient = InventoryServiceClient<OmsChannel>;

/// Where the test's locations are; the customer is in Berlin.
pub const BERLIN: (f64, f64) = (52.50, 13.40);
pub const POTSDAM: (f64, f64) = (52.39, 13.06);
pub const HAMBURG: (f64, f64) = (53.55, 9.99);
pub const MUNICH: (f64, f64) = (48.14, 11.58);
pub const MITTE: (f64, f64) = (52.52, 13.41);

/// Routing and the inventory it reads, each with a fresh database.
pub struct TestRouting {
    pub routing: TestService,
    pub client: Client,
    pub inventory: InventoryClient,
    inventory_service: Option<TestService>,
}

impl TestRouting {
    pub async fn start() -> TestRouting {
        let inventory = oms_inventory::test_util::start(ReservedPort::new(), |_| {}).await;
        let client = peers([(Service::Inventory, inventory.address())]);
        let routing = oms_routing::test_util::start(ReservedPort::new(), client, |_| {}).await;
        TestRouting {
            client: RoutingServiceClient::new(routing.channel()),
            inventory: InventoryServiceClient::new(inventory.channel()),
            routing,
            inventory_service: Some(inventory),
        }
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Stops the inventory, as if it went down.
    pub async fn stop_inventory(&mut self) {
        if let Some(inventory) = self.inventory_service.take() {
            inventory.stop().await;
        }
    }

    /// Stops both services cleanly.
    pub async fn finish(mut self) {
        self.stop_inventory().await;
        self.routing.stop().await;
    }

    /// Creates a location in inventory.
    pub async fn location(&self, site: Site) {
        self.inventory
            .clone()
            .put_location(PutLocationRequest {
                location: Some(Location {
                    location_id: site.id.into(),
                    name: format!("Site {}", site.id),
                    kind: if site.pickup {
                        LocationKind::Store
                    } else {
                        LocationKind::Warehouse
                    } as i32,
                    address: Some(Address {
                        lines: vec!["Lagerstrasse 1".into()],
                        city: "Somewhere".into(),
                        postal_code: "10115".into(),
                        country_code: site.country.into(),
                        geo: Some(GeoPoint {
                            latitude: site.geo.0,
                            longitude: site.geo.1,
                        }),
                        ..Default::default()
                    }),
                    ships_to_customers: site.ships,
                    store_pickup: site.pickup,
                    active: site.active,
                    create_time: None,
                    update_time: None,
                }),
                actor: Some(operator()),
            })
            .await
            .expect("put location");
    }

    pub async fn set_stock(&self, sku: &str, location_id: &str, on_hand: i32) {
        let mut request = tonic::Request::new(SetStockRequest {
            sku: sku.into(),
            location_id: location_id.into(),
            on_hand,
            actor: Some(operator()),
            note: String::new(),
        });
        request.metadata_mut().insert(
            "idempotency-key",
            uuid::Uuid::new_v4().to_string().parse().unwrap(),
        );
        self.inventory
            .clone()
            .set_stock(request)
            .await
            .expect("set stock");
    }

    pub async fn set_safety_stock(&self, sku: &str, location_id: &str, units: i32) {
        self.inventory
            .clone()
            .set_safety_stock(SetSafetyStockRequest {
                sku: sku.into(),
                location_id: location_id.into(),
                safety_stock: units,
                actor: Some(operator()),
            })
            .await
            .expect("set safety stock");
    }

    /// Holds stock for the order a test calls `order`, as the saga does after
    /// a plan.
    pub async fn reserve(&self, order: &str, lines: &[(&str, &str, i32)]) {
        self.inventory
            .clone()
            .reserve(ReserveRequest {
                order_id: oms_testkit::minted_id(order),
                lines: lines
                    .iter()
                    .map(|(sku, location_id, quantity)| ReservationLine {
                        sku: (*sku).into(),
                        location_id: (*location_id).into(),
                        quantity: *quantity,
                    })
                    .collect(),
                ttl: None,
                channel: None,
                actor: Some(saga()),
            })
            .await
            .expect("reserve");
    }

    pub async fn plan(
        &self,
        request: PlanFulfillmentRequest,
    ) -> Result<PlanFulfillmentResponse, Status> {
        self.client()
            .plan_fulfillment(request)
            .await
            .map(tonic::Response::into_inner)
    }
}

/// A location to create: ships, no pickup, active, in Germany.
#[derive(Clone, Copy)]
pub struct Site {
    pub id: &'static str,
    pub geo: (f64, f64),
    pub country: &'static str,
    pub ships: bool,
    pub pickup: bool,
    pub active: bool,
}

pub fn warehouse(id: &'static str, geo: (f64, f64)) -> Site {
    Site {
        id,
        geo,
        country: "DE",
        ships: true,
        pickup: false,
        active: true,
    }
}

pub fn store(id: &'static str, geo: (f64, f64)) -> Site {
    Site {
        pickup: true,
        ..warehouse(id, geo)
    }
}

pub fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "op-1".into(),
    }
}

pub fn saga() -> Actor {
    Actor {
        kind: ActorKind::Saga as i32,
        id: "saga-1".into(),
    }
}

pub fn channel(kind: ChannelKind, name: &str) -> Channel {
    Channel {
        kind: kind as i32,
        name: name.into(),
    }
}

/// Shipping these (sku, units) to Berlin, for the order a test calls `order`.
pub fn ship_to_berlin(order: &str, lines: &[(&str, i32)]) -> PlanFulfillmentRequest {
    PlanFulfillmentRequest {
        order_id: oms_testkit::minted_id(order),
        lines: lines
            .iter()
            .map(|(sku, quantity)| LineItem {
                sku: (*sku).into(),
                quantity: *quantity,
                unit_price: None,
            })
            .collect(),
        destination: Some(Address {
            recipient_name: "Erika Mustermann".into(),
            lines: vec!["Unter den Linden 1".into()],
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10117".into(),
            country_code: "DE".into(),
            geo: Some(GeoPoint {
                latitude: BERLIN.0,
                longitude: BERLIN.1,
            }),
            ..Default::default()
        }),
        delivery: Some(DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            ..Default::default()
        }),
        channel: None,
        excluded_location_ids: Vec::new(),
        explanation_detail: 0,
    }
}

/// The ErrorInfo reason and metadata value `key` of a refusal.
pub fn reason_and(status: &Status, key: &str) -> (String, String) {
    let details = status.get_error_details();
    let info = details.error_info().expect("an ErrorInfo");
    (
        info.reason.clone(),
        info.metadata.get(key).cloned().unwrap_or_default(),
    )
}
