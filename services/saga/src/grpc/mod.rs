//! The gRPC face of the coordinator: `oms.saga.v1.SagaService`. Starts hand
//! the saga to the engine and return at once; reads convert the record; the
//! operator actions change a STUCK saga in one idempotent transaction and hand
//! it back to the engine. Proto types stop here.

mod convert;

use std::time::Duration;

use chrono::{DateTime, Utc};
use oms_platform::{
    convert::actor as request_actor,
    error::FieldViolations,
    idempotency::{Idempotency, IdempotencyKey},
    ids::{ActorKind, MintedId, Sku},
    paging::Pages,
    rpc::current_traceparent,
};
use oms_proto::saga::v1::{self as pb, saga_service_server::SagaService};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    domain::{
        SagaKind, SagaState,
        saga::{ActorRecord, NewSaga},
    },
    engine::Engine,
    error::SagaError,
    flows,
    store::{Claimed, Filter, Store},
};

/// The longest age filter of ListSagas.
const MAX_AGE: Duration = Duration::from_secs(3650 * 24 * 3600);

/// The saga service.
pub struct SagaApi {
    engine: Engine,
    idempotency: Idempotency,
}

impl SagaApi {
    /// Serves the sagas of `engine`.
    pub fn new(engine: Engine) -> SagaApi {
        SagaApi {
            idempotency: Idempotency::new(engine.store().pool().clone()),
            engine,
        }
    }
}

fn actor_record(actor: &oms_platform::ids::Actor) -> ActorRecord {
    ActorRecord {
        kind: i32::from(actor.kind.code()),
        id: actor.id.clone(),
    }
}

/// The highest cancellation number of an order.
const MAX_CANCELLATION: i32 = 10_000;

/// A partial cancellation's lines, checked: each named by an order line id
/// (an id the order service minted) or a SKU, with at least one unit. The
/// order service checked them against the order before.
fn cancel_lines(
    violations: &mut FieldViolations,
    lines: &[oms_proto::order::v1::LineQuantity],
) -> Vec<flows::cancel::Requested> {
    if lines.len() > 200 {
        violations.add("lines", "must hold at most 200 lines");
        return Vec::new();
    }
    let mut checked = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let field = format!("lines[{index}]");
        if line.line_id.is_empty() == line.sku.is_empty() {
            violations.add(&field, "name the line by exactly one of line_id and sku");
            continue;
        }
        if !line.line_id.is_empty() {
            violations.check(format!("{field}.line_id"), MintedId::parse(&line.line_id));
        } else {
            violations.check(format!("{field}.sku"), Sku::parse(&line.sku));
        }
        if line.quantity < 1 {
            violations.add(format!("{field}.quantity"), "must be at least 1");
        }
        checked.push(flows::cancel::Requested {
            line_id: line.line_id.clone(),
            sku: line.sku.clone(),
            quantity: line.quantity,
        });
    }
    checked
}

fn saga_id(violations: &mut FieldViolations, value: &str) -> Option<Uuid> {
    if value.is_empty() {
        violations.add("saga_id", "required");
        return None;
    }
    violations.check(
        "saga_id",
        Uuid::parse_str(value).map_err(|_| "must be a saga id (a UUID)"),
    )
}

/// What an operator action asks, checked.
struct OperatorRequest {
    saga_id: Uuid,
    actor: ActorRecord,
    reason: String,
}

fn operator_request(
    saga_id_text: &str,
    actor: Option<&oms_proto::common::v1::Actor>,
    reason: &str,
) -> Result<OperatorRequest, SagaError> {
    let mut violations = FieldViolations::new();
    let id = saga_id(&mut violations, saga_id_text);
    let actor = request_actor(&mut violations, actor);
    if let Some(actor) = &actor
        && actor.kind != ActorKind::Operator
    {
        violations.add("actor.kind", "must be ACTOR_KIND_OPERATOR");
    }
    let length = reason.chars().count();
    if length == 0 || length > 500 {
        violations.add("reason", "must be 1 to 500 characters");
    }
    match (id, actor, violations.is_empty()) {
        (Some(saga_id), Some(actor), true) => Ok(OperatorRequest {
            saga_id,
            actor: actor_record(&actor),
            reason: reason.to_owned(),
        }),
        _ => Err(SagaError::Invalid(violations)),
    }
}

impl SagaApi {
    async fn start(&self, new: NewSaga) -> Result<(pb::Saga, bool), SagaError> {
        let (saga, created) = self.engine.start(new).await?;
        if created {
            tracing::info!(saga_id = %saga.saga_id, kind = saga.kind.name(), order_id = %saga.order_id, "saga started");
        }
        Ok((convert::saga(&saga), created))
    }

    /// RetrySaga and CompensateSaga: one idempotent transaction that changes
    /// the STUCK saga and takes it for this replica, whose engine runs it once
    /// committed.
    async fn operator_action<R>(
        &self,
        scope: &str,
        key: &IdempotencyKey,
        request: &R,
        checked: OperatorRequest,
        compensate: bool,
    ) -> Result<pb::Saga, SagaError>
    where
        R: prost::Message,
    {
        let owner = self.engine.owner().to_owned();
        let lease = self.engine.lease();
        let mut taken: Option<Claimed> = None;
        let saga = self
            .idempotency
            .run(scope, key, request, async |tx| {
                let claimed = Store::lock(tx, checked.saga_id)
                    .await?
                    .ok_or_else(|| SagaError::NotFound(checked.saga_id.to_string()))?;
                let mut saga = claimed.saga;
                let now = Utc::now();
                let flow = flows::definition(saga.kind, saga.flow_version).ok_or_else(|| {
                    SagaError::Corrupt(format!("no flow for saga {}", saga.saga_id))
                })?;
                let not_actionable =
                    |why, saga: &crate::domain::saga::Saga| SagaError::NotActionable {
                        why,
                        state: saga.state,
                        kind: saga.kind,
                    };
                let applied = if compensate {
                    let forward_only = flows::forward_only(saga.kind, saga.body.pivot_passed);
                    saga.compensate_by_operator(
                        flow,
                        forward_only,
                        checked.actor.clone(),
                        checked.reason.clone(),
                        now,
                    )
                } else {
                    saga.retry_by_operator(checked.actor.clone(), checked.reason.clone(), now)
                };
                applied.map_err(|why| not_actionable(why, &saga))?;
                let fence = Store::take_for_operator(tx, &saga, &owner, lease).await?;
                saga.owner_id = Some(owner.clone());
                let view = convert::saga(&saga);
                taken = Some(Claimed {
                    saga,
                    fence,
                    abort_requested: claimed.abort_requested,
                });
                Ok::<_, SagaError>(view)
            })
            .await?;
        if let Some(claimed) = taken {
            tracing::info!(saga_id = %claimed.saga.saga_id, compensate, "operator action on a stuck saga");
            self.engine.run(claimed);
        }
        Ok(saga)
    }

    async fn list(
        &self,
        request: &pb::ListSagasRequest,
    ) -> Result<pb::ListSagasResponse, SagaError> {
        let mut violations = FieldViolations::new();
        let kind = match request.kind {
            0 => None,
            code => {
                let kind = SagaKind::from_code(code);
                if kind.is_none() {
                    violations.add("kind", "not a SagaKind");
                }
                kind
            }
        };
        let mut states = Vec::new();
        for (index, code) in request.states.iter().enumerate() {
            match SagaState::from_code(*code) {
                Some(state) => states.push(state),
                None => violations.add(format!("states[{index}]"), "not a SagaState"),
            }
        }
        if request.stuck_only {
            states = vec![SagaState::Stuck];
        }
        let order_id = if request.order_id.is_empty() {
            None
        } else {
            violations
                .check("order_id", MintedId::parse(&request.order_id))
                .map(|id| id.as_str().to_owned())
        };
        let return_id = if request.return_id.is_empty() {
            None
        } else if request.return_id.len() > 128 {
            violations.add("return_id", "must be at most 128 characters");
            None
        } else {
            Some(request.return_id.clone())
        };
        let created_before = match &request.min_age {
            None => None,
            Some(age) => match std::time::Duration::try_from(*age) {
                Ok(age) if age <= MAX_AGE => chrono::Duration::from_std(age)
                    .ok()
                    .map(|age| Utc::now() - age),
                _ => {
                    violations.add("min_age", "must be 0 to 3650 days");
                    None
                }
            },
        };
        let pages: Pages<(DateTime<Utc>, Uuid)> =
            Pages::of_request(request, |r| r.page.take(), &mut violations);
        if !violations.is_empty() {
            return Err(SagaError::Invalid(violations));
        }
        let filter = Filter {
            kind,
            states,
            order_id,
            return_id,
            created_before,
            created_after: None,
        };
        let mut sagas = self
            .engine
            .store()
            .list(&filter, pages.after, pages.fetch())
            .await?;
        let page = pages.finish(&mut sagas, |saga| (saga.create_time, saga.saga_id));
        Ok(pb::ListSagasResponse {
            sagas: sagas.iter().map(convert::saga).collect(),
            page: Some(page),
        })
    }
}

#[tonic::async_trait]
impl SagaService for SagaApi {
    async fn start_order_saga(
        &self,
        request: Request<pb::StartOrderSagaRequest>,
    ) -> Result<Response<pb::StartOrderSagaResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = if request.order_id.is_empty() {
            violations.add("order_id", "required");
            None
        } else {
            violations.check("order_id", MintedId::parse(&request.order_id))
        };
        let actor = request_actor(&mut violations, request.actor.as_ref());
        let (Some(order_id), Some(actor), true) = (order_id, actor, violations.is_empty()) else {
            return Err(SagaError::Invalid(violations).into());
        };
        let new = NewSaga {
            kind: SagaKind::Order,
            flow_version: flows::order::VERSION,
            order_id: order_id.as_str().to_owned(),
            return_id: String::new(),
            cancellation: 0,
            cancel_reason: String::new(),
            started_by: actor_record(&actor),
            traceparent: current_traceparent(),
            data: serde_json::Value::Null,
        };
        let (saga, created) = self.start(new).await?;
        Ok(Response::new(pb::StartOrderSagaResponse {
            saga: Some(saga),
            created,
        }))
    }

    async fn start_cancel_saga(
        &self,
        request: Request<pb::StartCancelSagaRequest>,
    ) -> Result<Response<pb::StartCancelSagaResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let order_id = violations.check("order_id", MintedId::parse(&request.order_id));
        let length = request.reason.chars().count();
        if length == 0 || length > 500 {
            violations.add("reason", "must be 1 to 500 characters");
        }
        let actor = request_actor(&mut violations, request.actor.as_ref());
        let lines = cancel_lines(&mut violations, &request.lines);
        if !(0..=MAX_CANCELLATION).contains(&request.cancellation) {
            violations.add("cancellation", "must be 0 to 10000");
        } else if request.cancellation == 0 && !request.lines.is_empty() {
            violations.add(
                "cancellation",
                "must be 1 or more for a partial cancellation",
            );
        } else if request.cancellation > 0 && request.lines.is_empty() {
            violations.add("lines", "required for a partial cancellation");
        }
        let (Some(order_id), Some(actor), true) = (order_id, actor, violations.is_empty()) else {
            return Err(SagaError::Invalid(violations).into());
        };
        let started_by = actor_record(&actor);
        let new = NewSaga {
            kind: SagaKind::Cancel,
            flow_version: flows::cancel::VERSION,
            order_id: order_id.as_str().to_owned(),
            return_id: String::new(),
            cancellation: request.cancellation,
            cancel_reason: request.reason.clone(),
            started_by: started_by.clone(),
            traceparent: current_traceparent(),
            data: flows::cancel::initial_data(lines.clone()),
        };
        let (saga, created) = self.engine.start(new).await?;
        // One cancel saga per cancellation: the same cancel again is answered
        // with it, another one is a conflict.
        if !created
            && (saga.body.cancel_reason != request.reason
                || saga.body.started_by != started_by
                || flows::cancel::requested(&saga.body.data) != lines)
        {
            return Err(SagaError::CancelKeyReused {
                order_id: saga.order_id,
            }
            .into());
        }
        if created {
            tracing::info!(
                saga_id = %saga.saga_id,
                order_id = %saga.order_id,
                cancellation = saga.cancellation,
                "cancel saga started"
            );
        }
        Ok(Response::new(pb::StartCancelSagaResponse {
            saga: Some(convert::saga(&saga)),
            created,
        }))
    }

    async fn start_return_saga(
        &self,
        request: Request<pb::StartReturnSagaRequest>,
    ) -> Result<Response<pb::StartReturnSagaResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let return_id = violations.check("return_id", MintedId::parse(&request.return_id));
        let actor = request_actor(&mut violations, request.actor.as_ref());
        let (Some(return_id), Some(actor), true) = (return_id, actor, violations.is_empty()) else {
            return Err(SagaError::Invalid(violations).into());
        };
        let return_id = return_id.as_str().to_owned();
        // A retry finds the saga without asking the returns service.
        if let Some(existing) = self
            .engine
            .store()
            .by_natural_key(SagaKind::Return, "", &return_id, 0)
            .await?
        {
            return Ok(Response::new(pb::StartReturnSagaResponse {
                saga: Some(convert::saga(&existing.saga)),
                created: false,
            }));
        }
        // The saga names its order from the start, so ListSagas by order finds it.
        let rma = self
            .engine
            .peers()
            .returns
            .clone()
            .get_return(oms_proto::returns::v1::GetReturnRequest {
                return_id: return_id.clone(),
            })
            .await?
            .into_inner()
            .rma
            .unwrap_or_default();
        let new = NewSaga {
            kind: SagaKind::Return,
            flow_version: flows::returns::VERSION,
            order_id: rma.order_id,
            return_id,
            cancellation: 0,
            cancel_reason: String::new(),
            started_by: actor_record(&actor),
            traceparent: current_traceparent(),
            data: serde_json::Value::Null,
        };
        let (saga, created) = self.engine.start(new).await?;
        if created {
            tracing::info!(
                saga_id = %saga.saga_id,
                return_id = %saga.return_id,
                order_id = %saga.order_id,
                "return saga started"
            );
        }
        Ok(Response::new(pb::StartReturnSagaResponse {
            saga: Some(convert::saga(&saga)),
            created,
        }))
    }

    async fn get_saga(
        &self,
        request: Request<pb::GetSagaRequest>,
    ) -> Result<Response<pb::GetSagaResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let Some(id) = saga_id(&mut violations, &request.saga_id) else {
            return Err(SagaError::Invalid(violations).into());
        };
        let claimed = self
            .engine
            .store()
            .get(id)
            .await?
            .ok_or_else(|| SagaError::NotFound(id.to_string()))?;
        Ok(Response::new(pb::GetSagaResponse {
            saga: Some(convert::saga(&claimed.saga)),
        }))
    }

    async fn list_sagas(
        &self,
        request: Request<pb::ListSagasRequest>,
    ) -> Result<Response<pb::ListSagasResponse>, Status> {
        Ok(Response::new(self.list(request.get_ref()).await?))
    }

    async fn retry_saga(
        &self,
        request: Request<pb::RetrySagaRequest>,
    ) -> Result<Response<pb::RetrySagaResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let request = request.into_inner();
        let checked = operator_request(&request.saga_id, request.actor.as_ref(), &request.reason)?;
        let saga = self
            .operator_action(
                "oms.saga.v1.SagaService/RetrySaga",
                &key,
                &request,
                checked,
                false,
            )
            .await?;
        Ok(Response::new(pb::RetrySagaResponse { saga: Some(saga) }))
    }

    async fn compensate_saga(
        &self,
        request: Request<pb::CompensateSagaRequest>,
    ) -> Result<Response<pb::CompensateSagaResponse>, Status> {
        let key = IdempotencyKey::require(request.metadata())?;
        let request = request.into_inner();
        let checked = operator_request(&request.saga_id, request.actor.as_ref(), &request.reason)?;
        let saga = self
            .operator_action(
                "oms.saga.v1.SagaService/CompensateSaga",
                &key,
                &request,
                checked,
                true,
            )
            .await?;
        Ok(Response::new(pb::CompensateSagaResponse {
            saga: Some(saga),
        }))
    }
}
