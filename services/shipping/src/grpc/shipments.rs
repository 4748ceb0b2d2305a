//! A shipment's life apart from its tracking: CreateShipment and
//! CreateReturnLabel (one create, two directions), CancelShipment,
//! GetShipment and ListShipments.
//!
//! A create buys the label from the carrier first, keyed by the shipment's
//! natural key so a retry never buys a second one, and then writes the
//! shipment in one transaction under the key's lock. A cancel is one
//! transaction that voids the label, marks the shipment CANCELLED and queues
//! what the order hears; a cancel of a key with no shipment yet records the key,
//! so a late create for it buys nothing.

use chrono::{SubsecRound as _, Utc};
use oms_platform::{error::FieldViolations, paging::Pages};
use oms_proto::{
    common::v1 as common,
    shipping::v1::{self as pb, cancel_shipment_request::Target},
};
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    ShippingApi,
    carriers::Wanted,
    convert::{self, LabelFormat},
    labels,
    reports::{self, Happened},
};
use crate::{
    carrier::{LabelRequest, MAX_CARRIER_CODE, Route},
    domain::{
        parcel::{Parcel, ServiceLevel},
        report::{Direction, Fact},
        shipment::{CancelRefusal, ShipmentStatus},
    },
    error::ShippingError,
    store::{self, ShipmentRecord, ShipmentRow},
};

/// A validated create: an outbound shipment or a return label.
pub struct NewShipment {
    direction: Direction,
    order_id: String,
    location_id: String,
    return_id: Option<String>,
    natural_key: String,
    fingerprint: Vec<u8>,
    service_level: ServiceLevel,
    carrier: Option<String>,
    format: LabelFormat,
    parcels: Vec<Parcel>,
    /// The request as checked, its actor removed; the location's address is
    /// filled in from inventory when the caller left it out.
    source: Source,
}

enum Source {
    Outbound(pb::CreateShipmentRequest),
    Return(pb::CreateReturnLabelRequest),
}

/// The fields both creates have, by their role.
struct Fields<'a> {
    order_id: &'a str,
    location_id: &'a str,
    /// The carrier the caller named; empty for the cheapest.
    carrier: &'a str,
    lines: &'a [pb::ShipmentLine],
    parcels: &'a [pb::Parcel],
    /// The customer's end (field, address): required.
    customer: (&'static str, Option<&'a common::Address>),
    /// The location's end (field, address): inventory's when left out.
    location: (&'static str, Option<&'a common::Address>),
    service_level: i32,
    label_format: i32,
    actor: Option<&'a common::Actor>,
}

/// What a checked create carries besides its ids.
struct Checked {
    service_level: ServiceLevel,
    format: LabelFormat,
    parcels: Vec<Parcel>,
}

/// Checks the common fields, adding to `violations` (which may already hold
/// some); any violation refuses the request.
fn check(mut violations: FieldViolations, fields: &Fields<'_>) -> Result<Checked, ShippingError> {
    convert::minted_id(&mut violations, "order_id", fields.order_id);
    convert::location_id(&mut violations, "location_id", fields.location_id);
    convert::bounded(
        &mut violations,
        "carrier",
        fields.carrier,
        0,
        MAX_CARRIER_CODE,
    );
    convert::lines(&mut violations, fields.lines);
    let parcels = convert::parcels(&mut violations, fields.parcels);
    let (field, address) = fields.customer;
    convert::address(&mut violations, field, address, true);
    if let (field, Some(address)) = fields.location {
        convert::address(&mut violations, field, Some(address), true);
    }
    let service_level =
        convert::service_level(&mut violations, "service_level", fields.service_level);
    let format = convert::label_format(&mut violations, "label_format", fields.label_format);
    convert::required_actor(&mut violations, fields.actor);
    if !violations.is_empty() {
        return Err(ShippingError::Invalid(violations));
    }
    Ok(Checked {
        service_level,
        format,
        parcels,
    })
}

/// The natural key of an outbound shipment; also the carrier key of its label.
fn outbound_key(order_id: &str, location_id: &str) -> String {
    format!("outbound:{order_id}:{location_id}")
}

/// The natural key of a return label.
fn return_key(return_id: &str) -> String {
    format!("return:{return_id}")
}

/// The fingerprint of a request's content: SHA-256 of its encoding without the
/// actor, so a retry by another caller is still the same request.
fn fingerprint(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

fn non_empty(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// The [`Fields`] of a CreateShipment or CreateReturnLabel request, whose
/// common fields share their names; `customer` and `location` name the fields
/// of the two ends.
macro_rules! fields {
    ($request:expr, customer: $customer:ident, location: $location:ident) => {
        Fields {
            order_id: &$request.order_id,
            location_id: &$request.location_id,
            carrier: &$request.carrier,
            lines: &$request.lines,
            parcels: &$request.parcels,
            customer: (stringify!($customer), $request.$customer.as_ref()),
            location: (stringify!($location), $request.$location.as_ref()),
            service_level: $request.service_level,
            label_format: $request.label_format,
            actor: $request.actor.as_ref(),
        }
    };
}

/// A CreateShipment request, checked.
pub fn outbound(request: &pb::CreateShipmentRequest) -> Result<NewShipment, ShippingError> {
    let fields = fields!(request, customer: destination, location: origin);
    let checked = check(FieldViolations::new(), &fields)?;
    let stripped = pb::CreateShipmentRequest {
        actor: None,
        omit_documents: false,
        ..request.clone()
    };
    let encoded = stripped.encode_to_vec();
    let source = Source::Outbound(stripped);
    Ok(NewShipment::new(&fields, checked, None, &encoded, source))
}

/// A CreateReturnLabel request, checked.
pub fn return_label(request: &pb::CreateReturnLabelRequest) -> Result<NewShipment, ShippingError> {
    let mut violations = FieldViolations::new();
    convert::minted_id(&mut violations, "return_id", &request.return_id);
    let fields = fields!(request, customer: origin, location: destination);
    let checked = check(violations, &fields)?;
    let stripped = pb::CreateReturnLabelRequest {
        actor: None,
        ..request.clone()
    };
    let encoded = stripped.encode_to_vec();
    let source = Source::Return(stripped);
    let return_id = Some(request.return_id.as_str());
    Ok(NewShipment::new(
        &fields, checked, return_id, &encoded, source,
    ))
}

impl NewShipment {
    /// A checked create of `fields`; `encoded` is the request without its actor.
    fn new(
        fields: &Fields<'_>,
        checked: Checked,
        return_id: Option<&str>,
        encoded: &[u8],
        source: Source,
    ) -> NewShipment {
        let (direction, natural_key) = match return_id {
            Some(return_id) => (Direction::Return, return_key(return_id)),
            None => (
                Direction::Outbound,
                outbound_key(fields.order_id, fields.location_id),
            ),
        };
        NewShipment {
            direction,
            order_id: fields.order_id.to_owned(),
            location_id: fields.location_id.to_owned(),
            return_id: return_id.map(str::to_owned),
            natural_key,
            fingerprint: fingerprint(encoded),
            service_level: checked.service_level,
            carrier: non_empty(fields.carrier),
            format: checked.format,
            parcels: checked.parcels,
            source,
        }
    }

    /// The location's address as the caller gave it, if any.
    fn location_address(&self) -> Option<&common::Address> {
        match &self.source {
            Source::Outbound(request) => request.origin.as_ref(),
            Source::Return(request) => request.destination.as_ref(),
        }
    }

    /// The request with the location's address, encoded for storage, and the
    /// route it takes.
    fn complete(&self, location: common::Address) -> Result<(Vec<u8>, Route), ShippingError> {
        let (encoded, origin, destination) = match &self.source {
            Source::Outbound(request) => {
                let request = pb::CreateShipmentRequest {
                    origin: Some(location),
                    ..request.clone()
                };
                (request.encode_to_vec(), request.origin, request.destination)
            }
            Source::Return(request) => {
                let request = pb::CreateReturnLabelRequest {
                    destination: Some(location),
                    ..request.clone()
                };
                (request.encode_to_vec(), request.origin, request.destination)
            }
        };
        let mut violations = FieldViolations::new();
        let origin = origin.unwrap_or_default();
        let destination = destination.unwrap_or_default();
        let origin_country = convert::address(&mut violations, "origin", Some(&origin), true);
        let destination_country =
            convert::address(&mut violations, "destination", Some(&destination), true);
        let (Some(origin_country), Some(destination_country)) =
            (origin_country, destination_country)
        else {
            return Err(ShippingError::Invalid(violations));
        };
        let route = convert::route(&origin, origin_country, &destination, destination_country);
        Ok((encoded, route))
    }

    fn wanted(&self) -> Wanted<'_> {
        Wanted {
            service_level: self.service_level,
            location_id: &self.location_id,
            parcels: &self.parcels,
            carrier: self.carrier.as_deref(),
        }
    }

    /// Whether `row`, the shipment of this key, came from this same request;
    /// another request for the key is a conflict.
    fn same_as(&self, row: &ShipmentRow) -> Result<(), ShippingError> {
        if row.fingerprint == self.fingerprint {
            return Ok(());
        }
        Err(ShippingError::KeyConflict(match &self.return_id {
            Some(return_id) => vec![("return_id", return_id.clone())],
            None => vec![
                ("order_id", self.order_id.clone()),
                ("location_id", self.location_id.clone()),
            ],
        }))
    }
}

/// The shipment id a request names: INVALID_ARGUMENT when it is not an id
/// the OMS minted.
fn shipment_id(value: &str) -> Result<Uuid, ShippingError> {
    let mut violations = FieldViolations::new();
    match convert::minted_id(&mut violations, "shipment_id", value) {
        Some(id) => Ok(id.uuid()),
        None => Err(ShippingError::Invalid(violations)),
    }
}

/// What a CancelShipment names, checked.
enum CancelTarget {
    /// A shipment by its id.
    Shipment(Uuid),
    /// A shipment by its natural key, which may have none yet.
    Key(String),
}

/// The shipment of `key`, locked; with none, records the key as cancelled.
async fn lock_or_cancel_key(
    tx: &mut PgConnection,
    key: &str,
    reason: &str,
) -> Result<Option<ShipmentRow>, ShippingError> {
    store::lock_key(tx, key).await?;
    let row = store::lock_by_key(tx, key).await?;
    if row.is_none() {
        store::cancel_key(tx, key, reason).await?;
    }
    Ok(row)
}

impl ShippingApi {
    /// A stored shipment with its documents, as the contract has it.
    pub(super) async fn shipment(&self, shipment_id: Uuid) -> Result<pb::Shipment, ShippingError> {
        convert::shipment(&self.record(shipment_id).await?, true)
    }

    async fn record(&self, shipment_id: Uuid) -> Result<ShipmentRecord, ShippingError> {
        self.store
            .get(shipment_id)
            .await?
            .ok_or_else(|| ShippingError::NotFound(shipment_id.to_string()))
    }

    /// Creates the shipment of a checked request, or returns the one its key
    /// already has.
    pub(super) async fn create_shipment(
        &self,
        new: Result<NewShipment, ShippingError>,
        documents: bool,
    ) -> Result<pb::Shipment, ShippingError> {
        convert::shipment(&self.create(new?).await?, documents)
    }

    /// Creates one shipment, or returns the one its key already has.
    pub(super) async fn create(&self, new: NewShipment) -> Result<ShipmentRecord, ShippingError> {
        let (existing, key_cancelled) = self.store.by_key(&new.natural_key).await?;
        if let Some(record) = existing {
            new.same_as(&record.shipment)?;
            return Ok(record);
        }
        let cancelled = ShippingError::IllegalTransition {
            from: ShipmentStatus::Cancelled,
            action: "create",
        };
        if key_cancelled {
            return Err(cancelled);
        }

        let location = self
            .location_address(&new.location_id, new.location_address())
            .await?;
        let (encoded, route) = new.complete(location)?;
        let wanted = new.wanted();
        let carrier = self.carriers.choose(&wanted, &route).await?;
        let label_request = LabelRequest {
            carrier_key: new.natural_key.clone(),
            service_level: new.service_level,
            route,
            parcels: new.parcels.clone(),
            ship_time: Utc::now(),
        };
        let bought = self
            .carriers
            .buy_label(carrier.as_ref(), &label_request)
            .await
            .map_err(|err| wanted.error(carrier.code(), err))?;

        let details = convert::details(new.direction, &encoded)?;
        let documents = labels::documents(
            &self.fonts,
            &details,
            new.direction,
            new.format,
            &labels::Printed {
                carrier: carrier.code(),
                carrier_service: &bought.rate.carrier_service,
                tracking_number: &bought.tracking_number,
                order_id: &new.order_id,
                return_id: new.return_id.as_deref(),
            },
        )?;
        // To the microsecond, as Postgres keeps it: the answer below is the
        // row as written, and a read later must find the same.
        let now = Utc::now().trunc_subsecs(6);
        let row = ShipmentRow {
            shipment_id: Uuid::now_v7(),
            direction: new.direction.code(),
            order_id: new.order_id.clone(),
            location_id: new.location_id.clone(),
            return_id: new.return_id.clone(),
            natural_key: new.natural_key.clone(),
            fingerprint: new.fingerprint.clone(),
            details: encoded,
            status: ShipmentStatus::LabelCreated.code(),
            status_time: None,
            carrier: carrier.code().to_owned(),
            service_level: new.service_level.code(),
            carrier_service: bought.rate.carrier_service.clone(),
            tracking_number: bought.tracking_number.clone(),
            tracking_url: bought.tracking_url.clone(),
            price_minor: bought.rate.price_minor,
            currency_code: bought.rate.currency.clone(),
            promised_delivery_time: bought.rate.promised_delivery_time.trunc_subsecs(6),
            label_format: new.format.code(),
            label: documents.label,
            packing_slip: documents.packing_slip,
            create_time: now,
            pickup_time: None,
            delivery_time: None,
            cancel_time: None,
            update_time: now,
        };

        let mut tx = self.store.begin().await?;
        store::lock_key(&mut tx, &new.natural_key).await?;
        if store::key_cancelled(&mut tx, &new.natural_key).await? {
            drop(tx);
            // The compensation overtook this create: the label is not used.
            if let Err(err) = self
                .carriers
                .void_label(carrier.as_ref(), &bought.tracking_number)
                .await
            {
                tracing::warn!(error = %err, "carrier: voiding an unused label failed");
            }
            return Err(cancelled);
        }
        if let Some(existing) = store::lock_by_key(&mut tx, &new.natural_key).await? {
            // A concurrent create of the same key won; its label is the same one.
            new.same_as(&existing)?;
            let record = Self::read(&mut tx, existing.shipment_id).await?;
            tx.commit().await?;
            return Ok(record);
        }
        store::insert(&mut tx, &row).await?;
        tx.commit().await?;
        tracing::info!(shipment_id = %row.shipment_id, order_id = %row.order_id, location_id = %row.location_id, carrier = %row.carrier, "shipment created");
        // Answered from what was written (no default or trigger changes a
        // shipment's row), not read back with its documents: a new shipment
        // has no tracking events yet.
        Ok(ShipmentRecord {
            shipment: row,
            events: Vec::new(),
        })
    }

    /// The shipment as `tx` sees it.
    async fn read(
        tx: &mut PgConnection,
        shipment_id: Uuid,
    ) -> Result<ShipmentRecord, ShippingError> {
        store::get(tx, shipment_id)
            .await?
            .ok_or_else(|| ShippingError::NotFound(shipment_id.to_string()))
    }

    /// Cancels a shipment not yet in the carrier's hands; `None` when the
    /// target is a key with no shipment yet (the key is then cancelled).
    pub(super) async fn cancel_shipment(
        &self,
        request: &pb::CancelShipmentRequest,
    ) -> Result<Option<pb::Shipment>, ShippingError> {
        let mut violations = FieldViolations::new();
        convert::required_actor(&mut violations, request.actor.as_ref());
        convert::max_chars(&mut violations, "reason", &request.reason, 500);
        let target = match &request.target {
            None => {
                violations.add("target", "a shipment_id, key or return_id is required");
                None
            }
            Some(Target::ShipmentId(id)) => convert::minted_id(&mut violations, "shipment_id", id)
                .map(|id| CancelTarget::Shipment(id.uuid())),
            Some(Target::Key(key)) => {
                let order_id = convert::minted_id(&mut violations, "key.order_id", &key.order_id);
                let location_id =
                    convert::location_id(&mut violations, "key.location_id", &key.location_id);
                order_id.zip(location_id).map(|(order_id, location_id)| {
                    CancelTarget::Key(outbound_key(order_id.as_str(), location_id.as_str()))
                })
            }
            Some(Target::ReturnId(id)) => convert::minted_id(&mut violations, "return_id", id)
                .map(|id| CancelTarget::Key(return_key(id.as_str()))),
        };
        let Some(target) = target.filter(|_| violations.is_empty()) else {
            return Err(ShippingError::Invalid(violations));
        };

        let mut tx = self.store.begin().await?;
        let row = match target {
            CancelTarget::Shipment(id) => Some(
                store::lock(&mut tx, id)
                    .await?
                    .ok_or_else(|| ShippingError::NotFound(id.to_string()))?,
            ),
            CancelTarget::Key(natural_key) => {
                lock_or_cancel_key(&mut tx, &natural_key, &request.reason).await?
            }
        };
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let status = row.shipment_status()?;
        let cancel = status.cancel().map_err(|refusal| match refusal {
            CancelRefusal::InCarrierCustody => ShippingError::InCarrierCustody { status },
            CancelRefusal::Ended => ShippingError::IllegalTransition {
                from: status,
                action: "cancel",
            },
        })?;
        let mut reported = false;
        if cancel {
            let carrier = self.carriers.find(&row.carrier)?;
            self.carriers
                .void_label(carrier.as_ref(), &row.tracking_number)
                .await
                .map_err(|_| ShippingError::ProviderUnavailable {
                    provider: row.carrier.clone(),
                })?;
            store::cancel(
                &mut tx,
                row.shipment_id,
                ShipmentStatus::Cancelled.code(),
                &request.reason,
            )
            .await?;
            let happened = Happened {
                fact: Fact::Cancelled,
                name: "cancelled",
                time: Utc::now(),
            };
            reported = reports::queue(&mut tx, &row, &happened).await?;
        }
        tx.commit().await?;
        if cancel {
            tracing::info!(shipment_id = %row.shipment_id, order_id = %row.order_id, "shipment cancelled");
        }
        if reported {
            self.wake.notify_one();
        }
        Ok(Some(self.shipment(row.shipment_id).await?))
    }

    /// One shipment by its id, with its documents and timeline.
    pub(super) async fn get_shipment(&self, id: &str) -> Result<pb::Shipment, ShippingError> {
        self.shipment(shipment_id(id)?).await
    }

    /// A page of shipments matching the request's filters, newest first.
    pub(super) async fn list_shipments(
        &self,
        request: pb::ListShipmentsRequest,
    ) -> Result<pb::ListShipmentsResponse, ShippingError> {
        let mut violations = FieldViolations::new();
        let mut filter = store::ListFilter {
            order_id: convert::minted_filter(&mut violations, "order_id", &request.order_id)
                .map(|id| id.as_str().to_owned()),
            return_id: convert::minted_filter(&mut violations, "return_id", &request.return_id)
                .map(|id| id.as_str().to_owned()),
            location_id: non_empty(&request.location_id),
            ..Default::default()
        };
        for (i, code) in request.statuses.iter().enumerate() {
            match ShipmentStatus::from_code(*code) {
                Some(status) => filter.statuses.push(status.code()),
                None => violations.add(format!("statuses[{i}]"), "must be a status of the enum"),
            }
        }
        filter.direction = match request.direction {
            0 => None,
            code => {
                let direction = Direction::from_code(code);
                if direction.is_none() {
                    violations.add("direction", "must be a direction of the enum");
                }
                direction.map(Direction::code)
            }
        };
        let filters = pb::ListShipmentsRequest {
            page: None,
            ..request.clone()
        };
        let pages = Pages::<Uuid>::parse(request.page.as_ref(), &filters, &mut violations);
        if !violations.is_empty() {
            return Err(ShippingError::Invalid(violations));
        }

        let mut records = self.store.list(&filter, pages.after, pages.fetch()).await?;
        let page = pages.finish(&mut records, |record| record.shipment.shipment_id);
        let shipments = records
            .iter()
            .map(|record| convert::shipment(record, false))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(pb::ListShipmentsResponse {
            shipments,
            page: Some(page),
        })
    }
}
