//! The gRPC face of the returns service. Each step is one transaction that
//! locks the return, checks the transition table, applies the step with its
//! timeline entry and, for an approval, queues the return saga's start in the
//! outbox. Calls to the order and inventory services happen before the
//! transaction opens, so no lock waits on the network. Proto types stop here.
//!
//! It is long because the contract has fourteen RPCs, each a short handler
//! here; the rules they apply live in `domain/` and the SQL in `store/`, and
//! splitting the handlers would only scatter one service's face.

mod convert;

use std::{collections::HashMap, sync::Arc};

use chrono::Utc;
use oms_platform::{
    client::OmsChannel,
    convert::actor_to_proto,
    error::FieldViolations,
    idempotency::{Idempotency, IdempotencyKey},
    outbox,
    paging::Pages,
    rpc::current_traceparent,
};
use oms_proto::{
    common::v1 as common,
    inventory::v1::{GetLocationRequest, inventory_service_client::InventoryServiceClient},
    order::v1::{self as order, order_service_client::OrderServiceClient},
    returns::v1::{self as pb, returns_service_server::ReturnsService},
    saga::v1::StartReturnSagaRequest,
};
use prost::Message as _;
use sqlx::{PgConnection, Postgres, Transaction};
use tokio::sync::Notify;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use self::convert::{MAX_NOTE, rma};
use crate::{
    domain::{
        Actor, LocationId, OrderId, Sku, eligibility,
        policy::{Policy, Resolution},
        refund,
        status::{CloseReason, ReturnStatus, Step},
    },
    error::ReturnsError,
    outbox::START_RETURN_SAGA,
    store::{self, Change, ListFilter, NewReturn, ReturnRecord, Store},
};

const REQUEST_RETURN: &str = "oms.returns.v1.ReturnsService/RequestReturn";

/// The actor of what the service does on its own (auto-approval).
const SERVICE: &str = "oms-returns";

/// The returns service.
pub struct ReturnsApi {
    store: Store,
    idempotency: Idempotency,
    orders: OrderServiceClient<OmsChannel>,
    inventory: InventoryServiceClient<OmsChannel>,
    /// Wakes the outbox dispatcher after a saga start was queued.
    wake: Arc<Notify>,
}

/// The refusal of `step` from `from`.
fn illegal(from: ReturnStatus, step: Step) -> ReturnsError {
    match step {
        Step::Close(reason) => ReturnsError::IllegalTransition {
            from,
            to: ("close_reason", reason.name()),
        },
        _ => ReturnsError::illegal(from, step.target()),
    }
}

/// The return's status, if the table lets `step` leave it.
fn require(record: &ReturnRecord, step: Step) -> Result<ReturnStatus, ReturnsError> {
    let from = record.status()?;
    if !from.allows(step) {
        return Err(illegal(from, step));
    }
    Ok(from)
}

async fn locked(conn: &mut PgConnection, return_id: Uuid) -> Result<ReturnRecord, ReturnsError> {
    store::lock(conn, return_id)
        .await?
        .ok_or_else(|| ReturnsError::NotFound(return_id.to_string()))
}

/// Queues the start of the return's saga, delivered by the outbox.
async fn queue_saga(
    conn: &mut PgConnection,
    return_id: Uuid,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    let request = StartReturnSagaRequest {
        return_id: return_id.to_string(),
        actor: Some(actor_to_proto(actor)),
    };
    outbox::enqueue(
        conn,
        START_RETURN_SAGA,
        &return_id.to_string(),
        &request.encode_to_vec(),
        &current_traceparent(),
    )
    .await?;
    Ok(())
}

fn money_eq(money: &common::Money, currency: &str, minor: i64) -> bool {
    money.currency_code == currency && money.amount_minor == minor
}

/// RecordExchange's price difference must be the exchange's.
fn check_difference(
    difference: &common::Money,
    currency: &str,
    exchange: Option<(i64, i64)>,
) -> Result<(), ReturnsError> {
    match exchange {
        Some((_, expected)) if money_eq(difference, currency, expected) => Ok(()),
        Some((_, expected)) => Err(ReturnsError::invalid(
            "price_difference",
            format!("must equal the exchange's price difference, {expected} {currency}"),
        )),
        None => Err(ReturnsError::invalid(
            "price_difference",
            "the return is not an exchange",
        )),
    }
}

impl ReturnsApi {
    /// The service on `store`, reading orders and locations through their
    /// services; `wake` wakes the outbox dispatcher after a commit that
    /// queued a saga start.
    pub fn new(
        store: Store,
        orders: OrderServiceClient<OmsChannel>,
        inventory: InventoryServiceClient<OmsChannel>,
        wake: Arc<Notify>,
    ) -> ReturnsApi {
        ReturnsApi {
            idempotency: Idempotency::new(store.pool().clone()),
            store,
            orders,
            inventory,
            wake,
        }
    }

    /// The order, read through the order contract.
    async fn read_order(&self, order_id: &OrderId) -> Result<order::Order, ReturnsError> {
        let request = order::GetOrderRequest {
            order_id: order_id.as_str().to_owned(),
            ..Default::default()
        };
        match self.orders.clone().get_order(request).await {
            Ok(response) => response
                .into_inner()
                .order
                .ok_or_else(|| ReturnsError::Corrupt(format!("order {order_id} as read"))),
            // An id the order service cannot even parse names no order either.
            Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
                Err(ReturnsError::OrderNotFound(order_id.to_string()))
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "order service call failed");
                Err(ReturnsError::OrderUnavailable)
            }
        }
    }

    /// NOT_FOUND unless the inventory service knows the location.
    async fn check_location(&self, location_id: &LocationId) -> Result<(), ReturnsError> {
        let request = GetLocationRequest {
            location_id: location_id.as_str().to_owned(),
        };
        match self.inventory.clone().get_location(request).await {
            Ok(_) => Ok(()),
            Err(status) if matches!(status.code(), Code::NotFound | Code::InvalidArgument) => {
                Err(ReturnsError::LocationNotFound(location_id.to_string()))
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "inventory service call failed");
                Err(ReturnsError::InventoryUnavailable)
            }
        }
    }

    /// Applies a step to the locked return and commits; the return after it.
    async fn commit_step(
        &self,
        mut tx: Transaction<'static, Postgres>,
        return_id: Uuid,
        change: Change<'_>,
        actor: &Actor,
        note: &str,
        event_time: Option<chrono::DateTime<Utc>>,
    ) -> Result<pb::Return, ReturnsError> {
        let status = change.status();
        store::apply(&mut tx, return_id, &change, actor, note, event_time).await?;
        let queued = matches!(change, Change::Approve { .. });
        if queued {
            queue_saga(&mut tx, return_id, actor).await?;
        }
        let record = locked(&mut tx, return_id).await?;
        let rma = rma(&record)?;
        tx.commit().await?;
        if queued {
            self.wake.notify_one();
        }
        tracing::info!(%return_id, status = status.name(), "return moved");
        Ok(rma)
    }

    /// Ends a step that changes nothing: the return as it is.
    async fn unchanged(
        tx: Transaction<'static, Postgres>,
        record: &ReturnRecord,
    ) -> Result<pb::Return, ReturnsError> {
        tx.commit().await?;
        rma(record)
    }

    async fn request_return(
        &self,
        key: IdempotencyKey,
        request: &pb::RequestReturnRequest,
    ) -> Result<pb::RequestReturnResponse, ReturnsError> {
        let checked = convert::request_return(request)?;
        // A retry is answered even while the order service is down.
        if let Some(response) = self
            .idempotency
            .replay(REQUEST_RETURN, &key, request)
            .await?
        {
            return Ok(response);
        }
        let order = self.read_order(&checked.order_id).await?;
        let view = convert::order_view(&order)?;
        let mut v = FieldViolations::new();
        for (i, (sku, _, _)) in checked.lines.iter().enumerate() {
            if !view.lines.iter().any(|line| &line.sku == sku) {
                v.add(format!("lines[{i}].sku"), "not a line of the order");
            }
        }
        if !v.is_empty() {
            return Err(ReturnsError::Invalid(v));
        }
        if let Some((_, _, price)) = checked
            .replacements
            .iter()
            .find(|(_, _, price)| price.currency_code != view.currency_code)
        {
            return Err(ReturnsError::CurrencyMismatch {
                expected: view.currency_code.clone(),
                actual: price.currency_code.clone(),
            });
        }
        let replacement: Vec<(i32, i64)> = checked
            .replacements
            .iter()
            .map(|(_, units, price)| (*units, price.amount_minor))
            .collect();
        if refund::price_difference(&replacement, 0).is_err() {
            return Err(ReturnsError::invalid(
                "replacement_lines",
                "the replacement total is out of range",
            ));
        }

        let mut auto_approved = false;
        let response = self
            .idempotency
            .run(REQUEST_RETURN, &key, request, async |tx| {
                let order_id = checked.order_id.as_str();
                store::lock_order(&mut *tx, order_id).await?;
                let policy_row = store::current_policy(&mut *tx, &view.channel).await?;
                let policy = match &policy_row {
                    Some(row) => row.policy()?,
                    None => Policy::default(),
                };
                let already: HashMap<Sku, i32> = store::counted_units(&mut *tx, order_id)
                    .await?
                    .into_iter()
                    .filter_map(|(sku, units)| Some((Sku::parse(&sku).ok()?, units)))
                    .collect();
                let requested: Vec<(Sku, i32)> = checked
                    .lines
                    .iter()
                    .map(|(sku, units, _)| (sku.clone(), *units))
                    .collect();
                eligibility::check(&view.lines, &requested, &already, &policy, Utc::now())
                    .map_err(ReturnsError::NotEligible)?;

                let price_of = |sku: &Sku| {
                    view.lines
                        .iter()
                        .find(|line| &line.sku == sku)
                        .map_or(0, |line| line.unit_price)
                };
                // Where the first requested line with a known origin shipped from.
                let shipped_from = checked
                    .lines
                    .iter()
                    .find_map(|(requested, _, _)| {
                        view.shipped_from.iter().find(|(sku, _)| sku == requested)
                    })
                    .map(|(_, location)| location.to_string())
                    .unwrap_or_default();
                let return_id = Uuid::now_v7();
                store::insert_return(
                    &mut *tx,
                    &NewReturn {
                        return_id,
                        order_id: order_id.to_owned(),
                        channel: view.channel.clone(),
                        currency_code: view.currency_code.clone(),
                        resolution: checked.resolution.code(),
                        comment: checked.comment.clone(),
                        policy_id: policy_row.as_ref().map(|row| row.policy_id),
                        shipped_from_location_id: shipped_from.clone(),
                        actor: checked.actor.clone(),
                        lines: checked
                            .lines
                            .iter()
                            .map(|(sku, units, reason)| {
                                (sku.to_string(), *units, reason.code(), price_of(sku))
                            })
                            .collect(),
                        replacements: checked
                            .replacements
                            .iter()
                            .map(|(sku, units, price)| {
                                (sku.to_string(), *units, price.amount_minor)
                            })
                            .collect(),
                    },
                )
                .await?;

                // Auto-approval needs somewhere for the goods to go; without one the
                // return waits for an operator's ApproveReturn.
                let destination = policy
                    .return_location_id
                    .as_ref()
                    .map(ToString::to_string)
                    .or_else(|| Some(shipped_from).filter(|location| !location.is_empty()));
                auto_approved = policy.auto_approve && destination.is_some();
                if let (true, Some(location)) = (policy.auto_approve, &destination) {
                    let system = Actor::system(SERVICE);
                    store::apply(
                        &mut *tx,
                        return_id,
                        &Change::Approve {
                            expected_location_id: location,
                        },
                        &system,
                        "approved by the channel's return policy",
                        None,
                    )
                    .await?;
                    queue_saga(&mut *tx, return_id, &system).await?;
                }
                let record = locked(&mut *tx, return_id).await?;
                tracing::info!(%return_id, auto_approved, "return requested");
                Ok::<_, ReturnsError>(pb::RequestReturnResponse {
                    rma: Some(rma(&record)?),
                })
            })
            .await?;
        if auto_approved {
            self.wake.notify_one();
        }
        Ok(response)
    }

    async fn approve_return(
        &self,
        request: &pb::ApproveReturnRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let approval = convert::approve(request)?;
        // A repeat is answered without asking the inventory service.
        let current = self
            .store
            .get(approval.return_id)
            .await?
            .ok_or_else(|| ReturnsError::NotFound(approval.return_id.to_string()))?;
        if current.status()? == ReturnStatus::Approved {
            return rma(&current);
        }
        if let Some(location) = &approval.location_id {
            self.check_location(location).await?;
        }
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, approval.return_id).await?;
        if record.status()? == ReturnStatus::Approved {
            return Self::unchanged(tx, &record).await;
        }
        require(&record, Step::Approve)?;
        let policy = record.policy()?;
        let location = approval
            .location_id
            .or(policy.return_location_id)
            .map(String::from)
            .or_else(|| {
                Some(record.row.shipped_from_location_id.clone()).filter(|id| !id.is_empty())
            })
            .ok_or_else(|| {
                ReturnsError::invalid(
                    "receiving_location_id",
                    "required: neither the policy nor the order's shipments name a location",
                )
            })?;
        let change = Change::Approve {
            expected_location_id: &location,
        };
        self.commit_step(
            tx,
            approval.return_id,
            change,
            &approval.actor,
            &approval.note,
            None,
        )
        .await
    }

    async fn reject_return(
        &self,
        request: &pb::RejectReturnRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let (return_id, reason, actor) = convert::step(
            &request.return_id,
            Some(("reason", &request.reason, MAX_NOTE)),
            request.actor.as_ref(),
        )?;
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        if record.status()? == ReturnStatus::Rejected {
            return Self::unchanged(tx, &record).await;
        }
        require(&record, Step::Reject)?;
        let change = Change::Reject { reason: &reason };
        self.commit_step(tx, return_id, change, &actor, &reason, None)
            .await
    }

    async fn record_label(
        &self,
        request: &pb::RecordReturnLabelRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let label = convert::label(request)?;
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, label.return_id).await?;
        let row = &record.row;
        if !row.label_shipment_id.is_empty() {
            let same = row.label_shipment_id == label.shipment_id
                && row.label_carrier == label.carrier
                && row.label_tracking_number == label.tracking_number
                && row.label_price_minor == Some(label.price.amount_minor);
            if same {
                return Self::unchanged(tx, &record).await;
            }
            return Err(ReturnsError::KeyConflict {
                return_id: label.return_id.to_string(),
            });
        }
        require(&record, Step::RecordLabel)?;
        if label.price.currency_code != row.currency_code {
            return Err(ReturnsError::CurrencyMismatch {
                expected: row.currency_code.clone(),
                actual: label.price.currency_code.clone(),
            });
        }
        let change = Change::Label {
            shipment_id: &label.shipment_id,
            carrier: &label.carrier,
            tracking_number: &label.tracking_number,
            price_minor: label.price.amount_minor,
        };
        let note = format!("{} {}", label.carrier, label.tracking_number);
        self.commit_step(tx, label.return_id, change, &label.actor, &note, None)
            .await
    }

    async fn mark_in_transit(
        &self,
        request: &pb::MarkReturnInTransitRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let (return_id, shipment_id, event_time, actor) = convert::in_transit(request)?;
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        let from = record.status()?;
        let further = matches!(
            from,
            ReturnStatus::InTransit
                | ReturnStatus::Received
                | ReturnStatus::Inspected
                | ReturnStatus::Refunded
                | ReturnStatus::Exchanged
        ) || (from == ReturnStatus::Closed && record.received());
        if further {
            return Self::unchanged(tx, &record).await;
        }
        if from != ReturnStatus::LabelIssued || record.row.label_shipment_id != shipment_id {
            return Err(illegal(from, Step::MarkInTransit));
        }
        self.commit_step(
            tx,
            return_id,
            Change::InTransit,
            &actor,
            "",
            Some(event_time),
        )
        .await
    }

    async fn receive_return(
        &self,
        request: &pb::ReceiveReturnRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let (return_id, location, note, actor) = convert::receive(request)?;
        self.check_location(&location).await?;
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        let from = record.status()?;
        if from == ReturnStatus::Received {
            if record.row.receiving_location_id == location.as_str() {
                return Self::unchanged(tx, &record).await;
            }
            return Err(illegal(from, Step::Receive));
        }
        require(&record, Step::Receive)?;
        let change = Change::Receive {
            location_id: location.as_str(),
        };
        self.commit_step(tx, return_id, change, &actor, &note, None)
            .await
    }

    async fn inspect_return(
        &self,
        request: &pb::InspectReturnRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let (return_id, _, actor) =
            convert::step(&request.return_id, None, request.actor.as_ref())?;
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        let from = record.status()?;
        if record.inspected() {
            let inspection = convert::inspection(request, &record)?;
            let same = inspection
                .iter()
                .all(|(number, restock, damaged, missing, note)| {
                    record.lines.iter().any(|line| {
                        line.line_number == *number
                            && line.restock_quantity == *restock
                            && line.damaged_quantity == *damaged
                            && line.missing_quantity == *missing
                            && line.inspection_note == *note
                    })
                });
            if same {
                return Self::unchanged(tx, &record).await;
            }
            return Err(illegal(from, Step::Inspect));
        }
        require(&record, Step::Inspect)?;
        let inspection = convert::inspection(request, &record)?;
        let units =
            |pick: fn(&convert::Inspection) -> i32| inspection.iter().map(pick).sum::<i32>();
        let note = format!(
            "restock {}, damaged {}, missing {}",
            units(|line| line.1),
            units(|line| line.2),
            units(|line| line.3)
        );
        let change = Change::Inspect {
            lines: inspection
                .iter()
                .map(|(number, restock, damaged, missing, note)| {
                    (*number, *restock, *damaged, *missing, note.as_str())
                })
                .collect(),
        };
        self.commit_step(tx, return_id, change, &actor, &note, None)
            .await
    }

    async fn record_refund(
        &self,
        request: &pb::RecordRefundRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let mut v = FieldViolations::new();
        let return_id = convert::return_id(&mut v, &request.return_id);
        let amount = convert::amount(&mut v, "amount", request.amount.as_ref());
        let credit = request.credit_amount.clone();
        // Each part: its payment and transaction exactly when it is above zero.
        let parts = [
            (
                "",
                amount.as_ref().map_or(0, |money| money.amount_minor),
                &request.payment_id,
                &request.transaction_id,
            ),
            (
                "credit_",
                credit.as_ref().map_or(0, |money| money.amount_minor),
                &request.credit_payment_id,
                &request.credit_transaction_id,
            ),
        ];
        for (prefix, minor, payment_id, transaction_id) in parts {
            if minor < 0 {
                v.add(format!("{prefix}amount"), "must not be negative");
            }
            for (field, value) in [
                ("payment_id", payment_id),
                ("transaction_id", transaction_id),
            ] {
                let field = format!("{prefix}{field}");
                if minor > 0 {
                    convert::minted(&mut v, &field, value);
                } else if !value.is_empty() {
                    v.add(field, "only with an amount above zero");
                }
            }
        }
        let actor = oms_platform::convert::actor(&mut v, request.actor.as_ref());
        let (Some(return_id), Some(amount), Some(actor), true) =
            (return_id, amount, actor, v.is_empty())
        else {
            return Err(ReturnsError::Invalid(v));
        };
        let credit_minor = credit.as_ref().map_or(0, |money| money.amount_minor);
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        let row = &record.row;
        let currency = row.currency_code.clone();
        if let Some(credit) = &credit
            && credit.currency_code != currency
            && credit_minor != 0
        {
            return Err(ReturnsError::invalid(
                "credit_amount",
                format!("must be in the order's currency, {currency}"),
            ));
        }
        let check_total = |total: i64| -> Result<(), ReturnsError> {
            let paid = amount.amount_minor.checked_add(credit_minor);
            let same_currency = amount.currency_code == currency || amount.amount_minor == 0;
            if paid == Some(total) && same_currency {
                return Ok(());
            }
            Err(ReturnsError::invalid(
                "amount",
                format!("with credit_amount, must make the refund total, {total} {currency}"),
            ))
        };
        let refunded =
            !row.refund_payment_id.is_empty() || !row.credit_refund_payment_id.is_empty();
        if refunded {
            if row.refund_payment_id == request.payment_id
                && row.refund_transaction_id == request.transaction_id
                && row.credit_refund_payment_id == request.credit_payment_id
                && row.credit_refund_transaction_id == request.credit_transaction_id
            {
                check_total(record.refund()?.total)?;
                return Self::unchanged(tx, &record).await;
            }
            return Err(ReturnsError::KeyConflict {
                return_id: return_id.to_string(),
            });
        }
        let from = require(&record, Step::RecordRefund)?;
        let refund = record.refund()?;
        if record.resolution()? != Resolution::Refund || refund.total == 0 {
            return Err(illegal(from, Step::RecordRefund));
        }
        check_total(refund.total)?;
        let change = Change::Refund {
            payment_id: &request.payment_id,
            transaction_id: &request.transaction_id,
            credit_minor,
            credit_payment_id: &request.credit_payment_id,
            credit_transaction_id: &request.credit_transaction_id,
        };
        self.commit_step(tx, return_id, change, &actor, "", None)
            .await
    }

    async fn record_exchange(
        &self,
        request: &pb::RecordExchangeRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let mut v = FieldViolations::new();
        let return_id = convert::return_id(&mut v, &request.return_id);
        convert::minted(
            &mut v,
            "replacement_order_id",
            &request.replacement_order_id,
        );
        let difference = convert::amount(
            &mut v,
            "price_difference",
            request.price_difference.as_ref(),
        );
        if request.payment_id.is_empty() != request.transaction_id.is_empty() {
            v.add(
                "payment_id",
                "payment_id and transaction_id are set together or not at all",
            );
        } else if !request.payment_id.is_empty() {
            convert::minted(&mut v, "payment_id", &request.payment_id);
            convert::minted(&mut v, "transaction_id", &request.transaction_id);
        }
        let actor = oms_platform::convert::actor(&mut v, request.actor.as_ref());
        let (Some(return_id), Some(difference), Some(actor), true) =
            (return_id, difference, actor, v.is_empty())
        else {
            return Err(ReturnsError::Invalid(v));
        };
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        let row = &record.row;
        if !row.replacement_order_id.is_empty() {
            if row.replacement_order_id == request.replacement_order_id
                && row.exchange_payment_id == request.payment_id
                && row.exchange_transaction_id == request.transaction_id
            {
                let expected = record.exchange(record.refund()?.total)?;
                check_difference(&difference, &row.currency_code, expected)?;
                return Self::unchanged(tx, &record).await;
            }
            return Err(ReturnsError::KeyConflict {
                return_id: return_id.to_string(),
            });
        }
        let from = require(&record, Step::RecordExchange)?;
        let Some((_, expected)) = record.exchange(record.refund()?.total)? else {
            return Err(illegal(from, Step::RecordExchange));
        };
        check_difference(&difference, &row.currency_code, Some((0, expected)))?;
        if !request.payment_id.is_empty() && expected >= 0 {
            return Err(ReturnsError::invalid(
                "payment_id",
                "only a negative price difference is refunded",
            ));
        }
        let change = Change::Exchange {
            replacement_order_id: &request.replacement_order_id,
            payment_id: &request.payment_id,
            transaction_id: &request.transaction_id,
        };
        let note = format!("replacement order {}", request.replacement_order_id);
        self.commit_step(tx, return_id, change, &actor, &note, None)
            .await
    }

    async fn close_return(
        &self,
        request: &pb::CloseReturnRequest,
    ) -> Result<pb::Return, ReturnsError> {
        let mut v = FieldViolations::new();
        let return_id = convert::return_id(&mut v, &request.return_id);
        let reason = CloseReason::from_code(request.close_reason);
        if reason.is_none() {
            v.add("close_reason", "required");
        }
        let note = convert::note(&mut v, "note", &request.note, MAX_NOTE);
        let actor = oms_platform::convert::actor(&mut v, request.actor.as_ref());
        let (Some(return_id), Some(reason), Some(actor), true) =
            (return_id, reason, actor, v.is_empty())
        else {
            return Err(ReturnsError::Invalid(v));
        };
        let mut tx = self.store.begin().await?;
        let record = locked(&mut tx, return_id).await?;
        let from = record.status()?;
        if matches!(from, ReturnStatus::Closed | ReturnStatus::Rejected) {
            return Self::unchanged(tx, &record).await;
        }
        require(&record, Step::Close(reason))?;
        if reason == CloseReason::NothingToRefund
            && (record.resolution()? != Resolution::Refund || record.refund()?.total != 0)
        {
            return Err(illegal(from, Step::Close(reason)));
        }
        self.commit_step(tx, return_id, Change::Close { reason }, &actor, &note, None)
            .await
    }
}

fn respond<T>(result: Result<T, ReturnsError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl ReturnsService for ReturnsApi {
    async fn request_return(
        &self,
        request: Request<pb::RequestReturnRequest>,
    ) -> Result<Response<pb::RequestReturnResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        respond(self.request_return(key, request.get_ref()).await)
    }

    async fn approve_return(
        &self,
        request: Request<pb::ApproveReturnRequest>,
    ) -> Result<Response<pb::ApproveReturnResponse>, Status> {
        respond(
            self.approve_return(request.get_ref())
                .await
                .map(|rma| pb::ApproveReturnResponse { rma: Some(rma) }),
        )
    }

    async fn reject_return(
        &self,
        request: Request<pb::RejectReturnRequest>,
    ) -> Result<Response<pb::RejectReturnResponse>, Status> {
        respond(
            self.reject_return(request.get_ref())
                .await
                .map(|rma| pb::RejectReturnResponse { rma: Some(rma) }),
        )
    }

    async fn record_return_label(
        &self,
        request: Request<pb::RecordReturnLabelRequest>,
    ) -> Result<Response<pb::RecordReturnLabelResponse>, Status> {
        respond(
            self.record_label(request.get_ref())
                .await
                .map(|rma| pb::RecordReturnLabelResponse { rma: Some(rma) }),
        )
    }

    async fn mark_return_in_transit(
        &self,
        request: Request<pb::MarkReturnInTransitRequest>,
    ) -> Result<Response<pb::MarkReturnInTransitResponse>, Status> {
        respond(
            self.mark_in_transit(request.get_ref())
                .await
                .map(|rma| pb::MarkReturnInTransitResponse { rma: Some(rma) }),
        )
    }

    async fn receive_return(
        &self,
        request: Request<pb::ReceiveReturnRequest>,
    ) -> Result<Response<pb::ReceiveReturnResponse>, Status> {
        respond(
            self.receive_return(request.get_ref())
                .await
                .map(|rma| pb::ReceiveReturnResponse { rma: Some(rma) }),
        )
    }

    async fn inspect_return(
        &self,
        request: Request<pb::InspectReturnRequest>,
    ) -> Result<Response<pb::InspectReturnResponse>, Status> {
        respond(
            self.inspect_return(request.get_ref())
                .await
                .map(|rma| pb::InspectReturnResponse { rma: Some(rma) }),
        )
    }

    async fn record_refund(
        &self,
        request: Request<pb::RecordRefundRequest>,
    ) -> Result<Response<pb::RecordRefundResponse>, Status> {
        respond(
            self.record_refund(request.get_ref())
                .await
                .map(|rma| pb::RecordRefundResponse { rma: Some(rma) }),
        )
    }

    async fn record_exchange(
        &self,
        request: Request<pb::RecordExchangeRequest>,
    ) -> Result<Response<pb::RecordExchangeResponse>, Status> {
        respond(
            self.record_exchange(request.get_ref())
                .await
                .map(|rma| pb::RecordExchangeResponse { rma: Some(rma) }),
        )
    }

    async fn close_return(
        &self,
        request: Request<pb::CloseReturnRequest>,
    ) -> Result<Response<pb::CloseReturnResponse>, Status> {
        respond(
            self.close_return(request.get_ref())
                .await
                .map(|rma| pb::CloseReturnResponse { rma: Some(rma) }),
        )
    }

    async fn get_return(
        &self,
        request: Request<pb::GetReturnRequest>,
    ) -> Result<Response<pb::GetReturnResponse>, Status> {
        let mut v = FieldViolations::new();
        let return_id = convert::return_id(&mut v, &request.get_ref().return_id);
        let Some(return_id) = return_id else {
            return Err(v.into_status());
        };
        let result = async {
            let record = self
                .store
                .get(return_id)
                .await?
                .ok_or_else(|| ReturnsError::NotFound(return_id.to_string()))?;
            Ok(pb::GetReturnResponse {
                rma: Some(rma(&record)?),
            })
        }
        .await;
        respond(result)
    }

    async fn list_returns(
        &self,
        request: Request<pb::ListReturnsRequest>,
    ) -> Result<Response<pb::ListReturnsResponse>, Status> {
        let request = request.into_inner();
        let mut v = FieldViolations::new();
        let mut filter = ListFilter::default();
        if !request.order_id.is_empty() {
            filter.order_id = v
                .check("order_id", OrderId::parse(&request.order_id))
                .map(|id| id.as_str().to_owned());
        }
        for (i, status) in request.statuses.iter().enumerate() {
            match ReturnStatus::from_code(*status) {
                Some(status) => filter.statuses.push(status.code()),
                None => v.add(format!("statuses[{i}]"), "must be a status of the enum"),
            }
        }
        filter.channel = match &request.channel {
            Some(channel) if *channel != common::Channel::default() => {
                convert::channel(&mut v, "channel", Some(channel))
            }
            _ => None,
        };
        let filters = pb::ListReturnsRequest {
            page: None,
            ..request.clone()
        };
        let pages = Pages::parse(request.page.as_ref(), &filters, &mut v);
        v.into_result()?;
        let result = async {
            let mut records = self.store.list(&filter, pages.after, pages.fetch()).await?;
            let page = pages.finish(&mut records, |record| {
                (record.row.create_time, record.row.return_id)
            });
            let returns = records.iter().map(rma).collect::<Result<_, _>>()?;
            Ok(pb::ListReturnsResponse {
                returns,
                page: Some(page),
            })
        }
        .await;
        respond(result)
    }

    async fn get_return_policy(
        &self,
        request: Request<pb::GetReturnPolicyRequest>,
    ) -> Result<Response<pb::GetReturnPolicyResponse>, Status> {
        let mut v = FieldViolations::new();
        let channel = convert::channel(&mut v, "channel", request.get_ref().channel.as_ref());
        let Some(channel) = channel else {
            return Err(v.into_status());
        };
        let result = async {
            let mut conn = self.store.pool().acquire().await?;
            let row = store::current_policy(&mut conn, &channel).await?;
            Ok(pb::GetReturnPolicyResponse {
                policy: Some(convert::policy_to_proto(&channel, row.as_ref())?),
            })
        }
        .await;
        respond(result)
    }

    async fn put_return_policy(
        &self,
        request: Request<pb::PutReturnPolicyRequest>,
    ) -> Result<Response<pb::PutReturnPolicyResponse>, Status> {
        let result = async {
            let (channel, policy, actor) = convert::put_policy(request.get_ref())?;
            if let Some(location) = &policy.return_location_id {
                self.check_location(location).await?;
            }
            let mut conn = self.store.pool().acquire().await?;
            let row = store::insert_policy(&mut conn, &channel, &policy, &actor).await?;
            Ok(pb::PutReturnPolicyResponse {
                policy: Some(convert::policy_to_proto(&channel, Some(&row))?),
            })
        }
        .await;
        respond(result)
    }
}
