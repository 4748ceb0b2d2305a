//! Customer service edits: notes, tags.

use oms_proto::order::v1::{AddNoteRequest, AddTagsRequest, RemoveTagRequest, TimelineEventKind};
use tonic::{Code, Request};

use crate::helpers::*;

#[tokio::test]
async fn a_note_is_added_once_per_key_and_recorded_on_the_timeline() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = client
        .place_order(web_order("web-n"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let note = |text: &str, key: &str| {
        let mut request = Request::new(AddNoteRequest {
            order_id: order.order_id.clone(),
            text: text.into(),
            actor: Some(operator()),
        });
        request
            .metadata_mut()
            .insert("idempotency-key", key.parse().unwrap());
        request
    };

    let first = client
        .add_note(note("called the customer", "n-1"))
        .await
        .unwrap()
        .into_inner();
    let retry = client
        .add_note(note("called the customer", "n-1"))
        .await
        .unwrap()
        .into_inner();
    let reused = client
        .add_note(note("something else", "n-1"))
        .await
        .unwrap_err();

    assert_eq!(
        first.note.as_ref().unwrap().note_id,
        retry.note.as_ref().unwrap().note_id
    );
    let order = retry.order.unwrap();
    assert_eq!(
        order.notes.len(),
        2,
        "the placement note and one added note"
    );
    let added = order
        .timeline
        .iter()
        .filter(|e| e.kind == TimelineEventKind::NoteAdded as i32)
        .count();
    assert_eq!(added, 1);
    assert_eq!(reason(&reused), "IDEMPOTENCY_KEY_REUSED");
    let unknown = client
        .add_note({
            let mut request = note("x", "n-2");
            request.get_mut().order_id = uuid::Uuid::new_v4().to_string();
            request
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    orders.stop().await;
}

#[tokio::test]
async fn tags_are_added_and_removed_and_only_changes_are_recorded() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order = client
        .place_order(web_order("web-t"))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let add = |tags: &[&str]| AddTagsRequest {
        order_id: order.order_id.clone(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        actor: Some(operator()),
    };

    let added = client
        .add_tags(add(&["Fraud-Check", "vip"]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let unchanged = client
        .add_tags(add(&["vip"]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let removed = client
        .remove_tag(RemoveTagRequest {
            order_id: order.order_id.clone(),
            tag: "gift".into(),
            actor: Some(operator()),
        })
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let bad = client.add_tags(add(&["no spaces"])).await.unwrap_err();

    assert_eq!(added.tags, ["fraud-check", "gift", "vip"]);
    assert_eq!(unchanged.timeline.len(), added.timeline.len());
    assert_eq!(removed.tags, ["fraud-check", "vip"]);
    let kinds: Vec<i32> = removed.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            TimelineEventKind::OrderPlaced as i32,
            TimelineEventKind::TagsAdded as i32,
            TimelineEventKind::TagRemoved as i32
        ]
    );
    let new_tags: Vec<_> = removed.timeline[1]
        .references
        .iter()
        .map(|r| r.value.as_str())
        .collect();
    assert_eq!(new_tags, ["fraud-check"]);
    assert_eq!(bad_fields(&bad), ["tags[0]"]);
    orders.stop().await;
}
