//! `omsctl token`: bearer tokens for a local run, where no identity provider
//! signs them.
//!
//! `omsctl token keys` writes an Ed25519 signing key (`jwt-signing-key.pem`,
//! readable by its owner only) and the JWKS that verifies it (`jwks.json`,
//! what the services read from `OMS_JWT_KEYS`). `omsctl token sign` prints a
//! token signed with that key, for a subject and roles:
//!
//! ```text
//! omsctl token keys --out .run/certs
//! export OMS_TOKEN=$(omsctl token sign --subject alice --role operator)
//! omsctl token sign --subject web-connector --role channel --channel web
//! ```
//!
//! In production the deployment's identity provider signs tokens and
//! publishes its JWKS; these commands are for development and tests.

use std::{fs, path::PathBuf, time::Duration};

use oms_platform::auth::{DevTokenKey, Role, TokenConfig, TokenRequest, parse_channel};

use crate::Failure;

/// The key id of the local signing key.
const KID: &str = "oms-local";

/// The token commands.
#[derive(clap::Subcommand)]
pub enum TokenCommand {
    /// Write a new signing key and its JWKS.
    Keys(KeysArgs),
    /// Print a token signed with the local key.
    Sign(SignArgs),
}

/// Where to write the key.
#[derive(clap::Args)]
pub struct KeysArgs {
    /// The folder to write `jwt-signing-key.pem` and `jwks.json` to; made if
    /// missing.
    #[arg(long, default_value = ".run/certs")]
    out: PathBuf,
    /// Replace a key already there (tokens signed with the old one stop
    /// verifying once the services read the new JWKS).
    #[arg(long)]
    force: bool,
}

/// What the token says.
#[derive(clap::Args)]
pub struct SignArgs {
    /// The signing key, as `omsctl token keys` wrote it.
    #[arg(long, default_value = ".run/certs/jwt-signing-key.pem")]
    key: PathBuf,
    /// Who the token names (`sub`): an operator's login, a connector's id.
    #[arg(long)]
    subject: String,
    /// A role it grants: channel, support, operator or auditor; repeat for
    /// several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// The channel a channel token speaks for: web, app, call_center,
    /// marketplace:<name> or store:<location>.
    #[arg(long)]
    channel: Option<String>,
    /// How long it is valid.
    #[arg(long, default_value = "8h")]
    ttl: humantime::Duration,
    /// The issuer (`iss`) to name, as the services' OMS_JWT_ISSUER expects.
    #[arg(long)]
    issuer: Option<String>,
    /// The audience (`aud`).
    #[arg(long, default_value = TokenConfig::AUDIENCE)]
    audience: String,
}

/// Runs a token command.
pub fn run(command: &TokenCommand) -> Result<(), Failure> {
    match command {
        TokenCommand::Keys(args) => keys(args),
        TokenCommand::Sign(args) => sign(args),
    }
}

fn keys(args: &KeysArgs) -> Result<(), Failure> {
    let key_path = args.out.join("jwt-signing-key.pem");
    let jwks_path = args.out.join("jwks.json");
    if key_path.exists() && !args.force {
        return Err(Failure::Usage(format!(
            "{} exists; pass --force to replace it",
            key_path.display()
        )));
    }
    let failed = |what: &str, path: &std::path::Path, err: std::io::Error| {
        Failure::Failed(format!("cannot {what} {}: {err}", path.display()))
    };
    fs::create_dir_all(&args.out).map_err(|err| failed("make", &args.out, err))?;
    let key = DevTokenKey::generate(KID).map_err(|err| Failure::Failed(err.to_string()))?;
    crate::certs::write(&key_path, &key.key_pem, 0o600)
        .map_err(|err| failed("write", &key_path, err))?;
    crate::certs::write(&jwks_path, &key.jwks, 0o644)
        .map_err(|err| failed("write", &jwks_path, err))?;
    crate::output::note(format!(
        "wrote {} and {}; services verify tokens with OMS_JWT_KEYS={}",
        key_path.display(),
        jwks_path.display(),
        jwks_path.display()
    ));
    Ok(())
}

fn sign(args: &SignArgs) -> Result<(), Failure> {
    let roles = args
        .roles
        .iter()
        .map(|name| {
            Role::from_name(name).ok_or_else(|| {
                Failure::Usage(format!(
                    "--role {name:?} is not a role; the roles are channel, support, operator, auditor"
                ))
            })
        })
        .collect::<Result<Vec<Role>, Failure>>()?;
    let mut request = TokenRequest::new(args.subject.clone(), &roles);
    if let Some(channel) = &args.channel {
        let channel = parse_channel(channel).ok_or_else(|| {
            Failure::Usage(format!(
                "--channel {channel:?} is not a channel: web, app, call_center, marketplace:<name> or store:<location>"
            ))
        })?;
        request = request.for_channel(channel);
    } else if roles.contains(&Role::Channel) {
        return Err(Failure::Usage(
            "a channel token needs --channel (e.g. web or marketplace:amazon-de)".to_owned(),
        ));
    }
    if args.subject.is_empty() || args.subject.len() > 128 {
        return Err(Failure::Usage(
            "--subject must be 1 to 128 characters".to_owned(),
        ));
    }
    request.ttl = Duration::from(args.ttl);
    request.issuer.clone_from(&args.issuer);
    request.audience.clone_from(&args.audience);
    let key_pem = fs::read_to_string(&args.key).map_err(|err| {
        Failure::Usage(format!(
            "cannot read the signing key {}: {err} (make one with `omsctl token keys`)",
            args.key.display()
        ))
    })?;
    let token = DevTokenKey::sign_with(&key_pem, KID, &request).map_err(Failure::Usage)?;
    println!("{token}");
    Ok(())
}
