//! A service's binary seen from outside, as an operator runs it: its command
//! line, its start when a dependency does not answer, a running process to
//! call, and the agreement of `--help`, the configuration and the README.
//!
//! A service's integration tests pass their binary's path
//! (`env!("CARGO_BIN_EXE_oms-<service>")`) and their `Config`.

use std::{
    collections::BTreeSet,
    fmt::Debug,
    net::SocketAddr,
    process::{Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use oms_platform::{
    config::{ConfigError, Env, Service, Variable},
    process::{self, ServiceConfig},
};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

/// How long a binary may take to answer `--help`, to give up its start, or to
/// stop after SIGTERM.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The command for `binary`, without the variables of the test process that
/// would configure it (`OMS_*`, `OTEL_*`, `RUST_LOG`), with `env` instead.
fn command(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("OMS_") || name.starts_with("OTEL_") || name == "RUST_LOG" {
            command.env_remove(name.as_ref());
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `binary` to its end and returns what it printed and its exit status;
/// panics if it runs longer than 30s.
pub async fn run(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let output = command(binary, args, env).output();
    tokio::time::timeout(EXIT_TIMEOUT, output)
        .await
        .unwrap_or_else(|_| panic!("{binary} {args:?} still running after {EXIT_TIMEOUT:?}"))
        .unwrap_or_else(|err| panic!("cannot run {binary}: {err}"))
}

/// Stdout and stderr, one after the other.
fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The variables a `--help` text lists, with their defaults (`None`: unset).
pub fn help_variables(help: &str) -> Vec<(String, Option<String>)> {
    help.lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|entry| entry.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|entry| match entry.split_once('=') {
            Some((name, default)) => (name.to_owned(), Some(default.to_owned())),
            None => (entry.trim_end_matches(" (unset)").to_owned(), None),
        })
        .collect()
}

/// The rows of the README's configuration tables: each variable with the
/// text of its default cell. `OMS_<SERVICE>_ADDR` stands for every service's.
pub fn readme_variables() -> Vec<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read the README at {path}: {err}"));
    let section = readme
        .split("\n## ")
        .find(|section| section.starts_with("Configuration"))
        .expect("the README has a Configuration section");
    let mut variables = Vec::new();
    for row in section.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (Some(name), Some(default)) = (cells.get(1), cells.get(2)) else {
            continue;
        };
        let name = name.trim_matches('`');
        if name == "OMS_<SERVICE>_ADDR" {
            variables.extend(
                Service::ALL
                    .iter()
                    .map(|service| (service.addr_var(), format!("`{}`", service.default_addr()))),
            );
        } else {
            variables.push((name.to_owned(), (*default).to_owned()));
        }
    }
    variables
}

/// Whether a README default cell says what `--help` says: a literal in
/// backticks must be the same value (`<service>` standing for the service's
/// name), "unset" means no default; prose is not compared.
fn same_default(readme: &str, help: Option<&str>, service: Service) -> bool {
    match (readme, help) {
        ("unset", None) => true,
        (_, None) => false,
        (readme, Some(help)) => match readme.strip_prefix('`').and_then(|r| r.strip_suffix('`')) {
            Some(literal) if !literal.contains('`') => {
                literal.replace("<service>", service.name()) == help
            }
            _ => true,
        },
    }
}

/// Everything a service binary promises its operator, whatever the service:
/// [`check_variables`] on its configuration, [`check_command_line`] and
/// [`check_unreachable_database`] on `binary`.
pub async fn check_binary<C: ServiceConfig + Debug>(
    binary: &str,
    service: Service,
    load: impl Fn(&Env) -> Result<C, ConfigError>,
) {
    check_variables(load, &C::variables(service));
    check_command_line::<C>(binary, service).await;
    check_unreachable_database(binary).await;
}

/// The command line of a service binary: `--help` and `--version` print and
/// exit 0 starting nothing, a mistake exits 2 with a message; `--help` lists
/// exactly what [`process::variables`] says, and each of them is in the README
/// with the same default, as is every variable the README gives this service
/// (`OMS_<SERVICE>_*`).
pub async fn check_command_line<C: ServiceConfig>(binary: &str, service: Service) {
    // Were anything started, it would fail on this database or report serving.
    let unstartable = [
        ("OMS_DATABASE_URL", "postgres://oms@127.0.0.1:1/oms_help"),
        ("OMS_LISTEN_ADDR", "127.0.0.1:0"),
    ];
    let help = run(binary, &["--help"], &unstartable).await;
    let text = String::from_utf8_lossy(&help.stdout).into_owned();
    assert_eq!(help.status.code(), Some(0), "{}", printed(&help));
    assert!(!printed(&help).contains("serving"), "{}", printed(&help));
    assert!(
        text.contains(&format!("Usage: {}", service.binary_name())),
        "{text}"
    );

    let listed = help_variables(&text);
    let expected: Vec<(String, Option<String>)> = process::variables::<C>(service)
        .into_iter()
        .map(|variable| (variable.name, variable.default))
        .collect();
    assert_eq!(listed, expected, "{text}");

    let readme = readme_variables();
    for (name, default) in &listed {
        let row = readme.iter().find(|(documented, _)| documented == name);
        let Some((_, documented)) = row else {
            panic!("{name} is not in the README's configuration tables");
        };
        assert!(
            same_default(documented, default.as_deref(), service),
            "{name}: the README says {documented}, --help says {default:?}"
        );
    }
    let own = format!("OMS_{}_", service.name().to_ascii_uppercase());
    for (name, _) in &readme {
        if name.starts_with(&own) {
            assert!(
                listed.iter().any(|(listed, _)| listed == name),
                "the README lists {name}, --help does not"
            );
        }
    }

    let version = run(binary, &["--version"], &unstartable).await;
    assert_eq!(version.status.code(), Some(0), "{}", printed(&version));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("{} {}", service.binary_name(), env!("CARGO_PKG_VERSION"))
    );

    for mistake in [&["--frobnicate"][..], &["serve"]] {
        let wrong = run(binary, mistake, &unstartable).await;
        assert_eq!(wrong.status.code(), Some(2), "{}", printed(&wrong));
        let message = String::from_utf8_lossy(&wrong.stderr);
        assert!(message.contains(mistake[0]), "{message}");
        assert!(!printed(&wrong).contains("serving"), "{}", printed(&wrong));
    }
}

/// A service binary whose Postgres does not answer: it exits non-zero with a
/// message naming `OMS_DATABASE_URL` and the server's host:port, never the
/// URL's password, and never says it is serving; what it prints to a pipe
/// carries no colour codes.
pub async fn check_unreachable_database(binary: &str) {
    let output = run(
        binary,
        &[],
        &[
            (
                "OMS_DATABASE_URL",
                "postgres://oms:hunter2@127.0.0.1:1/oms_down",
            ),
            ("OMS_LISTEN_ADDR", "127.0.0.1:0"),
            ("OMS_LOG_FORMAT", "text"),
        ],
    )
    .await;
    let printed = printed(&output);
    assert!(!output.status.success(), "{printed}");
    // Its output is a pipe, as a log file is: no colour codes in it.
    assert!(!printed.contains('\u{1b}'), "{printed:?}");
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("OMS_DATABASE_URL"), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
    assert!(!printed.contains("hunter2"), "{printed}");
    assert!(!printed.contains("serving"), "{printed}");
}

/// Checks that `variables` are exactly the variables `load` reads, and that
/// each default they show is the one `load` applies: set to it, a variable
/// changes nothing.
pub fn check_variables<T: Debug>(
    load: impl Fn(&Env) -> Result<T, ConfigError>,
    variables: &[Variable],
) {
    let unset = Env::default();
    let defaults = load(&unset).expect("the defaults load");
    let read: BTreeSet<String> = unset.names_read().into_iter().collect();
    let declared: BTreeSet<String> = variables
        .iter()
        .map(|variable| variable.name.clone())
        .collect();
    assert_eq!(
        declared, read,
        "declared for --help / read by the configuration"
    );

    for variable in variables {
        let Some(default) = &variable.default else {
            continue;
        };
        let set = load(&Env::from_pairs([(
            variable.name.as_str(),
            default.as_str(),
        )]))
        .unwrap_or_else(|err| panic!("{}={default}: {err}", variable.name));
        assert_eq!(
            comparable(&set),
            comparable(&defaults),
            "{}={default} is not its default",
            variable.name
        );
    }
}

/// A config's debug form, its lines sorted: maps print in no fixed order.
fn comparable(config: &impl Debug) -> Vec<String> {
    let mut lines: Vec<String> = format!("{config:#?}")
        .lines()
        .map(|line| line.trim().to_owned())
        .collect();
    lines.sort();
    lines
}

/// A service binary running for a test, its logs in JSON, killed if the test
/// ends without stopping it.
pub struct ServiceProcess {
    child: Child,
    address: SocketAddr,
    lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl ServiceProcess {
    /// Starts `binary` on a free port with `env` and returns once it logs
    /// that it serves.
    pub async fn start(binary: &str, env: &[(&str, &str)]) -> ServiceProcess {
        let mut env = env.to_vec();
        env.extend([
            ("OMS_LISTEN_ADDR", "127.0.0.1:0"),
            ("OMS_LOG_FORMAT", "json"),
        ]);
        let mut child = command(binary, &[], &env)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {binary}: {err}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let collected = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                collected.lock().expect("log lines").push(value);
            }
        });

        let address = crate::poll_until("the binary to log serving", EXIT_TIMEOUT, || {
            let serving = lines
                .lock()
                .expect("log lines")
                .iter()
                .find(|line| line["message"] == "serving")
                .and_then(|line| line["address"].as_str()?.parse().ok());
            async move { serving }
        })
        .await;
        ServiceProcess {
            child,
            address,
            lines,
        }
    }

    /// Where it serves.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its log lines so far, each a JSON object.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.lines.lock().expect("log lines").clone()
    }

    /// Sends SIGTERM and returns the exit code once it has exited.
    pub async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().expect("the process is running");
        let signalled = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("run kill");
        assert!(signalled.success(), "SIGTERM not sent");
        tokio::time::timeout(EXIT_TIMEOUT, self.child.wait())
            .await
            .expect("the service stops after SIGTERM")
            .expect("its exit status")
            .code()
    }
}
