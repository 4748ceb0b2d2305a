//! The oms-inventory binary as an operator runs it: its command line, its
//! start without Postgres, and without Redis, which it can do without.

use oms_platform::config::Service;
use oms_proto::inventory::v1::inventory_service_client::InventoryServiceClient;
use oms_testkit::{TestDatabase, binary::ServiceProcess, client_config};

use crate::helpers::*;

const BINARY: &str = env!("CARGO_BIN_EXE_oms-inventory");

/// `--help` lists every variable the configuration reads, with its default,
/// as the README does; `--help` and `--version` start nothing; a mistake
/// exits 2; without Postgres it exits naming the database, never serving.
#[tokio::test]
async fn the_binary_keeps_the_promises_of_every_service_binary() {
    oms_testkit::binary::check_binary(BINARY, Service::Inventory, oms_inventory::Config::from_env)
        .await;
}

/// Redis holds only caches: where nothing listens, the service warns
/// at start, naming the variable and the address, and reserves stock anyway.
#[tokio::test]
async fn without_redis_it_warns_at_start_and_still_reserves_stock() {
    let database = TestDatabase::create().await;
    let url = database.url();
    let service = ServiceProcess::start(
        BINARY,
        &[
            ("OMS_DATABASE_URL", url.as_str()),
            ("OMS_REDIS_URL", "redis://127.0.0.1:1"),
        ],
    )
    .await;

    let lines = service.lines();
    let warned = lines
        .iter()
        .position(|line| line["level"] == "WARN" && line["variable"] == "OMS_REDIS_URL")
        .unwrap_or_else(|| panic!("a warning about Redis: {lines:#?}"));
    assert_eq!(lines[warned]["address"], "127.0.0.1:1");
    let serving = lines
        .iter()
        .position(|line| line["message"] == "serving")
        .unwrap();
    assert!(warned < serving, "warned at start: {lines:#?}");

    let channel =
        oms_platform::client::channel(&service.address().to_string(), &client_config()).unwrap();
    let mut client = InventoryServiceClient::new(channel);
    put_location(&mut client, "wh-1", true).await;
    set_stock(&mut client, "tee-m", "wh-1", 5).await;
    let order_id = uuid::Uuid::now_v7().to_string();
    let held = reserve(&mut client, &order_id, vec![line("tee-m", "wh-1", 2)])
        .await
        .unwrap();
    assert!(held.reservation.is_some());
    let availability = client
        .get_availability(oms_proto::inventory::v1::GetAvailabilityRequest {
            skus: vec!["tee-m".into()],
            location_ids: vec![],
            channel: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(availability.skus[0].available, 3);

    assert_eq!(service.stop().await, Some(0));
}
