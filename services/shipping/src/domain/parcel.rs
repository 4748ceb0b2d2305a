//! Parcels and service levels: values that cannot hold an invalid parcel.

use oms_platform::ids::Invalid;

/// Most parcels one shipment or quote may carry.
pub const MAX_PARCELS: usize = 50;

/// One box: weight in grams and sides in millimetres, each at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parcel {
    pub weight_grams: i32,
    pub length_mm: i32,
    pub width_mm: i32,
    pub height_mm: i32,
}

impl Parcel {
    /// Checks one measure of a parcel.
    pub fn measure(value: i32) -> Result<i32, Invalid> {
        if value < 1 {
            return Err(Invalid::new("must be at least 1"));
        }
        Ok(value)
    }
}

/// How fast a shipment travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceLevel {
    Standard,
    Express,
    SameDay,
}

impl ServiceLevel {
    pub const ALL: [ServiceLevel; 3] = [
        ServiceLevel::Standard,
        ServiceLevel::Express,
        ServiceLevel::SameDay,
    ];

    /// The contract's number (oms.common.v1.ServiceLevel).
    pub fn code(self) -> i32 {
        match self {
            ServiceLevel::Standard => 1,
            ServiceLevel::Express => 2,
            ServiceLevel::SameDay => 3,
        }
    }

    /// The level of a contract number; `None` for unspecified or unknown.
    pub fn from_code(code: i32) -> Option<ServiceLevel> {
        match code {
            1 => Some(ServiceLevel::Standard),
            2 => Some(ServiceLevel::Express),
            3 => Some(ServiceLevel::SameDay),
            _ => None,
        }
    }

    /// The contract's name, for error metadata.
    pub fn name(self) -> &'static str {
        match self {
            ServiceLevel::Standard => "SERVICE_LEVEL_STANDARD",
            ServiceLevel::Express => "SERVICE_LEVEL_EXPRESS",
            ServiceLevel::SameDay => "SERVICE_LEVEL_SAME_DAY",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measure_below_one_gram_or_millimetre_is_refused() {
        for (value, ok) in [(-5, false), (0, false), (1, true), (30_000, true)] {
            assert_eq!(Parcel::measure(value).is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn service_levels_round_trip_through_their_codes_and_unspecified_is_none() {
        for level in ServiceLevel::ALL {
            assert_eq!(ServiceLevel::from_code(level.code()), Some(level));
        }
        assert_eq!(ServiceLevel::from_code(0), None);
        assert_eq!(ServiceLevel::from_code(9), None);
    }
}
