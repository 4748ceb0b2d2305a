//! One trace per order: an OTLP receiver in this test collects the spans of
//! every service (those in this process, and the coordinator's process), and
//! every span of one order shares the trace id of its PlaceOrder call,
//! including the steps run after the coordinator was killed and restarted.
//!
//! This is the only test in the binary that installs the process's global
//! subscriber.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use oms_e2e::{Settings, Suite, world::World};
use oms_order::test_util::web_order;
use oms_platform::{
    config::{Env, TelemetryConfig},
    telemetry::Telemetry,
};
use oms_proto::saga::v1::SagaState;
use oms_testkit::poll_until;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::any_value::Value,
};
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::coordinator::{Coordinator, Setup};

/// A span as received: its service, trace id (hex), name and string
/// attributes.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    trace_id: String,
    name: String,
    attributes: Vec<(String, String)>,
}

#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Received>>>,
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(Value::StringValue(text)) => text.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|resource| &resource.attributes)
                .find(|attribute| attribute.key == "service.name")
                .map(|attribute| text(attribute.value.as_ref()))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        service: service.clone(),
                        trace_id: hex(&span.trace_id),
                        name: span.name,
                        attributes: span
                            .attributes
                            .iter()
                            .map(|a| (a.key.clone(), text(a.value.as_ref())))
                            .collect(),
                    });
                }
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_of_an_order_is_in_the_trace_of_its_placement_even_after_a_restart() {
    let _one = crate::one_suite_at_a_time().await;
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let config = TelemetryConfig::from_env(
        &Env::from_pairs([
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("RUST_LOG", "info"),
        ]),
        "oms-suite-in-test",
    )
    .unwrap();
    let telemetry = Telemetry::init(&config).unwrap();

    let mut suite = Suite::start_with(Settings::default()).await;
    let port = suite.take_saga_port().unwrap();
    let address = port.address();
    drop(port);
    let world = World::seed(suite).await;
    world.stock("TEE-M", oms_e2e::world::BERLIN, 10).await;
    world.stock("CAP", oms_e2e::world::BERLIN, 10).await;
    let mut setup = Setup::new(&world.suite).await;
    setup.otlp = Some(endpoint.clone());

    let paused = Coordinator::start(
        &setup,
        address,
        &[("OMS_SAGA_PAUSE", "reserve_stock:after:60s")],
    )
    .await;
    // The channel's call: the trace every span of the order must join.
    let root = tracing::info_span!("channel.checkout");
    let trace_id = root.context().span().span_context().trace_id().to_string();
    let order_id = world.place(web_order("traced-1")).instrument(root).await;
    poll_until(
        "the saga at reserve_stock",
        Duration::from_secs(60),
        || async {
            let saga = world.saga_in(&order_id, &[SagaState::Running]).await;
            (saga.current_step == "reserve_stock").then_some(())
        },
    )
    .await;
    // The first process's spans of the steps it finished reach the collector
    // (a SIGKILL loses what it had not exported yet).
    poll_until("the first steps' spans", Duration::from_secs(30), || {
        let spans = collector.spans.lock().unwrap().clone();
        let trace_id = trace_id.clone();
        async move {
            spans
                .iter()
                .any(|span| {
                    span.trace_id == trace_id && span.name == "saga plan_fulfilment forward"
                })
                .then_some(())
        }
    })
    .await;
    paused.kill().await;
    let resumed = Coordinator::start(&setup, address, &[]).await;
    let (saga, _) = world.outcome(&order_id).await;
    assert_eq!(saga.state, SagaState::Completed as i32, "{saga:#?}");
    assert_eq!(saga.trace_id, trace_id);
    // SIGTERM flushes the coordinator's spans; ours are flushed here.
    resumed.stop().await;
    world.suite.stop().await;
    tokio::task::spawn_blocking(move || telemetry.shutdown())
        .await
        .unwrap();

    let spans = poll_until(
        "the coordinator's last spans",
        Duration::from_secs(30),
        || {
            let spans = collector.spans.lock().unwrap().clone();
            let trace_id = trace_id.clone();
            async move {
                spans
                    .iter()
                    .any(|span| {
                        span.trace_id == trace_id && span.name == "saga confirm_order forward"
                    })
                    .then_some(spans)
            }
        },
    )
    .await;
    let in_trace: Vec<&Received> = spans
        .iter()
        .filter(|span| span.trace_id == trace_id)
        .collect();
    let names: BTreeSet<(&str, &str)> = in_trace
        .iter()
        .map(|span| (span.service.as_str(), span.name.as_str()))
        .collect();
    // The steps before the kill and after the restart, from the coordinator.
    for step in [
        "record_order",
        "reserve_stock",
        "capture_payment",
        "confirm_order",
    ] {
        let name = format!("saga {step} forward");
        assert!(
            names.contains(&("oms-saga", name.as_str())),
            "{name} in the order's trace: {names:#?}"
        );
    }
    // The services' own spans of the calls the saga made.
    for rpc in [
        "oms.order.v1.OrderService/PlaceOrder",
        "oms.saga.v1.SagaService/StartOrderSaga",
        "oms.inventory.v1.InventoryService/Reserve",
        "oms.payment.v1.PaymentService/Capture",
        "oms.shipping.v1.ShippingService/CreateShipment",
        "oms.order.v1.OrderService/MarkStatus",
    ] {
        assert!(
            in_trace.iter().any(|span| span.name == rpc),
            "{rpc} in the order's trace: {names:#?}"
        );
    }
    // No span about this order is in another trace.
    let astray: Vec<&Received> = spans
        .iter()
        .filter(|span| span.attribute("order.id") == Some(order_id.as_str()))
        .filter(|span| span.trace_id != trace_id)
        .collect();
    assert!(astray.is_empty(), "{astray:#?}");
}
