//! The gRPC face of the shipping service. A create buys the label from the
//! carrier first (keyed by the shipment's natural key, so a retry never buys a
//! second one) and then writes the shipment in one transaction under the key's
//! lock; a cancel or a tracking event is one transaction that also queues the
//! order service's status change in the outbox. Proto types stop here.

mod convert;

use std::{collections::HashSet, sync::Arc, time::Duration};

use chrono::{SubsecRound as _, Utc};
use oms_platform::{
    client::OmsChannel, error::FieldViolations, ids::ActorKind, paging::Pages,
    rpc::current_traceparent,
};
use oms_proto::{
    common::v1 as common,
    inventory::v1::{GetLocationRequest, inventory_service_client::InventoryServiceClient},
    order::v1 as order,
    returns::v1 as returns,
    shipping::v1::{self as pb, shipping_service_server::ShippingService},
};
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use self::convert::{LabelFormat, OUTBOUND, RETURN};
use crate::{
    carrier::{Carrier, CarrierError, CarrierRate, LabelRequest, Route},
    documents,
    domain::{
        parcel::{Parcel, ServiceLevel},
        report::{Direction, Fact, OrderNews, Report, report},
        shipment::{CancelRefusal, ShipmentStatus, TrackingEventType, event_applies},
    },
    error::ShippingError,
    store::{self, NewEvent, ShipmentRecord, ShipmentRow, Store},
};

/// Most requests of one CreateShipments call.
const MAX_BATCH: usize = 500;
/// How far in the future a carrier's event time may be (clock skew).
const MAX_EVENT_SKEW: chrono::Duration = chrono::Duration::hours(24);

/// The shipping service.
pub struct ShippingApi {
    store: Store,
    inventory: InventoryServiceClient<OmsChannel>,
    carriers: Vec<Arc<dyn Carrier>>,
    carrier_timeout: Duration,
    wake: Arc<Notify>,
}

/// A validated create: an outbound shipment or a return label.
struct NewShipment {
    direction: i16,
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

impl NewShipment {
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
        let mut violations = FieldViolations::new();
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
}

fn key_of(order_id: &str, location_id: &str) -> String {
    format!("outbound:{order_id}:{location_id}")
}

/// The fingerprint of a request's content: SHA-256 of its encoding without the
/// actor, so a retry by another caller is still the same request.
fn fingerprint(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

fn outbound(request: &pb::CreateShipmentRequest) -> Result<NewShipment, ShippingError> {
    let mut violations = FieldViolations::new();
    convert::order_id(&mut violations, &request.order_id);
    convert::location_id(&mut violations, &request.location_id);
    convert::lines(&mut violations, &request.lines);
    let parcels = convert::parcels(&mut violations, &request.parcels);
    convert::address(
        &mut violations,
        "destination",
        request.destination.as_ref(),
        true,
    );
    if request.origin.is_some() {
        convert::address(&mut violations, "origin", request.origin.as_ref(), true);
    }
    let service_level =
        convert::service_level(&mut violations, "service_level", request.service_level);
    let format = convert::label_format(&mut violations, "label_format", request.label_format);
    convert::required_actor(&mut violations, request.actor.as_ref());
    if !violations.is_empty() {
        return Err(ShippingError::Invalid(violations));
    }
    let request = pb::CreateShipmentRequest {
        actor: None,
        ..request.clone()
    };
    Ok(NewShipment {
        direction: OUTBOUND,
        order_id: request.order_id.clone(),
        location_id: request.location_id.clone(),
        return_id: None,
        natural_key: key_of(&request.order_id, &request.location_id),
        fingerprint: fingerprint(&request.encode_to_vec()),
        service_level,
        carrier: (!request.carrier.is_empty()).then(|| request.carrier.clone()),
        format,
        parcels,
        source: Source::Outbound(request),
    })
}

fn return_label(request: &pb::CreateReturnLabelRequest) -> Result<NewShipment, ShippingError> {
    let mut violations = FieldViolations::new();
    if request.return_id.is_empty() || request.return_id.len() > 128 {
        violations.add("return_id", "must be 1 to 128 characters");
    }
    convert::order_id(&mut violations, &request.order_id);
    convert::location_id(&mut violations, &request.location_id);
    convert::lines(&mut violations, &request.lines);
    let parcels = convert::parcels(&mut violations, &request.parcels);
    convert::address(&mut violations, "origin", request.origin.as_ref(), true);
    if request.destination.is_some() {
        convert::address(
            &mut violations,
            "destination",
            request.destination.as_ref(),
            true,
        );
    }
    let service_level =
        convert::service_level(&mut violations, "service_level", request.service_level);
    let format = convert::label_format(&mut violations, "label_format", request.label_format);
    convert::required_actor(&mut violations, request.actor.as_ref());
    if !violations.is_empty() {
        return Err(ShippingError::Invalid(violations));
    }
    let request = pb::CreateReturnLabelRequest {
        actor: None,
        ..request.clone()
    };
    Ok(NewShipment {
        direction: RETURN,
        order_id: request.order_id.clone(),
        location_id: request.location_id.clone(),
        return_id: Some(request.return_id.clone()),
        natural_key: format!("return:{}", request.return_id),
        fingerprint: fingerprint(&request.encode_to_vec()),
        service_level,
        carrier: (!request.carrier.is_empty()).then(|| request.carrier.clone()),
        format,
        parcels,
        source: Source::Return(request),
    })
}

impl ShippingApi {
    pub fn new(
        store: Store,
        inventory: InventoryServiceClient<OmsChannel>,
        carriers: Vec<Arc<dyn Carrier>>,
        carrier_timeout: Duration,
        wake: Arc<Notify>,
    ) -> ShippingApi {
        ShippingApi {
            store,
            inventory,
            carriers,
            carrier_timeout,
            wake,
        }
    }

    /// The address of a location: the one given, else the one inventory holds.
    async fn location_address(
        &self,
        location_id: &str,
        given: Option<&common::Address>,
    ) -> Result<common::Address, ShippingError> {
        if let Some(address) = given {
            return Ok(address.clone());
        }
        let response = self
            .inventory
            .clone()
            .get_location(GetLocationRequest {
                location_id: location_id.to_owned(),
            })
            .await;
        match response {
            Ok(response) => Ok(response
                .into_inner()
                .location
                .and_then(|location| location.address)
                .unwrap_or_default()),
            Err(status) if status.code() == tonic::Code::NotFound => {
                Err(ShippingError::LocationNotFound(location_id.to_owned()))
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "inventory: location lookup failed");
                Err(ShippingError::InventoryUnavailable)
            }
        }
    }

    fn carrier(&self, code: &str) -> Result<&Arc<dyn Carrier>, ShippingError> {
        self.carriers
            .iter()
            .find(|carrier| carrier.code() == code)
            .ok_or_else(|| ShippingError::CarrierNotFound(code.to_owned()))
    }

    fn carrier_error(&self, carrier: &str, err: CarrierError, new: &NewShipment) -> ShippingError {
        match err {
            CarrierError::ServerError | CarrierError::Timeout => {
                tracing::warn!(carrier, error = %err, "carrier call failed");
                ShippingError::ProviderUnavailable {
                    provider: carrier.to_owned(),
                }
            }
            CarrierError::AddressRejected { detail } => ShippingError::AddressRejected {
                carrier: carrier.to_owned(),
                detail,
            },
            CarrierError::ServiceLevelUnavailable => ShippingError::ServiceLevelUnavailable {
                service_level: new.service_level,
                location_id: new.location_id.clone(),
            },
        }
    }

    async fn rates(
        &self,
        carrier: &dyn Carrier,
        route: &Route,
        parcels: &[Parcel],
        ship_time: chrono::DateTime<Utc>,
    ) -> Result<Vec<CarrierRate>, CarrierError> {
        tokio::time::timeout(
            self.carrier_timeout,
            carrier.rates(route, parcels, ship_time),
        )
        .await
        .unwrap_or(Err(CarrierError::Timeout))
    }

    /// The carrier to buy from: the one named, or the cheapest offering the level.
    async fn choose_carrier(
        &self,
        new: &NewShipment,
        route: &Route,
    ) -> Result<Arc<dyn Carrier>, ShippingError> {
        if let Some(code) = &new.carrier {
            return Ok(self.carrier(code)?.clone());
        }
        let mut best: Option<(i64, &Arc<dyn Carrier>)> = None;
        let mut last_error = None;
        for carrier in &self.carriers {
            match self
                .rates(carrier.as_ref(), route, &new.parcels, Utc::now())
                .await
            {
                Ok(rates) => {
                    for rate in rates
                        .iter()
                        .filter(|r| r.service_level == new.service_level)
                    {
                        if best.is_none_or(|(price, _)| rate.price_minor < price) {
                            best = Some((rate.price_minor, carrier));
                        }
                    }
                }
                Err(err) => last_error = Some((carrier.code().to_owned(), err)),
            }
        }
        match (best, last_error) {
            (Some((_, carrier)), _) => Ok(carrier.clone()),
            (None, Some((code, err @ (CarrierError::ServerError | CarrierError::Timeout))))
                if self.carriers.len() == 1 =>
            {
                Err(self.carrier_error(&code, err, new))
            }
            (None, Some((code, err @ CarrierError::AddressRejected { .. }))) => {
                Err(self.carrier_error(&code, err, new))
            }
            (None, _) => Err(ShippingError::ServiceLevelUnavailable {
                service_level: new.service_level,
                location_id: new.location_id.clone(),
            }),
        }
    }

    /// The shipment of `new`'s key if one exists: the same request returns it,
    /// another is a conflict.
    fn existing(&self, new: &NewShipment, row: &ShipmentRow) -> Result<(), ShippingError> {
        if row.fingerprint == new.fingerprint {
            return Ok(());
        }
        Err(ShippingError::KeyConflict(match &new.return_id {
            Some(return_id) => vec![("return_id", return_id.clone())],
            None => vec![
                ("order_id", new.order_id.clone()),
                ("location_id", new.location_id.clone()),
            ],
        }))
    }

    /// Creates one shipment, or returns the one its key already has.
    async fn create(&self, new: NewShipment) -> Result<ShipmentRecord, ShippingError> {
        if let Some(record) = self.store.find_by_key(&new.natural_key).await? {
            self.existing(&new, &record.shipment)?;
            return Ok(record);
        }
        let cancelled = ShippingError::IllegalTransition {
            from: ShipmentStatus::Cancelled,
            action: "create",
        };
        if self.store.is_cancelled_key(&new.natural_key).await? {
            return Err(cancelled);
        }

        let location = self
            .location_address(&new.location_id, new.location_address())
            .await?;
        let (encoded, route) = new.complete(location)?;
        let carrier = self.choose_carrier(&new, &route).await?;
        let label_request = LabelRequest {
            carrier_key: new.natural_key.clone(),
            service_level: new.service_level,
            route,
            parcels: new.parcels.clone(),
            ship_time: Utc::now(),
        };
        let bought = tokio::time::timeout(self.carrier_timeout, carrier.buy_label(&label_request))
            .await
            .unwrap_or(Err(CarrierError::Timeout))
            .map_err(|err| self.carrier_error(carrier.code(), err, &new))?;

        let details = convert::details(new.direction, &encoded)?;
        let reference = new
            .return_id
            .clone()
            .unwrap_or_else(|| new.order_id.clone());
        let content = convert::label_content(
            &details,
            carrier.code(),
            &bought.rate.carrier_service,
            &bought.tracking_number,
            &reference,
        );
        let label = match new.format {
            LabelFormat::Pdf => documents::pdf(&[documents::label_page(&content)]),
            LabelFormat::Zpl => documents::label_zpl(&content).into_bytes(),
        };
        let packing_slip = (new.direction == OUTBOUND).then(|| {
            let lines: Vec<_> = details
                .lines
                .iter()
                .map(|line| (line.sku.clone(), line.quantity, line.description.clone()))
                .collect();
            documents::pdf(&[documents::packing_slip_page(
                &new.order_id,
                &bought.tracking_number,
                &content.to,
                &lines,
            )])
        });
        let now = Utc::now();
        let row = ShipmentRow {
            shipment_id: Uuid::now_v7(),
            direction: new.direction,
            order_id: new.order_id.clone(),
            location_id: new.location_id.clone(),
            return_id: new.return_id.clone(),
            natural_key: new.natural_key.clone(),
            fingerprint: new.fingerprint.clone(),
            details: encoded,
            status: ShipmentStatus::LabelCreated.code(),
            status_time: None,
            carrier: carrier.code().to_owned(),
            service_level: i16::try_from(new.service_level.code()).unwrap_or(1),
            carrier_service: bought.rate.carrier_service.clone(),
            tracking_number: bought.tracking_number.clone(),
            tracking_url: bought.tracking_url.clone(),
            price_minor: bought.rate.price_minor,
            currency_code: bought.rate.currency.clone(),
            promised_delivery_time: bought.rate.promised_delivery_time,
            label_format: new.format.code(),
            label,
            packing_slip,
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
            if let Err(err) = carrier.void_label(&bought.tracking_number).await {
                tracing::warn!(error = %err, "carrier: voiding an unused label failed");
            }
            return Err(cancelled);
        }
        if let Some(existing) = store::lock_by_key(&mut tx, &new.natural_key).await? {
            // A concurrent create of the same key won; its label is the same one.
            self.existing(&new, &existing)?;
            let id = existing.shipment_id;
            tx.commit().await?;
            return self.get_record(id).await;
        }
        store::insert(&mut tx, &row).await?;
        tx.commit().await?;
        tracing::info!(shipment_id = %row.shipment_id, order_id = %row.order_id, location_id = %row.location_id, carrier = %row.carrier, "shipment created");
        self.get_record(row.shipment_id).await
    }

    async fn get_record(&self, shipment_id: Uuid) -> Result<ShipmentRecord, ShippingError> {
        self.store
            .get(shipment_id)
            .await?
            .ok_or_else(|| ShippingError::NotFound(shipment_id.to_string()))
    }

    /// The status change the order service hears of, if any.
    fn report(
        row: &ShipmentRow,
        event_id: String,
        news: OrderNews,
        event_time: chrono::DateTime<Utc>,
    ) -> Result<order::MarkStatusRequest, ShippingError> {
        let (status, cancelled) = match news {
            OrderNews::Shipped => (order::OrderStatus::Shipped, false),
            OrderNews::Delivered => (order::OrderStatus::Delivered, false),
            OrderNews::ShipmentOnly => (order::OrderStatus::Unspecified, false),
            OrderNews::ShipmentCancelled => (order::OrderStatus::Unspecified, true),
        };
        let details = convert::details(row.direction, &row.details)?;
        let time = Some(oms_platform::convert::timestamp(event_time));
        Ok(order::MarkStatusRequest {
            order_id: row.order_id.clone(),
            event_id,
            status: status as i32,
            shipments: vec![order::ShipmentRef {
                shipment_id: row.shipment_id.to_string(),
                location_id: row.location_id.clone(),
                carrier: row.carrier.clone(),
                tracking_number: row.tracking_number.clone(),
                lines: details
                    .lines
                    .iter()
                    .map(|line| order::LineQuantity {
                        line_id: String::new(),
                        sku: line.sku.clone(),
                        quantity: line.quantity,
                    })
                    .collect(),
                cancel_time: if cancelled { time } else { None },
                ..Default::default()
            }],
            actor: Some(common::Actor {
                kind: i32::from(ActorKind::Carrier.code()),
                id: row.carrier.clone(),
            }),
            event_time: time,
            ..Default::default()
        })
    }
}

fn shipment_id(field: &str, value: &str) -> Result<Uuid, ShippingError> {
    if value.is_empty() {
        return Err(ShippingError::invalid(field, "required"));
    }
    // An id this service never minted cannot exist.
    Uuid::parse_str(value).map_err(|_| ShippingError::NotFound(value.to_owned()))
}

/// What a batch item's error looks like in a CreateShipments outcome.
fn item_error(err: ShippingError) -> pb::ShipmentError {
    let reason = err.reason();
    let field_paths = match &err {
        ShippingError::Invalid(violations) => violations
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect(),
        _ => Vec::new(),
    };
    let status = Status::from(err);
    let (reason, metadata) = reason.unwrap_or((common::ErrorReason::Unspecified, Vec::new()));
    pb::ShipmentError {
        code: status.code() as i32,
        reason: reason as i32,
        metadata: metadata
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
        field_paths,
        message: status.message().to_owned(),
    }
}

fn shipment(record: &ShipmentRecord, with_content: bool) -> Result<pb::Shipment, Status> {
    Ok(convert::shipment(record, with_content)?)
}

#[tonic::async_trait]
impl ShippingService for ShippingApi {
    async fn quote_rates(
        &self,
        request: Request<pb::QuoteRatesRequest>,
    ) -> Result<Response<pb::QuoteRatesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        convert::location_id(&mut violations, &request.location_id);
        let destination = convert::address(
            &mut violations,
            "destination",
            request.destination.as_ref(),
            false,
        );
        if request.origin.is_some() {
            convert::address(&mut violations, "origin", request.origin.as_ref(), false);
        }
        let parcels = convert::parcels(&mut violations, &request.parcels);
        let mut levels = Vec::new();
        for (i, code) in request.service_levels.iter().enumerate() {
            match ServiceLevel::from_code(*code) {
                Some(level) => levels.push(level),
                None => violations.add(
                    format!("service_levels[{i}]"),
                    "must be a service level of the enum",
                ),
            }
        }
        let ship_time = match request.ship_time.as_ref() {
            Some(time) => convert::time(&mut violations, "ship_time", Some(time)),
            None => Some(Utc::now()),
        };
        let (Some(destination_country), Some(ship_time), true) =
            (destination, ship_time, violations.is_empty())
        else {
            return Err(violations.into_status());
        };
        let origin = self
            .location_address(&request.location_id, request.origin.as_ref())
            .await?;
        let origin_country = convert::address(&mut violations, "origin", Some(&origin), false);
        let Some(origin_country) = origin_country else {
            return Err(violations.into_status());
        };
        let route = convert::route(
            &origin,
            origin_country,
            request
                .destination
                .as_ref()
                .unwrap_or(&common::Address::default()),
            destination_country,
        );

        let mut rates = Vec::new();
        let mut unavailable = Vec::new();
        let mut rejected = None;
        for carrier in &self.carriers {
            match self
                .rates(carrier.as_ref(), &route, &parcels, ship_time)
                .await
            {
                Ok(offered) => rates.extend(
                    offered
                        .into_iter()
                        .map(|rate| (carrier.code().to_owned(), rate)),
                ),
                Err(CarrierError::AddressRejected { detail }) => {
                    rejected = Some((carrier.code().to_owned(), detail));
                }
                Err(_) => unavailable.push(carrier.code().to_owned()),
            }
        }
        if rates.is_empty() {
            if unavailable.len() == self.carriers.len() {
                return Err(ShippingError::ProviderUnavailable {
                    provider: unavailable.join(","),
                }
                .into());
            }
            if let (Some((carrier, detail)), true) = (rejected, unavailable.is_empty()) {
                return Err(ShippingError::AddressRejected { carrier, detail }.into());
            }
        }
        rates.retain(|(_, rate)| levels.is_empty() || levels.contains(&rate.service_level));
        rates.sort_by_key(|(_, rate)| rate.price_minor);
        Ok(Response::new(pb::QuoteRatesResponse {
            rates: rates
                .into_iter()
                .map(|(carrier, rate)| pb::Rate {
                    carrier,
                    service_level: rate.service_level.code(),
                    carrier_service: rate.carrier_service,
                    price: Some(common::Money {
                        currency_code: rate.currency,
                        amount_minor: rate.price_minor,
                    }),
                    promised_delivery_time: Some(oms_platform::convert::timestamp(
                        rate.promised_delivery_time,
                    )),
                })
                .collect(),
            unavailable_carriers: unavailable,
        }))
    }

    async fn create_shipment(
        &self,
        request: Request<pb::CreateShipmentRequest>,
    ) -> Result<Response<pb::CreateShipmentResponse>, Status> {
        let new = outbound(request.get_ref())?;
        let record = self.create(new).await?;
        Ok(Response::new(pb::CreateShipmentResponse {
            shipment: Some(shipment(&record, true)?),
        }))
    }

    async fn create_shipments(
        &self,
        request: Request<pb::CreateShipmentsRequest>,
    ) -> Result<Response<pb::CreateShipmentsResponse>, Status> {
        let requests = request.into_inner().requests;
        let mut violations = FieldViolations::new();
        if requests.is_empty() {
            violations.add("requests", "at least one request is required");
        }
        if requests.len() > MAX_BATCH {
            violations.add("requests", "at most 500 requests");
        }
        let mut keys = HashSet::new();
        for (i, item) in requests.iter().enumerate() {
            if !keys.insert((item.order_id.as_str(), item.location_id.as_str())) {
                violations.add(
                    format!("requests[{i}]"),
                    "duplicate (order_id, location_id)",
                );
            }
            if item.label_format.max(1) != requests[0].label_format.max(1) {
                violations.add(
                    format!("requests[{i}].label_format"),
                    "differs from requests[0]",
                );
            }
        }
        violations.into_result()?;
        let format = if requests[0].label_format == pb::DocumentFormat::Zpl as i32 {
            LabelFormat::Zpl
        } else {
            LabelFormat::Pdf
        };

        let mut outcomes = Vec::with_capacity(requests.len());
        let mut pages = Vec::new();
        let mut zpl = Vec::new();
        // One at a time: the carrier and the database see a steady load, and a
        // bulk run of hundreds stays within the pool.
        for item in &requests {
            let result = match outbound(item) {
                Ok(new) => self.create(new).await,
                Err(err) => Err(err),
            };
            let result = match result {
                Ok(record) => {
                    if format == LabelFormat::Zpl {
                        zpl.extend_from_slice(&record.shipment.label);
                    } else {
                        let row = &record.shipment;
                        let details = convert::details(row.direction, &row.details)?;
                        pages.push(documents::label_page(&convert::label_content(
                            &details,
                            &row.carrier,
                            &row.carrier_service,
                            &row.tracking_number,
                            &row.order_id,
                        )));
                    }
                    pb::create_shipment_outcome::Result::Shipment(shipment(&record, false)?)
                }
                Err(ShippingError::Database(err)) => {
                    return Err(ShippingError::Database(err).into());
                }
                Err(err) => pb::create_shipment_outcome::Result::Error(item_error(err)),
            };
            outcomes.push(pb::CreateShipmentOutcome {
                order_id: item.order_id.clone(),
                location_id: item.location_id.clone(),
                result: Some(result),
            });
        }
        let combined_labels = match format {
            LabelFormat::Pdf if !pages.is_empty() => Some(pb::Document {
                format: pb::DocumentFormat::Pdf as i32,
                content: documents::pdf(&pages),
                file_name: "labels.pdf".to_owned(),
            }),
            LabelFormat::Zpl if !zpl.is_empty() => Some(pb::Document {
                format: pb::DocumentFormat::Zpl as i32,
                content: zpl,
                file_name: "labels.zpl".to_owned(),
            }),
            _ => None,
        };
        Ok(Response::new(pb::CreateShipmentsResponse {
            outcomes,
            combined_labels,
        }))
    }

    async fn cancel_shipment(
        &self,
        request: Request<pb::CancelShipmentRequest>,
    ) -> Result<Response<pb::CancelShipmentResponse>, Status> {
        use pb::cancel_shipment_request::Target;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        convert::required_actor(&mut violations, request.actor.as_ref());
        if request.reason.chars().count() > 500 {
            violations.add("reason", "at most 500 characters");
        }
        match &request.target {
            None => violations.add("target", "a shipment_id, key or return_id is required"),
            Some(Target::Key(key)) => {
                convert::order_id(&mut violations, &key.order_id);
                convert::location_id(&mut violations, &key.location_id);
            }
            Some(Target::ReturnId(id)) if id.is_empty() => violations.add("return_id", "required"),
            Some(Target::ShipmentId(id)) if id.is_empty() => {
                violations.add("shipment_id", "required")
            }
            Some(_) => {}
        }
        violations.into_result()?;

        let mut tx = self.store.begin().await.map_err(Status::from)?;
        let row = match request.target {
            Some(Target::ShipmentId(id)) => {
                let id = shipment_id("shipment_id", &id)?;
                store::lock(&mut tx, id)
                    .await?
                    .ok_or_else(|| ShippingError::NotFound(id.to_string()))?
            }
            Some(Target::Key(key)) => {
                let natural_key = key_of(&key.order_id, &key.location_id);
                store::lock_key(&mut tx, &natural_key).await?;
                match store::lock_by_key(&mut tx, &natural_key).await? {
                    Some(row) => row,
                    None => {
                        store::cancel_key(&mut tx, &natural_key, &request.reason).await?;
                        tx.commit().await.map_err(ShippingError::from)?;
                        return Ok(Response::new(pb::CancelShipmentResponse { shipment: None }));
                    }
                }
            }
            Some(Target::ReturnId(return_id)) => {
                let natural_key = format!("return:{return_id}");
                store::lock_key(&mut tx, &natural_key).await?;
                match store::lock_by_key(&mut tx, &natural_key).await? {
                    Some(row) => row,
                    None => {
                        store::cancel_key(&mut tx, &natural_key, &request.reason).await?;
                        tx.commit().await.map_err(ShippingError::from)?;
                        return Ok(Response::new(pb::CancelShipmentResponse { shipment: None }));
                    }
                }
            }
            None => return Err(ShippingError::invalid("target", "required").into()),
        };
        let status = ShipmentStatus::from_code(row.status)
            .ok_or_else(|| ShippingError::Corrupt("shipment status".to_owned()))?;
        let cancel = status.cancel().map_err(|refusal| match refusal {
            CancelRefusal::InCarrierCustody => ShippingError::InCarrierCustody { status },
            CancelRefusal::Ended => ShippingError::IllegalTransition {
                from: status,
                action: "cancel",
            },
        })?;
        if cancel {
            let carrier = self.carrier(&row.carrier)?;
            tokio::time::timeout(
                self.carrier_timeout,
                carrier.void_label(&row.tracking_number),
            )
            .await
            .unwrap_or(Err(CarrierError::Timeout))
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
            let direction = Direction::from_code(row.direction)
                .ok_or_else(|| ShippingError::Corrupt("shipment direction".to_owned()))?;
            if let Some(Report::Order(news)) = report(Fact::Cancelled, direction) {
                let event_id = format!("shipment:{}:cancelled", row.shipment_id);
                let report = Self::report(&row, event_id.clone(), news, Utc::now())?;
                oms_platform::outbox::enqueue(
                    &mut tx,
                    crate::outbox::MARK_STATUS,
                    &event_id,
                    &report.encode_to_vec(),
                    &current_traceparent(),
                )
                .await
                .map_err(ShippingError::from)?;
            }
        }
        tx.commit().await.map_err(ShippingError::from)?;
        if cancel {
            tracing::info!(shipment_id = %row.shipment_id, order_id = %row.order_id, "shipment cancelled");
            self.wake.notify_one();
        }
        let record = self.get_record(row.shipment_id).await?;
        Ok(Response::new(pb::CancelShipmentResponse {
            shipment: Some(shipment(&record, true)?),
        }))
    }

    async fn create_return_label(
        &self,
        request: Request<pb::CreateReturnLabelRequest>,
    ) -> Result<Response<pb::CreateReturnLabelResponse>, Status> {
        let new = return_label(request.get_ref())?;
        let record = self.create(new).await?;
        Ok(Response::new(pb::CreateReturnLabelResponse {
            shipment: Some(shipment(&record, true)?),
        }))
    }

    async fn record_tracking_event(
        &self,
        request: Request<pb::RecordTrackingEventRequest>,
    ) -> Result<Response<pb::RecordTrackingEventResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        for (field, value) in [
            ("carrier", &request.carrier),
            ("carrier_event_id", &request.carrier_event_id),
            ("tracking_number", &request.tracking_number),
        ] {
            if value.is_empty() || value.len() > 128 {
                violations.add(field, "must be 1 to 128 characters");
            }
        }
        let event_type = i16::try_from(request.event_type)
            .ok()
            .and_then(TrackingEventType::from_code);
        if event_type.is_none() {
            violations.add("event_type", "must be an event type of the enum");
        }
        // Postgres keeps microseconds: a repeat must compare equal to what was stored.
        let event_time = convert::time(&mut violations, "event_time", request.event_time.as_ref())
            .map(|time| time.trunc_subsecs(6));
        if event_time.is_some_and(|time| time > Utc::now() + MAX_EVENT_SKEW) {
            violations.add("event_time", "more than 24 hours in the future");
        }
        if request.location.chars().count() > 200 {
            violations.add("location", "at most 200 characters");
        }
        if request.description.chars().count() > 500 {
            violations.add("description", "at most 500 characters");
        }
        let (Some(event_type), Some(event_time), true) =
            (event_type, event_time, violations.is_empty())
        else {
            return Err(violations.into_status());
        };

        let mut tx = self.store.begin().await.map_err(Status::from)?;
        // The shipment's lock serialises its events, so a repeat delivered twice
        // at once is stored once.
        let row =
            store::lock_by_tracking_number(&mut tx, &request.carrier, &request.tracking_number)
                .await?
                .ok_or_else(|| ShippingError::NotFound(request.tracking_number.clone()))?;
        if let Some((stored_shipment, stored)) =
            store::find_event(&mut tx, &request.carrier, &request.carrier_event_id).await?
        {
            let same = stored_shipment == row.shipment_id
                && stored.event_type == event_type.code()
                && stored.event_time == event_time
                && stored.location == request.location
                && stored.description == request.description;
            if !same {
                return Err(ShippingError::KeyConflict(vec![
                    ("carrier", request.carrier.clone()),
                    ("carrier_event_id", request.carrier_event_id.clone()),
                ])
                .into());
            }
            drop(tx);
            let record = self.get_record(row.shipment_id).await?;
            return Ok(Response::new(pb::RecordTrackingEventResponse {
                shipment: Some(shipment(&record, true)?),
                applied: false,
            }));
        }

        let current = ShipmentStatus::from_code(row.status)
            .ok_or_else(|| ShippingError::Corrupt("shipment status".to_owned()))?;
        let applied = event_applies(current, row.status_time, event_type, event_time);
        let to = event_type.status();
        let sets_pickup = current != ShipmentStatus::Cancelled
            && to.in_carrier_custody()
            && to != ShipmentStatus::ReturnedToSender;
        store::record_event(
            &mut tx,
            row.shipment_id,
            &NewEvent {
                carrier: request.carrier.clone(),
                carrier_event_id: request.carrier_event_id.clone(),
                event_type: event_type.code(),
                event_time,
                location: request.location.clone(),
                description: request.description.clone(),
                applied,
            },
            applied.then_some(to.code()),
            sets_pickup,
            applied && to == ShipmentStatus::Delivered,
        )
        .await?;

        let direction = Direction::from_code(row.direction)
            .ok_or_else(|| ShippingError::Corrupt("shipment direction".to_owned()))?;
        let fact = Fact::Tracked {
            applied,
            from: current,
            to,
        };
        let reported = match (report(fact, direction), &row.return_id) {
            (Some(Report::Order(news)), _) => {
                let event_id = format!("shipment:{}:{}", row.shipment_id, request.carrier_event_id);
                let report = Self::report(&row, event_id.clone(), news, event_time)?;
                oms_platform::outbox::enqueue(
                    &mut tx,
                    crate::outbox::MARK_STATUS,
                    &event_id,
                    &report.encode_to_vec(),
                    &current_traceparent(),
                )
                .await
                .map_err(ShippingError::from)?;
                true
            }
            (Some(Report::ReturnInTransit), Some(return_id)) => {
                let report = returns::MarkReturnInTransitRequest {
                    return_id: return_id.clone(),
                    shipment_id: row.shipment_id.to_string(),
                    event_time: Some(oms_platform::convert::timestamp(event_time)),
                    actor: Some(common::Actor {
                        kind: i32::from(ActorKind::Carrier.code()),
                        id: row.carrier.clone(),
                    }),
                };
                oms_platform::outbox::enqueue(
                    &mut tx,
                    crate::outbox::MARK_RETURN_IN_TRANSIT,
                    &format!("shipment:{}", row.shipment_id),
                    &report.encode_to_vec(),
                    &current_traceparent(),
                )
                .await
                .map_err(ShippingError::from)?;
                true
            }
            _ => false,
        };
        tx.commit().await.map_err(ShippingError::from)?;
        if reported {
            self.wake.notify_one();
        }
        tracing::info!(shipment_id = %row.shipment_id, carrier_event_id = %request.carrier_event_id, applied, "tracking event recorded");
        let record = self.get_record(row.shipment_id).await?;
        Ok(Response::new(pb::RecordTrackingEventResponse {
            shipment: Some(shipment(&record, true)?),
            applied,
        }))
    }

    async fn get_shipment(
        &self,
        request: Request<pb::GetShipmentRequest>,
    ) -> Result<Response<pb::GetShipmentResponse>, Status> {
        let id = shipment_id("shipment_id", &request.get_ref().shipment_id)?;
        let record = self.get_record(id).await?;
        Ok(Response::new(pb::GetShipmentResponse {
            shipment: Some(shipment(&record, true)?),
        }))
    }

    async fn list_shipments(
        &self,
        request: Request<pb::ListShipmentsRequest>,
    ) -> Result<Response<pb::ListShipmentsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        let mut filter = store::ListFilter {
            order_id: non_empty(&request.order_id),
            return_id: non_empty(&request.return_id),
            location_id: non_empty(&request.location_id),
            ..Default::default()
        };
        for (i, code) in request.statuses.iter().enumerate() {
            match i16::try_from(*code)
                .ok()
                .and_then(ShipmentStatus::from_code)
            {
                Some(status) => filter.statuses.push(status.code()),
                None => violations.add(format!("statuses[{i}]"), "must be a status of the enum"),
            }
        }
        filter.direction = match request.direction {
            0 => None,
            1 | 2 => i16::try_from(request.direction).ok(),
            _ => {
                violations.add("direction", "must be a direction of the enum");
                None
            }
        };
        let filters = pb::ListShipmentsRequest {
            page: None,
            ..request.clone()
        };
        let pages = Pages::<Uuid>::parse(request.page.as_ref(), &filters, &mut violations);
        violations.into_result()?;

        let mut records = self.store.list(&filter, pages.after, pages.fetch()).await?;
        let page = pages.finish(&mut records, |record| record.shipment.shipment_id);
        let shipments = records
            .iter()
            .map(|record| shipment(record, false))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(pb::ListShipmentsResponse {
            shipments,
            page: Some(page),
        }))
    }
}
