//! The oms-returns binary as an operator runs it: its command line and its start
//! without Postgres.

use oms_platform::{config::Service, process::ServiceConfig as _};
use oms_returns::Config;
use oms_testkit::binary;

const BINARY: &str = env!("CARGO_BIN_EXE_oms-returns");

#[tokio::test]
async fn help_and_version_start_nothing_and_agree_with_the_readme() {
    binary::check_command_line::<Config>(BINARY, Service::Returns).await;
}

#[test]
fn help_lists_every_variable_the_configuration_reads_with_its_default() {
    binary::check_variables(Config::from_env, &Config::variables(Service::Returns));
}

#[tokio::test]
async fn without_postgres_it_exits_naming_the_database_and_never_serves() {
    binary::check_unreachable_database(BINARY).await;
}
