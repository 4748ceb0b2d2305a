//! The planner alone: a 10-line order over 1,000 locations under the default
//! policy, no network and no database. Goal: median under 1 ms per plan.
//!
//! Workloads, each planned many times and reported as median and p90 per plan:
//! - one shipment: ~1 location in 50 has every line, so one of them ships all;
//! - split: no location has every line, so the order is split in rounds (up to
//!   the default's 3 shipments).
//!
//! Locations are spread over Germany from a fixed seed, with capacities, safety
//! stock and a few inactive ones, so every filter and ranking does work.
//! `make bench` runs it. `BENCH_PLANS` changes the number of plans per workload.

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark reports on stdout"
)]

use std::{
    collections::HashSet,
    hint::black_box,
    time::{Duration, Instant},
};

use oms_routing::domain::{
    CountryCode, Delivery, Destination, Detail, GeoPoint, Line, LocationAttributes, LocationId,
    LocationKind, PlanRequest, Policy, PolicySpec, Quantity, Site, Sku, StockAt, plan,
};

const LOCATIONS: usize = 1000;
const LINES: usize = 10;

/// A small deterministic generator (xorshift64*), so every run plans the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * (self.below(1_000_000) as f64 / 1_000_000.0)
    }
}

fn sites(rng: &mut Rng, full_every: u64) -> Vec<Site> {
    let germany = CountryCode::parse("DE").unwrap();
    (0..LOCATIONS)
        .map(|index| {
            let has_everything = full_every > 0 && rng.below(full_every) == 0;
            let stock = (0..LINES)
                .map(|_| {
                    let stocked = has_everything || rng.below(10) < 3;
                    StockAt {
                        available: if stocked { 3 + rng.below(8) as i32 } else { 0 },
                        safety_stock: rng.below(2) as i32,
                    }
                })
                .collect();
            let mut attributes = LocationAttributes::default();
            if rng.below(4) == 0 {
                attributes.daily_capacity = Some(rng.below(50) as u32);
            }
            attributes.priority = 1 + rng.below(200) as u16;
            Site {
                location_id: LocationId::parse(&format!("loc-{index:04}")).unwrap(),
                kind: LocationKind::Warehouse,
                active: rng.below(20) != 0,
                ships_to_customers: rng.below(10) != 0,
                store_pickup: false,
                country: germany,
                region: format!("R{}", rng.below(16)),
                geo: Some(GeoPoint::new(rng.between(47.5, 54.5), rng.between(6.0, 15.0)).unwrap()),
                attributes,
                orders_today: rng.below(40) as u32,
                stock,
            }
        })
        .collect()
}

fn request() -> PlanRequest {
    PlanRequest {
        order_id: "ord-bench".into(),
        lines: (0..LINES)
            .map(|index| Line {
                sku: Sku::parse(&format!("sku-{index}")).unwrap(),
                quantity: Quantity::new(1 + (index % 3) as i32).unwrap(),
            })
            .collect(),
        destination: Destination {
            country: Some(CountryCode::parse("DE").unwrap()),
            region: "R3".into(),
            geo: Some(GeoPoint::new(52.5, 13.4).unwrap()),
        },
        delivery: Delivery::Ship,
        excluded: HashSet::new(),
        detail: Detail::Full,
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

fn workload(name: &str, sites: &[Site], plans: usize) {
    let policy = Policy {
        policy_id: "default".into(),
        version: 1,
        spec: PolicySpec::default_policy(),
    };
    let request = request();
    // Warm caches and the allocator before timing.
    let planned = plan(&policy, &request, sites).expect("a plan");
    for _ in 0..plans / 10 {
        black_box(plan(&policy, black_box(&request), black_box(sites)).unwrap());
    }
    let mut times = Vec::with_capacity(plans);
    for _ in 0..plans {
        let start = Instant::now();
        let planned = plan(&policy, black_box(&request), black_box(sites)).unwrap();
        times.push(start.elapsed());
        black_box(planned);
    }
    times.sort();
    let micros = |duration: Duration| duration.as_secs_f64() * 1e6;
    println!(
        "plan {name:<13} {LINES} lines x {LOCATIONS} locations: median {:>7.1} µs, p90 {:>7.1} µs \
         ({plans} plans; {} shipments, {:?})",
        micros(percentile(&times, 0.5)),
        micros(percentile(&times, 0.9)),
        planned.plan.shipments.len(),
        planned.plan.outcome,
    );
}

fn main() {
    let plans = std::env::var("BENCH_PLANS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(2000);
    let mut rng = Rng(0x5eed_0f0e_5eed_0f0e);
    workload("one shipment", &sites(&mut rng, 50), plans);
    workload("split", &sites(&mut rng, 0), plans);
}
