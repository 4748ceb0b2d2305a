//! A return with its lines, replacement lines, timeline and policy version, and
//! what follows from them: the refund breakdown, the restock list and an
//! exchange's price difference.

use std::collections::HashMap;

use sqlx::PgConnection;
use uuid::Uuid;

use super::{EventRow, LineRow, PolicyRow, ReplacementRow, ReturnRow, policies};
use crate::{
    domain::{
        policy::{Policy, Resolution, ReturnReason},
        refund::{self, Breakdown, Overflow, RefundInput},
        status::{CloseReason, ReturnStatus},
    },
    error::ReturnsError,
};

/// A return and everything about it.
#[derive(Debug, Clone)]
pub struct ReturnRecord {
    /// The return's row.
    pub row: ReturnRow,
    /// Its lines, by line number.
    pub lines: Vec<LineRow>,
    /// An exchange's replacement lines, by line number.
    pub replacements: Vec<ReplacementRow>,
    /// Its timeline, oldest first.
    pub events: Vec<EventRow>,
    /// The policy version in force at the request; `None` for the default.
    pub policy: Option<PolicyRow>,
}

/// Loads the children of `rows`, keeping their order.
pub(super) async fn complete(
    conn: &mut PgConnection,
    rows: Vec<ReturnRow>,
) -> Result<Vec<ReturnRecord>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.return_id).collect();
    let lines: Vec<LineRow> = sqlx::query_as(
        "SELECT return_id, line_number, sku, quantity, reason, unit_price_minor,
                restock_quantity, damaged_quantity, missing_quantity, inspection_note
         FROM return_lines WHERE return_id = ANY($1) ORDER BY return_id, line_number",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let replacements: Vec<ReplacementRow> = sqlx::query_as(
        "SELECT return_id, line_number, sku, quantity, unit_price_minor
         FROM replacement_lines WHERE return_id = ANY($1) ORDER BY return_id, line_number",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT return_id, seq, event_time, status, actor_kind, actor_id, note
         FROM return_events WHERE return_id = ANY($1) ORDER BY return_id, seq",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut policy_ids: Vec<i64> = rows.iter().filter_map(|row| row.policy_id).collect();
    policy_ids.sort_unstable();
    policy_ids.dedup();
    let policies: HashMap<i64, PolicyRow> = policies::by_ids(conn, &policy_ids)
        .await?
        .into_iter()
        .map(|policy| (policy.policy_id, policy))
        .collect();

    let mut lines = group(lines, |line| line.return_id);
    let mut replacements = group(replacements, |line| line.return_id);
    let mut events = group(events, |event| event.return_id);
    Ok(rows
        .into_iter()
        .map(|row| ReturnRecord {
            lines: lines.remove(&row.return_id).unwrap_or_default(),
            replacements: replacements.remove(&row.return_id).unwrap_or_default(),
            events: events.remove(&row.return_id).unwrap_or_default(),
            policy: row.policy_id.and_then(|id| policies.get(&id).cloned()),
            row,
        })
        .collect())
}

fn group<T>(items: Vec<T>, key: impl Fn(&T) -> Uuid) -> HashMap<Uuid, Vec<T>> {
    let mut groups: HashMap<Uuid, Vec<T>> = HashMap::new();
    for item in items {
        groups.entry(key(&item)).or_default().push(item);
    }
    groups
}

fn corrupt(what: &str, return_id: Uuid) -> ReturnsError {
    ReturnsError::Corrupt(format!("{what} of return {return_id}"))
}

impl ReturnRecord {
    /// The return's id.
    pub fn return_id(&self) -> Uuid {
        self.row.return_id
    }

    /// The return's status.
    pub fn status(&self) -> Result<ReturnStatus, ReturnsError> {
        ReturnStatus::from_code(i32::from(self.row.status))
            .ok_or_else(|| corrupt("status", self.return_id()))
    }

    /// Refund or exchange.
    pub fn resolution(&self) -> Result<Resolution, ReturnsError> {
        Resolution::from_code(i32::from(self.row.resolution))
            .ok_or_else(|| corrupt("resolution", self.return_id()))
    }

    /// Why it was closed; `None` while open.
    pub fn close_reason(&self) -> Option<CloseReason> {
        CloseReason::from_code(i32::from(self.row.close_reason))
    }

    /// The policy in force when the return was requested.
    pub fn policy(&self) -> Result<Policy, ReturnsError> {
        match &self.policy {
            None => Ok(Policy::default()),
            Some(row) => row.policy(),
        }
    }

    /// True once the goods arrived.
    pub fn received(&self) -> bool {
        !self.row.receiving_location_id.is_empty()
    }

    /// True once the inspection fixed the lines' split.
    pub fn inspected(&self) -> bool {
        self.row.inspect_time.is_some()
    }

    /// The refund: over the units received (restock + damaged) once inspected,
    /// over every requested unit before (an estimate).
    pub fn refund(&self) -> Result<Breakdown, ReturnsError> {
        let inspected = self.inspected();
        let mut inputs = Vec::with_capacity(self.lines.len());
        for line in &self.lines {
            let reason = ReturnReason::from_code(i32::from(line.reason))
                .ok_or_else(|| corrupt("line reason", self.return_id()))?;
            inputs.push(RefundInput {
                sku: line.sku.clone(),
                units: if inspected {
                    line.restock_quantity + line.damaged_quantity
                } else {
                    line.quantity
                },
                unit_price: line.unit_price_minor,
                reason,
            });
        }
        refund::breakdown(
            &inputs,
            &self.policy()?,
            self.row.label_price_minor,
            !inspected,
        )
        .map_err(|Overflow| corrupt("refund amount", self.return_id()))
    }

    /// What goes back to stock and where: the RESTOCK units, once inspected.
    pub fn restock(&self) -> Vec<(String, i32, String)> {
        if !self.inspected() {
            return Vec::new();
        }
        self.lines
            .iter()
            .filter(|line| line.restock_quantity > 0)
            .map(|line| {
                (
                    line.sku.clone(),
                    line.restock_quantity,
                    self.row.receiving_location_id.clone(),
                )
            })
            .collect()
    }

    /// An exchange's replacement total and price difference; `None` for a refund.
    pub fn exchange(&self, refund_total: i64) -> Result<Option<(i64, i64)>, ReturnsError> {
        if self.resolution()? != Resolution::Exchange {
            return Ok(None);
        }
        let lines: Vec<(i32, i64)> = self
            .replacements
            .iter()
            .map(|line| (line.quantity, line.unit_price_minor))
            .collect();
        refund::price_difference(&lines, refund_total)
            .map(Some)
            .map_err(|Overflow| corrupt("replacement total", self.return_id()))
    }
}
