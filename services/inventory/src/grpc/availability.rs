//! Availability: GetAvailability (through the Redis cache), and the channel
//! availability policies that shape what each channel may list.

use std::collections::{BTreeSet, HashMap, HashSet};

use oms_platform::{error::FieldViolations, paging::Pages};
use oms_proto::inventory::v1 as pb;

use super::{Inventory, convert::*};
use crate::{
    domain::{Actor, Channel},
    error::InventoryError,
    store::{StockRow, Store, stock::LevelRow},
};

/// A checked GetAvailability.
pub(super) struct Availability {
    skus: Vec<String>,
    location_ids: Vec<String>,
    channel: Option<Channel>,
}

impl Availability {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::GetAvailabilityRequest,
    ) -> Option<Availability> {
        let skus = sku_list(violations, &request.skus, true);
        let mut location_ids = Vec::new();
        for (index, id) in request.location_ids.iter().enumerate() {
            if let Some(id) = location_id(violations, format!("location_ids[{index}]"), id) {
                location_ids.push(id.to_string());
            }
        }
        let channel = channel(violations, "channel", request.channel.as_ref());
        Some(Availability {
            skus,
            location_ids,
            channel,
        })
    }
}

/// A checked PutChannelAvailabilityPolicy.
pub(super) struct PutPolicy {
    channel: Channel,
    safety_buffer: i32,
    location_ids: Vec<String>,
    actor: Actor,
}

impl PutPolicy {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::PutChannelAvailabilityPolicyRequest,
    ) -> Option<PutPolicy> {
        let policy = request.policy.clone().unwrap_or_default();
        let channel = required_channel(violations, "policy.channel", policy.channel.as_ref());
        if policy.safety_buffer < 0 {
            violations.add("policy.safety_buffer", "must be 0 or more");
        }
        let mut seen = HashSet::new();
        for (index, id) in policy.location_ids.iter().enumerate() {
            location_id(violations, format!("policy.location_ids[{index}]"), id);
            if !seen.insert(id) {
                violations.add(
                    format!("policy.location_ids[{index}]"),
                    "repeats an earlier location",
                );
            }
        }
        let actor = actor(violations, request.actor.as_ref());
        Some(PutPolicy {
            channel: channel?,
            safety_buffer: policy.safety_buffer,
            location_ids: policy.location_ids,
            actor: actor?,
        })
    }
}

/// A checked ListChannelAvailabilityPolicies: a channel kind (0: all) and the
/// page, by kind, then name.
pub(super) struct ListPolicies {
    kind: i16,
    pages: Pages<(i16, String)>,
}

impl ListPolicies {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::ListChannelAvailabilityPoliciesRequest,
    ) -> Option<ListPolicies> {
        let pages = Pages::of_request(request, |r| r.page.take(), violations);
        if !(0..=5).contains(&request.channel_kind) {
            violations.add("channel_kind", "unknown kind");
        }
        Some(ListPolicies {
            kind: i16::try_from(request.channel_kind).unwrap_or_default(),
            pages,
        })
    }
}

impl Inventory {
    pub(super) async fn get_availability(
        &self,
        asked: Availability,
    ) -> Result<pb::GetAvailabilityResponse, InventoryError> {
        let Availability {
            skus,
            location_ids,
            channel,
        } = asked;
        self.require_locations(&location_ids).await?;
        let policy = match &channel {
            Some(channel) => Some(policy(&self.store, channel).await?),
            None => None,
        };
        // Tags and position are read before the rows: rows read after a commit
        // are stored under a stale tag, and every entry at or below the
        // position is in them.
        let cached = self.cache.get(&skus).await;
        let position = self.feed.position().await;
        let misses: Vec<String> = skus
            .iter()
            .filter(|sku| !cached.hits.contains_key(*sku))
            .cloned()
            .collect();
        let rows = if misses.is_empty() {
            Vec::new()
        } else {
            self.store.levels(&misses).await?
        };
        let mut by_sku: HashMap<String, Vec<&LevelRow>> = HashMap::new();
        for row in &rows {
            by_sku.entry(row.stock.sku.clone()).or_default().push(row);
        }
        self.cache.put(position, &by_sku, &cached.tags).await;
        let mut sequence = position;
        for (sku, (cached_position, rows)) in &cached.hits {
            sequence = sequence.min(*cached_position);
            by_sku.insert(sku.clone(), rows.iter().collect());
        }
        let named: BTreeSet<String> = location_ids.into_iter().collect();
        let skus = skus
            .iter()
            .map(|sku| {
                let rows = by_sku.get(sku).map(Vec::as_slice).unwrap_or_default();
                sku_availability(sku, rows, &named, channel.as_ref().zip(policy.as_ref()))
            })
            .collect();
        Ok(pb::GetAvailabilityResponse { skus, sequence })
    }

    pub(super) async fn put_channel_availability_policy(
        &self,
        put: PutPolicy,
    ) -> Result<pb::PutChannelAvailabilityPolicyResponse, InventoryError> {
        self.require_locations(&put.location_ids).await?;
        let row = self
            .store
            .put_channel_policy(
                &put.channel,
                put.safety_buffer,
                &put.location_ids,
                &put.actor,
            )
            .await?;
        Ok(pb::PutChannelAvailabilityPolicyResponse {
            policy: Some(policy_to_proto(row)),
        })
    }

    pub(super) async fn get_channel_availability_policy(
        &self,
        channel: Channel,
    ) -> Result<pb::GetChannelAvailabilityPolicyResponse, InventoryError> {
        Ok(pb::GetChannelAvailabilityPolicyResponse {
            policy: Some(policy(&self.store, &channel).await?),
        })
    }

    pub(super) async fn list_channel_availability_policies(
        &self,
        list: ListPolicies,
    ) -> Result<pb::ListChannelAvailabilityPoliciesResponse, InventoryError> {
        let ListPolicies { kind, pages } = list;
        let mut rows = self
            .store
            .list_channel_policies(kind, pages.after.as_ref(), pages.fetch())
            .await?;
        let page = pages.finish(&mut rows, |row| {
            (row.channel_kind, row.channel_name.clone())
        });
        Ok(pb::ListChannelAvailabilityPoliciesResponse {
            policies: rows.into_iter().map(policy_to_proto).collect(),
            page: Some(page),
        })
    }
}

/// The policy in force for a channel: its own, or the default.
pub(super) async fn policy(
    store: &Store,
    channel: &Channel,
) -> Result<pb::ChannelAvailabilityPolicy, InventoryError> {
    Ok(match store.get_channel_policy(channel).await? {
        Some(row) => policy_to_proto(row),
        None => pb::ChannelAvailabilityPolicy {
            channel: Some(channel_to_proto(channel)),
            ..Default::default()
        },
    })
}

/// One SKU's availability from its stock rows.
fn sku_availability(
    sku: &str,
    rows: &[&LevelRow],
    named: &BTreeSet<String>,
    channel: Option<(&Channel, &pb::ChannelAvailabilityPolicy)>,
) -> pb::SkuAvailability {
    let listed = |row: &&&LevelRow| {
        if named.is_empty() {
            row.active
        } else {
            named.contains(&row.stock.location_id)
        }
    };
    let mut availability = pb::SkuAvailability {
        sku: sku.to_owned(),
        stocked: !rows.is_empty(),
        ..Default::default()
    };
    for row in rows.iter().filter(listed) {
        let figures = row.stock.figures();
        if row.active {
            // Totals over many locations may pass i32: they stop at its maximum.
            availability.on_hand = availability.on_hand.saturating_add(figures.on_hand);
            availability.reserved = availability.reserved.saturating_add(figures.reserved);
            availability.available = availability.available.saturating_add(figures.available());
            availability.sellable = availability.sellable.saturating_add(figures.sellable());
        }
        availability.locations.push(stock_level(&row.stock));
    }
    if let Some((channel, policy)) = channel {
        availability.channel = Some(channel_view(
            channel,
            policy,
            rows.iter().map(|row| (&row.stock, row.active)),
        ));
    }
    availability
}

/// What a channel may list of one SKU: sellable at its visible active
/// locations, less its safety buffer.
pub(super) fn channel_view<'a>(
    channel: &Channel,
    policy: &pb::ChannelAvailabilityPolicy,
    rows: impl Iterator<Item = (&'a StockRow, bool)>,
) -> pb::ChannelAvailability {
    let visible = |location: &str| {
        policy.location_ids.is_empty() || policy.location_ids.iter().any(|id| id == location)
    };
    let mut sellable: i32 = 0;
    let mut location_ids = Vec::new();
    for (row, active) in rows {
        if active && visible(&row.location_id) {
            sellable = sellable.saturating_add(row.figures().sellable());
            location_ids.push(row.location_id.clone());
        }
    }
    location_ids.sort();
    pb::ChannelAvailability {
        channel: Some(channel_to_proto(channel)),
        available: (sellable - policy.safety_buffer).max(0),
        location_ids,
    }
}
