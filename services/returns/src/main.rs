//! The oms-returns binary: configuration from the environment, then `run`.

use oms_platform::{config::Service, process};
use oms_returns::{Config, run};

fn main() -> std::process::ExitCode {
    process::main(Service::Returns, Config::from_env, run)
}
