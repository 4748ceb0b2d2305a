//! What the planner knows about a location: inventory's view of it (kind,
//! country, coordinates, what it offers), routing's own attributes (capacity,
//! priority, countries served), today's load and its stock of each line.

use super::ids::{CountryCode, Invalid, LocationId};

/// Mean earth radius in km (IUGG), as the contract's DistanceRanking names it.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;
/// The priority of a location without attributes.
pub const DEFAULT_PRIORITY: u16 = 100;

/// A point on the earth (WGS 84), in range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

impl GeoPoint {
    /// A point with latitude in [-90, 90] and longitude in [-180, 180].
    pub fn new(latitude: f64, longitude: f64) -> Result<GeoPoint, Invalid> {
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return Err(Invalid::new(
                "latitude must be in [-90, 90] and longitude in [-180, 180]",
            ));
        }
        Ok(GeoPoint {
            latitude,
            longitude,
        })
    }

    /// Great-circle distance in km (haversine).
    pub fn distance_km(self, other: GeoPoint) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let d_lat = lat2 - lat1;
        let d_lon = (other.longitude - self.longitude).to_radians();
        let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
        // min(1) keeps rounding from taking asin out of its domain.
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// Routing's own attributes of a location. Mirrors `oms.routing.v1.LocationAttributes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationAttributes {
    /// Shipments per local day; `None` is unlimited.
    pub daily_capacity: Option<u32>,
    /// 1 (first) to 1000.
    pub priority: u16,
    /// Countries shipped to; empty means the location's own country only.
    pub countries_served: Vec<CountryCode>,
    /// IANA time zone whose midnight starts the capacity day; empty means UTC.
    pub time_zone: String,
}

impl Default for LocationAttributes {
    fn default() -> Self {
        LocationAttributes {
            daily_capacity: None,
            priority: DEFAULT_PRIORITY,
            countries_served: Vec::new(),
            time_zone: String::new(),
        }
    }
}

oms_platform::code_enum! {
    /// The kinds of site (`oms.inventory.v1.LocationKind`).
    pub enum LocationKind {
        /// A warehouse or distribution centre run by the merchant.
        Warehouse = 1 => "WAREHOUSE",
        /// A retail store: may ship to customers and offer pickup.
        Store = 2 => "STORE",
        /// A site run by a third-party logistics (3PL) provider.
        ThirdPartyLogistics = 3 => "THIRD_PARTY_LOGISTICS",
    }
}

/// One (SKU, location) stock record as the planner needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockAt {
    /// On hand minus reserved.
    pub available: i32,
    /// Units kept back from planning.
    pub safety_stock: i32,
}

impl StockAt {
    /// Available minus safety stock, never below zero.
    pub fn sellable(self) -> i32 {
        (self.available - self.safety_stock).max(0)
    }
}

/// A location the planner may choose, with everything it needs to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// The location's id.
    pub location_id: LocationId,
    /// Warehouse, store or 3PL site.
    pub kind: LocationKind,
    /// Inactive sites are never chosen.
    pub active: bool,
    /// True when the site ships parcels to customers.
    pub ships_to_customers: bool,
    /// True when customers may collect orders here.
    pub store_pickup: bool,
    /// The country it is in.
    pub country: CountryCode,
    /// Region code without the country prefix; may be empty.
    pub region: String,
    /// Coordinates, for distances.
    pub geo: Option<GeoPoint>,
    /// Routing's own attributes of it.
    pub attributes: LocationAttributes,
    /// Orders reserved here since the start of its local day.
    pub orders_today: u32,
    /// Stock of each requested line, by line index; the default when it has none.
    pub stock: Vec<StockAt>,
}

impl Site {
    /// True when the site ships to `country`.
    pub fn serves(&self, country: CountryCode) -> bool {
        if self.attributes.countries_served.is_empty() {
            self.country == country
        } else {
            self.attributes.countries_served.contains(&country)
        }
    }

    /// Shipments it can still take today; `None` when unlimited.
    pub fn capacity_left(&self) -> Option<u32> {
        self.attributes
            .daily_capacity
            .map(|capacity| capacity.saturating_sub(self.orders_today))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn berlin_to_munich_is_about_504_km() {
        let berlin = GeoPoint::new(52.52, 13.405).unwrap();
        let munich = GeoPoint::new(48.1351, 11.582).unwrap();
        let km = berlin.distance_km(munich);
        assert!((km - 504.4).abs() < 1.0, "{km}");
        assert_eq!(berlin.distance_km(berlin), 0.0);
    }

    #[test]
    fn coordinates_out_of_range_are_refused() {
        assert!(GeoPoint::new(91.0, 0.0).is_err());
        assert!(GeoPoint::new(0.0, -180.5).is_err());
        assert!(GeoPoint::new(f64::NAN, 0.0).is_err());
    }
}
