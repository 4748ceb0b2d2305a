//! Conversions every service's `grpc` module needs between the shared proto
//! types and Rust values: timestamps and the actor of a request.

use chrono::{DateTime, Utc};
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

/// A protobuf timestamp as a point in time; `None` when it is out of range.
pub fn from_timestamp(time: &Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).ok()?)
}

/// The request's `actor`, required: a violation of field `actor` when it is
/// missing or invalid.
pub fn actor(violations: &mut FieldViolations, actor: Option<&common::Actor>) -> Option<Actor> {
    match actor {
        None => {
            violations.add("actor", "required");
            None
        }
        Some(actor) => violations.check("actor", Actor::new(actor.kind, &actor.id)),
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
