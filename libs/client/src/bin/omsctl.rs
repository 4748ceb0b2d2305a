//! omsctl: the operator's command line for the OMS suite.
//!
//! `omsctl health inventory` (or an address, `omsctl health 127.0.0.1:50052`)
//! exits 0 when the service serves, 1 when not; `--wait 30s` keeps asking until
//! it does or the time is up.

use std::{process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use oms_client::{Health, wait_for_health};
use oms_platform::config::{ClientConfig, Env, Service};

#[derive(Parser)]
#[command(name = "omsctl", version, about = "Operate the OMS suite")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a service's gRPC health (grpc.health.v1).
    Health {
        /// A service of the suite by name (`inventory`: its configured
        /// `OMS_<SERVICE>_ADDR`), or an address, host:port.
        target: String,
        /// The gRPC service to ask about; empty means the server as a whole.
        #[arg(long, default_value = "")]
        service: String,
        /// Keep asking until the service serves or this much time has passed.
        #[arg(long, default_value = "0s")]
        wait: humantime::Duration,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ClientConfig::from_env(&Env::from_process()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("omsctl: invalid configuration: {err}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Health {
            target,
            service,
            wait,
        } => {
            let address = Service::ALL
                .into_iter()
                .find(|known| known.name() == target)
                .map_or(target, |known| config.peer(known));
            health(&address, &service, wait.into(), &config).await
        }
    }
}

async fn health(address: &str, service: &str, wait: Duration, config: &ClientConfig) -> ExitCode {
    match wait_for_health(address, service, wait, config).await {
        Health::Serving => {
            eprintln!("{address}: SERVING");
            ExitCode::SUCCESS
        }
        Health::NotServing(status) => {
            eprintln!("{address}: {status}");
            ExitCode::FAILURE
        }
        Health::Unreachable(reason) => {
            eprintln!("{address}: unreachable: {reason}");
            ExitCode::FAILURE
        }
    }
}
