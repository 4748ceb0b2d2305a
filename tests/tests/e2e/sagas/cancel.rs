//! The cancel saga: a customer cancels at any moment. Before the order saga's
//! capture it is stopped and undone; after it, shipments are cancelled (those a
//! carrier has go on), units restocked and the money refunded.

use std::time::Duration;

use oms_e2e::Settings;
use oms_order::test_util::web_order;
use oms_proto::{
    common::v1::{Actor, ActorKind, LineItem},
    inventory::v1::ReservationState,
    order::v1::{CancelOrderRequest, LineQuantity, OrderStatus, PlaceOrderRequest},
    payment::v1::PaymentStatus,
    saga::v1::{ListSagasRequest, SagaKind, SagaState},
    shipping::v1::{RecordTrackingEventRequest, TrackingEventType},
};
use oms_saga::engine::Pause;

use super::*;

fn customer() -> Option<Actor> {
    Some(Actor {
        kind: ActorKind::Customer as i32,
        id: "cust-1".into(),
    })
}

async fn cancel(world: &World, order_id: &str, reason: &str) {
    world
        .suite
        .order()
        .cancel_order(CancelOrderRequest {
            order_id: order_id.into(),
            reason: reason.into(),
            actor: customer(),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// The order's cancel saga once it ended.
async fn cancel_saga(world: &World, order_id: &str) -> Saga {
    world
        .saga_of(
            SagaKind::Cancel,
            order_id,
            &[SagaState::Completed, SagaState::Stuck],
        )
        .await
}

/// Cancels an order while its saga pauses at `step`, before the capture:
/// the order ends CANCELLED, the stock is back, nothing is captured, any
/// authorization voided.
async fn cancel_during(step: &str) {
    let _one = crate::one_suite_at_a_time().await;
    let step_name = step.to_owned();
    let world = World::start_with(Settings {
        saga_config: Some(Box::new(move |config: &mut oms_saga::Config| {
            config.engine.pause = Some(Pause {
                step: step_name,
                before: true,
                duration: Duration::from_millis(1500),
            });
        })),
        ..Settings::default()
    })
    .await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order_id = world.place(web_order(&format!("cancel-at-{step}"))).await;
    poll_until(&format!("the order saga at {step}"), SAGA_END, || async {
        let saga = world.saga_in(&order_id, &[SagaState::Running]).await;
        (saga.current_step == step).then_some(())
    })
    .await;
    cancel(&world, &order_id, "customer changed mind").await;

    let cancelled = cancel_saga(&world, &order_id).await;
    assert_eq!(
        cancelled.state,
        SagaState::Completed as i32,
        "{cancelled:#?}"
    );
    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:#?}");
    assert_eq!(status(&order), OrderStatus::Cancelled, "{saga:#?}");
    assert_eq!(order.status_reason, "customer changed mind");
    assert_eq!(world.stock_of("TEE-M").await, (10, 0));
    assert_eq!(world.stock_of("CAP").await, (10, 0));
    if let Some(reservation) = world.reservation(&order_id).await {
        assert_eq!(reservation.state, ReservationState::Released as i32);
    }
    for payment in world.payments(&order_id).await {
        assert_eq!(payment.status, PaymentStatus::Voided as i32, "{payment:#?}");
    }
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_order_is_recorded_undoes_it() {
    cancel_during("record_order").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_order_is_planned_undoes_it() {
    cancel_during("plan_fulfilment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_stock_is_reserved_gives_it_back() {
    cancel_during("reserve_stock").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_payment_is_authorized_voids_it() {
    cancel_during("authorize_payment").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_shipments_are_created_cancels_them_and_voids() {
    cancel_during("create_shipments").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_after_confirmation_cancels_shipments_restocks_and_refunds_everything() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order_id = world.place(web_order("cancel-confirmed")).await;
    let (_, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed);
    assert_eq!(world.stock_of("TEE-M").await, (8, 0));

    cancel(&world, &order_id, "customer changed mind").await;
    let saga = cancel_saga(&world, &order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");

    let order = world.order(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Cancelled);
    assert!(order.shipments.iter().all(|s| s.cancel_time.is_some()));
    assert_eq!(world.stock_of("TEE-M").await, (10, 0));
    assert_eq!(world.stock_of("CAP").await, (10, 0));
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(payment.status, PaymentStatus::Refunded as i32);
    assert_eq!(
        payment.refunded_amount.unwrap().amount_minor,
        order.totals.unwrap().grand_total.unwrap().amount_minor
    );
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipment_the_carrier_has_goes_on_and_only_the_rest_is_cancelled() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    // Split: the shirt ships from Berlin, the cap from Hamburg.
    world.stock("SHIRT-L", BERLIN, 5).await;
    world.stock("HAT", HAMBURG, 5).await;
    let order_id = world
        .place(PlaceOrderRequest {
            lines: vec![
                LineItem {
                    sku: "SHIRT-L".into(),
                    quantity: 1,
                    unit_price: oms_order::test_util::eur(3000),
                },
                LineItem {
                    sku: "HAT".into(),
                    quantity: 1,
                    unit_price: oms_order::test_util::eur(1000),
                },
            ],
            ..web_order("cancel-split")
        })
        .await;
    let (_, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed);
    let hamburg = order
        .shipments
        .iter()
        .find(|shipment| shipment.location_id == HAMBURG)
        .unwrap()
        .clone();
    // The carrier picks up Hamburg's parcel.
    world
        .suite
        .shipping()
        .record_tracking_event(RecordTrackingEventRequest {
            carrier: hamburg.carrier.clone(),
            carrier_event_id: "ev-pickup-1".into(),
            tracking_number: hamburg.tracking_number.clone(),
            event_type: TrackingEventType::PickedUp as i32,
            event_time: Some(prost_types::Timestamp::from(std::time::SystemTime::now())),
            location: "Hamburg hub, DE".into(),
            description: String::new(),
        })
        .await
        .unwrap();

    cancel(&world, &order_id, "customer changed mind").await;
    let saga = cancel_saga(&world, &order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");

    let order = world.order(&order_id).await;
    let berlin = order
        .shipments
        .iter()
        .find(|s| s.location_id == BERLIN)
        .unwrap();
    let hamburg = order
        .shipments
        .iter()
        .find(|s| s.location_id == HAMBURG)
        .unwrap();
    assert!(berlin.cancel_time.is_some());
    assert!(hamburg.cancel_time.is_none());
    // The shirt comes back and is refunded; the hat goes on, paid.
    assert_eq!(world.stock_of("SHIRT-L").await, (5, 0));
    assert_eq!(world.stock_of("HAT").await, (4, 0));
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(payment.refunded_amount.unwrap().amount_minor, 3000);
    // The timeline says which parcel goes on.
    assert!(
        order
            .timeline
            .iter()
            .any(|event| event.reason.contains(&hamburg.shipment_id)),
        "{:#?}",
        order.timeline
    );
    // What is left (the hat) is all with the carrier.
    assert_eq!(status(&order), OrderStatus::Shipped);
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_channels_cancelling_at_once_make_one_cancel_saga_and_one_refund() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order_id = world.place(web_order("cancel-twice")).await;
    let (_, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed);

    let calls: Vec<_> = ["call centre", "web shop"]
        .into_iter()
        .map(|reason| {
            let mut orders = world.suite.order();
            let order_id = order_id.clone();
            tokio::spawn(async move {
                orders
                    .cancel_order(CancelOrderRequest {
                        order_id,
                        reason: format!("cancelled by the {reason}"),
                        actor: customer(),
                        ..Default::default()
                    })
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    cancel_saga(&world, &order_id).await;
    let sagas = world
        .saga()
        .list_sagas(ListSagasRequest {
            kind: SagaKind::Cancel as i32,
            order_id: order_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sagas;
    assert_eq!(sagas.len(), 1);
    let payment = world.payments(&order_id).await.remove(0);
    let refunds = payment
        .transactions
        .iter()
        .filter(|t| t.kind == oms_proto::payment::v1::TransactionKind::Refund as i32)
        .count();
    assert_eq!(refunds, 1);
    assert_eq!(
        status(&world.order(&order_id).await),
        OrderStatus::Cancelled
    );
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_cancel_of_one_line_of_three_restocks_and_refunds_exactly_that_line() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    for sku in ["TEE-M", "CAP", "SOCKS"] {
        world.stock(sku, BERLIN, 10).await;
    }
    let mut request = web_order("cancel-one-line");
    request.lines.push(LineItem {
        sku: "SOCKS".into(),
        quantity: 3,
        unit_price: oms_order::test_util::eur(500),
    });
    let order_id = world.place(request).await;
    let (_, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed);
    let paid = world.payments(&order_id).await.remove(0);
    let captured = paid.captured_amount.unwrap().amount_minor;

    // Both units of the shirt, named by SKU; one parcel carries all three lines.
    let mut orders = world.suite.order();
    let mut request = tonic::Request::new(CancelOrderRequest {
        order_id: order_id.clone(),
        reason: "customer keeps the cap and socks".into(),
        actor: customer(),
        lines: vec![LineQuantity {
            line_id: String::new(),
            sku: "TEE-M".into(),
            quantity: 2,
        }],
    });
    request
        .metadata_mut()
        .insert("idempotency-key", "partial-1".parse().unwrap());
    let answered = orders.cancel_order(request).await.unwrap().into_inner();
    // The order keeps its status while the saga runs.
    assert_eq!(
        status(answered.order.as_ref().unwrap()),
        OrderStatus::Confirmed
    );

    let saga = cancel_saga(&world, &order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    assert_eq!(saga.cancellation, 1);

    let order = world.order(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{order:#?}");
    let cancelled: Vec<(String, i32)> = order
        .lines
        .iter()
        .map(|line| (line.sku.clone(), line.cancelled_quantity))
        .collect();
    assert_eq!(
        cancelled,
        [("TEE-M".into(), 2), ("CAP".into(), 0), ("SOCKS".into(), 0)]
    );
    assert_eq!(
        order
            .lines
            .iter()
            .find(|line| line.sku == "TEE-M")
            .unwrap()
            .status,
        oms_proto::order::v1::LineStatus::Cancelled as i32
    );
    let totals = order.totals.unwrap();
    assert_eq!(totals.cancelled_total.unwrap().amount_minor, 2 * 1999);
    // The parcel goes on with the cap and the socks.
    assert!(order.shipments.iter().all(|s| s.cancel_time.is_none()));
    // Exactly the shirts are back on hand and refunded; the shipping price is not.
    assert_eq!(world.stock_of("TEE-M").await, (10, 0));
    assert_eq!(world.stock_of("CAP").await, (9, 0));
    assert_eq!(world.stock_of("SOCKS").await, (7, 0));
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(payment.refunded_amount.unwrap().amount_minor, 2 * 1999);
    assert_eq!(payment.captured_amount.unwrap().amount_minor, captured);
    assert!(
        order.timeline.iter().any(|event| event.kind
            == oms_proto::order::v1::TimelineEventKind::CancellationRequested as i32),
        "{:#?}",
        order.timeline
    );

    // The same request again answers as before and starts nothing new.
    let mut again = tonic::Request::new(CancelOrderRequest {
        order_id: order_id.clone(),
        reason: "customer keeps the cap and socks".into(),
        actor: customer(),
        lines: vec![LineQuantity {
            line_id: String::new(),
            sku: "TEE-M".into(),
            quantity: 2,
        }],
    });
    again
        .metadata_mut()
        .insert("idempotency-key", "partial-1".parse().unwrap());
    orders.cancel_order(again).await.unwrap();
    // The shirts are gone: cancelling one more is more than is open.
    let mut more = tonic::Request::new(CancelOrderRequest {
        order_id: order_id.clone(),
        reason: "one more shirt".into(),
        actor: customer(),
        lines: vec![LineQuantity {
            line_id: String::new(),
            sku: "TEE-M".into(),
            quantity: 1,
        }],
    });
    more.metadata_mut()
        .insert("idempotency-key", "partial-2".parse().unwrap());
    let refused = orders.cancel_order(more).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    let sagas = world
        .saga()
        .list_sagas(ListSagasRequest {
            kind: SagaKind::Cancel as i32,
            order_id: order_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .sagas;
    assert_eq!(sagas.len(), 1);
    let payment = world.payments(&order_id).await.remove(0);
    assert_eq!(payment.refunded_amount.unwrap().amount_minor, 2 * 1999);
    world.suite.stop().await;
}
