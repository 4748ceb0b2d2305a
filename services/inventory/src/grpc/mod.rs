//! The gRPC face of the inventory. This module is the `InventoryService`
//! impl, and each RPC in it has one shape: [`check`] the request into domain
//! values (every bad field at once), call the RPC's step, [`respond`]. The
//! checks and steps live by area:
//!
//! - [`locations`]: PutLocation, GetLocation, ListLocations.
//! - [`stock`]: counts, adjustments and transfers in one idempotent
//!   transaction each, restocks, safety stock, thresholds, the ledger and low
//!   stock.
//! - [`availability`]: GetAvailability and the channel availability policies.
//! - [`reservations`]: Reserve, Release, CommitReservation, their reads, and
//!   the reserved load of locations.
//! - [`watch`]: the WatchAvailability stream, fed by [`crate::feed`].
//! - [`convert`]: proto <-> domain of single fields and rows.
//!
//! Proto types stop here.

mod availability;
mod convert;
mod locations;
mod reservations;
mod stock;
mod watch;

pub use watch::WatchConfig;

use std::sync::Arc;

use oms_platform::{
    error::FieldViolations,
    idempotency::{Idempotency, IdempotencyKey},
};
use oms_proto::inventory::v1::{self as pb, inventory_service_server::InventoryService};
use opentelemetry::metrics::Counter;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use self::{
    availability::{Availability, ListPolicies, PutPolicy},
    convert::{location_id, required_channel},
    locations::ListLocations,
    reservations::{ListReservations, ReservationKey, Reserve, Settle},
    stock::{ListLowStock, ListMovements, Restock, StockChange, StockSetting, Transfer},
    watch::{Watch, WatchStream},
};
use crate::{
    cache::AvailabilityCache, error::InventoryError, feed::LedgerFeed, group_commit::GroupCommit,
    store::Store,
};

/// The inventory service.
pub struct Inventory {
    store: Store,
    idempotency: Idempotency,
    group_commit: Arc<GroupCommit>,
    cache: Arc<AvailabilityCache>,
    feed: LedgerFeed,
    watch: WatchConfig,
    shutdown: CancellationToken,
    reservations: Counter<u64>,
}

impl Inventory {
    /// Serves from `store`, caching availability in `cache`; Reserve decides
    /// in groups; watchers follow `feed` until `shutdown`.
    pub fn new(
        store: Store,
        cache: Arc<AvailabilityCache>,
        feed: LedgerFeed,
        watch: WatchConfig,
        shutdown: CancellationToken,
    ) -> Inventory {
        let reservations = opentelemetry::global::meter("oms-inventory")
            .u64_counter("oms.inventory.reservations")
            .with_description("Reserve calls by outcome: held, replayed or refused")
            .build();
        Inventory {
            idempotency: Idempotency::new(store.pool().clone()),
            group_commit: Arc::new(GroupCommit::new(store.clone(), cache.clone(), feed.clone())),
            store,
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
}

/// Checks a request with `parse`, which records every bad field and gives the
/// checked values; they are used only when no field is bad.
fn check<R, T>(
    request: &R,
    parse: impl FnOnce(&mut FieldViolations, &R) -> Option<T>,
) -> Result<T, InventoryError> {
    let mut violations = FieldViolations::new();
    let checked = parse(&mut violations, request);
    if !violations.is_empty() {
        return Err(InventoryError::Invalid(violations));
    }
    // A parse that gives nothing names the field it refused; this is a backstop.
    checked.ok_or_else(|| InventoryError::invalid("request", "invalid"))
}

/// The answer of a step.
fn respond<T>(result: Result<T, InventoryError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl InventoryService for Inventory {
    async fn put_location(
        &self,
        request: Request<pb::PutLocationRequest>,
    ) -> Result<Response<pb::PutLocationResponse>, Status> {
        let location = check(request.get_ref(), locations::check_put)?;
        respond(self.put_location(location).await)
    }

    async fn get_location(
        &self,
        request: Request<pb::GetLocationRequest>,
    ) -> Result<Response<pb::GetLocationResponse>, Status> {
        let location_id = check(request.get_ref(), |v, request| {
            location_id(v, "location_id", &request.location_id)
        })?;
        respond(self.get_location(location_id).await)
    }

    async fn list_locations(
        &self,
        request: Request<pb::ListLocationsRequest>,
    ) -> Result<Response<pb::ListLocationsResponse>, Status> {
        let list = check(request.get_ref(), ListLocations::check)?;
        respond(self.list_locations(list).await)
    }

    async fn set_stock(
        &self,
        request: Request<pb::SetStockRequest>,
    ) -> Result<Response<pb::SetStockResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let set = check(request.get_ref(), StockChange::check_set)?;
        respond(self.set_stock(&key, request.get_ref(), set).await)
    }

    async fn adjust_stock(
        &self,
        request: Request<pb::AdjustStockRequest>,
    ) -> Result<Response<pb::AdjustStockResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let adjust = check(request.get_ref(), StockChange::check_adjust)?;
        respond(self.adjust_stock(&key, request.get_ref(), adjust).await)
    }

    async fn transfer_stock(
        &self,
        request: Request<pb::TransferStockRequest>,
    ) -> Result<Response<pb::TransferStockResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let transfer = check(request.get_ref(), Transfer::check)?;
        respond(self.transfer_stock(&key, request.get_ref(), transfer).await)
    }

    async fn list_stock_movements(
        &self,
        request: Request<pb::ListStockMovementsRequest>,
    ) -> Result<Response<pb::ListStockMovementsResponse>, Status> {
        let list = check(request.get_ref(), ListMovements::check)?;
        respond(self.list_stock_movements(list).await)
    }

    async fn get_availability(
        &self,
        request: Request<pb::GetAvailabilityRequest>,
    ) -> Result<Response<pb::GetAvailabilityResponse>, Status> {
        let asked = check(request.get_ref(), Availability::check)?;
        respond(self.get_availability(asked).await)
    }

    async fn put_channel_availability_policy(
        &self,
        request: Request<pb::PutChannelAvailabilityPolicyRequest>,
    ) -> Result<Response<pb::PutChannelAvailabilityPolicyResponse>, Status> {
        let put = check(request.get_ref(), PutPolicy::check)?;
        respond(self.put_channel_availability_policy(put).await)
    }

    async fn get_channel_availability_policy(
        &self,
        request: Request<pb::GetChannelAvailabilityPolicyRequest>,
    ) -> Result<Response<pb::GetChannelAvailabilityPolicyResponse>, Status> {
        let channel = check(request.get_ref(), |v, request| {
            required_channel(v, "channel", request.channel.as_ref())
        })?;
        respond(self.get_channel_availability_policy(channel).await)
    }

    async fn list_channel_availability_policies(
        &self,
        request: Request<pb::ListChannelAvailabilityPoliciesRequest>,
    ) -> Result<Response<pb::ListChannelAvailabilityPoliciesResponse>, Status> {
        let list = check(request.get_ref(), ListPolicies::check)?;
        respond(self.list_channel_availability_policies(list).await)
    }

    async fn reserve(
        &self,
        request: Request<pb::ReserveRequest>,
    ) -> Result<Response<pb::ReserveResponse>, Status> {
        let reserve = check(request.get_ref(), Reserve::check)?;
        respond(self.reserve(reserve).await)
    }

    async fn release(
        &self,
        request: Request<pb::ReleaseRequest>,
    ) -> Result<Response<pb::ReleaseResponse>, Status> {
        let release = check(request.get_ref(), Settle::check_release)?;
        respond(self.release(release).await)
    }

    async fn commit_reservation(
        &self,
        request: Request<pb::CommitReservationRequest>,
    ) -> Result<Response<pb::CommitReservationResponse>, Status> {
        let commit = check(request.get_ref(), Settle::check_commit)?;
        respond(self.commit_reservation(commit).await)
    }

    async fn get_reservation(
        &self,
        request: Request<pb::GetReservationRequest>,
    ) -> Result<Response<pb::GetReservationResponse>, Status> {
        let key = check(request.get_ref(), ReservationKey::check)?;
        respond(self.get_reservation(key).await)
    }

    async fn list_reservations(
        &self,
        request: Request<pb::ListReservationsRequest>,
    ) -> Result<Response<pb::ListReservationsResponse>, Status> {
        let list = check(request.get_ref(), ListReservations::check)?;
        respond(self.list_reservations(list).await)
    }

    async fn restock(
        &self,
        request: Request<pb::RestockRequest>,
    ) -> Result<Response<pb::RestockResponse>, Status> {
        let restock = check(request.get_ref(), Restock::check)?;
        respond(self.restock(restock).await)
    }

    async fn set_safety_stock(
        &self,
        request: Request<pb::SetSafetyStockRequest>,
    ) -> Result<Response<pb::SetSafetyStockResponse>, Status> {
        let set = check(request.get_ref(), StockSetting::check_safety_stock)?;
        let stock = self.set_stock_setting(set).await;
        respond(stock.map(|stock| pb::SetSafetyStockResponse { stock }))
    }

    async fn set_stock_threshold(
        &self,
        request: Request<pb::SetStockThresholdRequest>,
    ) -> Result<Response<pb::SetStockThresholdResponse>, Status> {
        let set = check(request.get_ref(), StockSetting::check_threshold)?;
        let stock = self.set_stock_setting(set).await;
        respond(stock.map(|stock| pb::SetStockThresholdResponse { stock }))
    }

    async fn list_low_stock(
        &self,
        request: Request<pb::ListLowStockRequest>,
    ) -> Result<Response<pb::ListLowStockResponse>, Status> {
        let list = check(request.get_ref(), ListLowStock::check)?;
        respond(self.list_low_stock(list).await)
    }

    type WatchAvailabilityStream = WatchStream;

    async fn watch_availability(
        &self,
        request: Request<pb::WatchAvailabilityRequest>,
    ) -> Result<Response<Self::WatchAvailabilityStream>, Status> {
        let watch = check(request.get_ref(), Watch::check)?;
        respond(self.watch_availability(watch).await)
    }

    async fn get_location_load(
        &self,
        request: Request<pb::GetLocationLoadRequest>,
    ) -> Result<Response<pb::GetLocationLoadResponse>, Status> {
        let queries = check(request.get_ref(), reservations::check_load)?;
        respond(self.get_location_load(queries).await)
    }
}
