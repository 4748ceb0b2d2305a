//! Reservations: exact units at exact locations for one order, and the state
//! machine documented on `oms.inventory.v1.ReservationState`.

use std::collections::HashSet;

use super::ids::{Invalid, LocationId, Quantity, Sku};

/// One line of a reservation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReservationLine {
    /// The SKU.
    pub sku: Sku,
    /// The location that holds the units.
    pub location_id: LocationId,
    /// How many.
    pub quantity: Quantity,
}

/// The most lines one reservation (or one restock) may hold: every line of the
/// largest order (200, the order service's limit), each planned over up to 20
/// locations (routing's largest max_shipments), as the saga sends them.
pub const MAX_LINES: usize = 4000;

/// Checks the lines of a Reserve: 1 to 4000, each (SKU, location) once.
/// Returns the index of the first repeated line, if any.
pub fn check_lines(lines: &[ReservationLine]) -> Result<(), (Option<usize>, Invalid)> {
    if lines.is_empty() {
        return Err((None, Invalid::new("at least one line is required")));
    }
    if lines.len() > MAX_LINES {
        return Err((None, Invalid::new("at most 4000 lines")));
    }
    let mut seen = HashSet::new();
    for (index, line) in lines.iter().enumerate() {
        if !seen.insert((&line.sku, &line.location_id)) {
            return Err((
                Some(index),
                Invalid::new("repeats the sku and location of an earlier line"),
            ));
        }
    }
    Ok(())
}

/// True when two requests hold the same lines, in any order.
pub fn same_lines(a: &[ReservationLine], b: &[ReservationLine]) -> bool {
    a.len() == b.len() && a.iter().collect::<HashSet<_>>() == b.iter().collect::<HashSet<_>>()
}

oms_platform::code_enum! {
    /// Where a reservation is in its life (`oms.inventory.v1.ReservationState`).
    /// Stored as its lowercase name ([`ReservationState::as_str`]).
    pub enum ReservationState {
        /// Stock is held and counted in reserved until the expire time.
        Held = 1 => "HELD",
        /// The units left on hand for shipping. Terminal.
        Committed = 2 => "COMMITTED",
        /// The units are available again. Terminal.
        Released = 3 => "RELEASED",
        /// Not committed before the expire time; the units are available again. Terminal.
        Expired = 4 => "EXPIRED",
    }
}

/// What happens to a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// CommitReservation: the units leave on hand.
    Commit,
    /// Release: the units are available again.
    Release,
    /// The hold's time passed.
    Expire,
}

/// The outcome of an event in a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Move to this state.
    To(ReservationState),
    /// Already there: change nothing, return the reservation.
    Unchanged,
    /// Refused: ILLEGAL_STATE_TRANSITION.
    Illegal,
    /// Refused: the hold lapsed (RESERVATION_EXPIRED).
    Lapsed,
}

impl ReservationState {
    /// The transition table of the contract.
    pub fn on(self, event: Event) -> Transition {
        use ReservationState::*;
        match (self, event) {
            (Held, Event::Commit) => Transition::To(Committed),
            (Held, Event::Release) => Transition::To(Released),
            (Held, Event::Expire) => Transition::To(Expired),
            (Committed, Event::Commit) => Transition::Unchanged,
            (Released | Expired, Event::Release) => Transition::Unchanged,
            (Expired, Event::Expire) => Transition::Unchanged,
            (Expired, Event::Commit) => Transition::Lapsed,
            (Committed, Event::Release | Event::Expire) | (Released, Event::Commit) => {
                Transition::Illegal
            }
            (Released, Event::Expire) => Transition::Unchanged,
        }
    }

    /// The state as stored: its contract name in lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Held => "held",
            ReservationState::Committed => "committed",
            ReservationState::Released => "released",
            ReservationState::Expired => "expired",
        }
    }

    /// The state stored as `value`.
    pub fn parse(value: &str) -> Option<ReservationState> {
        ReservationState::ALL
            .iter()
            .copied()
            .find(|state| state.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::ReservationState::*;
    use super::*;

    fn line(sku: &str, location: &str, quantity: i32) -> ReservationLine {
        ReservationLine {
            sku: Sku::parse(sku).unwrap(),
            location_id: LocationId::parse(location).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        }
    }

    #[test]
    fn the_transition_table_matches_the_contract() {
        let table = [
            (Held, Event::Commit, Transition::To(Committed)),
            (Held, Event::Release, Transition::To(Released)),
            (Held, Event::Expire, Transition::To(Expired)),
            (Committed, Event::Commit, Transition::Unchanged),
            (Committed, Event::Release, Transition::Illegal),
            (Committed, Event::Expire, Transition::Illegal),
            (Released, Event::Commit, Transition::Illegal),
            (Released, Event::Release, Transition::Unchanged),
            (Released, Event::Expire, Transition::Unchanged),
            (Expired, Event::Commit, Transition::Lapsed),
            (Expired, Event::Release, Transition::Unchanged),
            (Expired, Event::Expire, Transition::Unchanged),
        ];
        for (state, event, expected) in table {
            assert_eq!(state.on(event), expected, "{state:?} on {event:?}");
        }
    }

    #[test]
    fn states_round_trip_through_their_stored_names() {
        for state in [Held, Committed, Released, Expired] {
            assert_eq!(ReservationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ReservationState::parse("lost"), None);
    }

    #[test]
    fn a_repeated_line_is_named_by_its_index() {
        let lines = [line("a", "x", 1), line("b", "x", 1), line("a", "x", 2)];
        assert_eq!(check_lines(&lines).unwrap_err().0, Some(2));
        assert!(check_lines(&[]).is_err());
        assert!(check_lines(&lines[..2]).is_ok());
    }

    #[test]
    fn lines_compare_as_a_set() {
        let a = [line("a", "x", 1), line("b", "x", 2)];
        let b = [line("b", "x", 2), line("a", "x", 1)];
        let c = [line("b", "x", 3), line("a", "x", 1)];
        assert!(same_lines(&a, &b));
        assert!(!same_lines(&a, &c));
        assert!(!same_lines(&a, &a[..1]));
    }
}
