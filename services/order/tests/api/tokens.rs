//! Bearer tokens at the order service: a channel token places and reads only
//! its own channel's orders; a token's subject is who acts, and a request
//! naming anyone else is refused.

use std::sync::Arc;

use oms_order::test_util;
use oms_platform::{
    auth::{DevTokenKey, Role, TokenConfig, TokenRequest, parse_channel},
    config::Service,
};
use oms_proto::{
    common::v1::{ActorKind, Channel, ChannelKind},
    order::v1::{
        AddNoteRequest, GetOrderRequest, PlaceOrderRequest, SearchOrdersRequest, TimelineEventKind,
        order_service_client::OrderServiceClient,
    },
};
use oms_testkit::{ReservedPort, TestService, peers};
use tonic::{Code, Request};

use crate::helpers::*;

/// The order service verifying tokens signed by `key` (in plaintext, where a
/// token, when sent, is verified and counts).
async fn start(key: &DevTokenKey) -> TestService {
    let client = peers([(Service::Saga, ReservedPort::new().address())]);
    let verifier = Arc::new(key.verifier());
    test_util::start(ReservedPort::new(), client, move |config| {
        config.server.tokens = Some(TokenConfig {
            keys_path: "test".into(),
            verifier,
        });
    })
    .await
}

/// `message` with `token` as its bearer token.
fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

/// `message` with `token` and the idempotency key `key`.
fn with_token_keyed<T>(message: T, token: &str, key: &str) -> Request<T> {
    let mut request = with_token(message, token);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().unwrap());
    request
}

fn channel_token(key: &DevTokenKey, subject: &str, channel: &str) -> String {
    key.sign(
        &TokenRequest::new(subject, &[Role::Channel]).for_channel(parse_channel(channel).unwrap()),
    )
    .unwrap()
}

fn marketplace(name: &str) -> Option<Channel> {
    Some(Channel {
        kind: ChannelKind::Marketplace as i32,
        name: name.into(),
    })
}

#[tokio::test]
async fn a_channel_token_places_and_reads_only_its_own_channels_orders() {
    let key = DevTokenKey::generate("k1").unwrap();
    let service = start(&key).await;
    let mut client = OrderServiceClient::new(service.channel());
    let web = channel_token(&key, "web-connector", "web");
    let zalando = channel_token(&key, "zalando-connector", "marketplace:zalando");

    let own = client
        .place_order(with_token(web_order("web-1"), &web))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let placed_event = own
        .timeline
        .iter()
        .find(|event| event.kind == TimelineEventKind::OrderPlaced as i32)
        .expect("a placed event");
    let actor = placed_event.actor.clone().unwrap();
    assert_eq!(
        (actor.kind, actor.id.as_str()),
        (ActorKind::Channel as i32, "web-connector")
    );
    let theirs = client
        .place_order(with_token(
            PlaceOrderRequest {
                channel: marketplace("zalando"),
                ..web_order("z-1")
            },
            &zalando,
        ))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();

    // Placing for another channel is refused, and places nothing.
    let refused = client
        .place_order(with_token(
            PlaceOrderRequest {
                channel: marketplace("zalando"),
                ..web_order("z-2")
            },
            &web,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(
        refused.message(),
        "a token of channel web may not place orders for another channel"
    );
    let by_key = client
        .get_order(GetOrderRequest {
            channel: marketplace("zalando"),
            external_reference: "z-2".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(by_key.code(), Code::NotFound);

    // Reading another channel's order is refused; its own is served.
    let get = |order_id: &str| GetOrderRequest {
        order_id: order_id.into(),
        ..Default::default()
    };
    let denied = client
        .get_order(with_token(get(&theirs.order_id), &web))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(
        !denied.message().contains("zalando"),
        "names nothing of the other channel: {}",
        denied.message()
    );
    let read = client
        .get_order(with_token(get(&own.order_id), &web))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(read.order_id, own.order_id);

    // A search sees only its own channel, and may not name another.
    let found = client
        .search_orders(with_token(SearchOrdersRequest::default(), &web))
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = found
        .orders
        .iter()
        .map(|order| order.order_id.as_str())
        .collect();
    assert_eq!(ids, vec![own.order_id.as_str()]);
    let other = client
        .search_orders(with_token(
            SearchOrdersRequest {
                channels: vec![marketplace("zalando").unwrap()],
                ..Default::default()
            },
            &web,
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    service.stop().await;
}

#[tokio::test]
async fn the_token_subject_is_who_acts_and_no_one_else_may_be_named() {
    let key = DevTokenKey::generate("k1").unwrap();
    let service = start(&key).await;
    let mut client = OrderServiceClient::new(service.channel());
    let order = client
        .place_order(web_order("web-2"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let agent = key
        .sign(&TokenRequest::new("agent-7", &[Role::Support]))
        .unwrap();
    let note = |actor| AddNoteRequest {
        order_id: order.order_id.clone(),
        text: "called the customer".into(),
        actor,
    };

    // Naming someone else is refused and records nothing.
    let refused = client
        .add_note(with_token_keyed(note(Some(operator())), &agent, "n-1"))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&refused), vec!["actor"]);

    let added = client
        .add_note(with_token_keyed(note(None), &agent, "n-2"))
        .await
        .unwrap()
        .into_inner();
    let actor = added.note.unwrap().actor.unwrap();
    assert_eq!(
        (actor.kind, actor.id.as_str()),
        (ActorKind::Operator as i32, "agent-7")
    );
    let timeline = added.order.unwrap().timeline;
    let noted: Vec<String> = timeline
        .iter()
        .filter(|event| event.kind == TimelineEventKind::NoteAdded as i32)
        .map(|event| event.actor.clone().unwrap().id)
        .collect();
    assert_eq!(noted, vec!["agent-7".to_owned()]);

    // An auditor reads but does not write; a forged token does neither.
    let auditor = key
        .sign(&TokenRequest::new("audit-1", &[Role::Auditor]))
        .unwrap();
    let denied = client
        .add_note(with_token_keyed(note(None), &auditor, "n-3"))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(
        denied.message(),
        "audit-1 (roles: auditor) may not call oms.order.v1.OrderService/AddNote"
    );
    let forged = DevTokenKey::generate("k1")
        .unwrap()
        .sign(&TokenRequest::new("agent-7", &[Role::Operator]))
        .unwrap();
    let unauthenticated = client
        .add_note(with_token_keyed(note(None), &forged, "n-4"))
        .await
        .unwrap_err();
    assert_eq!(unauthenticated.code(), Code::Unauthenticated);
    service.stop().await;
}
