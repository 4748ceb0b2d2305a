//! The oms-payment binary: configuration from the environment, then `run`.

use oms_payment::{Config, run};
use oms_platform::{config::Service, process};

fn main() -> std::process::ExitCode {
    process::main(Service::Payment, Config::from_env, run)
}
