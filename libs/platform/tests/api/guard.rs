//! The request guard in front of a real OMS service (the outbox's
//! OutboxService): a NUL or a card number in any string field is refused
//! before the handler, and so before Postgres, which would refuse a NUL itself
//! and make it INTERNAL.

use oms_proto::{
    common::v1::{Actor, ActorKind},
    outbox::v1::{ListOutboxMessagesRequest, RedriveOutboxMessagesRequest},
};
use oms_testkit::status::bad_fields;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::outbox::Outbox;

#[tokio::test]
async fn a_nul_in_a_string_field_is_invalid_argument_naming_it() {
    let outbox = Outbox::new().await;
    let status = outbox
        .admin()
        .list_outbox_messages(ListOutboxMessagesRequest {
            topic: "oms\0".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["topic"]);
    assert_eq!(
        status.message(),
        "invalid topic: must not contain NUL characters"
    );

    // A clean request still reaches the handler.
    let listed = outbox
        .admin()
        .list_outbox_messages(ListOutboxMessagesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.messages.is_empty());
}

#[tokio::test]
async fn every_refused_field_is_named_at_once_and_no_card_number_is_echoed() {
    let outbox = Outbox::new().await;
    let status = outbox
        .admin()
        .redrive_outbox_messages(RedriveOutboxMessagesRequest {
            message_ids: vec![1],
            topic: "\0".into(),
            actor: Some(Actor {
                kind: ActorKind::Operator as i32,
                id: "4111 1111 1111 1111".into(),
            }),
            reason: "card 5500-0000-0000-0004 on file".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&status), ["topic", "actor.id", "reason"]);
    let details = format!("{:?}", status.get_error_details());
    for text in [status.message(), details.as_str()] {
        assert!(!text.contains("4111") && !text.contains("5500"), "{text}");
    }
}

#[tokio::test]
async fn a_message_spread_over_many_frames_is_checked_whole() {
    let outbox = Outbox::new().await;
    // About 300 KB of ids arrive in many HTTP/2 DATA frames; the NUL is after
    // them. The handler would have named message_ids (too many) first.
    let status = outbox
        .admin()
        .redrive_outbox_messages(RedriveOutboxMessagesRequest {
            message_ids: vec![i64::MAX; 30_000],
            topic: String::new(),
            actor: Some(Actor {
                kind: ActorKind::Operator as i32,
                id: "op\0".into(),
            }),
            reason: "retry".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&status), ["actor.id"]);
}
