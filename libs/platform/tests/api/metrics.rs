//! The metrics an SRE scrapes, named by the OpenTelemetry conventions: RPC
//! durations on both sides of a call, and the database pool.

use std::time::Duration;

use oms_platform::{
    db,
    rpc::{ClientLayer, ServerLayer},
};
use oms_testkit::{TestDatabase, metrics::MetricsRecorder};
use opentelemetry::KeyValue;
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tower::Layer as _;

fn method(name: &str) -> KeyValue {
    KeyValue::new("rpc.method", format!("grpc.health.v1.Health/{name}"))
}

fn status(code: &str) -> KeyValue {
    KeyValue::new("rpc.response.status_code", code.to_owned())
}

#[tokio::test]
async fn each_call_is_timed_on_both_sides_by_method_and_status_name() {
    let (server_metrics, client_metrics) = (MetricsRecorder::new(), MetricsRecorder::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("oms.probe", tonic_health::ServingStatus::Serving)
        .await;
    tokio::spawn(
        tonic::transport::Server::builder()
            .layer(ServerLayer::with_meter(
                Duration::from_secs(5),
                &server_metrics.meter(),
            ))
            .add_service(health_service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    let mut client = HealthClient::new(
        ClientLayer::with_meter(Duration::from_secs(5), &client_metrics.meter()).layer(channel),
    );

    // The listener is bound before the server task runs: the kernel queues the
    // connection until it does.
    let ask = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    client.check(ask("oms.probe")).await.unwrap();
    let unknown = client.check(ask("oms.nothing")).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);

    for (side, recorder) in [
        ("rpc.server.call.duration", &server_metrics),
        ("rpc.client.call.duration", &client_metrics),
    ] {
        let system = KeyValue::new("rpc.system.name", "grpc");
        assert_eq!(
            recorder.value(side, &[system.clone(), method("Check"), status("OK")]),
            Some(1.0),
            "{side}: one OK call"
        );
        assert_eq!(
            recorder.value(side, &[system, method("Check"), status("NOT_FOUND")]),
            Some(1.0),
            "{side}: one NOT_FOUND call"
        );
    }
}

#[tokio::test]
async fn the_pool_reports_its_used_idle_and_most_connections() {
    let database = TestDatabase::create().await;
    let mut config = database.config();
    config.pool_size = 3;
    let pool = db::connect(&config, &sqlx::migrate::Migrator::DEFAULT)
        .await
        .unwrap();
    let metrics = MetricsRecorder::new();
    db::observe_pool(&pool, "widgets", &metrics.meter());
    let name = KeyValue::new("db.client.connection.pool.name", "widgets");
    let state = |state: &str| KeyValue::new("db.client.connection.state", state.to_owned());

    let held = pool.acquire().await.unwrap();
    assert_eq!(
        metrics.value("db.client.connection.max", std::slice::from_ref(&name)),
        Some(3.0)
    );
    // The pool takes a dropped connection (the migrations') back on a task of
    // its own: poll until only the held one counts as used.
    oms_testkit::poll_until(
        "the held connection counted used",
        Duration::from_secs(10),
        || {
            let used = metrics.value("db.client.connection.count", &[name.clone(), state("used")]);
            async move { (used == Some(1.0)).then_some(()) }
        },
    )
    .await;
    drop(held);
    oms_testkit::poll_until(
        "the returned connection counted idle",
        Duration::from_secs(10),
        || {
            let used = metrics.value("db.client.connection.count", &[name.clone(), state("used")]);
            let idle = metrics.value("db.client.connection.count", &[name.clone(), state("idle")]);
            async move { (used == Some(0.0) && idle >= Some(1.0)).then_some(()) }
        },
    )
    .await;
}
