//! `oms.outbox.v1.OutboxService`: what operators see of a service's outbox and
//! how they re-drive the messages a receiver refused for good. Every service
//! with an outbox serves it next to its own contract:
//!
//! ```text
//! GrpcServer::new(&config.server)
//!     .add_service(OrderServiceServer::new(orders))
//!     .add_service(OutboxAdmin::new(pool, wake).into_server())
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use oms_proto::outbox::v1::{
    ListOutboxMessagesRequest, ListOutboxMessagesResponse, OutboxMessage, OutboxMessageState,
    RedriveOutboxMessagesRequest, RedriveOutboxMessagesResponse,
    outbox_service_server::{OutboxService, OutboxServiceServer},
};
use sqlx::{FromRow, PgPool};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};

use crate::{
    convert::{self, timestamp},
    error::{self, FieldViolations},
    idempotency::{Idempotency, IdempotencyKey},
    ids::ActorKind,
    paging::Pages,
};

/// The most messages one RedriveOutboxMessages selects.
const MAX_REDRIVE: usize = 500;
/// The longest topic name a filter may hold.
const MAX_TOPIC: usize = 200;

/// The OutboxService of one service's database.
#[derive(Clone)]
pub struct OutboxAdmin {
    pool: PgPool,
    wake: Arc<Notify>,
    idempotency: Idempotency,
}

impl OutboxAdmin {
    /// Serves the outbox in `pool`'s database; a re-drive wakes the dispatcher
    /// through `wake`.
    pub fn new(pool: PgPool, wake: Arc<Notify>) -> OutboxAdmin {
        OutboxAdmin {
            idempotency: Idempotency::new(pool.clone()),
            pool,
            wake,
        }
    }

    /// The generated server around it, for `GrpcServer::add_service`.
    pub fn into_server(self) -> OutboxServiceServer<OutboxAdmin> {
        OutboxServiceServer::new(self)
    }
}

#[derive(FromRow)]
struct MessageRow {
    id: i64,
    topic: String,
    key: String,
    state: String,
    attempts: i32,
    last_error: String,
    next_attempt_time: DateTime<Utc>,
    create_time: DateTime<Utc>,
    delivered_time: Option<DateTime<Utc>>,
    dead_time: Option<DateTime<Utc>>,
    redrive_count: i32,
    traceparent: String,
}

const COLUMNS: &str = "id, topic, key, state, attempts, last_error, next_attempt_time, create_time,
     delivered_time, dead_time, redrive_count, traceparent";

impl From<MessageRow> for OutboxMessage {
    fn from(row: MessageRow) -> Self {
        let state = match row.state.as_str() {
            "PENDING" => OutboxMessageState::Pending,
            "DELIVERED" => OutboxMessageState::Delivered,
            "DEAD" => OutboxMessageState::Dead,
            _ => OutboxMessageState::Unspecified,
        };
        OutboxMessage {
            message_id: row.id,
            topic: row.topic,
            key: row.key,
            state: state as i32,
            attempts: row.attempts,
            last_error: row.last_error,
            next_attempt_time: (state == OutboxMessageState::Pending)
                .then(|| timestamp(row.next_attempt_time)),
            create_time: Some(timestamp(row.create_time)),
            deliver_time: row.delivered_time.map(timestamp),
            dead_time: row.dead_time.map(timestamp),
            redrive_count: row.redrive_count,
            trace_id: trace_id(&row.traceparent),
        }
    }
}

/// The trace id of a W3C `traceparent` ("00-<trace id>-<span id>-<flags>").
fn trace_id(traceparent: &str) -> String {
    traceparent
        .split('-')
        .nth(1)
        .filter(|id| id.len() == 32)
        .unwrap_or_default()
        .to_owned()
}

fn state_name(state: OutboxMessageState) -> Option<&'static str> {
    match state {
        OutboxMessageState::Unspecified => None,
        OutboxMessageState::Pending => Some("PENDING"),
        OutboxMessageState::Delivered => Some("DELIVERED"),
        OutboxMessageState::Dead => Some("DEAD"),
    }
}

#[tonic::async_trait]
impl OutboxService for OutboxAdmin {
    async fn list_outbox_messages(
        &self,
        request: Request<ListOutboxMessagesRequest>,
    ) -> Result<Response<ListOutboxMessagesResponse>, Status> {
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        let state = match OutboxMessageState::try_from(request.state) {
            Ok(state) => state_name(state),
            Err(_) => {
                violations.add("state", "not an OutboxMessageState");
                None
            }
        };
        if request.topic.chars().count() > MAX_TOPIC {
            violations.add("topic", "must be at most 200 characters");
        }
        let pages = Pages::<i64>::of_request(&request, |r| r.page.take(), &mut violations);
        violations.into_result()?;

        let sql = format!(
            "SELECT {COLUMNS} FROM outbox_messages
             WHERE ($1::text IS NULL OR state = $1) AND ($2 = '' OR topic = $2)
               AND ($3::bigint IS NULL OR id < $3)
             ORDER BY id DESC
             LIMIT $4"
        );
        let mut rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(state)
            .bind(&request.topic)
            .bind(pages.after)
            .bind(pages.fetch())
            .fetch_all(&self.pool)
            .await
            .map_err(|err| error::database(&err))?;
        let page = pages.finish(&mut rows, |row| row.id);
        Ok(Response::new(ListOutboxMessagesResponse {
            messages: rows.into_iter().map(OutboxMessage::from).collect(),
            page: Some(page),
        }))
    }

    async fn redrive_outbox_messages(
        &self,
        request: Request<RedriveOutboxMessagesRequest>,
    ) -> Result<Response<RedriveOutboxMessagesResponse>, Status> {
        let key = IdempotencyKey::from_metadata(request.metadata())?;
        let request = request.into_inner();
        let mut violations = FieldViolations::new();
        if key.is_none() {
            violations.add(crate::idempotency::METADATA_KEY, "required for this call");
        }
        match (request.message_ids.is_empty(), request.topic.is_empty()) {
            (true, true) => violations.add("message_ids", "message_ids or topic is required"),
            (false, false) => violations.add("topic", "give message_ids or topic, not both"),
            _ => {}
        }
        if request.message_ids.len() > MAX_REDRIVE {
            violations.add("message_ids", "at most 500 per call");
        }
        if let Some(at) = request.message_ids.iter().position(|id| *id <= 0) {
            violations.add(format!("message_ids[{at}]"), "must be positive");
        }
        if request.topic.chars().count() > MAX_TOPIC {
            violations.add("topic", "must be at most 200 characters");
        }
        if let Some(actor) = convert::actor(&mut violations, request.actor.as_ref())
            && actor.kind != ActorKind::Operator
        {
            violations.add("actor.kind", "must be ACTOR_KIND_OPERATOR");
        }
        let reason_length = request.reason.chars().count();
        if reason_length == 0 || reason_length > 500 {
            violations.add("reason", "must be 1 to 500 characters");
        }
        violations.into_result()?;
        let Some(key) = key else {
            return Err(error::invalid_argument(
                crate::idempotency::METADATA_KEY,
                "required for this call",
            ));
        };

        const SCOPE: &str = "oms.outbox.v1.OutboxService/RedriveOutboxMessages";
        let database = |err: sqlx::Error| error::database(&err);
        let response = self
            .idempotency
            .run(SCOPE, &key, &request, async |tx| {
                let selected: Vec<i64> = if request.topic.is_empty() {
                    let found: Vec<i64> =
                        sqlx::query_scalar("SELECT id FROM outbox_messages WHERE id = ANY($1)")
                            .bind(&request.message_ids)
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(database)?;
                    if let Some(missing) = request.message_ids.iter().find(|id| !found.contains(id))
                    {
                        return Err(error::not_found("outbox message", &missing.to_string()));
                    }
                    request.message_ids.clone()
                } else {
                    sqlx::query_scalar(
                        "SELECT id FROM outbox_messages WHERE state = 'DEAD' AND topic = $1
                         ORDER BY id LIMIT $2",
                    )
                    .bind(&request.topic)
                    .bind(i64::try_from(MAX_REDRIVE).unwrap_or(i64::MAX))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(database)?
                };
                let redriven = sqlx::query(
                    "UPDATE outbox_messages
                     SET state = 'PENDING', attempts = 0, next_attempt_time = now(),
                         dead_time = NULL, redrive_count = redrive_count + 1
                     WHERE id = ANY($1) AND state = 'DEAD'",
                )
                .bind(&selected)
                .execute(&mut *tx)
                .await
                .map_err(database)?
                .rows_affected();
                let sql =
                    format!("SELECT {COLUMNS} FROM outbox_messages WHERE id = ANY($1) ORDER BY id");
                let rows: Vec<MessageRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(&selected)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(database)?;
                Ok::<_, Status>(RedriveOutboxMessagesResponse {
                    messages: rows.into_iter().map(OutboxMessage::from).collect(),
                    redriven_count: i32::try_from(redriven).unwrap_or(i32::MAX),
                })
            })
            .await?;
        let redriven = u64::try_from(response.redriven_count).unwrap_or(0);
        if redriven > 0 {
            self.wake.notify_one();
        }
        let actor = request.actor.unwrap_or_default();
        let message_ids: Vec<i64> = response.messages.iter().map(|m| m.message_id).collect();
        tracing::info!(
            actor_id = %actor.id,
            redriven,
            ?message_ids,
            "outbox: parked messages re-driven by an operator"
        );
        Ok(Response::new(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_is_read_from_a_traceparent() {
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(trace_id(""), "");
        assert_eq!(trace_id("00-short-00f067aa0ba902b7-01"), "");
    }
}
