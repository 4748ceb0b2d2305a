//! The oms-inventory binary: configuration from the environment, then `run`.

use oms_inventory::{Config, run};
use oms_platform::{config::Service, process};

fn main() -> std::process::ExitCode {
    process::main(Service::Inventory, Config::from_env, run)
}
