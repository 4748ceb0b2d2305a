//! Sagas under faults: a capture whose answer was lost, a payment service
//! that is down, and a saga that cannot finish until an operator helps.

use std::time::Duration;

use oms_e2e::{POOL_SIZE, Settings};
use oms_order::test_util::web_order;
use oms_proto::{
    common::v1::{CardToken, PaymentMethod, payment_method::Method},
    inventory::v1::SetStockRequest,
    order::v1::{OrderStatus, PlaceOrderRequest},
    payment::v1::{PaymentStatus, TransactionKind, TransactionStatus},
    saga::v1::{
        CompensateSagaRequest, GetSagaRequest, ListSagasRequest, OperatorActionKind,
        RetrySagaRequest, SagaState,
    },
};
use oms_testkit::{ReservedPort, TestServer, TestService};
use tonic::Request;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capture_answered_too_late_is_retried_and_takes_the_money_once() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("TEE-M", BERLIN, 5).await;
    world.stock("CAP", BERLIN, 5).await;

    let order_id = world
        .place(PlaceOrderRequest {
            payment_method: Some(PaymentMethod {
                method: Some(Method::Card(CardToken {
                    token: "tok_visa_capture_timeout".into(),
                })),
            }),
            ..web_order("late-capture-1")
        })
        .await;
    let (saga, order) = world.outcome(&order_id).await;

    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    let capture = saga
        .steps
        .iter()
        .find(|step| step.name == "capture_payment")
        .unwrap();
    assert!(capture.forward_attempts >= 2, "{capture:#?}");
    assert_eq!(
        capture.attempts[0].error.as_ref().unwrap().code,
        "UNAVAILABLE"
    );
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(payment.status, PaymentStatus::Captured as i32);
    let captures = payment
        .transactions
        .iter()
        .filter(|t| {
            t.kind == TransactionKind::Capture as i32
                && t.status == TransactionStatus::Succeeded as i32
        })
        .count();
    assert_eq!(captures, 1);
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sagas_wait_for_a_payment_service_down_ten_seconds_and_then_complete() {
    let _one = crate::one_suite_at_a_time().await;
    let mut world = World::start().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;

    // The payment service goes down; its database stays.
    let address = world.suite.payment.address();
    let TestService {
        server, database, ..
    } = std::mem::replace(&mut world.suite.payment, placeholder().await);
    server.stop().await.unwrap();

    let mut order_ids = Vec::new();
    for n in 0..3 {
        order_ids.push(world.place(web_order(&format!("outage-{n}"))).await);
    }
    // The outage itself.
    tokio::time::sleep(Duration::from_secs(10)).await;
    for order_id in &order_ids {
        let saga = world.saga_in(order_id, &[SagaState::Running]).await;
        assert_eq!(saga.current_step, "authorize_payment");
    }

    let mut config = oms_payment::test_util::config(database.config());
    config.database.pool_size = POOL_SIZE;
    let server = TestServer::start_on(ReservedPort::at(address), |listener, shutdown| {
        oms_payment::run(config, listener, shutdown)
    })
    .await;
    let stand_in = std::mem::replace(
        &mut world.suite.payment,
        TestService {
            server,
            database,
            redis: None,
        },
    );
    stand_in.stop().await;

    for order_id in &order_ids {
        let (saga, order) = world.outcome(order_id).await;
        assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
        assert_eq!(saga.failure, None);
        let authorize = saga
            .steps
            .iter()
            .find(|step| step.name == "authorize_payment")
            .unwrap();
        assert!(authorize.forward_attempts > 3, "{authorize:#?}");
    }
    world.suite.stop().await;
}

/// A payment service to hold the suite's place while the real one is down.
async fn placeholder() -> TestService {
    oms_payment::test_util::start(ReservedPort::new(), |_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saga_stuck_after_its_capture_is_listed_with_its_reason_and_fixed_by_retry_saga() {
    let _one = crate::one_suite_at_a_time().await;
    // Holds lapse after a second, and the saga pauses before committing: the
    // stock it held is gone by then.
    let world = World::start_with(Settings::default().with_holds_lapsing_before_commit()).await;
    world.stock("TEE-M", BERLIN, 2).await;
    world.stock("CAP", BERLIN, 1).await;
    let order_id = world.place(web_order("stuck-1")).await;
    world.saga_at_step(&order_id, "commit_stock").await;
    // A stock count finds no shirts at all.
    set_stock(&world, "TEE-M", 0).await;

    let stuck = world.saga_in(&order_id, &[SagaState::Stuck]).await;
    assert_eq!(stuck.stuck_step, "commit_stock");
    assert_eq!(
        stuck.stuck_reason,
        "commit_stock: INSUFFICIENT_STOCK for sku TEE-M"
    );
    assert!(stuck.pivot_passed);
    let listed = world
        .suite
        .saga()
        .list_sagas(ListSagasRequest {
            stuck_only: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sagas;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].saga_id, stuck.saga_id);
    assert_eq!(status(&world.order(&order_id).await), OrderStatus::Pending);

    // The operator restocks, then retries.
    set_stock(&world, "TEE-M", 2).await;
    let mut retry = Request::new(RetrySagaRequest {
        saga_id: stuck.saga_id.clone(),
        actor: Some(operator()),
        reason: "restocked after the count".into(),
    });
    retry
        .metadata_mut()
        .insert("idempotency-key", "retry-stuck-1".parse().unwrap());
    let retried = world
        .suite
        .saga()
        .retry_saga(retry)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.saga.unwrap().state, SagaState::Running as i32);

    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    let saga = world
        .suite
        .saga()
        .get_saga(GetSagaRequest {
            saga_id: saga.saga_id,
        })
        .await
        .unwrap()
        .into_inner()
        .saga
        .unwrap();
    assert_eq!(saga.state, SagaState::Completed as i32);
    let action = &saga.operator_actions[0];
    assert_eq!(action.kind, OperatorActionKind::Retry as i32);
    assert_eq!(action.actor.as_ref().unwrap().id, "op-1");
    assert_eq!(action.reason, "restocked after the count");
    assert_eq!(action.step, "commit_stock");
    assert_eq!(world.stock_of("TEE-M").await, (0, 0));
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_saga_compensated_by_an_operator_refunds_restocks_and_rejects_the_order() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_with(Settings::default().with_holds_lapsing_before_commit()).await;
    world.stock("TEE-M", BERLIN, 2).await;
    world.stock("CAP", BERLIN, 1).await;
    let order_id = world.place(web_order("given-up-1")).await;
    world.saga_at_step(&order_id, "commit_stock").await;
    set_stock(&world, "TEE-M", 0).await;
    let stuck = world.saga_in(&order_id, &[SagaState::Stuck]).await;

    let mut compensate = Request::new(CompensateSagaRequest {
        saga_id: stuck.saga_id.clone(),
        actor: Some(operator()),
        reason: "the shirts are gone for good".into(),
    });
    compensate
        .metadata_mut()
        .insert("idempotency-key", "compensate-1".parse().unwrap());
    world.saga().compensate_saga(compensate).await.unwrap();

    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:#?}");
    assert_eq!(status(&order), OrderStatus::Rejected);
    // The money taken is given back, the shipment cancelled, the stock freed.
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(payment.status, PaymentStatus::Refunded as i32);
    assert_eq!(
        payment.refunded_amount.unwrap().amount_minor,
        payment.captured_amount.unwrap().amount_minor
    );
    assert!(
        order
            .shipments
            .iter()
            .all(|shipment| shipment.cancel_time.is_some())
    );
    assert_eq!(world.stock_of("CAP").await, (1, 0));
    let action = &saga.operator_actions[0];
    assert_eq!(action.kind, OperatorActionKind::Compensate as i32);
    assert_eq!(action.step, "commit_stock");
    world.suite.stop().await;
}

async fn set_stock(world: &World, sku: &str, on_hand: i32) {
    let mut request = Request::new(SetStockRequest {
        sku: sku.into(),
        location_id: BERLIN.into(),
        on_hand,
        actor: Some(operator()),
        note: "count".into(),
    });
    request.metadata_mut().insert(
        "idempotency-key",
        format!("count-{}", uuid::Uuid::new_v4()).parse().unwrap(),
    );
    world.suite.inventory().set_stock(request).await.unwrap();
}
