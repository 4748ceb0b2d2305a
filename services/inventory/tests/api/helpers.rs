//! Starting the inventory for a test, calling it, and checking its invariants.

use std::time::Duration;

use oms_inventory::{Config, run, test_util};
use oms_platform::client::OmsChannel;
use oms_proto::{
    common::v1::{Actor, ActorKind, Address, Channel, ChannelKind, GeoPoint},
    inventory::v1::{
        GetAvailabilityRequest, GetReservationRequest, Location, LocationKind, PutLocationRequest,
        Reservation, ReservationLine, ReserveRequest, ReserveResponse, RestockLine, RestockRequest,
        RestockSource, SetStockRequest, SkuAvailability, get_reservation_request,
        inventory_service_client::InventoryServiceClient,
    },
};
pub use oms_testkit::keyed;
pub use oms_testkit::status::{bad_fields, metadata, reason};
use oms_testkit::{TestDatabase, TestRedis, TestServer};
use sqlx::PgPool;
use tonic::Status;

pub type Client = InventoryServiceClient<OmsChannel>;

/// One or more inventory instances sharing a fresh database and Redis prefix.
pub struct TestInventory {
    pub db: TestDatabase,
    pub redis: TestRedis,
    pub server: TestServer,
    pub client: Client,
    others: Vec<TestServer>,
}

impl TestInventory {
    pub async fn start() -> TestInventory {
        let db = TestDatabase::create().await;
        let redis = TestRedis::new();
        let server = start_instance(&db, &redis).await;
        let client = InventoryServiceClient::new(server.channel());
        TestInventory {
            db,
            redis,
            server,
            client,
            others: Vec::new(),
        }
    }

    /// Starts one more instance on the same database and Redis.
    pub async fn another_instance(&mut self) -> Client {
        let server = start_instance(&self.db, &self.redis).await;
        let client = InventoryServiceClient::new(server.channel());
        self.others.push(server);
        client
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Checks the invariants, then stops every instance cleanly.
    pub async fn finish(self) {
        let pool = self.db.pool().await;
        check_invariants(&pool).await;
        pool.close().await;
        for server in self.others {
            server.stop().await.expect("a clean stop");
        }
        self.server.stop().await.expect("a clean stop");
    }

    /// A location that ships, at the given coordinates.
    pub async fn location(&self, location_id: &str) {
        put_location(&mut self.client(), location_id, true).await;
    }

    pub async fn set_stock(&self, sku: &str, location_id: &str, on_hand: i32) {
        set_stock(&mut self.client(), sku, location_id, on_hand).await;
    }

    /// The reservation of the order labelled `order` (see [`id`]), as GetReservation reads it.
    pub async fn reservation(&self, order: &str) -> Reservation {
        self.client()
            .get_reservation(GetReservationRequest {
                key: Some(get_reservation_request::Key::OrderId(id(order))),
            })
            .await
            .expect("the reservation")
            .into_inner()
            .reservation
            .expect("a reservation in the answer")
    }

    pub async fn availability(&self, sku: &str, channel: Option<Channel>) -> SkuAvailability {
        self.client()
            .get_availability(GetAvailabilityRequest {
                skus: vec![sku.into()],
                location_ids: vec![],
                channel,
            })
            .await
            .expect("availability")
            .into_inner()
            .skus
            .remove(0)
    }
}

/// An instance on the test's database and Redis prefix, with the availability
/// cache on (the cache tests need it; the ledger feed keeps it fresh).
async fn start_instance(db: &TestDatabase, redis: &TestRedis) -> TestServer {
    let config = Config {
        availability_cache_ttl: Duration::from_secs(30),
        ..test_util::config(db.config(), redis.config())
    };
    TestServer::start(|listener, shutdown| run(config, listener, shutdown)).await
}

pub async fn set_stock(client: &mut Client, sku: &str, location_id: &str, on_hand: i32) {
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
    client.set_stock(request).await.expect("set stock");
}

pub async fn put_location(client: &mut Client, location_id: &str, active: bool) -> Location {
    client
        .put_location(PutLocationRequest {
            location: Some(Location {
                location_id: location_id.into(),
                name: format!("Site {location_id}"),
                kind: LocationKind::Warehouse as i32,
                address: Some(Address {
                    lines: vec!["Lagerstrasse 1".into()],
                    city: "Berlin".into(),
                    postal_code: "10115".into(),
                    country_code: "DE".into(),
                    geo: Some(GeoPoint {
                        latitude: 52.52,
                        longitude: 13.40,
                    }),
                    ..Default::default()
                }),
                ships_to_customers: true,
                store_pickup: false,
                active,
                create_time: None,
                update_time: None,
            }),
            actor: Some(operator()),
        })
        .await
        .expect("put location")
        .into_inner()
        .location
        .unwrap()
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

pub fn line(sku: &str, location_id: &str, quantity: i32) -> ReservationLine {
    ReservationLine {
        sku: sku.into(),
        location_id: location_id.into(),
        quantity,
    }
}

pub fn channel(kind: ChannelKind, name: &str) -> Channel {
    Channel {
        kind: kind as i32,
        name: name.into(),
    }
}

/// A Restock of `quantity` units of `sku` at `location_id` that came back
/// with a return, as the return saga sends it (line id: the SKU).
pub fn returned(source_id: &str, sku: &str, location_id: &str, quantity: i32) -> RestockRequest {
    RestockRequest {
        source: RestockSource::Return as i32,
        source_id: source_id.into(),
        lines: vec![RestockLine {
            line_id: sku.into(),
            sku: sku.into(),
            location_id: location_id.into(),
            quantity,
        }],
        actor: Some(saga()),
        note: String::new(),
    }
}

/// The order id a test calls `label` ("order-1"); empty stays empty.
pub fn id(label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        oms_testkit::minted_id(label)
    }
}

/// A Reserve of `lines` for the order the test calls `order`.
pub fn reserve_request(order: &str, lines: Vec<ReservationLine>) -> ReserveRequest {
    ReserveRequest {
        order_id: id(order),
        lines,
        ttl: None,
        channel: None,
        actor: Some(saga()),
    }
}

pub async fn reserve(
    client: &mut Client,
    order: &str,
    lines: Vec<ReservationLine>,
) -> Result<ReserveResponse, Status> {
    client
        .reserve(reserve_request(order, lines))
        .await
        .map(tonic::Response::into_inner)
}

/// The invariants of the stock ledger, checked in the service's database:
/// - for every (SKU, location), reserved equals the units of its HELD
///   reservation lines;
/// - on hand never went below zero: not now, not after any ledger entry;
/// - each row's figures equal the after-figures of its last ledger entry, and
///   every entry starts where the one before it ended.
pub async fn check_invariants(pool: &PgPool) {
    let drift: Vec<(String, String, i32, i64)> = sqlx::query_as(
        "SELECT s.sku, s.location_id, s.reserved, coalesce(h.held, 0)
         FROM stock s
         LEFT JOIN (
             SELECT l.sku, l.location_id, sum(l.quantity) AS held
             FROM reservation_lines l JOIN reservations r USING (reservation_id)
             WHERE r.state = 'held'
             GROUP BY l.sku, l.location_id
         ) h USING (sku, location_id)
         WHERE s.reserved <> coalesce(h.held, 0)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        drift.is_empty(),
        "reserved differs from the held lines: {drift:?}"
    );

    let negative: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM stock WHERE on_hand < 0)
              + (SELECT count(*) FROM stock_movements WHERE on_hand_after < 0 OR reserved_after < 0)",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(negative, 0, "on hand or reserved went below zero");

    let broken_chain: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT sku, location_id, sequence FROM (
             SELECT sku, location_id, sequence, on_hand_before, reserved_before, safety_stock_before,
                 lag(on_hand_after) OVER w AS on_hand_prev,
                 lag(reserved_after) OVER w AS reserved_prev,
                 lag(safety_stock_after) OVER w AS safety_prev
             FROM stock_movements
             WINDOW w AS (PARTITION BY sku, location_id ORDER BY sequence)
         ) m
         WHERE (on_hand_before, reserved_before, safety_stock_before)
               <> (coalesce(on_hand_prev, 0), coalesce(reserved_prev, 0), coalesce(safety_prev, 0))",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        broken_chain.is_empty(),
        "ledger entries do not chain: {broken_chain:?}"
    );

    let stale: Vec<(String, String)> = sqlx::query_as(
        "SELECT s.sku, s.location_id
         FROM stock s
         JOIN LATERAL (
             SELECT * FROM stock_movements m
             WHERE m.sku = s.sku AND m.location_id = s.location_id
             ORDER BY sequence DESC LIMIT 1
         ) last ON true
         WHERE (s.on_hand, s.reserved, s.safety_stock, s.sequence)
               <> (last.on_hand_after, last.reserved_after, last.safety_stock_after, last.sequence)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        stale.is_empty(),
        "stock rows differ from their last ledger entry: {stale:?}"
    );

    let without_lines: Vec<String> = sqlx::query_scalar(
        "SELECT order_id FROM reservations r
         WHERE state = 'held'
           AND NOT EXISTS (SELECT 1 FROM reservation_lines l WHERE l.reservation_id = r.reservation_id)",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(
        without_lines.is_empty(),
        "held reservations without lines: {without_lines:?}"
    );
}

/// Runs every future at once on the test's runtime and collects the outputs in order.
pub async fn join_all<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("the call's task"));
    }
    outputs
}
