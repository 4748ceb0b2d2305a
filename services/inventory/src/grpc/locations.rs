//! Locations: PutLocation, GetLocation and ListLocations, and the check that
//! every location a request names exists.

use oms_platform::{error::FieldViolations, paging::Pages};
use oms_proto::inventory::v1 as pb;

use super::{Inventory, convert::*};
use crate::{
    domain::{
        LocationId,
        location::{Location, LocationKind},
    },
    error::InventoryError,
    store::locations::LocationFilter,
};

/// PutLocation's location; the actor is required though not stored.
pub(super) fn check_put(
    violations: &mut FieldViolations,
    request: &pb::PutLocationRequest,
) -> Option<Location> {
    let location = location(violations, request.location.as_ref());
    actor(violations, request.actor.as_ref());
    location
}

/// A checked ListLocations: its filters and its page, ordered by location id.
pub(super) struct ListLocations {
    filter: LocationFilter,
    pages: Pages<String>,
}

impl ListLocations {
    pub(super) fn check(
        violations: &mut FieldViolations,
        request: &pb::ListLocationsRequest,
    ) -> Option<ListLocations> {
        let pages = Pages::of_request(request, |r| r.page.take(), violations);
        let kinds = kinds(violations, &request.kinds, |code| {
            LocationKind::from_code(code).map(LocationKind::code)
        });
        Some(ListLocations {
            filter: LocationFilter {
                kinds,
                country_codes: request.country_codes.clone(),
                active: request.active,
                ships_to_customers: request.ships_to_customers,
                store_pickup: request.store_pickup,
            },
            pages,
        })
    }
}

impl Inventory {
    pub(super) async fn put_location(
        &self,
        location: Location,
    ) -> Result<pb::PutLocationResponse, InventoryError> {
        let (row, created) = self.store.put_location(&location).await?;
        // Active or not changes every total the location counts in.
        self.cache.invalidate_all().await;
        Ok(pb::PutLocationResponse {
            location: Some(location_to_proto(row)),
            created,
        })
    }

    pub(super) async fn get_location(
        &self,
        location_id: LocationId,
    ) -> Result<pb::GetLocationResponse, InventoryError> {
        let row = self.store.get_location(&location_id).await?;
        Ok(pb::GetLocationResponse {
            location: Some(location_to_proto(row)),
        })
    }

    pub(super) async fn list_locations(
        &self,
        list: ListLocations,
    ) -> Result<pb::ListLocationsResponse, InventoryError> {
        let ListLocations { filter, pages } = list;
        let mut rows = self
            .store
            .list_locations(&filter, pages.after.as_deref(), pages.fetch())
            .await?;
        let page = pages.finish(&mut rows, |row| row.location_id.clone());
        Ok(pb::ListLocationsResponse {
            locations: rows.into_iter().map(location_to_proto).collect(),
            page: Some(page),
        })
    }

    /// NOT_FOUND for the first of `location_ids` that is not a location.
    pub(super) async fn require_locations(
        &self,
        location_ids: &[String],
    ) -> Result<(), InventoryError> {
        match self.store.unknown_locations(location_ids).await?.first() {
            Some(unknown) => Err(InventoryError::not_found("location", unknown)),
            None => Ok(()),
        }
    }
}
