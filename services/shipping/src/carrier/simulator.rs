//! The carrier simulator: a deterministic carrier used by default, in
//! development and in tests. Prices, promised dates and tracking numbers follow
//! from the request and the seed alone; faults (5xx, timeout, address rejected)
//! are switched on by configuration or at run time and drawn deterministically
//! per (key, attempt).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use chrono::{DateTime, Days, NaiveTime, Utc};
use sha2::{Digest as _, Sha256};

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
    ServerError,
    Timeout,
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
    pub kind: FaultKind,
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

#[derive(Default)]
struct State {
    fault: Option<Fault>,
    /// Tracking number bought per carrier key: the carrier's own idempotency.
    labels: HashMap<String, String>,
    /// Attempts per carrier key, so a retry draws its fault afresh.
    attempts: HashMap<String, u32>,
    voided: Vec<String>,
}

/// The deterministic carrier.
pub struct CarrierSimulator {
    seed: u64,
    state: Mutex<State>,
}

impl CarrierSimulator {
    pub fn new(config: SimulatorConfig) -> CarrierSimulator {
        CarrierSimulator {
            seed: config.seed,
            state: Mutex::new(State {
                fault: config.fault,
                ..State::default()
            }),
        }
    }

    /// Switches a fault on (or off with `None`) while running.
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state().fault = fault;
    }

    /// How many distinct labels were bought: a retry of a key buys none.
    pub fn labels_bought(&self) -> usize {
        self.state().labels.len()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state holds plain maps; a panic elsewhere leaves them usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
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

fn rate(level: ServiceLevel, parcels: &[Parcel], ship_time: DateTime<Utc>) -> CarrierRate {
    let (name, base, per_kg, days) = product(level);
    let mut price = 0;
    for parcel in parcels {
        // Started kilograms: 1 g to 1000 g is one.
        let kilograms = (i64::from(parcel.weight_grams) + 999) / 1000;
        price += base + per_kg * kilograms;
    }
    let day = ship_time
        .date_naive()
        .checked_add_days(Days::new(days))
        .unwrap_or(ship_time.date_naive());
    let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default();
    CarrierRate {
        service_level: level,
        carrier_service: name.to_owned(),
        price_minor: price,
        currency: "EUR".to_owned(),
        promised_delivery_time: day.and_time(end_of_day).and_utc(),
    }
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
            .into_iter()
            .filter(|level| *level != ServiceLevel::SameDay || same_day_in_range(route))
            .map(|level| rate(level, parcels, ship_time))
            .collect())
    }

    async fn buy_label(&self, request: &LabelRequest) -> Result<BoughtLabel, CarrierError> {
        check_address(&request.route)?;
        if request.service_level == ServiceLevel::SameDay && !same_day_in_range(&request.route) {
            return Err(CarrierError::ServiceLevelUnavailable);
        }
        let key = request.carrier_key.as_str();
        let mut state = self.state();
        let attempt = {
            let attempts = state.attempts.entry(key.to_owned()).or_insert(0);
            *attempts += 1;
            *attempts
        };
        let fault = state
            .fault
            .filter(|fault| self.fault_hits(*fault, key, attempt));
        match fault.map(|fault| fault.kind) {
            Some(FaultKind::ServerError) => return Err(CarrierError::ServerError),
            Some(FaultKind::AddressRejected) => {
                return Err(CarrierError::AddressRejected {
                    detail: "address not deliverable (simulated)".to_owned(),
                });
            }
            Some(FaultKind::Timeout) | None => {}
        }
        let tracking_number = state
            .labels
            .entry(key.to_owned())
            .or_insert_with(|| self.tracking_number(key))
            .clone();
        // A timeout after the purchase: the label exists, the caller never hears
        // of it, and its retry with the same key gets this very label.
        if fault.is_some() {
            return Err(CarrierError::Timeout);
        }
        Ok(BoughtLabel {
            tracking_url: format!("https://tracking.simulator.invalid/{tracking_number}"),
            tracking_number,
            rate: rate(request.service_level, &request.parcels, request.ship_time),
        })
    }

    async fn void_label(&self, tracking_number: &str) -> Result<(), CarrierError> {
        self.state().voided.push(tracking_number.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use oms_platform::ids::CountryCode;

    use super::*;

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

    fn request(key: &str) -> LabelRequest {
        LabelRequest {
            carrier_key: key.to_owned(),
            service_level: ServiceLevel::Standard,
            route: route("10117"),
            parcels: vec![parcel(1200)],
            ship_time: Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap(),
        }
    }

    #[tokio::test]
    async fn same_day_is_offered_only_within_the_postal_region() {
        let simulator = CarrierSimulator::new(SimulatorConfig::default());
        let time = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let near = simulator
            .rates(&route("10117"), &[parcel(500)], time)
            .await
            .unwrap();
        let far = simulator
            .rates(&route("80331"), &[parcel(500)], time)
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
        let time = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let standard = rate(ServiceLevel::Standard, &[parcel(1200), parcel(1)], time);
        assert_eq!(standard.price_minor, 495 + 120 + 495 + 60);
        assert_eq!(
            standard.promised_delivery_time,
            Utc.with_ymd_and_hms(2026, 11, 5, 23, 59, 59).unwrap()
        );
        let same_day = rate(ServiceLevel::SameDay, &[parcel(500)], time);
        assert_eq!(
            same_day.promised_delivery_time,
            Utc.with_ymd_and_hms(2026, 11, 2, 23, 59, 59).unwrap()
        );
    }

    #[tokio::test]
    async fn a_retry_with_the_same_key_returns_the_same_label_without_buying_another() {
        let simulator = CarrierSimulator::new(SimulatorConfig::default());
        let first = simulator.buy_label(&request("k1")).await.unwrap();
        let again = simulator.buy_label(&request("k1")).await.unwrap();
        let other = simulator.buy_label(&request("k2")).await.unwrap();
        assert_eq!(first.tracking_number, again.tracking_number);
        assert_ne!(first.tracking_number, other.tracking_number);
        assert_eq!(simulator.labels_bought(), 2);
    }

    #[tokio::test]
    async fn a_timeout_fault_keeps_the_label_for_the_retry() {
        let simulator = CarrierSimulator::new(SimulatorConfig {
            fault: Some(Fault {
                kind: FaultKind::Timeout,
                rate: 1.0,
            }),
            seed: 7,
        });
        assert_eq!(
            simulator.buy_label(&request("k1")).await,
            Err(CarrierError::Timeout)
        );
        simulator.set_fault(None);
        simulator.buy_label(&request("k1")).await.unwrap();
        assert_eq!(simulator.labels_bought(), 1);
    }

    #[tokio::test]
    async fn faults_are_drawn_deterministically_per_key_and_attempt() {
        let fault = Some(Fault {
            kind: FaultKind::ServerError,
            rate: 0.5,
        });
        let outcomes = || async {
            let simulator = CarrierSimulator::new(SimulatorConfig { fault, seed: 3 });
            let mut failed = Vec::new();
            for i in 0..100 {
                failed.push(
                    simulator
                        .buy_label(&request(&format!("k{i}")))
                        .await
                        .is_err(),
                );
            }
            failed
        };
        let first = outcomes().await;
        assert_eq!(first, outcomes().await);
        let failures = first.iter().filter(|failed| **failed).count();
        assert!((25..75).contains(&failures), "{failures}");
    }

    #[tokio::test]
    async fn the_rejected_postal_code_is_refused() {
        let simulator = CarrierSimulator::new(SimulatorConfig::default());
        let time = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        assert!(matches!(
            simulator
                .rates(&route(REJECTED_POSTAL_CODE), &[parcel(1)], time)
                .await,
            Err(CarrierError::AddressRejected { .. })
        ));
    }
}
