//! What carriers and warehouses do to a [`World`]'s orders: parcels picked
//! up and delivered, and returns requested, approved, sent back, received and
//! inspected, each through its service's contract.

use oms_proto::{
    common::v1::LineItem,
    order::v1::{Order, OrderStatus},
    returns::v1::{
        ApproveReturnRequest, GetReturnRequest, InspectReturnRequest, LineInspection,
        ReceiveReturnRequest, RequestReturnRequest, Return, ReturnLineRequest, ReturnReason,
        ReturnResolution, ReturnStatus,
    },
    shipping::v1::{RecordTrackingEventRequest, TrackingEventType},
};
use oms_testkit::{keyed, poll_until};

use crate::world::{BERLIN, SAGA_END, World, operator, status};

impl World {
    /// A carrier event `event` on the parcel `tracking_number`, with the
    /// carrier's event id `id`.
    pub async fn carrier_event(
        &self,
        carrier: &str,
        tracking_number: &str,
        event: TrackingEventType,
        id: &str,
    ) {
        self.suite
            .shipping()
            .record_tracking_event(RecordTrackingEventRequest {
                carrier: carrier.into(),
                carrier_event_id: id.into(),
                tracking_number: tracking_number.into(),
                event_type: event as i32,
                event_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
                location: "Berlin hub, DE".into(),
                description: String::new(),
            })
            .await
            .unwrap();
    }

    /// Has the confirmed order's parcels picked up and delivered; the order
    /// once DELIVERED.
    pub async fn deliver(&self, order_id: &str) -> Order {
        let order = self.order(order_id).await;
        for shipment in &order.shipments {
            for (event, id) in [
                (TrackingEventType::PickedUp, "pickup"),
                (TrackingEventType::Delivered, "delivery"),
            ] {
                let id = format!("{id}-{}", shipment.shipment_id);
                self.carrier_event(&shipment.carrier, &shipment.tracking_number, event, &id)
                    .await;
            }
        }
        poll_until("the order delivered", SAGA_END, || async {
            let order = self.order(order_id).await;
            (status(&order) == OrderStatus::Delivered).then_some(order)
        })
        .await
    }

    /// Requests a return of `lines` (sku, units) of the order, for a refund
    /// or, with `replacement`, an exchange, and approves it to Berlin: its
    /// saga starts. The return's id.
    pub async fn return_approved(
        &self,
        order_id: &str,
        lines: &[(&str, i32)],
        replacement: Vec<LineItem>,
    ) -> String {
        let resolution = if replacement.is_empty() {
            ReturnResolution::Refund
        } else {
            ReturnResolution::Exchange
        };
        let request = RequestReturnRequest {
            order_id: order_id.into(),
            lines: lines
                .iter()
                .map(|(sku, quantity)| ReturnLineRequest {
                    sku: (*sku).into(),
                    quantity: *quantity,
                    reason: ReturnReason::NoLongerNeeded as i32,
                })
                .collect(),
            resolution: resolution as i32,
            replacement_lines: replacement,
            comment: String::new(),
            actor: Some(operator()),
        };
        let key = format!("return-{}", uuid::Uuid::new_v4());
        let rma = self
            .suite
            .returns()
            .request_return(keyed(request, &key))
            .await
            .unwrap()
            .into_inner()
            .rma
            .unwrap();
        self.suite
            .returns()
            .approve_return(ApproveReturnRequest {
                return_id: rma.return_id.clone(),
                receiving_location_id: BERLIN.into(),
                note: String::new(),
                actor: Some(operator()),
            })
            .await
            .unwrap();
        rma.return_id
    }

    /// The return as the returns service holds it.
    pub async fn get_return(&self, return_id: &str) -> Return {
        self.suite
            .returns()
            .get_return(GetReturnRequest {
                return_id: return_id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .rma
            .unwrap()
    }

    /// The return once it reached `status`.
    pub async fn return_in(&self, return_id: &str, status: ReturnStatus) -> Return {
        let what = format!("the return {}", status.as_str_name());
        poll_until(&what, SAGA_END, || async {
            let rma = self.get_return(return_id).await;
            (rma.status == status as i32).then_some(rma)
        })
        .await
    }

    /// The customer sends the goods: the carrier picks up the return label's
    /// parcel, and the return is IN_TRANSIT.
    pub async fn send_back(&self, return_id: &str) {
        let labelled = self.return_in(return_id, ReturnStatus::LabelIssued).await;
        let label = labelled.label.unwrap();
        let id = format!("return-pickup-{return_id}");
        self.carrier_event(
            &label.carrier,
            &label.tracking_number,
            TrackingEventType::PickedUp,
            &id,
        )
        .await;
        self.return_in(return_id, ReturnStatus::InTransit).await;
    }

    /// The goods arrive in Berlin and are inspected as `inspection` says:
    /// (sku, restock, damaged, missing) per line.
    pub async fn receive_and_inspect(&self, return_id: &str, inspection: &[(&str, i32, i32, i32)]) {
        self.suite
            .returns()
            .receive_return(ReceiveReturnRequest {
                return_id: return_id.into(),
                location_id: BERLIN.into(),
                note: String::new(),
                actor: Some(operator()),
            })
            .await
            .unwrap();
        let lines = inspection
            .iter()
            .map(|(sku, restock, damaged, missing)| LineInspection {
                sku: (*sku).into(),
                restock_quantity: *restock,
                damaged_quantity: *damaged,
                missing_quantity: *missing,
                note: String::new(),
            })
            .collect();
        self.suite
            .returns()
            .inspect_return(InspectReturnRequest {
                return_id: return_id.into(),
                lines,
                actor: Some(operator()),
            })
            .await
            .unwrap();
    }
}
