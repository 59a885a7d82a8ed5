//! The real `linstor-one` binary with the datastore attributes `LS_CAFILE`, `LS_CERTFILE` and
//! `LS_KEYFILE` and a token file, against the simulator over mutual TLS: the datastore works,
//! the controller is verified by default, a missing CA or a foreign client certificate fails
//! with the certificate problem and the attributes to set, and at trace level neither the token,
//! the Authorization header, the client key nor the `one_auth` credentials reach stderr (what
//! oned logs). Basic auth (`LS_USERNAME`/`LS_PASSWORD` datastore attributes) signs in over
//! HTTPS only and is never logged.

mod support;

use std::time::{Duration, Instant};

use linstor_tests::pki::Pki;
use linstor_tests::sim::{Backing, Sim, SimConfig};
use support::*;

const TOKEN: &str = "tok-8a1f3e5c7b9d2f4a6c8e0b2d4f6a8c13";
const USER: &str = "oneadmin-linstor";
const PASSWORD: &str = "pw-4c9a1e7f3b2d";

fn harness(pki: &Pki) -> Harness {
    harness_with(Some(pki.server(true)), Some(TOKEN.into()), None)
}

fn harness_with(
    tls: Option<linstor_tests::sim::TlsConfig>,
    token: Option<String>,
    basic_auth: Option<(String, String)>,
) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig {
        nodes: vec!["s1".into(), "s2".into(), "frontend".into()],
        backing: Backing::File,
        data_dir: Some(tmp.path().join("sim")),
        tls,
        token,
        basic_auth,
        ..Default::default()
    })
    .unwrap();
    Harness::around(sim, tmp, &["s1", "s2", "frontend"], &["linstor"])
}

#[test]
fn datastore_attributes_give_verified_mutual_tls_and_no_secret_is_logged() {
    let pki = Pki::new();
    let h = harness(&pki);
    let token_file = h.tmp.path().join("auth.json");
    std::fs::write(&token_file, format!("{{\"token\": \"{TOKEN}\"}}")).unwrap();
    let wrong_token = h.tmp.path().join("wrong.json");
    std::fs::write(&wrong_token, "{\"token\": \"not-the-token\"}").unwrap();
    let url = h.sim.url();
    let ca = pki.path("ca.pem").display().to_string();
    let crt = pki.path("client.pem").display().to_string();
    let key = pki.path("client.key").display().to_string();
    let rogue_crt = pki.path("rogue-client.pem").display().to_string();
    let rogue_key = pki.path("rogue-client.key").display().to_string();
    let base = [("LS_CONTROLLERS", url.as_str()), ("REPLICA_COUNT", "2")];
    let mut logs = String::new();
    let run = |ds_id: u64, image: u64, attrs: &[(&str, &str)], token: &std::path::Path| {
        let tpl: Vec<(&str, &str)> = base.iter().chain(attrs).copied().collect();
        let ds = datastore_xml(ds_id, 0, &tpl);
        h.serve("one.datastore.info", ds_id, ds.clone());
        let msg = action_msg(&image_xml(image, "", "", "raw", 8, -1, &[]), &ds);
        let t0 = Instant::now();
        let r = h.run_env(
            "datastore",
            "linstor",
            "mkfs",
            &[&b64(&msg), &image.to_string()],
            "",
            &[
                ("LINSTOR_ONE_LOG", "trace"),
                ("LS_BEARER_TOKEN_FILE", token.to_str().unwrap()),
            ],
        );
        assert!(t0.elapsed() < Duration::from_secs(15), "answers promptly");
        r
    };

    let good = [
        ("LS_CAFILE", ca.as_str()),
        ("LS_CERTFILE", crt.as_str()),
        ("LS_KEYFILE", key.as_str()),
    ];
    let r = run(100, 8, &good, &token_file);
    logs += &r.stderr;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "/dev/drbd/by-res/one-image-8/0\n"),
        "{}",
        r.stderr
    );
    assert!(h.rds().contains_key("one-image-8"));

    let failures: [(&[(&str, &str)], &str); 3] = [
        (
            &[("LS_CERTFILE", crt.as_str()), ("LS_KEYFILE", key.as_str())],
            "not signed by a trusted CA",
        ),
        (
            &[
                ("LS_CAFILE", ca.as_str()),
                ("LS_CERTFILE", rogue_crt.as_str()),
                ("LS_KEYFILE", rogue_key.as_str()),
            ],
            "refused this client's certificate",
        ),
        (
            &[("LS_CAFILE", ca.as_str())],
            "requires a client certificate",
        ),
    ];
    for (i, (attrs, needle)) in failures.iter().enumerate() {
        let id = 101 + i as u64;
        let r = run(id, 20 + i as u64, attrs, &token_file);
        logs += &r.stderr;
        assert_eq!(r.code, 2, "a TLS setup problem is a configuration error");
        let last = r.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains(needle) && last.contains("LS_CAFILE") && last.contains("LS_KEYFILE"),
            "{attrs:?}: {last}"
        );
    }

    h.serve(
        "one.vm.info",
        31,
        vm_xml(
            31,
            &[(
                0,
                Some(8),
                "/dev/drbd/by-res/one-image-8/0",
                true,
                "linstor",
                101,
                8,
            )],
        ),
    );
    let r = h.run_env(
        "tm",
        "linstor",
        "clone",
        &[
            "fe:/dev/drbd/by-res/one-image-8/0",
            "s1:/var/lib/one//datastores/0/31/disk.0",
            "31",
            "101",
        ],
        "",
        &[
            ("LINSTOR_ONE_LOG", "trace"),
            ("LS_BEARER_TOKEN_FILE", token_file.to_str().unwrap()),
        ],
    );
    logs += &r.stderr;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("not signed by a trusted CA"),
        "a TM action reads the datastore from oned, then fails on TLS: {}",
        r.stderr
    );

    let r = run(110, 30, &good, &wrong_token);
    logs += &r.stderr;
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("401"), "{}", r.stderr);

    assert_eq!(
        h.rds().len(),
        1,
        "only the verified call created a volume: {:?}",
        h.rds().keys()
    );
    assert!(logs.contains("TRACE"), "the driver logged at trace level");
    pki.assert_no_secret(&logs, TOKEN);
    assert!(
        !logs.contains("oneadmin:secret"),
        "the one_auth credentials in the logs:\n{logs}"
    );
}

#[test]
fn basic_auth_datastore_attributes_over_https_only_and_never_logged() {
    let pki = Pki::new();
    let h = harness_with(
        Some(pki.server(false)),
        None,
        Some((USER.into(), PASSWORD.into())),
    );
    let no_token = h.tmp.path().join("no-auth.json");
    let url = h.sim.url();
    let ca = pki.path("ca.pem").display().to_string();
    let wrong = format!("not-{PASSWORD}");
    let mut logs = String::new();
    let run = |ds_id: u64, image: u64, attrs: &[(&str, &str)]| {
        let mut tpl = vec![("REPLICA_COUNT", "2")];
        tpl.extend_from_slice(attrs);
        let ds = datastore_xml(ds_id, 0, &tpl);
        h.serve("one.datastore.info", ds_id, ds.clone());
        let msg = action_msg(&image_xml(image, "", "", "raw", 8, -1, &[]), &ds);
        h.run_env(
            "datastore",
            "linstor",
            "mkfs",
            &[&b64(&msg), &image.to_string()],
            "",
            &[
                ("LINSTOR_ONE_LOG", "trace"),
                ("LS_BEARER_TOKEN_FILE", no_token.to_str().unwrap()),
            ],
        )
    };
    let https = [("LS_CONTROLLERS", url.as_str()), ("LS_CAFILE", ca.as_str())];
    let with = |user: &'static str, pass: &str| -> Vec<(&'static str, String)> {
        vec![
            ("LS_USERNAME", user.to_string()),
            ("LS_PASSWORD", pass.to_string()),
        ]
    };
    let attrs = |extra: &[(&'static str, String)]| -> Vec<(&'static str, String)> {
        https
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .chain(extra.iter().cloned())
            .collect()
    };
    let call = |id: u64, image: u64, a: Vec<(&'static str, String)>| {
        let refs: Vec<(&str, &str)> = a.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run(id, image, &refs)
    };

    let r = call(200, 40, attrs(&with(USER, PASSWORD)));
    logs += &r.stderr;
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "/dev/drbd/by-res/one-image-40/0\n"),
        "{}",
        r.stderr
    );

    for (id, image, extra, needle) in [
        (201, 41, with(USER, &wrong), "HTTP 403"),
        (202, 42, vec![], "HTTP 401"),
    ] {
        let r = call(id, image, attrs(&extra));
        logs += &r.stderr;
        assert_ne!(r.code, 0);
        let last = r.stderr.lines().last().unwrap_or_default();
        assert!(
            last.contains(needle) && last.contains("LS_USERNAME") && last.contains("LS_PASSWORD"),
            "{extra:?}: {last}"
        );
    }
    assert_eq!(
        h.rds().keys().cloned().collect::<Vec<_>>(),
        ["one-image-40"],
        "only the signed-in call created a volume"
    );

    let plain = Sim::start_blocking(SimConfig {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    })
    .unwrap();
    let plain_url = plain.url();
    let mut a = with(USER, PASSWORD);
    a.push(("LS_CONTROLLERS", plain_url));
    let r = call(203, 43, a);
    logs += &r.stderr;
    assert_eq!(
        r.code, 2,
        "plain HTTP with a password is a configuration error"
    );
    assert!(
        r.stderr.contains("refusing to send the password"),
        "{}",
        r.stderr
    );
    assert_eq!(
        plain.stats().values().sum::<u64>(),
        0,
        "nothing sent over plain HTTP"
    );

    assert!(logs.contains("TRACE"), "the driver logged at trace level");
    pki.assert_no_password(&logs, USER, PASSWORD);
    pki.assert_no_password(&logs, USER, &wrong);
}
