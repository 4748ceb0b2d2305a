//! The oms-routing binary: configuration from the environment, then `run`.

use oms_platform::{config::Service, process};
use oms_routing::{Config, run};

fn main() -> std::process::ExitCode {
    process::main(Service::Routing, Config::from_env, run)
}
