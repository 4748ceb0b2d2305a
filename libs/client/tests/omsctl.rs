//! `omsctl health` against a real server and against nothing.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::process::Output;

use oms_platform::server::GrpcServer;
use oms_testkit::{TestServer, server_config};

async fn omsctl(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_omsctl"))
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn health_succeeds_against_a_serving_server() {
    let server = TestServer::start(|listener, shutdown| {
        GrpcServer::new(&server_config()).serve(listener, shutdown)
    })
    .await;

    let output = omsctl(&["health", &server.address().to_string()]).await;

    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("SERVING"));
}

#[tokio::test]
async fn health_fails_when_nothing_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);

    let output = omsctl(&["health", &address, "--wait", "300ms"]).await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("unreachable"));
}

#[tokio::test]
async fn health_of_an_unknown_service_fails() {
    let server = TestServer::start(|listener, shutdown| {
        GrpcServer::new(&server_config()).serve(listener, shutdown)
    })
    .await;

    let output = omsctl(&[
        "health",
        &server.address().to_string(),
        "--service",
        "oms.nothing.v1.Nothing",
    ])
    .await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
}

#[tokio::test]
async fn health_finds_a_service_by_name_at_its_configured_address() {
    let server = TestServer::start(|listener, shutdown| {
        GrpcServer::new(&server_config()).serve(listener, shutdown)
    })
    .await;

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omsctl"))
        .args(["health", "saga"])
        .env("OMS_SAGA_ADDR", server.address().to_string())
        .output()
        .await
        .unwrap();

    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&server.address().to_string()), "{stderr}");
}

#[tokio::test]
async fn a_bad_configuration_names_the_variable_and_exits_2() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omsctl"))
        .args(["health", "inventory"])
        .env("OMS_PAYMENT_ADDR", "payment-without-port")
        .output()
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OMS_PAYMENT_ADDR"), "{stderr}");
}
