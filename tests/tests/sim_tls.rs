//! HTTPS (with and without client certificates) and bearer-token authentication.

mod common;

use linstor_tests::sim::{Sim, SimConfig, TlsConfig};

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    client_pem: String,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let srv_key = rcgen::KeyPair::generate().unwrap();
    let srv = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&srv_key, &ca, &ca_key)
        .unwrap();
    let cli_key = rcgen::KeyPair::generate().unwrap();
    let cli = rcgen::CertificateParams::new(vec!["client".to_string()])
        .unwrap()
        .signed_by(&cli_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.path().join("srv.pem"), srv.pem()).unwrap();
    std::fs::write(dir.path().join("srv.key"), srv_key.serialize_pem()).unwrap();
    Pki {
        ca_pem: ca.pem(),
        client_pem: format!("{}{}", cli.pem(), cli_key.serialize_pem()),
        dir,
    }
}

fn tls_cfg(p: &Pki, client_ca: bool) -> TlsConfig {
    TlsConfig {
        cert: p.dir.path().join("srv.pem"),
        key: p.dir.path().join("srv.key"),
        client_ca: client_ca.then(|| p.dir.path().join("ca.pem")),
    }
}

#[tokio::test]
async fn https_and_token() {
    let p = pki();
    let sim = Sim::start(SimConfig {
        tls: Some(tls_cfg(&p, false)),
        token: Some("s3cret".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(sim.url().starts_with("https://127.0.0.1:"));
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(p.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = c.get(format!("{}/health", sim.url())).send().await.unwrap();
    assert_eq!(r.status(), 200, "health needs no token");
    let r = c
        .get(format!("{}/v1/nodes", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"linstor-controller\""
    );
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(common::rc(&v[0]) & 0x7FFF, 412);
    let r = c
        .get(format!("{}/v1/nodes", sim.url()))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/v1/nodes", sim.url()))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let plain = reqwest::Client::new()
        .get(format!("{}/health", sim.url()))
        .send()
        .await;
    assert!(plain.is_err(), "untrusted certificate rejected");
}

#[tokio::test]
async fn mutual_tls_requires_client_certificate() {
    let p = pki();
    let sim = Sim::start(SimConfig {
        tls: Some(tls_cfg(&p, true)),
        ..Default::default()
    })
    .await
    .unwrap();
    let root = reqwest::Certificate::from_pem(p.ca_pem.as_bytes()).unwrap();
    let anon = reqwest::Client::builder()
        .add_root_certificate(root.clone())
        .build()
        .unwrap();
    assert!(anon
        .get(format!("{}/health", sim.url()))
        .send()
        .await
        .is_err());
    let with_id = reqwest::Client::builder()
        .add_root_certificate(root)
        .identity(reqwest::Identity::from_pem(p.client_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = with_id
        .get(format!("{}/v1/controller/version", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
