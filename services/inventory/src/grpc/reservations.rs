//! Reservations: Reserve (decided in groups), Release,
//! CommitReservation, their reads, and the reserved load of locations that
//! routing's capacity filter asks for.

use std::time::Duration;

use chrono::{DateTime, Utc};
use oms_platform::{error::FieldViolations, paging::Pages};
use oms_proto::inventory::v1 as pb;
use opentelemetry::KeyValue;
use uuid::Uuid;

use super::{Inventory, convert, convert::*};
use crate::{
    domain::{Actor, Channel, MintedId, OrderId, ReservationLine, ReservationState, reservation},
    error::InventoryError,
    group_commit::Reservation,
    store::reservations::ReservationFilter,
};

/// The default hold of a reservation.
const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most characters of a release's reason.
const MAX_REASON: usize = 500;
/// Most locations one GetLocationLoad asks about.
const MAX_LOAD_QUERIES: usize = 5000;

/// A checked Reserve.
pub(super) struct Reserve {
    order_id: OrderId,
    lines: Vec<ReservationLine>,
    ttl: Duration,
    channel: Option<Channel>,
    actor: Actor,
}

impl Reserve {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::ReserveRequest,
    ) -> Option<Reserve> {
        let order_id = order_id(violations, &request.order_id);
        let lines = reservation_lines(violations, &request.lines);
        if let Some(lines) = &lines
            && let Err((index, err)) = reservation::check_lines(lines)
        {
            let field = index.map_or("lines".to_owned(), |index| format!("lines[{index}]"));
            violations.add(field, err.to_string());
        }
        let ttl = match &request.ttl {
            None => Some(DEFAULT_TTL),
            Some(ttl) => {
                let ttl = oms_platform::convert::duration(ttl)
                    .filter(|ttl| *ttl >= Duration::from_secs(1) && *ttl <= MAX_TTL);
                if ttl.is_none() {
                    violations.add("ttl", "must be 1 s to 7 days");
                }
                ttl
            }
        };
        let channel = channel(violations, "channel", request.channel.as_ref());
        let actor = actor(violations, request.actor.as_ref());
        Some(Reserve {
            order_id: order_id?,
            lines: lines?,
            ttl: ttl?,
            channel,
            actor: actor?,
        })
    }
}

/// A checked Release or CommitReservation: the order, who, (for a release)
/// why, and (for a commit) whether an expired reservation is taken again.
pub(super) struct Settle {
    order_id: OrderId,
    reason: String,
    actor: Actor,
    reacquire: bool,
}

impl Settle {
    pub(super) fn check_release(
        violations: &mut FieldViolations,
        request: &pb::ReleaseRequest,
    ) -> Option<Settle> {
        let order_id = order_id(violations, &request.order_id);
        let reason = note(violations, "reason", &request.reason, MAX_REASON);
        Settle::with(violations, order_id, reason, request.actor.as_ref())
    }

    pub(super) fn check_commit(
        violations: &mut FieldViolations,
        request: &pb::CommitReservationRequest,
    ) -> Option<Settle> {
        let order_id = order_id(violations, &request.order_id);
        let mut commit = Settle::with(violations, order_id, String::new(), request.actor.as_ref())?;
        commit.reacquire = request.reacquire_if_expired;
        Some(commit)
    }

    fn with(
        violations: &mut FieldViolations,
        order_id: Option<OrderId>,
        reason: String,
        actor: Option<&oms_proto::common::v1::Actor>,
    ) -> Option<Settle> {
        let actor = self::actor(violations, actor);
        Some(Settle {
            order_id: order_id?,
            reason,
            actor: actor?,
            reacquire: false,
        })
    }
}

/// GetReservation's key.
pub(super) enum ReservationKey {
    Order(OrderId),
    Id(Uuid),
}

impl ReservationKey {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::GetReservationRequest,
    ) -> Option<ReservationKey> {
        use pb::get_reservation_request::Key;
        match &request.key {
            Some(Key::OrderId(id)) if !id.is_empty() => {
                order_id(violations, id).map(ReservationKey::Order)
            }
            Some(Key::ReservationId(id)) if !id.is_empty() => violations
                .check("reservation_id", MintedId::parse(id))
                .map(|id| ReservationKey::Id(id.uuid())),
            _ => {
                violations.add("key", "order_id or reservation_id is required");
                None
            }
        }
    }
}

/// A checked ListReservations: its filters and its page, newest first.
pub(super) struct ListReservations {
    filter: ReservationFilter,
    pages: Pages<(DateTime<Utc>, Uuid)>,
}

impl ListReservations {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::ListReservationsRequest,
    ) -> Option<ListReservations> {
        let pages = Pages::of_request(request, |r| r.page.take(), violations);
        let mut states = Vec::new();
        for (index, state) in request.states.iter().enumerate() {
            let Some(state) = ReservationState::from_code(*state) else {
                violations.add(format!("states[{index}]"), "unspecified or unknown state");
                continue;
            };
            states.push(state.as_str().to_owned());
        }
        let text = |value: &str| Some(value.to_owned()).filter(|value| !value.is_empty());
        Some(ListReservations {
            filter: ReservationFilter {
                states,
                sku: text(&request.sku),
                location_id: text(&request.location_id),
                channel: channel(violations, "channel", request.channel.as_ref()),
                expire_before: time(violations, "expire_before", request.expire_before.as_ref()),
            },
            pages,
        })
    }
}

/// GetLocationLoad's queries: (location id, since).
pub(super) fn check_load(
    violations: &mut FieldViolations,
    request: &pb::GetLocationLoadRequest,
) -> Option<Vec<(String, DateTime<Utc>)>> {
    if request.queries.is_empty() || request.queries.len() > MAX_LOAD_QUERIES {
        violations.add("queries", "must hold 1 to 5000 queries");
    }
    let mut queries = Vec::new();
    for (index, query) in request.queries.iter().enumerate() {
        let field = format!("queries[{index}].since");
        if query.since.is_none() {
            violations.add(field.as_str(), "required");
        }
        if let Some(since) = time(violations, &field, query.since.as_ref()) {
            queries.push((query.location_id.clone(), since));
        }
    }
    Some(queries)
}

impl Inventory {
    pub(super) async fn reserve(
        &self,
        reserve: Reserve,
    ) -> Result<pb::ReserveResponse, InventoryError> {
        let Reserve {
            order_id,
            lines,
            ttl,
            channel,
            actor,
        } = reserve;
        let (order, line_count) = (order_id.to_string(), lines.len());
        let reserved = self
            .group_commit
            .reserve(Reservation {
                order_id,
                lines,
                ttl,
                channel,
                actor,
            })
            .await;
        let outcome = match &reserved {
            Ok(_) => "held",
            Err(InventoryError::InsufficientStock(_)) => "refused",
            Err(_) => "failed",
        };
        self.reservations
            .add(1, &[KeyValue::new("outcome", outcome)]);
        let reservation = reserved?;
        tracing::debug!(order_id = %order, lines = line_count, "reserved");
        Ok(pb::ReserveResponse {
            reservation: Some(convert::reservation(&reservation)),
        })
    }

    pub(super) async fn release(
        &self,
        release: Settle,
    ) -> Result<pb::ReleaseResponse, InventoryError> {
        let released = crate::reservations::release(
            &self.store,
            &release.order_id,
            &release.reason,
            &release.actor,
        )
        .await?;
        let lines = &released.reservation.lines;
        self.changed(lines.iter().map(|line| line.sku.as_str()))
            .await;
        Ok(pb::ReleaseResponse {
            reservation: Some(convert::reservation(&released.reservation)),
            changed: released.changed,
        })
    }

    pub(super) async fn commit_reservation(
        &self,
        commit: Settle,
    ) -> Result<pb::CommitReservationResponse, InventoryError> {
        let committed = crate::reservations::commit(
            &self.store,
            &commit.order_id,
            &commit.actor,
            commit.reacquire,
        )
        .await?;
        self.changed(committed.lines.iter().map(|line| line.sku.as_str()))
            .await;
        Ok(pb::CommitReservationResponse {
            reservation: Some(convert::reservation(&committed)),
        })
    }

    pub(super) async fn get_reservation(
        &self,
        key: ReservationKey,
    ) -> Result<pb::GetReservationResponse, InventoryError> {
        let found = match key {
            ReservationKey::Order(order_id) => self.store.reservation_by_order(&order_id).await?,
            ReservationKey::Id(id) => self.store.reservation_by_id(id).await?,
        };
        let reservation =
            found.ok_or_else(|| InventoryError::not_found("reservation", "requested"))?;
        Ok(pb::GetReservationResponse {
            reservation: Some(convert::reservation(&reservation)),
        })
    }

    pub(super) async fn list_reservations(
        &self,
        list: ListReservations,
    ) -> Result<pb::ListReservationsResponse, InventoryError> {
        let ListReservations { filter, pages } = list;
        let mut records = self
            .store
            .list_reservations(&filter, pages.after, pages.fetch())
            .await?;
        let page = pages.finish(&mut records, |record| {
            (record.create_time, record.reservation_id)
        });
        Ok(pb::ListReservationsResponse {
            reservations: records.iter().map(convert::reservation).collect(),
            page: Some(page),
        })
    }

    pub(super) async fn get_location_load(
        &self,
        queries: Vec<(String, DateTime<Utc>)>,
    ) -> Result<pb::GetLocationLoadResponse, InventoryError> {
        let loads = self.store.location_load(&queries).await?;
        Ok(pb::GetLocationLoadResponse {
            loads: queries
                .iter()
                .zip(loads)
                .map(|((location_id, _), load)| pb::LocationLoad {
                    location_id: location_id.clone(),
                    orders: i32::try_from(load.orders).unwrap_or(i32::MAX),
                    units: i32::try_from(load.units).unwrap_or(i32::MAX),
                })
                .collect(),
        })
    }
}
