//! The suite over mutual TLS: every service with its own certificate of the
//! suite's CA, calling its peers with it, and the access table enforced on
//! every `oms.` call.
//!
//! The order saga runs end to end; callers the table refuses (no
//! certificate, a certificate of another CA, a service certificate the
//! table does not list for the RPC) change nothing, as read back by a
//! caller that may read; health and reflection answer without a
//! certificate.

use std::collections::BTreeMap;

use oms_e2e::{Caller, Suite, TestChannel, world::*};
use oms_order::test_util::{eur, web_order};
use oms_payment::domain::payment::TransactionKind;
use oms_platform::{access::Principal, config::Service};
use oms_proto::{
    inventory::v1::{ReservationLine, ReservationState, ReserveRequest, SetStockRequest},
    order::v1::{OrderStatus, SearchOrdersRequest},
    payment::v1::{
        CaptureRequest, GetPaymentRequest, Payment, PaymentStatus, RefundReason, RefundRequest,
    },
    saga::v1::{CompensateSagaRequest, GetSagaRequest, ListSagasRequest, SagaState, StepState},
};
use oms_testkit::keyed;
use tonic::{Code, Status};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Rows of every table of each service's database, by (service, table).
pub type Rows = BTreeMap<(&'static str, String), i64>;

/// How many rows each table of `services`' databases holds now.
pub async fn rows(suite: &Suite, services: &[Service]) -> Rows {
    let mut rows = Rows::new();
    for (service, running) in suite.services() {
        if !services.contains(&service) {
            continue;
        }
        let pool = running.database.pool().await;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for table in tables {
            let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                // The names come from the catalog, quoted.
                "SELECT count(*) FROM \"{table}\""
            )))
            .fetch_one(&pool)
            .await
            .unwrap();
            rows.insert((service.name(), table), count);
        }
    }
    rows
}

/// [`rows`] once two readings in a row agree: what work the services still
/// had queued (outboxes, the ledger's relay) is done.
pub async fn settled_rows(suite: &Suite, services: &[Service]) -> Rows {
    let deadline = tokio::time::Instant::now() + SAGA_END;
    let mut last = rows(suite, services).await;
    loop {
        let now = rows(suite, services).await;
        if now == last {
            return now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the rows never settled: {now:?}"
        );
        last = now;
    }
}

/// Asserts `result` is refused with `code` and exactly `message`.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, message: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(status.message(), message, "{status:?}");
}

/// Whether `status` comes from the client's transport (the connection
/// failed), not from a server's answer.
fn from_the_transport(status: &Status) -> bool {
    std::error::Error::source(status).is_some_and(|source| source.is::<tonic::transport::Error>())
}

fn set_stock(on_hand: i32) -> tonic::Request<SetStockRequest> {
    keyed(
        SetStockRequest {
            sku: "TEE-M".into(),
            location_id: BERLIN.into(),
            on_hand,
            actor: Some(operator()),
            note: String::new(),
        },
        &format!("stock-{}", uuid::Uuid::new_v4()),
    )
}

async fn order_count(world: &World) -> usize {
    world
        .suite
        .order()
        .search_orders(SearchOrdersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .orders
        .len()
}

async fn saga_count(world: &World) -> usize {
    world
        .saga()
        .list_sagas(ListSagasRequest::default())
        .await
        .unwrap()
        .into_inner()
        .sagas
        .len()
}

async fn payment(world: &World, payment_id: &str) -> Payment {
    world
        .suite
        .payment()
        .get_payment(GetPaymentRequest {
            payment_id: payment_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .payment
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_saga_runs_over_mutual_tls_from_placing_to_confirmed() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_tls().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;

    let order_id = world.place(web_order("tls-1")).await;
    let (saga, order) = world.outcome(&order_id).await;

    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    assert_eq!(saga.state, SagaState::Completed as i32);
    assert!(
        saga.steps
            .iter()
            .all(|step| step.state == StepState::Succeeded as i32),
        "{saga:#?}"
    );
    assert_eq!(order.shipments.len(), 1);
    assert!(!order.shipments[0].tracking_number.is_empty());
    let payments = world.payments(&order_id).await;
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].status, PaymentStatus::Captured as i32);
    assert_eq!(
        payments[0].captured_amount.clone().unwrap().amount_minor,
        order.totals.unwrap().grand_total.unwrap().amount_minor
    );
    let reservation = world.reservation(&order_id).await.unwrap();
    assert_eq!(reservation.state, ReservationState::Committed as i32);
    assert_eq!(world.stock_of("TEE-M").await, (8, 0));

    // The services really serve TLS: a plaintext client's HTTP/2 meets a
    // TLS alert, and its connection fails before any handler answers.
    let plaintext = world.suite.clients_as(&Caller::plaintext());
    let status = plaintext
        .order()
        .search_orders(SearchOrdersRequest::default())
        .await
        .unwrap_err();
    assert!(from_the_transport(&status), "{status:?}");
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_without_a_certificate_is_unauthenticated_and_changes_nothing() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_tls().await;
    world.stock("TEE-M", BERLIN, 10).await;
    let watched = [Service::Inventory, Service::Order, Service::Saga];
    let before = settled_rows(&world.suite, &watched).await;

    let anonymous = world
        .suite
        .clients_as(&world.suite.caller_without_certificate());
    assert_refused(
        anonymous.inventory().set_stock(set_stock(99)).await,
        Code::Unauthenticated,
        "oms.inventory.v1.InventoryService/SetStock requires a client certificate",
    );
    assert_refused(
        anonymous
            .order()
            .place_order(web_order("anonymous-1"))
            .await,
        Code::Unauthenticated,
        "oms.order.v1.OrderService/PlaceOrder requires a client certificate",
    );

    assert_eq!(world.stock_of("TEE-M").await, (10, 0));
    assert_eq!(order_count(&world).await, 0);
    assert_eq!(saga_count(&world).await, 0);
    assert_eq!(rows(&world.suite, &watched).await, before);
    world.suite.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_of_another_ca_fails_the_handshake_and_changes_nothing() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_tls().await;
    world.stock("TEE-M", BERLIN, 10).await;
    let watched = [Service::Inventory, Service::Order, Service::Saga];
    let before = settled_rows(&world.suite, &watched).await;

    // The operator may set stock and place orders: only the CA is wrong.
    let stranger = world
        .suite
        .clients_as(&world.suite.caller_from_another_ca(Principal::Operator));
    for status in [
        stranger
            .inventory()
            .set_stock(set_stock(99))
            .await
            .unwrap_err(),
        stranger
            .order()
            .place_order(web_order("stranger-1"))
            .await
            .unwrap_err(),
    ] {
        // Under TLS 1.3 the client's side of the handshake ends before the
        // server reads its certificate: the server's alert (UnknownCA)
        // reaches the call as the connection failing (UNAVAILABLE), failing
        // under it (UNKNOWN) or closing (CANCELLED), as the client's
        // transport error, never as a server's answer.
        assert!(
            matches!(
                status.code(),
                Code::Unavailable | Code::Unknown | Code::Cancelled
            ),
            "{status:?}"
        );
        assert!(from_the_transport(&status), "{status:?}");
    }

    assert_eq!(world.stock_of("TEE-M").await, (10, 0));
    assert_eq!(order_count(&world).await, 0);
    assert_eq!(saga_count(&world).await, 0);
    assert_eq!(rows(&world.suite, &watched).await, before);
    world.suite.stop().await;
}

/// Clients of the suite calling with `service`'s own certificate.
fn as_service(world: &World, service: Service) -> oms_e2e::Clients {
    world
        .suite
        .clients_as(&world.suite.caller_as(Principal::Service(service)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_certificate_the_table_does_not_list_is_denied_by_name_and_changes_nothing() {
    let _one = crate::one_suite_at_a_time().await;
    let world = World::start_tls().await;
    world.stock("TEE-M", BERLIN, 10).await;
    world.stock("CAP", BERLIN, 10).await;
    let order_id = world.place(web_order("denied-1")).await;
    let (saga, order) = world.outcome(&order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    let watched = [Service::Payment, Service::Inventory, Service::Saga];
    let before = settled_rows(&world.suite, &watched).await;
    let paid = payment(&world, &order.payment_id).await;
    assert_eq!(paid.status, PaymentStatus::Captured as i32);
    let psp = oms_payment::test_util::simulator(&world.suite.payment);
    let psp_calls = |kind| {
        let psp = &psp;
        async move { psp.calls(kind).await.unwrap() }
    };
    let (captures, refunds) = (
        psp_calls(TransactionKind::Capture).await,
        psp_calls(TransactionKind::Refund).await,
    );
    let stock = world.stock_of("TEE-M").await;

    // Shipping moves no money.
    let shipping = as_service(&world, Service::Shipping);
    assert_refused(
        shipping
            .payment()
            .refund(keyed(
                RefundRequest {
                    payment_id: paid.payment_id.clone(),
                    amount: paid.captured_amount.clone(),
                    reason: RefundReason::Cancellation as i32,
                    actor: Some(operator()),
                    ..Default::default()
                },
                "refund-by-shipping",
            ))
            .await,
        Code::PermissionDenied,
        "shipping may not call oms.payment.v1.PaymentService/Refund",
    );
    assert_refused(
        shipping
            .payment()
            .capture(keyed(
                CaptureRequest {
                    payment_id: paid.payment_id.clone(),
                    amount: eur(100),
                    actor: Some(operator()),
                },
                "capture-by-shipping",
            ))
            .await,
        Code::PermissionDenied,
        "shipping may not call oms.payment.v1.PaymentService/Capture",
    );
    // Routing reads stock but holds none.
    let routing = as_service(&world, Service::Routing);
    assert_refused(
        routing
            .inventory()
            .reserve(keyed(
                ReserveRequest {
                    order_id: oms_testkit::minted_id("reserved-by-routing"),
                    lines: vec![ReservationLine {
                        sku: "TEE-M".into(),
                        location_id: BERLIN.into(),
                        quantity: 1,
                    }],
                    actor: Some(operator()),
                    ..Default::default()
                },
                "reserve-by-routing",
            ))
            .await,
        Code::PermissionDenied,
        "routing may not call oms.inventory.v1.InventoryService/Reserve",
    );
    // The order service starts sagas, it does not compensate them.
    assert_refused(
        as_service(&world, Service::Order)
            .saga()
            .compensate_saga(keyed(
                CompensateSagaRequest {
                    saga_id: saga.saga_id.clone(),
                    actor: Some(operator()),
                    reason: "denied".into(),
                },
                "compensate-by-order",
            ))
            .await,
        Code::PermissionDenied,
        "order may not call oms.saga.v1.SagaService/CompensateSaga",
    );
    // The same certificates make the calls the table lists for them.
    routing
        .inventory()
        .get_availability(oms_proto::inventory::v1::GetAvailabilityRequest {
            skus: vec!["TEE-M".into()],
            ..Default::default()
        })
        .await
        .unwrap();

    assert_eq!(payment(&world, &order.payment_id).await, paid);
    assert_eq!(psp_calls(TransactionKind::Capture).await, captures);
    assert_eq!(psp_calls(TransactionKind::Refund).await, refunds);
    assert_eq!(world.stock_of("TEE-M").await, stock);
    assert!(
        world
            .reservation(&oms_testkit::minted_id("reserved-by-routing"))
            .await
            .is_none()
    );
    let after = world
        .saga()
        .get_saga(GetSagaRequest {
            saga_id: saga.saga_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .saga
        .unwrap();
    assert_eq!(after, saga);
    assert_eq!(rows(&world.suite, &watched).await, before);
    world.suite.stop().await;
}

/// What a health check of `channel`'s server answers.
async fn health(channel: TestChannel) -> i32 {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_answer_a_caller_without_a_certificate() {
    let _one = crate::one_suite_at_a_time().await;
    let suite = Suite::start_with(oms_e2e::Settings::with_saga().with_tls()).await;
    let anonymous = suite.caller_without_certificate();
    let clients = suite.clients_as(&anonymous);
    for (service, running) in suite.services() {
        assert_eq!(
            health(clients.channel(service)).await,
            ServingStatus::Serving as i32,
            "{}",
            service.name()
        );
        let served = oms_e2e::fuzz::served_services(anonymous.channel(running.address())).await;
        assert!(
            served
                .iter()
                .any(|name| name.starts_with(&format!("oms.{}.", service.name()))),
            "{} serves {served:?}",
            service.name()
        );
    }
    assert!(suite.not_serving().await.is_empty());
    suite.stop().await;
}
