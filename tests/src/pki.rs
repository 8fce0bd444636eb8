//! Test certificates made with rcgen: a CA and leaf certificates for made-up host names, written
//! as PEM files for msrpd's `[tls]` section, plus rustls client configurations for test
//! clients.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority that signs the test certificates.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The CA certificate as PEM file.
    pub pem_path: PathBuf,
}

/// A leaf certificate and its key, as files and as DER.
pub struct Leaf {
    /// PEM chain (leaf only).
    pub cert_path: PathBuf,
    /// PEM PKCS#8 key.
    pub key_path: PathBuf,
    /// DER certificate.
    pub der: CertificateDer<'static>,
    /// DER key.
    pub key_der: Vec<u8>,
}

impl Leaf {
    /// The key as rustls wants it.
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestCa {
    /// A new CA named `name`, its certificate written to `dir/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let cert = p.self_signed(&key).expect("CA certificate");
        let pem_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem_path, cert.pem()).expect("write CA");
        TestCa {
            cert,
            key,
            pem_path,
        }
    }

    /// A leaf for `host` usable as TLS server and client (relays are both), written to
    /// `dir/<host>.pem` and `dir/<host>.key`.
    pub fn leaf(&self, dir: &Path, host: &str) -> Leaf {
        let mut p = CertificateParams::new(vec![host.to_string()]).expect("params");
        p.distinguished_name.push(DnType::CommonName, host);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().expect("leaf key");
        let cert = p
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        let cert_path = dir.join(format!("{host}.pem"));
        let key_path = dir.join(format!("{host}.key"));
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        Leaf {
            cert_path,
            key_path,
            der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// The CA certificate (DER).
    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// Roots holding only this CA.
    pub fn roots(&self) -> rustls::RootCertStore {
        let mut r = rustls::RootCertStore::empty();
        r.add(self.der()).expect("CA accepted");
        r
    }

    /// A client configuration trusting this CA and presenting no certificate (what RFC 4976
    /// §9.2 asks of clients).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(self.roots())
                .with_no_client_auth(),
        )
    }

    /// A client configuration trusting this CA and presenting `leaf` (a relay's identity).
    pub fn client_config_with(&self, leaf: &Leaf) -> Arc<rustls::ClientConfig> {
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_root_certificates(self.roots())
                .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
                .expect("client certificate"),
        )
    }

    /// A server configuration presenting `leaf` and requiring a client certificate rooted in
    /// this CA (to see what a relay presents when it connects to a next-hop relay).
    pub fn server_config_requiring_client_cert(&self, leaf: &Leaf) -> Arc<rustls::ServerConfig> {
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(self.roots()),
            provider(),
        )
        .build()
        .expect("client verifier");
        Arc::new(
            rustls::ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .expect("protocol versions")
                .with_client_cert_verifier(verifier)
                .with_single_cert(vec![leaf.der.clone()], leaf.key())
                .expect("server certificate"),
        )
    }
}
