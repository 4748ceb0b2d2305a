//! Proto <-> domain: request validation collecting every bad field, and stored
//! rows back into contract messages.

use std::collections::HashSet;

use oms_platform::{
    convert::{actor, timestamp},
    error::FieldViolations,
    ids::{CountryCode, LocationId, MintedId, Quantity, Sku},
};
use oms_proto::{common::v1 as common, shipping::v1 as pb};
use prost::Message as _;

use crate::{
    carrier::{CarrierRate, Route},
    domain::{
        parcel::{MAX_PARCELS, Parcel, ServiceLevel},
        report::Direction,
    },
    error::ShippingError,
    store::{EventRow, ShipmentRecord},
};

oms_platform::code_enum! {
    /// The formats of a label (`oms.shipping.v1.DocumentFormat`).
    pub enum LabelFormat {
        /// PDF, for office and label printers.
        Pdf = 1 => "DOCUMENT_FORMAT_PDF",
        /// ZPL, for thermal label printers.
        Zpl = 2 => "DOCUMENT_FORMAT_ZPL",
    }
}

impl LabelFormat {
    fn extension(self) -> &'static str {
        match self {
            LabelFormat::Pdf => "pdf",
            LabelFormat::Zpl => "zpl",
        }
    }
}

/// The label format of a request: UNSPECIFIED means PDF.
pub fn label_format(violations: &mut FieldViolations, field: &str, code: i32) -> LabelFormat {
    if code == 0 {
        return LabelFormat::Pdf;
    }
    LabelFormat::from_code(code).unwrap_or_else(|| {
        violations.add(field, "must be DOCUMENT_FORMAT_PDF or DOCUMENT_FORMAT_ZPL");
        LabelFormat::Pdf
    })
}

/// A service level of a request: UNSPECIFIED means STANDARD.
pub fn service_level(violations: &mut FieldViolations, field: &str, code: i32) -> ServiceLevel {
    if code == 0 {
        return ServiceLevel::Standard;
    }
    ServiceLevel::from_code(code).unwrap_or_else(|| {
        violations.add(field, "must be a service level of the enum");
        ServiceLevel::Standard
    })
}

/// 1 to 50 parcels, each measure at least 1.
pub fn parcels(violations: &mut FieldViolations, parcels: &[pb::Parcel]) -> Vec<Parcel> {
    if parcels.is_empty() {
        violations.add("parcels", "at least one parcel is required");
    }
    if parcels.len() > MAX_PARCELS {
        violations.add("parcels", "at most 50 parcels");
    }
    let mut checked = Vec::with_capacity(parcels.len());
    for (i, parcel) in parcels.iter().enumerate() {
        let mut measure = |name: &str, value: i32| {
            violations
                .check(format!("parcels[{i}].{name}"), Parcel::measure(value))
                .unwrap_or(1)
        };
        checked.push(Parcel {
            weight_grams: measure("weight_grams", parcel.weight_grams),
            length_mm: measure("length_mm", parcel.length_mm),
            width_mm: measure("width_mm", parcel.width_mm),
            height_mm: measure("height_mm", parcel.height_mm),
        });
    }
    checked
}

/// An address: for a quote the country is enough; a label needs the recipient
/// or company, a street line, the city and the country.
pub fn address(
    violations: &mut FieldViolations,
    field: &str,
    address: Option<&common::Address>,
    for_label: bool,
) -> Option<CountryCode> {
    let Some(address) = address else {
        violations.add(field, "required");
        return None;
    };
    let country = violations.check(
        format!("{field}.country_code"),
        CountryCode::parse(&address.country_code),
    );
    if for_label {
        if address.recipient_name.trim().is_empty() && address.company.trim().is_empty() {
            violations.add(
                format!("{field}.recipient_name"),
                "a recipient name or company is required",
            );
        }
        if address.lines.iter().all(|line| line.trim().is_empty()) {
            violations.add(
                format!("{field}.lines"),
                "at least one address line is required",
            );
        }
        if address.city.trim().is_empty() {
            violations.add(format!("{field}.city"), "required");
        }
    }
    country
}

/// The route between two checked addresses.
pub fn route(
    origin: &common::Address,
    origin_country: CountryCode,
    destination: &common::Address,
    destination_country: CountryCode,
) -> Route {
    Route {
        origin_country,
        origin_postal_code: origin.postal_code.trim().to_owned(),
        destination_country,
        destination_postal_code: destination.postal_code.trim().to_owned(),
    }
}

/// At least one line, each SKU once, quantity at least 1.
pub fn lines(violations: &mut FieldViolations, lines: &[pb::ShipmentLine]) {
    if lines.is_empty() {
        violations.add("lines", "at least one line is required");
    }
    let mut seen = HashSet::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(sku) = violations.check(format!("lines[{i}].sku"), Sku::parse(&line.sku))
            && !seen.insert(sku)
        {
            violations.add(format!("lines[{i}].sku"), "duplicate sku");
        }
        violations.check(format!("lines[{i}].quantity"), Quantity::new(line.quantity));
        max_chars(
            violations,
            &format!("lines[{i}].description"),
            &line.description,
            200,
        );
    }
}

/// A carrier's text (a code, a tracking number, an event id): `min` to `max`
/// bytes, as the services it is handed on to count them.
pub fn bounded(violations: &mut FieldViolations, field: &str, value: &str, min: usize, max: usize) {
    if !(min..=max).contains(&value.len()) {
        let description = if min == 0 {
            format!("at most {max} bytes")
        } else {
            format!("must be {min} to {max} bytes")
        };
        violations.add(field, description);
    }
}

/// Free text of at most `max` characters.
pub fn max_chars(violations: &mut FieldViolations, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        violations.add(field, format!("at most {max} characters"));
    }
}

/// An order, shipment or return id the request names as `field`: an id the
/// OMS minted (common.proto's rule), else a violation of `field`.
pub fn minted_id(violations: &mut FieldViolations, field: &str, value: &str) -> Option<MintedId> {
    violations.check(field, MintedId::parse(value))
}

/// An optional id filter: unset when empty, else as [`minted_id`].
pub fn minted_filter(
    violations: &mut FieldViolations,
    field: &str,
    value: &str,
) -> Option<MintedId> {
    if value.is_empty() {
        return None;
    }
    minted_id(violations, field, value)
}

/// A location id the request names as `field`.
pub fn location_id(
    violations: &mut FieldViolations,
    field: &str,
    value: &str,
) -> Option<LocationId> {
    violations.check(field, LocationId::parse(value))
}

pub fn required_actor(violations: &mut FieldViolations, value: Option<&common::Actor>) {
    actor(violations, value);
}

/// Printable lines of an address, for documents.
pub fn address_lines(address: Option<&common::Address>) -> Vec<String> {
    let Some(address) = address else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    for line in [&address.recipient_name, &address.company]
        .into_iter()
        .chain(address.lines.iter())
    {
        if !line.trim().is_empty() {
            lines.push(line.trim().to_owned());
        }
    }
    lines.push(format!(
        "{} {}",
        address.postal_code.trim(),
        address.city.trim()
    ));
    if !address.region.trim().is_empty() {
        lines.push(address.region.trim().to_owned());
    }
    lines.push(address.country_code.clone());
    lines
}

/// What a stored shipment was created from.
pub struct Details {
    pub lines: Vec<pb::ShipmentLine>,
    pub parcels: Vec<pb::Parcel>,
    pub origin: Option<common::Address>,
    pub destination: Option<common::Address>,
}

/// What a stored shipment was created from, decoded from its request.
pub fn details(direction: Direction, bytes: &[u8]) -> Result<Details, ShippingError> {
    let corrupt = |_| ShippingError::Corrupt("shipment details".to_owned());
    match direction {
        Direction::Return => {
            let request = pb::CreateReturnLabelRequest::decode(bytes).map_err(corrupt)?;
            Ok(Details {
                lines: request.lines,
                parcels: request.parcels,
                origin: request.origin,
                destination: request.destination,
            })
        }
        Direction::Outbound => {
            let request = pb::CreateShipmentRequest::decode(bytes).map_err(corrupt)?;
            Ok(Details {
                lines: request.lines,
                parcels: request.parcels,
                origin: request.origin,
                destination: request.destination,
            })
        }
    }
}

/// A carrier's rate as the contract has it.
pub fn rate(carrier: String, rate: CarrierRate) -> pb::Rate {
    pb::Rate {
        carrier,
        service_level: i32::from(rate.service_level.code()),
        carrier_service: rate.carrier_service,
        price: Some(common::Money {
            currency_code: rate.currency,
            amount_minor: rate.price_minor,
        }),
        promised_delivery_time: Some(timestamp(rate.promised_delivery_time)),
    }
}

fn event(row: &EventRow) -> pb::TrackingEvent {
    pb::TrackingEvent {
        carrier_event_id: row.carrier_event_id.clone(),
        event_type: i32::from(row.event_type),
        event_time: Some(timestamp(row.event_time)),
        receive_time: Some(timestamp(row.receive_time)),
        location: row.location.clone(),
        description: row.description.clone(),
        applied: row.applied,
    }
}

/// A stored shipment as the contract's message; documents without their
/// content unless `with_content`.
pub fn shipment(
    record: &ShipmentRecord,
    with_content: bool,
) -> Result<pb::Shipment, ShippingError> {
    let row = &record.shipment;
    let details = details(row.shipment_direction()?, &row.details)?;
    let format = LabelFormat::from_code(row.label_format).unwrap_or(LabelFormat::Pdf);
    let content = |bytes: &[u8]| {
        if with_content {
            bytes.to_vec()
        } else {
            Vec::new()
        }
    };
    Ok(pb::Shipment {
        shipment_id: row.shipment_id.to_string(),
        direction: i32::from(row.direction),
        order_id: row.order_id.clone(),
        location_id: row.location_id.clone(),
        return_id: row.return_id.clone().unwrap_or_default(),
        status: i32::from(row.status),
        carrier: row.carrier.clone(),
        service_level: i32::from(row.service_level),
        tracking_number: row.tracking_number.clone(),
        tracking_url: row.tracking_url.clone(),
        lines: details.lines,
        parcels: details.parcels,
        origin: details.origin,
        destination: details.destination,
        label: Some(pb::Document {
            format: i32::from(format.code()),
            content: content(&row.label),
            file_name: format!("label-{}.{}", row.tracking_number, format.extension()),
        }),
        packing_slip: row.packing_slip.as_ref().map(|slip| pb::Document {
            format: pb::DocumentFormat::Pdf as i32,
            content: content(slip),
            file_name: format!("packing-slip-{}.pdf", row.tracking_number),
        }),
        price: Some(common::Money {
            currency_code: row.currency_code.clone(),
            amount_minor: row.price_minor,
        }),
        promised_delivery_time: Some(timestamp(row.promised_delivery_time)),
        events: record.events.iter().map(event).collect(),
        create_time: Some(timestamp(row.create_time)),
        pickup_time: row.pickup_time.map(timestamp),
        delivery_time: row.delivery_time.map(timestamp),
        cancel_time: row.cancel_time.map(timestamp),
        update_time: Some(timestamp(row.update_time)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parcel(weight_grams: i32) -> pb::Parcel {
        pb::Parcel {
            weight_grams,
            length_mm: 10,
            width_mm: 10,
            height_mm: 10,
        }
    }

    fn fields(violations: &FieldViolations) -> Vec<String> {
        violations
            .violations()
            .iter()
            .map(|v| v.field.clone())
            .collect()
    }

    #[test]
    fn empty_parcels_and_zero_weights_are_named_by_field() {
        let mut violations = FieldViolations::new();
        parcels(&mut violations, &[]);
        parcels(&mut violations, &[parcel(1), parcel(0)]);
        assert_eq!(fields(&violations), ["parcels", "parcels[1].weight_grams"]);
    }

    #[test]
    fn lines_need_a_quantity_and_each_sku_once() {
        let line = |sku: &str, quantity| pb::ShipmentLine {
            sku: sku.into(),
            quantity,
            description: String::new(),
        };
        let mut violations = FieldViolations::new();
        lines(&mut violations, &[line("A", 1), line("A", 2), line("B", 0)]);
        assert_eq!(fields(&violations), ["lines[1].sku", "lines[2].quantity"]);
    }

    #[test]
    fn unspecified_levels_and_formats_have_defaults_and_unknown_ones_are_refused() {
        let mut violations = FieldViolations::new();
        assert_eq!(
            service_level(&mut violations, "service_level", 0),
            ServiceLevel::Standard
        );
        assert_eq!(
            label_format(&mut violations, "label_format", 0),
            LabelFormat::Pdf
        );
        assert!(violations.is_empty());
        service_level(&mut violations, "service_level", 42);
        label_format(&mut violations, "label_format", 7);
        assert_eq!(fields(&violations), ["service_level", "label_format"]);
    }

    #[test]
    fn a_label_address_needs_a_name_a_street_and_a_city() {
        let mut violations = FieldViolations::new();
        let address = common::Address {
            country_code: "de".into(),
            ..Default::default()
        };
        address_check(&mut violations, &address);
        assert_eq!(
            fields(&violations),
            [
                "destination.country_code",
                "destination.recipient_name",
                "destination.lines",
                "destination.city"
            ]
        );
    }

    fn address_check(violations: &mut FieldViolations, value: &common::Address) {
        address(violations, "destination", Some(value), true);
    }
}
