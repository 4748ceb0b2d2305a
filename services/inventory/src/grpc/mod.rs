//! The gRPC face of the inventory: each handler converts its request into
//! domain values (collecting every field violation), calls the store, and
//! converts the result back. Proto types stop here.

mod convert;

pub(crate) use convert::{channel_to_proto, level_from, policy_to_proto, timestamp};

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use oms_platform::{
    error::FieldViolations,
    idempotency::{self, Claim, IdempotencyKey},
};
use oms_proto::inventory::v1::{self as pb, inventory_service_server::InventoryService};
use opentelemetry::{KeyValue, metrics::Counter};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::{
    cache::AvailabilityCache,
    domain::{AdjustmentReason, Channel, LocationId, Sku, reservation},
    error::InventoryError,
    locks::StockLocks,
    store::{
        MovementMeta, StockRow, Store,
        locations::LocationFilter,
        reservations::{NewReservation, ReservationFilter},
        stock::{Change, LevelRow, MovementFilter},
    },
    watch::{self, LedgerFeed, WatchFilter},
};

use convert::*;

/// The default hold of a reservation.
const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);
const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
const MAX_SKUS: usize = 1000;

/// The inventory service.
pub struct Inventory {
    store: Store,
    locks: Arc<StockLocks>,
    cache: Arc<AvailabilityCache>,
    feed: LedgerFeed,
    watch: watch::WatchConfig,
    shutdown: CancellationToken,
    reservations: Counter<u64>,
}

impl Inventory {
    pub fn new(
        store: Store,
        locks: Arc<StockLocks>,
        cache: Arc<AvailabilityCache>,
        feed: LedgerFeed,
        watch: watch::WatchConfig,
        shutdown: CancellationToken,
    ) -> Inventory {
        let reservations = opentelemetry::global::meter("oms-inventory")
            .u64_counter("oms.inventory.reservations")
            .with_description("Reserve calls by outcome: held, replayed or refused")
            .build();
        Inventory {
            store,
            locks,
            cache,
            feed,
            watch,
            shutdown,
            reservations,
        }
    }

    /// After a commit that changed these SKUs: their cached availability is
    /// stale, and the ledger feed has news.
    async fn changed<'a>(&self, skus: impl IntoIterator<Item = &'a str>) {
        self.cache.invalidate(skus).await;
        self.feed.wake();
    }

    /// Runs a change with an `idempotency-key`: the first response is recorded
    /// with the change, a retry gets it back.
    async fn idempotent<Req, Res, F>(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request: &Req,
        change: F,
    ) -> Result<Res, InventoryError>
    where
        Req: prost::Message,
        Res: prost::Message + Default,
        F: AsyncFnOnce(&mut sqlx::PgConnection) -> Result<Res, InventoryError>,
    {
        let mut tx = self.store.pool().begin().await?;
        if let Claim::Replay(response) = idempotency::claim(&mut tx, scope, key, request).await? {
            return Ok(response);
        }
        let response = change(&mut tx).await?;
        idempotency::record(&mut tx, scope, key, &response).await?;
        tx.commit().await?;
        Ok(response)
    }
}

fn invalid(violations: FieldViolations) -> Result<(), InventoryError> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(InventoryError::Invalid(violations))
    }
}

/// Unwraps what validation produced once `violations` is known to be empty.
fn checked<T>(value: Option<T>) -> Result<T, InventoryError> {
    value.ok_or_else(|| InventoryError::invalid("request", "invalid"))
}

fn bad_token() -> InventoryError {
    InventoryError::invalid("page.page_token", "not a token of this list")
}

fn check_page(
    violations: &mut FieldViolations,
    page: Option<&oms_proto::common::v1::PageRequest>,
) -> (i32, String) {
    let page = page.cloned().unwrap_or_default();
    if !(0..=500).contains(&page.page_size) {
        violations.add("page.page_size", "must be 0 to 500");
    }
    (page.page_size, page.page_token)
}

fn page_response(token: String) -> Option<oms_proto::common::v1::PageResponse> {
    Some(oms_proto::common::v1::PageResponse {
        next_page_token: token,
    })
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    async fn put_location(
        &self,
        request: Request<pb::PutLocationRequest>,
    ) -> Result<Response<pb::PutLocationResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let location = location(&mut violations, request.location.as_ref());
        let _actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let (row, created) = self.store.put_location(&checked(location)?).await?;
        // Active or not changes every total the location counts in.
        self.cache.invalidate_all().await;
        Ok(Response::new(pb::PutLocationResponse {
            location: Some(location_to_proto(row)),
            created,
        }))
    }

    async fn get_location(
        &self,
        request: Request<pb::GetLocationRequest>,
    ) -> Result<Response<pb::GetLocationResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let id = location_id(&mut violations, "location_id", &request.location_id);
        invalid(violations)?;
        let row = self.store.get_location(&checked(id)?).await?;
        Ok(Response::new(pb::GetLocationResponse {
            location: Some(location_to_proto(row)),
        }))
    }

    async fn list_locations(
        &self,
        request: Request<pb::ListLocationsRequest>,
    ) -> Result<Response<pb::ListLocationsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let (size, token) = check_page(&mut violations, request.page.as_ref());
        let mut kinds = Vec::new();
        for (index, kind) in request.kinds.iter().enumerate() {
            match crate::domain::location::LocationKind::from_code(*kind) {
                Some(kind) => kinds.push(kind.code()),
                None => violations.add(format!("kinds[{index}]"), "unspecified or unknown kind"),
            }
        }
        if !token.is_empty() && LocationId::parse(&token).is_err() {
            violations.add("page.page_token", "not a token of this list");
        }
        invalid(violations)?;
        let filter = LocationFilter {
            kinds,
            country_codes: request.country_codes,
            active: request.active,
            ships_to_customers: request.ships_to_customers,
            store_pickup: request.store_pickup,
        };
        let (rows, next) = self.store.list_locations(&filter, &token, size).await?;
        Ok(Response::new(pb::ListLocationsResponse {
            locations: rows.into_iter().map(location_to_proto).collect(),
            page: page_response(next),
        }))
    }

    async fn set_stock(
        &self,
        request: Request<pb::SetStockRequest>,
    ) -> Result<Response<pb::SetStockResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let sku = sku(&mut violations, "sku", &request.sku);
        let location = location_id(&mut violations, "location_id", &request.location_id);
        if request.on_hand < 0 {
            violations.add("on_hand", "must be 0 or more");
        }
        let actor = actor(&mut violations, request.actor.as_ref());
        let note = note(&mut violations, "note", &request.note, 500);
        invalid(violations)?;
        let (sku, location, actor) = (checked(sku)?, checked(location)?, checked(actor)?);
        let response = self
            .idempotent(
                "oms.inventory.v1.InventoryService/SetStock",
                &key,
                &request,
                async |tx| {
                    let meta = MovementMeta {
                        actor: &actor,
                        reference_id: "",
                        note: &note,
                    };
                    let change = Change::Count {
                        on_hand: request.on_hand,
                    };
                    let (stock, movement) = Store::change_stock(tx, &sku, &location, change, &meta)
                        .await?
                        .ok_or_else(|| {
                            InventoryError::Corrupt("a count recorded nothing".into())
                        })?;
                    Ok(pb::SetStockResponse {
                        stock: Some(stock_level(&stock)),
                        movement: Some(movement_proto(&movement)),
                    })
                },
            )
            .await?;
        self.changed([sku.as_str()]).await;
        Ok(Response::new(response))
    }

    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::AdjustStockResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let sku = sku(&mut violations, "sku", &request.sku);
        let location = location_id(&mut violations, "location_id", &request.location_id);
        let reason = AdjustmentReason::from_code(request.reason);
        match reason {
            None => violations.add("reason", "required"),
            Some(_) if request.delta == 0 || request.delta == i32::MIN => {
                violations.add("delta", "must be non-zero and above -2147483648")
            }
            Some(reason) if !reason.allows(request.delta) => {
                violations.add("delta", "sign does not fit the reason")
            }
            Some(_) => {}
        }
        let actor = actor(&mut violations, request.actor.as_ref());
        if request.reference_id.chars().count() > 128 {
            violations.add("reference_id", "at most 128 characters");
        }
        let note = note(&mut violations, "note", &request.note, 500);
        invalid(violations)?;
        let (sku, location, actor, reason) = (
            checked(sku)?,
            checked(location)?,
            checked(actor)?,
            checked(reason)?,
        );
        let response = self
            .idempotent(
                "oms.inventory.v1.InventoryService/AdjustStock",
                &key,
                &request,
                async |tx| {
                    if request.delta < 0 && !Store::sku_known(tx, &sku).await? {
                        crate::store::stock::require_location(tx, &location).await?;
                        return Err(InventoryError::not_found("sku", sku.as_str()));
                    }
                    let meta = MovementMeta {
                        actor: &actor,
                        reference_id: &request.reference_id,
                        note: &note,
                    };
                    let change = Change::Adjust {
                        delta: request.delta,
                        reason,
                    };
                    let (stock, movement) = Store::change_stock(tx, &sku, &location, change, &meta)
                        .await?
                        .ok_or_else(|| {
                            InventoryError::Corrupt("an adjustment recorded nothing".into())
                        })?;
                    Ok(pb::AdjustStockResponse {
                        stock: Some(stock_level(&stock)),
                        movement: Some(movement_proto(&movement)),
                    })
                },
            )
            .await?;
        self.changed([sku.as_str()]).await;
        Ok(Response::new(response))
    }

    async fn transfer_stock(
        &self,
        request: Request<pb::TransferStockRequest>,
    ) -> Result<Response<pb::TransferStockResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let from = location_id(
            &mut violations,
            "from_location_id",
            &request.from_location_id,
        );
        let to = location_id(&mut violations, "to_location_id", &request.to_location_id);
        if from.is_some() && from == to {
            violations.add("to_location_id", "must differ from from_location_id");
        }
        if request.lines.is_empty() || request.lines.len() > 500 {
            violations.add("lines", "must hold 1 to 500 lines");
        }
        let mut lines = Vec::new();
        let mut seen = HashSet::new();
        for (index, line) in request.lines.iter().enumerate() {
            let sku = sku(&mut violations, format!("lines[{index}].sku"), &line.sku);
            let quantity = quantity(
                &mut violations,
                format!("lines[{index}].quantity"),
                line.quantity,
            );
            if !seen.insert(line.sku.as_str()) {
                violations.add(format!("lines[{index}].sku"), "repeats an earlier line");
            }
            if let (Some(sku), Some(quantity)) = (sku, quantity) {
                lines.push((index, sku, quantity));
            }
        }
        let actor = actor(&mut violations, request.actor.as_ref());
        let note = note(&mut violations, "note", &request.note, 500);
        invalid(violations)?;
        let (from, to, actor) = (checked(from)?, checked(to)?, checked(actor)?);
        let response = self
            .idempotent(
                "oms.inventory.v1.InventoryService/TransferStock",
                &key,
                &request,
                async |tx| {
                    crate::store::stock::require_location(tx, &from).await?;
                    crate::store::stock::require_location(tx, &to).await?;
                    let transfer_id = uuid::Uuid::now_v7().to_string();
                    let meta = MovementMeta {
                        actor: &actor,
                        reference_id: &transfer_id,
                        note: &note,
                    };
                    // Rows are locked in (sku, location) order, as every writer does.
                    let mut sorted = lines.clone();
                    sorted.sort_by(|a, b| a.1.cmp(&b.1));
                    let mut results = HashMap::new();
                    for (index, sku, quantity) in &sorted {
                        if !Store::sku_known(tx, sku).await? {
                            return Err(InventoryError::not_found("sku", sku.as_str()));
                        }
                        let mut sides = [
                            (&from, Change::TransferOut(*quantity)),
                            (&to, Change::TransferIn(*quantity)),
                        ];
                        sides.sort_by(|a, b| a.0.cmp(b.0));
                        for (location, change) in sides {
                            let done = Store::change_stock(tx, sku, location, change, &meta)
                                .await?
                                .ok_or_else(|| {
                                    InventoryError::Corrupt("a transfer recorded nothing".into())
                                })?;
                            results.insert((*index, location == &to), done);
                        }
                    }
                    let mut response = pb::TransferStockResponse {
                        transfer_id,
                        ..Default::default()
                    };
                    for (index, ..) in &lines {
                        for destination in [false, true] {
                            if let Some((stock, movement)) = results.get(&(*index, destination)) {
                                response.stock.push(stock_level(stock));
                                response.movements.push(movement_proto(movement));
                            }
                        }
                    }
                    Ok(response)
                },
            )
            .await?;
        self.changed(lines.iter().map(|(_, sku, _)| sku.as_str()))
            .await;
        Ok(Response::new(response))
    }

    async fn list_stock_movements(
        &self,
        request: Request<pb::ListStockMovementsRequest>,
    ) -> Result<Response<pb::ListStockMovementsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let (size, token) = check_page(&mut violations, request.page.as_ref());
        let before = if token.is_empty() {
            i64::MAX
        } else {
            token.parse::<i64>().map_err(|_| bad_token())?
        };
        let start = request
            .start_time
            .as_ref()
            .and_then(|t| from_timestamp(&mut violations, "start_time", t));
        let end = request
            .end_time
            .as_ref()
            .and_then(|t| from_timestamp(&mut violations, "end_time", t));
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            violations.add("start_time", "after end_time");
        }
        let mut kinds = Vec::new();
        for (index, kind) in request.kinds.iter().enumerate() {
            match crate::domain::MovementKind::from_code(*kind) {
                Some(kind) => kinds.push(kind.code()),
                None => violations.add(format!("kinds[{index}]"), "unspecified or unknown kind"),
            }
        }
        invalid(violations)?;
        let filter = MovementFilter {
            sku: Some(request.sku).filter(|s| !s.is_empty()),
            location_id: Some(request.location_id).filter(|s| !s.is_empty()),
            kinds,
            reference_id: Some(request.reference_id).filter(|s| !s.is_empty()),
            start_time: start,
            end_time: end,
        };
        let (rows, next) = self.store.movements(&filter, before, size).await?;
        Ok(Response::new(pb::ListStockMovementsResponse {
            movements: rows.iter().map(movement_proto).collect(),
            page: page_response(next),
        }))
    }

    async fn get_availability(
        &self,
        request: Request<pb::GetAvailabilityRequest>,
    ) -> Result<Response<pb::GetAvailabilityResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let skus = sku_list(&mut violations, &request.skus, true);
        let mut named = Vec::new();
        for (index, id) in request.location_ids.iter().enumerate() {
            if let Some(id) = location_id(&mut violations, format!("location_ids[{index}]"), id) {
                named.push(id.to_string());
            }
        }
        let channel = request
            .channel
            .as_ref()
            .and_then(|c| channel(&mut violations, "channel", c));
        invalid(violations)?;
        if let Some(unknown) = self
            .store
            .unknown_locations(&named)
            .await?
            .into_iter()
            .next()
        {
            return Err(InventoryError::not_found("location", unknown).into());
        }
        let policy = match &channel {
            Some(channel) => Some(self.policy(channel).await?),
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
        let named: BTreeSet<String> = named.into_iter().collect();
        let skus = skus
            .iter()
            .map(|sku| {
                let rows = by_sku.get(sku).map(Vec::as_slice).unwrap_or_default();
                sku_availability(sku, rows, &named, channel.as_ref().zip(policy.as_ref()))
            })
            .collect();
        Ok(Response::new(pb::GetAvailabilityResponse {
            skus,
            sequence,
        }))
    }

    async fn put_channel_availability_policy(
        &self,
        request: Request<pb::PutChannelAvailabilityPolicyRequest>,
    ) -> Result<Response<pb::PutChannelAvailabilityPolicyResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let policy = request.policy.unwrap_or_default();
        let channel = match &policy.channel {
            Some(c) => channel(&mut violations, "policy.channel", c),
            None => {
                violations.add("policy.channel", "required");
                None
            }
        };
        if policy.safety_buffer < 0 {
            violations.add("policy.safety_buffer", "must be 0 or more");
        }
        let mut seen = HashSet::new();
        for (index, id) in policy.location_ids.iter().enumerate() {
            location_id(&mut violations, format!("policy.location_ids[{index}]"), id);
            if !seen.insert(id) {
                violations.add(
                    format!("policy.location_ids[{index}]"),
                    "repeats an earlier location",
                );
            }
        }
        let actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        if let Some(unknown) = self
            .store
            .unknown_locations(&policy.location_ids)
            .await?
            .into_iter()
            .next()
        {
            return Err(InventoryError::not_found("location", unknown).into());
        }
        let row = self
            .store
            .put_channel_policy(
                &checked(channel)?,
                policy.safety_buffer,
                &policy.location_ids,
                &checked(actor)?,
            )
            .await?;
        Ok(Response::new(pb::PutChannelAvailabilityPolicyResponse {
            policy: Some(policy_to_proto(row)),
        }))
    }

    async fn get_channel_availability_policy(
        &self,
        request: Request<pb::GetChannelAvailabilityPolicyRequest>,
    ) -> Result<Response<pb::GetChannelAvailabilityPolicyResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let channel = match &request.channel {
            Some(c) => channel(&mut violations, "channel", c),
            None => {
                violations.add("channel", "required");
                None
            }
        };
        invalid(violations)?;
        let policy = self.policy(&checked(channel)?).await?;
        Ok(Response::new(pb::GetChannelAvailabilityPolicyResponse {
            policy: Some(policy),
        }))
    }

    async fn list_channel_availability_policies(
        &self,
        request: Request<pb::ListChannelAvailabilityPoliciesRequest>,
    ) -> Result<Response<pb::ListChannelAvailabilityPoliciesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let (size, token) = check_page(&mut violations, request.page.as_ref());
        if !(0..=5).contains(&request.channel_kind) {
            violations.add("channel_kind", "unknown kind");
        }
        invalid(violations)?;
        let after = if token.is_empty() {
            (0, String::new())
        } else {
            let (kind, name) = token.split_once('/').ok_or_else(bad_token)?;
            (
                kind.parse::<i16>().map_err(|_| bad_token())?,
                name.to_owned(),
            )
        };
        let kind = i16::try_from(request.channel_kind).unwrap_or_default();
        let (rows, next) = self.store.list_channel_policies(kind, after, size).await?;
        Ok(Response::new(pb::ListChannelAvailabilityPoliciesResponse {
            policies: rows.into_iter().map(policy_to_proto).collect(),
            page: page_response(next),
        }))
    }

    async fn reserve(
        &self,
        request: Request<pb::ReserveRequest>,
    ) -> Result<Response<pb::ReserveResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        let lines = reservation_lines(&mut violations, &request.lines);
        if let Some(lines) = &lines
            && let Err((index, err)) = reservation::check_lines(lines)
        {
            let field = index.map_or("lines".to_owned(), |index| format!("lines[{index}]"));
            violations.add(field, err.to_string());
        }
        let ttl = match &request.ttl {
            None => Some(DEFAULT_TTL),
            Some(ttl) => {
                let ttl = Duration::try_from(*ttl)
                    .ok()
                    .filter(|ttl| *ttl >= Duration::from_secs(1) && *ttl <= MAX_TTL);
                if ttl.is_none() {
                    violations.add("ttl", "must be 1 s to 7 days");
                }
                ttl
            }
        };
        let channel = request
            .channel
            .as_ref()
            .and_then(|c| channel(&mut violations, "channel", c));
        let actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let (order_id, lines, ttl, actor) = (
            checked(order_id)?,
            checked(lines)?,
            checked(ttl)?,
            checked(actor)?,
        );

        let leases = self.locks.acquire(lines.iter().map(|line| &line.sku)).await;
        let reserved = self
            .store
            .reserve(&NewReservation {
                order_id: &order_id,
                lines: &lines,
                ttl,
                channel: channel.as_ref(),
                actor: &actor,
            })
            .await;
        leases.release().await;
        let outcome = match &reserved {
            Ok(_) => "held",
            Err(InventoryError::InsufficientStock(_)) => "refused",
            Err(_) => "failed",
        };
        self.reservations
            .add(1, &[KeyValue::new("outcome", outcome)]);
        let reservation = reserved?;
        self.changed(lines.iter().map(|line| line.sku.as_str()))
            .await;
        tracing::debug!(order_id = %order_id, lines = lines.len(), "reserved");
        Ok(Response::new(pb::ReserveResponse {
            reservation: Some(convert::reservation(&reservation)),
        }))
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        let reason = note(&mut violations, "reason", &request.reason, 500);
        let actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let released = self
            .store
            .release(&checked(order_id)?, &reason, &checked(actor)?)
            .await?;
        self.changed(
            released
                .reservation
                .lines
                .iter()
                .map(|line| line.sku.as_str()),
        )
        .await;
        Ok(Response::new(pb::ReleaseResponse {
            reservation: Some(convert::reservation(&released.reservation)),
            changed: released.changed,
        }))
    }

    async fn commit_reservation(
        &self,
        request: Request<pb::CommitReservationRequest>,
    ) -> Result<Response<pb::CommitReservationResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        let actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let committed = self
            .store
            .commit(&checked(order_id)?, &checked(actor)?)
            .await?;
        self.changed(committed.lines.iter().map(|line| line.sku.as_str()))
            .await;
        Ok(Response::new(pb::CommitReservationResponse {
            reservation: Some(convert::reservation(&committed)),
        }))
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::GetReservationResponse>, Status> {
        use pb::get_reservation_request::Key;
        let request = request.into_inner();
        let found = match request.key {
            Some(Key::OrderId(id)) if !id.is_empty() => {
                let order_id = crate::domain::OrderId::parse(&id)
                    .map_err(|err| InventoryError::invalid("order_id", err.to_string()))?;
                self.store.reservation_by_order(&order_id).await?
            }
            Some(Key::ReservationId(id)) if !id.is_empty() => match uuid::Uuid::parse_str(&id) {
                Ok(uuid) => self.store.reservation_by_id(uuid).await?,
                Err(_) => None,
            },
            _ => {
                return Err(InventoryError::invalid(
                    "key",
                    "order_id or reservation_id is required",
                )
                .into());
            }
        };
        let reservation =
            found.ok_or_else(|| InventoryError::not_found("reservation", "requested"))?;
        Ok(Response::new(pb::GetReservationResponse {
            reservation: Some(convert::reservation(&reservation)),
        }))
    }

    async fn list_reservations(
        &self,
        request: Request<pb::ListReservationsRequest>,
    ) -> Result<Response<pb::ListReservationsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let (size, token) = check_page(&mut violations, request.page.as_ref());
        let mut states = Vec::new();
        for (index, state) in request.states.iter().enumerate() {
            let state = match pb::ReservationState::try_from(*state) {
                Ok(pb::ReservationState::Held) => "held",
                Ok(pb::ReservationState::Committed) => "committed",
                Ok(pb::ReservationState::Released) => "released",
                Ok(pb::ReservationState::Expired) => "expired",
                _ => {
                    violations.add(format!("states[{index}]"), "unspecified or unknown state");
                    continue;
                }
            };
            states.push(state.to_owned());
        }
        let channel = request
            .channel
            .as_ref()
            .and_then(|c| channel(&mut violations, "channel", c));
        let expire_before = request
            .expire_before
            .as_ref()
            .and_then(|t| from_timestamp(&mut violations, "expire_before", t));
        invalid(violations)?;
        let after = if token.is_empty() {
            None
        } else {
            let (time, id) = token.split_once('/').ok_or_else(bad_token)?;
            let time = chrono::DateTime::parse_from_rfc3339(time).map_err(|_| bad_token())?;
            let id = uuid::Uuid::parse_str(id).map_err(|_| bad_token())?;
            Some((time.to_utc(), id))
        };
        let filter = ReservationFilter {
            states,
            sku: Some(request.sku).filter(|s| !s.is_empty()),
            location_id: Some(request.location_id).filter(|s| !s.is_empty()),
            channel,
            expire_before,
        };
        let (records, next) = self.store.list_reservations(&filter, after, size).await?;
        Ok(Response::new(pb::ListReservationsResponse {
            reservations: records.iter().map(convert::reservation).collect(),
            page: page_response(next),
        }))
    }

    async fn restock(
        &self,
        request: Request<pb::RestockRequest>,
    ) -> Result<Response<pb::RestockResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        if !matches!(
            pb::RestockSource::try_from(request.source),
            Ok(pb::RestockSource::Return | pb::RestockSource::Cancellation)
        ) {
            violations.add("source", "required");
        }
        if request.source_id.is_empty() || request.source_id.len() > 128 {
            violations.add("source_id", "must be 1 to 128 characters");
        }
        if request.lines.is_empty() || request.lines.len() > 500 {
            violations.add("lines", "must hold 1 to 500 lines");
        }
        let mut lines = Vec::new();
        let mut seen = HashSet::new();
        for (index, line) in request.lines.iter().enumerate() {
            if line.line_id.is_empty() || line.line_id.len() > 128 {
                violations.add(
                    format!("lines[{index}].line_id"),
                    "must be 1 to 128 characters",
                );
            } else if !seen.insert(line.line_id.as_str()) {
                violations.add(format!("lines[{index}].line_id"), "repeats an earlier line");
            }
            let sku = sku(&mut violations, format!("lines[{index}].sku"), &line.sku);
            let location = location_id(
                &mut violations,
                format!("lines[{index}].location_id"),
                &line.location_id,
            );
            let quantity = quantity(
                &mut violations,
                format!("lines[{index}].quantity"),
                line.quantity,
            );
            if let (Some(sku), Some(location), Some(quantity)) = (sku, location, quantity) {
                lines.push(crate::store::stock::RestockLine {
                    line_id: line.line_id.clone(),
                    sku,
                    location_id: location,
                    quantity,
                });
            }
        }
        let actor = actor(&mut violations, request.actor.as_ref());
        let note = note(&mut violations, "note", &request.note, 500);
        invalid(violations)?;
        let source = i16::try_from(request.source).unwrap_or_default();
        let applied = self
            .store
            .restock(source, &request.source_id, &lines, &checked(actor)?, &note)
            .await?;
        self.changed(lines.iter().map(|line| line.sku.as_str()))
            .await;
        Ok(Response::new(pb::RestockResponse {
            stock: applied
                .iter()
                .map(|(stock, _)| stock_level(stock))
                .collect(),
            movements: applied
                .iter()
                .map(|(_, movement)| movement_proto(movement))
                .collect(),
        }))
    }

    async fn set_safety_stock(
        &self,
        request: Request<pb::SetSafetyStockRequest>,
    ) -> Result<Response<pb::SetSafetyStockResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let sku = sku(&mut violations, "sku", &request.sku);
        let location = location_id(&mut violations, "location_id", &request.location_id);
        if request.safety_stock < 0 {
            violations.add("safety_stock", "must be 0 or more");
        }
        let actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let (sku, location, actor) = (checked(sku)?, checked(location)?, checked(actor)?);
        let stock = self
            .store
            .set_safety_stock(&sku, &location, request.safety_stock, &actor)
            .await?;
        self.changed([sku.as_str()]).await;
        Ok(Response::new(pb::SetSafetyStockResponse {
            stock: Some(stock_level(&stock)),
        }))
    }

    async fn set_stock_threshold(
        &self,
        request: Request<pb::SetStockThresholdRequest>,
    ) -> Result<Response<pb::SetStockThresholdResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let sku = sku(&mut violations, "sku", &request.sku);
        let location = location_id(&mut violations, "location_id", &request.location_id);
        if request.threshold < 0 {
            violations.add("threshold", "must be 0 or more");
        }
        let _actor = actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let sku = checked(sku)?;
        let stock = self
            .store
            .set_threshold(&sku, &checked(location)?, request.threshold)
            .await?;
        self.changed([sku.as_str()]).await;
        Ok(Response::new(pb::SetStockThresholdResponse {
            stock: Some(stock_level(&stock)),
        }))
    }

    async fn list_low_stock(
        &self,
        request: Request<pb::ListLowStockRequest>,
    ) -> Result<Response<pb::ListLowStockResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let (size, token) = check_page(&mut violations, request.page.as_ref());
        let skus = sku_list(&mut violations, &request.skus, false);
        invalid(violations)?;
        let after = if token.is_empty() {
            None
        } else {
            let mut parts = token.splitn(3, '/');
            let gap = parts
                .next()
                .and_then(|gap| gap.parse::<i32>().ok())
                .ok_or_else(bad_token)?;
            let sku = parts.next().ok_or_else(bad_token)?.to_owned();
            let location = parts.next().ok_or_else(bad_token)?.to_owned();
            Some((gap, sku, location))
        };
        let (rows, next) = self
            .store
            .low_stock(&request.location_ids, &skus, after, size)
            .await?;
        Ok(Response::new(pb::ListLowStockResponse {
            stock: rows.iter().map(stock_level).collect(),
            page: page_response(next),
        }))
    }

    type WatchAvailabilityStream = ReceiverStream<Result<pb::WatchAvailabilityResponse, Status>>;

    async fn watch_availability(
        &self,
        request: Request<pb::WatchAvailabilityRequest>,
    ) -> Result<Response<Self::WatchAvailabilityStream>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        if request.skus.len() > MAX_SKUS {
            violations.add("skus", "at most 1000");
        }
        let skus = sku_list(&mut violations, &request.skus, false);
        for (index, id) in request.location_ids.iter().enumerate() {
            location_id(&mut violations, format!("location_ids[{index}]"), id);
        }
        let channel = request
            .channel
            .as_ref()
            .and_then(|c| channel(&mut violations, "channel", c));
        if request.start_after_sequence < 0 {
            violations.add("start_after_sequence", "must be 0 or more");
        }
        invalid(violations)?;
        if let Some(unknown) = self
            .store
            .unknown_locations(&request.location_ids)
            .await?
            .into_iter()
            .next()
        {
            return Err(InventoryError::not_found("location", unknown).into());
        }
        // The database's position, not this instance's feed, which may lag.
        if request.start_after_sequence > self.store.latest_position().await? {
            return Err(InventoryError::invalid(
                "start_after_sequence",
                "after the latest ledger position",
            )
            .into());
        }
        // Read before the policy: a change after the call came in is then never missed.
        let view_version = self.store.view_version(channel.as_ref()).await?;
        let policy = match &channel {
            Some(channel) => Some(self.policy(channel).await?),
            None => None,
        };
        let filter = WatchFilter {
            skus: skus.into_iter().collect(),
            location_ids: request.location_ids.into_iter().collect(),
            channel: channel.zip(policy),
            view_version,
        };
        let stream = watch::watch(
            self.store.clone(),
            self.feed.clone(),
            filter,
            request.start_after_sequence,
            self.watch.clone(),
            self.shutdown.clone(),
        );
        Ok(Response::new(stream))
    }

    async fn get_location_load(
        &self,
        request: Request<pb::GetLocationLoadRequest>,
    ) -> Result<Response<pb::GetLocationLoadResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        if request.queries.is_empty() || request.queries.len() > 5000 {
            violations.add("queries", "must hold 1 to 5000 queries");
        }
        let mut queries = Vec::new();
        for (index, query) in request.queries.iter().enumerate() {
            let since = match &query.since {
                Some(since) => {
                    from_timestamp(&mut violations, &format!("queries[{index}].since"), since)
                }
                None => {
                    violations.add(format!("queries[{index}].since"), "required");
                    None
                }
            };
            if let Some(since) = since {
                queries.push((query.location_id.clone(), since));
            }
        }
        invalid(violations)?;
        let loads = self.store.location_load(&queries).await?;
        Ok(Response::new(pb::GetLocationLoadResponse {
            loads: queries
                .iter()
                .zip(loads)
                .map(|((location_id, _), load)| pb::LocationLoad {
                    location_id: location_id.clone(),
                    orders: i32::try_from(load.orders).unwrap_or(i32::MAX),
                    units: i32::try_from(load.units).unwrap_or(i32::MAX),
                })
                .collect(),
        }))
    }
}

impl Inventory {
    /// The policy in force for a channel: its own, or the default.
    async fn policy(
        &self,
        channel: &Channel,
    ) -> Result<pb::ChannelAvailabilityPolicy, InventoryError> {
        Ok(match self.store.get_channel_policy(channel).await? {
            Some(row) => policy_to_proto(row),
            None => pb::ChannelAvailabilityPolicy {
                channel: Some(channel_to_proto(channel)),
                ..Default::default()
            },
        })
    }
}

fn movement_proto(row: &crate::store::MovementRow) -> pb::StockMovement {
    convert::movement(row)
}

/// SKUs of a request: each valid, none twice; 1 to 1000 when `required`.
fn sku_list(violations: &mut FieldViolations, skus: &[String], required: bool) -> Vec<String> {
    if (required && skus.is_empty()) || skus.len() > MAX_SKUS {
        violations.add(
            "skus",
            if required {
                "must hold 1 to 1000 skus"
            } else {
                "at most 1000 skus"
            },
        );
    }
    let mut seen = HashSet::new();
    for (index, value) in skus.iter().enumerate() {
        if Sku::parse(value).is_err() {
            violations.add(
                format!("skus[{index}]"),
                "must be 1 to 64 characters of [A-Za-z0-9._-]",
            );
        } else if !seen.insert(value) {
            violations.add(format!("skus[{index}]"), "repeats an earlier sku");
        }
    }
    skus.to_vec()
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
pub(crate) fn channel_view<'a>(
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
