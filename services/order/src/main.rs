//! The oms-order binary: configuration from the environment, then `run`.

use oms_order::{Config, run};
use oms_platform::{config::Service, process};

fn main() -> std::process::ExitCode {
    process::main(Service::Order, Config::from_env, run)
}
