//! MarkStatus and CancelOrder against the state machine: from every status,
//! every fact either moves the order as the table allows, changes nothing, or
//! is refused.

use oms_proto::order::v1::{
    CancelOrderRequest, LineQuantity, MarkStatusRequest, OrderStatus, ShipmentRef,
    UpdateShippingAddressRequest,
};
use tonic::Code;

use crate::helpers::*;

/// The order of every case: TEE x2 shipped as s1, CAP x1 shipped as s2.
fn two_line_order(reference: &str) -> oms_proto::order::v1::PlaceOrderRequest {
    let mut request = web_order(reference);
    request.lines[0].sku = "TEE".into();
    request.lines[1].sku = "CAP".into();
    request
}

fn units(sku: &str, quantity: i32) -> LineQuantity {
    LineQuantity {
        line_id: String::new(),
        sku: sku.into(),
        quantity,
    }
}

fn shipment(label: &str, lines: Vec<LineQuantity>) -> ShipmentRef {
    ShipmentRef {
        shipment_id: minted(label),
        location_id: "wh-1".into(),
        carrier: "sim".into(),
        tracking_number: format!("TRK-{label}"),
        lines,
        ..Default::default()
    }
}

#[derive(Clone, Copy, Debug)]
enum Fact {
    Confirm,
    Reject,
    ShipS1,
    DeliverS2,
    Cancelled,
    Return,
    CancelOrder,
}

fn request(order_id: &str, fact: Fact, event_id: &str) -> MarkStatusRequest {
    let base = MarkStatusRequest {
        order_id: order_id.into(),
        event_id: event_id.into(),
        actor: Some(saga()),
        ..Default::default()
    };
    match fact {
        Fact::Confirm => MarkStatusRequest {
            status: OrderStatus::Confirmed as i32,
            shipments: vec![
                shipment("s1", vec![units("TEE", 2)]),
                shipment("s2", vec![units("CAP", 1)]),
            ],
            payment_id: minted("pay-1"),
            ..base
        },
        Fact::Reject => MarkStatusRequest {
            status: OrderStatus::Rejected as i32,
            reason: "card declined".into(),
            ..base
        },
        Fact::ShipS1 => MarkStatusRequest {
            status: OrderStatus::Shipped as i32,
            shipments: vec![shipment("s1", vec![units("TEE", 2)])],
            ..base
        },
        Fact::DeliverS2 => MarkStatusRequest {
            status: OrderStatus::Delivered as i32,
            shipments: vec![shipment("s2", vec![units("CAP", 1)])],
            ..base
        },
        Fact::Cancelled => MarkStatusRequest {
            status: OrderStatus::Cancelled as i32,
            reason: "customer asked".into(),
            ..base
        },
        Fact::Return => MarkStatusRequest {
            status: OrderStatus::Returned as i32,
            return_id: minted(&format!("r-{event_id}")),
            lines: vec![units("TEE", 1)],
            ..base
        },
        Fact::CancelOrder => unreachable!("CancelOrder is its own call"),
    }
}

/// Applies a fact; Ok((status, changed)) or the refusal.
async fn apply(
    client: &mut Client,
    order_id: &str,
    fact: Fact,
    event_id: &str,
) -> Result<(i32, bool), tonic::Status> {
    if let Fact::CancelOrder = fact {
        let order = client
            .cancel_order(CancelOrderRequest {
                order_id: order_id.into(),
                reason: "customer changed mind".into(),
                actor: Some(operator()),
                lines: Vec::new(),
            })
            .await?
            .into_inner()
            .order
            .unwrap();
        return Ok((order.status, true));
    }
    let response = client
        .mark_status(request(order_id, fact, event_id))
        .await?
        .into_inner();
    Ok((response.order.unwrap().status, response.changed))
}

/// Places an order and walks it to `state` with facts that the table allows.
async fn order_in(client: &mut Client, state: &str, reference: &str) -> String {
    let order_id = place(client, two_line_order(reference)).await;
    let marker = client.clone();
    let mark = |request: MarkStatusRequest| {
        let mut client = marker.clone();
        async move { client.mark_status(request).await.unwrap() }
    };
    let steps: &[(&str, Fact)] = match state {
        "pending" => &[],
        "confirmed" => &[("a", Fact::Confirm)],
        "partially_shipped" => &[("a", Fact::Confirm), ("b", Fact::ShipS1)],
        "shipped" => &[("a", Fact::Confirm), ("b", Fact::ShipS1)],
        "delivered" => &[("a", Fact::Confirm), ("b", Fact::ShipS1)],
        "partially_returned" => &[("a", Fact::Confirm), ("b", Fact::ShipS1)],
        "returned" => &[("a", Fact::Confirm), ("b", Fact::ShipS1)],
        "rejected" => &[("a", Fact::Reject)],
        "cancel_requested" | "cancelled" => &[],
        other => panic!("no state {other}"),
    };
    for (event_id, fact) in steps {
        mark(request(&order_id, *fact, event_id)).await;
    }
    let ship = |id: &str, sku: &str, quantity: i32, status: OrderStatus, event_id: &str| {
        MarkStatusRequest {
            order_id: order_id.clone(),
            event_id: event_id.into(),
            status: status as i32,
            shipments: vec![shipment(id, vec![units(sku, quantity)])],
            actor: Some(saga()),
            ..Default::default()
        }
    };
    if matches!(
        state,
        "shipped" | "delivered" | "partially_returned" | "returned"
    ) {
        mark(ship("s2", "CAP", 1, OrderStatus::Shipped, "c")).await;
    }
    if matches!(state, "delivered" | "partially_returned" | "returned") {
        mark(ship("s1", "TEE", 2, OrderStatus::Delivered, "d")).await;
        mark(ship("s2", "CAP", 1, OrderStatus::Delivered, "e")).await;
    }
    let returned = |lines: Vec<LineQuantity>| MarkStatusRequest {
        order_id: order_id.clone(),
        event_id: "f".into(),
        status: OrderStatus::Returned as i32,
        return_id: minted("r-1"),
        lines,
        actor: Some(saga()),
        ..Default::default()
    };
    match state {
        "partially_returned" => {
            mark(returned(vec![units("TEE", 1)])).await;
        }
        "returned" => {
            mark(returned(vec![units("TEE", 2), units("CAP", 1)])).await;
        }
        "cancel_requested" | "cancelled" => {
            apply(client, &order_id, Fact::CancelOrder, "")
                .await
                .unwrap();
        }
        _ => {}
    }
    if state == "cancelled" {
        mark(request(&order_id, Fact::Cancelled, "g")).await;
    }
    order_id
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Moves (or stays) to this status, and something changed.
    To(OrderStatus),
    /// Accepted, nothing changed.
    Same,
    /// FAILED_PRECONDITION ILLEGAL_STATE_TRANSITION.
    Illegal,
    /// FAILED_PRECONDITION RETURN_NOT_ELIGIBLE.
    NotEligible,
}

#[tokio::test]
async fn from_every_status_every_fact_moves_the_order_as_the_table_says() {
    use Expect::*;
    use Fact::*;
    use OrderStatus as S;
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let facts = [
        Confirm,
        Reject,
        ShipS1,
        DeliverS2,
        Cancelled,
        Return,
        CancelOrder,
    ];
    let table: [(&str, S, [Expect; 7]); 10] = [
        (
            "pending",
            S::Pending,
            [
                To(S::Confirmed),
                To(S::Rejected),
                To(S::PartiallyShipped),
                To(S::PartiallyShipped),
                Illegal,
                NotEligible,
                To(S::CancelRequested),
            ],
        ),
        (
            "confirmed",
            S::Confirmed,
            [
                Same,
                Illegal,
                To(S::PartiallyShipped),
                To(S::PartiallyShipped),
                Illegal,
                NotEligible,
                To(S::CancelRequested),
            ],
        ),
        (
            "partially_shipped",
            S::PartiallyShipped,
            [
                Same,
                Illegal,
                Same,
                To(S::Shipped),
                Illegal,
                NotEligible,
                To(S::CancelRequested),
            ],
        ),
        (
            "shipped",
            S::Shipped,
            [
                Same,
                Illegal,
                Same,
                To(S::Shipped),
                Illegal,
                NotEligible,
                Illegal,
            ],
        ),
        (
            "delivered",
            S::Delivered,
            [
                Same,
                Illegal,
                Same,
                Same,
                Illegal,
                To(S::PartiallyReturned),
                Illegal,
            ],
        ),
        (
            "partially_returned",
            S::PartiallyReturned,
            [
                Same,
                Illegal,
                Same,
                Same,
                Illegal,
                To(S::PartiallyReturned),
                Illegal,
            ],
        ),
        (
            "returned",
            S::Returned,
            [Same, Illegal, Same, Same, Illegal, NotEligible, Illegal],
        ),
        (
            "rejected",
            S::Rejected,
            [Illegal, Same, Illegal, Illegal, Same, Illegal, Illegal],
        ),
        (
            "cancel_requested",
            S::CancelRequested,
            [
                To(S::CancelRequested),
                Illegal,
                To(S::CancelRequested),
                To(S::CancelRequested),
                To(S::Cancelled),
                Illegal,
                Same,
            ],
        ),
        (
            "cancelled",
            S::Cancelled,
            [Illegal, Same, Illegal, Illegal, Same, Illegal, Same],
        ),
    ];
    let mut checked = 0;
    for (state, status, expected) in table {
        for (fact, expect) in facts.into_iter().zip(expected) {
            let order_id = order_in(&mut client, state, &format!("{state}-{fact:?}")).await;
            let start = client
                .get_order(oms_proto::order::v1::GetOrderRequest {
                    order_id: order_id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .order
                .unwrap();
            assert_eq!(start.status, status as i32, "setting up {state}");
            let outcome = apply(&mut client, &order_id, fact, "x").await;
            let got = match outcome {
                Ok((now, changed))
                    if now == status as i32 && (!changed || matches!(fact, CancelOrder)) =>
                {
                    Same
                }
                Ok((now, _)) => To(OrderStatus::try_from(now).unwrap()),
                Err(status)
                    if status.code() == Code::FailedPrecondition
                        && reason(&status) == "ILLEGAL_STATE_TRANSITION" =>
                {
                    Illegal
                }
                Err(status)
                    if status.code() == Code::FailedPrecondition
                        && reason(&status) == "RETURN_NOT_ELIGIBLE" =>
                {
                    NotEligible
                }
                Err(status) => panic!("{state} + {fact:?}: unexpected {status:?}"),
            };
            assert_eq!(got, expect, "{state} + {fact:?}");
            // The same fact again is a no-op, never a second move.
            if !matches!(fact, CancelOrder) && matches!(expect, To(_)) {
                let (again, changed) = apply(&mut client, &order_id, fact, "x").await.unwrap();
                assert!(!changed, "{state} + {fact:?} twice");
                assert_eq!(
                    Some(again),
                    match expect {
                        To(s) => Some(s as i32),
                        _ => None,
                    }
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 70);
    orders.stop().await;
}

#[tokio::test]
async fn the_address_changes_until_shipments_are_being_created() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order_id = place(&mut client, two_line_order("addr")).await;
    let mut address = web_order("x").shipping_address.unwrap();
    address.lines = vec!["Friedrichstrasse 1".into()];
    let update = |address: oms_proto::common::v1::Address| UpdateShippingAddressRequest {
        order_id: order_id.clone(),
        shipping_address: Some(address),
        actor: Some(operator()),
        reason: "customer moved".into(),
    };

    let changed = client
        .update_shipping_address(update(address.clone()))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    let same = client
        .update_shipping_address(update(address.clone()))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    client
        .mark_status(MarkStatusRequest {
            order_id: order_id.clone(),
            event_id: "lock".into(),
            lock_shipping_address: true,
            actor: Some(saga()),
            ..Default::default()
        })
        .await
        .unwrap();
    let locked = client
        .update_shipping_address(update(address))
        .await
        .unwrap_err();

    assert_eq!(
        changed.shipping_address.unwrap().lines,
        ["Friedrichstrasse 1"]
    );
    assert_eq!(same.timeline.len(), changed.timeline.len());
    assert_eq!(reason(&locked), "SHIPPING_ADDRESS_LOCKED");
    let reused = client
        .mark_status(MarkStatusRequest {
            order_id: order_id.clone(),
            event_id: "lock".into(),
            payment_id: minted("p-9"),
            actor: Some(saga()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    // The event id is the fact's natural key: taken by another request.
    assert_eq!(reused.code(), tonic::Code::AlreadyExists);
    assert_eq!(reason(&reused), "NATURAL_KEY_CONFLICT");
    orders.stop().await;
}

#[tokio::test]
async fn a_partial_cancellation_runs_one_at_a_time_and_ends_with_its_units() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let partial = |order_id: &str, key: &str, lines: Vec<LineQuantity>| {
        keyed(
            CancelOrderRequest {
                order_id: order_id.into(),
                reason: "customer keeps the cap".into(),
                actor: Some(operator()),
                lines,
            },
            key,
        )
    };
    let pending = order_in(&mut client, "pending", "partial-pending").await;
    let refused = client
        .cancel_order(partial(&pending, "p-0", vec![units("TEE", 1)]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    let order_id = order_in(&mut client, "confirmed", "partial-confirmed").await;
    // Without an idempotency key, refused naming it.
    let refused = client
        .cancel_order(CancelOrderRequest {
            order_id: order_id.clone(),
            reason: "customer keeps the cap".into(),
            actor: Some(operator()),
            lines: vec![units("TEE", 1)],
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&refused), ["idempotency-key"]);
    let order = client
        .cancel_order(partial(&order_id, "p-1", vec![units("TEE", 2)]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed as i32);
    // Another cancellation, whole or partial, waits for this one to end.
    let refused = client
        .cancel_order(CancelOrderRequest {
            order_id: order_id.clone(),
            reason: "all of it".into(),
            actor: Some(operator()),
            lines: Vec::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    let refused = client
        .cancel_order(partial(&order_id, "p-2", vec![units("CAP", 1)]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    // The saga ends it with the units it cancelled.
    let ended = client
        .mark_status(MarkStatusRequest {
            order_id: order_id.clone(),
            event_id: "partial-end-1".into(),
            status: OrderStatus::Cancelled as i32,
            lines: vec![units("TEE", 2)],
            cancellation: 1,
            actor: Some(saga()),
            reason: "customer keeps the cap".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ended.changed);
    let order = ended.order.unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed as i32);
    let tee = order.lines.iter().find(|line| line.sku == "TEE").unwrap();
    assert_eq!(
        (tee.cancelled_quantity, tee.status),
        (2, OrderStatus::Cancelled as i32)
    );
    let totals = order.totals.unwrap();
    assert_eq!(
        totals.cancelled_total.unwrap().amount_minor,
        2 * tee.unit_price.as_ref().unwrap().amount_minor
    );
    // Lines naming every unit still open (the cap) cancel the whole order.
    let order = client
        .cancel_order(partial(&order_id, "p-3", vec![units("CAP", 1)]))
        .await
        .unwrap()
        .into_inner()
        .order
        .unwrap();
    assert_eq!(order.status, OrderStatus::CancelRequested as i32);
    orders.stop().await;
}

#[tokio::test]
async fn shipments_marked_shipped_at_once_each_count_their_units() {
    // Six shipments of one TEE each and one of the CAP, all marked SHIPPED at
    // the same moment: each fact reads the lines as the one before it left
    // them, so no unit is lost and the order ends SHIPPED.
    const TEES: i32 = 6;
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let mut order = two_line_order("race");
    order.lines[0].quantity = TEES;
    let order_id = place(&mut client, order).await;
    let mut shipments: Vec<ShipmentRef> = (0..TEES)
        .map(|n| shipment(&format!("t{n}"), vec![units("TEE", 1)]))
        .collect();
    shipments.push(shipment("c", vec![units("CAP", 1)]));
    client
        .mark_status(MarkStatusRequest {
            order_id: order_id.clone(),
            event_id: "confirm".into(),
            status: OrderStatus::Confirmed as i32,
            shipments: shipments.clone(),
            payment_id: minted("pay-race"),
            actor: Some(saga()),
            ..Default::default()
        })
        .await
        .unwrap();

    let shipped = shipments.into_iter().map(|shipment| {
        let mut client = client.clone();
        let request = MarkStatusRequest {
            order_id: order_id.clone(),
            event_id: format!("ship-{}", shipment.shipment_id),
            status: OrderStatus::Shipped as i32,
            shipments: vec![shipment],
            actor: Some(saga()),
            ..Default::default()
        };
        tokio::spawn(async move { client.mark_status(request).await })
    });
    let shipped: Vec<_> = shipped.collect();
    for answer in shipped {
        assert!(answer.await.unwrap().unwrap().into_inner().changed);
    }

    let order = get(&mut client, &order_id).await;
    let shipped: Vec<(String, i32)> = order
        .lines
        .iter()
        .map(|line| (line.sku.clone(), line.shipped_quantity))
        .collect();
    assert_eq!(shipped, [("TEE".to_owned(), TEES), ("CAP".to_owned(), 1)]);
    assert_eq!(order.status, OrderStatus::Shipped as i32);
    orders.stop().await;
}

#[tokio::test]
async fn a_fact_without_the_order_in_the_answer_is_the_same_fact() {
    let orders = TestOrders::start().await;
    let mut client = orders.client();
    let order_id = place(&mut client, two_line_order("omit")).await;
    let confirm = |omit_order: bool| MarkStatusRequest {
        omit_order,
        ..request(&order_id, Fact::Confirm, "confirm")
    };

    let first = client
        .mark_status(confirm(true))
        .await
        .unwrap()
        .into_inner();
    assert!(first.changed);
    assert_eq!(first.order, None);
    // A retry asking for the order gets it, unchanged by the retry: whether
    // the answer carries the order is not part of the fact.
    let retry = client
        .mark_status(confirm(false))
        .await
        .unwrap()
        .into_inner();
    assert!(!retry.changed);
    let order = retry.order.unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed as i32);
    assert_eq!(order.shipments.len(), 2);
    let again = client
        .mark_status(confirm(true))
        .await
        .unwrap()
        .into_inner();
    assert!(!again.changed);
    assert_eq!(again.order, None);
    // Another fact under the same event id is still refused.
    let reused = client
        .mark_status(MarkStatusRequest {
            omit_order: true,
            ..request(&order_id, Fact::Reject, "confirm")
        })
        .await
        .unwrap_err();
    assert_eq!(reused.code(), tonic::Code::AlreadyExists);
    orders.stop().await;
}
