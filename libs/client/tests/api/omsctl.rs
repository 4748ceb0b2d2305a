//! omsctl from outside: `health` against a real server and against nothing,
//! unknown service names, a refusal printed as sentences, and a change
//! repeated with its printed idempotency key.

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

/// omsctl with `args` against an inventory at `address`: its output.
async fn against_inventory(address: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_omsctl"))
        .arg("--inventory-addr")
        .arg(address)
        .args(args)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unknown_service_name_is_named_with_the_services_there_are() {
    for args in [
        &["health", "warehouse"][..],
        &["outbox", "list", "warehouse"],
    ] {
        let output = omsctl(args).await;
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("unknown service \"warehouse\""), "{stderr}");
        assert!(stderr.contains("order, inventory, routing"), "{stderr}");
    }
    let output = omsctl(&["outbox", "list", "saga"]).await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("saga service keeps no outbox"), "{stderr}");
}

#[tokio::test]
async fn a_refusal_is_printed_as_sentences_with_its_error_details() {
    let inventory = oms_inventory::test_util::start(oms_testkit::ReservedPort::new(), |_| {}).await;
    let address = inventory.address().to_string();

    let output = against_inventory(&address, &["stock", "set", "TEE M", "nowhere", "-1"]).await;

    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INVALID_ARGUMENT"), "{stderr}");
    assert!(stderr.contains("Invalid: sku"), "{stderr}");
    assert!(stderr.contains("on_hand"), "{stderr}");
    assert!(!stderr.contains("grpc-status-details-bin"), "{stderr}");
    inventory.stop().await;
}

#[tokio::test]
async fn a_change_repeated_with_its_printed_key_acts_once() {
    let inventory = oms_inventory::test_util::start(oms_testkit::ReservedPort::new(), |_| {}).await;
    let address = inventory.address().to_string();
    let location = against_inventory(
        &address,
        &[
            "stock",
            "location",
            "wh-test",
            "--street",
            "Lagerstrasse 1",
            "--postal-code",
            "10115",
            "--city",
            "Berlin",
            "--country",
            "DE",
            "--geo",
            "52.5,13.4",
        ],
    )
    .await;
    assert!(location.status.success(), "{location:?}");

    let first = against_inventory(
        &address,
        &["--json", "stock", "set", "TEE-M", "wh-test", "7"],
    )
    .await;
    assert!(first.status.success(), "{first:?}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    let key = stderr
        .split_whitespace()
        .skip_while(|word| *word != "key")
        .nth(1)
        .expect("the key is printed")
        .to_owned();
    let again = against_inventory(
        &address,
        &[
            "--json",
            "--idempotency-key",
            &key,
            "stock",
            "set",
            "TEE-M",
            "wh-test",
            "7",
        ],
    )
    .await;
    assert!(again.status.success(), "{again:?}");

    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(first["stock"]["onHand"], 7);
    // The first answer again: the same movement, not a second count.
    assert_eq!(first["movement"], again["movement"]);
    let other = against_inventory(
        &address,
        &["--json", "stock", "set", "TEE-M", "wh-test", "7"],
    )
    .await;
    let other: serde_json::Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_ne!(first["movement"], other["movement"]);
    inventory.stop().await;
}

#[tokio::test]
async fn an_import_places_each_order_once_however_often_it_runs() {
    // The saga coordinator is down: the orders are accepted all the same.
    let order = oms_order::test_util::start(
        oms_testkit::ReservedPort::new(),
        oms_testkit::client_config(),
        |_| {},
    )
    .await;
    let folder = std::env::temp_dir().join(format!("omsctl-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&folder).unwrap();
    let file = folder.join("orders.csv");
    std::fs::write(
        &file,
        "channel,external_reference,customer,email,country,city,street,postal_code,sku,quantity,unit_price\n\
         web,imp-1,Ada Lovelace,ada@example.com,DE,Berlin,Unter den Linden 77,10117,TEE-M,2,19.99\n\
         web,imp-1,Ada Lovelace,ada@example.com,DE,Berlin,Unter den Linden 77,10117,CAP,1,15\n\
         app,imp-2,Grace Hopper,not-an-email,DE,Hamburg,Jungfernstieg 10,20354,CAP,1,15\n\
         marketplace:amazon-de,imp-3,Alan Turing,alan@example.com,DE,Munich,Marienplatz 1,80331,CAP,1,15\n",
    )
    .unwrap();
    let import = || async {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_omsctl"))
            .args([
                "--order-addr",
                &order.address().to_string(),
                "--json",
                "orders",
                "import",
            ])
            .arg(&file)
            .output()
            .await
            .unwrap();
        // One order was refused, so the import fails: a run to repeat.
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|row| {
                (
                    row["externalReference"].as_str().unwrap().to_owned(),
                    row["outcome"].as_str().unwrap().to_owned(),
                    row["orderId"].as_str().unwrap().to_owned(),
                )
            })
            .collect::<Vec<_>>()
    };

    let first = import().await;
    let again = import().await;

    let outcomes = |rows: &[(String, String, String)]| {
        rows.iter()
            .map(|(reference, outcome, _)| format!("{reference} {outcome}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outcomes(&first),
        ["imp-1 placed", "imp-2 refused", "imp-3 placed"]
    );
    assert_eq!(
        outcomes(&again),
        [
            "imp-1 already placed",
            "imp-2 refused",
            "imp-3 already placed"
        ]
    );
    assert_eq!(first[0].2, again[0].2, "the same order");
    std::fs::remove_dir_all(&folder).unwrap();
    order.stop().await;
}

/// A folder of its own for a test, removed when dropped.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn certificates_from_omsctl_certs_carry_omsctl_over_mutual_tls() {
    use std::os::unix::fs::PermissionsExt as _;

    use oms_platform::config::{Env, TlsConfig};
    use tokio_util::sync::CancellationToken;

    let dir = TempDir(std::env::temp_dir().join(format!("oms-certs-{}", uuid::Uuid::new_v4())));
    let out = dir.0.to_str().unwrap().to_owned();
    let made = omsctl(&["certs", "--out", &out]).await;
    assert!(made.status.success(), "{made:?}");
    let again = omsctl(&["certs", "--out", &out]).await;
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let file = |name: &str| format!("{out}/{name}");
    let key_mode = std::fs::metadata(file("operator.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);

    // An inventory server with its certificate, serving no OMS service: a
    // call the table allows passes the access check and reaches the routes,
    // where the missing service answers UNIMPLEMENTED.
    let mut config = server_config();
    config.tls = TlsConfig::from_env(&Env::from_pairs([
        ("OMS_TLS", "mutual".to_owned()),
        ("OMS_TLS_CERT", file("inventory.pem")),
        ("OMS_TLS_KEY", file("inventory.key")),
        ("OMS_TLS_CA", file("ca.pem")),
    ]))
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    tokio::spawn(GrpcServer::new(&config).serve(listener, shutdown.clone()));
    let _stop = shutdown.drop_guard();

    let as_principal = |name: &str| {
        [
            "--tls-ca".to_owned(),
            file("ca.pem"),
            "--tls-cert".to_owned(),
            file(&format!("{name}.pem")),
            "--tls-key".to_owned(),
            file(&format!("{name}.key")),
        ]
    };
    let operator = as_principal("operator");
    let operator: Vec<&str> = operator.iter().map(String::as_str).collect();
    let health = omsctl(&[&["health", &address, "--wait", "10s"], &operator[..]].concat()).await;
    assert!(health.status.success(), "{health:?}");

    let plaintext = omsctl(&["health", &address]).await;
    assert_eq!(plaintext.status.code(), Some(1), "{plaintext:?}");

    let shipping = as_principal("shipping");
    let shipping: Vec<&str> = shipping.iter().map(String::as_str).collect();
    let denied =
        omsctl(&[&["stock", "locations", "--addr", &address], &shipping[..]].concat()).await;
    assert_eq!(denied.status.code(), Some(1), "{denied:?}");
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert!(
        stderr.contains("shipping may not call oms.inventory.v1.InventoryService/ListLocations"),
        "{stderr}"
    );

    let allowed =
        omsctl(&[&["stock", "locations", "--addr", &address], &operator[..]].concat()).await;
    let stderr = String::from_utf8_lossy(&allowed.stderr);
    assert!(stderr.contains("answered UNIMPLEMENTED"), "{stderr}");
}
