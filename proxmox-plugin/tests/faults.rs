//! Fault suite of the Proxmox helper: the real `linstor-pve` binary fed the JSON document the
//! Perl module sends, through create (`alloc_image`), attach (`activate_volume`), live
//! migration (`activate_volume` on the target in `migration` mode, `deactivate_volume` on the
//! source), detach (`deactivate_volume`) and delete (`free_image`), with the helper killed at
//! every controller step (before and after the controller carried it out), the step answered
//! with a 500 or with garbage, the controller down, slow, or first in the list dead, and with
//! many concurrent calls. Every case asserts a bounded time, a clear error where it fails, no
//! diskful replica or volume lost, and that re-running converges to the end state of an
//! undisturbed run. Counts go to the reliability summary.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use linstor_common::client::silent::FILE_NAME;
use linstor_tests::faults::{self, How, Kill, Row, Step};
use linstor_tests::sim::{Backing, BlockingSim, Fault, Sim, SimConfig};
use serde_json::{json, Value};
use support::helper;

const VOL: &str = "pm-1234abcd_100";
const RD: &str = "pm-1234abcd";
const BOUND: Duration = Duration::from_secs(60);

struct H {
    sim: BlockingSim,
    tmp: tempfile::TempDir,
    controllers: String,
    /// Nodes without a disk of the volume once created: attach there, migrate to the second.
    free: Vec<String>,
    /// The storage's `allowtwoprimaries` option.
    two_primaries: &'static str,
}

fn harness() -> H {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig {
        nodes: ["n1", "n2", "n3", "n4"].map(String::from).to_vec(),
        backing: Backing::File,
        data_dir: Some(tmp.path().join("sim")),
        clone_delay: Duration::from_millis(20),
        ..Default::default()
    })
    .unwrap();
    let controllers = sim.url();
    H {
        sim,
        tmp,
        controllers,
        free: vec![],
        two_primaries: "migration",
    }
}

#[derive(Debug, Clone)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl H {
    fn input(&self, node: &str, args: Value, timeout: u64) -> String {
        json!({
            "storeid": "drbd1",
            "scfg": {"controller": self.controllers, "resourcegroup": "DfltRscGrp", "allowtwoprimaries": self.two_primaries},
            "node": node,
            "dev_root": self.sim.dev_root(node),
            "timeout": timeout,
            "args": args,
        })
        .to_string()
    }

    fn spawn(&self, method: &str, input: String) -> Child {
        let mut c = helper(
            method,
            &self.tmp.path().join("cache"),
            &self.tmp.path().join("no-auth.json"),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut si = c.stdin.take().unwrap();
        std::thread::spawn(move || {
            let _ = si.write_all(input.as_bytes());
        });
        c
    }

    fn call(&self, c: &Call) -> Out {
        let (method, input) = self.request(c);
        let out = self.spawn(method, input).wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn request(&self, c: &Call) -> (&'static str, String) {
        let node = |i: &Where| match i {
            Where::Disk => "n1".to_string(),
            Where::Free(k) => self.free[*k].clone(),
        };
        match c {
            Call::Alloc => (
                "alloc_image",
                self.input(
                    "n1",
                    json!({"vmid": "100", "fmt": "raw", "name": VOL, "size_kib": "8192"}),
                    30,
                ),
            ),
            Call::Activate(w) => (
                "activate_volume",
                self.input(&node(w), json!({"volname": VOL, "snap": null}), 30),
            ),
            Call::Deactivate(w) => (
                "deactivate_volume",
                self.input(&node(w), json!({"volname": VOL, "snap": null}), 30),
            ),
            Call::Free => ("free_image", self.input("n1", json!({"volname": VOL}), 30)),
            Call::InUse(..) => unreachable!("not a helper call"),
        }
    }

    /// Runs a call (helper or simulator switch); the helper's answer for helper calls.
    fn exec(&self, c: &Call) -> Option<Out> {
        if let Call::InUse(w, u) = c {
            let n = match w {
                Where::Disk => "n1".to_string(),
                Where::Free(k) => self.free[*k].clone(),
            };
            self.sim.set_in_use(RD, &n, *u);
            return None;
        }
        Some(self.call(c))
    }

    fn run_ok(&self, calls: &[Call]) {
        for c in calls {
            if let Some(r) = self.exec(c) {
                assert_eq!(r.code, 0, "{c:?}: {r:?}");
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Where {
    Disk,
    Free(usize),
}

#[derive(Debug, Clone, Copy)]
enum Call {
    Alloc,
    Activate(Where),
    Deactivate(Where),
    Free,
    InUse(Where, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Attach,
    Migrate,
    Detach,
    Delete,
}

const OPS: [Op; 5] = [Op::Create, Op::Attach, Op::Migrate, Op::Detach, Op::Delete];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create (alloc_image)",
            Op::Attach => "attach (activate_volume, diskless)",
            Op::Migrate => "migrate (activate on target, deactivate on source)",
            Op::Detach => "detach (deactivate_volume)",
            Op::Delete => "delete (free_image)",
        }
    }

    fn calls(self) -> Vec<Call> {
        match self {
            Op::Create => vec![Call::Alloc],
            Op::Attach => vec![Call::Activate(Where::Free(0))],
            Op::Migrate => vec![
                Call::InUse(Where::Free(0), true),
                Call::Activate(Where::Free(1)),
                Call::InUse(Where::Free(1), true),
                Call::InUse(Where::Free(0), false),
                Call::Deactivate(Where::Free(0)),
                Call::InUse(Where::Free(1), false),
            ],
            Op::Detach => vec![Call::Deactivate(Where::Free(1))],
            Op::Delete => vec![Call::Free],
        }
    }
}

/// Runs the operations before `op`; learns which nodes hold no disk.
fn prepare(h: &mut H, op: Op) {
    for before in OPS.iter().take_while(|o| **o != op) {
        h.run_ok(&before.calls());
        if *before == Op::Create {
            let disks = faults::diskful(&h.sim.state());
            h.free = ["n1", "n2", "n3", "n4"]
                .iter()
                .filter(|n| !disks.contains(&(RD.to_string(), n.to_string())))
                .map(|n| n.to_string())
                .collect();
            assert_eq!(h.free.len(), 2, "two replicas: {disks:?}");
        }
    }
}

fn end(h: &H) -> Value {
    faults::end_state(&h.sim.state())
}

fn assert_clear_error(method: &str, r: &Out) {
    assert!(!r.stderr.contains("panicked"), "{r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim())
        .unwrap_or_else(|e| panic!("{method}: the answer is JSON ({e}): {r:?}"));
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.len() > 10, "{method}: an error message: {r:?}");
    assert!(
        r.stderr.contains(msg),
        "{method}: the message is on stderr too: {r:?}"
    );
}

fn disturbed_run(h: &H, calls: &[Call], step: &Step, how: How) -> Option<usize> {
    faults::disturb(&h.sim, step, how);
    for (i, c) in calls.iter().enumerate() {
        if matches!(c, Call::InUse(..)) {
            h.exec(c);
            continue;
        }
        match how {
            How::Kill { .. } => {
                let (method, input) = h.request(c);
                let mut child = h.spawn(method, input);
                if faults::kill_when_held(&h.sim, &mut child, BOUND) == Kill::AtStep {
                    return Some(i);
                }
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "{c:?} before the step: {out:?}");
            }
            How::Fail(_) | How::KillHost { .. } => {
                let t = Instant::now();
                let r = h.call(c);
                assert!(t.elapsed() < BOUND, "{c:?} took {:?}", t.elapsed());
                if r.code != 0 {
                    assert_clear_error(h.request(c).0, &r);
                    return Some(i);
                }
            }
        }
    }
    h.sim.clear_faults();
    assert!(
        matches!(how, How::Fail(_)),
        "{step} was never reached: the operation is not deterministic"
    );
    None
}

/// Re-runs the calls from the disturbed one. A re-run `alloc_image` of a name that the
/// interrupted run already created answers "already exists" (PVE then picks another name);
/// the volume is there either way, which the end-state comparison checks.
/// True when a re-run `alloc_image` answered "already exists".
fn rerun(h: &H, calls: &[Call]) -> bool {
    let mut exists = false;
    for c in calls {
        let Some(r) = h.exec(c) else { continue };
        if r.code != 0 && matches!(c, Call::Alloc) && r.stdout.contains("already exists") {
            eprintln!("re-run alloc_image: {}", r.stderr.trim());
            exists = true;
            continue;
        }
        assert_eq!(r.code, 0, "re-run {c:?}: {r:?}");
    }
    exists
}

/// One try: a fresh harness prepared for `op` and the calls of `op`.
struct Try {
    h: H,
    calls: Vec<Call>,
}

impl faults::Trial for Try {
    fn sim(&self) -> &Sim {
        &self.h.sim
    }

    fn disturbed(&mut self, step: &Step, how: How) -> Option<usize> {
        disturbed_run(&self.h, &self.calls, step, how)
    }

    fn rerun(&mut self, from: usize, _how: How) -> bool {
        rerun(&self.h, &self.calls[from..])
    }

    fn end(&self, _reference: &Value) -> Value {
        end(&self.h)
    }
}

#[test]
fn every_step_of_every_operation_killed_or_failed() {
    let mut tally = faults::Tally::default();
    for op in OPS {
        let mut h = harness();
        prepare(&mut h, op);
        h.sim.clear_mutations();
        h.run_ok(&op.calls());
        let reference = end(&h);
        let steps = faults::steps(&h.sim.mutations());
        assert!(!steps.is_empty(), "{} sends no change", op.name());
        drop(h);
        let cases = faults::CONTROLLER_HOWS.map(|(label, how)| (label, how, steps.as_slice()));
        let fresh = || {
            let mut h = harness();
            prepare(&mut h, op);
            Try {
                h,
                calls: op.calls(),
            }
        };
        let deleting = (op == Op::Delete).then_some(RD);
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
        "Proxmox VE",
        |label| format!("{label} (every step of alloc, activate, migration activate/deactivate, deactivate, free)"),
        |exists| match exists {
            Some(n) => format!("every volume and diskful replica; re-run converged every time ({n} re-run alloc_image answered 'already exists' for the volume the interrupted run had completed)"),
            None => "every volume and diskful replica; re-run converged every time".into(),
        },
    );
}

#[test]
fn controller_down_slow_and_failover() {
    // down: alloc fails fast and clearly; status serves the cache; an existing local volume
    // activates; deactivation leaves the copy with a warning
    let mut h = harness();
    prepare(&mut h, Op::Attach);
    let status = h.call_method("status", h.input("n1", json!({}), 10));
    assert_eq!(status.code, 0, "{status:?}");
    let before = h.sim.state();
    h.sim.set_down(true);
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = h.call_method(
        "alloc_image",
        h.input(
            "n1",
            json!({"vmid": "101", "fmt": "raw", "name": "pm-0000beef_101", "size_kib": "8192"}),
            30,
        ),
    );
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_ne!(r.code, 0);
    assert_clear_error("alloc_image", &r);
    assert!(
        r.stdout.contains(&h.sim.addr().to_string()),
        "names the controller: {r:?}"
    );
    let t = Instant::now();
    let s = h.call_method("status", h.input("n1", json!({}), 10));
    assert_eq!(s.code, 0, "status from the cache: {s:?}");
    assert_eq!(
        serde_json::from_str::<Value>(&s.stdout).unwrap()["total"],
        serde_json::from_str::<Value>(&status.stdout).unwrap()["total"]
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "status {:?}",
        t.elapsed()
    );
    let a = h.call(&Call::Activate(Where::Disk));
    assert_eq!(a.code, 0, "activate of a local disk while down: {a:?}");
    let path: Value = serde_json::from_str(&a.stdout).unwrap();
    assert!(PathBuf::from(path["path"].as_str().unwrap()).exists());
    h.sim.set_down(false);
    std::thread::sleep(Duration::from_millis(300));
    assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "controller down: alloc_image, status, activate of a local disk".into(),
        tries: 3,
        survived: "alloc: clear error naming the controller within 15 s; status from the cache; local activate worked".into(),
        lost: "nothing".into(),
    });

    // slow beyond the helper's budget: a clear deadline error, then converges once fast again
    let mut h = harness();
    prepare(&mut h, Op::Create);
    h.sim.inject(Fault::Latency(Duration::from_secs(4)));
    let t = Instant::now();
    let r = h.call_method(
        "alloc_image",
        h.input(
            "n1",
            json!({"vmid": "100", "fmt": "raw", "name": VOL, "size_kib": "8192"}),
            3,
        ),
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_ne!(r.code, 0, "{r:?}");
    assert_clear_error("alloc_image", &r);
    h.sim.clear_faults();
    std::thread::sleep(Duration::from_secs(2));
    let reference = {
        let mut h = harness();
        prepare(&mut h, Op::Attach);
        end(&h)
    };
    let _ = rerun(&h, &[Call::Alloc]);
    assert_eq!(end(&h), reference, "slow alloc then re-run");

    // slow but within the budget; and the first controller of the list dead
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let full = {
        let mut h = harness();
        prepare(&mut h, Op::Delete);
        end(&h)
    };
    for (case, latency, first_dead) in [
        ("every answer 300 ms late, whole lifecycle", 300, false),
        (
            "first controller of the list dead, whole lifecycle",
            0,
            true,
        ),
    ] {
        let mut h = harness();
        if first_dead {
            h.controllers = format!("http://{dead_addr},{}", h.sim.url());
        }
        h.sim.inject(Fault::Latency(Duration::from_millis(latency)));
        prepare(&mut h, Op::Delete);
        assert_eq!(end(&h), full, "{case}");
        faults::record(&Row {
            frontend: "Proxmox VE".into(),
            case: case.into(),
            tries: 1,
            survived: "same end state as an undisturbed run".into(),
            lost: "nothing".into(),
        });
    }
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "every answer 4 s late, alloc_image with a 3 s budget".into(),
        tries: 1,
        survived: "clear deadline error within 10 s; re-run converged".into(),
        lost: "nothing".into(),
    });
}

impl H {
    fn call_method(&self, method: &str, input: String) -> Out {
        let out = self.spawn(method, input).wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[test]
fn concurrent_calls_on_one_volume_and_on_many() {
    let mut h = harness();
    prepare(&mut h, Op::Attach);
    let node = h.free[0].clone();
    for round in 0..2 {
        let method = if round == 0 {
            "activate_volume"
        } else {
            "deactivate_volume"
        };
        let children: Vec<Child> = (0..16)
            .map(|_| {
                h.spawn(
                    method,
                    h.input(&node, json!({"volname": VOL, "snap": null}), 30),
                )
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{method}: {out:?}");
        }
        let end = end(&h);
        assert_eq!(
            end[RD]["resources"][&node] == "diskless",
            round == 0,
            "{method} x16: {end}"
        );
        assert_eq!(faults::diskful(&h.sim.state()).len(), 2);
    }
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "16 concurrent activate, then 16 concurrent deactivate of one volume on one node"
            .into(),
        tries: 32,
        survived: "all succeeded; one diskless copy, then none; two disks".into(),
        lost: "nothing".into(),
    });

    let h = harness();
    let children: Vec<Child> = (0..50)
        .map(|i| {
            let name = format!("pm-{:08x}_{}", 0x1000 + i, 200 + i);
            h.spawn(
                "alloc_image",
                h.input(
                    "n1",
                    json!({"vmid": (200 + i).to_string(), "fmt": "raw", "name": name, "size_kib": "4096"}),
                    30,
                ),
            )
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let st = h.sim.state();
    let rds = st["resource_definitions"].as_object().unwrap();
    assert_eq!(rds.len(), 50);
    for i in 0..50 {
        let rd = &rds[&format!("pm-{:08x}", 0x1000 + i)];
        assert_eq!(rd["props"]["Aux/pm/vmid"], (200 + i).to_string());
    }
    assert_eq!(faults::diskful(&st).len(), 100, "two disks each");
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "50 concurrent alloc_image".into(),
        tries: 50,
        survived: "50 volumes, two disks each, owner props exact".into(),
        lost: "nothing".into(),
    });
}

/// Every controller hung or blackholed: activate_volume and map_volume of a volume this node
/// holds (disk, or the diskless copy of an earlier activation) and status answer within 3 s;
/// alloc_image fails with one message naming the controller within its bound. The first call
/// finds the controller silent and the next helper processes know it from the cache dir, so
/// they go on after the short grace (their log says `known_silent=true`); a corrupt memory file
/// is ignored with a log line.
#[test]
fn every_controller_silent_local_volumes_activate_within_3_s() {
    let mut worst = faults::Worst::default();
    let mut tries = 0;
    for (what, fault) in faults::silent_controllers() {
        let mut h = harness();
        prepare(&mut h, Op::Migrate);
        let status = h.call_method("status", h.input("n1", json!({}), 10));
        assert_eq!(status.code, 0, "{status:?}");
        let before = h.sim.state();
        h.sim.inject(fault);
        let disk = "n1".to_string();
        let diskless = h.free[0].clone();
        for (i, (method, node)) in [
            ("activate_volume", &disk),
            ("map_volume", &disk),
            ("activate_volume", &diskless),
            ("map_volume", &diskless),
            ("status", &disk),
        ]
        .into_iter()
        .enumerate()
        {
            let args = if method == "status" {
                json!({})
            } else {
                json!({"volname": VOL, "snap": null})
            };
            let key = match i {
                0 => format!("{method} (first call)"),
                _ => method.to_string(),
            };
            let (r, took) = worst.time(&key, || h.call_method(method, h.input(node, args, 30)));
            assert_eq!(r.code, 0, "controller {what}: {method} on {node}: {r:?}");
            if i > 0 && method != "status" {
                assert!(
                    r.stderr.contains("known_silent=true"),
                    "controller {what}: {method} on {node} knew the controller silent from the previous process: {r:?}"
                );
            }
            assert!(
                took < Duration::from_secs(3),
                "controller {what}: {method} on {node} took {took:?}"
            );
            if method != "status" {
                let path: Value = serde_json::from_str(&r.stdout).unwrap();
                assert!(
                    PathBuf::from(path["path"].as_str().unwrap()).exists(),
                    "{r:?}"
                );
            }
            tries += 1;
        }
        let (r, took) = worst.time("alloc_image", || {
            h.call_method(
                "alloc_image",
                h.input(
                    "n1",
                    json!({"vmid": "101", "fmt": "raw", "name": "pm-0000beef_101", "size_kib": "8192"}),
                    30,
                ),
            )
        });
        assert_ne!(r.code, 0, "{r:?}");
        assert_clear_error("alloc_image", &r);
        assert!(
            r.stdout.contains(&h.sim.addr().to_string()),
            "names the controller: {r:?}"
        );
        assert!(
            took < Duration::from_secs(30),
            "alloc_image took {took:?}, past the Perl side's 30 s"
        );
        tries += 1;
        let memory = h.tmp.path().join("cache").join(FILE_NAME);
        assert!(memory.exists(), "{} written", memory.display());
        std::fs::write(&memory, "{not json").unwrap();
        let r = h.call_method(
            "activate_volume",
            h.input(&disk, json!({"volname": VOL, "snap": null}), 30),
        );
        assert_eq!(r.code, 0, "controller {what}: corrupt memory: {r:?}");
        assert!(
            r.stderr.contains("ignoring the known-silent controllers")
                && !r.stderr.contains("known_silent=true"),
            "controller {what}: the corrupt file is ignored with a log line: {r:?}"
        );
        tries += 1;
        h.sim.clear_faults();
        assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
    }
    println!("worst times, every controller silent: {}", worst.summary());
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "every controller hung or blackholed: activate_volume, map_volume (disk, diskless copy), status; alloc_image".into(),
        tries,
        survived: format!(
            "local volumes active within 3 s, after the first call without waiting the budget (controller known silent across processes; a corrupt memory file ignored), status from the cache; alloc_image one error naming the controller; worst: {}",
            worst.summary()
        ),
        lost: "nothing".into(),
    });
}

/// Live migration against DRBD's one-Primary rule (the simulator refuses a second Primary
/// unless allow-two-primaries is set): in `migration` mode the target may only become Primary
/// once its activation allowed it, and the rule is back after the source's deactivation; in
/// `yes` mode both may always be Primary.
#[test]
fn live_migration_against_the_one_primary_rule() {
    let mut tries = 0;
    for mode in ["migration", "yes"] {
        let mut h = harness();
        h.two_primaries = mode;
        prepare(&mut h, Op::Migrate);
        let (source, target) = (h.free[0].clone(), h.free[1].clone());
        assert!(
            h.sim.set_in_use(RD, &source, true),
            "{mode}: source Primary"
        );
        h.run_ok(&[Call::Activate(Where::Free(1))]);
        assert!(
            h.sim.set_in_use(RD, &target, true),
            "{mode}: the target becomes Primary during the migration"
        );
        assert!(h.sim.set_in_use(RD, &source, false));
        h.run_ok(&[Call::Deactivate(Where::Free(0))]);
        let again = h.sim.set_in_use(RD, "n1", true);
        assert_eq!(
            again,
            mode == "yes",
            "{mode}: a second Primary after the migration is {}",
            if mode == "yes" { "allowed" } else { "refused" }
        );
        h.sim.set_in_use(RD, "n1", false);
        h.sim.set_in_use(RD, &target, false);
        tries += 1;
    }
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "live migration with DRBD's one-Primary rule enforced (allowtwoprimaries migration, yes)".into(),
        tries,
        survived: "target Primary while the source still is; after the source's deactivation a second Primary is refused again (migration) or still allowed (yes)".into(),
        lost: "nothing".into(),
    });
}

/// Satellites offline, as LINSTOR behaves: alloc_image with a node offline places on the online
/// ones; activate_volume on a node whose satellite is offline stops with one clear error naming
/// it; deactivate_volume and free_image while a peer is offline succeed, LINSTOR finishing the
/// deletion once the peer is back; nothing is lost.
#[test]
fn satellite_offline_alloc_activate_deactivate_free() {
    let mut h = harness();
    assert!(h.sim.set_node_online("n4", false));
    prepare(&mut h, Op::Attach);
    let disks = faults::diskful(&h.sim.state());
    assert!(
        !disks.iter().any(|(_, n)| n == "n4"),
        "placed on online nodes only: {disks:?}"
    );
    let before = h.sim.state();
    let r = h.call_method(
        "activate_volume",
        h.input("n4", json!({"volname": VOL, "snap": null}), 30),
    );
    assert_ne!(r.code, 0, "{r:?}");
    assert_clear_error("activate_volume", &r);
    assert!(
        r.stdout.contains("'n4'") && r.stdout.contains("offline"),
        "names the offline node: {r:?}"
    );
    assert!(h.sim.set_node_online("n4", true));
    assert!(faults::lost(&before, &h.sim.state(), None).is_empty());

    h.run_ok(&[Call::Activate(Where::Free(0))]);
    let peer = disks
        .iter()
        .map(|(_, n)| n.clone())
        .find(|n| n != "n1")
        .unwrap();
    assert!(h.sim.set_node_online(&peer, false));
    h.run_ok(&[Call::Deactivate(Where::Free(0)), Call::Free]);
    assert!(h.sim.set_node_online(&peer, true));
    let t = Instant::now();
    while end(&h) != json!({}) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "deletion finished once the peer is back: {}",
            end(&h)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    faults::record(&Row {
        frontend: "Proxmox VE".into(),
        case: "satellite offline: alloc_image with a node offline, activate_volume on an offline node, deactivate_volume and free_image with a peer offline".into(),
        tries: 4,
        survived: "placed on online nodes; activate one error naming the node; deactivate and free succeeded, deletion finished when the peer came back".into(),
        lost: "nothing".into(),
    });
}
