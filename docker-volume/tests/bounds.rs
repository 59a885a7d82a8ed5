//! The daemon flags `--read-timeout`/`--change-timeout` (and their environment variables, which
//! the managed plugin sets) through the real `linstor-docker-volume` daemon called over its
//! socket, against a simulator whose every answer is 1.5 s late: Remove (which needs the
//! controller) fails at a 1 s read bound with the timeout error naming the controller and the
//! flag, and succeeds at 3 s; List answers from its cache within the data-plane budget either
//! way, and its background refresh only brings a volume in with the raised bound; values
//! outside the range, or beyond what dockerd's limits leave, stop the daemon with a message
//! naming the flag, the value and the range; empty variables (the managed plugin's default)
//! keep the defaults. Needs no root: nothing is mounted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linstor_tests::docker_plugin::{self, Answer};
use linstor_tests::sim::{BlockingSim, Fault, Sim, SimConfig};
use serde_json::{json, Value};

const SLOW: Duration = Duration::from_millis(1500);

struct H {
    sim: BlockingSim,
    tmp: tempfile::TempDir,
    daemon: Option<Child>,
}

impl Drop for H {
    fn drop(&mut self) {
        self.stop();
    }
}

fn harness() -> H {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig {
        nodes: ["n1", "n2", "n3"].map(String::from).to_vec(),
        ..Default::default()
    })
    .unwrap();
    H {
        sim,
        tmp,
        daemon: None,
    }
}

impl H {
    fn socket(&self) -> PathBuf {
        self.tmp.path().join("plugins/linstor.sock")
    }

    fn log_file(&self) -> PathBuf {
        self.tmp.path().join("daemon.log")
    }

    fn command(&self, state: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_linstor-docker-volume"));
        c.arg("--socket")
            .arg(self.socket())
            .arg("--controllers")
            .arg(self.sim.url())
            .arg("--node")
            .arg("n1")
            .arg("--state-dir")
            .arg(self.tmp.path().join(state))
            .arg("--config")
            .arg(self.tmp.path().join("docker-volume.conf"))
            .arg("--mount-root")
            .arg(self.tmp.path().join("mnt"))
            .arg("--dev-root")
            .arg(self.sim.dev_root("n1"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        c
    }

    fn start(&mut self, state: &str, args: &[&str], env: &[(&str, &str)]) {
        self.stop();
        let log = std::fs::File::create(self.log_file()).unwrap();
        let child = self
            .command(state, args, env)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        assert!(
            docker_plugin::socket_opens(&self.socket(), Duration::from_secs(20)),
            "daemon did not start: {}",
            self.log()
        );
    }

    fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn post(&self, path: &str, body: Value) -> Answer {
        docker_plugin::post(
            &self.socket(),
            path,
            &body.to_string(),
            Duration::from_secs(120),
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn names(&self) -> Vec<String> {
        let a = self.post("/VolumeDriver.List", json!({}));
        assert_eq!(a.body["Err"].as_str().unwrap_or_default(), "", "{a:?}");
        a.body["Volumes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["Name"].as_str().map(str::to_string))
            .collect()
    }

    fn rd_count(&self) -> usize {
        self.sim.state()["resource_definitions"]
            .as_object()
            .map_or(0, |m| m.len())
    }
}

fn err_of(a: &Answer) -> &str {
    a.body["Err"].as_str().unwrap_or_default()
}

#[test]
fn remove_on_a_slow_controller_needs_a_raised_read_timeout_and_names_it_below() {
    let mut h = harness();
    h.start(
        "state",
        &[],
        &[("LINSTOR_READ_TIMEOUT", ""), ("LINSTOR_CHANGE_TIMEOUT", "")],
    );
    let made = h.post(
        "/VolumeDriver.Create",
        json!({"Name": "web", "Opts": {"size": "64M", "replicas": "2"}}),
    );
    assert_eq!(err_of(&made), "", "{made:?}");
    assert_eq!(h.rd_count(), 1);

    h.sim.inject(Fault::Latency(SLOW));
    h.start("state", &["--read-timeout", "1"], &[]);
    let low = h.post("/VolumeDriver.Remove", json!({"Name": "web"}));
    let msg = err_of(&low);
    println!("Remove, answers 1.5 s late, --read-timeout 1: {msg}");
    assert!(msg.contains(&h.sim.url()), "names the controller: {low:?}");
    assert!(
        msg.contains("within 1 s")
            && msg.contains("raise --read-timeout (LINSTOR_READ_TIMEOUT) (seconds, 1 to 300"),
        "names the bound and the flag: {low:?}"
    );
    assert_eq!(h.rd_count(), 1, "nothing removed");

    h.start("state", &[], &[("LINSTOR_READ_TIMEOUT", "3")]);
    let high = h.post("/VolumeDriver.Remove", json!({"Name": "web"}));
    assert_eq!(err_of(&high), "", "{high:?}");
    assert_eq!(h.rd_count(), 0, "removed with the raised bound");
    h.stop();
    h.sim.clear_faults();
}

#[test]
fn list_answers_within_the_budget_and_refreshes_only_with_a_read_timeout_above_the_answer_time() {
    let mut h = harness();
    h.start("first", &[], &[]);
    let made = h.post(
        "/VolumeDriver.Create",
        json!({"Name": "db", "Opts": {"size": "64M", "replicas": "2"}}),
    );
    assert_eq!(err_of(&made), "", "{made:?}");
    h.sim.inject(Fault::Latency(SLOW));

    h.start(
        "second",
        &["--list-cache-ttl", "2", "--read-timeout", "1"],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        let t = Instant::now();
        assert!(
            h.names().is_empty(),
            "a read bound below the answer time never lists it"
        );
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "List within the budget: {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = h.log();
    assert!(
        log.contains("cannot refresh the volume cache")
            && log.contains("--read-timeout")
            && log.contains(&h.sim.url()),
        "the refresh failure names the controller and the flag: {log}"
    );

    h.start(
        "second",
        &["--list-cache-ttl", "2", "--read-timeout", "3"],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if h.names() == ["db"] {
            break;
        }
        assert!(Instant::now() < deadline, "never listed: {}", h.log());
        std::thread::sleep(Duration::from_millis(300));
    }
    h.stop();
    h.sim.clear_faults();
}

fn refused(h: &H, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = h
        .command("refused", args, env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} {env:?} started");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!text.contains("panicked"), "{text}");
    text
}

#[test]
fn bounds_outside_the_range_or_dockerds_limits_stop_the_daemon_with_the_reason() {
    let h = harness();
    for (args, env, needle) in [
        (
            vec!["--read-timeout", "0.5"],
            vec![],
            "--read-timeout (LINSTOR_READ_TIMEOUT) is '0.5': it must be from 1 to 300 seconds",
        ),
        (
            vec![],
            vec![("LINSTOR_CHANGE_TIMEOUT", "soon")],
            "--change-timeout (LINSTOR_CHANGE_TIMEOUT) is 'soon': use a number of seconds from 5 to 600",
        ),
        (
            vec!["--read-timeout", "60"],
            vec![],
            "--read-timeout (LINSTOR_READ_TIMEOUT) is 60 s: the plugin ends Get, List and Path within 30 s (below dockerd's limits), so use 1 to 25 s",
        ),
        (
            vec!["--change-timeout", "120"],
            vec![],
            "--change-timeout (LINSTOR_CHANGE_TIMEOUT) is 120 s: the plugin ends Create, Remove, Mount and Unmount within 90 s (below dockerd's limits), so use 5 to 80 s",
        ),
    ] {
        let text = refused(&h, &args, &env);
        assert!(text.contains(needle), "{args:?} {env:?}: {text}");
    }
    assert!(!Path::new(&h.socket()).exists(), "no socket left behind");
    assert_eq!(h.sim.request_count(), 0, "refused before any request");
}
