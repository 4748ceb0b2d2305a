//! What the bench sells: the seeded locations and stock, and the orders of
//! each mix.
//!
//! Two warehouses (Berlin, Hamburg) and a Berlin store. `TEE-M` and `CAP` are
//! stocked everywhere in plenty; `SHIRT-L` only in Berlin and `HAT` only in
//! Hamburg, so an order of both ships twice (a split); `HOT` has fewer units
//! than the hot mix sells, so most of its orders are refused for stock.

use anyhow::Context as _;
use oms_proto::{
    common::v1::{
        Actor, ActorKind, Address, CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption,
        GeoPoint, LineItem, Money, PaymentMethod, ServiceLevel, payment_method::Method,
    },
    inventory::v1::{
        Location, LocationKind, PutLocationRequest, SetStockRequest,
        inventory_service_client::InventoryServiceClient,
    },
    order::v1::{Customer, PlaceOrderRequest},
};
use serde::Serialize;
use tonic::{Request, transport::Channel as GrpcChannel};

/// The Berlin warehouse.
pub const BERLIN: &str = "wh-berlin";
/// The Hamburg warehouse.
pub const HAMBURG: &str = "wh-hamburg";
/// The Berlin store, for pickup.
pub const STORE: &str = "store-mitte";

/// Units of every plentiful SKU at each location that stocks it.
pub const PLENTY: i32 = 10_000_000;
/// Units of `HOT` at each warehouse.
pub const HOT_UNITS: i32 = 25;

/// The card token the payment simulator declines (insufficient funds).
const DECLINED_CARD: &str = "tok_visa_insufficient";
const GOOD_CARD: &str = "tok_visa_4242";

/// (sku, location, units) as seeded.
pub const STOCK: [(&str, &str, i32); 10] = [
    ("TEE-M", BERLIN, PLENTY),
    ("TEE-M", HAMBURG, PLENTY),
    ("TEE-M", STORE, PLENTY),
    ("CAP", BERLIN, PLENTY),
    ("CAP", HAMBURG, PLENTY),
    ("CAP", STORE, PLENTY),
    ("SHIRT-L", BERLIN, PLENTY),
    ("HAT", HAMBURG, PLENTY),
    // In both warehouses, so a lost race re-plans at the other.
    ("HOT", BERLIN, HOT_UNITS),
    ("HOT", HAMBURG, HOT_UNITS),
];

/// What a phase sells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mix {
    /// Every order can be fulfilled and is paid with a good card.
    AllSucceed,
    /// One order in ten is paid with a card the PSP declines.
    Declined10,
    /// Every order takes one unit of `HOT`, which runs out.
    HotSku,
    /// Half the orders are split over both warehouses, half picked up in the store.
    SplitPickup,
    /// The four above in turn (the soak).
    Blend,
}

impl Mix {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mix::AllSucceed => "all-succeed",
            Mix::Declined10 => "declined-10%",
            Mix::HotSku => "hot-sku",
            Mix::SplitPickup => "split+pickup",
            Mix::Blend => "blend",
        }
    }

    /// The `n`-th order of this mix in run `run`.
    pub fn order(self, run: &str, n: u64) -> PlaceOrderRequest {
        let mut order = base_order(&format!("bench-{run}-{n}"));
        let mix = match self {
            Mix::Blend => [
                Mix::AllSucceed,
                Mix::Declined10,
                Mix::HotSku,
                Mix::SplitPickup,
            ][usize::try_from(n % 4).unwrap_or(0)],
            mix => mix,
        };
        match mix {
            Mix::AllSucceed | Mix::Blend => {}
            Mix::Declined10 => {
                if n % 10 == 9 {
                    order.payment_method = card(DECLINED_CARD);
                }
            }
            Mix::HotSku => order.lines.push(line("HOT", 1, 2500)),
            Mix::SplitPickup => {
                if n.is_multiple_of(2) {
                    order.lines = vec![line("SHIRT-L", 1, 2999), line("HAT", 1, 1999)];
                } else {
                    order.delivery_option = Some(DeliveryOption {
                        method: DeliveryMethod::Pickup as i32,
                        service_level: ServiceLevel::Standard as i32,
                        pickup_location_id: STORE.into(),
                    });
                    order.shipping_address = None;
                    order.shipping_price = eur(0);
                }
            }
        }
        order
    }
}

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        currency_code: "EUR".into(),
        amount_minor,
    })
}

fn line(sku: &str, quantity: i32, unit_price: i64) -> LineItem {
    LineItem {
        sku: sku.into(),
        quantity,
        unit_price: eur(unit_price),
    }
}

fn card(token: &str) -> Option<PaymentMethod> {
    Some(PaymentMethod {
        method: Some(Method::Card(CardToken {
            token: token.into(),
        })),
    })
}

/// A web order of TEE-M × 2 and CAP × 1, shipped standard to Berlin, paid by
/// a good card.
fn base_order(reference: &str) -> PlaceOrderRequest {
    PlaceOrderRequest {
        channel: Some(Channel {
            kind: ChannelKind::Web as i32,
            name: String::new(),
        }),
        external_reference: reference.into(),
        customer: Some(Customer {
            name: "Bench Customer".into(),
            email: "bench@example.com".into(),
            phone: "+49 30 1234567".into(),
        }),
        shipping_address: Some(Address {
            recipient_name: "Bench Customer".into(),
            lines: vec!["Unter den Linden 77".into()],
            city: "Berlin".into(),
            region: "BE".into(),
            postal_code: "10117".into(),
            country_code: "DE".into(),
            geo: Some(GeoPoint {
                latitude: 52.5163,
                longitude: 13.3777,
            }),
            ..Default::default()
        }),
        lines: vec![line("TEE-M", 2, 1999), line("CAP", 1, 1500)],
        currency_code: "EUR".into(),
        delivery_option: Some(DeliveryOption {
            method: DeliveryMethod::Ship as i32,
            service_level: ServiceLevel::Standard as i32,
            pickup_location_id: String::new(),
        }),
        shipping_price: eur(495),
        payment_method: card(GOOD_CARD),
        ..Default::default()
    }
}

fn operator() -> Actor {
    Actor {
        kind: ActorKind::Operator as i32,
        id: "bench".into(),
    }
}

/// Creates the locations and sets the stock of [`STOCK`].
pub async fn seed(channel: GrpcChannel) -> anyhow::Result<()> {
    let mut inventory = InventoryServiceClient::new(channel);
    for (id, kind, (latitude, longitude)) in [
        (BERLIN, LocationKind::Warehouse, (52.52, 13.40)),
        (HAMBURG, LocationKind::Warehouse, (53.55, 9.99)),
        (STORE, LocationKind::Store, (52.52, 13.41)),
    ] {
        inventory
            .put_location(PutLocationRequest {
                location: Some(Location {
                    location_id: id.into(),
                    name: id.into(),
                    kind: kind as i32,
                    address: Some(Address {
                        company: "OMS".into(),
                        lines: vec!["Lagerstrasse 1".into()],
                        city: "Berlin".into(),
                        postal_code: "10115".into(),
                        country_code: "DE".into(),
                        geo: Some(GeoPoint {
                            latitude,
                            longitude,
                        }),
                        ..Default::default()
                    }),
                    ships_to_customers: kind == LocationKind::Warehouse,
                    store_pickup: kind == LocationKind::Store,
                    active: true,
                    ..Default::default()
                }),
                actor: Some(operator()),
            })
            .await
            .with_context(|| format!("creating location {id}"))?;
    }
    for (sku, location, on_hand) in STOCK {
        let mut request = Request::new(SetStockRequest {
            sku: sku.into(),
            location_id: location.into(),
            on_hand,
            actor: Some(operator()),
            note: String::new(),
        });
        request.metadata_mut().insert(
            "idempotency-key",
            format!("bench-stock-{sku}-{location}").parse()?,
        );
        inventory
            .set_stock(request)
            .await
            .with_context(|| format!("stocking {sku} at {location}"))?;
    }
    Ok(())
}
