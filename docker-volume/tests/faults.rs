//! Fault suite of the Docker volume plugin (as root: it makes filesystems and mounts them):
//! the real `linstor-docker-volume` daemon run as a child and called over its unix socket the
//! way dockerd calls it, through Create, Mount (diskless attach, mkfs, mount), Unmount and
//! Remove, with the daemon SIGKILLed at every controller step (before and after the
//! controller carried it out) and restarted, the step answered with a 500 or with garbage, the
//! controller down, slow, or first in the list dead, and with many concurrent calls. Every case
//! asserts a bounded time, a clear error where it fails, no diskful replica or volume lost,
//! reference counts intact after the restart, and that re-running converges to the end state
//! of an undisturbed run. Counts go to the reliability summary.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use linstor_tests::docker_plugin::{self, Answer};
use linstor_tests::faults::{self, How, Row, Step};
use linstor_tests::sim::{Backing, BlockingSim, Fault, Sim, SimConfig};
use serde_json::{json, Value};

const VOL: &str = "web";
const SYSTEM_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";
/// Host commands the daemon runs that a test can hold, before or after they ran.
const HOST_STEPS: [&str; 4] = ["mkfs.ext4", "mount", "resize2fs", "umount"];

/// Wrappers in `dir` for [`HOST_STEPS`]: each logs its name to `dir/log` and, when
/// `dir/pause` says `before <name>` or `after <name>`, writes its pid to `dir/hit` and sleeps
/// there (to be killed) instead of going on.
fn install_shims(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    for name in HOST_STEPS {
        let real = SYSTEM_PATH
            .split(':')
            .map(|d| Path::new(d).join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} not found in {SYSTEM_PATH}"));
        let d = dir.display();
        let script = format!(
            "#!/bin/sh\necho {name} >> '{d}/log'\np=$(cat '{d}/pause' 2>/dev/null)\n\
if [ \"$p\" = 'before {name}' ]; then echo $$ > '{d}/hit'; exec sleep 600; fi\n\
'{real}' \"$@\"\nrc=$?\n\
if [ \"$p\" = 'after {name}' ]; then echo $$ > '{d}/hit'; exec sleep 600; fi\nexit $rc\n",
            real = real.display()
        );
        let p = dir.join(name);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
const BOUND: Duration = Duration::from_secs(60);

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Skips (with a note) unless root with mkfs.ext4: the daemon makes real filesystems.
fn runnable() -> bool {
    if !is_root() || Command::new("mkfs.ext4").arg("-V").output().is_err() {
        eprintln!(
            "SKIP: the Docker fault suite needs root and mkfs.ext4 (scripts/test.sh runs as root)"
        );
        return false;
    }
    true
}

struct H {
    sim: BlockingSim,
    tmp: tempfile::TempDir,
    node: String,
    controllers: String,
    daemon: Option<Child>,
}

impl Drop for H {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        let root = self.tmp.path().display().to_string();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for m in linstor_common::host::mount_points(&mounts) {
            if m.starts_with(&root) {
                let _ = Command::new("umount").arg("-l").arg(&m).status();
            }
        }
    }
}

fn harness(node: &str) -> H {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig {
        nodes: ["n1", "n2", "n3", "n4"].map(String::from).to_vec(),
        backing: Backing::File,
        data_dir: Some(tmp.path().join("sim")),
        ..Default::default()
    })
    .unwrap();
    let controllers = sim.url();
    install_shims(&tmp.path().join("shim"));
    let mut h = H {
        sim,
        tmp,
        node: node.to_string(),
        controllers,
        daemon: None,
    };
    h.start();
    h
}

impl H {
    fn socket(&self) -> PathBuf {
        self.tmp.path().join("plugins/linstor.sock")
    }

    fn state_dir(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn mount_root(&self) -> PathBuf {
        self.tmp.path().join("mnt")
    }

    fn start(&mut self) {
        self.start_settled(true);
    }

    /// Starts the daemon; with `settle`, gives its start-up reconciliation time to finish.
    fn start_settled(&mut self, settle: bool) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join("daemon.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_linstor-docker-volume"))
            .arg("--socket")
            .arg(self.socket())
            .arg("--controllers")
            .arg(&self.controllers)
            .arg("--node")
            .arg(&self.node)
            .arg("--state-dir")
            .arg(self.state_dir())
            .arg("--config")
            .arg(self.tmp.path().join("docker-volume.conf"))
            .arg("--mount-root")
            .arg(self.mount_root())
            .arg("--dev-root")
            .arg(self.sim.dev_root(&self.node))
            .env_clear()
            .env(
                "PATH",
                format!("{}:{SYSTEM_PATH}", self.tmp.path().join("shim").display()),
            )
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.daemon = Some(child);
        assert!(
            docker_plugin::socket_opens(&self.socket(), Duration::from_secs(10)),
            "daemon did not start"
        );
        if settle {
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn kill(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.start();
    }

    fn shim(&self) -> PathBuf {
        self.tmp.path().join("shim")
    }

    /// Host commands run since the last call, in order.
    fn take_host_log(&self) -> Vec<String> {
        let p = self.shim().join("log");
        let s = std::fs::read_to_string(&p).unwrap_or_default();
        let _ = std::fs::remove_file(&p);
        s.lines().map(str::to_string).collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.tmp.path().join("daemon.log")).unwrap_or_default()
    }

    fn mount_counts(&self) -> Value {
        let s = std::fs::read_to_string(self.state_dir().join("docker-volume-state.json"))
            .unwrap_or_else(|_| "{}".into());
        let v: Value = serde_json::from_str(&s).unwrap();
        json!(v["mounts"]
            .as_object()
            .map(|m| m
                .iter()
                .map(|(k, e)| (k.clone(), e["ids"].clone()))
                .collect::<serde_json::Map<_, _>>())
            .unwrap_or_default())
    }

    /// Flags of this volume's resource on `node` (empty when there is none).
    fn rds_resources(&self, node: &str) -> Vec<String> {
        self.sim.state()["resource_definitions"][VOL]["resources"][node]["flags"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn mounted(&self) -> Vec<String> {
        let root = self.mount_root();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        linstor_common::host::mount_points(&mounts)
            .into_iter()
            .filter_map(|m| m.strip_prefix(&root).ok().map(|r| r.display().to_string()))
            .collect()
    }
}

fn post(sock: &Path, path: &str, body: &str) -> std::io::Result<Answer> {
    docker_plugin::post(sock, path, body, BOUND)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Create,
    Mount(&'static str),
    Unmount(&'static str),
    Remove,
}

impl Call {
    fn request(self) -> (&'static str, String) {
        match self {
            Call::Create => (
                "/VolumeDriver.Create",
                json!({"Name": VOL, "Opts": {"size": "64M", "replicas": "2"}}).to_string(),
            ),
            Call::Mount(id) => (
                "/VolumeDriver.Mount",
                json!({"Name": VOL, "ID": id}).to_string(),
            ),
            Call::Unmount(id) => (
                "/VolumeDriver.Unmount",
                json!({"Name": VOL, "ID": id}).to_string(),
            ),
            Call::Remove => ("/VolumeDriver.Remove", json!({"Name": VOL}).to_string()),
        }
    }
}

fn call(h: &H, c: Call) -> Answer {
    let (path, body) = c.request();
    post(&h.socket(), path, &body).unwrap_or_else(|e| panic!("{c:?}: {e}"))
}

fn err_of(a: &Answer) -> &str {
    a.body["Err"].as_str().unwrap_or_default()
}

fn call_ok(h: &H, c: Call) {
    let a = call(h, c);
    assert!(
        a.status == 200 && err_of(&a).is_empty(),
        "{c:?}: {a:?}\n{}",
        h.log()
    );
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Mount,
    SecondMount,
    Unmount,
    LastUnmount,
    Remove,
}

const OPS: [Op; 6] = [
    Op::Create,
    Op::Mount,
    Op::SecondMount,
    Op::Unmount,
    Op::LastUnmount,
    Op::Remove,
];

impl Op {
    fn call(self) -> Call {
        match self {
            Op::Create => Call::Create,
            Op::Mount => Call::Mount("a"),
            Op::SecondMount => Call::Mount("b"),
            Op::Unmount => Call::Unmount("a"),
            Op::LastUnmount => Call::Unmount("b"),
            Op::Remove => Call::Remove,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Mount => "attach (Mount: diskless copy, mkfs, mount)",
            Op::SecondMount => "second Mount (reference)",
            Op::Unmount => "Unmount with a reference left",
            Op::LastUnmount => "detach (last Unmount)",
            Op::Remove => "delete (Remove)",
        }
    }
}

fn prepare(h: &H, op: Op) {
    for before in OPS.iter().take_while(|o| **o != op) {
        call_ok(h, before.call());
    }
}

/// What the user sees: LINSTOR's end state, this node's mounts and the persisted counts.
fn end(h: &H) -> Value {
    json!({
        "linstor": faults::end_state(&h.sim.state()),
        "mounted": h.mounted(),
        "counts": h.mount_counts(),
    })
}

/// The end state once the daemon's start-up reconciliation (which runs beside the calls) had
/// up to 15 s to finish: the first state equal to `want`, or the last one seen.
fn settled_end(h: &H, want: &Value) -> Value {
    let t = Instant::now();
    loop {
        let now = end(h);
        if &now == want || t.elapsed() > Duration::from_secs(15) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The node that gets no disk (the same placement in every fresh simulator).
fn diskless_node() -> String {
    let h = harness("n1");
    call_ok(&h, Call::Create);
    let disks = faults::diskful(&h.sim.state());
    ["n4", "n3", "n2", "n1"]
        .iter()
        .find(|n| !disks.contains(&(VOL.to_string(), n.to_string())))
        .unwrap()
        .to_string()
}

/// Runs `c` with the step disturbed. Killed: true when the daemon was killed at the step (it
/// is restarted). Failed: true when the call answered an error (which must be clear).
fn disturbed_call(h: &mut H, c: Call, step: &Step, how: How) -> bool {
    match how {
        How::Kill { after } => {
            faults::arm(&h.sim, step, after);
            let (path, body) = c.request();
            let sock = h.socket();
            let t = std::thread::spawn(move || post(&sock, path, &body));
            let start = Instant::now();
            let killed = loop {
                if h.sim.paused().is_some() {
                    h.kill();
                    h.sim.release_pause(false);
                    h.sim.clear_faults();
                    break true;
                }
                if t.is_finished() {
                    h.sim.clear_faults();
                    break false;
                }
                assert!(
                    start.elapsed() < BOUND,
                    "{c:?} neither reached {step} nor ended"
                );
                std::thread::sleep(Duration::from_millis(5));
            };
            let r = t.join().unwrap();
            if killed {
                assert!(r.is_err(), "no answer from a killed daemon: {r:?}");
                h.start();
            }
            killed
        }
        How::KillHost { after } => {
            let pause = format!("{} {}", if after { "after" } else { "before" }, step.path);
            std::fs::write(h.shim().join("pause"), pause).unwrap();
            let (path, body) = c.request();
            let sock = h.socket();
            let t = std::thread::spawn(move || post(&sock, path, &body));
            let hit = h.shim().join("hit");
            let start = Instant::now();
            let killed = loop {
                if let Ok(pid) = std::fs::read_to_string(&hit) {
                    if !pid.trim().is_empty() {
                        h.kill();
                        let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
                        break true;
                    }
                }
                if t.is_finished() {
                    break false;
                }
                assert!(
                    start.elapsed() < BOUND,
                    "{c:?} neither reached {step} nor ended"
                );
                std::thread::sleep(Duration::from_millis(5));
            };
            let _ = std::fs::remove_file(h.shim().join("pause"));
            let _ = std::fs::remove_file(&hit);
            let r = t.join().unwrap();
            if killed {
                assert!(r.is_err(), "no answer from a killed daemon: {r:?}");
                h.start();
            }
            killed
        }
        How::Fail(_) => {
            faults::disturb(&h.sim, step, how);
            let t = Instant::now();
            let a = call(h, c);
            assert!(t.elapsed() < BOUND, "{c:?}: {:?}", t.elapsed());
            h.sim.clear_faults();
            let e = err_of(&a);
            if e.is_empty() {
                return false;
            }
            assert!(e.len() > 10 && !e.contains("panicked"), "{c:?}: {a:?}");
            true
        }
    }
}

/// One try: a fresh daemon prepared for `op`, and the reference counts before the disturbed
/// call.
struct Try {
    h: H,
    op: Op,
    counts_before: Value,
}

impl faults::Trial for Try {
    fn sim(&self) -> &Sim {
        &self.h.sim
    }

    fn disturbed(&mut self, step: &Step, how: How) -> Option<usize> {
        self.counts_before = self.h.mount_counts();
        disturbed_call(&mut self.h, self.op.call(), step, how).then_some(0)
    }

    fn rerun(&mut self, _from: usize, how: How) -> bool {
        let op = self.op;
        if matches!(how, How::Kill { .. } | How::KillHost { .. }) {
            let counts = self.h.mount_counts();
            for (name, ids) in self.counts_before.as_object().unwrap() {
                let now = &counts[name];
                for (id, n) in ids.as_object().unwrap() {
                    if !(op == Op::Unmount && id == "a" || op == Op::LastUnmount && id == "b") {
                        assert_eq!(
                            &now[id],
                            n,
                            "{} {how:?}: count of {name}/{id} after restart",
                            op.name()
                        );
                    }
                }
            }
        }
        call_ok(&self.h, op.call());
        false
    }

    fn undisturbed(&mut self, reference: &Value) -> bool {
        if end(&self.h) == *reference {
            return false;
        }
        eprintln!("answered success, end state reached at the next start");
        self.h.restart();
        true
    }

    fn end(&self, reference: &Value) -> Value {
        settled_end(&self.h, reference)
    }

    fn context(&self) -> String {
        self.h.log()
    }
}

#[test]
fn every_step_of_every_operation_killed_or_failed() {
    if !runnable() {
        return;
    }
    let node = diskless_node();
    let mut tally = faults::Tally::default();
    for op in OPS {
        let h = harness(&node);
        prepare(&h, op);
        h.sim.clear_mutations();
        h.take_host_log();
        call_ok(&h, op.call());
        let reference = end(&h);
        let steps = faults::steps(&h.sim.mutations());
        let mut host_steps: Vec<Step> = Vec::new();
        for name in h.take_host_log() {
            if !host_steps.iter().any(|s| s.path == name) {
                host_steps.push(Step {
                    method: "HOST".into(),
                    path: name,
                    nth: 1,
                });
            }
        }
        drop(h);
        let mut cases: Vec<(&'static str, How, &[Step])> = faults::CONTROLLER_HOWS
            .iter()
            .map(|(label, how)| (*label, *how, steps.as_slice()))
            .collect();
        cases.push((
            "killed before a host command",
            How::KillHost { after: false },
            &host_steps,
        ));
        cases.push((
            "killed after a host command",
            How::KillHost { after: true },
            &host_steps,
        ));
        let fresh = || {
            let h = harness(&node);
            prepare(&h, op);
            Try {
                h,
                op,
                counts_before: Value::Null,
            }
        };
        let deleting = (op == Op::Remove).then_some(VOL);
        faults::every_step(
            op.name(),
            &reference,
            &cases,
            deleting,
            BOUND * 2,
            fresh,
            &mut tally,
        );
    }
    tally.record(
        "Docker",
        |label| match label {
            l if l.contains("host command") => format!("{l} (mkfs.ext4, mount, resize2fs of Mount; umount of the last Unmount; daemon restarted)"),
            l if l.starts_with("killed") => format!("{l} (every controller step of Create, Mount, last Unmount, Remove; daemon restarted)"),
            l => format!("{l} (every controller step of Create, Mount, last Unmount, Remove)"),
        },
        |healed| match healed {
            Some(n) => format!("every volume and diskful replica; reference counts; converged every time ({n} answered success and the leftover diskless copy went at the next start)"),
            None => "every volume and diskful replica; reference counts; re-run converged every time".into(),
        },
    );
}

#[test]
fn controller_down_slow_and_failover() {
    if !runnable() {
        return;
    }
    let node = diskless_node();
    // down: Mount fails fast and clearly, Get still answers from the cache; back up, it works
    let h = harness(&node);
    call_ok(&h, Call::Create);
    call_ok(&h, Call::Mount("a"));
    call_ok(&h, Call::Unmount("a"));
    let before = h.sim.state();
    let _ = post(&h.socket(), "/VolumeDriver.List", "{}");
    h.sim.set_down(true);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let a = call(&h, Call::Mount("a"));
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let e = err_of(&a);
    assert!(
        e.contains(&h.sim.addr().to_string()) || e.to_lowercase().contains("controller"),
        "names the controller: {a:?}"
    );
    let g = post(
        &h.socket(),
        "/VolumeDriver.Get",
        &json!({"Name": VOL}).to_string(),
    )
    .unwrap();
    assert_eq!(g.body["Volume"]["Name"], VOL, "Get from the cache: {g:?}");
    assert!(h.mounted().is_empty());
    assert_eq!(h.mount_counts(), json!({}), "no count for a failed Mount");
    h.sim.set_down(false);
    std::thread::sleep(Duration::from_millis(300));
    call_ok(&h, Call::Mount("a"));
    assert_eq!(h.mount_counts(), json!({VOL: {"a": 1}}));
    assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "controller down: Mount, Get".into(),
        tries: 2,
        survived: "Mount: clear error within 15 s, no count, nothing mounted; Get from the cache; Mount after recovery".into(),
        lost: "nothing".into(),
    });
    drop(h);

    // slow (every answer 300 ms late) and the first controller of the list dead
    let reference = {
        let h = harness(&node);
        for op in OPS {
            call_ok(&h, op.call());
        }
        end(&h)
    };
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    for (case, latency, first_dead) in [
        ("every answer 300 ms late, whole lifecycle", 300, false),
        (
            "first controller of the list dead, whole lifecycle",
            0,
            true,
        ),
    ] {
        let mut h = harness(&node);
        if first_dead {
            h.controllers = format!("http://{dead_addr},{}", h.sim.url());
            h.restart();
        }
        h.sim.inject(Fault::Latency(Duration::from_millis(latency)));
        for op in OPS {
            call_ok(&h, op.call());
        }
        assert_eq!(end(&h), reference, "{case}");
        faults::record(&Row {
            frontend: "Docker".into(),
            case: case.into(),
            tries: 1,
            survived: "same end state as an undisturbed run".into(),
            lost: "nothing".into(),
        });
    }
}

#[test]
fn concurrent_calls_on_one_volume_and_on_many() {
    if !runnable() {
        return;
    }
    let node = diskless_node();
    let h = harness(&node);
    call_ok(&h, Call::Create);
    let ids: Vec<String> = (0..16).map(|i| format!("c{i}")).collect();
    for path in ["/VolumeDriver.Mount", "/VolumeDriver.Unmount"] {
        let threads: Vec<_> = ids
            .iter()
            .map(|id| {
                let sock = h.socket();
                let body = json!({"Name": VOL, "ID": id}).to_string();
                std::thread::spawn(move || post(&sock, path, &body).unwrap())
            })
            .collect();
        for t in threads {
            let a = t.join().unwrap();
            assert!(err_of(&a).is_empty(), "{path}: {a:?}");
        }
        let counts = h.mount_counts();
        if path.ends_with("Mount") && !path.ends_with("Unmount") {
            let want: serde_json::Map<String, Value> =
                ids.iter().map(|i| (i.clone(), json!(1))).collect();
            assert_eq!(counts, json!({VOL: want}), "one count per ID");
            assert_eq!(h.mounted(), [VOL], "mounted once");
        } else {
            assert_eq!(counts, json!({}));
            assert!(h.mounted().is_empty());
            let st = faults::end_state(&h.sim.state());
            assert_ne!(
                st[VOL]["resources"][&node], "diskless",
                "copy released: {st}"
            );
        }
    }
    assert_eq!(faults::diskful(&h.sim.state()).len(), 2);
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "16 concurrent Mount (16 IDs), then 16 concurrent Unmount of one volume".into(),
        tries: 32,
        survived: "one mount, exact counts, then none; diskless copy released; two disks".into(),
        lost: "nothing".into(),
    });
    drop(h);

    let h = harness(&node);
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let sock = h.socket();
            let body = json!({"Name": format!("v{i}"), "Opts": {"size": "16M"}}).to_string();
            std::thread::spawn(move || post(&sock, "/VolumeDriver.Create", &body).unwrap())
        })
        .collect();
    for t in threads {
        let a = t.join().unwrap();
        assert!(err_of(&a).is_empty(), "{a:?}");
    }
    let st = h.sim.state();
    let rds = st["resource_definitions"].as_object().unwrap();
    assert_eq!(rds.len(), 50);
    for i in 0..50 {
        assert_eq!(
            rds[&format!("v{i}")]["props"]["Aux/is-linstor-docker-volume"],
            "true"
        );
    }
    assert_eq!(faults::diskful(&st).len(), 100, "two disks each");
    let l = post(&h.socket(), "/VolumeDriver.List", "{}").unwrap();
    assert_eq!(l.body["Volumes"].as_array().unwrap().len(), 50);
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "50 concurrent Create".into(),
        tries: 50,
        survived: "50 volumes, two disks each, all listed".into(),
        lost: "nothing".into(),
    });
}

#[test]
fn mount_racing_the_start_up_reconciliation() {
    if !runnable() {
        return;
    }
    let node = diskless_node();
    let reference = {
        let h = harness(&node);
        call_ok(&h, Call::Create);
        call_ok(&h, Call::Mount("a"));
        end(&h)
    };
    const TRIES: u64 = 5;
    for _ in 0..TRIES {
        let mut h = harness(&node);
        call_ok(&h, Call::Create);
        std::fs::write(h.shim().join("pause"), "after mount").unwrap();
        let sock = h.socket();
        let (path, body) = Call::Mount("a").request();
        let t = std::thread::spawn(move || post(&sock, path, &body));
        let hit = h.shim().join("hit");
        let start = Instant::now();
        let pid = loop {
            if let Some(p) = std::fs::read_to_string(&hit)
                .ok()
                .filter(|p| !p.trim().is_empty())
            {
                break p;
            }
            assert!(start.elapsed() < BOUND, "mount never ran");
            std::thread::sleep(Duration::from_millis(5));
        };
        h.kill();
        let _ = Command::new("kill").arg("-9").arg(pid.trim()).status();
        let _ = std::fs::remove_file(h.shim().join("pause"));
        assert!(t.join().unwrap().is_err());
        assert_eq!(h.mounted(), [VOL], "mounted but not recorded");
        h.start_settled(false);
        call_ok(&h, Call::Mount("a"));
        assert_eq!(settled_end(&h, &reference), reference, "{}", h.log());
    }
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "killed after mount(8), Mount retried the moment the daemon is back (races the start-up reconciliation)".into(),
        tries: TRIES,
        survived: "one mount, count {a: 1}, same end state".into(),
        lost: "nothing".into(),
    });
}

/// `log` without its ANSI colour sequences.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A node that holds a disk of the volume (the same placement in every fresh simulator).
fn diskful_node() -> String {
    let h = harness("n1");
    call_ok(&h, Call::Create);
    faults::diskful(&h.sim.state())
        .into_iter()
        .find(|(rd, _)| rd == VOL)
        .map(|(_, n)| n)
        .unwrap()
}

/// Every controller hung or blackholed, on a node that holds the volume (disk, or a diskless
/// copy a Mount made): Mount, Path, Get, List and Unmount answer within 3 s, the detach of the
/// last Unmount is deferred to the next start; Create and Remove fail with one message naming
/// the controller, far inside dockerd's limits. Once the first call found the controller
/// silent, the daemon knows it: the next Mount, Get and last Unmounts go on after the short
/// grace (`known_silent=true` in the log). Once the controller is back, the restart finishes
/// the deferred detach and the end state is an undisturbed run's.
#[test]
fn every_controller_silent_the_data_plane_answers_within_3_s() {
    if !runnable() {
        return;
    }
    let data_plane = Duration::from_secs(3);
    let mut worst = faults::Worst::default();
    let mut tries = 0;
    for (role, node) in [("disk", diskful_node()), ("diskless", diskless_node())] {
        let reference = {
            let h = harness(&node);
            call_ok(&h, Call::Create);
            call_ok(&h, Call::Mount("a"));
            call_ok(&h, Call::Unmount("a"));
            end(&h)
        };
        for (what, fault) in faults::silent_controllers() {
            let mut h = harness(&node);
            call_ok(&h, Call::Create);
            call_ok(&h, Call::Mount("a"));
            let _ = post(&h.socket(), "/VolumeDriver.List", "{}");
            let before = h.sim.state();
            h.sim.inject(fault);
            if what == "blackholed" {
                h.restart();
            }
            let name = json!({"Name": VOL}).to_string();
            let with_id = |id: &str| json!({"Name": VOL, "ID": id}).to_string();
            let data_calls = [
                ("Mount", "/VolumeDriver.Mount", with_id("b")),
                ("Path", "/VolumeDriver.Path", name.clone()),
                ("Get", "/VolumeDriver.Get", name.clone()),
                ("List", "/VolumeDriver.List", "{}".to_string()),
                ("Unmount", "/VolumeDriver.Unmount", with_id("a")),
                ("Unmount", "/VolumeDriver.Unmount", with_id("b")),
                ("Mount", "/VolumeDriver.Mount", with_id("c")),
                ("Get", "/VolumeDriver.Get", name.clone()),
                ("Unmount", "/VolumeDriver.Unmount", with_id("c")),
            ];
            let mut found_silent = false;
            let mut knew_silent = 0;
            for (call, path, body) in &data_calls {
                let logged = h.log().len();
                let t = Instant::now();
                let a = post(&h.socket(), path, body).unwrap();
                let took = t.elapsed();
                assert!(
                    a.status == 200 && err_of(&a).is_empty(),
                    "{role} node, controller {what}: {call} {body}: {a:?}\n{}",
                    h.log()
                );
                let log = plain(&h.log()[logged..]);
                let without = log.contains("no answer from LINSTOR controller")
                    || log.contains("no controller answered");
                let key = if without && !found_silent {
                    format!("{call} (first call)")
                } else {
                    call.to_string()
                };
                if without && found_silent {
                    assert!(
                        log.contains("known_silent=true"),
                        "{role} node, controller {what}: {call} {body} knew the controller silent\n{log}"
                    );
                    knew_silent += 1;
                }
                found_silent |= without;
                let w = worst.0.entry(key).or_default();
                *w = (*w).max(took);
                assert!(
                    took < data_plane,
                    "{role} node, controller {what}: {call} took {took:?}"
                );
                match *call {
                    "Get" => assert_eq!(a.body["Volume"]["Name"], VOL, "{a:?}"),
                    "List" => assert!(
                        a.body["Volumes"]
                            .as_array()
                            .is_some_and(|v| v.iter().any(|x| x["Name"] == VOL)),
                        "{a:?}"
                    ),
                    _ => {}
                }
                tries += 1;
            }
            assert!(
                knew_silent >= 3,
                "{role} node, controller {what}: {knew_silent} calls after the first went on knowing the controller silent\n{}",
                h.log()
            );
            assert!(h.mounted().is_empty(), "{:?}", h.mounted());
            let control_calls = [
                (
                    "Create",
                    "/VolumeDriver.Create",
                    json!({"Name": "other", "Opts": {"size": "64M"}}).to_string(),
                ),
                ("Remove", "/VolumeDriver.Remove", name.clone()),
            ];
            for (call, path, body) in control_calls.iter().filter(|_| role == "diskless") {
                let (a, took) = worst.time(call, || post(&h.socket(), path, body).unwrap());
                let e = err_of(&a);
                assert!(
                    e.contains(&h.sim.addr().to_string()) && e.contains("no answer"),
                    "{role} node, controller {what}: {call}: one message naming the controller: {a:?}"
                );
                assert!(
                    took < Duration::from_secs(100),
                    "{role} node, controller {what}: {call} took {took:?}, near dockerd's 2 minutes"
                );
                tries += 1;
            }
            h.sim.clear_faults();
            assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
            h.restart();
            assert_eq!(
                settled_end(&h, &reference),
                reference,
                "{role} node, controller {what}: the deferred detach is done at the next start\n{}",
                h.log()
            );
            call_ok(&h, Call::Remove);
            assert_eq!(
                faults::end_state(&h.sim.state()),
                json!({}),
                "Remove leaves nothing behind"
            );
        }
    }
    println!("worst times, every controller silent: {}", worst.summary());
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "every controller hung or blackholed, volume on this node (disk, diskless copy): Mount, Path, Get, List, Unmount; Create, Remove".into(),
        tries,
        survived: format!(
            "data plane within 3 s, after the first call without waiting the budget (controller known silent), last Unmount's detach deferred and done at the next start; Create/Remove one error naming the controller; worst: {}",
            worst.summary()
        ),
        lost: "nothing".into(),
    });
}

/// Satellites offline, with the simulator behaving as LINSTOR does: Create with a node
/// offline places on the online ones; Mount on a node whose satellite is offline stops with
/// one clear error and leaves nothing mounted; Unmount and Remove while a peer is offline
/// succeed, LINSTOR finishing the deletion once the peer is back; nothing is lost.
#[test]
fn satellite_offline_create_mount_unmount_remove() {
    if !runnable() {
        return;
    }
    let mut h = harness("n1");
    let off = "n2".to_string();
    assert!(h.sim.set_node_online(&off, false));
    call_ok(&h, Call::Create);
    let disks: Vec<String> = faults::diskful(&h.sim.state())
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(disks.len(), 2, "{disks:?}");
    assert!(
        h.rds_resources(&off).is_empty() && !disks.contains(&off),
        "placed on online nodes only: {disks:?}"
    );
    assert!(h.sim.set_node_online(&off, true));
    let before = h.sim.state();
    let node = off.clone();
    h.node = node.clone();
    h.restart();

    assert!(h.sim.set_node_online(&node, false));
    let a = call(&h, Call::Mount("a"));
    let e = err_of(&a);
    println!("Mount with this node's satellite offline: {e}");
    assert!(
        !e.is_empty() && e.contains(&node),
        "one clear error naming the node: {a:?}\n{}\n{}",
        h.log(),
        h.sim.state()["resource_definitions"][VOL]
    );
    assert!(h.mounted().is_empty());
    assert_eq!(h.mount_counts(), json!({}), "no count for a failed Mount");
    assert!(h.sim.set_node_online(&node, true));

    call_ok(&h, Call::Mount("a"));
    let peer = &disks[0];
    assert!(h.sim.set_node_online(peer, false));
    call_ok(&h, Call::Unmount("a"));
    assert!(h.mounted().is_empty());
    let here = h.rds_resources(&node);
    assert!(
        here.is_empty() || here.iter().any(|f| f == "DELETE"),
        "this node's diskless copy is gone or being deleted: {here:?}"
    );
    assert!(faults::lost(&before, &h.sim.state(), None).is_empty());

    call_ok(&h, Call::Remove);
    assert!(h.sim.set_node_online(peer, true));
    let t = Instant::now();
    while faults::end_state(&h.sim.state()) != json!({}) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "deletion finished once the peer is back: {}",
            faults::end_state(&h.sim.state())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let l = post(&h.socket(), "/VolumeDriver.List", "{}").unwrap();
    assert!(
        !l.body["Volumes"]
            .as_array()
            .is_some_and(|v| v.iter().any(|x| x["Name"] == VOL)),
        "{l:?}"
    );
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "satellite offline: Create with a node offline, Mount on an offline node, Unmount and Remove with a peer offline".into(),
        tries: 4,
        survived: "placed on online nodes; Mount one error naming the node, nothing mounted; Unmount and Remove succeeded, deletion finished when the peer came back".into(),
        lost: "nothing".into(),
    });
}

/// A volume Primary on another node (DRBD's one-Primary rule, enforced by the simulator):
/// Mount here is refused naming that node, nothing is mounted, and once it lets go the Mount
/// works.
#[test]
fn mount_while_primary_elsewhere_is_refused_naming_the_node() {
    if !runnable() {
        return;
    }
    let node = diskless_node();
    let h = harness(&node);
    call_ok(&h, Call::Create);
    let holder = faults::diskful(&h.sim.state())
        .into_iter()
        .map(|(_, n)| n)
        .next()
        .unwrap();
    assert!(h.sim.set_in_use(VOL, &holder, true));
    let a = call(&h, Call::Mount("a"));
    let e = err_of(&a);
    assert!(e.contains(&format!("in use on node {holder}")), "{a:?}");
    assert!(h.mounted().is_empty());
    assert_eq!(h.mount_counts(), json!({}));
    assert!(h.sim.set_in_use(VOL, &holder, false));
    call_ok(&h, Call::Mount("a"));
    assert_eq!(h.mount_counts(), json!({VOL: {"a": 1}}));
    faults::record(&Row {
        frontend: "Docker".into(),
        case: "Mount while the volume is Primary on another node (one-Primary rule enforced)"
            .into(),
        tries: 2,
        survived: "refused naming the node, nothing mounted; Mount once it let go".into(),
        lost: "nothing".into(),
    });
}
