//! A location: a warehouse, store or 3PL site that holds stock.

use super::ids::LocationId;

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

/// A site's postal address and coordinates. A business address, but kept out
/// of logs like every address.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteAddress {
    /// The company at the address.
    pub company: String,
    /// Street lines, first to last.
    pub lines: Vec<String>,
    /// The city.
    pub city: String,
    /// The region, where the country uses one.
    pub region: String,
    /// The postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// The site's phone.
    pub phone: String,
    /// Latitude, for distances.
    pub latitude: f64,
    /// Longitude, for distances.
    pub longitude: f64,
}

/// A location as PutLocation sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    /// The caller's id.
    pub location_id: LocationId,
    /// Display name.
    pub name: String,
    /// Warehouse, store or 3PL site.
    pub kind: LocationKind,
    /// Where it is.
    pub address: SiteAddress,
    /// True when the site ships parcels to customers.
    pub ships_to_customers: bool,
    /// True when customers may collect orders here.
    pub store_pickup: bool,
    /// Inactive sites hold stock but take no reservations.
    pub active: bool,
}
