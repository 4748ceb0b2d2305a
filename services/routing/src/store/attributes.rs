//! Routing attributes of locations, and the start of each location's local day.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Store;
use crate::{
    domain::{Actor, LocationAttributes, LocationId},
    error::RoutingError,
};

/// A location's attributes as stored.
#[derive(Debug, Clone, FromRow)]
pub struct AttributesRow {
    /// The location's id.
    pub location_id: String,
    /// Shipments per local day; `None` is unlimited.
    pub daily_capacity: Option<i32>,
    /// 1 (first) to 1000.
    pub priority: i32,
    /// Countries shipped to; empty means the location's own country only.
    pub countries_served: Vec<String>,
    /// IANA time zone whose midnight starts the capacity day; empty means UTC.
    pub time_zone: String,
    /// The last change.
    pub update_time: DateTime<Utc>,
    /// Who changed it last: the actor's kind code.
    pub updated_by_kind: i16,
    /// Who changed it last: the actor's id.
    pub updated_by_id: String,
}

const ATTRIBUTE_COLUMNS: &str = "location_id, daily_capacity, priority, countries_served, \
    time_zone, update_time, updated_by_kind, updated_by_id";

impl Store {
    /// Replaces the attributes of one location.
    pub async fn put_attributes(
        &self,
        location_id: &LocationId,
        attributes: &LocationAttributes,
        actor: &Actor,
    ) -> Result<AttributesRow, RoutingError> {
        let countries: Vec<&str> = attributes
            .countries_served
            .iter()
            .map(|country| country.as_str())
            .collect();
        let sql = format!(
            "INSERT INTO location_attributes (location_id, daily_capacity, priority,
                 countries_served, time_zone, updated_by_kind, updated_by_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (location_id) DO UPDATE SET
                 daily_capacity = excluded.daily_capacity, priority = excluded.priority,
                 countries_served = excluded.countries_served, time_zone = excluded.time_zone,
                 updated_by_kind = excluded.updated_by_kind, updated_by_id = excluded.updated_by_id,
                 update_time = now()
             RETURNING {ATTRIBUTE_COLUMNS}"
        );
        let capacity = attributes
            .daily_capacity
            .map(|capacity| i32::try_from(capacity).unwrap_or(i32::MAX));
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(location_id.as_str())
            .bind(capacity)
            .bind(i32::from(attributes.priority))
            .bind(&countries)
            .bind(&attributes.time_zone)
            .bind(actor.kind.code())
            .bind(&actor.id)
            .fetch_one(&self.pool)
            .await?)
    }

    /// The stored attributes of these locations, by location id; locations
    /// without attributes are missing.
    pub async fn attributes_of(
        &self,
        location_ids: &[&str],
    ) -> Result<HashMap<String, AttributesRow>, RoutingError> {
        let sql = format!(
            "SELECT {ATTRIBUTE_COLUMNS} FROM location_attributes WHERE location_id = ANY($1)"
        );
        let rows: Vec<AttributesRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(location_ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.location_id.clone(), row))
            .collect())
    }

    /// Up to `limit` configured locations after `after`, by location id.
    pub async fn list_attributes(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AttributesRow>, RoutingError> {
        let sql = format!(
            "SELECT {ATTRIBUTE_COLUMNS} FROM location_attributes
             WHERE location_id > $1 ORDER BY location_id LIMIT $2"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after.unwrap_or_default())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// True when Postgres knows `time_zone` as an IANA zone name.
    pub async fn time_zone_known(&self, time_zone: &str) -> Result<bool, RoutingError> {
        let known = self
            .time_zones
            .get_or_try_init(|| async {
                let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pg_timezone_names")
                    .fetch_all(&self.pool)
                    .await?;
                Ok::<_, sqlx::Error>(names.into_iter().collect())
            })
            .await?;
        Ok(known.contains(time_zone))
    }

    /// The start of today in each time zone ('' is UTC), by zone.
    pub async fn day_starts(
        &self,
        time_zones: &[&str],
    ) -> Result<HashMap<String, DateTime<Utc>>, RoutingError> {
        let rows: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT zone, date_trunc('day', now() AT TIME ZONE tz) AT TIME ZONE tz
             FROM unnest($1::text[]) AS zone,
                  LATERAL (SELECT CASE WHEN zone = '' THEN 'UTC' ELSE zone END AS tz) AS named",
        )
        .bind(time_zones)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }
}
