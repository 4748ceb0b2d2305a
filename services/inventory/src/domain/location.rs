//! A location: a warehouse, store or 3PL site that holds stock.

use super::ids::LocationId;

/// The kinds of site. Mirrors `oms.inventory.v1.LocationKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationKind {
    Warehouse = 1,
    Store = 2,
    ThirdPartyLogistics = 3,
}

impl LocationKind {
    pub fn from_code(code: i32) -> Option<LocationKind> {
        Some(match code {
            1 => LocationKind::Warehouse,
            2 => LocationKind::Store,
            3 => LocationKind::ThirdPartyLogistics,
            _ => return None,
        })
    }

    pub fn code(self) -> i16 {
        self as i16
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
