//! The oms-saga binary: configuration from the environment, then `run`.

use oms_platform::{config::Service, process};
use oms_saga::{Config, run};

fn main() -> std::process::ExitCode {
    process::main(Service::Saga, Config::from_env, run)
}
