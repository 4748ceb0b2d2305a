//! What must hold after the run, read from the services' own databases:
//! no unit sold twice (the inventory's reservations against the stock the
//! bench seeded, and the order service's CONFIRMED lines against the same),
//! and every stock row equal to the seeded units less what was committed.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::orders::STOCK;

/// The oversell and the stock rows that disagree with the ledger.
pub struct StockCheck {
    /// Units reserved or sold beyond the seeded stock, summed over every
    /// (SKU, location), and over every SKU as the confirmed orders count it.
    pub oversell: i64,
    /// Each disagreement, described.
    pub mismatches: Vec<String>,
}

/// Checks the stock in the inventory database and the confirmed orders in
/// the order database against the seeded [`STOCK`].
pub async fn stock(inventory: &PgPool, order: &PgPool) -> anyhow::Result<StockCheck> {
    let rows: Vec<(String, String, i32, i32, i64, i64)> = sqlx::query_as(
        "SELECT s.sku::text, s.location_id::text, s.on_hand, s.reserved,
                coalesce(sum(l.quantity) FILTER (WHERE r.state = 'committed'), 0)::bigint,
                coalesce(sum(l.quantity) FILTER (WHERE r.state = 'held'), 0)::bigint
         FROM stock s
         LEFT JOIN reservation_lines l ON l.sku = s.sku AND l.location_id = s.location_id
         LEFT JOIN reservations r ON r.reservation_id = l.reservation_id
         GROUP BY s.sku, s.location_id, s.on_hand, s.reserved",
    )
    .fetch_all(inventory)
    .await?;
    let mut oversell = 0;
    let mut mismatches = Vec::new();
    let mut seeded_by_sku: BTreeMap<&str, i64> = BTreeMap::new();
    for (sku, location, units) in STOCK {
        *seeded_by_sku.entry(sku).or_default() += i64::from(units);
        let Some((_, _, on_hand, reserved, committed, held)) =
            rows.iter().find(|row| row.0 == sku && row.1 == location)
        else {
            mismatches.push(format!("{sku} at {location}: no stock row"));
            continue;
        };
        let units = i64::from(units);
        oversell += (committed + held - units).max(0);
        if i64::from(*on_hand) != units - committed {
            mismatches.push(format!(
                "{sku} at {location}: on hand {on_hand}, seeded {units} less {committed} committed"
            ));
        }
        if i64::from(*reserved) != *held {
            mismatches.push(format!(
                "{sku} at {location}: reserved {reserved}, held reservations {held}"
            ));
        }
    }
    // CONFIRMED (2) orders, by SKU, must fit the seeded stock too.
    let confirmed: Vec<(String, i64)> = sqlx::query_as(
        "SELECT l.sku, sum(l.quantity)::bigint FROM order_lines l
         JOIN orders o ON o.order_id = l.order_id
         WHERE o.status = 2 GROUP BY l.sku",
    )
    .fetch_all(order)
    .await?;
    for (sku, units) in confirmed {
        let seeded = seeded_by_sku.get(sku.as_str()).copied().unwrap_or(0);
        oversell += (units - seeded).max(0);
    }
    Ok(StockCheck {
        oversell,
        mismatches,
    })
}

/// Orders CONFIRMED whose saga did not complete, or REJECTED whose saga was
/// not compensated (compared by count): each end must be seen the same way by
/// the order service and the coordinator.
pub async fn ends_agree(order: &PgPool, saga: &PgPool) -> anyhow::Result<Vec<String>> {
    let (confirmed, rejected): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 2), count(*) FILTER (WHERE status = 6) FROM orders",
    )
    .fetch_one(order)
    .await?;
    let (completed, compensated): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE state = 3), count(*) FILTER (WHERE state = 4)
         FROM sagas WHERE kind = 1",
    )
    .fetch_one(saga)
    .await?;
    let mut disagreements = Vec::new();
    if confirmed != completed {
        disagreements.push(format!(
            "{confirmed} orders CONFIRMED, {completed} order sagas COMPLETED"
        ));
    }
    if rejected != compensated {
        disagreements.push(format!(
            "{rejected} orders REJECTED, {compensated} order sagas COMPENSATED"
        ));
    }
    Ok(disagreements)
}

/// Step attempts of the order sagas of `order_ids`: every forward and
/// compensation attempt the coordinator logged.
pub async fn step_attempts(saga: &PgPool, order_ids: &[String]) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(sum((step->>'forward_attempts')::bigint
                             + (step->>'compensation_attempts')::bigint), 0)::bigint
         FROM sagas, jsonb_array_elements(body->'steps') AS step
         WHERE kind = 1 AND order_id = ANY($1)",
    )
    .bind(order_ids)
    .fetch_one(saga)
    .await?)
}
