//! Deciding a group of reservations together: the requests of several orders
//! against the free units of the stock rows they name, read under the rows'
//! locks, one order after the other in the order they arrived.
//!
//! An order is held only when every one of its lines fits what the orders
//! before it left free; then its lines come off those rows. An order with a
//! short line takes nothing from any row, so the orders after it may still
//! fit. The decision is exact because nobody else can change the rows while
//! their locks are held.

use std::collections::HashMap;

use super::ReservationLine;

/// What one order of a group gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Every line fits: hold them all.
    Hold,
    /// These lines do not fit: hold nothing.
    Short(Vec<ShortLine>),
    /// A line names a stock row that was not read (no such SKU at the
    /// location, or the location is inactive): decided alone, which names why.
    Unknown,
}

/// A line that does not fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLine {
    /// Its index in the order's lines.
    pub line: usize,
    /// The units free on its row when the order's turn came.
    pub available: i32,
}

/// The free units (on hand minus reserved) of stock rows, by (SKU, location).
#[derive(Debug, Default)]
pub struct FreeUnits(HashMap<(String, String), i32>);

impl FreeUnits {
    /// Rows as (SKU, location, free units).
    pub fn new(rows: impl IntoIterator<Item = (String, String, i32)>) -> FreeUnits {
        FreeUnits(
            rows.into_iter()
                .map(|(sku, location_id, free)| ((sku, location_id), free))
                .collect(),
        )
    }

    /// The free units of a row; `None` when it was not read.
    pub fn at(&self, sku: &str, location_id: &str) -> Option<i32> {
        self.0
            .get(&(sku.to_owned(), location_id.to_owned()))
            .copied()
    }

    /// The free units of a line's row; `None` when the row was not read.
    pub fn of(&self, line: &ReservationLine) -> Option<i32> {
        self.at(line.sku.as_str(), line.location_id.as_str())
    }

    /// The lines of an order that do not fit what is free now (none when it
    /// fits); `None` when a line's row was not read.
    pub fn short_lines(&self, lines: &[ReservationLine]) -> Option<Vec<ShortLine>> {
        let mut short = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            let free = self.of(line)?;
            if free < line.quantity.get() {
                short.push(ShortLine {
                    line: index,
                    available: free.max(0),
                });
            }
        }
        Some(short)
    }

    /// Decides one order against what is free now, and takes its units when
    /// it is held.
    pub fn decide(&mut self, lines: &[ReservationLine]) -> Decision {
        match self.short_lines(lines) {
            None => Decision::Unknown,
            Some(short) if !short.is_empty() => Decision::Short(short),
            Some(_) => {
                for line in lines {
                    let key = (line.sku.to_string(), line.location_id.to_string());
                    if let Some(free) = self.0.get_mut(&key) {
                        *free -= line.quantity.get();
                    }
                }
                Decision::Hold
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LocationId, Quantity, Sku};

    fn line(sku: &str, location_id: &str, quantity: i32) -> ReservationLine {
        ReservationLine {
            sku: Sku::parse(sku).unwrap(),
            location_id: LocationId::parse(location_id).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    fn free(rows: &[(&str, &str, i32)]) -> FreeUnits {
        FreeUnits::new(
            rows.iter()
                .map(|(sku, location, free)| ((*sku).to_owned(), (*location).to_owned(), *free)),
        )
    }

    #[test]
    fn exactly_the_free_units_are_held_in_arrival_order() {
        let mut units = free(&[("hot", "wh-1", 5)]);
        let decisions: Vec<Decision> = (0..7)
            .map(|_| units.decide(&[line("hot", "wh-1", 1)]))
            .collect();

        assert_eq!(
            decisions.iter().filter(|d| **d == Decision::Hold).count(),
            5
        );
        assert_eq!(decisions[..5], vec![Decision::Hold; 5]);
        assert_eq!(
            decisions[5],
            Decision::Short(vec![ShortLine {
                line: 0,
                available: 0
            }])
        );
        assert_eq!(units.of(&line("hot", "wh-1", 1)), Some(0));
    }

    #[test]
    fn an_order_with_one_short_line_takes_nothing_from_its_other_lines() {
        let mut units = free(&[("hot", "wh-1", 3), ("tee", "wh-1", 1)]);

        let decision = units.decide(&[line("hot", "wh-1", 2), line("tee", "wh-1", 2)]);

        assert_eq!(
            decision,
            Decision::Short(vec![ShortLine {
                line: 1,
                available: 1
            }])
        );
        assert_eq!(units.of(&line("hot", "wh-1", 1)), Some(3));
        assert_eq!(units.of(&line("tee", "wh-1", 1)), Some(1));
    }

    #[test]
    fn a_smaller_order_after_a_refused_larger_one_still_fits() {
        let mut units = free(&[("hot", "wh-1", 2)]);

        assert!(matches!(
            units.decide(&[line("hot", "wh-1", 3)]),
            Decision::Short(_)
        ));
        assert_eq!(units.decide(&[line("hot", "wh-1", 2)]), Decision::Hold);
    }

    #[test]
    fn a_row_not_read_leaves_the_order_to_be_decided_alone() {
        let mut units = free(&[("hot", "wh-1", 2)]);

        let decision = units.decide(&[line("hot", "wh-1", 1), line("hot", "wh-9", 1)]);

        assert_eq!(decision, Decision::Unknown);
        assert_eq!(units.of(&line("hot", "wh-1", 1)), Some(2));
    }

    #[test]
    fn a_shortfall_counts_as_nothing_free() {
        let mut units = free(&[("hot", "wh-1", -2)]);

        assert_eq!(
            units.decide(&[line("hot", "wh-1", 1)]),
            Decision::Short(vec![ShortLine {
                line: 0,
                available: 0
            }])
        );
    }
}
