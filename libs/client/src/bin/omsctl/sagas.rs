//! `omsctl sagas ...` and `omsctl outbox ...`: what operators follow and fix
//! (stuck sagas, parked outbox messages), and the wait for a saga's end that
//! other commands' `--wait` uses.

use clap::Subcommand;
use oms_platform::config::Service;
use oms_proto::{
    common::v1::PageRequest,
    outbox::v1::{ListOutboxMessagesRequest, OutboxMessageState, RedriveOutboxMessagesRequest},
    saga::v1::{
        CompensateSagaRequest, GetSagaRequest, ListSagasRequest, RetrySagaRequest, Saga, SagaKind,
        SagaState, StepState,
    },
};

use crate::{
    Ctx, Failure, POLL, enum_label,
    output::to_json,
    output::{self, Table, or_dash, say, time},
    refused, service_named,
};

/// The saga commands.
#[derive(Subcommand)]
pub enum SagasCommand {
    /// List sagas, newest first.
    List {
        /// Only STUCK sagas: what operators must fix.
        #[arg(long)]
        stuck: bool,
        /// Only this order's sagas.
        #[arg(long)]
        order: Option<String>,
        /// Only this return's saga.
        #[arg(long = "return")]
        return_id: Option<String>,
        /// Only this kind: order, cancel, return.
        #[arg(long)]
        kind: Option<String>,
        /// Only these states (running, compensating, completed, compensated,
        /// stuck); repeatable.
        #[arg(long = "state")]
        states: Vec<String>,
        /// At most this many sagas.
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Show one saga with every step, its errors and its trace id.
    Get {
        /// The saga's id.
        saga: String,
    },
    /// Resume a STUCK saga where it stopped, once its cause is fixed.
    Retry {
        /// The saga's id.
        saga: String,
        /// What was fixed (never personal data).
        #[arg(long)]
        reason: String,
    },
    /// Give up on a STUCK saga and undo what it did.
    Compensate {
        /// The saga's id.
        saga: String,
        /// Why (never personal data).
        #[arg(long)]
        reason: String,
    },
}

/// The outbox commands.
#[derive(Subcommand)]
pub enum OutboxCommand {
    /// List a service's outbox messages: the parked (DEAD) ones unless
    /// --state says otherwise.
    List {
        /// order, shipping or returns.
        service: String,
        /// dead, pending, delivered or all.
        #[arg(long, default_value = "dead")]
        state: String,
        /// Only this topic.
        #[arg(long)]
        topic: Option<String>,
        /// At most this many messages.
        #[arg(long, default_value_t = 50)]
        limit: i32,
    },
    /// Put parked messages back in the queue, by id or by topic.
    Redrive {
        /// order, shipping or returns.
        service: String,
        /// A message id; repeatable.
        #[arg(long = "id", required_unless_present = "topic")]
        ids: Vec<i64>,
        /// Every parked message of this topic.
        #[arg(long, conflicts_with = "ids")]
        topic: Option<String>,
        /// What was fixed (never personal data).
        #[arg(long)]
        reason: String,
    },
}

impl OutboxCommand {
    /// The service whose outbox the command reads.
    pub fn service(&self) -> Result<Service, Failure> {
        let (OutboxCommand::List { service, .. } | OutboxCommand::Redrive { service, .. }) = self;
        service_named(service)
    }
}

/// Runs a saga command.
pub async fn run(ctx: &Ctx, command: SagasCommand) -> Result<(), Failure> {
    match command {
        SagasCommand::List {
            stuck,
            order,
            return_id,
            kind,
            states,
            limit,
        } => {
            let order_id = match order {
                Some(order) => crate::orders::resolve(ctx, &order).await?,
                None => String::new(),
            };
            let request = ListSagasRequest {
                kind: kind
                    .as_deref()
                    .map(parse_kind)
                    .transpose()?
                    .unwrap_or_default() as i32,
                states: states
                    .iter()
                    .map(|state| parse_state(state).map(|state| state as i32))
                    .collect::<Result<_, _>>()?,
                order_id,
                return_id: return_id.unwrap_or_default(),
                stuck_only: stuck,
                page: Some(PageRequest {
                    page_size: limit,
                    page_token: String::new(),
                }),
                min_age: None,
            };
            let response = ctx
                .oms
                .saga
                .list_sagas(request)
                .await
                .map_err(refused(Service::Saga))?;
            if ctx.json() {
                output::json(&to_json(&response)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                "SAGA",
                "KIND",
                "STATE",
                "ORDER",
                "STEP",
                "STUCK BECAUSE",
                "TRACE",
                "CREATED",
            ]);
            for saga in &response.sagas {
                table.row(vec![
                    saga.saga_id.clone(),
                    enum_label!(SagaKind, saga.kind, "SAGA_KIND_"),
                    enum_label!(SagaState, saga.state, "SAGA_STATE_"),
                    or_dash(&saga.order_id),
                    or_dash(&saga.current_step),
                    or_dash(&saga.stuck_reason),
                    or_dash(&saga.trace_id),
                    time(saga.create_time.as_ref()),
                ]);
            }
            say(table.render(0));
            Ok(())
        }
        SagasCommand::Get { saga } => {
            let saga = ctx
                .oms
                .saga
                .get_saga(GetSagaRequest { saga_id: saga })
                .await
                .map_err(refused(Service::Saga))?
                .saga
                .unwrap_or_default();
            if ctx.json() {
                output::json(&to_json(&saga)?);
            } else {
                print_saga(&saga);
            }
            Ok(())
        }
        SagasCommand::Retry { saga, reason } => {
            let key = ctx.key("retry");
            let request = RetrySagaRequest {
                saga_id: saga,
                actor: Some(ctx.actor.clone()),
                reason,
            };
            let saga = ctx
                .oms
                .saga
                .retry_saga(request, &key)
                .await
                .map_err(refused(Service::Saga))?
                .saga
                .unwrap_or_default();
            acted(ctx, &saga, "resumed")
        }
        SagasCommand::Compensate { saga, reason } => {
            let key = ctx.key("compensation");
            let request = CompensateSagaRequest {
                saga_id: saga,
                actor: Some(ctx.actor.clone()),
                reason,
            };
            let saga = ctx
                .oms
                .saga
                .compensate_saga(request, &key)
                .await
                .map_err(refused(Service::Saga))?
                .saga
                .unwrap_or_default();
            acted(ctx, &saga, "compensating")
        }
    }
}

fn acted(ctx: &Ctx, saga: &Saga, what: &str) -> Result<(), Failure> {
    if ctx.json() {
        output::json(&to_json(saga)?);
    } else {
        say(format!(
            "saga {} {what}: {}",
            saga.saga_id,
            enum_label!(SagaState, saga.state, "SAGA_STATE_")
        ));
    }
    Ok(())
}

/// Prints a saga: its state, trace id, failure, and a row per step.
pub fn print_saga(saga: &Saga) {
    say(format!(
        "  saga {} {} {}  trace {}",
        saga.saga_id,
        enum_label!(SagaKind, saga.kind, "SAGA_KIND_"),
        enum_label!(SagaState, saga.state, "SAGA_STATE_"),
        or_dash(&saga.trace_id)
    ));
    if let Some(failure) = &saga.failure {
        say(format!(
            "  failed at {}: {} {} {}",
            failure.step, failure.code, failure.reason, failure.message
        ));
    }
    if !saga.stuck_reason.is_empty() {
        say(format!(
            "  stuck at {}: {}",
            saga.stuck_step, saga.stuck_reason
        ));
    }
    let mut steps = Table::new(&["#", "STEP", "STATE", "ATTEMPTS", "DETAIL"]);
    for step in &saga.steps {
        let mut detail = step.detail.clone();
        if let Some(error) = &step.last_error {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&format!("{} {}", error.code, or_dash(&error.reason)));
        }
        let attempts = if step.compensation_attempts > 0 {
            format!("{}+{}", step.forward_attempts, step.compensation_attempts)
        } else {
            step.forward_attempts.to_string()
        };
        steps.row(vec![
            step.index.to_string(),
            step.name.clone(),
            enum_label!(StepState, step.state, "STEP_STATE_"),
            attempts,
            detail,
        ]);
    }
    say(steps.render(4));
}

/// Waits until the newest saga of `kind` for the order (or the return) has
/// ended (COMPLETED, COMPENSATED) or is STUCK, and returns it; a failure when
/// `--wait-timeout` passes first.
pub async fn wait_for(
    ctx: &Ctx,
    kind: SagaKind,
    order_id: &str,
    return_id: &str,
) -> Result<Saga, Failure> {
    let deadline = tokio::time::Instant::now() + ctx.wait;
    let mut last = None;
    loop {
        let request = ListSagasRequest {
            kind: kind as i32,
            order_id: order_id.to_owned(),
            return_id: return_id.to_owned(),
            page: Some(PageRequest {
                page_size: 1,
                page_token: String::new(),
            }),
            ..Default::default()
        };
        let newest = ctx
            .oms
            .saga
            .list_sagas(request)
            .await
            .map_err(refused(Service::Saga))?
            .sagas
            .into_iter()
            .next();
        if let Some(saga) = newest {
            let ended = [
                SagaState::Completed,
                SagaState::Compensated,
                SagaState::Stuck,
            ]
            .iter()
            .any(|state| *state as i32 == saga.state);
            if ended {
                return Ok(saga);
            }
            last = Some(saga);
        }
        if tokio::time::Instant::now() >= deadline {
            let what = last.map_or_else(
                || "no saga has started".to_owned(),
                |saga| {
                    format!(
                        "saga {} is {} at {}",
                        saga.saga_id,
                        enum_label!(SagaState, saga.state, "SAGA_STATE_"),
                        saga.current_step
                    )
                },
            );
            return Err(Failure::Failed(format!(
                "gave up waiting after {}: {what} (raise --wait-timeout, or look with omsctl sagas list)",
                humantime::format_duration(ctx.wait)
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn parse_kind(text: &str) -> Result<SagaKind, Failure> {
    SagaKind::from_str_name(&format!("SAGA_KIND_{}", text.to_ascii_uppercase())).ok_or_else(|| {
        Failure::Usage(format!(
            "unknown saga kind {text:?}; kinds are order, cancel, return"
        ))
    })
}

fn parse_state(text: &str) -> Result<SagaState, Failure> {
    SagaState::from_str_name(&format!("SAGA_STATE_{}", text.to_ascii_uppercase()))
        .ok_or_else(|| {
            Failure::Usage(format!(
                "unknown saga state {text:?}; states are running, compensating, completed, compensated, stuck"
            ))
        })
}

/// Runs an outbox command.
pub async fn outbox(ctx: &Ctx, command: OutboxCommand) -> Result<(), Failure> {
    let service = command.service()?;
    let client = ctx
        .oms
        .outbox(service)
        .map_err(|err| Failure::Usage(err.to_string()))?;
    match command {
        OutboxCommand::List {
            state,
            topic,
            limit,
            ..
        } => {
            let state = if state == "all" {
                OutboxMessageState::Unspecified
            } else {
                OutboxMessageState::from_str_name(&format!(
                    "OUTBOX_MESSAGE_STATE_{}",
                    state.to_ascii_uppercase()
                ))
                .ok_or_else(|| {
                    Failure::Usage(format!(
                        "unknown message state {state:?}; states are dead, pending, delivered, all"
                    ))
                })?
            };
            let request = ListOutboxMessagesRequest {
                state: state as i32,
                topic: topic.unwrap_or_default(),
                page: Some(PageRequest {
                    page_size: limit,
                    page_token: String::new(),
                }),
            };
            let response = client
                .list_outbox_messages(request)
                .await
                .map_err(refused(service))?;
            if ctx.json() {
                output::json(&to_json(&response)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                "ID",
                "TOPIC",
                "KEY",
                "STATE",
                "ATTEMPTS",
                "LAST ERROR",
                "CREATED",
                "TRACE",
            ]);
            for message in &response.messages {
                table.row(vec![
                    message.message_id.to_string(),
                    message.topic.clone(),
                    message.key.clone(),
                    enum_label!(OutboxMessageState, message.state, "OUTBOX_MESSAGE_STATE_"),
                    message.attempts.to_string(),
                    or_dash(&message.last_error),
                    time(message.create_time.as_ref()),
                    or_dash(&message.trace_id),
                ]);
            }
            say(table.render(0));
            if response.messages.is_empty() {
                say(format!(
                    "(no {state} messages in the {service} outbox)",
                    state = state
                        .as_str_name()
                        .trim_start_matches("OUTBOX_MESSAGE_STATE_")
                        .to_lowercase()
                ));
            }
            Ok(())
        }
        OutboxCommand::Redrive {
            ids, topic, reason, ..
        } => {
            let key = ctx.key("re-drive");
            let request = RedriveOutboxMessagesRequest {
                message_ids: ids,
                topic: topic.unwrap_or_default(),
                actor: Some(ctx.actor.clone()),
                reason,
            };
            let response = client
                .redrive_outbox_messages(request, &key)
                .await
                .map_err(refused(service))?;
            if ctx.json() {
                output::json(&to_json(&response)?);
            } else {
                say(format!(
                    "{} of {} messages re-driven",
                    response.redriven_count,
                    response.messages.len()
                ));
            }
            Ok(())
        }
    }
}
