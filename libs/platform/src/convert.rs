//! Conversions every service's `grpc` module needs between the shared proto
//! types and Rust values: timestamps, durations and the actor of a request.
//!
//! A timestamp or duration a client sends is checked against the range its
//! proto type documents, so no value of it can panic a conversion or reach
//! Postgres out of its range: [`from_timestamp`] and [`time`] take years 1 to
//! 9999, [`duration`] takes 0 to 10,000 years.

use chrono::{DateTime, Datelike as _, Utc};
use oms_proto::common::v1 as common;
use prost_types::Timestamp;

use crate::{
    error::FieldViolations,
    ids::{Actor, Channel},
};

/// A point in time as a protobuf timestamp.
pub fn timestamp(time: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// The largest `nanos` of a Timestamp or Duration.
const MAX_NANOS: i32 = 999_999_999;
/// The longest Duration protobuf allows: 10,000 years of seconds.
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

/// A protobuf timestamp as a point in time; `None` when it is outside the
/// range `google.protobuf.Timestamp` documents (years 1 to 9999, nanos 0 to
/// 999,999,999).
pub fn from_timestamp(time: &Timestamp) -> Option<DateTime<Utc>> {
    if !(0..=MAX_NANOS).contains(&time.nanos) {
        return None;
    }
    let nanos = u32::try_from(time.nanos).ok()?;
    DateTime::from_timestamp(time.seconds, nanos).filter(|time| (1..=9999).contains(&time.year()))
}

/// An optional timestamp field: `None` when unset, or (with a violation of
/// `field`) out of range.
pub fn time(
    violations: &mut FieldViolations,
    field: &str,
    time: Option<&Timestamp>,
) -> Option<DateTime<Utc>> {
    let time = time?;
    let parsed = from_timestamp(time);
    if parsed.is_none() {
        violations.add(field, "must be a timestamp between the years 1 and 9999");
    }
    parsed
}

/// A protobuf duration as a non-negative span; `None` when it is negative or
/// outside the range `google.protobuf.Duration` documents (±10,000 years,
/// nanos of the seconds' sign).
pub fn duration(duration: &prost_types::Duration) -> Option<std::time::Duration> {
    let seconds = u64::try_from(duration.seconds).ok()?;
    let nanos = u32::try_from(duration.nanos).ok()?;
    if duration.seconds > MAX_DURATION_SECONDS || duration.nanos > MAX_NANOS {
        return None;
    }
    Some(std::time::Duration::new(seconds, nanos))
}

/// The request's `actor`, required: a violation of field `actor` when it is
/// missing or invalid. Behind a verified bearer token the actor is the
/// token's subject (see [`optional_actor`]).
pub fn actor(violations: &mut FieldViolations, actor: Option<&common::Actor>) -> Option<Actor> {
    let acting = optional_actor(violations, actor);
    if actor.is_none() && acting.is_none() {
        violations.add("actor", "required");
    }
    acting
}

/// The request's `actor` when it names one or the caller's bearer token
/// does: `None` when neither does, or when the actor is invalid (a violation
/// of field `actor`).
///
/// Behind a verified token ([`crate::access::current_subject`]) the subject
/// acts: a request without an actor acts as the subject, and a request whose
/// actor is anyone else is refused, so records name who really acted.
pub fn optional_actor(
    violations: &mut FieldViolations,
    actor: Option<&common::Actor>,
) -> Option<Actor> {
    let subject = crate::access::current_subject();
    let Some(actor) = actor else {
        return subject.map(|subject| subject.actor());
    };
    let declared = violations.check("actor", Actor::new(actor.kind, &actor.id))?;
    match subject {
        Some(subject) if subject.actor() != declared => {
            let acting = subject.actor();
            violations.add(
                "actor",
                format!(
                    "must be the bearer token's subject ({} {:?}) or left out",
                    acting.kind.name(),
                    acting.id
                ),
            );
            None
        }
        _ => Some(declared),
    }
}

/// An actor as the contracts name it.
pub fn actor_to_proto(actor: &Actor) -> common::Actor {
    common::Actor {
        kind: i32::from(actor.kind.code()),
        id: actor.id.clone(),
    }
}

/// A channel as the contracts name it.
pub fn channel_to_proto(channel: &Channel) -> common::Channel {
    common::Channel {
        kind: i32::from(channel.kind),
        name: channel.name.clone(),
    }
}

/// An amount of `minor` units of `currency`.
pub fn money(currency: &str, minor: i64) -> common::Money {
    common::Money {
        currency_code: currency.to_owned(),
        amount_minor: minor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_out_of_range_ones_are_none() {
        let time = DateTime::from_timestamp(1_795_000_000, 123_456_000).unwrap();
        assert_eq!(from_timestamp(&timestamp(time)), Some(time));
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
        assert_eq!(
            from_timestamp(&Timestamp {
                seconds: i64::MAX,
                nanos: 0
            }),
            None
        );
    }

    #[test]
    fn timestamps_outside_years_1_to_9999_or_with_bad_nanos_are_refused() {
        let at = |seconds, nanos| from_timestamp(&Timestamp { seconds, nanos });
        assert!(
            at(253_402_300_799, 999_999_999).is_some(),
            "9999-12-31T23:59:59.999999999"
        );
        assert!(at(-62_135_596_800, 0).is_some(), "0001-01-01T00:00:00");
        for (seconds, nanos) in [
            (253_402_300_800, 0),
            (-62_135_596_801, 0),
            (i64::MIN, 0),
            (i64::MAX, i32::MAX),
            (0, 1_000_000_000),
            (0, i32::MIN),
        ] {
            assert_eq!(at(seconds, nanos), None, "{seconds} {nanos}");
        }
        let mut violations = FieldViolations::new();
        let far = Timestamp {
            seconds: i64::MAX,
            nanos: 0,
        };
        assert_eq!(time(&mut violations, "since", None), None);
        assert_eq!(time(&mut violations, "since", Some(&far)), None);
        assert_eq!(violations.violations()[0].field, "since");
    }

    #[test]
    fn durations_are_non_negative_and_within_ten_thousand_years() {
        let span = |seconds, nanos| duration(&prost_types::Duration { seconds, nanos });
        assert_eq!(span(90, 5), Some(std::time::Duration::new(90, 5)));
        assert_eq!(
            span(315_576_000_000, 999_999_999),
            Some(std::time::Duration::new(315_576_000_000, 999_999_999))
        );
        for (seconds, nanos) in [
            (i64::MIN, 0),
            (i64::MIN, i32::MIN),
            (-1, 0),
            (0, -1),
            (i64::MAX, 0),
            (315_576_000_001, 0),
            (0, 1_000_000_000),
            (0, i32::MAX),
        ] {
            assert_eq!(span(seconds, nanos), None, "{seconds} {nanos}");
        }
    }

    #[test]
    fn an_actor_is_required_and_checked() {
        let mut violations = FieldViolations::new();
        assert!(actor(&mut violations, None).is_none());
        let operator = common::Actor {
            kind: 2,
            id: "op-1".into(),
        };
        assert!(actor(&mut violations, Some(&operator)).is_some());
        let unspecified = common::Actor {
            kind: 0,
            id: "x".into(),
        };
        assert!(actor(&mut violations, Some(&unspecified)).is_none());
        let fields: Vec<_> = violations
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect();
        assert_eq!(fields, ["actor", "actor"]);
    }
}
