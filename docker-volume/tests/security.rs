//! Security of the real `linstor-docker-volume` daemon: its socket is 0600 whatever the umask;
//! it talks HTTPS with a client certificate and a bearer token to the simulator, verifies the
//! controller by default and says which certificate is wrong and how to fix it; it signs in with
//! basic auth (`username`/`password`, `LS_USERNAME`/`LS_PASSWORD`) over HTTPS only; and at trace
//! level it never logs the token, the password, the Authorization header or the client key.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linstor_tests::docker_plugin;
use linstor_tests::pki::Pki;
use linstor_tests::sim::{BlockingSim, Sim, SimConfig};
use serde_json::Value;

const TOKEN: &str = "tok-3c1d9a7e5b2f4c6d8e0a1b3c5d7e9f01";
const USER: &str = "alice";
const PASSWORD: &str = "pw-8b1e4f2a9c7d";
const BIN: &str = env!("CARGO_BIN_EXE_linstor-docker-volume");

/// The daemon for directory `d` (socket, configuration file, state) as node n1, with a clean
/// environment, trace logs and `token_file` as the token file; under `umask 000` when `umask0`.
fn daemon_command(d: &Path, token_file: &Path, umask0: bool) -> Command {
    let mut c = if umask0 {
        let mut c = Command::new("sh");
        c.arg("-c").arg("umask 000; exec \"$0\" \"$@\"").arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    c.arg("--socket")
        .arg(d.join("linstor.sock"))
        .arg("--config")
        .arg(d.join("docker-volume.conf"))
        .arg("--state-dir")
        .arg(d.join("state"))
        .arg("--node")
        .arg("n1")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "trace")
        .env("LS_BEARER_TOKEN_FILE", token_file);
    c
}

struct Daemon {
    child: Child,
    sock: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Start the daemon under `umask 000` with `conf` as its config file.
    fn start(dir: &Path, name: &str, sim: &BlockingSim, conf: &str, token_file: &Path) -> Self {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("docker-volume.conf"), conf).unwrap();
        let sock = d.join("linstor.sock");
        let log = d.join("daemon.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = daemon_command(&d, token_file, true)
            .arg("--mount-root")
            .arg(d.join("mnt"))
            .arg("--dev-root")
            .arg(sim.dev_root("n1"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let me = Daemon { child, sock, log };
        assert!(
            docker_plugin::socket_opens(&me.sock, Duration::from_secs(20)),
            "daemon did not open its socket: {}",
            me.logs()
        );
        me
    }

    fn post(&self, path: &str, body: &str) -> Value {
        docker_plugin::post(&self.sock, path, body, Duration::from_secs(60))
            .unwrap()
            .body
    }

    fn create(&self, name: &str) -> String {
        let v = self.post(
            "/VolumeDriver.Create",
            &format!("{{\"Name\":\"{name}\",\"Opts\":{{\"size\":\"20MB\"}}}}"),
        );
        v["Err"].as_str().unwrap_or("no Err field").to_string()
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.logs()
    }
}

/// Starts a daemon named `name`, asks it to create `volume` and stops it: the error Docker
/// shows (empty when created) and the daemon's logs.
fn create_once(
    dir: &Path,
    name: &str,
    sim: &BlockingSim,
    conf: &str,
    token_file: &Path,
    volume: &str,
) -> (String, String) {
    let d = Daemon::start(dir, name, sim, conf, token_file);
    let err = d.create(volume);
    (err, d.stop())
}

/// The resource definitions in the simulator.
fn rd_names(sim: &BlockingSim) -> Vec<String> {
    sim.state()["resource_definitions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn conf(sim: &BlockingSim, pki: &Pki, ca: bool, client: Option<&str>) -> String {
    let mut c = format!("[global]\ncontrollers = {}\n", sim.url());
    if ca {
        c += &format!("cafile = {}\n", pki.path("ca.pem").display());
    }
    if let Some(prefix) = client {
        c += &format!(
            "certfile = {}\nkeyfile = {}\n",
            pki.path(&format!("{prefix}.pem")).display(),
            pki.path(&format!("{prefix}.key")).display()
        );
    }
    c
}

fn mtls_sim(pki: &Pki, dir: &Path) -> BlockingSim {
    Sim::start_blocking(SimConfig {
        nodes: vec!["n1".into(), "n2".into(), "n3".into()],
        tls: Some(pki.server(true)),
        token: Some(TOKEN.into()),
        data_dir: Some(dir.join("sim")),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn socket_is_owner_only_whatever_the_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig::default()).unwrap();
    let d = Daemon::start(
        tmp.path(),
        "plain",
        &sim,
        &format!("[global]\ncontrollers = {}\n", sim.url()),
        &tmp.path().join("no-token.json"),
    );
    let meta = std::fs::metadata(&d.sock).unwrap();
    let probe = tmp.path().join("probe");
    std::fs::write(&probe, "").unwrap();
    let me = std::fs::metadata(&probe).unwrap().uid();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600, "socket mode");
    assert_eq!(meta.uid(), me, "socket owned by the daemon's user");
    if me == 0 {
        assert_eq!(meta.uid(), 0, "owned by root when run as root");
    }
    let leftovers: Vec<_> = std::fs::read_dir(d.sock.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary socket left behind");
    assert_eq!(d.create("perm1"), "");
    d.stop();
}

#[test]
fn mutual_tls_with_token_verified_by_default_and_no_secret_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let sim = mtls_sim(&pki, tmp.path());
    let token_file = tmp.path().join("auth.json");
    std::fs::write(&token_file, format!("{{\"token\": \"{TOKEN}\"}}")).unwrap();
    let mut logs = String::new();

    let good = Daemon::start(
        tmp.path(),
        "good",
        &sim,
        &conf(&sim, &pki, true, Some("client")),
        &token_file,
    );
    assert_eq!(good.create("tls1"), "");
    let v = good.post("/VolumeDriver.Get", "{\"Name\":\"tls1\"}");
    assert_eq!(v["Volume"]["Name"], "tls1", "{v}");
    assert!(
        sim.state()["resource_definitions"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.contains("tls1")),
        "volume created in LINSTOR over mutual TLS"
    );
    let v = good.post("/VolumeDriver.Get", "{\"Name\":\"missing\"}");
    assert!(v["Err"].as_str().unwrap().contains("missing"), "{v}");
    logs += &good.stop();

    let no_ca = Daemon::start(
        tmp.path(),
        "no-ca",
        &sim,
        &conf(&sim, &pki, false, Some("client")),
        &token_file,
    );
    let t0 = Instant::now();
    let err = no_ca.create("tls2");
    assert!(t0.elapsed() < Duration::from_secs(15), "fails fast");
    assert!(
        err.contains("not signed by a trusted CA") && err.contains("cafile"),
        "without the CA the controller is not trusted, and the fix is named: {err}"
    );
    logs += &no_ca.stop();

    let rogue = conf(&sim, &pki, true, Some("rogue-client"));
    let (err, log) = create_once(tmp.path(), "rogue", &sim, &rogue, &token_file, "tls3");
    assert!(
        err.contains("refused this client's certificate") && err.contains("certfile"),
        "a client certificate from another CA is refused: {err}"
    );
    logs += &log;

    let anonymous = conf(&sim, &pki, true, None);
    let (err, log) = create_once(
        tmp.path(),
        "anonymous",
        &sim,
        &anonymous,
        &token_file,
        "tls4",
    );
    assert!(
        err.contains("client certificate") && err.contains("keyfile"),
        "no client certificate is refused: {err}"
    );
    logs += &log;

    let wrong_token = tmp.path().join("wrong.json");
    std::fs::write(&wrong_token, "{\"token\": \"not-the-token\"}").unwrap();
    let client = conf(&sim, &pki, true, Some("client"));
    let (err, log) = create_once(tmp.path(), "unauth", &sim, &client, &wrong_token, "tls5");
    assert!(err.contains("401"), "a wrong token is refused: {err}");
    logs += &log;

    let names = rd_names(&sim);
    assert_eq!(
        names.len(),
        1,
        "only the verified daemon created: {names:?}"
    );
    assert!(
        logs.contains("TLS"),
        "the trace logs cover the TLS failures"
    );
    pki.assert_no_secret(&logs, TOKEN);
}

#[test]
fn basic_auth_signs_in_over_https_only_and_is_never_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let sim = Sim::start_blocking(SimConfig {
        tls: Some(pki.server(false)),
        basic_auth: Some((USER.into(), PASSWORD.into())),
        data_dir: Some(tmp.path().join("sim")),
        ..Default::default()
    })
    .unwrap();
    let no_token = tmp.path().join("no-token.json");
    let https = conf(&sim, &pki, true, None);
    let mut logs = String::new();

    let good = Daemon::start(
        tmp.path(),
        "basic-good",
        &sim,
        &format!("{https}username = {USER}\npassword = {PASSWORD}\n"),
        &no_token,
    );
    assert_eq!(good.create("ba1"), "");
    let v = good.post("/VolumeDriver.Get", "{\"Name\":\"ba1\"}");
    assert_eq!(v["Volume"]["Name"], "ba1", "{v}");
    logs += &good.stop();

    let wrong = format!("{https}username = {USER}\npassword = not-{PASSWORD}\n");
    let (err, log) = create_once(tmp.path(), "basic-wrong", &sim, &wrong, &no_token, "ba2");
    assert!(
        err.contains("HTTP 403") && err.contains("Sign in failed") && err.contains("password"),
        "a wrong password is refused and the setting named: {err}"
    );
    logs += &log;

    let (err, log) = create_once(tmp.path(), "basic-none", &sim, &https, &no_token, "ba3");
    assert!(
        err.contains("HTTP 401") && err.contains("Login required"),
        "no credentials: {err}"
    );
    logs += &log;

    assert_eq!(rd_names(&sim), ["ba1"], "only the signed-in daemon created");

    let plain = Sim::start_blocking(SimConfig {
        basic_auth: Some((USER.into(), PASSWORD.into())),
        ..Default::default()
    })
    .unwrap();
    let d = tmp.path().join("basic-plain");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("docker-volume.conf"),
        format!("[global]\ncontrollers = {}\n", plain.url()),
    )
    .unwrap();
    let out = daemon_command(&d, &no_token, false)
        .env("LS_USERNAME", USER)
        .env("LS_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "must not start: {text}");
    assert!(
        text.contains("refusing to send the password") && text.contains("https://"),
        "plain HTTP with a password is a configuration error naming the fix: {text}"
    );
    assert_eq!(
        plain.stats().values().sum::<u64>(),
        0,
        "nothing was sent to the plain-HTTP controller"
    );
    logs += &text;

    pki.assert_no_password(&logs, USER, PASSWORD);
    pki.assert_no_password(&logs, USER, &format!("not-{PASSWORD}"));
}
