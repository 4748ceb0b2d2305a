//! CreateShipments: a bulk label run. Each request is one CreateShipment with
//! its own outcome (a business failure is reported per item, a database
//! failure fails the run), and every label bought comes in one combined file.

use std::collections::HashSet;

use oms_platform::error::FieldViolations;
use oms_proto::{
    common::v1 as common,
    shipping::v1::{self as pb, create_shipment_outcome::Result as Outcome},
};
use tonic::Status;

use super::{
    ShippingApi,
    convert::{self, LabelFormat},
    labels, shipments,
};
use crate::{documents, error::ShippingError};

/// Most requests of one CreateShipments call.
const MAX_BATCH: usize = 500;

/// What a batch item's error looks like in its outcome.
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

/// The run's label format: every request must ask for the same one.
fn check(requests: &[pb::CreateShipmentRequest]) -> Result<LabelFormat, ShippingError> {
    let mut violations = FieldViolations::new();
    let Some(first) = requests.first() else {
        violations.add("requests", "at least one request is required");
        return Err(ShippingError::Invalid(violations));
    };
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
        if item.label_format.max(1) != first.label_format.max(1) {
            violations.add(
                format!("requests[{i}].label_format"),
                "differs from requests[0]",
            );
        }
    }
    if !violations.is_empty() {
        return Err(ShippingError::Invalid(violations));
    }
    Ok(if first.label_format == pb::DocumentFormat::Zpl as i32 {
        LabelFormat::Zpl
    } else {
        LabelFormat::Pdf
    })
}

impl ShippingApi {
    /// Creates each shipment of the run, one at a time.
    pub(super) async fn create_shipments(
        &self,
        requests: Vec<pb::CreateShipmentRequest>,
    ) -> Result<pb::CreateShipmentsResponse, ShippingError> {
        let format = check(&requests)?;
        let mut outcomes = Vec::with_capacity(requests.len());
        let mut pages = Vec::new();
        let mut zpl = Vec::new();
        // One at a time: the carrier and the database see a steady load, and a
        // bulk run of hundreds stays within the pool.
        for item in &requests {
            let created = match shipments::outbound(item) {
                Ok(new) => self.create(new).await,
                Err(err) => Err(err),
            };
            let result = match created {
                Ok(record) => {
                    match format {
                        LabelFormat::Zpl => zpl.extend_from_slice(&record.shipment.label),
                        LabelFormat::Pdf => pages.push(labels::label_page(&record.shipment)?),
                    }
                    Outcome::Shipment(convert::shipment(&record, false)?)
                }
                Err(err @ ShippingError::Database(_)) => return Err(err),
                Err(err) => Outcome::Error(item_error(err)),
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
                content: documents::pdf(&self.fonts, &pages)?,
                file_name: "labels.pdf".to_owned(),
            }),
            LabelFormat::Zpl if !zpl.is_empty() => Some(pb::Document {
                format: pb::DocumentFormat::Zpl as i32,
                content: zpl,
                file_name: "labels.zpl".to_owned(),
            }),
            _ => None,
        };
        Ok(pb::CreateShipmentsResponse {
            outcomes,
            combined_labels,
        })
    }
}
