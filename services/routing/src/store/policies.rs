//! Routing policies: one head row per policy naming its current version, and
//! every version ever written.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection};

use super::Store;
use crate::{
    domain::{
        Actor, ActorKind, Channel, PolicySpec,
        policy::{DEFAULT_POLICY_ID, Policy},
    },
    error::RoutingError,
};

/// A policy version as stored.
#[derive(Debug, Clone, FromRow)]
struct PolicyRow {
    policy_id: String,
    channel_kind: i16,
    channel_name: String,
    version: i32,
    spec: String,
    current: bool,
    create_time: DateTime<Utc>,
    created_by_kind: i16,
    created_by_id: String,
}

/// A policy version, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRecord {
    /// The policy's id.
    pub policy_id: String,
    /// `None` for the default policy.
    pub channel: Option<Channel>,
    /// The version, from 1.
    pub version: i32,
    /// What it says.
    pub spec: PolicySpec,
    /// True for the version in force.
    pub current: bool,
    /// When it was written.
    pub create_time: DateTime<Utc>,
    /// Who wrote it.
    pub created_by: Actor,
}

impl PolicyRecord {
    /// What the planner needs of it.
    pub fn policy(&self) -> Policy {
        Policy {
            policy_id: self.policy_id.clone(),
            version: self.version,
            spec: self.spec.clone(),
        }
    }

    /// Where it stands in ListRoutingPolicies: channel kind, name, version.
    pub fn list_key(&self) -> (i16, String, i32) {
        let (kind, name) = channel_key(self.channel.as_ref());
        (kind, name.to_owned(), self.version)
    }
}

impl TryFrom<PolicyRow> for PolicyRecord {
    type Error = RoutingError;

    fn try_from(row: PolicyRow) -> Result<Self, RoutingError> {
        let spec = serde_json::from_str(&row.spec)
            .map_err(|err| RoutingError::Corrupt(format!("policy {}: {err}", row.policy_id)))?;
        let kind = ActorKind::from_code(i32::from(row.created_by_kind))
            .ok_or_else(|| RoutingError::Corrupt(format!("policy {}: actor", row.policy_id)))?;
        Ok(PolicyRecord {
            channel: (row.channel_kind != 0).then_some(Channel {
                kind: row.channel_kind,
                name: row.channel_name,
            }),
            policy_id: row.policy_id,
            version: row.version,
            spec,
            current: row.current,
            create_time: row.create_time,
            created_by: Actor {
                kind,
                id: row.created_by_id,
            },
        })
    }
}

/// A PutRoutingPolicy, validated.
#[derive(Debug, Clone)]
pub struct PutPolicy {
    /// The channel whose policy it is; `None` for the default policy.
    pub channel: Option<Channel>,
    /// What the new version says.
    pub spec: PolicySpec,
    /// Write only if this is the current version (0: no policy yet).
    pub expected_version: Option<i32>,
    /// Check and answer, write nothing.
    pub validate_only: bool,
    /// Who writes it.
    pub actor: Actor,
}

const SELECT_POLICY: &str = "SELECT p.policy_id, p.channel_kind, p.channel_name, v.version, \
    v.spec::text AS spec, v.version = p.current_version AS current, v.create_time, \
    v.created_by_kind, v.created_by_id \
    FROM routing_policies p JOIN routing_policy_versions v USING (policy_id)";

/// The stored key of a channel: the default policy is (0, '').
fn channel_key(channel: Option<&Channel>) -> (i16, &str) {
    channel.map_or((0, ""), |channel| (channel.kind, channel.name.as_str()))
}

fn encode(spec: &PolicySpec) -> Result<String, RoutingError> {
    serde_json::to_string(spec).map_err(|err| RoutingError::Corrupt(err.to_string()))
}

impl Store {
    /// Writes version 1 of the default policy unless a default policy exists.
    /// Safe when replicas start at once: the head row decides.
    pub async fn ensure_default_policy(&self, spec: &PolicySpec) -> Result<(), RoutingError> {
        let system = Actor::system("oms-routing");
        sqlx::query(
            "WITH head AS (
                 INSERT INTO routing_policies (policy_id, channel_kind, channel_name, current_version)
                 VALUES ($1, 0, '', 1)
                 ON CONFLICT DO NOTHING
                 RETURNING policy_id
             )
             INSERT INTO routing_policy_versions (policy_id, version, spec, created_by_kind, created_by_id)
             SELECT policy_id, 1, $2::jsonb, $3, $4 FROM head",
        )
        .bind(DEFAULT_POLICY_ID)
        .bind(encode(spec)?)
        .bind(system.kind.code())
        .bind(&system.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The current version of the channel's own policy, or of the default one.
    pub async fn policy_in_force(
        &self,
        channel: Option<&Channel>,
    ) -> Result<PolicyRecord, RoutingError> {
        let (kind, name) = channel_key(channel);
        let sql = format!(
            "{SELECT_POLICY}
             WHERE v.version = p.current_version
               AND ((p.channel_kind = $1 AND p.channel_name = $2) OR p.channel_kind = 0)
             ORDER BY p.channel_kind DESC
             LIMIT 1"
        );
        let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or_else(|| RoutingError::Corrupt("no default policy".into()))?
            .try_into()
    }

    /// A version (0: the current one) of the policy `policy_id`.
    pub async fn policy_by_id(
        &self,
        policy_id: &str,
        version: i32,
    ) -> Result<PolicyRecord, RoutingError> {
        let sql = format!(
            "{SELECT_POLICY}
             WHERE p.policy_id = $1
               AND v.version = CASE WHEN $2 = 0 THEN p.current_version ELSE $2 END"
        );
        let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(policy_id)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => row.try_into(),
            None if version == 0 => Err(RoutingError::not_found("routing policy", policy_id)),
            None => Err(RoutingError::not_found(
                "routing policy version",
                format!("{policy_id}@{version}"),
            )),
        }
    }

    /// A version (not 0) of the channel's own policy; NOT_FOUND when it has none.
    pub async fn channel_policy_version(
        &self,
        channel: Option<&Channel>,
        version: i32,
    ) -> Result<PolicyRecord, RoutingError> {
        let (kind, name) = channel_key(channel);
        let sql = format!(
            "{SELECT_POLICY}
             WHERE p.channel_kind = $1 AND p.channel_name = $2 AND v.version = $3"
        );
        let row: Option<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(kind)
            .bind(name)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        row.ok_or_else(|| {
            RoutingError::not_found("routing policy version", format!("{kind}/{name}@{version}"))
        })?
        .try_into()
    }

    /// Stores `put.spec` as the next version of the channel's policy in `tx`,
    /// unless it equals the current version. Returns the version now current
    /// (or that would be, with validate_only) and whether it was written.
    pub async fn put_policy(
        tx: &mut PgConnection,
        put: &PutPolicy,
    ) -> Result<(PolicyRecord, bool), RoutingError> {
        let (kind, name) = channel_key(put.channel.as_ref());
        if !put.validate_only {
            // A new policy's head, so there is a row to lock; a writer that lost
            // the race waits here for the winner and then locks its row.
            let minted = if put.channel.is_none() {
                DEFAULT_POLICY_ID.to_owned()
            } else {
                uuid::Uuid::now_v7().to_string()
            };
            sqlx::query(
                "INSERT INTO routing_policies (policy_id, channel_kind, channel_name, current_version)
                 VALUES ($1, $2, $3, 0)
                 ON CONFLICT (channel_kind, channel_name) DO NOTHING",
            )
            .bind(&minted)
            .bind(kind)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        }
        let head: Option<(String, i32)> = sqlx::query_as(
            "SELECT policy_id, current_version FROM routing_policies
             WHERE channel_kind = $1 AND channel_name = $2
             FOR UPDATE",
        )
        .bind(kind)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?;
        let (policy_id, current) = head.unwrap_or_default();

        if current > 0 {
            let sql = format!("{SELECT_POLICY} WHERE p.policy_id = $1 AND v.version = $2");
            let row: PolicyRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(&policy_id)
                .bind(current)
                .fetch_one(&mut *tx)
                .await?;
            let record = PolicyRecord::try_from(row)?;
            // A retry of a write that landed finds its own spec: no new version.
            if record.spec == put.spec {
                return Ok((record, false));
            }
        }
        if let Some(expected) = put.expected_version
            && expected != current
        {
            return Err(RoutingError::VersionConflict { expected, current });
        }
        let mut record = PolicyRecord {
            policy_id,
            channel: put.channel.clone(),
            version: current + 1,
            spec: put.spec.clone(),
            current: true,
            create_time: Utc::now(),
            created_by: put.actor.clone(),
        };
        if put.validate_only {
            return Ok((record, false));
        }
        record.create_time = sqlx::query_scalar(
            "INSERT INTO routing_policy_versions (policy_id, version, spec, created_by_kind, created_by_id)
             VALUES ($1, $2, $3::jsonb, $4, $5)
             RETURNING create_time",
        )
        .bind(&record.policy_id)
        .bind(record.version)
        .bind(encode(&record.spec)?)
        .bind(record.created_by.kind.code())
        .bind(&record.created_by.id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE routing_policies SET current_version = $2 WHERE policy_id = $1")
            .bind(&record.policy_id)
            .bind(record.version)
            .execute(&mut *tx)
            .await?;
        Ok((record, true))
    }

    /// Up to `limit` policies: the default first, then by channel kind and
    /// name; within a policy newest version first. `after` is the
    /// [`PolicyRecord::list_key`] of the previous page's last row.
    pub async fn list_policies(
        &self,
        channel_kind: Option<i16>,
        all_versions: bool,
        after: Option<&(i16, String, i32)>,
        limit: i64,
    ) -> Result<Vec<PolicyRecord>, RoutingError> {
        let (after_kind, after_name, after_version) = match after {
            Some((kind, name, version)) => (Some(*kind), name.as_str(), *version),
            None => (None, "", 0),
        };
        let sql = format!(
            "{SELECT_POLICY}
             WHERE ($1::smallint IS NULL OR p.channel_kind = $1)
               AND ($2 OR v.version = p.current_version)
               AND ($3::smallint IS NULL OR (p.channel_kind, p.channel_name, -v.version) > ($3, $4, -$5))
             ORDER BY p.channel_kind, p.channel_name, v.version DESC
             LIMIT $6"
        );
        let rows: Vec<PolicyRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(channel_kind)
            .bind(all_versions)
            .bind(after_kind)
            .bind(after_name)
            .bind(after_version)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(PolicyRecord::try_from).collect()
    }
}
