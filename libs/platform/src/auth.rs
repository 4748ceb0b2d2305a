//! Who acts through a call from outside the suite: bearer tokens (JWT) with a
//! subject and roles.
//!
//! A certificate says which program calls (the `operator` tool, a `channel`
//! connector); the token it sends says on whose behalf. Tokens are signed by
//! the deployment's identity provider and verified against its public keys, a
//! JWKS file named by `OMS_JWT_KEYS` (asymmetric keys only: EdDSA, ES256/384,
//! RS/PS256-512; a shared secret would let every service mint tokens). A
//! token must carry `sub`, `exp`, the audience `OMS_JWT_AUDIENCE` (default
//! `oms`), the issuer `OMS_JWT_ISSUER` when it is set, and `roles`:
//!
//! | role | may |
//! |---|---|
//! | `channel` | place orders and read its own channel's orders, availability and rates; names its channel in `oms_channel` (`web`, `app`, `call_center`, `marketplace:<name>`, `store:<location>`) |
//! | `support` | read everything, place orders, cancel, change addresses, note and tag orders, handle returns |
//! | `operator` | everything `support` may, and adjust stock, edit locations and policies, retry and compensate sagas, redrive outboxes, reconcile payments, mark pickups and record tracking events |
//! | `auditor` | read only |
//!
//! The access table ([`crate::access::ACCESS`]) says which roles may call
//! each RPC. The verified subject is the request's actor: a request that
//! names no actor acts as the token's subject, one whose actor disagrees
//! with the token is refused ([`crate::convert::actor`]), so timelines,
//! ledgers and the saga's operator actions name who really acted.
//!
//! [`DevTokenKey`] makes a signing key and its JWKS for local runs and tests
//! (`omsctl certs` writes them, `omsctl token` signs with them).

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::Engine as _;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm},
};
use serde::{Deserialize, Serialize};

use crate::{
    config::{ConfigError, Env, Variable},
    ids::{Actor, ActorKind, Channel},
};

/// What a token lets its subject do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A sales channel's connector: its own orders only.
    Channel,
    /// A customer service agent.
    Support,
    /// An operator of the suite.
    Operator,
    /// A reader of everything who changes nothing.
    Auditor,
}

impl Role {
    /// Every role, in the order of the table above.
    pub const ALL: [Role; 4] = [Role::Channel, Role::Support, Role::Operator, Role::Auditor];

    /// Its name in a token's `roles` claim.
    pub fn name(self) -> &'static str {
        match self {
            Role::Channel => "channel",
            Role::Support => "support",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }

    /// The role named `name`, if any.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The verified holder of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The token's `sub`: an operator's login, a channel connector's id.
    pub id: String,
    /// The roles the token grants, without duplicates.
    pub roles: Vec<Role>,
    /// The channel a `channel` token speaks for (its `oms_channel` claim).
    pub channel: Option<Channel>,
}

impl Subject {
    /// Whether the token grants any of `roles`.
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles.iter().any(|role| roles.contains(role))
    }

    /// The channel this subject is confined to: a `channel` token that holds
    /// none of the roles that read every order.
    pub fn confined_to_channel(&self) -> Option<&Channel> {
        if self.has_any(&[Role::Support, Role::Operator, Role::Auditor]) {
            return None;
        }
        self.channel.as_ref()
    }

    /// The actor this subject acts as: a channel for a channel-only token, an
    /// operator otherwise.
    pub fn actor(&self) -> Actor {
        let kind = if self.confined_to_channel().is_some() {
            ActorKind::Channel
        } else {
            ActorKind::Operator
        };
        Actor {
            kind,
            id: self.id.clone(),
        }
    }
}

/// The claims of an OMS token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    aud: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oms_channel: Option<String>,
}

/// Why a token was refused; the message is safe to send to the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(String);

impl TokenError {
    fn new(reason: impl Into<String>) -> TokenError {
        TokenError(reason.into())
    }
}

/// The maximum length of a token's subject, the same as an actor id's.
const MAX_SUBJECT_LEN: usize = 128;

/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(30);

/// One verification key of the JWKS.
struct Key {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Checks bearer tokens against the configured keys.
pub struct TokenVerifier {
    keys: Vec<Key>,
    issuer: Option<String>,
    audience: String,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier of tokens signed by one of the keys in the JWKS `jwks`
    /// (JSON), for `audience` and, when given, from `issuer`.
    pub fn new(jwks: &str, issuer: Option<String>, audience: String) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(jwks).map_err(|err| format!("not a JWKS document: {err}"))?;
        if set.keys.is_empty() {
            return Err("the JWKS holds no key".to_owned());
        }
        let mut keys = Vec::with_capacity(set.keys.len());
        for (index, jwk) in set.keys.iter().enumerate() {
            let algorithm =
                algorithm_of(jwk).map_err(|reason| format!("keys[{index}]: {reason}"))?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|err| format!("keys[{index}]: not a usable key: {err}"))?;
            keys.push(Key {
                kid: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        if keys.len() > 1 && keys.iter().any(|key| key.kid.is_none()) {
            return Err("with more than one key, every key needs a kid".to_owned());
        }
        Ok(TokenVerifier {
            keys,
            issuer,
            audience,
        })
    }

    /// The subject of `token`, if it is signed by a configured key, unexpired,
    /// for this audience (and issuer), and names a subject and known roles.
    pub fn verify(&self, token: &str) -> Result<Subject, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::new("the bearer token is not a JWT"))?;
        let key = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|key| key.kid.as_deref() == Some(kid.as_str())),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or_else(|| TokenError::new("the bearer token is not signed by a trusted key"))?;
        if header.alg != key.algorithm {
            return Err(TokenError::new(
                "the bearer token is not signed by a trusted key",
            ));
        }
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = LEEWAY.as_secs();
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.set_required_spec_claims(&["exp", "sub", "aud", "iss"]);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation)
            .map_err(|err| TokenError::new(refusal(err.kind())))?
            .claims;
        subject(claims)
    }
}

/// What a refused token's caller is told.
fn refusal(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::ExpiredSignature => "the bearer token has expired",
        ErrorKind::ImmatureSignature => "the bearer token is not valid yet",
        ErrorKind::InvalidAudience => "the bearer token is for another audience",
        ErrorKind::InvalidIssuer => "the bearer token is from another issuer",
        ErrorKind::MissingRequiredClaim(_) => "the bearer token lacks one of sub, exp, aud, iss",
        ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
            "the bearer token is not signed by a trusted key"
        }
        _ => "the bearer token is malformed",
    }
}

/// The subject the verified `claims` name.
fn subject(claims: Claims) -> Result<Subject, TokenError> {
    // The subject is stored as the actor of records: no control characters
    // (a NUL would not even fit a Postgres text column).
    if claims.sub.is_empty()
        || claims.sub.len() > MAX_SUBJECT_LEN
        || claims.sub.chars().any(char::is_control)
    {
        return Err(TokenError::new(
            "the bearer token's sub must be 1 to 128 characters, none a control character",
        ));
    }
    let mut roles: Vec<Role> = claims
        .roles
        .iter()
        .filter_map(|name| Role::from_name(name))
        .collect();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(TokenError::new(
            "the bearer token grants none of the roles channel, support, operator, auditor",
        ));
    }
    let channel = match claims.oms_channel.as_deref() {
        Some(value) => Some(parse_channel(value).ok_or_else(|| {
            TokenError::new(
                "the bearer token's oms_channel is not a channel such as web or marketplace:<name>",
            )
        })?),
        None => None,
    };
    if roles.contains(&Role::Channel) && channel.is_none() {
        return Err(TokenError::new(
            "a channel token names its channel in oms_channel",
        ));
    }
    Ok(Subject {
        id: claims.sub,
        roles,
        channel,
    })
}

/// The names of the contract's channel kinds, by code.
const CHANNEL_KINDS: [(&str, i32); 5] = [
    ("web", 1),
    ("app", 2),
    ("marketplace", 3),
    ("store", 4),
    ("call_center", 5),
];

/// A channel written `<kind>` or `<kind>:<name>`, e.g. `marketplace:amazon-de`.
pub fn parse_channel(value: &str) -> Option<Channel> {
    let (kind, name) = value.split_once(':').unwrap_or((value, ""));
    let code = CHANNEL_KINDS
        .iter()
        .find(|(known, _)| *known == kind)
        .map(|(_, code)| *code)?;
    if value.contains(':') && name.is_empty() {
        return None;
    }
    Channel::new(code, name).ok()
}

/// A channel as [`parse_channel`] reads it.
pub fn format_channel(channel: &Channel) -> String {
    let kind = CHANNEL_KINDS
        .iter()
        .find(|(_, code)| *code == i32::from(channel.kind))
        .map_or("unknown", |(name, _)| name);
    if channel.name.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}:{}", channel.name)
    }
}

/// The algorithm a JWK verifies: its `alg`, or the one its key type implies.
fn algorithm_of(jwk: &Jwk) -> Result<Algorithm, String> {
    let implied = match &jwk.algorithm {
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("curve not accepted".to_owned()),
        },
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::OctetKey(_) => {
            return Err("shared-secret keys are not accepted; use a public key".to_owned());
        }
    };
    let declared = match jwk.common.key_algorithm {
        None => return Ok(implied),
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::ES384) => Algorithm::ES384,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        Some(KeyAlgorithm::RS384) => Algorithm::RS384,
        Some(KeyAlgorithm::RS512) => Algorithm::RS512,
        Some(KeyAlgorithm::PS256) => Algorithm::PS256,
        Some(KeyAlgorithm::PS384) => Algorithm::PS384,
        Some(KeyAlgorithm::PS512) => Algorithm::PS512,
        Some(other) => return Err(format!("algorithm {other:?} is not accepted")),
    };
    Ok(declared)
}

/// Token verification settings: `OMS_JWT_KEYS`, `OMS_JWT_ISSUER`,
/// `OMS_JWT_AUDIENCE`.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// The JWKS file's path, as configured.
    pub keys_path: String,
    /// The verifier built from it.
    pub verifier: Arc<TokenVerifier>,
}

impl PartialEq for TokenConfig {
    fn eq(&self, other: &Self) -> bool {
        self.keys_path == other.keys_path
            && self.verifier.issuer == other.verifier.issuer
            && self.verifier.audience == other.verifier.audience
    }
}

impl Eq for TokenConfig {}

impl TokenConfig {
    /// The default audience of OMS tokens.
    pub const AUDIENCE: &'static str = "oms";

    /// Reads the token settings; `None` when `OMS_JWT_KEYS` is unset (tokens
    /// are then not verified, and not required).
    pub fn from_env(env: &Env) -> Result<Option<TokenConfig>, ConfigError> {
        let keys_path = env.get("OMS_JWT_KEYS", None, |value| Ok(Some(value.to_owned())))?;
        let issuer = env.get("OMS_JWT_ISSUER", None, |value| Ok(Some(value.to_owned())))?;
        let audience = env.get("OMS_JWT_AUDIENCE", Self::AUDIENCE.to_owned(), |value| {
            Ok(value.to_owned())
        })?;
        let Some(keys_path) = keys_path else {
            return Ok(None);
        };
        let error = |reason: String| ConfigError {
            variable: "OMS_JWT_KEYS".to_owned(),
            reason,
        };
        let jwks = std::fs::read_to_string(&keys_path)
            .map_err(|err| error(format!("cannot read {keys_path:?}: {err}")))?;
        let verifier = TokenVerifier::new(&jwks, issuer, audience)
            .map_err(|reason| error(format!("{keys_path:?}: {reason}")))?;
        Ok(Some(TokenConfig {
            keys_path,
            verifier: Arc::new(verifier),
        }))
    }

    /// The variables [`TokenConfig::from_env`] reads.
    pub fn variables() -> Vec<Variable> {
        vec![
            Variable::unset(
                "OMS_JWT_KEYS",
                "JWKS file of the keys that sign bearer tokens; when set, operator and channel callers need a token",
            ),
            Variable::unset(
                "OMS_JWT_ISSUER",
                "the issuer (iss) bearer tokens must name, when set",
            ),
            Variable::new(
                "OMS_JWT_AUDIENCE",
                Self::AUDIENCE,
                "the audience (aud) bearer tokens must name",
            ),
        ]
    }
}

/// What a token says when it is made: for [`DevTokenKey::sign`].
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// The subject (`sub`).
    pub subject: String,
    /// The roles granted.
    pub roles: Vec<Role>,
    /// The channel of a `channel` token.
    pub channel: Option<Channel>,
    /// How long it is valid from now.
    pub ttl: Duration,
    /// The issuer (`iss`), if any.
    pub issuer: Option<String>,
    /// The audience (`aud`).
    pub audience: String,
}

impl TokenRequest {
    /// A token request for `subject` with `roles`, valid for an hour, for the
    /// default audience and no issuer.
    pub fn new(subject: impl Into<String>, roles: &[Role]) -> TokenRequest {
        TokenRequest {
            subject: subject.into(),
            roles: roles.to_vec(),
            channel: None,
            ttl: Duration::from_secs(3600),
            issuer: None,
            audience: TokenConfig::AUDIENCE.to_owned(),
        }
    }

    /// The same request for a channel token speaking for `channel`.
    pub fn for_channel(mut self, channel: Channel) -> TokenRequest {
        self.channel = Some(channel);
        self
    }
}

/// An Ed25519 signing key for tokens, made on the spot for local runs and
/// tests, with the JWKS that verifies it. Production tokens come from the
/// deployment's identity provider.
#[derive(Clone)]
pub struct DevTokenKey {
    /// The key id (`kid`) tokens name in their header.
    pub kid: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The JWKS of its public key, JSON.
    pub jwks: String,
}

impl fmt::Debug for DevTokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevTokenKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl DevTokenKey {
    /// A fresh key named `kid`.
    pub fn generate(kid: &str) -> Result<DevTokenKey, rcgen::Error> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let public = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key_raw());
        let jwks = serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "x": public,
                "kid": kid,
                "alg": "EdDSA",
                "use": "sig",
            }]
        });
        Ok(DevTokenKey {
            kid: kid.to_owned(),
            key_pem: pair.serialize_pem(),
            jwks: jwks.to_string(),
        })
    }

    /// A token for `request`, signed with the PKCS#8 PEM Ed25519 key
    /// `key_pem` and naming `kid`.
    pub fn sign_with(key_pem: &str, kid: &str, request: &TokenRequest) -> Result<String, String> {
        let key = EncodingKey::from_ed_pem(key_pem.as_bytes())
            .map_err(|err| format!("not an Ed25519 private key in PEM: {err}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            sub: request.subject.clone(),
            exp: now + request.ttl.as_secs(),
            iat: Some(now),
            iss: request.issuer.clone(),
            aud: request.audience.clone(),
            roles: request
                .roles
                .iter()
                .map(|role| role.name().to_owned())
                .collect(),
            oms_channel: request.channel.as_ref().map(format_channel),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &key).map_err(|err| err.to_string())
    }

    /// A token for `request` signed with this key.
    pub fn sign(&self, request: &TokenRequest) -> Result<String, String> {
        Self::sign_with(&self.key_pem, &self.kid, request)
    }

    /// A verifier that trusts this key, for the default audience.
    pub fn verifier(&self) -> TokenVerifier {
        match TokenVerifier::new(&self.jwks, None, TokenConfig::AUDIENCE.to_owned()) {
            Ok(verifier) => verifier,
            // The JWKS is ours, made above from a key rcgen just made.
            Err(reason) => unreachable!("a dev JWKS is always valid: {reason}"),
        }
    }
}

/// A bearer token a client sends, kept out of logs: its `Debug` shows only
/// that there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct BearerToken(String);

impl BearerToken {
    /// The token `token` (a JWT), trimmed; `None` when it is empty.
    pub fn new(token: &str) -> Option<BearerToken> {
        let token = token.trim();
        (!token.is_empty()).then(|| BearerToken(token.to_owned()))
    }

    /// The `authorization` metadata value that carries it; `None` when the
    /// token holds characters no header may.
    pub fn header_value(&self) -> Option<http::HeaderValue> {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

/// The bearer token of a request's `authorization` metadata, if it has one;
/// an error when the header is there but holds no bearer token.
pub fn bearer(headers: &http::HeaderMap) -> Result<Option<&str>, TokenError> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| TokenError::new("authorization is not a bearer token"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| TokenError::new("authorization is not a bearer token"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(TokenError::new("authorization is not a bearer token"));
    }
    Ok(Some(token.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DevTokenKey {
        DevTokenKey::generate("test").expect("an Ed25519 key")
    }

    #[test]
    fn a_signed_token_names_its_subject_and_roles() {
        let key = key();
        let token = key
            .sign(&TokenRequest::new("alice", &[Role::Support, Role::Support]))
            .expect("signed");
        let subject = key.verifier().verify(&token).expect("verified");
        assert_eq!(subject.id, "alice");
        assert_eq!(subject.roles, vec![Role::Support]);
        assert_eq!(subject.actor().kind, ActorKind::Operator);
        assert_eq!(subject.confined_to_channel(), None);
    }

    #[test]
    fn a_channel_token_is_confined_to_its_channel() {
        let key = key();
        let channel = parse_channel("marketplace:amazon-de").expect("a channel");
        let token = key
            .sign(
                &TokenRequest::new("amazon-connector", &[Role::Channel])
                    .for_channel(channel.clone()),
            )
            .expect("signed");
        let subject = key.verifier().verify(&token).expect("verified");
        assert_eq!(subject.confined_to_channel(), Some(&channel));
        assert_eq!(subject.actor().kind, ActorKind::Channel);
        let without = key
            .sign(&TokenRequest::new("amazon-connector", &[Role::Channel]))
            .expect("signed");
        let refused = key.verifier().verify(&without).expect_err("no channel");
        assert!(refused.to_string().contains("oms_channel"), "{refused}");
    }

    #[test]
    fn tokens_from_other_keys_expired_or_for_others_are_refused() {
        let key = key();
        let other = DevTokenKey::generate("test").expect("another key");
        let verifier = key.verifier();
        let foreign = other
            .sign(&TokenRequest::new("mallory", &[Role::Operator]))
            .expect("signed");
        assert_eq!(
            verifier.verify(&foreign).expect_err("foreign").to_string(),
            "the bearer token is not signed by a trusted key"
        );
        // A token that expired long ago (exp = 1970-01-01T00:00:01Z).
        let claims = Claims {
            sub: "alice".into(),
            exp: 1,
            iat: None,
            iss: None,
            aud: "oms".into(),
            roles: vec!["operator".into()],
            oms_channel: None,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("test".into());
        let old = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ed_pem(key.key_pem.as_bytes()).expect("key"),
        )
        .expect("signed");
        assert_eq!(
            verifier.verify(&old).expect_err("expired").to_string(),
            "the bearer token has expired"
        );
        let mut elsewhere = TokenRequest::new("alice", &[Role::Operator]);
        elsewhere.audience = "billing".into();
        let token = key.sign(&elsewhere).expect("signed");
        assert_eq!(
            verifier.verify(&token).expect_err("audience").to_string(),
            "the bearer token is for another audience"
        );
        let issuer_bound = TokenVerifier::new(&key.jwks, Some("https://idp".into()), "oms".into())
            .expect("verifier");
        let token = key
            .sign(&TokenRequest::new("alice", &[Role::Operator]))
            .expect("signed");
        assert!(issuer_bound.verify(&token).is_err(), "no issuer");
        assert!(verifier.verify("not.a.token").is_err());
        assert!(verifier.verify("").is_err());
        let none = key.sign(&TokenRequest::new("alice", &[])).expect("signed");
        assert!(verifier.verify(&none).is_err(), "no role");
        for subject in ["", "ali\0ce", "line\nbreak", &"x".repeat(129)] {
            let token = key
                .sign(&TokenRequest::new(subject, &[Role::Operator]))
                .expect("signed");
            assert!(verifier.verify(&token).is_err(), "{subject:?}");
        }
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let key = key();
        // alg "none": header {"alg":"none"}, claims of an operator, no signature.
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.encode(br#"{"alg":"none","kid":"test"}"#);
        let claims = engine
            .encode(br#"{"sub":"mallory","exp":99999999999,"aud":"oms","roles":["operator"]}"#);
        assert!(
            key.verifier()
                .verify(&format!("{header}.{claims}."))
                .is_err()
        );
        let hs = engine.encode(br#"{"alg":"HS256","kid":"test"}"#);
        assert!(
            key.verifier()
                .verify(&format!("{hs}.{claims}.c2ln"))
                .is_err()
        );
    }

    #[test]
    fn shared_secrets_and_broken_key_sets_are_configuration_errors() {
        let secret = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}"#;
        let error = TokenVerifier::new(secret, None, "oms".into()).expect_err("oct");
        assert!(error.contains("shared-secret"), "{error}");
        assert!(TokenVerifier::new("{}", None, "oms".into()).is_err());
        assert!(TokenVerifier::new(r#"{"keys":[]}"#, None, "oms".into()).is_err());
    }

    #[test]
    fn channels_read_as_written() {
        for text in [
            "web",
            "app",
            "call_center",
            "marketplace:zalando",
            "store:berlin-1",
        ] {
            let channel = parse_channel(text).expect(text);
            assert_eq!(format_channel(&channel), text);
        }
        for text in ["", "marketplace", "marketplace:", "shop", "web:UPPER"] {
            assert_eq!(parse_channel(text), None, "{text}");
        }
    }

    #[test]
    fn the_authorization_header_holds_a_bearer_token() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer(&headers), Ok(None));
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer abc".parse().expect("value"),
        );
        assert_eq!(bearer(&headers), Ok(Some("abc")));
        headers.insert(
            http::header::AUTHORIZATION,
            "Basic abc".parse().expect("value"),
        );
        assert!(bearer(&headers).is_err());
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer ".parse().expect("value"),
        );
        assert!(bearer(&headers).is_err());
    }
}
