//! Where omsctl's settings come from: flags, the environment, a config file.
//!
//! The config file holds the same variables as the environment, one
//! `NAME=value` per line (`export NAME=value` too, so a file written for a
//! shell to `source` works; `#` starts a comment; quotes around a value are
//! dropped). The environment wins over the file, and flags over both.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use base64::Engine as _;
use oms_platform::{
    auth::{BearerToken, Role},
    config::Env,
};
use oms_proto::common::v1::{Actor, ActorKind};

/// The actor of changes when no token names one and no `--operator` is given.
const DEFAULT_OPERATOR: &str = "omsctl";

/// The settings: the config file's variables under the process environment.
pub fn environment(flag: Option<&Path>) -> Result<Env, String> {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    if let Some(path) = config_path(flag) {
        vars = read_config(&path)?;
    }
    vars.extend(
        std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }),
    );
    Ok(Env::from_pairs(vars))
}

/// The config file to read: the flag's, `OMS_CONFIG`'s (both must exist), or
/// the per-user file when it exists.
fn config_path(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(path) = flag {
        return Some(path.to_owned());
    }
    if let Some(path) = std::env::var_os("OMS_CONFIG").filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    let path = base.join("oms").join("omsctl.env");
    path.exists().then_some(path)
}

/// The variables of the config file at `path`.
fn read_config(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read the config file {}: {err}", path.display()))?;
    parse_config(&text)
        .map_err(|(line, reason)| format!("config file {} line {line}: {reason}", path.display()))
}

/// The variables of a config file's text, or the first bad line's number
/// and what is wrong with it.
fn parse_config(text: &str) -> Result<BTreeMap<String, String>, (usize, String)> {
    let mut vars = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, value)) = line.split_once('=') else {
            return Err((index + 1, "expected NAME=value".to_owned()));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((index + 1, format!("{name:?} is not a variable name")));
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|quote| {
                value
                    .strip_prefix(*quote)
                    .and_then(|rest| rest.strip_suffix(*quote))
            })
            .unwrap_or(value);
        vars.insert(name.to_owned(), value.to_owned());
    }
    Ok(vars)
}

/// The bearer token to send: `--token`, `--token-file`, else `OMS_TOKEN` or
/// `OMS_TOKEN_FILE`; `None` when none is set.
pub fn token(
    flag: Option<&str>,
    file_flag: Option<&Path>,
    env: &Env,
) -> Result<Option<BearerToken>, String> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read the token file {}: {err}", path.display()))
    };
    let text = match (flag, file_flag) {
        (Some(token), _) => Some(token.to_owned()),
        (None, Some(path)) => Some(read(path)?),
        (None, None) => {
            let variable = |name: &str| {
                env.get(name, None, |value| Ok(Some(value.to_owned())))
                    .map_err(|err| err.to_string())
            };
            match (variable("OMS_TOKEN")?, variable("OMS_TOKEN_FILE")?) {
                (Some(token), _) => Some(token),
                (None, Some(path)) => Some(read(Path::new(&path))?),
                (None, None) => None,
            }
        }
    };
    match text {
        None => Ok(None),
        Some(text) => BearerToken::new(&text)
            .filter(|token| token.header_value().is_some())
            .map(Some)
            .ok_or_else(|| {
                "the bearer token is empty or holds characters a token cannot".to_owned()
            }),
    }
}

/// The actor of changes: `--operator`; else the token's subject as the
/// services will see it (they check its signature, omsctl only reads it);
/// else `omsctl`.
pub fn actor(operator: Option<&str>, token: Option<&BearerToken>) -> Actor {
    let operator_actor = |id: &str| Actor {
        kind: ActorKind::Operator as i32,
        id: id.to_owned(),
    };
    if let Some(operator) = operator {
        return operator_actor(operator);
    }
    let Some((subject, roles)) = token.and_then(claims) else {
        return operator_actor(DEFAULT_OPERATOR);
    };
    let channel_only = roles.contains(&Role::Channel)
        && !roles
            .iter()
            .any(|role| matches!(role, Role::Support | Role::Operator | Role::Auditor));
    Actor {
        kind: if channel_only {
            ActorKind::Channel as i32
        } else {
            ActorKind::Operator as i32
        },
        id: subject,
    }
}

/// The subject and roles a token's payload names, unverified.
fn claims(token: &BearerToken) -> Option<(String, Vec<Role>)> {
    #[derive(serde::Deserialize)]
    struct Claims {
        sub: String,
        #[serde(default)]
        roles: Vec<String>,
    }
    let header = token.header_value()?;
    let text = header.to_str().ok()?.strip_prefix("Bearer ")?.to_owned();
    let payload = text.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let roles = claims
        .roles
        .iter()
        .filter_map(|name| Role::from_name(name))
        .collect();
    Some((claims.sub, roles))
}

#[cfg(test)]
mod tests {
    use oms_platform::auth::{DevTokenKey, TokenRequest, parse_channel};

    use super::*;

    #[test]
    fn a_config_file_holds_variables_as_a_shell_would_read_them() {
        let vars = parse_config(
            "# the local suite\nexport OMS_TLS=mutual\nOMS_TLS_CA=\".run/certs/ca.pem\"\n\n OMS_TOKEN = 'abc' \n",
        )
        .expect("a valid file");
        assert_eq!(vars.get("OMS_TLS").map(String::as_str), Some("mutual"));
        assert_eq!(
            vars.get("OMS_TLS_CA").map(String::as_str),
            Some(".run/certs/ca.pem")
        );
        assert_eq!(vars.get("OMS_TOKEN").map(String::as_str), Some("abc"));
        assert_eq!(parse_config("OMS_TLS\n").unwrap_err().0, 1);
        assert_eq!(parse_config("ok=1\nbad name=2\n").unwrap_err().0, 2);
    }

    #[test]
    fn the_actor_is_the_tokens_subject_unless_an_operator_is_named() {
        let key = DevTokenKey::generate("k").expect("a key");
        let agent = BearerToken::new(
            &key.sign(&TokenRequest::new("agent-7", &[Role::Support]))
                .expect("signed"),
        )
        .expect("a token");
        let actor = actor(None, Some(&agent));
        assert_eq!(
            (actor.kind, actor.id.as_str()),
            (ActorKind::Operator as i32, "agent-7")
        );
        let channel = BearerToken::new(
            &key.sign(
                &TokenRequest::new("web-connector", &[Role::Channel])
                    .for_channel(parse_channel("web").expect("web")),
            )
            .expect("signed"),
        )
        .expect("a token");
        let as_channel = super::actor(None, Some(&channel));
        assert_eq!(as_channel.kind, ActorKind::Channel as i32);
        assert_eq!(super::actor(Some("bob"), Some(&agent)).id, "bob");
        assert_eq!(super::actor(None, None).id, "omsctl");
    }

    #[test]
    fn a_token_comes_from_the_flag_before_the_environment() {
        let env = Env::from_pairs([("OMS_TOKEN", "from-env")]);
        let chosen = token(Some("from-flag"), None, &env).expect("a token");
        assert_eq!(chosen, BearerToken::new("from-flag"));
        assert_eq!(
            token(None, None, &env).expect("a token"),
            BearerToken::new("from-env")
        );
        assert_eq!(
            token(None, None, &Env::from_pairs(Vec::<(String, String)>::new())),
            Ok(None)
        );
        assert!(token(Some("bad\ntoken"), None, &env).is_err());
    }
}
