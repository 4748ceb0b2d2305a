//! Each way one order ends, and the drop.

use std::collections::HashMap;

use oms_e2e::Settings;
use oms_order::test_util::web_order;
use oms_proto::{
    common::v1::{
        CardToken, Channel, ChannelKind, DeliveryMethod, DeliveryOption, LineItem, PaymentMethod,
        ServiceLevel, payment_method::Method,
    },
    inventory::v1::{ReservationLine, ReservationState, ReserveRequest},
    order::v1::{OrderStatus, PlaceOrderRequest},
    payment::v1::PaymentStatus,
    saga::v1::{SagaState, StepState},
};
use oms_saga::engine::Pause;

use super::*;

fn lines(lines: &[(&str, i32)]) -> Vec<LineItem> {
    lines
        .iter()
        .map(|(sku, quantity)| LineItem {
            sku: (*sku).into(),
            quantity: *quantity,
            unit_price: oms_order::test_util::eur(1000),
        })
        .collect()
}

fn paid_with(token: &str) -> Option<PaymentMethod> {
    Some(PaymentMethod {
        method: Some(Method::Card(CardToken {
            token: token.into(),
        })),
    })
}

fn step_state(saga: &Saga, name: &str) -> StepState {
    let step = saga.steps.iter().find(|step| step.name == name).unwrap();
    StepState::try_from(step.state).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_order_is_reserved_paid_shipped_and_confirmed_from_the_nearest_warehouse() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    world.stock("TEE-M", HAMBURG, 10).await;
    world.stock("CAP", HAMBURG, 10).await;

    let order_id = world.place(web_order("web-1")).await;
    let (saga, order) = world.outcome(&order_id).await;

    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    assert_eq!(saga.state, SagaState::Completed as i32);
    assert!(
        saga.steps
            .iter()
            .all(|step| step.state == StepState::Succeeded as i32)
    );
    assert_eq!(order.saga_id, saga.saga_id);
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.shipments[0].location_id, BERLIN);
    assert!(!order.shipments[0].tracking_number.is_empty());
    let payments = world.payments(&order_id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].payment_id, order.payment_id);
    assert_eq!(payments[0].status, PaymentStatus::Captured as i32);
    assert_eq!(
        payments[0].captured_amount.clone().unwrap().amount_minor,
        order.totals.unwrap().grand_total.unwrap().amount_minor
    );
    let reservation = world.reservation(&order_id).await.unwrap();
    assert_eq!(reservation.state, ReservationState::Committed as i32);
    assert_eq!(world.stock_of("TEE-M").await, (18, 0));

    // The coordinator keeps no personal data of the order.
    let pool = world.suite.saga.as_ref().unwrap().database.pool().await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT body::text FROM sagas")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(kept.len(), 1);
    for personal in [
        "Ada",
        "Lovelace",
        "example.com",
        "Unter den Linden",
        "10117",
        "tok_visa",
    ] {
        assert!(!kept[0].contains(personal), "{personal} in the saga's row");
    }
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_pickup_is_confirmed_without_a_shipment_and_a_split_order_ships_twice() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("TEE-M", STORE, 5).await;
    world.stock("CAP", STORE, 5).await;
    // Only Berlin has the shirt, only Hamburg the cap.
    world.stock("SHIRT-L", BERLIN, 5).await;
    world.stock("HAT", HAMBURG, 5).await;

    let pickup = world
        .place(PlaceOrderRequest {
            delivery_option: Some(DeliveryOption {
                method: DeliveryMethod::Pickup as i32,
                service_level: ServiceLevel::Standard as i32,
                pickup_location_id: STORE.into(),
            }),
            shipping_address: None,
            shipping_price: oms_order::test_util::eur(0),
            ..web_order("pickup-1")
        })
        .await;
    let split = world
        .place(PlaceOrderRequest {
            lines: lines(&[("SHIRT-L", 1), ("HAT", 1)]),
            ..web_order("split-1")
        })
        .await;

    let (saga, order) = world.outcome(&pickup).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    assert!(order.shipments.is_empty());
    assert_eq!(order.pickup_location_id, STORE);
    assert_eq!(step_state(&saga, "create_shipments"), StepState::Skipped);
    assert_eq!(step_state(&saga, "capture_payment"), StepState::Succeeded);

    let (saga, order) = world.outcome(&split).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    let mut from: Vec<&str> = order
        .shipments
        .iter()
        .map(|shipment| shipment.location_id.as_str())
        .collect();
    from.sort_unstable();
    assert_eq!(from, [BERLIN, HAMBURG]);
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_or_missing_stock_rejects_the_order_holding_and_charging_nothing() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;

    let declined = world
        .place(PlaceOrderRequest {
            payment_method: paid_with("tok_visa_insufficient"),
            ..web_order("declined-1")
        })
        .await;
    let unstocked = world
        .place(PlaceOrderRequest {
            lines: lines(&[("GHOST", 1)]),
            ..web_order("ghost-1")
        })
        .await;

    let (saga, order) = world.outcome(&declined).await;
    assert_eq!(status(&order), OrderStatus::Rejected, "{saga:#?}");
    assert!(
        order.status_reason.contains("PAYMENT_DECLINED"),
        "{}",
        order.status_reason
    );
    assert_eq!(saga.state, SagaState::Compensated as i32);
    assert_eq!(saga.failure.as_ref().unwrap().reason, "PAYMENT_DECLINED");
    for step in ["record_order", "reserve_stock", "authorize_payment"] {
        assert_eq!(step_state(&saga, step), StepState::Compensated, "{step}");
    }
    assert_eq!(step_state(&saga, "capture_payment"), StepState::Skipped);
    let reservation = world.reservation(&declined).await.unwrap();
    assert_eq!(reservation.state, ReservationState::Released as i32);
    let payments = world.payments(&declined).await;
    assert!(payments.iter().all(|payment| {
        payment.status == PaymentStatus::Declined as i32
            && payment
                .captured_amount
                .as_ref()
                .is_none_or(|money| money.amount_minor == 0)
    }));
    assert_eq!(world.stock_of("TEE-M").await, (10, 0));

    let (saga, order) = world.outcome(&unstocked).await;
    assert_eq!(status(&order), OrderStatus::Rejected, "{saga:#?}");
    assert_eq!(order.status_reason, "UNFULFILLABLE for sku GHOST");
    assert_eq!(step_state(&saga, "reserve_stock"), StepState::Skipped);
    assert!(world.reservation(&unstocked).await.is_none());
    assert!(world.payments(&unstocked).await.is_empty());
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_stock_race_is_re_planned_from_the_next_warehouse_and_confirmed() {
    let _one = crate::one_suite_at_a_time().await;
    // The saga pauses before each reservation, long enough for a rival
    // order to take Berlin's units after the plan chose Berlin.
    let world = World::start_with(Settings {
        saga_config: Some(Box::new(|config: &mut oms_saga::Config| {
            config.engine.pause = Some(Pause {
                step: "reserve_stock".into(),
                before: true,
                duration: std::time::Duration::from_millis(1500),
            });
        })),
        ..Settings::default()
    })
    .await;
    for location in [BERLIN, HAMBURG] {
        world.stock("TEE-M", location, 1).await;
        world.stock("CAP", location, 1).await;
    }
    let order_id = world
        .place(PlaceOrderRequest {
            lines: lines(&[("TEE-M", 1), ("CAP", 1)]),
            ..web_order("race-1")
        })
        .await;
    world.saga_in(&order_id, &[SagaState::Running]).await;
    poll_until("the plan", std::time::Duration::from_secs(30), || async {
        let saga = world.saga_in(&order_id, &[SagaState::Running]).await;
        (saga.current_step == "reserve_stock").then_some(())
    })
    .await;
    world
        .suite
        .inventory()
        .reserve(ReserveRequest {
            order_id: uuid::Uuid::new_v4().to_string(),
            lines: ["TEE-M", "CAP"]
                .iter()
                .map(|sku| ReservationLine {
                    sku: (*sku).into(),
                    location_id: BERLIN.into(),
                    quantity: 1,
                })
                .collect(),
            actor: Some(operator()),
            ..Default::default()
        })
        .await
        .unwrap();

    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    assert_eq!(order.shipments.len(), 1);
    assert_eq!(order.shipments[0].location_id, HAMBURG);
    let plan = saga
        .steps
        .iter()
        .find(|step| step.name == "plan_fulfilment")
        .unwrap();
    assert_eq!(plan.detail, "ship from wh-hamburg");
    assert_eq!(plan.forward_attempts, 2);
    let reserve = saga
        .steps
        .iter()
        .find(|step| step.name == "reserve_stock")
        .unwrap();
    assert_eq!(reserve.forward_attempts, 2);
    assert_eq!(
        reserve.attempts[0].error.as_ref().unwrap().reason,
        "INSUFFICIENT_STOCK"
    );
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_refusing_the_address_after_authorization_voids_releases_and_rejects() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_with(Settings {
        shipping: Some(Box::new(|config: &mut oms_shipping::Config| {
            config.simulator.fault = Some(oms_shipping::carrier::Fault {
                kind: oms_shipping::carrier::FaultKind::AddressRejected,
                rate: 1.0,
            });
        })),
        ..Settings::default()
    })
    .await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;

    let order_id = world.place(web_order("unshippable-1")).await;
    let (saga, order) = world.outcome(&order_id).await;

    assert_eq!(status(&order), OrderStatus::Rejected, "{saga:#?}");
    assert!(
        order.status_reason.contains("ADDRESS_REJECTED"),
        "{}",
        order.status_reason
    );
    assert_eq!(
        step_state(&saga, "authorize_payment"),
        StepState::Compensated
    );
    let payments = world.payments(&order_id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Voided as i32);
    assert_eq!(
        world.reservation(&order_id).await.unwrap().state,
        ReservationState::Released as i32
    );
    assert_eq!(world.stock_of("TEE-M").await, (10, 0));
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_units_sold_on_seven_channels_at_once_confirm_exactly_five_orders() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start().await;
    world.stock("DROP-1", BERLIN, 5).await;
    let channels = [
        (ChannelKind::Web, ""),
        (ChannelKind::App, ""),
        (ChannelKind::Marketplace, "amazon-de"),
        (ChannelKind::Marketplace, "zalando"),
        (ChannelKind::Marketplace, "ebay"),
        (ChannelKind::Store, STORE),
        (ChannelKind::CallCenter, ""),
    ];
    let placed: Vec<_> = channels
        .iter()
        .flat_map(|(kind, name)| (0..3).map(move |n| (*kind, *name, n)))
        .map(|(kind, name, n)| {
            let orders = world.suite.order();
            let request = PlaceOrderRequest {
                channel: Some(Channel {
                    kind: kind as i32,
                    name: name.into(),
                }),
                lines: lines(&[("DROP-1", 1)]),
                ..web_order(&format!("drop-{}-{name}-{n}", kind as i32))
            };
            tokio::spawn(async move {
                let mut orders = orders;
                orders
                    .place_order(request)
                    .await
                    .unwrap()
                    .into_inner()
                    .order
                    .unwrap()
                    .order_id
            })
        })
        .collect();
    let mut order_ids = Vec::new();
    for order in placed {
        order_ids.push(order.await.unwrap());
    }

    let mut ends: HashMap<&'static str, usize> = HashMap::new();
    for order_id in &order_ids {
        let (saga, order) = world.outcome(order_id).await;
        match status(&order) {
            OrderStatus::Confirmed => {
                *ends.entry("confirmed").or_default() += 1;
                let payments = world.payments(order_id).await;
                assert_eq!(payments.len(), 1);
                assert_eq!(payments[0].status, PaymentStatus::Captured as i32);
            }
            OrderStatus::Rejected => {
                *ends.entry("rejected").or_default() += 1;
                assert!(
                    order.status_reason.contains("DROP-1"),
                    "{}",
                    order.status_reason
                );
                // Nothing held, nothing authorized for a rejected order.
                if let Some(reservation) = world.reservation(order_id).await {
                    assert_eq!(reservation.state, ReservationState::Released as i32);
                }
                for payment in world.payments(order_id).await {
                    assert_eq!(payment.status, PaymentStatus::Voided as i32);
                }
            }
            other => panic!("order {order_id} ended {other:?}: {saga:#?}"),
        }
    }
    assert_eq!(ends.get("confirmed"), Some(&5), "{ends:?}");
    assert_eq!(ends.get("rejected"), Some(&16), "{ends:?}");
    assert_eq!(world.stock_of("DROP-1").await, (0, 0));
    world.suite.stop().await;
}
