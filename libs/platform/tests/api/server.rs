//! The gRPC server: health, reflection (and turning it off), the plaintext
//! health port, deadlines and graceful shutdown.

use std::{net::SocketAddr, sync::atomic::Ordering, time::Duration};

use oms_platform::{client, server::GrpcServer};
use oms_testkit::{TestServer, client_config, poll_until, server_config};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code, Status,
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::v1::{
    ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

use crate::probe::{self, ProbeState};

async fn reflect(server: &TestServer, request: MessageRequest) -> MessageResponse {
    try_reflect(server.channel(), request).await.unwrap()
}

/// Asks reflection (v1) over `channel`; the status when it is not served.
pub async fn try_reflect<T>(channel: T, request: MessageRequest) -> Result<MessageResponse, Status>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: http_body::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError> + Send,
{
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    responses
        .message()
        .await?
        .ok_or_else(|| Status::unknown("no reflection response"))?
        .message_response
        .ok_or_else(|| Status::unknown("an empty reflection response"))
}

/// Asks reflection (v1alpha) over `channel` for its list of services.
async fn try_reflect_v1alpha(channel: Channel) -> Result<(), Status> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    responses.message().await?;
    Ok(())
}

/// A plaintext channel to `address`, as the kubelet's probe dials.
pub fn plaintext(address: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy()
}

/// What the health service says about the server as a whole over `channel`.
pub async fn health_of(channel: Channel) -> Result<i32, Status> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(response.into_inner().status)
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

#[tokio::test]
async fn reflection_turned_off_is_unimplemented_and_health_still_serves() {
    let mut config = server_config();
    config.exposure.reflection = false;
    let server = TestServer::start(probe::serve(ProbeState::open(), config)).await;
    let channel = plaintext(server.address());

    let status = try_reflect(
        server.channel(),
        MessageRequest::ListServices(String::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let status = try_reflect_v1alpha(channel.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");

    assert_eq!(
        health_of(channel).await.unwrap(),
        ServingStatus::Serving as i32
    );
    let response = probe::wait(server.channel(), probe::request("served"))
        .await
        .unwrap();
    assert_eq!(response.label, "served");
}

/// The probe served with a plaintext health port on a port of its own.
async fn with_health_port(state: std::sync::Arc<ProbeState>) -> (TestServer, SocketAddr) {
    let health = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let health_address = health.local_addr().unwrap();
    let config = server_config();
    let server = TestServer::start(move |listener, shutdown| {
        GrpcServer::new(&config)
            .add_service(probe::ProbeServer(state))
            .health_listener(health)
            .serve(listener, shutdown)
    })
    .await;
    (server, health_address)
}

#[tokio::test]
async fn the_health_port_serves_health_alone() {
    let state = ProbeState::open();
    let (server, health_address) = with_health_port(state.clone()).await;
    let channel = plaintext(health_address);

    let mut health = HealthClient::new(channel.clone());
    for service in ["", probe::NAME] {
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
    let status = probe::wait(channel.clone(), probe::request("not here"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let status = try_reflect(channel, MessageRequest::ListServices(String::new()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_eq!(state.entered.load(Ordering::SeqCst), 0);

    // The main port still serves everything.
    probe::wait(server.channel(), probe::request("main"))
        .await
        .unwrap();
    reflect(&server, MessageRequest::ListServices(String::new())).await;
}

#[tokio::test]
async fn the_health_port_turns_not_serving_at_shutdown_and_closes_with_the_server() {
    let state = ProbeState::closed();
    let (server, health_address) = with_health_port(state.clone()).await;
    let in_flight = tokio::spawn(probe::wait(server.channel(), probe::request("in flight")));
    state.wait_until_entered(1).await;

    server.shutdown_token().cancel();

    // While the call in flight drains, the probe learns the pod is going.
    poll_until(
        "the health port to report NOT_SERVING",
        Duration::from_secs(10),
        || async move {
            let status = health_of(plaintext(health_address)).await.ok()?;
            (status == ServingStatus::NotServing as i32).then_some(())
        },
    )
    .await;
    state.gate.add_permits(1);
    assert_eq!(in_flight.await.unwrap().unwrap().label, "in flight");
    server.stop().await.unwrap();

    poll_until(
        "the health port to refuse connections",
        Duration::from_secs(10),
        || async move {
            tokio::net::TcpStream::connect(health_address)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_health_address_already_taken_stops_the_server_naming_the_variable() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = server_config();
    config.exposure.health_addr = Some(taken.local_addr().unwrap().to_string());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();

    let served = tokio::time::timeout(
        Duration::from_secs(10),
        GrpcServer::new(&config)
            .add_service(probe::ProbeServer(ProbeState::open()))
            .serve(listener, CancellationToken::new()),
    )
    .await
    .expect("serve returns at once");

    let err = served.unwrap_err().to_string();
    assert!(err.starts_with("OMS_HEALTH_ADDR: "), "{err}");
    assert!(
        err.contains(&taken.local_addr().unwrap().to_string()),
        "{err}"
    );
}
