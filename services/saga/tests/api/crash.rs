//! The coordinator killed with SIGKILL at every step of the order saga, in a
//! cancel saga, while a return saga waits and after its refund, and one of two
//! replicas killed under load: every saga still ends, and no step acted twice
//! (one authorization, capture and refund per order, one shipment, the stock
//! committed or restocked once).

use std::time::Duration;

use oms_e2e::{Settings, Suite, world::World};
use oms_order::test_util::web_order;
use oms_proto::{
    order::v1::{CancelOrderRequest, OrderStatus},
    payment::v1::{PaymentStatus, TransactionKind, TransactionStatus},
    returns::v1::{CloseReason, ReturnStatus},
    saga::v1::SagaState,
    shipping::v1::{ListShipmentsRequest, ShipmentStatus},
};
use oms_saga::flows::order::STEPS;
use oms_testkit::{ReservedPort, poll_until};

use crate::coordinator::{Coordinator, Setup};

/// The suite with its coordinator's port free for a process.
async fn world() -> (World, std::net::SocketAddr) {
    let mut suite = Suite::start_with(Settings::default()).await;
    let port: ReservedPort = suite
        .take_saga_port()
        .expect("the suite holds the saga port");
    let address = port.address();
    // The coordinator process binds it.
    drop(port);
    let world = World::seed(suite).await;
    world.stock("TEE-M", oms_e2e::world::BERLIN, 100).await;
    world.stock("CAP", oms_e2e::world::BERLIN, 100).await;
    (world, address)
}

/// The order ended CONFIRMED, and each service acted once for it.
async fn confirmed_once(world: &World, order_id: &str) {
    let (saga, order) = world.outcome(order_id).await;
    assert_eq!(
        OrderStatus::try_from(order.status).unwrap(),
        OrderStatus::Confirmed,
        "{saga:#?}"
    );
    assert_eq!(saga.state, SagaState::Completed as i32);
    let payments = world.payments(order_id).await;
    assert_eq!(payments.len(), 1, "one payment");
    assert_eq!(payments[0].status, PaymentStatus::Captured as i32);
    for kind in [TransactionKind::Authorization, TransactionKind::Capture] {
        let done = payments[0]
            .transactions
            .iter()
            .filter(|t| t.kind == kind as i32 && t.status == TransactionStatus::Succeeded as i32)
            .count();
        assert_eq!(done, 1, "{kind:?} of {order_id}");
    }
    let shipments = world
        .suite
        .shipping()
        .list_shipments(ListShipmentsRequest {
            order_id: order_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shipments;
    let open = shipments
        .iter()
        .filter(|s| s.status != ShipmentStatus::Cancelled as i32)
        .count();
    assert_eq!(open, 1, "one shipment for {order_id}");
    assert_eq!(order.shipments.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_each_step_the_coordinator_resumes_every_saga_and_acts_once() {
    let _one = crate::one_suite_at_a_time().await;
    let (world, address) = world().await;
    let setup = Setup::new(&world.suite).await;
    let mut order_ids = Vec::new();
    for step in &STEPS {
        // Paused right after the step's call, before its commit: the worst
        // moment to die, the call done and not recorded.
        let pause = format!("{}:after:60s", step.name);
        let paused = Coordinator::start(&setup, address, &[("OMS_SAGA_PAUSE", &pause)]).await;
        let order_id = world
            .place(web_order(&format!("crash-{}", step.name)))
            .await;
        poll_until(
            &format!("the saga at {}", step.name),
            Duration::from_secs(60),
            || async {
                let saga = world.saga_in(&order_id, &[SagaState::Running]).await;
                (saga.current_step == step.name).then_some(())
            },
        )
        .await;
        paused.kill().await;

        let resumed = Coordinator::start(&setup, address, &[]).await;
        confirmed_once(&world, &order_id).await;
        resumed.stop().await;
        order_ids.push(order_id);
    }
    let (on_hand, reserved) = world.stock_of("TEE-M").await;
    assert_eq!((on_hand, reserved), (100 - 2 * 8, 0));
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_under_load_one_killed_its_sagas_are_taken_over_and_run_once() {
    let _one = crate::one_suite_at_a_time().await;
    let (mut world, address) = world().await;
    let setup = Setup::new(&world.suite).await;
    // The first replica takes the starts; each of its steps is slow, so it
    // holds many sagas half done when it dies.
    let first = Coordinator::start(
        &setup,
        address,
        &[("OMS_SAGA_PAUSE", "authorize_payment:after:2s")],
    )
    .await;
    let second_address = {
        let port = ReservedPort::new();
        port.address()
    };
    let second = Coordinator::start(&setup, second_address, &[]).await;

    let mut order_ids = Vec::new();
    for n in 0..20 {
        order_ids.push(world.place(web_order(&format!("load-{n}"))).await);
    }
    poll_until("sagas half done", Duration::from_secs(60), || async {
        let mut at_authorize = 0;
        for order_id in &order_ids {
            let saga = world
                .saga_in(order_id, &[SagaState::Running, SagaState::Completed])
                .await;
            if saga.current_step == "authorize_payment" {
                at_authorize += 1;
            }
        }
        (at_authorize >= 5).then_some(())
    })
    .await;
    first.kill().await;
    world.saga_address = second_address;

    for order_id in &order_ids {
        confirmed_once(&world, order_id).await;
    }
    let (on_hand, reserved) = world.stock_of("TEE-M").await;
    assert_eq!((on_hand, reserved), (100 - 2 * 20, 0));
    second.stop().await;
    world.suite.stop().await;
}

/// Refund transactions that succeeded on `payment`.
fn refunds(payment: &oms_proto::payment::v1::Payment) -> usize {
    payment
        .transactions
        .iter()
        .filter(|t| {
            t.kind == TransactionKind::Refund as i32
                && t.status == TransactionStatus::Succeeded as i32
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_during_a_cancel_saga_it_finishes_after_the_restart_with_one_refund() {
    let _one = crate::one_suite_at_a_time().await;
    let (world, address) = world().await;
    let setup = Setup::new(&world.suite).await;
    // Right after the refund call, before its commit.
    let paused = Coordinator::start(
        &setup,
        address,
        &[("OMS_SAGA_PAUSE", "refund_payment:after:60s")],
    )
    .await;
    let order_id = world.place(web_order("crash-cancel")).await;
    let (_, order) = world.outcome(&order_id).await;
    assert_eq!(order.status, OrderStatus::Confirmed as i32);
    world
        .suite
        .order()
        .cancel_order(CancelOrderRequest {
            order_id: order_id.clone(),
            reason: "customer changed mind".into(),
            actor: Some(oms_e2e::world::operator()),
            lines: Vec::new(),
        })
        .await
        .unwrap();
    // The refund is made: the coordinator dies before it records it.
    poll_until("the refund made", Duration::from_secs(60), || async {
        let payment = world.payments(&order_id).await.remove(0);
        (refunds(&payment) == 1).then_some(())
    })
    .await;
    paused.kill().await;

    let resumed = Coordinator::start(&setup, address, &[]).await;
    poll_until("the order cancelled", Duration::from_secs(60), || async {
        let order = world.order(&order_id).await;
        (order.status == OrderStatus::Cancelled as i32).then_some(())
    })
    .await;
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(refunds(&payment), 1);
    assert_eq!(payment.status, PaymentStatus::Refunded as i32);
    assert_eq!(world.stock_of("TEE-M").await, (100, 0));
    assert_eq!(world.stock_of("CAP").await, (100, 0));
    resumed.stop().await;
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_a_return_saga_waits_and_after_its_refund_it_finishes_once() {
    let _one = crate::one_suite_at_a_time().await;
    let (world, address) = world().await;
    let setup = Setup::new(&world.suite).await;
    let quick = ("OMS_SAGA_RETURN_POLL", "100ms");
    let first = Coordinator::start(&setup, address, &[quick]).await;
    let order_id = world.place(web_order("crash-return")).await;
    world.outcome(&order_id).await;
    world.deliver(&order_id).await;
    let return_id = world
        .return_approved(&order_id, &[("TEE-M", 1)], Vec::new())
        .await;
    // The saga waits for the goods: killed while it waits.
    world.return_in(&return_id, ReturnStatus::LabelIssued).await;
    first.kill().await;

    // The next one dies right after the refund, before recording it.
    let second = Coordinator::start(
        &setup,
        address,
        &[quick, ("OMS_SAGA_PAUSE", "settle_money:after:60s")],
    )
    .await;
    world.send_back(&return_id).await;
    world
        .receive_and_inspect(&return_id, &[("TEE-M", 1, 0, 0)])
        .await;
    poll_until("the refund made", Duration::from_secs(60), || async {
        let payment = world.payments(&order_id).await.remove(0);
        (refunds(&payment) == 1).then_some(())
    })
    .await;
    second.kill().await;

    let third = Coordinator::start(&setup, address, &[quick]).await;
    let rma = world.return_in(&return_id, ReturnStatus::Closed).await;
    assert_eq!(rma.close_reason, CloseReason::Completed as i32);
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(refunds(&payment), 1);
    assert_eq!(payment.refunded_amount.unwrap().amount_minor, 1999);
    // Restocked once: 100, 2 sold, 1 back.
    assert_eq!(world.stock_of("TEE-M").await, (99, 0));
    let order = world.order(&order_id).await;
    assert_eq!(order.status, OrderStatus::PartiallyReturned as i32);
    third.stop().await;
    world.suite.stop().await;
}
