//! The documents of a shipment: what its label and packing slip show, taken
//! from the stored request, and rendered by [`crate::documents`].

use super::convert::{Details, LabelFormat, address_lines};
use crate::{
    documents::{self, Fonts, LabelContent, Page, SlipLine},
    domain::report::Direction,
    error::ShippingError,
    store::ShipmentRow,
};

/// What the carrier's answer and the ids add to a shipment's documents.
pub struct Printed<'a> {
    pub carrier: &'a str,
    pub carrier_service: &'a str,
    pub tracking_number: &'a str,
    pub order_id: &'a str,
    /// The return a return label belongs to.
    pub return_id: Option<&'a str>,
}

/// A new shipment's documents: the label in its format and, for an OUTBOUND
/// shipment, the packing slip (PDF).
pub struct Documents {
    pub label: Vec<u8>,
    pub packing_slip: Option<Vec<u8>>,
}

/// What the label of a shipment shows.
fn content(details: &Details, printed: &Printed<'_>) -> LabelContent {
    LabelContent {
        carrier: printed.carrier.to_owned(),
        carrier_service: printed.carrier_service.to_owned(),
        tracking_number: printed.tracking_number.to_owned(),
        from: address_lines(details.origin.as_ref()),
        to: address_lines(details.destination.as_ref()),
        parcels: details.parcels.len(),
        weight_grams: details.parcels.iter().fold(0, |total: i64, parcel| {
            total.saturating_add(i64::from(parcel.weight_grams))
        }),
        reference: printed.return_id.unwrap_or(printed.order_id).to_owned(),
    }
}

/// The documents of a shipment created from `details`, set in `fonts`.
pub fn documents(
    fonts: &Fonts,
    details: &Details,
    direction: Direction,
    format: LabelFormat,
    printed: &Printed<'_>,
) -> Result<Documents, ShippingError> {
    let content = content(details, printed);
    let label = match format {
        LabelFormat::Pdf => documents::pdf(fonts, &[documents::label_page(&content)])?,
        LabelFormat::Zpl => documents::label_zpl(&content).into_bytes(),
    };
    if direction != Direction::Outbound {
        return Ok(Documents {
            label,
            packing_slip: None,
        });
    }
    let lines: Vec<SlipLine> = details
        .lines
        .iter()
        .map(|line| SlipLine {
            sku: line.sku.clone(),
            quantity: line.quantity,
            description: line.description.clone(),
        })
        .collect();
    let packing_slip = documents::pdf(
        fonts,
        &[documents::packing_slip_page(
            printed.order_id,
            printed.tracking_number,
            &content.to,
            &lines,
        )],
    )?;
    Ok(Documents {
        label,
        packing_slip: Some(packing_slip),
    })
}

/// The label page of a stored OUTBOUND shipment, for a combined file.
pub fn label_page(row: &ShipmentRow) -> Result<Page, ShippingError> {
    let details = super::convert::details(row.shipment_direction()?, &row.details)?;
    let printed = Printed {
        carrier: &row.carrier,
        carrier_service: &row.carrier_service,
        tracking_number: &row.tracking_number,
        order_id: &row.order_id,
        return_id: row.return_id.as_deref(),
    };
    Ok(documents::label_page(&content(&details, &printed)))
}
