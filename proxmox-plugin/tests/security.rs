//! The real `linstor-pve` helper, given the storage options the Perl module passes through
//! (`apica`, `apicrt`, `apikey`, a bare `controller` host) and a token file, against the
//! simulator over mutual TLS: HTTPS is used and verified, a missing CA or a foreign client
//! certificate fails naming the certificate problem and the options to set, and at trace level
//! neither the token, the Authorization header nor the client key is ever logged. Basic auth
//! (`LS_USERNAME`/`LS_PASSWORD` in the daemons' environment) signs in over HTTPS only.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use linstor_tests::cmd::output_with_input;
use linstor_tests::pki::Pki;
use linstor_tests::sim::{BlockingSim, Sim, SimConfig};
use serde_json::{json, Value};

const TOKEN: &str = "tok-5e2b8c1f9a4d7e3b6c0f2a8d4e1b7c95";
const USER: &str = "pveadmin";
const PASSWORD: &str = "pw-2d7f9b3e6a1c";

struct Run {
    code: i32,
    out: Value,
    stderr: String,
}

fn helper(method: &str, doc: &Value, token_file: &Path, cache: &Path) -> Run {
    helper_env(method, doc, token_file, cache, &[])
}

fn helper_env(
    method: &str,
    doc: &Value,
    token_file: &Path,
    cache: &Path,
    env: &[(&str, &str)],
) -> Run {
    let out = output_with_input(
        Command::new(env!("CARGO_BIN_EXE_linstor-pve"))
            .arg(method)
            .env_clear()
            .envs(env.iter().copied())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LINSTOR_PVE_LOG", "trace")
            .env("LINSTOR_PVE_AUTH_JSON", token_file)
            .env("LINSTOR_PVE_CACHE_DIR", cache),
        doc.to_string().as_bytes(),
    );
    Run {
        code: out.status.code().unwrap_or(-1),
        out: serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn doc(sim: &BlockingSim, scfg: Value, args: Value) -> Value {
    let mut scfg = scfg;
    scfg["controller"] = json!(sim.addr().to_string());
    scfg["resourcegroup"] = json!("DfltRscGrp");
    json!({"storeid": "drbd1", "scfg": scfg, "node": "n1",
           "dev_root": sim.dev_root("n1"), "timeout": 20, "args": args})
}

#[test]
fn storage_options_give_verified_mutual_tls_and_no_secret_is_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let sim = Sim::start_blocking(SimConfig {
        nodes: vec!["n1".into(), "n2".into(), "n3".into()],
        tls: Some(pki.server(true)),
        token: Some(TOKEN.into()),
        data_dir: Some(tmp.path().join("sim")),
        ..Default::default()
    })
    .unwrap();
    let token_file = tmp.path().join("auth.json");
    std::fs::write(&token_file, format!("{{\"token\": \"{TOKEN}\"}}")).unwrap();
    let cache = tmp.path().join("cache");
    let ca = pki.path("ca.pem").display().to_string();
    let crt = pki.path("client.pem").display().to_string();
    let key = pki.path("client.key").display().to_string();
    let alloc = json!({"vmid": 100, "fmt": "raw", "name": null, "size_kib": 8192});
    let mut logs = String::new();

    let full = json!({"apica": ca, "apicrt": crt, "apikey": key});
    let r = helper(
        "alloc_image",
        &doc(&sim, full.clone(), alloc.clone()),
        &token_file,
        &cache,
    );
    logs += &r.stderr;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let volname = r.out["volname"].as_str().unwrap().to_string();
    let rd = volname.split('_').next().unwrap().to_string();
    assert!(sim.state()["resource_definitions"].get(&rd).is_some());
    let r = helper(
        "list_images",
        &doc(&sim, full, json!({"vmid": null, "vollist": null})),
        &token_file,
        &cache,
    );
    logs += &r.stderr;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.out.to_string().contains(&volname), "{}", r.out);

    let failures = [
        (
            json!({"apicrt": crt, "apikey": key}),
            "not signed by a trusted CA",
        ),
        (
            json!({"apica": ca, "apicrt": pki.path("rogue-client.pem"), "apikey": pki.path("rogue-client.key")}),
            "refused this client's certificate",
        ),
        (json!({"apica": ca}), "requires a client certificate"),
    ];
    for (scfg, needle) in failures {
        let t0 = Instant::now();
        let r = helper(
            "alloc_image",
            &doc(&sim, scfg.clone(), alloc.clone()),
            &token_file,
            &cache,
        );
        logs += &r.stderr;
        assert!(t0.elapsed() < Duration::from_secs(15), "fails fast");
        assert_ne!(r.code, 0);
        assert_eq!(r.out["error"]["kind"], "tls", "{scfg}: {}", r.out);
        let msg = r.out["error"]["message"].as_str().unwrap();
        assert!(
            msg.contains(needle) && msg.contains("'apica'") && msg.contains("'apikey'"),
            "{scfg}: {msg}"
        );
    }

    let wrong = tmp.path().join("wrong.json");
    std::fs::write(&wrong, "{\"token\": \"not-the-token\"}").unwrap();
    let r = helper(
        "alloc_image",
        &doc(
            &sim,
            json!({"apica": ca, "apicrt": crt, "apikey": key}),
            alloc,
        ),
        &wrong,
        &cache,
    );
    logs += &r.stderr;
    assert_ne!(r.code, 0);
    assert!(
        r.out["error"]["message"].as_str().unwrap().contains("401"),
        "{}",
        r.out
    );

    assert_eq!(
        sim.state()["resource_definitions"]
            .as_object()
            .unwrap()
            .len(),
        1,
        "only the verified call created a volume"
    );
    assert!(logs.contains("TRACE"), "the helper logged at trace level");
    pki.assert_no_secret(&logs, TOKEN);
}

#[test]
fn basic_auth_from_the_environment_over_https_only_and_never_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let sim = Sim::start_blocking(SimConfig {
        tls: Some(pki.server(false)),
        basic_auth: Some((USER.into(), PASSWORD.into())),
        data_dir: Some(tmp.path().join("sim")),
        ..Default::default()
    })
    .unwrap();
    let no_token = tmp.path().join("no-auth.json");
    let cache = tmp.path().join("cache");
    let ca = json!({"apica": pki.path("ca.pem").display().to_string()});
    let alloc = json!({"vmid": 100, "fmt": "raw", "name": null, "size_kib": 8192});
    let wrong = format!("not-{PASSWORD}");
    let mut logs = String::new();

    let good = [("LS_USERNAME", USER), ("LS_PASSWORD", PASSWORD)];
    let r = helper_env(
        "alloc_image",
        &doc(&sim, ca.clone(), alloc.clone()),
        &no_token,
        &cache,
        &good,
    );
    logs += &r.stderr;
    assert_eq!(r.code, 0, "{} {}", r.out, r.stderr);
    let volname = r.out["volname"].as_str().unwrap().to_string();
    let r = helper_env(
        "list_images",
        &doc(&sim, ca.clone(), json!({"vmid": null, "vollist": null})),
        &no_token,
        &cache,
        &good,
    );
    logs += &r.stderr;
    assert!(r.out.to_string().contains(&volname), "{}", r.out);

    for (env, needle) in [
        (
            vec![("LS_USERNAME", USER), ("LS_PASSWORD", wrong.as_str())],
            "HTTP 403",
        ),
        (vec![], "HTTP 401"),
    ] {
        let r = helper_env(
            "alloc_image",
            &doc(&sim, ca.clone(), alloc.clone()),
            &no_token,
            &cache,
            &env,
        );
        logs += &r.stderr;
        assert_ne!(r.code, 0);
        let msg = r.out["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(needle) && msg.contains("LS_PASSWORD"),
            "{env:?}: {}",
            r.out
        );
    }
    assert_eq!(
        sim.state()["resource_definitions"]
            .as_object()
            .unwrap()
            .len(),
        1,
        "only the signed-in call created a volume"
    );

    let plain = Sim::start_blocking(SimConfig {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    })
    .unwrap();
    let mut d = doc(&plain, json!({}), alloc);
    d["scfg"]["controller"] = json!(plain.url());
    let r = helper_env("alloc_image", &d, &no_token, &cache, &good);
    logs += &r.stderr;
    assert_ne!(r.code, 0);
    assert_eq!(r.out["error"]["kind"], "config", "{}", r.out);
    assert!(
        r.out["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("refusing to send the password"),
        "{}",
        r.out
    );
    assert_eq!(
        plain.stats().values().sum::<u64>(),
        0,
        "nothing sent over plain HTTP"
    );

    assert!(logs.contains("TRACE"), "the helper logged at trace level");
    pki.assert_no_password(&logs, USER, PASSWORD);
    pki.assert_no_password(&logs, USER, &wrong);
}
