//! `make demo` as a newcomer runs it, against a suite started the way
//! `make up` starts one: each service's built binary as a process, on a free
//! port, configured through its environment (here with a database of its own
//! and the inventory's own Redis prefix), over mutual TLS with its own
//! certificate from `omsctl certs`. The demo script drives every order
//! through the omsctl binary, which presents the operator's certificate; the
//! test then reads each outcome back through the services' contracts, as the
//! operator too. The demo runs twice, as it must be safe to.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use oms_client::{CallPolicy, Health, Oms, wait_for_health};
use oms_platform::config::{ClientConfig, Env, Service};
use oms_proto::{
    common::v1::{Channel, ChannelKind},
    order::v1::{GetOrderRequest, Order, OrderStatus},
    returns::v1::{ListReturnsRequest, ReturnStatus},
    saga::v1::{ListSagasRequest, Saga, SagaKind, SagaState, StepState},
};
use oms_testkit::{TestDatabase, TestRedis};
use tokio::process::{Child, Command};

/// How long one run of the demo may take (it takes about 15 s).
const DEMO_TIMEOUT: Duration = Duration::from_secs(240);

/// The workspace's root, where `scripts/` and `Cargo.toml` are.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// Where cargo puts the binaries: the folder above this test's own binary
/// (`target/debug/deps/e2e-...`).
fn binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the deps folder");
    deps.parent().expect("the profile folder").to_path_buf()
}

/// Builds the services and omsctl as the workspace's test build does (the
/// command `cargo nextest run --workspace` and `cargo test --workspace` run
/// first), so that after it this is a check of a few hundred milliseconds,
/// and the binaries run are the ones of this checkout. (A `cargo build` of
/// the binaries alone would resolve features without the dev-dependencies'
/// and build them all again.)
async fn build() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    // What cargo and nextest set for this test's process is not what the
    // workspace build saw: a build script that watches one of these (ring
    // watches CARGO_MANIFEST_DIR) would take it for a change and rebuild, and
    // relink the test binaries of every crate under the tests still running.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_tests = [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ]
        .contains(&name.as_ref())
            || ["CARGO_PKG_", "CARGO_BIN_EXE_", "NEXTEST", "__NEXTEST"]
                .iter()
                .any(|prefix| name.starts_with(prefix));
        if set_for_tests {
            command.env_remove(name.as_ref());
        }
    }
    let status = command
        .current_dir(workspace())
        .args(["test", "--no-run", "--workspace", "--locked", "--quiet"])
        .status()
        .await
        .expect("cargo runs");
    assert!(status.success(), "the binaries build");
    for binary in Service::ALL
        .map(Service::binary_name)
        .into_iter()
        .chain(["omsctl"])
    {
        assert!(binaries().join(binary).exists(), "{binary} is built");
    }
}

/// Makes the local CA and certificates in `dir` as `make up` does, with
/// `omsctl certs --if-missing`, and checks that a second run keeps them.
async fn certificates(dir: &Path) {
    let certs = async || {
        Command::new(binaries().join("omsctl"))
            .args(["certs", "--if-missing", "--out"])
            .arg(dir)
            .output()
            .await
            .expect("omsctl runs")
    };
    let made = certs().await;
    assert!(made.status.success(), "omsctl certs: {made:?}");
    let ca = std::fs::read(dir.join("ca.pem")).expect("the CA's certificate");
    let kept = certs().await;
    assert!(kept.status.success(), "omsctl certs again: {kept:?}");
    assert_eq!(
        std::fs::read(dir.join("ca.pem")).expect("the CA's certificate"),
        ca,
        "a second run keeps the set"
    );
}

/// The suite as processes.
struct ProcessSuite {
    children: Vec<(Service, Child)>,
    addresses: Vec<(Service, String)>,
    logs: PathBuf,
    /// The CA and every principal's certificate and key.
    certs: PathBuf,
    // Dropped with the suite: the databases and the Redis keys.
    _databases: Vec<TestDatabase>,
    _redis: TestRedis,
}

impl ProcessSuite {
    async fn start() -> ProcessSuite {
        let addresses: Vec<(Service, String)> = Service::ALL
            .into_iter()
            .map(|service| {
                // A free port, released for the service to bind.
                let port = TcpListener::bind("127.0.0.1:0").expect("a free port");
                (service, port.local_addr().expect("its address").to_string())
            })
            .collect();
        let logs = std::env::temp_dir().join(format!("oms-demo-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&logs).expect("a folder for the logs");
        let certs = logs.join("certs");
        certificates(&certs).await;
        let redis = TestRedis::new();
        let mut databases = Vec::new();
        let mut children = Vec::new();
        for service in Service::ALL {
            let database = TestDatabase::create().await;
            let log = std::fs::File::create(logs.join(format!("{}.log", service.name())))
                .expect("a log file");
            let mut command = Command::new(binaries().join(service.binary_name()));
            for (name, _) in std::env::vars_os() {
                let name = name.to_string_lossy();
                if name.starts_with("OMS_") || name.starts_with("OTEL_") || name == "RUST_LOG" {
                    command.env_remove(name.as_ref());
                }
            }
            command
                .envs(
                    addresses
                        .iter()
                        .map(|(peer, address)| (peer.addr_var(), address.clone())),
                )
                .env("OMS_TLS", "mutual")
                .env("OMS_TLS_CA", certs.join("ca.pem"))
                .env(
                    "OMS_TLS_CERT",
                    certs.join(format!("{}.pem", service.name())),
                )
                .env("OMS_TLS_KEY", certs.join(format!("{}.key", service.name())))
                .env("OMS_DATABASE_URL", database.url())
                .env("OMS_DATABASE_POOL_SIZE", "3")
                .env("OMS_SHUTDOWN_GRACE", "2s");
            match service {
                Service::Inventory => {
                    let redis = redis.config();
                    command
                        .env("OMS_REDIS_URL", redis.url)
                        .env("OMS_REDIS_KEY_PREFIX", redis.key_prefix);
                }
                Service::Saga => {
                    // What the demo's own start sets: a return saga looks at
                    // its return every second instead of every minute.
                    command
                        .env("OMS_SAGA_RETURN_POLL", "1s")
                        .env("OMS_SAGA_POLL_INTERVAL", "100ms");
                }
                _ => {}
            }
            let child = command
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("the log file"))
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|err| panic!("{} starts: {err}", service.binary_name()));
            children.push((service, child));
            databases.push(database);
        }
        let suite = ProcessSuite {
            children,
            addresses,
            logs,
            certs,
            _databases: databases,
            _redis: redis,
        };
        let config = suite.client_config();
        for (service, address) in &suite.addresses {
            let health = wait_for_health(address, "", Duration::from_secs(60), &config).await;
            assert_eq!(
                health,
                Health::Serving,
                "{service} serves; its log is in {}",
                suite.logs.display()
            );
        }
        suite
    }

    /// Where the services are and the operator's certificate, as omsctl and
    /// the demo read them.
    fn env(&self) -> Vec<(String, String)> {
        let file = |name: &str| self.certs.join(name).to_string_lossy().into_owned();
        self.addresses
            .iter()
            .map(|(service, address)| (service.addr_var(), address.clone()))
            .chain([
                ("OMS_TLS".to_owned(), "mutual".to_owned()),
                ("OMS_TLS_CA".to_owned(), file("ca.pem")),
                ("OMS_TLS_CERT".to_owned(), file("operator.pem")),
                ("OMS_TLS_KEY".to_owned(), file("operator.key")),
            ])
            .collect()
    }

    fn client_config(&self) -> ClientConfig {
        ClientConfig::from_env(&Env::from_pairs(self.env())).expect("a valid client config")
    }

    /// Runs omsctl with `args` as a caller in plaintext would: what it printed
    /// and its exit status.
    async fn omsctl_in_plaintext(&self, args: &[&str]) -> std::process::Output {
        let mut command = Command::new(binaries().join("omsctl"));
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("OMS_") {
                command.env_remove(name.as_ref());
            }
        }
        command
            .args(args)
            .envs(
                self.addresses
                    .iter()
                    .map(|(service, address)| (service.addr_var(), address)),
            )
            .env("OMS_TLS", "off")
            .output()
            .await
            .expect("omsctl runs")
    }

    /// Runs `scripts/demo.sh` as `make demo` does, run `run`; its output.
    async fn demo(&self, run: &str) -> String {
        let mut command = Command::new("bash");
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("OMS_") {
                command.env_remove(name.as_ref());
            }
        }
        command
            .current_dir(workspace())
            .arg("scripts/demo.sh")
            .args(Service::ALL.map(Service::name))
            .envs(self.env())
            .env("OMSCTL", binaries().join("omsctl"))
            .env("DEMO_RUN", run)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(DEMO_TIMEOUT, command.output())
            .await
            .unwrap_or_else(|_| panic!("the demo ends within {DEMO_TIMEOUT:?}"))
            .expect("bash runs the demo");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success(),
            "the demo succeeds:\n{printed}\nservice logs in {}",
            self.logs.display()
        );
        printed
    }

    /// SIGTERM to each service, and its exit awaited.
    async fn stop(mut self) {
        for (service, child) in &mut self.children {
            if let Some(pid) = child.id() {
                let _ = Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status()
                    .await;
            }
            let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .unwrap_or_else(|_| panic!("{service} stops after SIGTERM"))
                .expect("its exit status");
            assert!(exit.success(), "{service} exits cleanly: {exit:?}");
        }
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

/// A demo order and its fulfilment saga, read through the contracts.
struct Outcome {
    order: Order,
    saga: Saga,
}

async fn outcome(oms: &Oms, run: &str, name: &str, kind: ChannelKind, channel: &str) -> Outcome {
    let reference = format!("demo-{run}-{name}");
    let order = oms
        .order
        .get_order(GetOrderRequest {
            channel: Some(Channel {
                kind: kind as i32,
                name: channel.into(),
            }),
            external_reference: reference.clone(),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|status| panic!("{reference}: {status:?}"))
        .order
        .unwrap();
    let saga = saga(oms, SagaKind::Order, &order.order_id).await;
    Outcome { order, saga }
}

async fn saga(oms: &Oms, kind: SagaKind, order_id: &str) -> Saga {
    oms.saga
        .list_sagas(ListSagasRequest {
            kind: kind as i32,
            order_id: order_id.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .sagas
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a {kind:?} saga for {order_id}"))
}

fn status(order: &Order) -> OrderStatus {
    OrderStatus::try_from(order.status).unwrap()
}

fn from(order: &Order) -> Vec<&str> {
    let mut locations: Vec<&str> = order
        .shipments
        .iter()
        .map(|shipment| shipment.location_id.as_str())
        .collect();
    locations.sort_unstable();
    locations
}

fn step(saga: &Saga, name: &str) -> StepState {
    let step = saga.steps.iter().find(|step| step.name == name).unwrap();
    StepState::try_from(step.state).unwrap()
}

/// Every outcome of the demo's run `run`.
async fn check(oms: &Oms, run: &str, printed: &str) {
    use ChannelKind::{App, CallCenter, Marketplace, Store, Web};

    for name in ["app", "amazon", "callcenter", "split", "pickup"] {
        let reference = format!("demo-{run}-{name}");
        assert!(printed.contains(&reference), "{reference} in:\n{printed}");
    }
    // Each outcome shows its saga and the trace it ran in.
    assert!(printed.matches(" trace ").count() >= 11, "{printed}");
    assert!(printed.contains("== Order stats"), "{printed}");

    let confirmed = [
        ("app", App, "", vec!["wh-hamburg"]),
        ("amazon", Marketplace, "amazon-de", vec!["wh-berlin"]),
        ("callcenter", CallCenter, "", vec!["wh-paris"]),
        ("split", Web, "", vec!["wh-berlin", "wh-hamburg"]),
    ];
    for (name, kind, channel, locations) in confirmed {
        let Outcome { order, saga } = outcome(oms, run, name, kind, channel).await;
        assert_eq!(status(&order), OrderStatus::Confirmed, "{name}: {saga:#?}");
        assert_eq!(saga.state, SagaState::Completed as i32, "{name}");
        assert!(!saga.trace_id.is_empty(), "{name}");
        assert_eq!(from(&order), locations, "{name}");
    }

    let Outcome { order, saga } = outcome(oms, run, "pickup", Store, "berlin-mitte").await;
    assert_eq!(status(&order), OrderStatus::Confirmed, "{saga:#?}");
    assert!(order.shipments.is_empty());
    assert_eq!(order.pickup_location_id, "store-berlin-mitte");
    assert_eq!(step(&saga, "create_shipments"), StepState::Skipped);
    assert_eq!(step(&saga, "capture_payment"), StepState::Succeeded);

    let Outcome { order, saga } = outcome(oms, run, "declined", Web, "").await;
    assert_eq!(status(&order), OrderStatus::Rejected, "{saga:#?}");
    assert_eq!(saga.state, SagaState::Compensated as i32);
    assert_eq!(saga.failure.as_ref().unwrap().reason, "PAYMENT_DECLINED");
    for name in ["record_order", "reserve_stock", "authorize_payment"] {
        assert_eq!(step(&saga, name), StepState::Compensated, "{name}");
    }
    assert_eq!(step(&saga, "capture_payment"), StepState::Skipped);

    let Outcome { order, saga } = outcome(oms, run, "soldout", Web, "").await;
    assert_eq!(status(&order), OrderStatus::Rejected, "{saga:#?}");
    assert_eq!(order.status_reason, "UNFULFILLABLE for sku VINYL-LTD");
    assert_eq!(saga.state, SagaState::Compensated as i32);
    assert_eq!(step(&saga, "reserve_stock"), StepState::Skipped);

    let Outcome { order, saga } = outcome(oms, run, "cancel", Web, "").await;
    assert_eq!(
        saga.state,
        SagaState::Completed as i32,
        "confirmed before the cancel"
    );
    assert_eq!(status(&order), OrderStatus::Cancelled);
    let cancel = self::saga(oms, SagaKind::Cancel, &order.order_id).await;
    assert_eq!(cancel.state, SagaState::Completed as i32, "{cancel:#?}");
    for name in [
        "cancel_shipments",
        "restock",
        "refund_payment",
        "mark_cancelled",
    ] {
        assert_eq!(step(&cancel, name), StepState::Succeeded, "{name}");
    }
    assert!(
        order
            .shipments
            .iter()
            .all(|shipment| shipment.cancel_time.is_some())
    );

    let Outcome { order, saga } = outcome(oms, run, "web", Web, "").await;
    assert_eq!(saga.state, SagaState::Completed as i32);
    assert_eq!(from(&order), ["wh-berlin"]);
    assert_eq!(status(&order), OrderStatus::PartiallyReturned);
    let shirt = order.lines.iter().find(|line| line.sku == "TEE-M").unwrap();
    assert_eq!((shirt.delivered_quantity, shirt.returned_quantity), (2, 1));
    let returns = oms
        .returns
        .list_returns(ListReturnsRequest {
            order_id: order.order_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .returns;
    assert_eq!(returns.len(), 1);
    assert_eq!(returns[0].status, ReturnStatus::Closed as i32);
    assert!(!returns[0].refund_transaction_id.is_empty());
    let refund = returns[0].refund.as_ref().unwrap().total.as_ref().unwrap();
    assert_eq!(refund.amount_minor, 1999);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_every_order_to_its_end_through_omsctl_twice() {
    let _one = crate::one_suite_at_a_time().await;
    build().await;
    let suite = ProcessSuite::start().await;
    let oms = Oms::connect(&suite.client_config(), CallPolicy::default()).unwrap();
    // The suite serves mutual TLS only: a caller in plaintext is not answered.
    let plaintext = suite.omsctl_in_plaintext(&["health", "order"]).await;
    assert_eq!(plaintext.status.code(), Some(1), "{plaintext:?}");

    for run in ["first", "second"] {
        let printed = suite.demo(run).await;
        check(&oms, run, &printed).await;
    }
    suite.stop().await;
}
