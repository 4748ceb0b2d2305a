//! The gRPC face of the order service: each handler converts its request into
//! domain values (collecting every field violation), calls the store, and
//! converts the result back. Proto types stop here.

mod convert;
mod dashboard;

use std::sync::Arc;

use chrono::Utc;
use oms_platform::{
    error::FieldViolations,
    idempotency::{self, Idempotency, IdempotencyKey},
    ids::MintedId,
    rpc::current_traceparent,
};
use oms_proto::{
    common::v1 as common,
    order::v1::{self as pb, order_service_server::OrderService},
    saga::v1 as saga,
};
use prost::Message as _;
use sqlx::PgConnection;
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{
        status::{self, Fact},
        timeline::EventLine,
        values::Tag,
    },
    error::OrderError,
    store::{
        self, Store,
        orders::{Cancel, OrderRecord, Placement},
    },
};

pub use convert::timestamp;

/// The order service.
pub struct Orders {
    store: Store,
    idempotency: Idempotency,
    /// Wakes the outbox dispatcher after a commit that queued a saga start.
    outbox: Arc<Notify>,
}

impl Orders {
    /// The service on `store`; `outbox` wakes the dispatcher after a commit that queued a saga start.
    pub fn new(store: Store, outbox: Arc<Notify>) -> Orders {
        Orders {
            idempotency: Idempotency::new(store.pool().clone()),
            store,
            outbox,
        }
    }

    async fn order(&self, order_id: Uuid) -> Result<pb::Order, OrderError> {
        let record = self
            .store
            .get(order_id)
            .await?
            .ok_or_else(|| OrderError::NotFound(order_id.to_string()))?;
        convert::order(&record, false)
    }

    /// Runs `change` of the order in one transaction; the order after it.
    async fn change(
        &self,
        order_id: Uuid,
        change: impl AsyncFnOnce(&mut PgConnection) -> Result<(), OrderError>,
    ) -> Result<pb::Order, OrderError> {
        let mut tx = self.store.begin().await?;
        change(&mut tx).await?;
        tx.commit().await?;
        self.order(order_id).await
    }

    /// PlaceOrder's transaction: the new order (created), or the order its
    /// natural key names when it is the same order again.
    async fn place(&self, placement: &Placement<'_>) -> Result<(OrderRecord, bool), OrderError> {
        let mut tx = self.store.begin().await?;
        let Some(order_id) = Store::place(&mut tx, placement).await? else {
            tx.rollback().await?;
            return self
                .placed_before(placement)
                .await
                .map(|record| (record, false));
        };
        // Read back in the transaction: what was written, in the one commit.
        let record = Store::read(&mut tx, order_id)
            .await?
            .ok_or_else(|| OrderError::NotFound(order_id.to_string()))?;
        tx.commit().await?;
        self.outbox.notify_one();
        Ok((record, true))
    }

    /// The order placed before under the placement's natural key, if it is the
    /// same order (a retry); NaturalKeyConflict if its content differs.
    async fn placed_before(&self, placement: &Placement<'_>) -> Result<OrderRecord, OrderError> {
        let order = placement.order;
        let existing = self
            .store
            .by_natural_key(
                order.channel.kind,
                &order.channel.name,
                order.external_reference.as_str(),
            )
            .await?
            .ok_or_else(|| OrderError::Corrupt("an order vanished under its natural key".into()))?;
        if existing.row.fingerprint != placement.fingerprint {
            return Err(OrderError::NaturalKeyConflict {
                channel_kind: order.channel.kind,
                channel_name: order.channel.name.clone(),
                external_reference: order.external_reference.as_str().to_owned(),
                order_id: existing.row.order_id.to_string(),
            });
        }
        Ok(existing)
    }
}

/// The order id of a request: required, and an id this service minted.
fn order_id(violations: &mut FieldViolations, value: &str) -> Option<Uuid> {
    violations
        .check("order_id", MintedId::parse(value))
        .map(|id| id.uuid())
}

fn require_order_id(found: Option<Uuid>) -> Result<Uuid, OrderError> {
    found.ok_or_else(|| OrderError::invalid("order_id", "required"))
}

fn invalid(violations: FieldViolations) -> Result<(), OrderError> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(OrderError::Invalid(violations))
    }
}

fn reason(violations: &mut FieldViolations, value: &str, required: bool) {
    if (required && value.trim().is_empty()) || value.chars().count() > 500 {
        let what = if required {
            "must be 1 to 500 characters"
        } else {
            "at most 500 characters"
        };
        violations.add("reason", what);
    }
}

#[tonic::async_trait]
impl OrderService for Orders {
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let request = request.into_inner();
        if let Some(confined) = confined_channel() {
            let channel = request.channel.clone().unwrap_or_default();
            own_channel(
                &confined,
                i32_to_kind(channel.kind),
                &channel.name,
                "place orders for",
            )?;
        }
        let new = convert::new_order(&request, Utc::now())?;
        // The content decides whether a retry is the same order: who sent it and
        // when it says it was placed do not.
        let mut content = request.clone();
        content.actor = None;
        content.place_time = None;
        let fingerprint = idempotency::fingerprint(&content);
        let saga_start = |order_id: Uuid| {
            saga::StartOrderSagaRequest {
                order_id: order_id.to_string(),
                actor: Some(common::Actor {
                    kind: common::ActorKind::System as i32,
                    id: "order".into(),
                }),
            }
            .encode_to_vec()
        };
        let traceparent = current_traceparent();
        let (record, created) = self
            .place(&Placement {
                order: &new,
                fingerprint,
                saga_start: &saga_start,
                traceparent: &traceparent,
            })
            .await?;
        if created {
            tracing::info!(order_id = %record.row.order_id, order_number = %record.row.order_number, "order placed");
        }
        Ok(Response::new(pb::PlaceOrderResponse {
            order: Some(convert::order(&record, false)?),
            created,
        }))
    }

    async fn get_order(
        &self,
        request: Request<pb::GetOrderRequest>,
    ) -> Result<Response<pb::GetOrderResponse>, Status> {
        let request = request.into_inner();
        let by_key = request.channel.is_some() || !request.external_reference.is_empty();
        let record = match (request.order_id.is_empty(), by_key) {
            (false, false) => {
                let mut violations = FieldViolations::new();
                let order_id = order_id(&mut violations, &request.order_id);
                invalid(violations)?;
                self.store.get(require_order_id(order_id)?).await?
            }
            (true, true) => {
                let channel = request.channel.unwrap_or_default();
                let mut violations = FieldViolations::new();
                let channel = violations.check(
                    "channel",
                    crate::domain::Channel::new(channel.kind, &channel.name),
                );
                if request.external_reference.is_empty() {
                    violations.add("external_reference", "required with channel");
                }
                invalid(violations)?;
                let channel = channel.ok_or_else(|| OrderError::invalid("channel", "required"))?;
                self.store
                    .by_natural_key(channel.kind, &channel.name, &request.external_reference)
                    .await?
            }
            _ => {
                return Err(OrderError::invalid(
                    "order_id",
                    "give order_id, or channel with external_reference, not both",
                )
                .into());
            }
        };
        let name = if request.order_id.is_empty() {
            request.external_reference.clone()
        } else {
            request.order_id.clone()
        };
        let record = record.ok_or(OrderError::NotFound(name))?;
        if let Some(confined) = confined_channel() {
            own_channel(
                &confined,
                record.row.channel_kind,
                &record.row.channel_name,
                "read orders of",
            )?;
        }
        Ok(Response::new(pb::GetOrderResponse {
            order: Some(convert::order(&record, request.include_payment_method)?),
        }))
    }

    async fn search_orders(
        &self,
        request: Request<pb::SearchOrdersRequest>,
    ) -> Result<Response<pb::SearchOrdersResponse>, Status> {
        let request = request.into_inner();
        let (mut filter, page) = dashboard::search_request(&request)?;
        if let Some(confined) = confined_channel() {
            for (kind, name) in &filter.channels {
                own_channel(
                    &confined,
                    *kind,
                    name.as_deref().unwrap_or(""),
                    "search orders of",
                )?;
            }
            filter.channels = vec![(confined.kind, Some(confined.name.clone()))];
        }
        let mut rows = self.store.search(&filter, &page).await?;
        let next = dashboard::next_page(&page, &mut rows);
        Ok(Response::new(pb::SearchOrdersResponse {
            orders: rows.iter().map(dashboard::summary).collect(),
            page: Some(next),
        }))
    }

    async fn order_stats(
        &self,
        request: Request<pb::OrderStatsRequest>,
    ) -> Result<Response<pb::OrderStatsResponse>, Status> {
        let request = request.into_inner();
        let zone = if request.time_zone.is_empty() {
            "UTC".to_owned()
        } else {
            request.time_zone.clone()
        };
        let Some(today) = self.store.today_in(&zone).await? else {
            return Err(OrderError::invalid("time_zone", "not an IANA time zone").into());
        };
        let (start, end, channels) = dashboard::stats_request(&request, today)?;
        let (counts, revenue) = self.store.stats(&zone, start, end, &channels).await?;
        Ok(Response::new(dashboard::stats(
            &zone, start, end, &counts, &revenue,
        )))
    }

    async fn customer_summary(
        &self,
        request: Request<pb::CustomerSummaryRequest>,
    ) -> Result<Response<pb::CustomerSummaryResponse>, Status> {
        let request = request.into_inner();
        let (email, phone) = dashboard::customer_request(&request)?;
        let rows = self
            .store
            .customer_orders(email.as_deref(), phone.as_deref())
            .await?;
        let summary = dashboard::customer_summary(&rows)
            .ok_or_else(|| OrderError::NotFound("customer".into()))?;
        Ok(Response::new(pb::CustomerSummaryResponse {
            summary: Some(summary),
        }))
    }

    async fn update_shipping_address(
        &self,
        request: Request<pb::UpdateShippingAddressRequest>,
    ) -> Result<Response<pb::UpdateShippingAddressResponse>, Status> {
        let key = IdempotencyKey::from_metadata(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        convert::complete_address(&mut violations, request.shipping_address.as_ref());
        let actor = convert::actor(&mut violations, request.actor.as_ref());
        reason(&mut violations, &request.reason, false);
        invalid(violations)?;
        let order_id = require_order_id(order_id)?;
        let actor = actor.ok_or_else(|| OrderError::invalid("actor", "required"))?;
        let address = convert::address(
            request
                .shipping_address
                .as_ref()
                .ok_or_else(|| OrderError::invalid("shipping_address", "required"))?,
        );
        const SCOPE: &str = "oms.order.v1.OrderService/UpdateShippingAddress";
        // The key's first response is replayed; the change itself is natural.
        let change = async |tx: &mut PgConnection| {
            let record =
                Store::update_address(tx, order_id, &address, &actor, &request.reason).await?;
            Ok::<_, OrderError>(pb::UpdateShippingAddressResponse {
                order: Some(convert::order(&record, false)?),
            })
        };
        let response = match &key {
            Some(key) => self.idempotency.run(SCOPE, key, &request, change).await?,
            None => {
                let mut tx = self.store.begin().await.map_err(OrderError::from)?;
                let response = change(&mut tx).await?;
                tx.commit().await.map_err(OrderError::from)?;
                response
            }
        };
        Ok(Response::new(response))
    }

    async fn cancel_order(
        &self,
        request: Request<pb::CancelOrderRequest>,
    ) -> Result<Response<pb::CancelOrderResponse>, Status> {
        let key = IdempotencyKey::from_metadata(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        reason(&mut violations, &request.reason, true);
        let actor = convert::actor(&mut violations, request.actor.as_ref());
        if request.lines.len() > 200 {
            violations.add("lines", "must hold at most 200 lines");
        }
        let lines = convert::line_refs(&mut violations, "lines", &request.lines);
        if !request.lines.is_empty() && key.is_none() {
            violations.add(
                "idempotency-key",
                "required metadata for a partial cancellation",
            );
        }
        invalid(violations)?;
        let order_id = require_order_id(order_id)?;
        let actor = actor.ok_or_else(|| OrderError::invalid("actor", "required"))?;
        let traceparent = current_traceparent();
        let cancel = Cancel {
            reason: &request.reason,
            actor: &actor,
            lines: &lines,
            traceparent: &traceparent,
        };
        let start = |cancellation: i32, units: &[EventLine]| {
            saga::StartCancelSagaRequest {
                order_id: order_id.to_string(),
                reason: request.reason.clone(),
                actor: Some(oms_platform::convert::actor_to_proto(&actor)),
                lines: units
                    .iter()
                    .map(|line| pb::LineQuantity {
                        line_id: line.line_id.clone(),
                        sku: String::new(),
                        quantity: line.quantity,
                    })
                    .collect(),
                cancellation,
            }
            .encode_to_vec()
        };
        const SCOPE: &str = "oms.order.v1.OrderService/CancelOrder";
        // A partial cancellation replays its key's first answer; the whole
        // order's is natural (cancelling twice changes nothing).
        let change = async |tx: &mut PgConnection| {
            Store::cancel(tx, order_id, &cancel, start).await?;
            Ok::<_, OrderError>(pb::CancelOrderResponse { order: None })
        };
        let order = match &key {
            Some(key) if !lines.is_empty() => {
                self.idempotency.run(SCOPE, key, &request, change).await?;
                self.order(order_id).await?
            }
            _ => {
                self.change(order_id, async |tx| change(tx).await.map(|_| ()))
                    .await?
            }
        };
        self.outbox.notify_one();
        Ok(Response::new(pb::CancelOrderResponse {
            order: Some(order),
        }))
    }

    async fn add_note(
        &self,
        request: Request<pb::AddNoteRequest>,
    ) -> Result<Response<pb::AddNoteResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        if request.text.is_empty() || request.text.chars().count() > 2000 {
            violations.add("text", "must be 1 to 2000 characters");
        }
        let actor = convert::actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let order_id = require_order_id(order_id)?;
        let actor = actor.ok_or_else(|| OrderError::invalid("actor", "required"))?;
        const SCOPE: &str = "oms.order.v1.OrderService/AddNote";
        let response = self
            .idempotency
            .run(SCOPE, &key, &request, async |tx| {
                let note_id = Store::add_note(tx, order_id, &request.text, &actor).await?;
                // The response names the note; the order is read after the commit.
                Ok::<_, OrderError>(pb::AddNoteResponse {
                    note: Some(pb::Note {
                        note_id: note_id.to_string(),
                        text: request.text.clone(),
                        actor: Some(oms_platform::convert::actor_to_proto(&actor)),
                        create_time: Some(timestamp(Utc::now())),
                    }),
                    order: None,
                })
            })
            .await?;
        let order = self.order(order_id).await?;
        let note = order
            .notes
            .iter()
            .find(|note| Some(&note.note_id) == response.note.as_ref().map(|n| &n.note_id))
            .cloned()
            .or(response.note);
        Ok(Response::new(pb::AddNoteResponse {
            note,
            order: Some(order),
        }))
    }

    async fn add_tags(
        &self,
        request: Request<pb::AddTagsRequest>,
    ) -> Result<Response<pb::AddTagsResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        if request.tags.is_empty() || request.tags.len() > 20 {
            violations.add("tags", "must hold 1 to 20 tags");
        }
        let tags = convert::tags(&mut violations, "tags", &request.tags);
        let actor = convert::actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let order_id = require_order_id(order_id)?;
        let actor = actor.ok_or_else(|| OrderError::invalid("actor", "required"))?;
        let order = self
            .change(order_id, async |tx| {
                Store::add_tags(tx, order_id, &tags, &actor).await
            })
            .await?;
        Ok(Response::new(pb::AddTagsResponse { order: Some(order) }))
    }

    async fn remove_tag(
        &self,
        request: Request<pb::RemoveTagRequest>,
    ) -> Result<Response<pb::RemoveTagResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = order_id(&mut violations, &request.order_id);
        let tag = violations.check("tag", Tag::parse(&request.tag));
        let actor = convert::actor(&mut violations, request.actor.as_ref());
        invalid(violations)?;
        let order_id = require_order_id(order_id)?;
        let (tag, actor) = (
            tag.ok_or_else(|| OrderError::invalid("tag", "required"))?,
            actor.ok_or_else(|| OrderError::invalid("actor", "required"))?,
        );
        let order = self
            .change(order_id, async |tx| {
                Store::remove_tag(tx, order_id, &tag, &actor).await
            })
            .await?;
        Ok(Response::new(pb::RemoveTagResponse { order: Some(order) }))
    }

    async fn mark_status(
        &self,
        request: Request<pb::MarkStatusRequest>,
    ) -> Result<Response<pb::MarkStatusResponse>, Status> {
        let request = request.into_inner();
        let fact = convert::fact(&request)?;
        let read_back = !request.omit_order;
        let applied = apply_fact(&self.store, &fact, read_back).await?;
        if let Some(status) = applied.changed_to {
            tracing::info!(order_id = %fact.order_id, event_id = %fact.event_id, status, "order fact recorded");
        }
        Ok(Response::new(pb::MarkStatusResponse {
            order: applied
                .order
                .map(|record| convert::order(&record, false))
                .transpose()?,
            changed: applied.changed_to.is_some(),
        }))
    }
}

/// What [`apply_fact`] did.
struct Applied {
    /// The order's status code after the fact, when the fact changed the
    /// order; `None` for a retry of an applied fact, which changes nothing.
    changed_to: Option<i16>,
    /// The order as the fact left it, when asked for.
    order: Option<OrderRecord>,
}

/// MarkStatus in one transaction: lock the order, claim the fact's event id
/// (reading the order's lines with it), decide from a snapshot of the order,
/// write the changes, and read the order as they left it when `read_back`
/// (the caller reads it). Reading it back in the transaction answers exactly
/// what was written, in one commit where reading after it took one per query.
async fn apply_fact(store: &Store, fact: &Fact, read_back: bool) -> Result<Applied, OrderError> {
    let mut tx = store.begin().await?;
    let row = Store::lock(&mut tx, fact.order_id).await?;
    let read = async |tx: &mut sqlx::PgConnection| -> Result<Option<OrderRecord>, OrderError> {
        if !read_back {
            return Ok(None);
        }
        let record = Store::read(tx, fact.order_id)
            .await?
            .ok_or_else(|| OrderError::NotFound(fact.order_id.to_string()))?;
        Ok(Some(record))
    };
    let Some(lines) = store::status::claim(&mut tx, fact).await? else {
        let order = read(&mut tx).await?;
        tx.rollback().await?;
        return Ok(Applied {
            changed_to: None,
            order,
        });
    };
    let snapshot = store::status::snapshot(&mut tx, &row, lines, fact).await?;
    let changes = status::decide(fact, &snapshot, Utc::now())?;
    store::status::write(&mut tx, fact.order_id, &changes).await?;
    let order = read(&mut tx).await?;
    tx.commit().await?;
    Ok(Applied {
        changed_to: changes
            .changed()
            .then(|| changes.status.unwrap_or(snapshot.status).code()),
        order,
    })
}

/// The channel the caller's bearer token confines it to: a channel token
/// reads and places only its own channel's orders.
fn confined_channel() -> Option<oms_platform::ids::Channel> {
    oms_platform::access::current_subject()
        .and_then(|subject| subject.confined_to_channel().cloned())
}

/// A contract channel kind code as the store keeps it; 0 for one out of range.
fn i32_to_kind(kind: i32) -> i16 {
    i16::try_from(kind).unwrap_or(0)
}

/// PERMISSION_DENIED unless the channel `kind`/`name` is `confined`; `what`
/// names the refused action, e.g. "read orders of".
fn own_channel(
    confined: &oms_platform::ids::Channel,
    kind: i16,
    name: &str,
    what: &str,
) -> Result<(), Status> {
    if confined.kind == kind && confined.name == name {
        return Ok(());
    }
    Err(Status::permission_denied(format!(
        "a token of channel {} may not {what} another channel",
        oms_platform::auth::format_channel(confined)
    )))
}
