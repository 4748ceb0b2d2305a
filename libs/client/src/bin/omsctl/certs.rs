//! `omsctl certs`: a local CA and a certificate for every principal of the
//! suite, for running it over mutual TLS on a developer machine.
//!
//! The folder gets `ca.pem` (what every process trusts, `OMS_TLS_CA`) and,
//! for each service and for the `operator`, `channel` and `carrier` clients,
//! `<name>.pem` and `<name>.key` (`OMS_TLS_CERT` and `OMS_TLS_KEY`). The
//! CA's own key is never written: to add a certificate, make a new set.
//! `--if-missing` keeps a complete set already there (what `make up` runs
//! each time), so the processes started with it keep trusting each other.

use std::{
    fs,
    io::Write as _,
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use oms_platform::{access::Principal, certs::DevCa};

use crate::Failure;

/// Where to write the certificates.
#[derive(clap::Args)]
pub struct CertsArgs {
    /// The folder to write them to; made if missing.
    #[arg(long, default_value = ".run/certs")]
    out: PathBuf,
    /// Replace a set already in the folder (a new CA: every process needs
    /// the new files).
    #[arg(long, conflicts_with = "if_missing")]
    force: bool,
    /// Keep a complete set already in the folder and write nothing; make a
    /// new set when there is none or it lacks a file.
    #[arg(long)]
    if_missing: bool,
}

/// The files of a complete set in `dir`: the CA's certificate, then each
/// principal's certificate and key.
fn set_files(dir: &Path) -> Vec<PathBuf> {
    std::iter::once(dir.join("ca.pem"))
        .chain(Principal::all().flat_map(|principal| {
            let name = principal.name();
            [
                dir.join(format!("{name}.pem")),
                dir.join(format!("{name}.key")),
            ]
        }))
        .collect()
}

/// Makes the CA and the certificates, and says where they are.
pub fn run(args: &CertsArgs) -> Result<(), Failure> {
    let failed = |what: &str, path: &Path, err: std::io::Error| {
        Failure::Failed(format!("cannot {what} {}: {err}", path.display()))
    };
    let ca_path = args.out.join("ca.pem");
    let dir = args.out.display();
    if args.if_missing {
        let missing: Vec<PathBuf> = set_files(&args.out)
            .into_iter()
            .filter(|file| !file.exists())
            .collect();
        if missing.is_empty() {
            crate::output::note(format!("kept the certificates in {dir}"));
            return Ok(());
        }
        if ca_path.exists() {
            // Without the CA's key the set cannot be completed.
            let name = missing[0].file_name().unwrap_or_default().display();
            crate::output::note(format!("{name} is missing from {dir}; making a new set"));
        }
    } else if ca_path.exists() && !args.force {
        return Err(Failure::Usage(format!(
            "{} exists; pass --force to replace the whole set, or --if-missing to keep it",
            ca_path.display()
        )));
    }
    fs::create_dir_all(&args.out).map_err(|err| failed("make", &args.out, err))?;
    let certificate_error = |err| Failure::Failed(format!("{err}"));
    let ca = DevCa::new("oms local ca").map_err(certificate_error)?;
    write(&ca_path, &ca.cert_pem(), 0o644).map_err(|err| failed("write", &ca_path, err))?;
    for principal in Principal::all() {
        let issued = ca.issue(principal).map_err(certificate_error)?;
        let cert = args.out.join(format!("{}.pem", principal.name()));
        let key = args.out.join(format!("{}.key", principal.name()));
        write(&cert, &issued.cert_pem, 0o644).map_err(|err| failed("write", &cert, err))?;
        // Keys are for the process that uses them only.
        write(&key, &issued.key_pem, 0o600).map_err(|err| failed("write", &key, err))?;
    }
    crate::output::note(format!(
        "wrote ca.pem and a certificate and key per principal to {dir}; e.g. \
         OMS_TLS=mutual OMS_TLS_CA={dir}/ca.pem OMS_TLS_CERT={dir}/operator.pem \
         OMS_TLS_KEY={dir}/operator.key"
    ));
    Ok(())
}

/// Writes `contents` to `path` (replacing it) with the permissions `mode`.
pub(crate) fn write(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    // A key left from an earlier set may be readable by others; start anew.
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?
        .write_all(contents.as_bytes())
}
