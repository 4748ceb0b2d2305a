//! The carrier simulator: a deterministic carrier used by default, in
//! development and in tests. Prices, promised dates and tracking numbers follow
//! from the request and the seed alone; faults (5xx, timeout, address rejected)
//! are switched on by configuration or at run time and drawn deterministically
//! per (key, attempt).
//!
//! Like a real carrier it keeps what it did: its labels and purchase attempts
//! live in its own tables of the service's database (`carrier_sim_labels`,
//! `carrier_sim_attempts`, migration 0002), never in process memory. A restart
//! or another replica therefore changes nothing: a label bought through one
//! replica is found and voided through another, and a purchase retried after a
//! restart returns the first label. Only the switched-on fault is per process,
//! as configuration is. A failure of its database is the carrier's 5xx.
//!
//! It has connections of its own ([`CarrierSimulator::connect`]): a carrier is
//! another system, and a cancel voids the label while it holds one of the
//! service's connections, so the simulator must never wait for the service's
//! pool.

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Days, NaiveDate, NaiveTime, Utc};
use oms_platform::{config::DatabaseConfig, db};
use sha2::{Digest as _, Sha256};
use sqlx::{FromRow, PgPool};

use super::{BoughtLabel, Carrier, CarrierError, CarrierRate, LabelRequest, Route};
use crate::domain::parcel::{Parcel, ServiceLevel};

/// The simulator's carrier code.
pub const CODE: &str = "simulator";

/// A destination postal code the simulator always rejects, so tests and demos
/// can show ADDRESS_REJECTED without switching faults on.
pub const REJECTED_POSTAL_CODE: &str = "00000";

/// Which fault the simulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The carrier answers 5xx (`5xx`).
    ServerError,
    /// The label is bought but the answer never comes (`timeout`).
    Timeout,
    /// The carrier refuses the address (`address_rejected`).
    AddressRejected,
}

impl FaultKind {
    /// Parses `5xx`, `timeout` or `address_rejected`.
    pub fn parse(value: &str) -> Option<FaultKind> {
        match value {
            "5xx" => Some(FaultKind::ServerError),
            "timeout" => Some(FaultKind::Timeout),
            "address_rejected" => Some(FaultKind::AddressRejected),
            _ => None,
        }
    }
}

/// A switched-on fault: `kind` on a share `rate` (0 to 1) of label purchases.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    /// Which fault.
    pub kind: FaultKind,
    /// The share of purchases it hits, 0 to 1.
    pub rate: f64,
}

/// How the simulator behaves.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimulatorConfig {
    /// The fault injected, if any (`OMS_SHIPPING_CARRIER_FAULT`,
    /// `OMS_SHIPPING_CARRIER_FAULT_RATE`).
    pub fault: Option<Fault>,
    /// Seed of the tracking numbers and fault draws (`OMS_SHIPPING_CARRIER_SEED`).
    pub seed: u64,
}

/// Connections of the simulator's own pool: one call needs one.
const SIMULATOR_POOL_SIZE: u32 = 2;

/// A label as the simulator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SimulatedLabel {
    /// The key it was bought with.
    pub carrier_key: String,
    /// The tracking number sold.
    pub tracking_number: String,
    /// Its public tracking page.
    pub tracking_url: String,
    /// The service level bought, as `ServiceLevel::code`.
    pub service_level: i16,
    /// The simulated product's name.
    pub carrier_service: String,
    /// What the label cost, in minor units.
    pub price_minor: i64,
    /// The price's currency.
    pub currency_code: String,
    /// The end of the promised delivery day.
    pub promised_delivery_time: DateTime<Utc>,
    /// When it was bought.
    pub buy_time: DateTime<Utc>,
    /// When it was voided, if it was.
    pub void_time: Option<DateTime<Utc>>,
}

const LABEL_COLUMNS: &str = "carrier_key, tracking_number, tracking_url, service_level, carrier_service, price_minor, currency_code, promised_delivery_time, buy_time, void_time";

impl SimulatedLabel {
    fn bought(self) -> Result<BoughtLabel, CarrierError> {
        let service_level =
            ServiceLevel::from_code(self.service_level).ok_or(CarrierError::ServerError)?;
        Ok(BoughtLabel {
            tracking_number: self.tracking_number,
            tracking_url: self.tracking_url,
            rate: CarrierRate {
                service_level,
                carrier_service: self.carrier_service,
                price_minor: self.price_minor,
                currency: self.currency_code,
                promised_delivery_time: self.promised_delivery_time,
            },
        })
    }
}

/// The deterministic carrier, its state in `pool`'s database.
pub struct CarrierSimulator {
    seed: u64,
    pool: PgPool,
    fault: Mutex<Option<Fault>>,
}

/// The carrier's side failed: its database. The caller sees a 5xx.
fn server_error(err: sqlx::Error) -> CarrierError {
    tracing::warn!(error = %err, "carrier simulator: database failed");
    CarrierError::ServerError
}

impl CarrierSimulator {
    /// A simulator keeping its state in the database of `pool`, which must
    /// have the service's migrations applied before the first call.
    pub fn new(pool: PgPool, config: SimulatorConfig) -> CarrierSimulator {
        CarrierSimulator {
            seed: config.seed,
            pool,
            fault: Mutex::new(config.fault),
        }
    }

    /// A simulator with a small pool of its own on the service's database,
    /// connecting on first use (after the service's migrations ran).
    pub fn connect(database: &DatabaseConfig, config: SimulatorConfig) -> CarrierSimulator {
        let pool = db::pool_options(
            SIMULATOR_POOL_SIZE,
            database.acquire_timeout,
            db::ALIVE_BYPASS,
        )
        .connect_lazy_with(database.options.clone());
        CarrierSimulator::new(pool, config)
    }

    /// Switches a fault on (or off with `None`) while running, for this
    /// process's simulator.
    pub fn set_fault(&self, fault: Option<Fault>) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    fn fault(&self) -> Option<Fault> {
        // A plain value; a panic elsewhere leaves it usable.
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many distinct labels were bought, voided ones included: a retry of
    /// a key buys none.
    pub async fn labels_bought(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM carrier_sim_labels")
            .fetch_one(&self.pool)
            .await
    }

    /// The label with this tracking number, as the carrier keeps it.
    pub async fn label(
        &self,
        tracking_number: &str,
    ) -> Result<Option<SimulatedLabel>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LABEL_COLUMNS} FROM carrier_sim_labels WHERE tracking_number = $1"
        )))
        .bind(tracking_number)
        .fetch_optional(&self.pool)
        .await
    }

    fn digest(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.seed.to_be_bytes());
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    fn tracking_number(&self, key: &str) -> String {
        let digest = self.digest(&[b"tracking", key.as_bytes()]);
        let mut number = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        number %= 1_000_000_000_000;
        format!("SIM{number:012}")
    }

    /// Whether the fault hits this attempt of `key`.
    fn fault_hits(&self, fault: Fault, key: &str, attempt: u32) -> bool {
        let digest = self.digest(&[b"fault", key.as_bytes(), &attempt.to_be_bytes()]);
        let draw = f64::from(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ])) / f64::from(u32::MAX);
        draw < fault.rate
    }

    /// One purchase attempt at `rate` in one transaction: count the attempt,
    /// draw its fault, and keep the key's label (the first one bought, or a
    /// new one).
    async fn purchase(
        &self,
        request: &LabelRequest,
        rate: &CarrierRate,
    ) -> Result<Result<BoughtLabel, CarrierError>, sqlx::Error> {
        let key = request.carrier_key.as_str();
        let mut tx = self.pool.begin().await?;
        // The upsert locks the key's row: attempts of one key are counted one
        // at a time, whichever replica makes them.
        let attempt: i32 = sqlx::query_scalar(
            "INSERT INTO carrier_sim_attempts (carrier_key, attempts) VALUES ($1, 1)
             ON CONFLICT (carrier_key) DO UPDATE SET attempts = carrier_sim_attempts.attempts + 1
             RETURNING attempts",
        )
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let fault = self
            .fault()
            .filter(|fault| self.fault_hits(*fault, key, attempt.unsigned_abs()));
        let refused = match fault.map(|fault| fault.kind) {
            Some(FaultKind::ServerError) => Some(CarrierError::ServerError),
            Some(FaultKind::AddressRejected) => Some(CarrierError::AddressRejected {
                detail: "address not deliverable (simulated)".to_owned(),
            }),
            Some(FaultKind::Timeout) | None => None,
        };
        if let Some(refused) = refused {
            tx.commit().await?;
            return Ok(Err(refused));
        }
        let tracking_number = self.tracking_number(key);
        sqlx::query(
            "INSERT INTO carrier_sim_labels (carrier_key, tracking_number, tracking_url,
                 service_level, carrier_service, price_minor, currency_code, promised_delivery_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (carrier_key) DO NOTHING",
        )
        .bind(key)
        .bind(&tracking_number)
        .bind(format!(
            "https://tracking.simulator.invalid/{tracking_number}"
        ))
        .bind(rate.service_level.code())
        .bind(&rate.carrier_service)
        .bind(rate.price_minor)
        .bind(&rate.currency)
        .bind(rate.promised_delivery_time)
        .execute(&mut *tx)
        .await?;
        let label: SimulatedLabel = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {LABEL_COLUMNS} FROM carrier_sim_labels WHERE carrier_key = $1"
        )))
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        // A timeout after the purchase: the label exists, the caller never hears
        // of it, and its retry with the same key gets this very label.
        if fault.is_some() {
            return Ok(Err(CarrierError::Timeout));
        }
        Ok(label.bought())
    }
}

/// The simulator's product of a service level: name, base price, price per
/// started kilogram and days in transit.
fn product(level: ServiceLevel) -> (&'static str, i64, i64, u64) {
    match level {
        ServiceLevel::Standard => ("Simulated Standard", 495, 60, 3),
        ServiceLevel::Express => ("Simulated Express 12:00", 1290, 120, 1),
        ServiceLevel::SameDay => ("Simulated Same Day", 1990, 150, 0),
    }
}

/// Same day only within one postal region of one country: same country and the
/// same first two characters of the postal code.
fn same_day_in_range(route: &Route) -> bool {
    let prefix = |code: &str| code.get(..2).map(str::to_owned);
    route.origin_country == route.destination_country
        && prefix(&route.origin_postal_code).is_some()
        && prefix(&route.origin_postal_code) == prefix(&route.destination_postal_code)
}

/// The simulator's rate of `level` for `parcels` handed over at `ship_time`;
/// `None` when the price would not fit in an i64: no product carries that
/// much, rather than a price that wrapped.
fn rate(level: ServiceLevel, parcels: &[Parcel], ship_time: DateTime<Utc>) -> Option<CarrierRate> {
    let (name, base, per_kg, days) = product(level);
    let mut price: i64 = 0;
    for parcel in parcels {
        // Started kilograms: 1 g to 1000 g is one.
        let kilograms = (i64::from(parcel.weight_grams) + 999) / 1000;
        let parcel_price = per_kg.checked_mul(kilograms)?.checked_add(base)?;
        price = price.checked_add(parcel_price)?;
    }
    // Timestamps end with the year 9999: a promise past it is its last day.
    let last_day = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX);
    let day = ship_time
        .date_naive()
        .checked_add_days(Days::new(days))
        .unwrap_or(last_day)
        .min(last_day);
    let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
    Some(CarrierRate {
        service_level: level,
        carrier_service: name.to_owned(),
        price_minor: price,
        currency: "EUR".to_owned(),
        promised_delivery_time: day.and_time(end_of_day).and_utc(),
    })
}

fn check_address(route: &Route) -> Result<(), CarrierError> {
    if route.destination_postal_code == REJECTED_POSTAL_CODE {
        return Err(CarrierError::AddressRejected {
            detail: "unknown postal code".to_owned(),
        });
    }
    Ok(())
}

#[tonic::async_trait]
impl Carrier for CarrierSimulator {
    fn code(&self) -> &str {
        CODE
    }

    async fn rates(
        &self,
        route: &Route,
        parcels: &[Parcel],
        ship_time: DateTime<Utc>,
    ) -> Result<Vec<CarrierRate>, CarrierError> {
        check_address(route)?;
        Ok(ServiceLevel::ALL
            .iter()
            .copied()
            .filter(|level| *level != ServiceLevel::SameDay || same_day_in_range(route))
            .filter_map(|level| rate(level, parcels, ship_time))
            .collect())
    }

    async fn buy_label(&self, request: &LabelRequest) -> Result<BoughtLabel, CarrierError> {
        check_address(&request.route)?;
        if request.service_level == ServiceLevel::SameDay && !same_day_in_range(&request.route) {
            return Err(CarrierError::ServiceLevelUnavailable);
        }
        let rate = rate(request.service_level, &request.parcels, request.ship_time)
            .ok_or(CarrierError::ServiceLevelUnavailable)?;
        self.purchase(request, &rate)
            .await
            .unwrap_or_else(|err| Err(server_error(err)))
    }

    async fn void_label(&self, tracking_number: &str) -> Result<(), CarrierError> {
        // Voiding twice is voiding once; the first void time stays.
        let voided = sqlx::query(
            "UPDATE carrier_sim_labels SET void_time = coalesce(void_time, now())
             WHERE tracking_number = $1",
        )
        .bind(tracking_number)
        .execute(&self.pool)
        .await
        .map_err(server_error)?;
        if voided.rows_affected() == 0 {
            return Err(CarrierError::LabelNotFound);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use oms_platform::ids::CountryCode;
    use oms_testkit::TestDatabase;

    use super::*;

    /// A simulator on a fresh database with the service's migrations; the
    /// database lives as long as the returned handle.
    async fn simulator(config: SimulatorConfig) -> (CarrierSimulator, TestDatabase) {
        let db = TestDatabase::create().await;
        let pool = oms_platform::db::connect(&db.config(), &crate::MIGRATOR)
            .await
            .unwrap();
        (CarrierSimulator::new(pool, config), db)
    }

    fn route(destination_postal_code: &str) -> Route {
        Route {
            origin_country: CountryCode::parse("DE").unwrap(),
            origin_postal_code: "10115".to_owned(),
            destination_country: CountryCode::parse("DE").unwrap(),
            destination_postal_code: destination_postal_code.to_owned(),
        }
    }

    fn parcel(weight_grams: i32) -> Parcel {
        Parcel {
            weight_grams,
            length_mm: 300,
            width_mm: 200,
            height_mm: 100,
        }
    }

    fn nine_am(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, 9, 0, 0).unwrap()
    }

    fn request(key: &str) -> LabelRequest {
        LabelRequest {
            carrier_key: key.to_owned(),
            service_level: ServiceLevel::Standard,
            route: route("10117"),
            parcels: vec![parcel(1200)],
            ship_time: nine_am(2),
        }
    }

    fn timeouts() -> SimulatorConfig {
        SimulatorConfig {
            fault: Some(Fault {
                kind: FaultKind::Timeout,
                rate: 1.0,
            }),
            seed: 7,
        }
    }

    #[tokio::test]
    async fn same_day_is_offered_only_within_the_postal_region() {
        let (simulator, _db) = simulator(SimulatorConfig::default()).await;
        let near = simulator
            .rates(&route("10117"), &[parcel(500)], nine_am(2))
            .await
            .unwrap();
        let far = simulator
            .rates(&route("80331"), &[parcel(500)], nine_am(2))
            .await
            .unwrap();
        assert!(
            near.iter()
                .any(|r| r.service_level == ServiceLevel::SameDay)
        );
        assert!(!far.iter().any(|r| r.service_level == ServiceLevel::SameDay));
        assert_eq!(far.len(), 2);
    }

    #[test]
    fn prices_count_started_kilograms_per_parcel_and_dates_count_days_in_transit() {
        let standard = rate(
            ServiceLevel::Standard,
            &[parcel(1200), parcel(1)],
            nine_am(2),
        )
        .unwrap();
        assert_eq!(standard.price_minor, 495 + 120 + 495 + 60);
        assert_eq!(
            standard.promised_delivery_time,
            Utc.with_ymd_and_hms(2026, 11, 5, 23, 59, 59).unwrap()
        );
        let same_day = rate(ServiceLevel::SameDay, &[parcel(500)], nine_am(2)).unwrap();
        assert_eq!(
            same_day.promised_delivery_time,
            Utc.with_ymd_and_hms(2026, 11, 2, 23, 59, 59).unwrap()
        );
    }

    #[test]
    fn the_heaviest_parcels_on_the_last_day_there_is_are_priced_without_overflow() {
        let heaviest = [parcel(i32::MAX); crate::domain::parcel::MAX_PARCELS];
        let last_day = Utc.with_ymd_and_hms(9999, 12, 31, 9, 0, 0).unwrap();
        let standard = rate(ServiceLevel::Standard, &heaviest, last_day).unwrap();
        // 2,147,484 started kilograms a parcel.
        assert_eq!(standard.price_minor, 50 * (495 + 60 * 2_147_484));
        assert_eq!(
            standard.promised_delivery_time,
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
        );
    }

    #[tokio::test]
    async fn a_retry_with_the_same_key_returns_the_same_label_without_buying_another() {
        let (simulator, _db) = simulator(SimulatorConfig::default()).await;
        let first = simulator.buy_label(&request("k1")).await.unwrap();
        let again = simulator.buy_label(&request("k1")).await.unwrap();
        let other = simulator.buy_label(&request("k2")).await.unwrap();
        assert_eq!(first, again);
        assert_ne!(first.tracking_number, other.tracking_number);
        assert_eq!(simulator.labels_bought().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn a_timeout_fault_keeps_the_label_for_the_retry() {
        let (simulator, _db) = simulator(timeouts()).await;
        assert_eq!(
            simulator.buy_label(&request("k1")).await,
            Err(CarrierError::Timeout)
        );
        simulator.set_fault(None);
        simulator.buy_label(&request("k1")).await.unwrap();
        assert_eq!(simulator.labels_bought().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn another_simulator_on_the_same_database_finds_voids_and_returns_the_label() {
        let (first, db) = simulator(timeouts()).await;
        // Bought, but the caller heard a timeout.
        assert_eq!(
            first.buy_label(&request("k1")).await,
            Err(CarrierError::Timeout)
        );
        drop(first);

        // A restarted process or another replica: a new simulator, same tables.
        let second = CarrierSimulator::new(
            db.pool().await,
            SimulatorConfig {
                fault: None,
                seed: 7,
            },
        );
        // Retried days later, the purchase is the first one, rate and all.
        let retried = second
            .buy_label(&LabelRequest {
                ship_time: nine_am(20),
                ..request("k1")
            })
            .await
            .unwrap();
        assert_eq!(
            retried.rate.promised_delivery_time,
            Utc.with_ymd_and_hms(2026, 11, 5, 23, 59, 59).unwrap()
        );
        assert_eq!(second.labels_bought().await.unwrap(), 1);
        second.void_label(&retried.tracking_number).await.unwrap();
        second.void_label(&retried.tracking_number).await.unwrap();
        let kept = second
            .label(&retried.tracking_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(kept.carrier_key, "k1");
        assert!(kept.void_time.is_some());
    }

    #[tokio::test]
    async fn a_label_the_carrier_never_sold_cannot_be_voided() {
        let (simulator, _db) = simulator(SimulatorConfig::default()).await;
        assert_eq!(
            simulator.void_label("SIM000000000000").await,
            Err(CarrierError::LabelNotFound)
        );
    }

    #[tokio::test]
    async fn faults_are_drawn_deterministically_per_key_and_attempt() {
        let fault = Some(Fault {
            kind: FaultKind::ServerError,
            rate: 0.5,
        });
        let outcomes = || async {
            let (simulator, _db) = simulator(SimulatorConfig { fault, seed: 3 }).await;
            // Each key twice: the second attempt draws afresh, from the count
            // the database keeps.
            let mut failed = Vec::new();
            for i in 0..120 {
                let key = format!("k{}", i % 60);
                failed.push(simulator.buy_label(&request(&key)).await.is_err());
            }
            failed
        };
        let first = outcomes().await;
        assert_eq!(first, outcomes().await);
        let failures = first.iter().filter(|failed| **failed).count();
        assert!((30..90).contains(&failures), "{failures}");
        assert_ne!(first[..60], first[60..]);
    }

    #[tokio::test]
    async fn the_rejected_postal_code_is_refused() {
        let (simulator, _db) = simulator(SimulatorConfig::default()).await;
        assert!(matches!(
            simulator
                .rates(&route(REJECTED_POSTAL_CODE), &[parcel(1)], nine_am(2))
                .await,
            Err(CarrierError::AddressRejected { .. })
        ));
    }
}
