//! Parcels and service levels: values that cannot hold an invalid parcel.

use oms_platform::ids::Invalid;

/// Most parcels one shipment or quote may carry.
pub const MAX_PARCELS: usize = 50;

/// One box: weight in grams and sides in millimetres, each at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parcel {
    /// Gross weight in grams.
    pub weight_grams: i32,
    /// Longest side in millimetres.
    pub length_mm: i32,
    /// Second side in millimetres.
    pub width_mm: i32,
    /// Shortest side in millimetres.
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

oms_platform::code_enum! {
    /// How fast a shipment travels (`oms.common.v1.ServiceLevel`).
    pub enum ServiceLevel {
        /// Economy, usually 2 to 5 days.
        Standard = 1 => "SERVICE_LEVEL_STANDARD",
        /// Next day where the carrier can.
        Express = 2 => "SERVICE_LEVEL_EXPRESS",
        /// The same day, only within range of the shipping location.
        SameDay = 3 => "SERVICE_LEVEL_SAME_DAY",
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
        for &level in ServiceLevel::ALL {
            assert_eq!(ServiceLevel::from_code(level.code()), Some(level));
        }
        assert_eq!(ServiceLevel::from_code(0), None);
        assert_eq!(ServiceLevel::from_code(9), None);
    }
}
