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
    pub company: String,
    pub lines: Vec<String>,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A location as PutLocation sets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub location_id: LocationId,
    pub name: String,
    pub kind: LocationKind,
    pub address: SiteAddress,
    pub ships_to_customers: bool,
    pub store_pickup: bool,
    pub active: bool,
}
