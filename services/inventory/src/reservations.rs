//! Reserve, Release, CommitReservation and expiry as transactions: this module
//! owns them, between the handlers (`grpc::reservations`) and the expiry sweep
//! above and the guarded statements of [`crate::store::reservations`] below.
//!
//! Each change is one short transaction around one statement. When the
//! statement finds the reservation moved under it (made by an earlier call,
//! expired by the database's clock, a hold returned in between), the
//! transaction is rolled back, the reservation is read again outside any
//! transaction, and the change is decided anew: no transaction is held while
//! another connection is taken.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{
    domain::{Actor, OrderId, ReservationLine, ReservationState, reservation::same_lines},
    error::{InventoryError, Shortage},
    store::{
        Store,
        reservations::{
            Hold, Holds, HoldsOutcome, NewReservation, Recommit, ReservationRecord, return_holds,
        },
    },
};

/// How often Reserve tries again when its guard refused a line but the
/// diagnosis finds enough stock (a hold was returned in between).
const RESERVE_ATTEMPTS: usize = 3;

/// The outcome of Release.
#[derive(Debug)]
pub struct Released {
    /// The order's reservation after the call.
    pub reservation: ReservationRecord,
    /// False when it was released (or expired) before.
    pub changed: bool,
}

/// Holds every line for the order, or nothing. A retry with the same lines
/// returns the reservation made first.
pub async fn reserve(
    store: &Store,
    request: &NewReservation<'_>,
) -> Result<ReservationRecord, InventoryError> {
    let mut shortages = Vec::new();
    for _ in 0..RESERVE_ATTEMPTS {
        let mut tx = store.begin().await?;
        match Store::hold(&mut tx, request).await? {
            Hold::Held(reservation) => {
                tx.commit().await?;
                return Ok(reservation);
            }
            Hold::Exists => {
                tx.rollback().await?;
                return existing(store, request).await;
            }
            Hold::Short => tx.rollback().await?,
        }
        shortages = available_now(store, request.lines).await?;
        if shortages
            .iter()
            .any(|short| short.requested > short.available)
        {
            shortages.retain(|short| short.requested > short.available);
            break;
        }
        // Every line fits now: a hold was returned in between. Try again;
        // after the last attempt every line is reported as contended.
    }
    Err(InventoryError::InsufficientStock(shortages))
}

/// Reserve for an order that has a reservation: the same one back, or why not.
pub(crate) async fn existing(
    store: &Store,
    request: &NewReservation<'_>,
) -> Result<ReservationRecord, InventoryError> {
    let existing = store
        .reservation_by_order(request.order_id)
        .await?
        .ok_or_else(|| {
            InventoryError::Corrupt(format!(
                "reservation of order {} vanished",
                request.order_id
            ))
        })?;
    match existing.state {
        ReservationState::Released => {
            return Err(InventoryError::IllegalTransition {
                from: ReservationState::Released,
                to: ReservationState::Held,
            });
        }
        ReservationState::Expired => return Err(expired(&existing)),
        // The database's clock decides; the sweep may not have run yet.
        ReservationState::Held
            if is_past(existing.expire_time) && expire(store, existing.reservation_id).await? =>
        {
            return Err(expired(&existing));
        }
        ReservationState::Held | ReservationState::Committed => {}
    }
    if !same_lines(&existing.lines, request.lines) {
        return Err(InventoryError::KeyReused(vec![(
            "order_id",
            request.order_id.to_string(),
        )]));
    }
    Ok(existing)
}

/// Returns the holds of the order's reservation; records a tombstone when the
/// order has none, so a late Reserve holds nothing.
pub async fn release(
    store: &Store,
    order_id: &OrderId,
    reason: &str,
    actor: &Actor,
) -> Result<Released, InventoryError> {
    let mut tx = store.begin().await?;
    let outcome =
        return_holds(&mut tx, order_id.as_str(), Holds::Release { reason }, actor).await?;
    if let HoldsOutcome::Changed(reservation) = outcome {
        tx.commit().await?;
        return Ok(Released {
            reservation: *reservation,
            changed: true,
        });
    }
    let inserted = Store::insert_released(&mut tx, order_id, reason).await?;
    tx.commit().await?;
    let reservation = store.require_reservation(order_id).await?;
    match reservation.state {
        ReservationState::Committed => Err(InventoryError::IllegalTransition {
            from: ReservationState::Committed,
            to: ReservationState::Released,
        }),
        // Made HELD between the two statements: release that hold.
        ReservationState::Held => Box::pin(release(store, order_id, reason, actor)).await,
        ReservationState::Released | ReservationState::Expired => Ok(Released {
            reservation,
            changed: inserted,
        }),
    }
}

/// Takes a held reservation's units off hand; with `reacquire`, an expired
/// one's units are taken again from what is available.
///
/// The usual case, a HELD reservation within its time, is one transaction,
/// answered from what it wrote; the reservation is read only when it was not
/// held then.
pub async fn commit(
    store: &Store,
    order_id: &OrderId,
    actor: &Actor,
    reacquire: bool,
) -> Result<ReservationRecord, InventoryError> {
    let mut tx = store.begin().await?;
    match return_holds(&mut tx, order_id.as_str(), Holds::Commit, actor).await? {
        HoldsOutcome::Changed(reservation) => {
            tx.commit().await?;
            return Ok(*reservation);
        }
        HoldsOutcome::Short => {
            tx.rollback().await?;
            let now = store.require_reservation(order_id).await?;
            return Err(InventoryError::InsufficientStock(
                store.on_hand_shortages(&now.lines).await?,
            ));
        }
        HoldsOutcome::NotHeld => tx.rollback().await?,
    }
    let existing = store.require_reservation(order_id).await?;
    match existing.state {
        ReservationState::Committed => Ok(existing),
        ReservationState::Released => Err(InventoryError::IllegalTransition {
            from: ReservationState::Released,
            to: ReservationState::Committed,
        }),
        ReservationState::Expired if reacquire => {
            recommit_expired(store, order_id, &existing, actor).await
        }
        ReservationState::Expired => Err(expired(&existing)),
        // Held but past its expire time by the database's clock, or held
        // since the transaction above looked.
        ReservationState::Held => {
            if expire(store, existing.reservation_id).await? && !reacquire {
                return Err(expired(&existing));
            }
            Box::pin(commit(store, order_id, actor, reacquire)).await
        }
    }
}

/// Commits an expired reservation again: its units come off hand where they
/// are still available (on hand minus reserved), every line or none.
async fn recommit_expired(
    store: &Store,
    order_id: &OrderId,
    existing: &ReservationRecord,
    actor: &Actor,
) -> Result<ReservationRecord, InventoryError> {
    let mut tx = store.begin().await?;
    match Store::recommit(&mut tx, order_id.as_str(), actor).await? {
        Recommit::Committed => {
            tx.commit().await?;
            store.require_reservation(order_id).await
        }
        // Committed meanwhile by another call: the same answer as for it.
        Recommit::NotExpired => {
            tx.rollback().await?;
            store.require_reservation(order_id).await
        }
        Recommit::Short => {
            tx.rollback().await?;
            let mut shortages = available_now(store, &existing.lines).await?;
            shortages.retain(|short| short.requested > short.available);
            Err(InventoryError::InsufficientStock(shortages))
        }
    }
}

/// Expires one held reservation whose time has passed; false when it was not
/// (any more) held and due.
pub async fn expire(store: &Store, reservation_id: Uuid) -> Result<bool, InventoryError> {
    let Some(order_id) = store.order_of(reservation_id).await? else {
        return Ok(false);
    };
    // Taken as stored: holds made before order ids had to be UUIDs expire too.
    let mut tx = store.begin().await?;
    let outcome = return_holds(
        &mut tx,
        &order_id,
        Holds::Expire,
        &Actor::system("oms-inventory"),
    )
    .await?;
    tx.commit().await?;
    Ok(matches!(outcome, HoldsOutcome::Changed(_)))
}

/// Each line with the units available for it now, read outside any
/// transaction; NOT_FOUND or LOCATION_INACTIVE when a line cannot be held at
/// all.
async fn available_now(
    store: &Store,
    lines: &[ReservationLine],
) -> Result<Vec<Shortage>, InventoryError> {
    let available = store.diagnose(lines).await?;
    Ok(lines
        .iter()
        .zip(available)
        .map(|(line, available)| Shortage {
            sku: line.sku.to_string(),
            location_id: line.location_id.to_string(),
            requested: line.quantity.get(),
            available,
        })
        .collect())
}

fn is_past(time: Option<DateTime<Utc>>) -> bool {
    time.is_some_and(|time| time <= Utc::now())
}

fn expired(reservation: &ReservationRecord) -> InventoryError {
    InventoryError::ReservationExpired {
        reservation_id: reservation.reservation_id.to_string(),
    }
}
