//! The coordinator killed with SIGKILL at every step of the order saga, and
//! one of two replicas killed under load: every saga still ends, and no step
//! acted twice (one authorization and one capture per order, one shipment, the
//! stock committed once).

use std::time::Duration;

use oms_e2e::{Settings, Suite, world::World};
use oms_order::test_util::web_order;
use oms_proto::{
    order::v1::OrderStatus,
    payment::v1::{PaymentStatus, TransactionKind, TransactionStatus},
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
