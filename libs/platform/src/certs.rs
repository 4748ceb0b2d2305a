//! Certificates for local runs and tests: a CA made on the spot, and the
//! certificate of each principal it signs.
//!
//! A certificate names its principal with the URI SAN `spiffe://oms/<name>`
//! ([`crate::access`]), and says where it may be reached with DNS and IP
//! SANs: the name peers dial in k8s (the service's name, e.g. `order`),
//! `localhost` and `127.0.0.1`, so the same certificate verifies on a
//! developer machine and in a cluster. Every certificate may serve and call
//! (server and client auth). Production certificates come from the
//! cluster's issuer instead, with the same SANs.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};

use crate::{
    access::Principal,
    config::{TlsConfig, TlsFiles},
};

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("certificate: {0}")]
pub struct CertError(#[from] rcgen::Error);

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key.
    pub key_pem: String,
}

/// A certificate authority for the suite, made on the spot.
pub struct DevCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl DevCa {
    /// A new CA named `name` (its common name), with a fresh key.
    pub fn new(name: &str) -> Result<DevCa, CertError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(DevCa { issuer })
    }

    /// The CA's certificate, which every process trusts (`OMS_TLS_CA`).
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `principal`, signed by this CA.
    pub fn issue(&self, principal: Principal) -> Result<Issued, CertError> {
        let mut params =
            CertificateParams::new(vec![principal.name().to_owned(), "localhost".to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .subject_alt_names
            .push(SanType::URI(principal.uri().try_into()?));
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, principal.name());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Mutual TLS settings for `principal`: its certificate, and this CA as
    /// the only one trusted.
    pub fn tls(&self, principal: Principal) -> Result<TlsConfig, CertError> {
        let issued = self.issue(principal)?;
        Ok(TlsConfig::Mutual(TlsFiles {
            cert: issued.cert_pem.into_bytes(),
            key: issued.key_pem.into_bytes(),
            ca: self.cert_pem().into_bytes(),
        }))
    }
}
