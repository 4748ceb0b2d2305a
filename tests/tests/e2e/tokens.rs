//! The suite over mutual TLS with bearer tokens: every service verifies the
//! tokens of callers acting for someone (operators' tools, channels) against
//! the suite's key, and the token's subject and roles decide what they may do
//! and whom the records name.
//!
//! A support agent cannot compensate a saga (and nothing changes); an
//! operator can, and the saga's operator action names the operator's token
//! subject; a cancellation by a support agent is on the order's timeline as
//! that agent; a channel token reads its own channel's orders and not
//! another's; a certificate without a token, a forged token and a request
//! naming another actor are refused.

use oms_e2e::{Settings, world::*};
use oms_order::test_util::web_order;
use oms_platform::auth::{Role, TokenRequest, parse_channel};
use oms_proto::{
    common::v1::{ActorKind, Channel, ChannelKind},
    inventory::v1::{ListStockMovementsRequest, SetStockRequest, StockMovementKind},
    order::v1::{
        CancelOrderRequest, GetOrderRequest, OrderStatus, PlaceOrderRequest, TimelineEventKind,
    },
    saga::v1::{CompensateSagaRequest, GetSagaRequest, OperatorActionKind, SagaKind, SagaState},
};
use oms_testkit::keyed;
use tonic::{Code, Request};

/// `message` with the idempotency key `key` (a fresh one for each call).
fn change<T>(message: T) -> Request<T> {
    keyed(message, &format!("tokens-{}", uuid::Uuid::new_v4()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_support_token_cannot_compensate_a_saga_and_an_operators_compensation_names_its_subject()
{
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_with(
        Settings::default()
            .with_holds_lapsing_before_commit()
            .with_tls()
            .with_tokens(),
    )
    .await;
    world.stock("TEE-M", BERLIN, 2).await;
    world.stock("CAP", BERLIN, 1).await;
    let order_id = world.place(web_order("tokens-stuck-1")).await;
    world.saga_at_step(&order_id, "commit_stock").await;
    // The shirts are counted away while the hold expires: the saga sticks.
    world
        .suite
        .inventory()
        .set_stock(change(SetStockRequest {
            sku: "TEE-M".into(),
            location_id: BERLIN.into(),
            on_hand: 0,
            actor: None,
            note: "count".into(),
        }))
        .await
        .unwrap();
    // The stock ledger names the token's subject as who counted.
    let counts = world
        .suite
        .inventory()
        .list_stock_movements(ListStockMovementsRequest {
            sku: "TEE-M".into(),
            kinds: vec![StockMovementKind::Count as i32],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .movements;
    let counted_by: Vec<String> = counts
        .iter()
        .filter(|movement| movement.on_hand_after == 0)
        .map(|movement| movement.actor.clone().unwrap().id)
        .collect();
    assert_eq!(counted_by, vec![operator().id]);
    let stuck = world.saga_in(&order_id, &[SagaState::Stuck]).await;

    let compensate = |actor| CompensateSagaRequest {
        saga_id: stuck.saga_id.clone(),
        actor,
        reason: "the shirts are gone for good".into(),
    };
    let support = world
        .suite
        .clients()
        .clone()
        .with_token(&world.suite.token("agent-7", &[Role::Support]));
    let denied = support
        .saga()
        .compensate_saga(change(compensate(None)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(
        denied.message(),
        "agent-7 (roles: support) may not call oms.saga.v1.SagaService/CompensateSaga"
    );
    let unchanged = world.saga_in(&order_id, &[SagaState::Stuck]).await;
    assert!(unchanged.operator_actions.is_empty(), "{unchanged:#?}");

    // An operator's token may; naming someone else as the actor is refused.
    let alice = world
        .suite
        .clients()
        .clone()
        .with_token(&world.suite.token("ops-alice", &[Role::Operator]));
    let impostor = alice
        .saga()
        .compensate_saga(change(compensate(Some(operator()))))
        .await
        .unwrap_err();
    assert_eq!(impostor.code(), Code::InvalidArgument, "{impostor:?}");
    assert!(
        impostor.message().contains("actor") || format!("{impostor:?}").contains("actor"),
        "{impostor:?}"
    );
    alice
        .saga()
        .compensate_saga(change(compensate(None)))
        .await
        .unwrap();
    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(saga.state, SagaState::Compensated as i32, "{saga:#?}");
    assert_eq!(status(&order), OrderStatus::Rejected);
    let saga = world
        .saga()
        .get_saga(GetSagaRequest {
            saga_id: saga.saga_id,
        })
        .await
        .unwrap()
        .into_inner()
        .saga
        .unwrap();
    let actions: Vec<(i32, i32, String)> = saga
        .operator_actions
        .iter()
        .map(|action| {
            let actor = action.actor.clone().unwrap();
            (action.kind, actor.kind, actor.id)
        })
        .collect();
    assert_eq!(
        actions,
        vec![(
            OperatorActionKind::Compensate as i32,
            ActorKind::Operator as i32,
            "ops-alice".to_owned()
        )]
    );
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_tokens_read_only_their_own_orders_and_the_timeline_names_who_cancelled() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_with(Settings::default().with_tls().with_tokens()).await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let channel_clients = |subject: &str, channel: &str| {
        let token = world.suite.sign(
            &TokenRequest::new(subject, &[Role::Channel])
                .for_channel(parse_channel(channel).unwrap()),
        );
        let caller = world
            .suite
            .caller_as(oms_platform::access::Principal::Channel);
        world.suite.clients_as(&caller).with_token(&token)
    };
    let web = channel_clients("web-connector", "web");
    let zalando = channel_clients("zalando-connector", "marketplace:zalando");

    let placed = web
        .order()
        .place_order(web_order("tokens-web-1"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let theirs = zalando
        .order()
        .place_order(PlaceOrderRequest {
            channel: Some(Channel {
                kind: ChannelKind::Marketplace as i32,
                name: "zalando".into(),
            }),
            ..web_order("tokens-z-1")
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let (saga, order) = world.outcome(&placed.order_id).await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    let placed_by = order
        .timeline
        .iter()
        .find(|event| event.kind == TimelineEventKind::OrderPlaced as i32)
        .and_then(|event| event.actor.clone())
        .unwrap();
    assert_eq!(
        (placed_by.kind, placed_by.id.as_str()),
        (ActorKind::Channel as i32, "web-connector")
    );

    let get = |order_id: &str| GetOrderRequest {
        order_id: order_id.into(),
        ..Default::default()
    };
    let read = web
        .order()
        .get_order(get(&placed.order_id))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(read.order_id, placed.order_id);
    let denied = web
        .order()
        .get_order(get(&theirs.order_id))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(
        denied.message(),
        "a token of channel web may not read orders of another channel"
    );
    // A channel cannot cancel, even its own order; a support agent can, and
    // the timeline says who.
    let cancel = CancelOrderRequest {
        order_id: placed.order_id.clone(),
        reason: "customer changed mind".into(),
        ..Default::default()
    };
    let refused = web
        .order()
        .cancel_order(change(cancel.clone()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    let agent = world
        .suite
        .clients()
        .clone()
        .with_token(&world.suite.token("agent-7", &[Role::Support]));
    agent.order().cancel_order(change(cancel)).await.unwrap();
    world
        .saga_of(SagaKind::Cancel, &placed.order_id, &[SagaState::Completed])
        .await;
    let cancelled = world.order(&placed.order_id).await;
    assert_eq!(status(&cancelled), OrderStatus::Cancelled);
    let requested_by: Vec<(i32, String)> = cancelled
        .timeline
        .iter()
        .filter(|event| {
            event.kind == TimelineEventKind::StatusChanged as i32
                && event.to_status == OrderStatus::CancelRequested as i32
        })
        .filter_map(|event| event.actor.clone())
        .map(|actor| (actor.kind, actor.id))
        .collect();
    assert_eq!(
        requested_by,
        vec![(ActorKind::Operator as i32, "agent-7".to_owned())]
    );

    // The operator's certificate without a token, or with a forged one, is
    // refused.
    let bare = world.suite.clients_as(world.suite.caller());
    let missing = bare
        .order()
        .get_order(get(&theirs.order_id))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated, "{missing:?}");
    let forged = oms_platform::auth::DevTokenKey::generate("e2e")
        .unwrap()
        .sign(&TokenRequest::new("op-1", &[Role::Operator]))
        .unwrap();
    let refused = bare
        .with_token(&forged)
        .order()
        .get_order(get(&theirs.order_id))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert_eq!(
        refused.message(),
        "oms.order.v1.OrderService/GetOrder: the bearer token is not signed by a trusted key"
    );
    world.suite.stop().await;
}
