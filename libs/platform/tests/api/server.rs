//! The gRPC server: health, reflection, deadlines and graceful shutdown.

use std::{sync::atomic::Ordering, time::Duration};

use oms_platform::client;
use oms_testkit::{TestServer, client_config, poll_until, server_config};
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::probe::{self, ProbeState};

async fn reflect(server: &TestServer, request: MessageRequest) -> MessageResponse {
    let mut reflection = ServerReflectionClient::new(server.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    responses
        .message()
        .await
        .unwrap()
        .unwrap()
        .message_response
        .unwrap()
}

#[tokio::test]
async fn reflection_lists_what_the_server_serves() {
    let server = TestServer::start(probe::serve(ProbeState::open(), server_config())).await;

    let MessageResponse::ListServicesResponse(list) =
        reflect(&server, MessageRequest::ListServices(String::new())).await
    else {
        panic!("expected a service list");
    };
    let mut names: Vec<_> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            probe::NAME,
        ]
    );
}

#[tokio::test]
async fn reflection_describes_health_and_the_oms_contracts() {
    let server = TestServer::start(probe::serve(ProbeState::open(), server_config())).await;

    for (symbol, file) in [
        ("grpc.health.v1.Health", "health.proto"),
        ("oms.common.v1.Money", "oms/common/v1/common.proto"),
    ] {
        let response = reflect(&server, MessageRequest::FileContainingSymbol(symbol.into())).await;
        let MessageResponse::FileDescriptorResponse(descriptors) = response else {
            panic!("expected a descriptor for {symbol}, got {response:?}");
        };
        let names: Vec<String> = descriptors
            .file_descriptor_proto
            .iter()
            .map(|bytes| {
                <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice())
                    .unwrap()
                    .name
                    .unwrap_or_default()
            })
            .collect();
        assert!(names.iter().any(|name| name == file), "{symbol}: {names:?}");
    }
}

/// Every message tonic-types can put in a status's details (BadRequest,
/// ErrorInfo, ResourceInfo, ...) is described by reflection, so grpcurl shows a
/// refused call's details as JSON rather than base64.
#[tokio::test]
async fn reflection_describes_every_error_detail_a_refused_call_can_carry() {
    let server = TestServer::start(probe::serve(ProbeState::open(), server_config())).await;
    let details = <prost_types::FileDescriptorSet as prost::Message>::decode(
        tonic_types::pb::FILE_DESCRIPTOR_SET,
    )
    .unwrap();
    let symbols: Vec<String> = details
        .file
        .iter()
        .filter(|file| file.package() == "google.rpc")
        .flat_map(|file| &file.message_type)
        .map(|message| format!("google.rpc.{}", message.name()))
        .collect();
    for symbol in [
        "google.rpc.BadRequest",
        "google.rpc.ErrorInfo",
        "google.rpc.ResourceInfo",
    ] {
        assert!(symbols.iter().any(|known| known == symbol), "{symbols:?}");
    }

    for symbol in &symbols {
        let response = reflect(
            &server,
            MessageRequest::FileContainingSymbol(symbol.clone()),
        )
        .await;
        let MessageResponse::FileDescriptorResponse(descriptors) = response else {
            panic!("expected a descriptor for {symbol}, got {response:?}");
        };
        let described = descriptors.file_descriptor_proto.iter().any(|bytes| {
            let file =
                <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice())
                    .unwrap();
            file.package() == "google.rpc"
                && file
                    .message_type
                    .iter()
                    .any(|message| format!("google.rpc.{}", message.name()) == *symbol)
        });
        assert!(described, "{symbol} is not described");
    }
}

#[tokio::test]
async fn health_reports_each_service_and_the_server() {
    let server = TestServer::start(probe::serve(ProbeState::open(), server_config())).await;
    let mut health = HealthClient::new(server.channel());

    for service in ["", probe::NAME, "grpc.health.v1.Health"] {
        let response = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert_eq!(
            response.into_inner().status,
            ServingStatus::Serving as i32,
            "{service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "oms.nothing.v1.Nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn a_call_past_the_server_limit_ends_with_deadline_exceeded() {
    let state = ProbeState::closed();
    let mut config = server_config();
    config.request_timeout = Duration::from_millis(200);
    let server = TestServer::start(probe::serve(state.clone(), config)).await;

    let status = probe::wait(server.channel(), probe::request("slow"))
        .await
        .unwrap_err();

    assert_eq!(status.code(), Code::DeadlineExceeded);
    assert_eq!(state.entered.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn shutdown_stops_serving_refuses_new_calls_and_finishes_calls_in_flight() {
    let state = ProbeState::closed();
    let server = TestServer::start(probe::serve(state.clone(), server_config())).await;
    let mut health = HealthClient::new(server.channel());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::Serving as i32
    );
    let in_flight = tokio::spawn(probe::wait(server.channel(), probe::request("in flight")));
    state.wait_until_entered(1).await;

    server.shutdown_token().cancel();

    assert_eq!(
        watch.message().await.unwrap().unwrap().status,
        ServingStatus::NotServing as i32
    );
    let address = server.address().to_string();
    poll_until(
        "new connections to be refused",
        Duration::from_secs(10),
        || {
            let channel = client::channel(&address, &client_config()).unwrap();
            async move {
                let status = probe::wait(channel, probe::request("too late"))
                    .await
                    .err()?;
                (status.code() == Code::Unavailable).then_some(())
            }
        },
    )
    .await;
    assert_eq!(state.entered.load(Ordering::SeqCst), 1, "no new call ran");

    state.gate.add_permits(1);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.label, "in flight");
    drop(watch);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn serve_returns_when_the_grace_period_is_over_even_if_a_call_is_stuck() {
    let state = ProbeState::closed();
    let mut config = server_config();
    config.shutdown_grace = Duration::from_millis(300);
    let server = TestServer::start(probe::serve(state.clone(), config)).await;
    let stuck = tokio::spawn(probe::wait(server.channel(), probe::request("stuck")));
    state.wait_until_entered(1).await;

    // Without the grace period `stop` would wait for the call and time out; once
    // `serve` returns, the process exits and the call goes with it.
    server.stop().await.unwrap();

    assert!(!stuck.is_finished(), "the stuck call was never answered");
}
