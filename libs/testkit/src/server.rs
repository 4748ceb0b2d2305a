//! A service's `run` on port 0, for tests that call it over real gRPC.

use std::{fmt::Display, future::Future, net::SocketAddr, time::Duration};

use oms_platform::{
    client::{self, OmsChannel},
    config::{ClientConfig, Env, ExposureConfig, ServerConfig, Service, TlsConfig},
};

use crate::{TestDatabase, TestRedis};
use tokio::{
    net::{TcpListener, TcpSocket},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long a test waits for a server to report SERVING or to stop.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Server settings for a service under test: port 0, and a short grace period so
/// a test of shutdown does not wait long.
pub fn server_config() -> ServerConfig {
    ServerConfig {
        listen_addr: "127.0.0.1:0".to_owned(),
        request_timeout: Duration::from_secs(30),
        concurrency_limit: 256,
        shutdown_grace: Duration::from_secs(5),
        tls: TlsConfig::Off,
        tokens: None,
        exposure: ExposureConfig::default(),
    }
}

/// Where a peer that a test did not start is: port 1 on the loopback, where
/// nothing listens, so calls to it fail at once as to a peer that is down, and
/// never reach a suite that `make up` left running on the default ports.
pub const NO_PEER: &str = "127.0.0.1:1";

/// Client settings for tests: the defaults, with every peer at [`NO_PEER`]
/// (tests that need a peer point its address at a test server, e.g. with
/// [`peers`]).
pub fn client_config() -> ClientConfig {
    let mut config =
        ClientConfig::from_env(&Env::default()).expect("default client config is valid");
    for address in config.peers.values_mut() {
        NO_PEER.clone_into(address);
    }
    config
}

/// Client settings with these peers at these addresses, the others at
/// [`NO_PEER`].
pub fn peers(peers: impl IntoIterator<Item = (Service, SocketAddr)>) -> ClientConfig {
    let mut config = client_config();
    for (service, address) in peers {
        config.peers.insert(service, address.to_string());
    }
    config
}

tokio::task_local! {
    /// The client settings that test servers started in this scope are
    /// reached with, when not [`client_config`]'s.
    static REACHED_WITH: ClientConfig;
}

/// Runs `future` with every test server started inside it (e.g. by a
/// service's `test_util::start`, through [`TestService::start`]) reached
/// with `client`'s settings, from its health check on and through
/// [`TestServer::channel`]: e.g. mutual TLS with a client certificate of the
/// CA the servers trust, where [`client_config`]'s plaintext would find them
/// never SERVING.
pub async fn reached_with<F: Future>(client: ClientConfig, future: F) -> F::Output {
    REACHED_WITH.scope(client, future).await
}

/// A local port held for a server that a test starts later: bound but not
/// listening, so calls to it are refused at once, as by a peer that is down,
/// and no other test can take the port meanwhile.
pub struct ReservedPort {
    socket: TcpSocket,
    address: SocketAddr,
}

impl ReservedPort {
    /// Binds a free port on 127.0.0.1 without listening on it.
    pub fn new() -> ReservedPort {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a free port");
        let address = socket.local_addr().expect("the reserved address");
        ReservedPort { socket, address }
    }

    /// Binds `address` again, e.g. the port of a server a test stopped and
    /// now starts anew, as a restarted process would.
    pub fn at(address: SocketAddr) -> ReservedPort {
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        // Connections of the stopped server may linger in TIME_WAIT.
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(address).expect("bind the address again");
        ReservedPort { socket, address }
    }

    /// Where the server will listen.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Starts listening: from now on connections are accepted (and wait for
    /// the server that serves the listener).
    pub fn listen(self) -> TcpListener {
        self.socket
            .listen(1024)
            .expect("listen on the reserved port")
    }
}

impl Default for ReservedPort {
    fn default() -> Self {
        ReservedPort::new()
    }
}

/// A service running in the test's runtime on 127.0.0.1 and a free port.
pub struct TestServer {
    address: SocketAddr,
    channel: OmsChannel,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), String>>>,
}

impl TestServer {
    /// Starts `run` on a fresh listener and returns once its health check reports
    /// SERVING. `run` is the service's `run(config, listener, shutdown)` with the
    /// config already applied, e.g. `|listener, shutdown| run(config, listener, shutdown)`.
    pub async fn start<F, Fut, E>(run: F) -> TestServer
    where
        F: FnOnce(TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        TestServer::start_on(ReservedPort::new(), run).await
    }

    /// Starts `run` on a port reserved earlier, e.g. one that peers were
    /// configured with before this server existed; reached with
    /// [`client_config`], or inside [`reached_with`] with its settings.
    pub async fn start_on<F, Fut, E>(port: ReservedPort, run: F) -> TestServer
    where
        F: FnOnce(TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let client = REACHED_WITH
            .try_with(ClientConfig::clone)
            .unwrap_or_else(|_| client_config());
        TestServer::start_with(port, &client, run).await
    }

    /// Starts `run` on `port` and reaches it, from the health check on, with
    /// `client`'s settings: e.g. mutual TLS with a certificate of a test CA
    /// (`oms_platform::certs::DevCa`) for a server serving TLS.
    pub async fn start_with<F, Fut, E>(
        port: ReservedPort,
        client: &ClientConfig,
        run: F,
    ) -> TestServer
    where
        F: FnOnce(TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let listener = port.listen();
        let address = listener.local_addr().expect("listener address");
        let shutdown = CancellationToken::new();
        let serving = run(listener, shutdown.clone());
        let task = tokio::spawn(async move { serving.await.map_err(|err| err.to_string()) });
        let channel =
            client::channel(&address.to_string(), client).expect("channel to the test server");

        let server = TestServer {
            address,
            channel,
            shutdown,
            task: Some(task),
        };
        server.wait_until_serving().await;
        server
    }

    async fn wait_until_serving(&self) {
        let health = HealthClient::new(self.channel.clone());
        crate::poll_until("the test server to report SERVING", READY_TIMEOUT, || {
            let mut health = health.clone();
            let finished = self.task.as_ref().is_none_or(JoinHandle::is_finished);
            async move {
                assert!(!finished, "the test server stopped while starting");
                let response = health
                    .check(HealthCheckRequest {
                        service: String::new(),
                    })
                    .await
                    .ok()?;
                (response.into_inner().status == ServingStatus::Serving as i32).then_some(())
            }
        })
        .await;
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A channel to the server, with the platform's client layer: pass it to a
    /// generated client, e.g. `InventoryServiceClient::new(server.channel())`.
    pub fn channel(&self) -> OmsChannel {
        self.channel.clone()
    }

    /// The token that shuts the server down, as SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Shuts the server down as SIGTERM would and waits for `run` to return.
    pub async fn stop(mut self) -> Result<(), String> {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(READY_TIMEOUT, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(join_error)) => Err(format!("the server task failed: {join_error}")),
            Err(_) => Err(format!("the server did not stop within {READY_TIMEOUT:?}")),
        }
    }
}

/// A service started for a test together with what it owns (its database,
/// its Redis prefix), all dropped together: what each service's
/// `test_util::start` returns.
pub struct TestService {
    /// The running server.
    pub server: TestServer,
    /// The service's database.
    pub database: TestDatabase,
    /// The service's Redis key prefix, for services that use Redis.
    pub redis: Option<TestRedis>,
}

impl TestService {
    /// Starts `run` on `port`, owning `database` and `redis`.
    pub async fn start<F, Fut, E>(
        port: ReservedPort,
        database: TestDatabase,
        redis: Option<TestRedis>,
        run: F,
    ) -> TestService
    where
        F: FnOnce(TcpListener, CancellationToken) -> Fut,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Display,
    {
        let server = TestServer::start_on(port, run).await;
        TestService {
            server,
            database,
            redis,
        }
    }

    /// The address the service listens on.
    pub fn address(&self) -> SocketAddr {
        self.server.address()
    }

    /// A channel to the service, for its generated client.
    pub fn channel(&self) -> OmsChannel {
        self.server.channel()
    }

    /// Shuts the service down as SIGTERM would; panics unless it stops cleanly.
    pub async fn stop(self) {
        self.server.stop().await.expect("a clean stop");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
