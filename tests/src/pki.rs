//! Throwaway PKI for TLS tests: a CA, a controller certificate for 127.0.0.1/localhost and a
//! client certificate, written as PEM files into a temporary directory.

use std::path::{Path, PathBuf};

use crate::sim::TlsConfig;

/// Certificates and keys of one test, removed with the directory.
#[derive(Debug)]
pub struct Pki {
    dir: tempfile::TempDir,
}

fn ca(name: &str) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key generation");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    (params.self_signed(&key).expect("self-signed CA"), key)
}

fn leaf(
    names: &[&str],
    ca: &rcgen::Certificate,
    ca_key: &rcgen::KeyPair,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().expect("key generation");
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let cert = rcgen::CertificateParams::new(names)
        .expect("leaf params")
        .signed_by(&key, ca, ca_key)
        .expect("signing");
    (cert, key)
}

impl Pki {
    /// A CA signing the controller and a client certificate, plus a second, unrelated CA with
    /// its own client certificate (`rogue-*`) that the controller must refuse.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (ca_cert, ca_key) = ca("linstor-plugins test CA");
        let (srv, srv_key) = leaf(&["127.0.0.1", "localhost"], &ca_cert, &ca_key);
        let (cli, cli_key) = leaf(&["client"], &ca_cert, &ca_key);
        let (rogue_ca, rogue_ca_key) = ca("unrelated CA");
        let (rogue, rogue_key) = leaf(&["client"], &rogue_ca, &rogue_ca_key);
        let files = [
            ("ca.pem", ca_cert.pem()),
            ("server.pem", srv.pem()),
            ("server.key", srv_key.serialize_pem()),
            ("client.pem", cli.pem()),
            ("client.key", cli_key.serialize_pem()),
            ("rogue-client.pem", rogue.pem()),
            ("rogue-client.key", rogue_key.serialize_pem()),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("writing PEM");
        }
        Self { dir }
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// One of the files (`ca.pem`, `client.pem`, `client.key`, `rogue-client.pem`, ...).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Panics when `logs` holds a secret of this PKI or of its users: `token`, an
    /// `Authorization` header or bearer prefix, or any line of one of the private keys. LINSTOR's
    /// own message "no 'Authorization' header given" is not a header.
    pub fn assert_no_secret(&self, logs: &str, token: &str) {
        assert!(!logs.contains(token), "token in the logs:\n{logs}");
        let lower = logs
            .to_ascii_lowercase()
            .replace("'authorization' header", "");
        assert!(
            !lower.contains("authorization") && !lower.contains("bearer "),
            "Authorization header in the logs:\n{logs}"
        );
        for key in ["client.key", "rogue-client.key", "server.key"] {
            let text = std::fs::read_to_string(self.path(key)).expect("key file of the test PKI");
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                assert!(!logs.contains(line), "a line of {key} in the logs:\n{logs}");
            }
        }
    }

    /// [`Self::assert_no_secret`] for basic auth: neither the password nor the encoded
    /// `user:password` of the header appears in `logs`.
    pub fn assert_no_password(&self, logs: &str, user: &str, password: &str) {
        use base64::Engine as _;
        self.assert_no_secret(logs, password);
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        assert!(
            !logs.contains(&encoded),
            "encoded credentials in the logs:\n{logs}"
        );
    }

    /// Simulator TLS settings; with `mutual`, client certificates signed by the CA are required.
    pub fn server(&self, mutual: bool) -> TlsConfig {
        TlsConfig {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: mutual.then(|| self.path("ca.pem")),
        }
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}
