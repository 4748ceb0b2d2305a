//! The storm table: for each mutating RPC of the suite, how to build one
//! valid request against seeded data and how to read its effect back once
//! the storm is over. `every_mutating_rpc_has_a_storm` fails when an RPC with
//! an `Idempotency:` paragraph has no entry here.

use std::{future::Future, pin::Pin};

use bytes::Bytes;
use oms_e2e::Suite;
use oms_platform::config::Service;
use oms_proto::{
    common::v1::ChannelKind, inventory::v1 as inventory, order::v1 as order, outbox::v1 as outbox,
    payment::v1 as payment, returns::v1 as returns, routing::v1 as routing,
    shipping::v1 as shipping,
};
use prost::Message;

use super::seed::{self, STORE, Step, WAREHOUSE, eur, operator, saga, unique};

/// A boxed future, as the table's functions return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// Reads a storm's effect back, given the bodies of the calls that answered
/// OK: `Err` says what is not as one effect would leave it.
pub type Effect = Box<dyn FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send>;

/// One valid request and how to check it acted once.
pub struct Prepared {
    /// The encoded request every caller of the storm sends.
    pub request: Bytes,
    /// The check of its effect.
    pub effect: Effect,
}

/// A row of the table.
pub struct Entry {
    /// `<package>.<Service>/<Method>`.
    pub rpc: &'static str,
    /// The server that answers it (OutboxService has one row per server).
    pub server: Service,
    /// Seeds what the request needs and builds it.
    pub prepare: for<'a> fn(&'a Suite) -> BoxFuture<'a, Prepared>,
}

pub(super) fn prepared<M, F, Fut>(request: M, effect: F) -> Prepared
where
    M: Message,
    F: FnOnce(Vec<Bytes>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Prepared {
        request: Bytes::from(request.encode_to_vec()),
        effect: Box::new(move |answers| Box::pin(effect(answers))),
    }
}

/// `Ok` when `count` is one.
pub(super) fn once(what: &str, count: usize) -> Result<(), String> {
    if count == 1 {
        Ok(())
    } else {
        Err(format!("{count} {what}, not 1"))
    }
}

/// Every answer decoded as `M`.
pub(super) fn decoded<M: Message + Default>(answers: &[Bytes]) -> Result<Vec<M>, String> {
    answers
        .iter()
        .map(|body| M::decode(body.as_ref()).map_err(|err| format!("undecodable answer: {err}")))
        .collect()
}

macro_rules! entry {
    ($rpc:literal, $server:ident, $prepare:ident) => {
        Entry {
            rpc: $rpc,
            server: Service::$server,
            prepare: |suite| Box::pin($prepare(suite)),
        }
    };
}

/// The table: one row per mutating RPC and server.
pub fn table() -> Vec<Entry> {
    vec![
        entry!(
            "oms.inventory.v1.InventoryService/PutLocation",
            Inventory,
            put_location
        ),
        entry!(
            "oms.inventory.v1.InventoryService/SetStock",
            Inventory,
            set_stock
        ),
        entry!(
            "oms.inventory.v1.InventoryService/AdjustStock",
            Inventory,
            adjust_stock
        ),
        entry!(
            "oms.inventory.v1.InventoryService/TransferStock",
            Inventory,
            transfer_stock
        ),
        entry!(
            "oms.inventory.v1.InventoryService/PutChannelAvailabilityPolicy",
            Inventory,
            put_channel_availability_policy
        ),
        entry!(
            "oms.inventory.v1.InventoryService/Reserve",
            Inventory,
            reserve
        ),
        entry!(
            "oms.inventory.v1.InventoryService/Release",
            Inventory,
            release
        ),
        entry!(
            "oms.inventory.v1.InventoryService/CommitReservation",
            Inventory,
            commit_reservation
        ),
        entry!(
            "oms.inventory.v1.InventoryService/Restock",
            Inventory,
            restock
        ),
        entry!(
            "oms.inventory.v1.InventoryService/SetSafetyStock",
            Inventory,
            set_safety_stock
        ),
        entry!(
            "oms.inventory.v1.InventoryService/SetStockThreshold",
            Inventory,
            set_stock_threshold
        ),
        entry!("oms.order.v1.OrderService/PlaceOrder", Order, place_order),
        entry!(
            "oms.order.v1.OrderService/UpdateShippingAddress",
            Order,
            update_shipping_address
        ),
        entry!("oms.order.v1.OrderService/CancelOrder", Order, cancel_order),
        entry!("oms.order.v1.OrderService/AddNote", Order, add_note),
        entry!("oms.order.v1.OrderService/AddTags", Order, add_tags),
        entry!("oms.order.v1.OrderService/RemoveTag", Order, remove_tag),
        entry!("oms.order.v1.OrderService/MarkStatus", Order, mark_status),
        entry!(
            "oms.outbox.v1.OutboxService/RedriveOutboxMessages",
            Order,
            redrive_order
        ),
        entry!(
            "oms.outbox.v1.OutboxService/RedriveOutboxMessages",
            Shipping,
            redrive_shipping
        ),
        entry!(
            "oms.outbox.v1.OutboxService/RedriveOutboxMessages",
            Returns,
            redrive_returns
        ),
        entry!(
            "oms.payment.v1.PaymentService/Authorize",
            Payment,
            authorize
        ),
        entry!("oms.payment.v1.PaymentService/Void", Payment, void),
        entry!("oms.payment.v1.PaymentService/Capture", Payment, capture),
        entry!("oms.payment.v1.PaymentService/Refund", Payment, refund),
        entry!(
            "oms.payment.v1.PaymentService/ReconcilePayment",
            Payment,
            reconcile_payment
        ),
        entry!(
            "oms.returns.v1.ReturnsService/RequestReturn",
            Returns,
            request_return
        ),
        entry!(
            "oms.returns.v1.ReturnsService/ApproveReturn",
            Returns,
            approve_return
        ),
        entry!(
            "oms.returns.v1.ReturnsService/RejectReturn",
            Returns,
            reject_return
        ),
        entry!(
            "oms.returns.v1.ReturnsService/RecordReturnLabel",
            Returns,
            record_return_label
        ),
        entry!(
            "oms.returns.v1.ReturnsService/MarkReturnInTransit",
            Returns,
            mark_return_in_transit
        ),
        entry!(
            "oms.returns.v1.ReturnsService/ReceiveReturn",
            Returns,
            receive_return
        ),
        entry!(
            "oms.returns.v1.ReturnsService/InspectReturn",
            Returns,
            inspect_return
        ),
        entry!(
            "oms.returns.v1.ReturnsService/RecordRefund",
            Returns,
            record_refund
        ),
        entry!(
            "oms.returns.v1.ReturnsService/RecordExchange",
            Returns,
            record_exchange
        ),
        entry!(
            "oms.returns.v1.ReturnsService/CloseReturn",
            Returns,
            close_return
        ),
        entry!(
            "oms.returns.v1.ReturnsService/PutReturnPolicy",
            Returns,
            put_return_policy
        ),
        entry!(
            "oms.routing.v1.RoutingService/PutRoutingPolicy",
            Routing,
            put_routing_policy
        ),
        entry!(
            "oms.routing.v1.RoutingService/PutLocationAttributes",
            Routing,
            put_location_attributes
        ),
        entry!(
            "oms.shipping.v1.ShippingService/CreateShipment",
            Shipping,
            create_shipment
        ),
        entry!(
            "oms.shipping.v1.ShippingService/CreateShipments",
            Shipping,
            create_shipments
        ),
        entry!(
            "oms.shipping.v1.ShippingService/CancelShipment",
            Shipping,
            cancel_shipment
        ),
        entry!(
            "oms.shipping.v1.ShippingService/CreateReturnLabel",
            Shipping,
            create_return_label
        ),
        entry!(
            "oms.shipping.v1.ShippingService/RecordTrackingEvent",
            Shipping,
            record_tracking_event
        ),
    ]
}

// ---------------------------------------------------------------------------
// Inventory: effects read back from the ledger (ListStockMovements).
// ---------------------------------------------------------------------------

/// How many ledger movements of `kind` the SKU has at `location_id`.
async fn movements(
    suite_inventory: &mut oms_proto::inventory::v1::inventory_service_client::InventoryServiceClient<
        oms_e2e::TestChannel,
    >,
    sku: &str,
    location_id: &str,
    kind: inventory::StockMovementKind,
) -> Result<usize, String> {
    let page = suite_inventory
        .list_stock_movements(inventory::ListStockMovementsRequest {
            sku: sku.into(),
            location_id: location_id.into(),
            kinds: vec![kind as i32],
            ..Default::default()
        })
        .await
        .map_err(|status| format!("ListStockMovements: {status:?}"))?;
    Ok(page.into_inner().movements.len())
}

fn one_movement(
    suite: &Suite,
    sku: String,
    location_id: &'static str,
    kind: inventory::StockMovementKind,
) -> impl FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send + 'static {
    let mut client = suite.inventory();
    move |_| {
        Box::pin(async move {
            let count = movements(&mut client, &sku, location_id, kind).await?;
            once(&format!("{kind:?} movements"), count)
        })
    }
}

async fn put_location(suite: &Suite) -> Prepared {
    let location_id = unique("wh");
    let mut client = suite.inventory();
    let request = seed::location(&location_id);
    prepared(request, move |answers| async move {
        let created = decoded::<inventory::PutLocationResponse>(&answers)?
            .iter()
            .filter(|answer| answer.created)
            .count();
        once("answers with created = true", created)?;
        let stored = client
            .get_location(inventory::GetLocationRequest { location_id })
            .await
            .map_err(|status| format!("GetLocation: {status:?}"))?;
        once(
            "locations",
            usize::from(stored.into_inner().location.is_some()),
        )
    })
}

/// A row whose effect is one ledger movement of `kind` for a SKU at
/// [`WAREHOUSE`]: a new SKU with `on_hand` units there first, when given;
/// `request` is built from the SKU.
async fn ledger_row<M: Message>(
    suite: &Suite,
    on_hand: Option<i32>,
    kind: inventory::StockMovementKind,
    request: impl FnOnce(String) -> M,
) -> Prepared {
    let sku = match on_hand {
        Some(on_hand) => seed::stocked(suite, on_hand).await,
        None => seed::sku(),
    };
    let effect = one_movement(suite, sku.clone(), WAREHOUSE, kind);
    prepared(request(sku), effect)
}

async fn set_stock(suite: &Suite) -> Prepared {
    ledger_row(suite, None, inventory::StockMovementKind::Count, |sku| {
        inventory::SetStockRequest {
            sku,
            location_id: WAREHOUSE.into(),
            on_hand: 7,
            actor: operator(),
            note: "stock take".into(),
        }
    })
    .await
}

async fn adjust_stock(suite: &Suite) -> Prepared {
    ledger_row(
        suite,
        Some(10),
        inventory::StockMovementKind::Adjustment,
        |sku| inventory::AdjustStockRequest {
            sku,
            location_id: WAREHOUSE.into(),
            delta: 3,
            reason: inventory::AdjustmentReason::Receipt as i32,
            actor: operator(),
            reference_id: unique("po"),
            note: String::new(),
        },
    )
    .await
}

async fn transfer_stock(suite: &Suite) -> Prepared {
    ledger_row(
        suite,
        Some(10),
        inventory::StockMovementKind::TransferOut,
        |sku| inventory::TransferStockRequest {
            from_location_id: WAREHOUSE.into(),
            to_location_id: STORE.into(),
            lines: vec![inventory::TransferLine { sku, quantity: 2 }],
            actor: operator(),
            note: String::new(),
        },
    )
    .await
}

async fn put_channel_availability_policy(suite: &Suite) -> Prepared {
    let channel = seed::marketplace();
    let mut client = suite.inventory();
    let request = inventory::PutChannelAvailabilityPolicyRequest {
        policy: Some(inventory::ChannelAvailabilityPolicy {
            channel: channel.clone(),
            safety_buffer: 2,
            location_ids: vec![WAREHOUSE.into()],
            ..Default::default()
        }),
        actor: operator(),
    };
    prepared(request, move |_| async move {
        let policy = client
            .get_channel_availability_policy(inventory::GetChannelAvailabilityPolicyRequest {
                channel,
            })
            .await
            .map_err(|status| format!("GetChannelAvailabilityPolicy: {status:?}"))?
            .into_inner()
            .policy
            .unwrap_or_default();
        match (policy.configured, policy.safety_buffer) {
            (true, 2) => Ok(()),
            other => Err(format!("policy (configured, buffer) = {other:?}")),
        }
    })
}

async fn reserve(suite: &Suite) -> Prepared {
    ledger_row(
        suite,
        Some(10),
        inventory::StockMovementKind::Reserve,
        |sku| seed::reserve_request(&uuid::Uuid::now_v7().to_string(), &sku),
    )
    .await
}

async fn release(suite: &Suite) -> Prepared {
    let (order_id, sku) = seed::reservation(suite).await;
    let effect = one_movement(suite, sku, WAREHOUSE, inventory::StockMovementKind::Release);
    prepared(
        inventory::ReleaseRequest {
            order_id,
            reason: "order cancelled".into(),
            actor: saga(),
        },
        effect,
    )
}

async fn commit_reservation(suite: &Suite) -> Prepared {
    let (order_id, sku) = seed::reservation(suite).await;
    let effect = one_movement(suite, sku, WAREHOUSE, inventory::StockMovementKind::Commit);
    prepared(
        inventory::CommitReservationRequest {
            order_id,
            actor: saga(),
            reacquire_if_expired: false,
        },
        effect,
    )
}

async fn restock(suite: &Suite) -> Prepared {
    ledger_row(
        suite,
        Some(1),
        inventory::StockMovementKind::Restock,
        |sku| inventory::RestockRequest {
            source: inventory::RestockSource::Return as i32,
            source_id: uuid::Uuid::now_v7().to_string(),
            lines: vec![inventory::RestockLine {
                line_id: "line-1".into(),
                sku,
                location_id: WAREHOUSE.into(),
                quantity: 2,
            }],
            actor: saga(),
            note: String::new(),
        },
    )
    .await
}

async fn set_safety_stock(suite: &Suite) -> Prepared {
    ledger_row(
        suite,
        Some(10),
        inventory::StockMovementKind::SafetyStock,
        |sku| inventory::SetSafetyStockRequest {
            sku,
            location_id: WAREHOUSE.into(),
            safety_stock: 3,
            actor: operator(),
        },
    )
    .await
}

async fn set_stock_threshold(suite: &Suite) -> Prepared {
    let sku = seed::stocked(suite, 10).await;
    let mut client = suite.inventory();
    let request = inventory::SetStockThresholdRequest {
        sku: sku.clone(),
        location_id: WAREHOUSE.into(),
        threshold: 12,
        actor: operator(),
    };
    prepared(request, move |_| async move {
        let low = client
            .list_low_stock(inventory::ListLowStockRequest {
                skus: vec![sku],
                ..Default::default()
            })
            .await
            .map_err(|status| format!("ListLowStock: {status:?}"))?
            .into_inner();
        once("low-stock entries", low.stock.len())
    })
}

// ---------------------------------------------------------------------------
// Order: effects read back from the order's timeline (GetOrder).
// ---------------------------------------------------------------------------

/// The order's timeline events of `kind` (and with `to_status`, when given).
async fn order_events(
    client: &mut oms_proto::order::v1::order_service_client::OrderServiceClient<
        oms_e2e::TestChannel,
    >,
    order_id: &str,
    kind: order::TimelineEventKind,
    to_status: Option<order::OrderStatus>,
) -> Result<usize, String> {
    let order = client
        .get_order(order::GetOrderRequest {
            order_id: order_id.into(),
            ..Default::default()
        })
        .await
        .map_err(|status| format!("GetOrder: {status:?}"))?
        .into_inner()
        .order
        .unwrap_or_default();
    Ok(order
        .timeline
        .iter()
        .filter(|event| event.kind == kind as i32)
        .filter(|event| to_status.is_none_or(|status| event.to_status == status as i32))
        .count())
}

fn one_order_event(
    suite: &Suite,
    order_id: String,
    kind: order::TimelineEventKind,
    to_status: Option<order::OrderStatus>,
) -> impl FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send + 'static {
    let mut client = suite.order();
    move |_| {
        Box::pin(async move {
            let count = order_events(&mut client, &order_id, kind, to_status).await?;
            once(&format!("{kind:?} events"), count)
        })
    }
}

async fn place_order(_suite: &Suite) -> Prepared {
    let request = oms_order::test_util::web_order(&unique("storm"));
    prepared(request, |answers| async move {
        let answers = decoded::<order::PlaceOrderResponse>(&answers)?;
        let mut ids: Vec<String> = answers
            .iter()
            .filter_map(|answer| answer.order.as_ref().map(|order| order.order_id.clone()))
            .collect();
        ids.dedup();
        once("distinct order ids", ids.len())?;
        once(
            "answers with created = true",
            answers.iter().filter(|answer| answer.created).count(),
        )
    })
}

/// A row on a new PENDING order with `tags`, whose effect is one timeline
/// event of `kind` (moving to `to_status`, when given); `request` is built
/// from the order's id.
async fn order_row<M: Message>(
    suite: &Suite,
    tags: &[&str],
    kind: order::TimelineEventKind,
    to_status: Option<order::OrderStatus>,
    request: impl FnOnce(String) -> M,
) -> Prepared {
    let order = seed::order_with_tags(suite, tags).await;
    let effect = one_order_event(suite, order.order_id.clone(), kind, to_status);
    prepared(request(order.order_id), effect)
}

async fn update_shipping_address(suite: &Suite) -> Prepared {
    let kind = order::TimelineEventKind::ShippingAddressUpdated;
    order_row(suite, &[], kind, None, |order_id| {
        let mut address = seed::customer_address();
        address.lines = vec!["Friedrichstrasse 43".into()];
        order::UpdateShippingAddressRequest {
            order_id,
            shipping_address: Some(address),
            actor: operator(),
            reason: "customer moved".into(),
        }
    })
    .await
}

async fn cancel_order(suite: &Suite) -> Prepared {
    let kind = order::TimelineEventKind::StatusChanged;
    let to = Some(order::OrderStatus::CancelRequested);
    order_row(suite, &[], kind, to, |order_id| order::CancelOrderRequest {
        order_id,
        reason: "customer asked".into(),
        actor: operator(),
        lines: Vec::new(),
    })
    .await
}

async fn add_note(suite: &Suite) -> Prepared {
    let kind = order::TimelineEventKind::NoteAdded;
    order_row(suite, &[], kind, None, |order_id| order::AddNoteRequest {
        order_id,
        text: "gift wrap, please".into(),
        actor: operator(),
    })
    .await
}

async fn add_tags(suite: &Suite) -> Prepared {
    let kind = order::TimelineEventKind::TagsAdded;
    order_row(suite, &[], kind, None, |order_id| order::AddTagsRequest {
        order_id,
        tags: vec!["vip".into()],
        actor: operator(),
    })
    .await
}

async fn remove_tag(suite: &Suite) -> Prepared {
    let kind = order::TimelineEventKind::TagRemoved;
    order_row(suite, &["vip"], kind, None, |order_id| {
        order::RemoveTagRequest {
            order_id,
            tag: "vip".into(),
            actor: operator(),
        }
    })
    .await
}

async fn mark_status(suite: &Suite) -> Prepared {
    let kind = order::TimelineEventKind::StatusChanged;
    let to = Some(order::OrderStatus::Confirmed);
    order_row(suite, &[], kind, to, |order_id| order::MarkStatusRequest {
        order_id,
        event_id: unique("confirm"),
        status: order::OrderStatus::Confirmed as i32,
        shipments: vec![order::ShipmentRef {
            shipment_id: uuid::Uuid::now_v7().to_string(),
            location_id: WAREHOUSE.into(),
            carrier: "simulator".into(),
            tracking_number: unique("TRK"),
            lines: seed::shipped_lines(),
            ..Default::default()
        }],
        payment_id: uuid::Uuid::now_v7().to_string(),
        actor: saga(),
        ..Default::default()
    })
    .await
}

// ---------------------------------------------------------------------------
// Outbox: a message parked as DEAD, re-driven once (its redrive_count).
// ---------------------------------------------------------------------------

/// Parks the newest outbox message of `service`'s database as DEAD, as an
/// exhausted attempt budget would, and returns its id: the services make
/// messages that their receivers refuse for good only through faults.
async fn park_newest(database: &oms_testkit::TestDatabase) -> i64 {
    let pool = database.pool().await;
    let id: i64 = sqlx::query_scalar(
        "UPDATE outbox_messages SET state = 'DEAD', dead_time = now(), last_error = 'parked by the storm test' \
         WHERE id = (SELECT max(id) FROM outbox_messages) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .expect("an outbox message to park");
    pool.close().await;
    id
}

fn redrive(
    id: i64,
    mut client: oms_proto::outbox::v1::outbox_service_client::OutboxServiceClient<
        oms_platform::client::OmsChannel,
    >,
) -> Prepared {
    let request = outbox::RedriveOutboxMessagesRequest {
        message_ids: vec![id],
        topic: String::new(),
        actor: operator(),
        reason: "receiver fixed".into(),
    };
    prepared(request, move |answers| async move {
        // Every caller gets the first answer, which re-drove the message.
        let answers = decoded::<outbox::RedriveOutboxMessagesResponse>(&answers)?;
        if answers.iter().any(|answer| answer != &answers[0]) {
            return Err("the callers got different answers".into());
        }
        once(
            "re-drives in the first answer",
            answers[0].redriven_count.unsigned_abs() as usize,
        )?;
        let listed = client
            .list_outbox_messages(outbox::ListOutboxMessagesRequest::default())
            .await
            .map_err(|status| format!("ListOutboxMessages: {status:?}"))?
            .into_inner();
        let message = listed
            .messages
            .iter()
            .find(|message| message.message_id == id)
            .ok_or("the message is gone")?;
        once(
            "redrive_count",
            message.redrive_count.unsigned_abs() as usize,
        )
    })
}

fn outbox_client(
    service: &oms_testkit::TestService,
) -> oms_proto::outbox::v1::outbox_service_client::OutboxServiceClient<
    oms_platform::client::OmsChannel,
> {
    oms_proto::outbox::v1::outbox_service_client::OutboxServiceClient::new(service.channel())
}

async fn redrive_order(suite: &Suite) -> Prepared {
    // A placed order queues its saga start.
    seed::order(suite).await;
    let id = park_newest(&suite.order.database).await;
    redrive(id, outbox_client(&suite.order))
}

async fn redrive_shipping(suite: &Suite) -> Prepared {
    // A carrier event queues the order's status change.
    let shipment = seed::shipment(suite).await;
    suite
        .shipping()
        .record_tracking_event(tracking_event(&shipment, &unique("ev")))
        .await
        .expect("the tracking event is recorded");
    let id = park_newest(&suite.shipping.database).await;
    redrive(id, outbox_client(&suite.shipping))
}

async fn redrive_returns(suite: &Suite) -> Prepared {
    // An approved return queues its saga start.
    seed::return_at(suite, Step::Approved, false).await;
    let id = park_newest(&suite.returns.database).await;
    redrive(id, outbox_client(&suite.returns))
}

// ---------------------------------------------------------------------------
// Payment: effects read back as the payment's transactions (GetPayment).
// ---------------------------------------------------------------------------

fn one_transaction(
    suite: &Suite,
    payment_id: String,
    kind: payment::TransactionKind,
) -> impl FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send + 'static {
    let mut client = suite.payment();
    move |_| {
        Box::pin(async move {
            let payment = client
                .get_payment(payment::GetPaymentRequest { payment_id })
                .await
                .map_err(|status| format!("GetPayment: {status:?}"))?
                .into_inner()
                .payment
                .unwrap_or_default();
            let count = payment
                .transactions
                .iter()
                .filter(|transaction| transaction.kind == kind as i32)
                .count();
            once(&format!("{kind:?} transactions"), count)
        })
    }
}

async fn authorize(suite: &Suite) -> Prepared {
    let order_id = uuid::Uuid::now_v7().to_string();
    let mut client = suite.payment();
    let request = payment::AuthorizeRequest {
        order_id: order_id.clone(),
        amount: eur(5000),
        payment_method: oms_order::test_util::web_order("x").payment_method,
        actor: saga(),
    };
    prepared(request, move |_| async move {
        let listed = client
            .list_payments(payment::ListPaymentsRequest {
                order_id,
                ..Default::default()
            })
            .await
            .map_err(|status| format!("ListPayments: {status:?}"))?
            .into_inner();
        once("payments", listed.payments.len())?;
        once(
            "transactions",
            listed.payments.first().map_or(0, |p| p.transactions.len()),
        )
    })
}

async fn void(suite: &Suite) -> Prepared {
    let payment = seed::authorized(suite).await;
    let effect = one_transaction(
        suite,
        payment.payment_id.clone(),
        payment::TransactionKind::Void,
    );
    prepared(
        payment::VoidRequest {
            target: Some(payment::void_request::Target::PaymentId(payment.payment_id)),
            actor: saga(),
        },
        effect,
    )
}

async fn capture(suite: &Suite) -> Prepared {
    let payment = seed::authorized(suite).await;
    let effect = one_transaction(
        suite,
        payment.payment_id.clone(),
        payment::TransactionKind::Capture,
    );
    prepared(
        payment::CaptureRequest {
            payment_id: payment.payment_id,
            amount: eur(2000),
            actor: saga(),
        },
        effect,
    )
}

async fn refund(suite: &Suite) -> Prepared {
    let payment = seed::captured(suite).await;
    let effect = one_transaction(
        suite,
        payment.payment_id.clone(),
        payment::TransactionKind::Refund,
    );
    prepared(
        payment::RefundRequest {
            payment_id: payment.payment_id,
            amount: eur(1000),
            reason: payment::RefundReason::Goodwill as i32,
            reference_id: String::new(),
            note: String::new(),
            actor: operator(),
        },
        effect,
    )
}

async fn reconcile_payment(suite: &Suite) -> Prepared {
    // Nothing is pending: the storm must change nothing and resolve nothing.
    let payment = seed::authorized(suite).await;
    let mut client = suite.payment();
    let payment_id = payment.payment_id.clone();
    prepared(
        payment::ReconcilePaymentRequest {
            payment_id: payment.payment_id,
        },
        move |answers| async move {
            let resolved: i32 = decoded::<payment::ReconcilePaymentResponse>(&answers)?
                .iter()
                .map(|answer| answer.resolved_count)
                .sum();
            if resolved != 0 {
                return Err(format!("{resolved} transactions resolved, not 0"));
            }
            let now = client
                .get_payment(payment::GetPaymentRequest { payment_id })
                .await
                .map_err(|status| format!("GetPayment: {status:?}"))?
                .into_inner()
                .payment
                .unwrap_or_default();
            once("transactions", now.transactions.len())
        },
    )
}

// ---------------------------------------------------------------------------
// Returns: effects read back from the return's timeline (GetReturn).
// ---------------------------------------------------------------------------

fn one_return_event(
    suite: &Suite,
    return_id: String,
    status: returns::ReturnStatus,
) -> impl FnOnce(Vec<Bytes>) -> BoxFuture<'static, Result<(), String>> + Send + 'static {
    let mut client = suite.returns();
    move |_| {
        Box::pin(async move {
            let rma = client
                .get_return(returns::GetReturnRequest { return_id })
                .await
                .map_err(|status| format!("GetReturn: {status:?}"))?
                .into_inner()
                .rma
                .unwrap_or_default();
            let count = rma
                .timeline
                .iter()
                .filter(|event| event.status == status as i32)
                .count();
            once(&format!("{status:?} events"), count)
        })
    }
}

async fn request_return(suite: &Suite) -> Prepared {
    let order = seed::delivered_order(suite).await;
    let mut client = suite.returns();
    let order_id = order.order_id.clone();
    let request = returns::RequestReturnRequest {
        order_id: order.order_id,
        lines: vec![returns::ReturnLineRequest {
            sku: "TEE-M".into(),
            quantity: 1,
            reason: returns::ReturnReason::NoLongerNeeded as i32,
        }],
        resolution: returns::ReturnResolution::Refund as i32,
        replacement_lines: Vec::new(),
        comment: String::new(),
        actor: operator(),
    };
    prepared(request, move |_| async move {
        let listed = client
            .list_returns(returns::ListReturnsRequest {
                order_id,
                ..Default::default()
            })
            .await
            .map_err(|status| format!("ListReturns: {status:?}"))?
            .into_inner();
        once("returns", listed.returns.len())
    })
}

/// A row on a return brought to `at`: `request` is built from it, and the
/// effect is one timeline event of `status`.
async fn return_row<M: Message>(
    suite: &Suite,
    at: Step,
    exchange: bool,
    status: returns::ReturnStatus,
    request: impl FnOnce(returns::Return) -> M,
) -> Prepared {
    let rma = seed::return_at(suite, at, exchange).await;
    let effect = one_return_event(suite, rma.return_id.clone(), status);
    prepared(request(rma), effect)
}

async fn approve_return(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Requested,
        false,
        returns::ReturnStatus::Approved,
        |rma| returns::ApproveReturnRequest {
            return_id: rma.return_id,
            receiving_location_id: WAREHOUSE.into(),
            note: String::new(),
            actor: operator(),
        },
    )
    .await
}

async fn reject_return(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Requested,
        false,
        returns::ReturnStatus::Rejected,
        |rma| returns::RejectReturnRequest {
            return_id: rma.return_id,
            reason: "worn".into(),
            actor: operator(),
        },
    )
    .await
}

async fn record_return_label(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Approved,
        false,
        returns::ReturnStatus::LabelIssued,
        |rma| seed::label_request(&rma.return_id),
    )
    .await
}

async fn mark_return_in_transit(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Labelled,
        false,
        returns::ReturnStatus::InTransit,
        |rma| returns::MarkReturnInTransitRequest {
            shipment_id: rma.label.map(|label| label.shipment_id).unwrap_or_default(),
            return_id: rma.return_id,
            event_time: Some(seed::timestamp(chrono::Utc::now())),
            actor: saga(),
        },
    )
    .await
}

async fn receive_return(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::InTransit,
        false,
        returns::ReturnStatus::Received,
        |rma| returns::ReceiveReturnRequest {
            return_id: rma.return_id,
            location_id: WAREHOUSE.into(),
            note: String::new(),
            actor: operator(),
        },
    )
    .await
}

async fn inspect_return(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Received,
        false,
        returns::ReturnStatus::Inspected,
        |rma| seed::inspection(&rma.return_id),
    )
    .await
}

async fn record_refund(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Inspected,
        false,
        returns::ReturnStatus::Refunded,
        |rma| returns::RecordRefundRequest {
            return_id: rma.return_id,
            payment_id: uuid::Uuid::now_v7().to_string(),
            transaction_id: uuid::Uuid::now_v7().to_string(),
            amount: rma.refund.and_then(|refund| refund.total),
            actor: saga(),
            ..Default::default()
        },
    )
    .await
}

async fn record_exchange(suite: &Suite) -> Prepared {
    let replacement = seed::order(suite).await;
    return_row(
        suite,
        Step::Inspected,
        true,
        returns::ReturnStatus::Exchanged,
        |rma| returns::RecordExchangeRequest {
            return_id: rma.return_id,
            replacement_order_id: replacement.order_id,
            price_difference: rma.exchange.and_then(|exchange| exchange.price_difference),
            payment_id: String::new(),
            transaction_id: String::new(),
            actor: saga(),
        },
    )
    .await
}

async fn close_return(suite: &Suite) -> Prepared {
    return_row(
        suite,
        Step::Requested,
        false,
        returns::ReturnStatus::Closed,
        |rma| returns::CloseReturnRequest {
            return_id: rma.return_id,
            close_reason: returns::CloseReason::Withdrawn as i32,
            note: String::new(),
            actor: operator(),
        },
    )
    .await
}

async fn put_return_policy(suite: &Suite) -> Prepared {
    let channel = seed::marketplace();
    let mut client = suite.returns();
    let request = returns::PutReturnPolicyRequest {
        policy: Some(returns::ReturnPolicy {
            channel: channel.clone(),
            return_window_days: 14,
            restocking_fee_bps: 500,
            return_shipping_payer: returns::ReturnShippingPayer::Customer as i32,
            ..Default::default()
        }),
        actor: operator(),
    };
    prepared(request, move |_| async move {
        let policy = client
            .get_return_policy(returns::GetReturnPolicyRequest { channel })
            .await
            .map_err(|status| format!("GetReturnPolicy: {status:?}"))?
            .into_inner()
            .policy
            .unwrap_or_default();
        match (policy.is_default, policy.return_window_days) {
            (false, 14) => Ok(()),
            other => Err(format!("policy (is_default, window) = {other:?}")),
        }
    })
}

// ---------------------------------------------------------------------------
// Routing.
// ---------------------------------------------------------------------------

async fn put_routing_policy(suite: &Suite) -> Prepared {
    let channel = seed::marketplace();
    let mut client = suite.routing();
    let request = routing::PutRoutingPolicyRequest {
        channel: channel.clone(),
        spec: Some(routing::RoutingPolicySpec {
            name: "storm".into(),
            rankings: vec![routing::RoutingRanking {
                rule: Some(routing::routing_ranking::Rule::MostStock(
                    routing::MostStockRanking {},
                )),
            }],
            tie_breaker: routing::TieBreaker::OrderHash as i32,
            max_shipments: 2,
            ..Default::default()
        }),
        expected_version: None,
        validate_only: false,
        actor: operator(),
    };
    prepared(request, move |answers| async move {
        let written = decoded::<routing::PutRoutingPolicyResponse>(&answers)?
            .iter()
            .filter(|answer| answer.written)
            .count();
        once("answers with written = true", written)?;
        let listed = client
            .list_routing_policies(routing::ListRoutingPoliciesRequest {
                all_versions: true,
                channel_kind: ChannelKind::Marketplace as i32,
                ..Default::default()
            })
            .await
            .map_err(|status| format!("ListRoutingPolicies: {status:?}"))?
            .into_inner();
        let versions = listed
            .policies
            .iter()
            .filter(|policy| policy.channel == channel)
            .count();
        once("versions", versions)
    })
}

async fn put_location_attributes(suite: &Suite) -> Prepared {
    let location_id = unique("wh");
    suite
        .inventory()
        .put_location(seed::location(&location_id))
        .await
        .expect("the location is stored");
    let mut client = suite.routing();
    let request = routing::PutLocationAttributesRequest {
        attributes: Some(routing::LocationAttributes {
            location_id: location_id.clone(),
            daily_capacity: Some(40),
            priority: 7,
            countries_served: vec!["DE".into()],
            time_zone: "Europe/Berlin".into(),
            ..Default::default()
        }),
        actor: operator(),
    };
    prepared(request, move |_| async move {
        let attributes = client
            .get_location_attributes(routing::GetLocationAttributesRequest {
                location_ids: vec![location_id],
            })
            .await
            .map_err(|status| format!("GetLocationAttributes: {status:?}"))?
            .into_inner()
            .attributes;
        match attributes.as_slice() {
            [one] if one.priority == 7 && one.daily_capacity == Some(40) => Ok(()),
            other => Err(format!("attributes read back: {other:?}")),
        }
    })
}

// ---------------------------------------------------------------------------
// Shipping: effects read back as shipments and their events.
// ---------------------------------------------------------------------------

fn tracking_event(shipment: &shipping::Shipment, id: &str) -> shipping::RecordTrackingEventRequest {
    shipping::RecordTrackingEventRequest {
        carrier: shipment.carrier.clone(),
        carrier_event_id: id.into(),
        tracking_number: shipment.tracking_number.clone(),
        event_type: shipping::TrackingEventType::PickedUp as i32,
        event_time: Some(seed::timestamp(chrono::Utc::now())),
        location: "Berlin hub, DE".into(),
        description: String::new(),
    }
}

/// `Ok` when the order or return has exactly one shipment.
async fn one_shipment(
    mut client: oms_proto::shipping::v1::shipping_service_client::ShippingServiceClient<
        oms_e2e::TestChannel,
    >,
    request: shipping::ListShipmentsRequest,
) -> Result<(), String> {
    let listed = client
        .list_shipments(request)
        .await
        .map_err(|status| format!("ListShipments: {status:?}"))?
        .into_inner();
    once("shipments", listed.shipments.len())
}

async fn create_shipment(suite: &Suite) -> Prepared {
    let order_id = uuid::Uuid::now_v7().to_string();
    let client = suite.shipping();
    let request = seed::shipment_request(&order_id);
    prepared(request, move |_| {
        one_shipment(
            client,
            shipping::ListShipmentsRequest {
                order_id,
                ..Default::default()
            },
        )
    })
}

async fn create_shipments(suite: &Suite) -> Prepared {
    let order_id = uuid::Uuid::now_v7().to_string();
    let client = suite.shipping();
    let request = shipping::CreateShipmentsRequest {
        requests: vec![seed::shipment_request(&order_id)],
    };
    prepared(request, move |_| {
        one_shipment(
            client,
            shipping::ListShipmentsRequest {
                order_id,
                ..Default::default()
            },
        )
    })
}

async fn cancel_shipment(suite: &Suite) -> Prepared {
    let shipment = seed::shipment(suite).await;
    let mut client = suite.shipping();
    let shipment_id = shipment.shipment_id.clone();
    prepared(
        shipping::CancelShipmentRequest {
            target: Some(shipping::cancel_shipment_request::Target::ShipmentId(
                shipment.shipment_id,
            )),
            reason: "order cancelled".into(),
            actor: saga(),
        },
        move |_| async move {
            let shipment = client
                .get_shipment(shipping::GetShipmentRequest { shipment_id })
                .await
                .map_err(|status| format!("GetShipment: {status:?}"))?
                .into_inner()
                .shipment
                .unwrap_or_default();
            if shipment.status != shipping::ShipmentStatus::Cancelled as i32 {
                return Err(format!("status {}, not CANCELLED", shipment.status));
            }
            Ok(())
        },
    )
}

async fn create_return_label(suite: &Suite) -> Prepared {
    let return_id = uuid::Uuid::now_v7().to_string();
    let client = suite.shipping();
    let request = shipping::CreateReturnLabelRequest {
        return_id: return_id.clone(),
        order_id: uuid::Uuid::now_v7().to_string(),
        location_id: WAREHOUSE.into(),
        lines: seed::shipment_request("x").lines,
        parcels: seed::shipment_request("x").parcels,
        origin: Some(seed::customer_address()),
        destination: Some(seed::warehouse_address()),
        service_level: oms_proto::common::v1::ServiceLevel::Standard as i32,
        carrier: String::new(),
        label_format: 0,
        actor: saga(),
    };
    prepared(request, move |_| {
        one_shipment(
            client,
            shipping::ListShipmentsRequest {
                return_id,
                ..Default::default()
            },
        )
    })
}

async fn record_tracking_event(suite: &Suite) -> Prepared {
    let shipment = seed::shipment(suite).await;
    let event_id = unique("ev");
    let mut client = suite.shipping();
    let shipment_id = shipment.shipment_id.clone();
    let request = tracking_event(&shipment, &event_id);
    prepared(request, move |_| async move {
        let shipment = client
            .get_shipment(shipping::GetShipmentRequest { shipment_id })
            .await
            .map_err(|status| format!("GetShipment: {status:?}"))?
            .into_inner()
            .shipment
            .unwrap_or_default();
        let recorded = shipment
            .events
            .iter()
            .filter(|event| event.carrier_event_id == event_id)
            .count();
        once("recorded events", recorded)
    })
}
