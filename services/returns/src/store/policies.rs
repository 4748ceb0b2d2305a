//! Return policies: every PutReturnPolicy stores a new immutable version, the
//! newest version of a channel is in force, and a return keeps the version it
//! was requested under.

use chrono::{DateTime, Utc};
use oms_platform::ids::{LocationId, Sku};
use sqlx::{FromRow, PgConnection};

use crate::{
    domain::{
        Actor, Channel,
        policy::{Policy, ShippingPayer},
    },
    error::ReturnsError,
};

/// A policy version as stored.
#[derive(Debug, Clone, FromRow)]
pub struct PolicyRow {
    /// The version's id; the highest of a channel is in force.
    pub policy_id: i64,
    /// The channel's kind code.
    pub channel_kind: i16,
    /// The channel's name.
    pub channel_name: String,
    /// Days from delivery within which a return may be requested.
    pub return_window_days: i32,
    /// The restocking fee, in basis points.
    pub restocking_fee_bps: i32,
    /// Who pays for the return label: the payer's code.
    pub return_shipping_payer: i16,
    /// SKUs that may not be returned.
    pub final_sale_skus: Vec<String>,
    /// Requests are approved at once when there is somewhere for the goods to go.
    pub auto_approve: bool,
    /// Where returned goods go; empty for where they shipped from.
    pub return_location_id: String,
    /// Who wrote it: the actor's kind code.
    pub updated_by_kind: i16,
    /// Who wrote it: the actor's id.
    pub updated_by_id: String,
    /// When it was written.
    pub update_time: DateTime<Utc>,
}

const POLICY_COLUMNS: &str = "policy_id, channel_kind, channel_name, return_window_days, \
    restocking_fee_bps, return_shipping_payer, final_sale_skus, auto_approve, \
    return_location_id, updated_by_kind, updated_by_id, update_time";

impl PolicyRow {
    /// The rules, read back through the same checks as on input.
    pub fn policy(&self) -> Result<Policy, ReturnsError> {
        let corrupt = || ReturnsError::Corrupt(format!("return policy {}", self.policy_id));
        let shipping_payer =
            ShippingPayer::from_code(i32::from(self.return_shipping_payer)).ok_or_else(corrupt)?;
        let final_sale_skus = self
            .final_sale_skus
            .iter()
            .map(|sku| Sku::parse(sku))
            .collect::<Result<_, _>>()
            .map_err(|_| corrupt())?;
        let return_location_id = match self.return_location_id.as_str() {
            "" => None,
            id => Some(LocationId::parse(id).map_err(|_| corrupt())?),
        };
        Ok(Policy {
            window_days: self.return_window_days,
            restocking_fee_bps: self.restocking_fee_bps,
            shipping_payer,
            final_sale_skus,
            auto_approve: self.auto_approve,
            return_location_id,
        })
    }
}

/// The policy in force on `channel`; `None` when the default applies.
pub async fn current_policy(
    conn: &mut PgConnection,
    channel: &Channel,
) -> Result<Option<PolicyRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        // Column lists are constants of this module.
        "SELECT {POLICY_COLUMNS} FROM return_policies
         WHERE channel_kind = $1 AND channel_name = $2
         ORDER BY policy_id DESC LIMIT 1"
    )))
    .bind(channel.kind)
    .bind(&channel.name)
    .fetch_optional(&mut *conn)
    .await
}

/// Stores a new version of `channel`'s policy, in force from now on.
pub async fn insert_policy(
    conn: &mut PgConnection,
    channel: &Channel,
    policy: &Policy,
    actor: &Actor,
) -> Result<PolicyRow, sqlx::Error> {
    let skus: Vec<&str> = policy.final_sale_skus.iter().map(Sku::as_str).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO return_policies (channel_kind, channel_name, return_window_days,
             restocking_fee_bps, return_shipping_payer, final_sale_skus, auto_approve,
             return_location_id, updated_by_kind, updated_by_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING {POLICY_COLUMNS}"
    )))
    .bind(channel.kind)
    .bind(&channel.name)
    .bind(policy.window_days)
    .bind(policy.restocking_fee_bps)
    .bind(policy.shipping_payer.code())
    .bind(&skus)
    .bind(policy.auto_approve)
    .bind(
        policy
            .return_location_id
            .as_ref()
            .map_or("", LocationId::as_str),
    )
    .bind(actor.kind.code())
    .bind(&actor.id)
    .fetch_one(&mut *conn)
    .await
}

pub(super) async fn by_ids(
    conn: &mut PgConnection,
    ids: &[i64],
) -> Result<Vec<PolicyRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM return_policies WHERE policy_id = ANY($1)"
    )))
    .bind(ids)
    .fetch_all(&mut *conn)
    .await
}
