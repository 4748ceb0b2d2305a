//! Locations and channel availability policies.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Store;
use crate::{
    domain::{Actor, Channel, LocationId, location::Location},
    error::InventoryError,
};

/// A location as stored.
#[derive(Debug, Clone, FromRow)]
pub struct LocationRow {
    /// The caller's id.
    pub location_id: String,
    /// Display name.
    pub name: String,
    /// The location kind's code.
    pub kind: i16,
    /// The company at the address.
    pub company: String,
    /// Street lines, first to last.
    pub address_lines: Vec<String>,
    /// The city.
    pub city: String,
    /// The region, where the country uses one.
    pub region: String,
    /// The postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
    /// The site's phone.
    pub phone: String,
    /// Latitude, for distances.
    pub latitude: f64,
    /// Longitude, for distances.
    pub longitude: f64,
    /// True when the site ships parcels to customers.
    pub ships_to_customers: bool,
    /// True when customers may collect orders here.
    pub store_pickup: bool,
    /// Inactive sites hold stock but take no reservations.
    pub active: bool,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// The last change.
    pub update_time: DateTime<Utc>,
}

const LOCATION_COLUMNS: &str = "location_id, name, kind, company, address_lines, city, region, \
    postal_code, country_code, phone, latitude, longitude, ships_to_customers, store_pickup, \
    active, create_time, update_time";

/// Filters of ListLocations; empty or `None` means any.
#[derive(Debug, Default)]
pub struct LocationFilter {
    /// Any of these location kind codes.
    pub kinds: Vec<i16>,
    /// Any of these countries.
    pub country_codes: Vec<String>,
    /// Active, inactive, or either.
    pub active: Option<bool>,
    /// Shipping to customers or not, or either.
    pub ships_to_customers: Option<bool>,
    /// Offering pickup or not, or either.
    pub store_pickup: Option<bool>,
}

/// A channel's policy as stored.
#[derive(Debug, Clone, FromRow)]
pub struct ChannelPolicyRow {
    /// The channel's kind code.
    pub channel_kind: i16,
    /// The channel's name.
    pub channel_name: String,
    /// Units per SKU held back from the channel's total.
    pub safety_buffer: i32,
    /// The locations the channel may see; empty for every active one.
    pub location_ids: Vec<String>,
    /// The last change.
    pub update_time: DateTime<Utc>,
    /// Who changed it last: the actor's kind code.
    pub updated_by_kind: i16,
    /// Who changed it last: the actor's id.
    pub updated_by_id: String,
}

impl Store {
    /// Creates or replaces a location; true when it was created.
    pub async fn put_location(
        &self,
        location: &Location,
    ) -> Result<(LocationRow, bool), InventoryError> {
        let address = &location.address;
        let (row, created): (LocationRow, bool) = {
            let sql = format!(
                "INSERT INTO locations (location_id, name, kind, company, address_lines, city,
                     region, postal_code, country_code, phone, latitude, longitude,
                     ships_to_customers, store_pickup, active)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (location_id) DO UPDATE SET
                     name = excluded.name, kind = excluded.kind, company = excluded.company,
                     address_lines = excluded.address_lines, city = excluded.city,
                     region = excluded.region, postal_code = excluded.postal_code,
                     country_code = excluded.country_code, phone = excluded.phone,
                     latitude = excluded.latitude, longitude = excluded.longitude,
                     ships_to_customers = excluded.ships_to_customers,
                     store_pickup = excluded.store_pickup, active = excluded.active,
                     update_time = now()
                 RETURNING {LOCATION_COLUMNS}, (xmax = 0) AS created"
            );
            let mut conn = self.pool.acquire().await?;
            let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(location.location_id.as_str())
                .bind(&location.name)
                .bind(location.kind.code())
                .bind(&address.company)
                .bind(&address.lines)
                .bind(&address.city)
                .bind(&address.region)
                .bind(&address.postal_code)
                .bind(&address.country_code)
                .bind(&address.phone)
                .bind(address.latitude)
                .bind(address.longitude)
                .bind(location.ships_to_customers)
                .bind(location.store_pickup)
                .bind(location.active)
                .fetch_one(&mut *conn)
                .await?;
            use sqlx::Row as _;
            (LocationRow::from_row(&row)?, row.try_get("created")?)
        };
        Ok((row, created))
    }

    /// The location with this id; NOT_FOUND when there is none.
    pub async fn get_location(
        &self,
        location_id: &LocationId,
    ) -> Result<LocationRow, InventoryError> {
        let sql = format!("SELECT {LOCATION_COLUMNS} FROM locations WHERE location_id = $1");
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(location_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| InventoryError::not_found("location", location_id.as_str()))
    }

    /// Up to `limit` locations after `after` (a location id), ordered by id.
    pub async fn list_locations(
        &self,
        filter: &LocationFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LocationRow>, InventoryError> {
        let sql = format!(
            "SELECT {LOCATION_COLUMNS} FROM locations
             WHERE location_id > $1
               AND (cardinality($2::smallint[]) = 0 OR kind = ANY($2))
               AND (cardinality($3::text[]) = 0 OR country_code = ANY($3))
               AND ($4::boolean IS NULL OR active = $4)
               AND ($5::boolean IS NULL OR ships_to_customers = $5)
               AND ($6::boolean IS NULL OR store_pickup = $6)
             ORDER BY location_id
             LIMIT $7"
        );
        let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after.unwrap_or_default())
            .bind(&filter.kinds)
            .bind(&filter.country_codes)
            .bind(filter.active)
            .bind(filter.ships_to_customers)
            .bind(filter.store_pickup)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows)
    }

    /// The ids among `location_ids` that are not locations.
    pub async fn unknown_locations(
        &self,
        location_ids: &[String],
    ) -> Result<Vec<String>, InventoryError> {
        let unknown = sqlx::query_scalar(
            "SELECT id FROM unnest($1::text[]) WITH ORDINALITY AS r(id, position)
             WHERE NOT EXISTS (SELECT 1 FROM locations WHERE location_id = r.id)
             ORDER BY position",
        )
        .bind(location_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(unknown)
    }

    /// Creates or replaces the channel's availability policy.
    pub async fn put_channel_policy(
        &self,
        channel: &Channel,
        safety_buffer: i32,
        location_ids: &[String],
        actor: &Actor,
    ) -> Result<ChannelPolicyRow, InventoryError> {
        let row = sqlx::query_as(
            "INSERT INTO channel_policies (channel_kind, channel_name, safety_buffer, location_ids,
                 updated_by_kind, updated_by_id)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (channel_kind, channel_name) DO UPDATE SET
                 safety_buffer = excluded.safety_buffer, location_ids = excluded.location_ids,
                 updated_by_kind = excluded.updated_by_kind, updated_by_id = excluded.updated_by_id,
                 update_time = now()
             RETURNING channel_kind, channel_name, safety_buffer, location_ids, update_time,
                 updated_by_kind, updated_by_id",
        )
        .bind(channel.kind)
        .bind(&channel.name)
        .bind(safety_buffer)
        .bind(location_ids)
        .bind(actor.kind.code())
        .bind(&actor.id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    /// The channel's own availability policy; `None` when it has none.
    pub async fn get_channel_policy(
        &self,
        channel: &Channel,
    ) -> Result<Option<ChannelPolicyRow>, InventoryError> {
        let row = sqlx::query_as(
            "SELECT channel_kind, channel_name, safety_buffer, location_ids, update_time,
                 updated_by_kind, updated_by_id
             FROM channel_policies WHERE channel_kind = $1 AND channel_name = $2",
        )
        .bind(channel.kind)
        .bind(&channel.name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    /// Up to `limit` policies of one kind or all (0) after `after` (kind and
    /// name), ordered by kind, then name.
    pub async fn list_channel_policies(
        &self,
        kind: i16,
        after: Option<&(i16, String)>,
        limit: i64,
    ) -> Result<Vec<ChannelPolicyRow>, InventoryError> {
        let (after_kind, after_name) = after.map_or((0, ""), |(kind, name)| (*kind, name));
        let rows = sqlx::query_as(
            "SELECT channel_kind, channel_name, safety_buffer, location_ids, update_time,
                 updated_by_kind, updated_by_id
             FROM channel_policies
             WHERE (channel_kind, channel_name) > ($1, $2) AND ($3 = 0 OR channel_kind = $3)
             ORDER BY channel_kind, channel_name
             LIMIT $4",
        )
        .bind(after_kind)
        .bind(after_name)
        .bind(kind)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
