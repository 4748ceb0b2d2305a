//! WatchAvailability: live changes, resuming from a position, heartbeats.

use std::time::Duration;

use oms_proto::inventory::v1::{
    ReleaseRequest, WatchAvailabilityRequest, WatchAvailabilityResponse,
    watch_availability_response::Event,
};
use tokio_stream::StreamExt as _;

use crate::helpers::*;

/// The next change on the stream, skipping heartbeats.
async fn next_change(
    stream: &mut tonic::Streaming<WatchAvailabilityResponse>,
) -> oms_proto::inventory::v1::AvailabilityChange {
    next_event(stream, |event| match event {
        Event::Change(change) => Some(change),
        _ => None,
    })
    .await
}

/// The first event `pick` takes, skipping the others; fails after 20 s, so a
/// stream that only sends heartbeats cannot keep the test waiting forever.
async fn next_event<T>(
    stream: &mut tonic::Streaming<WatchAvailabilityResponse>,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let wanted = async {
        loop {
            let message = stream
                .next()
                .await
                .expect("the stream is open")
                .expect("a message, not an error");
            if let Some(picked) = message.event.and_then(&mut pick) {
                return picked;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wanted)
        .await
        .expect("the awaited event within 20 s")
}

#[tokio::test]
async fn a_watcher_sees_each_change_in_order_and_resumes_after_its_last_position() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    inventory.set_stock("other", "wh-1", 5).await;
    let snapshot = inventory
        .client()
        .get_availability(oms_proto::inventory::v1::GetAvailabilityRequest {
            skus: vec!["tee-m".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut stream = inventory
        .client()
        .watch_availability(WatchAvailabilityRequest {
            skus: vec!["tee-m".into()],
            start_after_sequence: snapshot.sequence,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("tee-m", "wh-1", 2)],
    )
    .await
    .unwrap();
    reserve(
        &mut inventory.client(),
        "order-2",
        vec![line("other", "wh-1", 1)],
    )
    .await
    .unwrap();
    inventory
        .client()
        .release(ReleaseRequest {
            order_id: id("order-1"),
            reason: String::new(),
            actor: Some(saga()),
        })
        .await
        .unwrap();

    let reserved = next_change(&mut stream).await;
    let released = next_change(&mut stream).await;
    assert_eq!(
        (
            reserved.available_before,
            reserved.stock.as_ref().unwrap().available
        ),
        (5, 3)
    );
    assert_eq!(
        (
            released.available_before,
            released.stock.as_ref().unwrap().available
        ),
        (3, 5)
    );
    assert!(released.sequence > reserved.sequence);
    assert!(reserved.sequence > snapshot.sequence);
    drop(stream);

    // A watcher that reconnects after the first change gets the second again.
    let mut resumed = inventory
        .client()
        .watch_availability(WatchAvailabilityRequest {
            skus: vec!["tee-m".into()],
            start_after_sequence: reserved.sequence,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next_change(&mut resumed).await.sequence, released.sequence);
    drop(resumed);
    inventory.finish().await;
}

#[tokio::test]
async fn an_idle_watcher_gets_heartbeats_with_the_latest_position() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    let mut stream = inventory
        .client()
        .watch_availability(WatchAvailabilityRequest::default())
        .await
        .unwrap()
        .into_inner();

    // "From now" may still include the count, if the feed had not published it yet.
    let heartbeat = next_event(&mut stream, |event| match event {
        Event::Heartbeat(heartbeat) => Some(heartbeat),
        Event::Change(change) => {
            assert_eq!(change.sequence, 1);
            None
        }
        other => panic!("expected a heartbeat, got {other:?}"),
    })
    .await;
    assert_eq!(heartbeat.sequence, 1);
    let ahead = inventory
        .client()
        .watch_availability(WatchAvailabilityRequest {
            start_after_sequence: 1_000_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&ahead), ["start_after_sequence"]);
    drop(stream);
    inventory.finish().await;
}

#[tokio::test]
async fn a_channel_watcher_is_told_to_resync_when_its_policy_changes() {
    use oms_proto::{
        common::v1::ChannelKind,
        inventory::v1::{
            ChannelAvailabilityPolicy, PutChannelAvailabilityPolicyRequest, ResyncReason,
        },
    };
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    let amazon = channel(ChannelKind::Marketplace, "amazon-de");
    let mut stream = inventory
        .client()
        .watch_availability(WatchAvailabilityRequest {
            channel: Some(amazon.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    inventory
        .client()
        .put_channel_availability_policy(PutChannelAvailabilityPolicyRequest {
            policy: Some(ChannelAvailabilityPolicy {
                channel: Some(amazon),
                safety_buffer: 2,
                ..Default::default()
            }),
            actor: Some(operator()),
        })
        .await
        .unwrap();

    let resync = next_event(&mut stream, |event| match event {
        Event::ResyncRequired(resync) => Some(resync),
        _ => None,
    })
    .await;
    assert_eq!(resync.reason, ResyncReason::ChannelPolicyChanged as i32);
    drop(stream);
    inventory.finish().await;
}

#[tokio::test]
async fn every_watcher_on_every_instance_sees_the_sold_out_change_at_once() {
    let mut inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("drop", "wh-1", 3).await;
    let other = inventory.another_instance().await;
    let snapshot = inventory
        .client()
        .get_availability(oms_proto::inventory::v1::GetAvailabilityRequest {
            skus: vec!["drop".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut streams = Vec::new();
    let web = oms_proto::common::v1::Channel {
        kind: oms_proto::common::v1::ChannelKind::Web as i32,
        name: String::new(),
    };
    for client in [inventory.client(), other.clone()] {
        for (skus, channel) in [
            (vec!["drop".to_owned()], None),
            (vec![], None),
            (vec!["drop".to_owned()], Some(web.clone())),
        ] {
            let stream = client
                .clone()
                .watch_availability(WatchAvailabilityRequest {
                    skus,
                    channel,
                    start_after_sequence: snapshot.sequence,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            streams.push(stream);
        }
    }
    // Every watcher is following: each sees the first unit go.
    reserve(
        &mut inventory.client(),
        "order-0",
        vec![line("drop", "wh-1", 1)],
    )
    .await
    .unwrap();
    for stream in &mut streams {
        assert_eq!(next_change(stream).await.stock.unwrap().available, 2);
    }

    // The last two units, one through each instance, at once.
    let last = [(inventory.client(), "order-1"), (other, "order-2")].map(|(client, order)| {
        let mut client = client.clone();
        async move { reserve(&mut client, order, vec![line("drop", "wh-1", 1)]).await }
    });
    let outcomes = join_all(last).await;
    let reserved = tokio::time::Instant::now();
    assert!(outcomes.iter().all(Result::is_ok));

    // The feed polls every 50 ms, so a watcher hears of the drop well within the
    // 100 ms channels are promised on a machine that is not overloaded; the
    // bound here is for a CI machine running every test at once, and still
    // far below the heartbeat (15 s) a watcher that missed the change would
    // wait for.
    let deadline = reserved + Duration::from_secs(2);
    for stream in &mut streams {
        let sold_out = async {
            loop {
                let change = next_change(stream).await;
                if change.stock.as_ref().unwrap().available == 0 {
                    return change;
                }
            }
        };
        let change = tokio::time::timeout_at(deadline, sold_out)
            .await
            .expect("the sold-out change soon after the last unit's reservation");
        assert_eq!((change.sku.as_str(), change.available_before), ("drop", 1));
        if let Some(view) = change.channel {
            assert_eq!(view.available, 0, "the channel sees the drop sold out");
        }
    }
    drop(streams);
    inventory.finish().await;
}
