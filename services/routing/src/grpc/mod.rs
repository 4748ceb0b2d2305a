//! The gRPC face of routing: each handler converts its request into domain
//! values (collecting every field violation), reads what it needs from the
//! store and the inventory service, and converts the result back. Proto types
//! stop here.

mod convert;

use std::collections::HashSet;

use oms_platform::{error::FieldViolations, idempotency::KeyTurns, paging::Pages};
use oms_proto::routing::v1::{self as pb, routing_service_server::RoutingService};
use tonic::{Request, Response, Status};

use crate::{
    domain::{self, FilterKind, LocationId, PlanError},
    error::RoutingError,
    inventory::Inventory,
    store::{PolicyRecord, PutPolicy, Store},
};

use convert::*;

/// Most locations GetLocationAttributes answers for at once.
const MAX_ATTRIBUTE_IDS: usize = 1000;

/// The routing service.
pub struct Routing {
    store: Store,
    inventory: Inventory,
    /// Writes of one location's attributes take turns before they take a
    /// connection: a storm of one write never holds the whole pool.
    turns: KeyTurns,
}

impl Routing {
    /// Serves from `store`, reading locations and stock from `inventory`.
    pub fn new(store: Store, inventory: Inventory) -> Routing {
        Routing {
            store,
            inventory,
            turns: KeyTurns::default(),
        }
    }

    /// Orders reserved today at each location with a daily capacity, where
    /// "today" starts at midnight in the location's own time zone.
    async fn orders_today(
        &self,
        attributes: &std::collections::HashMap<String, crate::store::AttributesRow>,
    ) -> Result<std::collections::HashMap<String, u32>, RoutingError> {
        let limited: Vec<&crate::store::AttributesRow> = attributes
            .values()
            .filter(|row| row.daily_capacity.is_some())
            .collect();
        if limited.is_empty() {
            return Ok(Default::default());
        }
        let zones: Vec<&str> = limited
            .iter()
            .map(|row| row.time_zone.as_str())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let starts = self.store.day_starts(&zones).await?;
        let queries: Vec<(&str, chrono::DateTime<chrono::Utc>)> = limited
            .iter()
            .filter_map(|row| {
                let since = starts.get(&row.time_zone)?;
                Some((row.location_id.as_str(), *since))
            })
            .collect();
        self.inventory.orders_since(&queries).await
    }
}

fn invalid(violations: FieldViolations) -> Result<(), RoutingError> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(RoutingError::Invalid(violations))
    }
}

/// Unwraps what validation produced once `violations` is known to be empty.
fn checked<T>(value: Option<T>) -> Result<T, RoutingError> {
    value.ok_or_else(|| RoutingError::invalid("request", "invalid"))
}

#[tonic::async_trait]
impl RoutingService for Routing {
    #[tracing::instrument(name = "routing.plan_fulfillment", skip_all,
        fields(order_id = %request.get_ref().order_id, lines = request.get_ref().lines.len()))]
    async fn plan_fulfillment(
        &self,
        request: Request<pb::PlanFulfillmentRequest>,
    ) -> Result<Response<pb::PlanFulfillmentResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let parsed = plan_request(&mut violations, &request);
        invalid(violations)?;
        let (plan_request, channel) = checked(parsed)?;

        let policy = self.store.policy_in_force(channel.as_ref()).await?;
        let locations = self.inventory.locations().await?;
        let skus: Vec<&domain::Sku> = plan_request.lines.iter().map(|line| &line.sku).collect();
        let availability = self.inventory.availability(&skus).await?;
        let ids: Vec<&str> = locations
            .iter()
            .map(|location| location.location_id.as_str())
            .collect();
        let attributes = self.store.attributes_of(&ids).await?;
        // Load is only worth a call when the policy looks at capacity.
        let orders_today = if policy.spec.has_filter(FilterKind::DailyCapacity) {
            self.orders_today(&attributes).await?
        } else {
            Default::default()
        };
        let sites = sites(
            &locations,
            &availability,
            &attributes,
            &orders_today,
            plan_request.lines.len(),
        );
        let planned = domain::plan(&policy.policy(), &plan_request, &sites).map_err(
            |PlanError::PickupStore(reason)| {
                RoutingError::invalid("delivery.pickup_location_id", reason)
            },
        )?;
        tracing::info!(
            policy_id = %policy.policy_id,
            policy_version = policy.version,
            outcome = ?planned.plan.outcome,
            shipments = planned.plan.shipments.len(),
            "planned"
        );
        Ok(Response::new(planned_to_proto(
            planned,
            availability.sequence,
        )))
    }

    async fn get_routing_policy(
        &self,
        request: Request<pb::GetRoutingPolicyRequest>,
    ) -> Result<Response<pb::GetRoutingPolicyResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let channel = if request.policy_id.is_empty() {
            channel(&mut violations, "channel", request.channel.as_ref())
        } else {
            // policy_id wins; the channel is ignored, as the contract says.
            Some(None)
        };
        if request.version < 0 {
            violations.add("version", "must be 0 or more");
        }
        if request.policy_id.len() > 64 {
            violations.add("policy_id", "must be at most 64 characters");
        }
        invalid(violations)?;
        let channel = checked(channel)?;
        let record = if !request.policy_id.is_empty() {
            self.store
                .policy_by_id(&request.policy_id, request.version)
                .await?
        } else if request.version == 0 {
            self.store.policy_in_force(channel.as_ref()).await?
        } else {
            self.store
                .channel_policy_version(channel.as_ref(), request.version)
                .await?
        };
        Ok(Response::new(pb::GetRoutingPolicyResponse {
            policy: Some(policy_to_proto(&record)),
        }))
    }

    async fn put_routing_policy(
        &self,
        request: Request<pb::PutRoutingPolicyRequest>,
    ) -> Result<Response<pb::PutRoutingPolicyResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let channel = channel(&mut violations, "channel", request.channel.as_ref());
        let spec = spec(&mut violations, request.spec.as_ref());
        let actor = actor(&mut violations, request.actor.as_ref());
        if request.expected_version.is_some_and(|version| version < 0) {
            violations.add("expected_version", "must be 0 or more");
        }
        invalid(violations)?;
        let put = PutPolicy {
            channel: checked(channel)?,
            spec: checked(spec)?,
            expected_version: request.expected_version,
            validate_only: request.validate_only,
            actor: checked(actor)?,
        };
        let mut tx = self.store.begin().await.map_err(RoutingError::from)?;
        let (record, written) = Store::put_policy(&mut tx, &put).await?;
        tx.commit().await.map_err(RoutingError::from)?;
        if written {
            tracing::info!(policy_id = %record.policy_id, version = record.version, "policy written");
        }
        Ok(Response::new(pb::PutRoutingPolicyResponse {
            policy: Some(policy_to_proto(&record)),
            written,
        }))
    }

    async fn list_routing_policies(
        &self,
        request: Request<pb::ListRoutingPoliciesRequest>,
    ) -> Result<Response<pb::ListRoutingPoliciesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let pages = Pages::of_request(&request, |r| r.page.take(), &mut violations);
        let channel_kind = match request.channel_kind {
            0 => None,
            kind @ 1..=5 => i16::try_from(kind).ok(),
            _ => {
                violations.add("channel_kind", "unknown channel kind");
                None
            }
        };
        invalid(violations)?;
        let mut records = self
            .store
            .list_policies(
                channel_kind,
                request.all_versions,
                pages.after.as_ref(),
                pages.fetch(),
            )
            .await?;
        let page = pages.finish(&mut records, PolicyRecord::list_key);
        Ok(Response::new(pb::ListRoutingPoliciesResponse {
            policies: records.iter().map(policy_to_proto).collect(),
            page: Some(page),
        }))
    }

    async fn put_location_attributes(
        &self,
        request: Request<pb::PutLocationAttributesRequest>,
    ) -> Result<Response<pb::PutLocationAttributesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let parsed = attributes(&mut violations, request.attributes.as_ref());
        let actor = actor(&mut violations, request.actor.as_ref());
        // Postgres knows the IANA zones, and computes each location's day with them.
        let time_zone = request
            .attributes
            .as_ref()
            .map_or("", |attributes| attributes.time_zone.as_str());
        if !time_zone.is_empty()
            && time_zone.len() <= 64
            && !self.store.time_zone_known(time_zone).await?
        {
            violations.add("attributes.time_zone", "not an IANA time zone");
        }
        invalid(violations)?;
        let (location_id, attributes) = checked(parsed)?;
        let actor = checked(actor)?;
        let _turn = self
            .turns
            .wait_for_turn("PutLocationAttributes", location_id.as_str())
            .await;
        if !self.inventory.location_exists(&location_id).await? {
            return Err(RoutingError::not_found("location", location_id.as_str()).into());
        }
        let row = self
            .store
            .put_attributes(&location_id, &attributes, &actor)
            .await?;
        Ok(Response::new(pb::PutLocationAttributesResponse {
            attributes: Some(attributes_to_proto(&row)),
        }))
    }

    async fn get_location_attributes(
        &self,
        request: Request<pb::GetLocationAttributesRequest>,
    ) -> Result<Response<pb::GetLocationAttributesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        if request.location_ids.is_empty() || request.location_ids.len() > MAX_ATTRIBUTE_IDS {
            violations.add("location_ids", "must hold 1 to 1000 ids");
        }
        let mut seen = HashSet::new();
        for (index, id) in request.location_ids.iter().enumerate() {
            let field = format!("location_ids[{index}]");
            if violations
                .check(field.clone(), LocationId::parse(id))
                .is_some()
                && !seen.insert(id.as_str())
            {
                violations.add(field, "repeats an earlier id");
            }
        }
        invalid(violations)?;
        let ids: Vec<&str> = request.location_ids.iter().map(String::as_str).collect();
        let rows = self.store.attributes_of(&ids).await?;
        Ok(Response::new(pb::GetLocationAttributesResponse {
            attributes: ids
                .iter()
                .map(|id| match rows.get(*id) {
                    Some(row) => attributes_to_proto(row),
                    None => default_attributes(id),
                })
                .collect(),
        }))
    }

    async fn list_location_attributes(
        &self,
        request: Request<pb::ListLocationAttributesRequest>,
    ) -> Result<Response<pb::ListLocationAttributesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let pages = Pages::<String>::of_request(&request, |r| r.page.take(), &mut violations);
        invalid(violations)?;
        let mut rows = self
            .store
            .list_attributes(pages.after.as_deref(), pages.fetch())
            .await?;
        let page = pages.finish(&mut rows, |row| row.location_id.clone());
        Ok(Response::new(pb::ListLocationAttributesResponse {
            attributes: rows.iter().map(attributes_to_proto).collect(),
            page: Some(page),
        }))
    }
}
