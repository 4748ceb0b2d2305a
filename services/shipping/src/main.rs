//! The oms-shipping binary: configuration from the environment, then `run`.

use oms_platform::{config::Service, process};
use oms_shipping::{Config, run};

fn main() -> std::process::ExitCode {
    process::main(Service::Shipping, Config::from_env, run)
}
