//! Reserve, Release, CommitReservation and expiry, one behaviour per test.

use std::time::Duration;

use oms_proto::{
    common::v1::ChannelKind,
    inventory::v1::{
        CommitReservationRequest, GetReservationRequest, ReleaseRequest, ReservationState,
        get_reservation_request::Key,
    },
};
use oms_testkit::poll_until;
use tonic::Code;
use tonic_types::StatusExt as _;

use crate::helpers::*;

#[tokio::test]
async fn stock_of_five_and_seven_channels_at_once_holds_exactly_five() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    let channels = [
        channel(ChannelKind::Web, ""),
        channel(ChannelKind::App, ""),
        channel(ChannelKind::Marketplace, "amazon-de"),
        channel(ChannelKind::Marketplace, "zalando"),
        channel(ChannelKind::Marketplace, "ebay"),
        channel(ChannelKind::Store, "wh-1"),
        channel(ChannelKind::CallCenter, ""),
    ];

    let calls = channels.iter().enumerate().map(|(index, channel)| {
        let mut client = inventory.client();
        let mut request =
            reserve_request(&format!("order-{index}"), vec![line("tee-m", "wh-1", 1)]);
        request.channel = Some(channel.clone());
        async move { client.reserve(request).await }
    });
    let outcomes = join_all(calls).await;

    let held = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(held, 5);
    for refused in outcomes.iter().filter_map(|outcome| outcome.as_ref().err()) {
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(reason(refused), "INSUFFICIENT_STOCK");
        assert_eq!(metadata(refused, "sku"), "tee-m");
        assert_eq!(metadata(refused, "available"), "0");
    }
    let availability = inventory.availability("tee-m", None).await;
    assert_eq!(
        (
            availability.on_hand,
            availability.reserved,
            availability.available
        ),
        (5, 5, 0)
    );
    for channel in channels {
        let view = inventory
            .availability("tee-m", Some(channel))
            .await
            .channel
            .unwrap();
        assert_eq!(view.available, 0);
    }
    inventory.finish().await;
}

#[tokio::test]
async fn an_order_whose_second_line_cannot_be_met_reserves_nothing() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("wh-2").await;
    inventory.set_stock("tee-m", "wh-1", 3).await;
    inventory.set_stock("cap", "wh-2", 1).await;

    let refused = reserve(
        &mut inventory.client(),
        "order-1",
        vec![
            line("tee-m", "wh-1", 2),
            line("cap", "wh-2", 2),
            line("tee-m", "wh-2", 1),
        ],
    )
    .await
    .unwrap_err();

    assert_eq!(reason(&refused), "INSUFFICIENT_STOCK");
    assert_eq!(metadata(&refused, "sku"), "cap");
    assert_eq!(metadata(&refused, "requested"), "2");
    let short: Vec<_> = refused
        .get_error_details()
        .precondition_failure()
        .unwrap()
        .violations
        .iter()
        .map(|violation| violation.subject.clone())
        .collect();
    assert_eq!(short, ["cap@wh-2", "tee-m@wh-2"]);
    assert_eq!(inventory.availability("tee-m", None).await.available, 3);
    assert_eq!(inventory.availability("cap", None).await.available, 1);
    let missing = inventory
        .client()
        .get_reservation(GetReservationRequest {
            key: Some(Key::OrderId(id("order-1"))),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    // Nothing was stored, so the saga may re-plan and reserve the order again.
    reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("tee-m", "wh-1", 2), line("cap", "wh-2", 1)],
    )
    .await
    .unwrap();
    inventory.finish().await;
}

#[tokio::test]
async fn a_hold_past_its_ttl_returns_its_stock_even_after_redis_lost_everything() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 4).await;
    let mut request = reserve_request("order-1", vec![line("tee-m", "wh-1", 3)]);
    request.ttl = Some(prost_types::Duration {
        seconds: 1,
        nanos: 0,
    });
    inventory.client().reserve(request).await.unwrap();
    assert_eq!(inventory.availability("tee-m", None).await.available, 1);
    inventory.redis.flush().await;

    let client = inventory.client();
    poll_until("the hold to expire", Duration::from_secs(15), || {
        let mut client = client.clone();
        async move {
            let reservation = client
                .get_reservation(GetReservationRequest {
                    key: Some(Key::OrderId(id("order-1"))),
                })
                .await
                .ok()?
                .into_inner()
                .reservation?;
            (reservation.state == ReservationState::Expired as i32).then_some(())
        }
    })
    .await;

    assert_eq!(inventory.availability("tee-m", None).await.available, 4);
    let late = inventory
        .client()
        .commit_reservation(CommitReservationRequest {
            order_id: id("order-1"),
            actor: Some(saga()),
            reacquire_if_expired: false,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&late), "RESERVATION_EXPIRED");
    inventory.finish().await;
}

#[tokio::test]
async fn an_expired_reservation_is_committed_again_where_its_units_are_still_available() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 4).await;
    inventory.set_stock("cap", "wh-1", 1).await;
    let expiring = |order_id: &str, lines| {
        let mut request = reserve_request(order_id, lines);
        request.ttl = Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        });
        request
    };
    let mut client = inventory.client();
    client
        .reserve(expiring("order-1", vec![line("tee-m", "wh-1", 3)]))
        .await
        .unwrap();
    client
        .reserve(expiring(
            "order-2",
            vec![line("tee-m", "wh-1", 1), line("cap", "wh-1", 1)],
        ))
        .await
        .unwrap();
    let state = async |order_id: &str| inventory.reservation(order_id).await.state;
    poll_until("both holds to expire", Duration::from_secs(15), || async {
        let expired = ReservationState::Expired as i32;
        (state("order-1").await == expired && state("order-2").await == expired).then_some(())
    })
    .await;
    // Another order takes the only cap meanwhile.
    reserve(&mut client, "order-3", vec![line("cap", "wh-1", 1)])
        .await
        .unwrap();

    let commit = |order_id: &str| CommitReservationRequest {
        order_id: id(order_id),
        actor: Some(saga()),
        reacquire_if_expired: true,
    };
    let committed = client
        .commit_reservation(commit("order-1"))
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    assert_eq!(committed.state, ReservationState::Committed as i32);
    let again = client.commit_reservation(commit("order-1")).await.unwrap();
    assert_eq!(again.into_inner().reservation.unwrap(), committed);
    let tee = inventory.availability("tee-m", None).await;
    assert_eq!((tee.on_hand, tee.available), (1, 1));

    // All or nothing: the cap is gone, so the tee stays too.
    let short = client
        .commit_reservation(commit("order-2"))
        .await
        .unwrap_err();
    assert_eq!(reason(&short), "INSUFFICIENT_STOCK");
    assert_eq!(metadata(&short, "sku"), "cap");
    assert_eq!(state("order-2").await, ReservationState::Expired as i32);
    assert_eq!(inventory.availability("tee-m", None).await.on_hand, 1);
    inventory.finish().await;
}

#[tokio::test]
async fn releasing_twice_changes_stock_once() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 2).await;
    reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("tee-m", "wh-1", 2)],
    )
    .await
    .unwrap();

    let release = || {
        let mut client = inventory.client();
        async move {
            client
                .release(ReleaseRequest {
                    order_id: id("order-1"),
                    reason: "payment declined".into(),
                    actor: Some(saga()),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    let first = release().await;
    let second = release().await;

    assert!(first.changed);
    assert!(!second.changed);
    let reservation = second.reservation.unwrap();
    assert_eq!(reservation.state, ReservationState::Released as i32);
    assert_eq!(reservation.release_reason, "payment declined");
    assert_eq!(inventory.availability("tee-m", None).await.available, 2);
    inventory.finish().await;
}

#[tokio::test]
async fn a_release_before_the_reserve_leaves_a_tombstone_that_holds_nothing() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 2).await;

    let released = inventory
        .client()
        .release(ReleaseRequest {
            order_id: id("order-9"),
            reason: String::new(),
            actor: Some(saga()),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(released.changed);
    assert!(released.reservation.unwrap().lines.is_empty());

    let late = reserve(
        &mut inventory.client(),
        "order-9",
        vec![line("tee-m", "wh-1", 1)],
    )
    .await
    .unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert_eq!(reason(&late), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&late, "from_state"), "RELEASED");
    assert_eq!(inventory.availability("tee-m", None).await.available, 2);
    inventory.finish().await;
}

#[tokio::test]
async fn a_retried_reserve_returns_the_first_reservation_and_holds_once() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 10).await;
    inventory.set_stock("cap", "wh-1", 10).await;
    let lines = vec![line("tee-m", "wh-1", 2), line("cap", "wh-1", 1)];

    let calls = (0..10).map(|_| {
        let mut client = inventory.client();
        let lines = lines.clone();
        async move { reserve(&mut client, "order-1", lines).await }
    });
    let outcomes = join_all(calls).await;
    let ids: std::collections::HashSet<_> = outcomes
        .into_iter()
        .map(|outcome| outcome.unwrap().reservation.unwrap().reservation_id)
        .collect();
    assert_eq!(ids.len(), 1);

    // The same lines in another order are the same request.
    let reversed = vec![line("cap", "wh-1", 1), line("tee-m", "wh-1", 2)];
    let again = reserve(&mut inventory.client(), "order-1", reversed)
        .await
        .unwrap();
    assert!(ids.contains(&again.reservation.unwrap().reservation_id));
    assert_eq!(inventory.availability("tee-m", None).await.reserved, 2);

    let different = reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("tee-m", "wh-1", 3)],
    )
    .await
    .unwrap_err();
    // A natural key (the order id) reused with another request.
    assert_eq!(different.code(), Code::AlreadyExists);
    assert_eq!(reason(&different), "NATURAL_KEY_CONFLICT");
    assert_eq!(metadata(&different, "order_id"), id("order-1"));
    inventory.finish().await;
}

#[tokio::test]
async fn committing_takes_the_units_off_hand_once() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("tee-m", "wh-1", 2)],
    )
    .await
    .unwrap();

    let commit = || {
        let mut client = inventory.client();
        async move {
            client
                .commit_reservation(CommitReservationRequest {
                    order_id: id("order-1"),
                    actor: Some(saga()),
                    reacquire_if_expired: false,
                })
                .await
        }
    };
    let first = commit().await.unwrap().into_inner().reservation.unwrap();
    let second = commit().await.unwrap().into_inner().reservation.unwrap();

    assert_eq!(first.state, ReservationState::Committed as i32);
    assert_eq!(second.update_time, first.update_time);
    let availability = inventory.availability("tee-m", None).await;
    assert_eq!(
        (
            availability.on_hand,
            availability.reserved,
            availability.available
        ),
        (3, 0, 3)
    );
    let release = inventory
        .client()
        .release(ReleaseRequest {
            order_id: id("order-1"),
            reason: String::new(),
            actor: Some(saga()),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&release), "ILLEGAL_STATE_TRANSITION");
    assert_eq!(metadata(&release, "from_state"), "COMMITTED");
    // A Reserve retried after the commit still gets the reservation back.
    let retried = reserve(
        &mut inventory.client(),
        "order-1",
        vec![line("tee-m", "wh-1", 2)],
    )
    .await
    .unwrap();
    assert_eq!(
        retried.reservation.unwrap().state,
        ReservationState::Committed as i32
    );
    let unknown = inventory
        .client()
        .commit_reservation(CommitReservationRequest {
            order_id: id("order-2"),
            actor: Some(saga()),
            reacquire_if_expired: false,
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    inventory.finish().await;
}

#[tokio::test]
async fn bad_reserve_requests_name_the_field_and_change_nothing() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    put_location(&mut inventory.client(), "wh-closed", false).await;
    inventory.set_stock("tee-m", "wh-1", 5).await;
    inventory.set_stock("tee-m", "wh-closed", 5).await;
    let mut client = inventory.client();

    let cases = [
        (
            reserve_request("", vec![line("tee-m", "wh-1", 1)]),
            vec!["order_id"],
        ),
        (reserve_request("order-1", vec![]), vec!["lines"]),
        (
            reserve_request("order-1", vec![line("tee-m", "wh-1", 0)]),
            vec!["lines[0].quantity"],
        ),
        (
            reserve_request("order-1", vec![line("tee-m", "wh-1", -2)]),
            vec!["lines[0].quantity"],
        ),
        (
            reserve_request("order-1", vec![line("tee m", "wh-1", 1)]),
            vec!["lines[0].sku"],
        ),
        (
            reserve_request(
                "order-1",
                vec![line("tee-m", "wh-1", 1), line("tee-m", "wh-1", 2)],
            ),
            vec!["lines[1]"],
        ),
    ];
    for (request, fields) in cases {
        let status = client.reserve(request).await.unwrap_err();
        assert_eq!(bad_fields(&status), fields);
    }
    let mut no_actor = reserve_request("order-1", vec![line("tee-m", "wh-1", 1)]);
    no_actor.actor = None;
    no_actor.ttl = Some(prost_types::Duration {
        seconds: 0,
        nanos: 0,
    });
    let status = client.reserve(no_actor).await.unwrap_err();
    assert_eq!(bad_fields(&status), ["ttl", "actor"]);

    let unknown_location = reserve(&mut client, "order-1", vec![line("tee-m", "wh-9", 1)])
        .await
        .unwrap_err();
    assert_eq!(unknown_location.code(), Code::NotFound);
    assert_eq!(
        unknown_location
            .get_error_details()
            .resource_info()
            .unwrap()
            .resource_name,
        "wh-9"
    );
    let unknown_sku = reserve(&mut client, "order-1", vec![line("hat", "wh-1", 1)])
        .await
        .unwrap_err();
    assert_eq!(unknown_sku.code(), Code::NotFound);
    assert_eq!(
        unknown_sku
            .get_error_details()
            .resource_info()
            .unwrap()
            .resource_name,
        "hat"
    );
    let inactive = reserve(&mut client, "order-1", vec![line("tee-m", "wh-closed", 1)])
        .await
        .unwrap_err();
    assert_eq!(reason(&inactive), "LOCATION_INACTIVE");
    assert_eq!(metadata(&inactive, "location_id"), "wh-closed");

    let availability = inventory.availability("tee-m", None).await;
    assert_eq!((availability.reserved, availability.available), (0, 5));
    inventory.finish().await;
}

#[tokio::test]
async fn reservations_are_listed_newest_first_by_state_and_counted_per_location() {
    use oms_proto::{
        common::v1::PageRequest,
        inventory::v1::{GetLocationLoadRequest, ListReservationsRequest, LocationLoadQuery},
    };
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("wh-2").await;
    inventory.set_stock("tee-m", "wh-1", 10).await;
    inventory.set_stock("tee-m", "wh-2", 10).await;
    let since =
        prost_types::Timestamp::from(std::time::SystemTime::now() - Duration::from_secs(60));
    let mut client = inventory.client();
    reserve(&mut client, "order-1", vec![line("tee-m", "wh-1", 2)])
        .await
        .unwrap();
    reserve(
        &mut client,
        "order-2",
        vec![line("tee-m", "wh-1", 1), line("tee-m", "wh-2", 3)],
    )
    .await
    .unwrap();
    reserve(&mut client, "order-3", vec![line("tee-m", "wh-2", 1)])
        .await
        .unwrap();
    client
        .release(ReleaseRequest {
            order_id: id("order-3"),
            reason: String::new(),
            actor: Some(saga()),
        })
        .await
        .unwrap();

    let held = client
        .list_reservations(ListReservationsRequest {
            states: vec![ReservationState::Held as i32],
            page: Some(PageRequest {
                page_size: 1,
                page_token: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let rest = client
        .list_reservations(ListReservationsRequest {
            states: vec![ReservationState::Held as i32],
            page: Some(PageRequest {
                page_size: 1,
                page_token: held.page.unwrap().next_page_token,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let at_wh2 = client
        .list_reservations(ListReservationsRequest {
            location_id: "wh-2".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let loads = client
        .get_location_load(GetLocationLoadRequest {
            queries: ["wh-1", "wh-2", "wh-9"]
                .into_iter()
                .map(|id| LocationLoadQuery {
                    location_id: id.into(),
                    since: Some(since),
                })
                .collect(),
        })
        .await
        .unwrap()
        .into_inner()
        .loads;

    let orders = |list: &[oms_proto::inventory::v1::Reservation]| {
        list.iter().map(|r| r.order_id.clone()).collect::<Vec<_>>()
    };
    assert_eq!(orders(&held.reservations), [id("order-2")]);
    assert_eq!(orders(&rest.reservations), [id("order-1")]);
    assert_eq!(orders(&at_wh2.reservations), [id("order-3"), id("order-2")]);
    let counted: Vec<_> = loads
        .iter()
        .map(|load| (load.location_id.as_str(), load.orders, load.units))
        .collect();
    // order-3 was released: it no longer counts against wh-2.
    assert_eq!(counted, [("wh-1", 2, 3), ("wh-2", 1, 3), ("wh-9", 0, 0)]);
    inventory.finish().await;
}

#[tokio::test]
async fn commit_and_release_answer_with_the_reservation_a_read_finds_after_them() {
    let inventory = TestInventory::start().await;
    inventory.location("wh-1").await;
    inventory.location("wh-2").await;
    for (sku, location) in [("tee-m", "wh-2"), ("cap", "wh-1"), ("sock", "wh-1")] {
        inventory.set_stock(sku, location, 10).await;
    }
    // Lines out of (sku, location) order, so their order is the caller's.
    let lines = || {
        vec![
            line("tee-m", "wh-2", 2),
            line("cap", "wh-1", 1),
            line("sock", "wh-1", 3),
        ]
    };
    for order in ["order-1", "order-2"] {
        reserve(&mut inventory.client(), order, lines())
            .await
            .unwrap();
    }

    let committed = inventory
        .client()
        .commit_reservation(CommitReservationRequest {
            order_id: id("order-1"),
            actor: Some(saga()),
            reacquire_if_expired: false,
        })
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    let released = inventory
        .client()
        .release(ReleaseRequest {
            order_id: id("order-2"),
            reason: "payment declined".into(),
            actor: Some(saga()),
        })
        .await
        .unwrap()
        .into_inner();

    assert_eq!(committed.state, ReservationState::Committed as i32);
    assert_eq!(committed.lines, lines());
    assert_eq!(committed, inventory.reservation("order-1").await);
    assert!(released.changed);
    let released = released.reservation.unwrap();
    assert_eq!(released.state, ReservationState::Released as i32);
    assert_eq!(released.release_reason, "payment declined");
    assert_eq!(released.lines, lines());
    assert_eq!(released, inventory.reservation("order-2").await);
    inventory.finish().await;
}
