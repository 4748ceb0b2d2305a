//! The oms-shipping binary as an operator runs it.

use oms_platform::config::Service;

/// `--help` lists every variable the configuration reads, with its default,
/// as the README does; `--help` and `--version` start nothing; a mistake
/// exits 2; without Postgres it exits naming the database, never serving.
#[tokio::test]
async fn the_binary_keeps_the_promises_of_every_service_binary() {
    oms_testkit::binary::check_binary(
        env!("CARGO_BIN_EXE_oms-shipping"),
        Service::Shipping,
        oms_shipping::Config::from_env,
    )
    .await;
}
