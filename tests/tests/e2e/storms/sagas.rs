//! The saga coordinator's storms, on a suite that runs it: each Start RPC
//! stormed for one natural key makes one saga, and each operator action
//! stormed with one key is recorded once. The coordinator here gives a
//! return's parcel one second to arrive, so a return saga can be STUCK for
//! CompensateSaga.

use std::time::Duration;

use bytes::Bytes;
use oms_e2e::{Settings, Suite};
use oms_platform::config::Service;
use oms_proto::{
    returns::v1::{MarkReturnInTransitRequest, ReturnStatus},
    saga::v1::{
        self as saga, CompensateSagaRequest, GetSagaRequest, ListSagasRequest, OperatorActionKind,
        RetrySagaRequest, Saga, SagaKind, SagaState, StartCancelSagaRequest, StartOrderSagaRequest,
        StartReturnSagaRequest,
    },
};
use oms_testkit::poll_until;

use super::{
    seed::{self, Step, operator, timestamp},
    storm,
    table::{BoxFuture, Entry, Prepared, decoded, once, prepared},
};

/// How long seeding waits for a saga to reach a state.
const SETTLE: Duration = Duration::from_secs(30);

/// The rows of the saga coordinator's mutating RPCs.
pub fn table() -> Vec<Entry> {
    fn row(rpc: &'static str, prepare: for<'a> fn(&'a Suite) -> BoxFuture<'a, Prepared>) -> Entry {
        Entry {
            rpc,
            server: Service::Saga,
            prepare,
        }
    }
    vec![
        row("oms.saga.v1.SagaService/StartOrderSaga", |suite| {
            Box::pin(start_order_saga(suite))
        }),
        row("oms.saga.v1.SagaService/StartCancelSaga", |suite| {
            Box::pin(start_cancel_saga(suite))
        }),
        row("oms.saga.v1.SagaService/StartReturnSaga", |suite| {
            Box::pin(start_return_saga(suite))
        }),
        row("oms.saga.v1.SagaService/RetrySaga", |suite| {
            Box::pin(retry_saga(suite))
        }),
        row("oms.saga.v1.SagaService/CompensateSaga", |suite| {
            Box::pin(compensate_saga(suite))
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_saga_rpc_answers_a_storm_of_retries_once_and_fast() {
    let _one = crate::one_suite_at_a_time().await;
    let suite = Suite::start_with(Settings {
        saga: true,
        saga_config: Some(Box::new(|config: &mut oms_saga::Config| {
            config.flows.return_poll = Duration::from_millis(100);
            config.flows.return_send_within = Duration::from_secs(600);
            config.flows.return_transit_within = Duration::from_secs(1);
        })),
        ..Settings::default()
    })
    .await;
    seed::plant(&suite).await;
    let mut failed = Vec::new();
    for entry in table() {
        let outcome = storm(&suite, &entry).await;
        eprintln!("{outcome}");
        if !outcome.problems.is_empty() {
            failed.push(entry.rpc);
        }
    }
    let not_serving = suite.not_serving().await;
    suite.stop().await;
    assert!(not_serving.is_empty(), "not SERVING: {not_serving:?}");
    assert!(failed.is_empty(), "storms failed: {failed:?}");
}

/// The sagas of `kind` for `order_id`.
async fn sagas_of(suite: &Suite, kind: SagaKind, order_id: &str) -> Vec<Saga> {
    suite
        .saga()
        .list_sagas(ListSagasRequest {
            kind: kind as i32,
            order_id: order_id.into(),
            ..Default::default()
        })
        .await
        .map(|response| response.into_inner().sagas)
        .unwrap_or_default()
}

/// The check of a Start storm: one saga of `kind` for the order, and one
/// answer that created it.
fn one_saga(
    suite: &Suite,
    kind: SagaKind,
    order_id: String,
) -> impl FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send + 'static {
    let client = suite.saga();
    move |answers| {
        Box::pin(async move {
            let created = decoded::<saga::StartOrderSagaResponse>(&answers)?
                .iter()
                .filter(|answer| answer.created)
                .count();
            once("answers with created", created)?;
            let sagas = client
                .clone()
                .list_sagas(ListSagasRequest {
                    kind: kind as i32,
                    order_id,
                    ..Default::default()
                })
                .await
                .map_err(|status| format!("ListSagas: {status:?}"))?
                .into_inner()
                .sagas;
            once("sagas", sagas.len())
        })
    }
}

/// An order id the OMS could have minted, of no order: the saga finds no
/// order and ends with nothing done.
fn no_order() -> String {
    uuid::Uuid::now_v7().to_string()
}

async fn start_order_saga(suite: &Suite) -> Prepared {
    let order_id = no_order();
    let request = StartOrderSagaRequest {
        order_id: order_id.clone(),
        actor: seed::saga(),
    };
    let check = one_saga(suite, SagaKind::Order, order_id);
    prepared(request, check)
}

async fn start_cancel_saga(suite: &Suite) -> Prepared {
    let order_id = no_order();
    let request = StartCancelSagaRequest {
        order_id: order_id.clone(),
        reason: "customer changed mind".into(),
        actor: operator(),
        ..Default::default()
    };
    let check = one_saga(suite, SagaKind::Cancel, order_id);
    prepared(request, check)
}

async fn start_return_saga(suite: &Suite) -> Prepared {
    // A REQUESTED return: nothing has started its saga yet.
    let rma = seed::return_at(suite, Step::Requested, false).await;
    let request = StartReturnSagaRequest {
        return_id: rma.return_id.clone(),
        actor: operator(),
    };
    let check = one_saga(suite, SagaKind::Return, rma.order_id);
    prepared(request, check)
}

/// A STUCK saga of `kind` for `order_id`, once it is.
async fn stuck(suite: &Suite, kind: SagaKind, order_id: &str) -> Saga {
    poll_until("a STUCK saga", SETTLE, || async {
        sagas_of(suite, kind, order_id)
            .await
            .into_iter()
            .find(|saga| saga.state == SagaState::Stuck as i32)
    })
    .await
}

/// The check of an operator action's storm: the saga records it once.
fn one_action(
    suite: &Suite,
    saga_id: String,
    kind: OperatorActionKind,
) -> impl FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send + 'static {
    let client = suite.saga();
    move |_answers| {
        Box::pin(async move {
            let saga = client
                .clone()
                .get_saga(GetSagaRequest { saga_id })
                .await
                .map_err(|status| format!("GetSaga: {status:?}"))?
                .into_inner()
                .saga
                .unwrap_or_default();
            let actions = saga
                .operator_actions
                .iter()
                .filter(|action| action.kind == kind as i32)
                .count();
            once("operator actions", actions)
        })
    }
}

async fn retry_saga(suite: &Suite) -> Prepared {
    // A cancel of an order that does not exist is STUCK at mark_cancelled.
    let order_id = no_order();
    suite
        .saga()
        .start_cancel_saga(StartCancelSagaRequest {
            order_id: order_id.clone(),
            reason: "customer changed mind".into(),
            actor: operator(),
            ..Default::default()
        })
        .await
        .expect("the cancel saga starts");
    let saga = stuck(suite, SagaKind::Cancel, &order_id).await;
    let request = RetrySagaRequest {
        saga_id: saga.saga_id.clone(),
        actor: operator(),
        reason: "the order service is back".into(),
    };
    let check = one_action(suite, saga.saga_id, OperatorActionKind::Retry);
    prepared(request, check)
}

async fn compensate_saga(suite: &Suite) -> Prepared {
    // A return approved, labelled by its saga and picked up, whose parcel
    // does not arrive within the second this coordinator gives it.
    let rma = seed::return_at(suite, Step::Approved, false).await;
    let labelled = poll_until("the return label", SETTLE, || async {
        let rma = suite
            .returns()
            .get_return(oms_proto::returns::v1::GetReturnRequest {
                return_id: rma.return_id.clone(),
            })
            .await
            .ok()?
            .into_inner()
            .rma?;
        (rma.status == ReturnStatus::LabelIssued as i32).then_some(rma)
    })
    .await;
    suite
        .returns()
        .mark_return_in_transit(MarkReturnInTransitRequest {
            return_id: labelled.return_id.clone(),
            shipment_id: labelled.label.clone().unwrap_or_default().shipment_id,
            event_time: Some(timestamp(chrono::Utc::now())),
            actor: seed::saga(),
        })
        .await
        .expect("the parcel is picked up");
    let saga = stuck(suite, SagaKind::Return, &labelled.order_id).await;
    let request = CompensateSagaRequest {
        saga_id: saga.saga_id.clone(),
        actor: operator(),
        reason: "the parcel is lost: the customer keeps the goods".into(),
    };
    let check = one_action(suite, saga.saga_id, OperatorActionKind::Compensate);
    prepared(request, check)
}
