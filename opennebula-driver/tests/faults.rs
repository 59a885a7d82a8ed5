//! Fault suite of the OpenNebula driver: the real `linstor-one` binary driven as oned does
//! (argv and base64 XML on stdin) through create (`mkfs`), attach (`ln`), live migration
//! (`premigrate` + `postmigrate`), detach (`mvds`) and delete (`rm`), with the process killed
//! at every controller step (before and after the controller carried it out), the step
//! answered with a 500 or with garbage, the controller down, slow, or first in the list dead,
//! and with many concurrent calls. Every case asserts a bounded time, a clear error where it
//! fails, no diskful replica or volume lost, and that re-running converges to the end state
//! of an undisturbed run. Counts go to the reliability summary.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use linstor_common::client::silent::FILE_NAME;
use linstor_tests::faults::{self, How, Kill, Row, Step};
use linstor_tests::sim::Fault;
use serde_json::{json, Value};
use support::*;

const DIR: &str = "/var/lib/one//datastores/0/31";
const IMG: &str = "one-image-8";
const DEV: &str = "/dev/drbd/by-res/one-image-8/0";
const BOUND: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
enum Call {
    Run {
        kind: &'static str,
        action: &'static str,
        args: Vec<String>,
        stdin: String,
    },
    InUse(&'static str, bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Import,
    Create,
    Clone,
    Attach,
    Migrate,
    Detach,
    DeleteClone,
    Delete,
}

const OPS: [Op; 8] = [
    Op::Import,
    Op::Create,
    Op::Clone,
    Op::Attach,
    Op::Migrate,
    Op::Detach,
    Op::DeleteClone,
    Op::Delete,
];
const CLONE_DIR: &str = "/var/lib/one//datastores/0/32";

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Import => "import (ds cp)",
            Op::Create => "create (ds mkfs)",
            Op::Clone => "create (tm clone)",
            Op::DeleteClone => "delete (tm delete)",
            Op::Attach => "attach (tm ln)",
            Op::Migrate => "migrate (premigrate+postmigrate)",
            Op::Detach => "detach (tm mvds)",
            Op::Delete => "delete (ds rm)",
        }
    }

    fn deleting(self) -> Option<&'static str> {
        match self {
            Op::Delete => Some(IMG),
            Op::DeleteClone => Some("one-vm-32-disk-0"),
            _ => None,
        }
    }
}

fn ds_img(controllers: &str) -> String {
    datastore_xml(
        100,
        0,
        &[
            ("LS_CONTROLLERS", controllers),
            ("REPLICA_COUNT", "2"),
            ("NODE_LIST", "s1,s2"),
        ],
    )
}

fn vm() -> String {
    vm_xml(31, &[(1, Some(8), DEV, false, "linstor", 100, 8)])
}

/// A harness with the datastores (controller: the simulator) and the VM served.
fn harness() -> Harness {
    let h = Harness::new(&["s1", "s2", "n1", "n2"]);
    let c = h.sim.url();
    h.serve("one.datastore.info", 100, ds_img(&c));
    h.serve(
        "one.datastore.info",
        0,
        datastore_xml(0, 1, &[("LS_CONTROLLERS", &c)]),
    );
    h.serve("one.vm.info", 31, vm());
    h.serve(
        "one.vm.info",
        32,
        vm_xml(32, &[(0, Some(8), DEV, true, "linstor", 100, 16)]),
    );
    h
}

fn run(kind: &'static str, action: &'static str, args: &[&str], stdin: String) -> Call {
    Call::Run {
        kind,
        action,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin,
    }
}

fn calls(h: &Harness, op: Op) -> Vec<Call> {
    let ds = h
        .docs
        .lock()
        .unwrap()
        .get(&("one.datastore.info".to_string(), 100))
        .cloned()
        .unwrap();
    match op {
        Op::Import => {
            let image = h.tmp.path().join("image.raw");
            if !image.exists() {
                let payload: Vec<u8> = (0..2u32 << 20).map(|i| (i % 251) as u8).collect();
                std::fs::write(&image, payload).unwrap();
            }
            let msg = action_msg(
                &image_xml(7, "", image.to_str().unwrap(), "raw", 2, -1, &[]),
                &ds,
            );
            vec![run("datastore", "cp", &["7"], b64(&msg))]
        }
        Op::Create => vec![run(
            "datastore",
            "mkfs",
            &["8"],
            b64(&action_msg(&image_xml(8, "", "", "raw", 8, -1, &[]), &ds)),
        )],
        Op::Clone => vec![run(
            "tm",
            "clone",
            &[
                &format!("fe:{DEV}"),
                &format!("n1:{CLONE_DIR}/disk.0"),
                "32",
                "100",
            ],
            String::new(),
        )],
        Op::DeleteClone => vec![run(
            "tm",
            "delete",
            &[&format!("n1:{CLONE_DIR}/disk.0"), "32", "100"],
            String::new(),
        )],
        Op::Attach => vec![run(
            "tm",
            "ln",
            &[
                &format!("fe:{DEV}"),
                &format!("n1:{DIR}/disk.1"),
                "31",
                "100",
            ],
            String::new(),
        )],
        Op::Migrate => vec![
            Call::InUse("n1", true),
            run(
                "tm",
                "premigrate",
                &["n1", "n2", DIR, "31", "0"],
                b64(&vm()),
            ),
            Call::InUse("n1", false),
            Call::InUse("n2", true),
            run(
                "tm",
                "postmigrate",
                &["n1", "n2", DIR, "31", "0"],
                b64(&vm()),
            ),
            Call::InUse("n2", false),
        ],
        Op::Detach => vec![run(
            "tm",
            "mvds",
            &[&format!("n2:{DIR}/disk.1"), DEV, "31", "100"],
            String::new(),
        )],
        Op::Delete => vec![run(
            "datastore",
            "rm",
            &["-", "8"],
            b64(&action_msg(&image_xml(8, DEV, "", "raw", 8, -1, &[]), &ds)),
        )],
    }
}

fn exec(h: &Harness, c: &Call) -> Option<Run> {
    match c {
        Call::Run {
            kind,
            action,
            args,
            stdin,
        } => {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            Some(h.run(kind, "linstor", action, &a, stdin))
        }
        Call::InUse(node, u) => {
            h.sim.set_in_use(IMG, node, *u);
            None
        }
    }
}

/// Runs an action with warnings logged on stderr.
fn exec_logged(h: &Harness, c: &Call) -> Run {
    let Call::Run {
        kind,
        action,
        args,
        stdin,
    } = c
    else {
        panic!("not an action: {c:?}")
    };
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    h.run_env(
        kind,
        "linstor",
        action,
        &a,
        stdin,
        &[("LINSTOR_ONE_LOG", "warn")],
    )
}

/// Runs `calls`, asserting each succeeds.
fn run_ok(h: &Harness, calls: &[Call]) {
    for c in calls {
        if let Some(r) = exec(h, c) {
            assert_eq!(r.code, 0, "{c:?}: {}", r.stderr);
        }
    }
}

fn prepare(h: &Harness, op: Op) {
    for before in OPS.iter().take_while(|o| **o != op) {
        run_ok(h, &calls(h, *before));
    }
}

/// Files and links under the hosts' directories, the temporary root replaced.
fn host_files(h: &Harness) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, tmp: &str, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = p.symlink_metadata().unwrap();
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap().display().to_string();
                out.insert(rel, t.replace(tmp, "<tmp>"));
            } else if meta.is_dir() {
                out.insert(rel, "dir".into());
                walk(root, &p, tmp, out);
            } else {
                out.insert(rel, format!("file {}", meta.len()));
            }
        }
    }
    let mut out = BTreeMap::new();
    let tmp = h.tmp.path().display().to_string();
    walk(&h.hosts(), &h.hosts(), &tmp, &mut out);
    out
}

/// Whether the imported image's data is in its volume (`None` when there is no volume).
fn imported_data(h: &Harness) -> Option<bool> {
    let dev = h.sim.dev_root("s1").join("drbd/by-res/one-image-7/0");
    let data = std::fs::read(dev).ok()?;
    let image = std::fs::read(h.tmp.path().join("image.raw")).ok()?;
    Some(data.len() >= image.len() && data[..image.len()] == image[..])
}

fn end(h: &Harness) -> Value {
    json!({
        "linstor": faults::end_state(&h.sim.state()),
        "hosts": host_files(h),
        "imported_data": imported_data(h),
    })
}

/// Runs the op with the process killed at a step (or the step failed), returning the index of
/// the call that was killed or failed; `None` when every call succeeded despite the failure.
fn disturbed_run(h: &Harness, op_calls: &[Call], step: &Step, how: How) -> Option<usize> {
    faults::disturb(&h.sim, step, how);
    for (i, c) in op_calls.iter().enumerate() {
        let Call::Run {
            kind,
            action,
            args,
            stdin,
        } = c
        else {
            exec(h, c);
            continue;
        };
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match how {
            How::Kill { .. } => {
                let mut child = h.spawn_env(kind, "linstor", action, &a, stdin, &[]);
                if faults::kill_when_held(&h.sim, &mut child, BOUND) == Kill::AtStep {
                    return Some(i);
                }
                let out = child.wait_with_output().unwrap();
                assert!(out.status.success(), "{c:?} before the step: {out:?}");
            }
            How::Fail(_) | How::KillHost { .. } => {
                let t = Instant::now();
                let r = h.run(kind, "linstor", action, &a, stdin);
                assert!(t.elapsed() < BOUND, "{c:?} took {:?}", t.elapsed());
                if r.code != 0 {
                    assert_clear_error(action, &r);
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

/// One stderr line naming the action and the cause; no panic, no stdout.
fn assert_clear_error(action: &str, r: &Run) {
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no answer on failure: {r:?}");
    let msg: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("WARN:"))
        .collect();
    assert_eq!(msg.len(), 1, "one error line: {r:?}");
    assert!(
        msg[0].starts_with(&format!("{action}: ")) && msg[0].len() > action.len() + 10,
        "{}",
        msg[0]
    );
}

/// One try: a fresh harness prepared for `op` and the calls of `op`.
struct Try {
    h: Harness,
    calls: Vec<Call>,
}

impl faults::Trial for Try {
    fn sim(&self) -> &linstor_tests::sim::Sim {
        &self.h.sim
    }

    fn disturbed(&mut self, step: &Step, how: How) -> Option<usize> {
        disturbed_run(&self.h, &self.calls, step, how)
    }

    fn rerun(&mut self, from: usize, _how: How) -> bool {
        run_ok(&self.h, &self.calls[from..]);
        false
    }

    fn end(&self, _reference: &Value) -> Value {
        end(&self.h)
    }
}

#[test]
fn every_step_of_every_operation_killed_or_failed() {
    let mut tally = faults::Tally::default();
    for op in OPS {
        let h = harness();
        prepare(&h, op);
        h.sim.clear_mutations();
        let op_calls = calls(&h, op);
        run_ok(&h, &op_calls);
        let reference = end(&h);
        assert_eq!(
            reference["imported_data"], true,
            "the imported image is intact"
        );
        let steps = faults::steps(&h.sim.mutations());
        assert!(!steps.is_empty(), "{} sends no change", op.name());
        drop(h);
        let cases = faults::CONTROLLER_HOWS.map(|(label, how)| (label, how, steps.as_slice()));
        let fresh = || {
            let h = harness();
            prepare(&h, op);
            let calls = calls(&h, op);
            Try { h, calls }
        };
        faults::every_step(
            op.name(),
            &reference,
            &cases,
            op.deleting(),
            BOUND * 2,
            fresh,
            &mut tally,
        );
    }
    tally.record(
        "OpenNebula",
        |label| format!("{label} (every step of cp, mkfs, clone, ln, premigrate/postmigrate, mvds, delete, rm)"),
        |_| "every volume and diskful replica; re-run converged every time".into(),
    );
}

#[test]
fn controller_down_slow_and_failover() {
    // down: fails fast with a clear error, changes nothing; works again once it is back
    let h = harness();
    prepare(&h, Op::Attach);
    let before = h.sim.state();
    h.sim.set_down(true);
    std::thread::sleep(Duration::from_millis(100));
    let op = calls(&h, Op::Attach);
    let t = Instant::now();
    let r = exec(&h, &op[0]).unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert_ne!(r.code, 0);
    assert_clear_error("ln", &r);
    assert!(
        r.stderr.contains(&h.sim.addr().to_string()),
        "names the controller: {}",
        r.stderr
    );
    h.sim.set_down(false);
    std::thread::sleep(Duration::from_millis(300));
    assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
    run_ok(&h, &op);
    let rd = &h.rds()[IMG];
    assert!(rd["resources"]["n1"].is_object(), "attached after recovery");
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "controller down during ln, then back".into(),
        tries: 1,
        survived: "clear error naming the controller within 15 s; ln succeeded after recovery"
            .into(),
        lost: "nothing".into(),
    });

    // slow: every answer 300 ms late, the whole lifecycle still ends where it should
    let reference = {
        let h = harness();
        for op in OPS {
            run_ok(&h, &calls(&h, op));
        }
        end(&h)
    };
    let h = harness();
    h.sim.inject(Fault::Latency(Duration::from_millis(300)));
    for op in OPS {
        run_ok(&h, &calls(&h, op));
    }
    assert_eq!(end(&h), reference);

    // failover: the first controller of the list refuses connections
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_addr = dead.local_addr().unwrap();
    drop(dead);
    let h = harness();
    let list = format!("http://{dead_addr},{}", h.sim.url());
    h.serve("one.datastore.info", 100, ds_img(&list));
    h.serve(
        "one.datastore.info",
        0,
        datastore_xml(0, 1, &[("LS_CONTROLLERS", &list)]),
    );
    for op in OPS {
        run_ok(&h, &calls(&h, op));
    }
    assert_eq!(end(&h), reference);
    for (case, survived) in [
        (
            "every answer 300 ms late, whole lifecycle",
            "same end state as an undisturbed run",
        ),
        (
            "first controller of the list dead, whole lifecycle",
            "failed over; same end state",
        ),
    ] {
        faults::record(&Row {
            frontend: "OpenNebula".into(),
            case: case.into(),
            tries: 1,
            survived: survived.into(),
            lost: "nothing".into(),
        });
    }
}

#[test]
fn concurrent_calls_on_one_volume_and_on_many() {
    let h = harness();
    prepare(&h, Op::Attach);
    let op = calls(&h, Op::Attach);
    let Call::Run {
        kind,
        action,
        args,
        stdin,
    } = &op[0]
    else {
        unreachable!()
    };
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let disks_before = faults::diskful(&h.sim.state());
    let children: Vec<_> = (0..16)
        .map(|_| h.spawn_env(kind, "linstor", action, &a, stdin, &[]))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let rd = &h.rds()[IMG];
    let nodes: Vec<&String> = rd["resources"].as_object().unwrap().keys().collect();
    assert!(nodes.contains(&&"n1".to_string()), "{rd}");
    assert_eq!(
        faults::diskful(&h.sim.state()),
        disks_before,
        "the same disks as before"
    );
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "16 concurrent ln of one image to one host".into(),
        tries: 16,
        survived: "all succeeded; one attachment, two disks".into(),
        lost: "nothing".into(),
    });

    let h = harness();
    let ds = ds_img(&h.sim.url());
    let children: Vec<_> = (100..150u64)
        .map(|id| {
            let msg = b64(&action_msg(&image_xml(id, "", "", "raw", 4, -1, &[]), &ds));
            h.spawn_env(
                "datastore",
                "linstor",
                "mkfs",
                &[&id.to_string()],
                &msg,
                &[],
            )
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
    }
    let rds = h.rds();
    assert_eq!(rds.len(), 50);
    for id in 100..150u64 {
        let rd = &rds[&format!("one-image-{id}")];
        assert_eq!(rd["props"]["Aux/one/IMAGE_ID"], id.to_string());
        assert_eq!(rd["volumes"][0]["size_kib"], 4 * 1024);
    }
    assert_eq!(faults::diskful(&h.sim.state()).len(), 100, "two disks each");
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "50 concurrent mkfs of different images".into(),
        tries: 50,
        survived: "50 volumes, two disks each, props exact".into(),
        lost: "nothing".into(),
    });
}

fn ds_doc(h: &Harness) -> String {
    h.docs
        .lock()
        .unwrap()
        .get(&("one.datastore.info".to_string(), 100))
        .cloned()
        .unwrap()
}

fn monitor(h: &Harness) -> Run {
    exec(
        h,
        &run(
            "datastore",
            "monitor",
            &["100"],
            b64(&action_msg("", &ds_doc(h))),
        ),
    )
    .unwrap()
}

/// `(USED_MB, TOTAL_MB, FREE_MB)` of a monitor answer.
fn sizes(out: &str) -> Option<(u64, u64, u64)> {
    let get = |k: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((get("USED_MB")?, get("TOTAL_MB")?, get("FREE_MB")?))
}

/// Every controller hung or blackholed: ln of a persistent image already on the host, mv on
/// the same host and monitor (from its cache) answer within 3 s; ln to a host without the
/// image fails with one message naming the controller. After the first action found the
/// controller silent, the next actions (other processes) know it from the state dir and go on
/// after the short grace (`known_silent=true` in their log); a corrupt memory file is ignored
/// with a log line.
#[test]
fn every_controller_silent_present_disks_link_and_monitor_answers() {
    let mut worst = faults::Worst::default();
    let mut tries = 0;
    for (what, fault) in faults::silent_controllers() {
        let h = harness();
        prepare(&h, Op::Migrate);
        let m = monitor(&h);
        assert_eq!(m.code, 0, "{m:?}");
        let before = h.sim.state();
        h.sim.inject(fault);
        let ln = calls(&h, Op::Attach);
        let mv_same = run(
            "tm",
            "mv",
            &[
                &format!("n1:{DIR}/disk.1"),
                &format!("n1:{DIR}/disk.1"),
                "31",
                "100",
            ],
            String::new(),
        );
        let post_same = run(
            "tm",
            "postmigrate",
            &["n1", "n1", DIR, "31", "0"],
            b64(&vm()),
        );
        let mon = run(
            "datastore",
            "monitor",
            &["100"],
            b64(&action_msg("", &ds_doc(&h))),
        );
        for (name, c) in [
            ("ln (first call)", &ln[0]),
            ("mv (same host)", &mv_same),
            ("postmigrate (same host)", &post_same),
            ("monitor", &mon),
            ("ln", &ln[0]),
        ] {
            let (r, took) = worst.time(name, || exec_logged(&h, c));
            assert_eq!(r.code, 0, "controller {what}: {name}: {}", r.stderr);
            if matches!(name, "mv (same host)" | "ln") {
                assert!(
                    r.stderr.contains("known_silent=true"),
                    "controller {what}: {name} knew the controller silent from the previous action: {}",
                    r.stderr
                );
            }
            assert!(
                took < Duration::from_secs(5),
                "controller {what}: {name} took {took:?}: it waited a full read bound (5 s), not the data-plane budget"
            );
            if name == "monitor" {
                assert_eq!(sizes(&r.stdout).map(|s| s.1 > 0), Some(true), "{r:?}");
            }
            tries += 1;
        }
        let link = h
            .hosts()
            .join("n1")
            .join(DIR.trim_start_matches('/'))
            .join("disk.1");
        assert!(
            std::fs::read_link(&link).is_ok_and(|t| t.ends_with("drbd/by-res/one-image-8/0")),
            "{} links the device",
            link.display()
        );
        let ln_absent = run(
            "tm",
            "ln",
            &[
                &format!("fe:{DEV}"),
                &format!("n2:{DIR}/disk.1"),
                "31",
                "100",
            ],
            String::new(),
        );
        let (r, took) = worst.time("ln (image not on the host)", || {
            exec(&h, &ln_absent).unwrap()
        });
        assert_ne!(r.code, 0, "{r:?}");
        assert_clear_error("ln", &r);
        assert!(
            r.stderr.contains(&h.sim.addr().to_string()),
            "names the controller: {}",
            r.stderr
        );
        assert!(took < Duration::from_secs(15), "{took:?}");
        tries += 1;
        let memory = h.tmp.path().join("state").join(FILE_NAME);
        assert!(memory.exists(), "{} written", memory.display());
        std::fs::write(&memory, "\u{0}\u{1}").unwrap();
        let r = exec_logged(&h, &ln[0]);
        assert_eq!(r.code, 0, "controller {what}: corrupt memory: {}", r.stderr);
        assert!(
            r.stderr.contains("ignoring the known-silent controllers")
                && !r.stderr.contains("known_silent=true"),
            "controller {what}: the corrupt file is ignored with a log line: {}",
            r.stderr
        );
        tries += 1;
        h.sim.clear_faults();
        let (r, _) = worst.time("ln (controller back)", || exec_logged(&h, &ln[0]));
        assert_eq!(r.code, 0, "controller {what} back: ln: {}", r.stderr);
        tries += 1;
        assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
    }
    println!("worst times, every controller silent: {}", worst.summary());
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "every controller hung or blackholed: ln of an image on the host, mv and postmigrate on the same host, monitor; ln to a host without it".into(),
        tries,
        survived: format!(
            "linked and monitored within 3 s without the controller, after the first action without waiting the budget (controller known silent across processes; a corrupt memory file ignored); ln elsewhere one error naming the controller; worst: {}",
            worst.summary()
        ),
        lost: "nothing".into(),
    });
}

/// A controller without `query-size-info` (HTTP 501) or answering something else: monitor
/// adds up the storage pools; when those cannot be read either it fails clearly, never
/// `TOTAL_MB=0` with exit 0.
#[test]
fn monitor_without_size_info_uses_the_storage_pools_or_fails_clearly() {
    use linstor_tests::sim::FailKind;
    let size_info = |kind| Fault::FailMatching {
        method: "POST".into(),
        path_contains: "query-size-info".into(),
        nth: 1,
        kind,
        execute: false,
    };
    let h = harness();
    h.sim.inject(size_info(FailKind::NotImplemented));
    h.sim.inject(Fault::FailMatching {
        method: "GET".into(),
        path_contains: "/v1/view/storage-pools".into(),
        nth: 1,
        kind: FailKind::OtherJson,
        execute: false,
    });
    let r = monitor(&h);
    assert_ne!(r.code, 0, "no capacity known: {r:?}");
    assert!(!r.stdout.contains("TOTAL_MB=0"), "{r:?}");
    assert_clear_error("monitor", &r);
    let mut tries = 1;
    for kind in [FailKind::NotImplemented, FailKind::OtherJson] {
        let h = harness();
        h.sim.inject(size_info(kind));
        let r = monitor(&h);
        assert_eq!(r.code, 0, "{kind:?}: {r:?}");
        let (used, total, free) = sizes(&r.stdout).unwrap_or_else(|| panic!("{r:?}"));
        assert!(
            total > 0 && free > 0 && used + free == total,
            "{kind:?}: {r:?}"
        );
        tries += 1;
    }
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "monitor: size info answered 501 or something else; storage pools unreadable too".into(),
        tries,
        survived: "capacity from the storage pools; a clear error when those fail too, never TOTAL_MB=0 with exit 0".into(),
        lost: "nothing".into(),
    });
}

/// Makes `node` Primary (as a starting VM's open does) through the simulator's DRBD model:
/// `Err` carries DRBD's refusal.
fn promote(h: &Harness, node: &str) -> Result<(), String> {
    use std::io::{Read, Write};
    let addr = h.sim.addr();
    let body = json!({"resource": IMG, "node": node, "in_use": true}).to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST /sim/in-use HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    if out.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(out
            .split_once("\r\n\r\n")
            .map(|x| x.1)
            .unwrap_or(&out)
            .to_string())
    }
}

/// Live migration against DRBD's one-Primary rule: after premigrate the target may be Primary
/// while the source still is; after postmigrate or failmigrate a second Primary is refused
/// again, with DRBD's message naming the node that holds it.
#[test]
fn live_migration_against_the_one_primary_rule() {
    let mut tries = 0;
    for finish in ["postmigrate", "failmigrate"] {
        let h = harness();
        prepare(&h, Op::Migrate);
        promote(&h, "n1").unwrap();
        let refused = promote(&h, "s1").expect_err("a second Primary before premigrate");
        assert!(refused.contains("Primary on 'n1'"), "{refused}");
        let pre = run(
            "tm",
            "premigrate",
            &["n1", "n2", DIR, "31", "0"],
            b64(&vm()),
        );
        run_ok(&h, &[pre]);
        promote(&h, "n2").expect("the target becomes Primary during the migration");
        let (holder, other) = if finish == "postmigrate" {
            h.sim.set_in_use(IMG, "n1", false);
            ("n2", "n1")
        } else {
            h.sim.set_in_use(IMG, "n2", false);
            ("n1", "n2")
        };
        let done = run("tm", finish, &["n1", "n2", DIR, "31", "0"], b64(&vm()));
        run_ok(&h, &[done]);
        if h.rds()[IMG]["resources"][other].is_object() {
            let refused = promote(&h, other).expect_err("one Primary again after the migration");
            assert!(
                refused.contains(&format!("Primary on '{holder}'")),
                "{finish}: {refused}"
            );
        }
        let refused = promote(&h, "s1").expect_err("one Primary again after the migration");
        assert!(
            refused.contains(&format!("Primary on '{holder}'")),
            "{finish}: {refused}"
        );
        h.sim.set_in_use(IMG, holder, false);
        tries += 1;
    }
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "live migration with DRBD's one-Primary rule enforced (premigrate, then postmigrate or failmigrate)".into(),
        tries,
        survived: "target Primary while the source still is; afterwards a second Primary refused, naming the node that holds it".into(),
        lost: "nothing".into(),
    });
}

/// Satellites offline: premigrate to a host whose satellite is offline stops with one clear
/// error naming it and leaves the source as it was (the re-run once it is back converges);
/// mvds and rm while a peer is offline succeed, LINSTOR finishing the deletion when the peer
/// is back; nothing is lost.
#[test]
fn satellite_offline_migration_detach_delete() {
    let h = harness();
    prepare(&h, Op::Migrate);
    let before = h.sim.state();
    assert!(h.sim.set_node_online("n2", false));
    h.sim.set_in_use(IMG, "n1", true);
    let pre = run(
        "tm",
        "premigrate",
        &["n1", "n2", DIR, "31", "0"],
        b64(&vm()),
    );
    let r = exec(&h, &pre).unwrap();
    assert_ne!(r.code, 0, "{r:?}");
    assert_clear_error("premigrate", &r);
    assert!(
        r.stderr.contains("'n2'") && r.stderr.contains("offline"),
        "names the offline host: {}",
        r.stderr
    );
    assert!(
        h.rds()[IMG]["resources"]["n1"].is_object(),
        "source untouched"
    );
    assert!(faults::lost(&before, &h.sim.state(), None).is_empty());
    assert!(h.sim.set_node_online("n2", true));
    run_ok(&h, &[pre]);
    h.sim.set_in_use(IMG, "n1", false);
    let fail = run(
        "tm",
        "failmigrate",
        &["n1", "n2", DIR, "31", "0"],
        b64(&vm()),
    );
    run_ok(&h, &[fail]);

    assert!(h.sim.set_node_online("s2", false));
    let mvds = run(
        "tm",
        "mvds",
        &[&format!("n1:{DIR}/disk.1"), DEV, "31", "100"],
        String::new(),
    );
    run_ok(&h, &[mvds]);
    run_ok(&h, &calls(&h, Op::DeleteClone));
    run_ok(&h, &calls(&h, Op::Delete));
    assert!(h.sim.set_node_online("s2", true));
    let t = Instant::now();
    while h.rds().contains_key(IMG) {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "deletion finished once the peer is back: {:?}",
            h.rds()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    faults::record(&Row {
        frontend: "OpenNebula".into(),
        case: "satellite offline: premigrate to an offline host, mvds and rm with a peer offline".into(),
        tries: 4,
        survived: "premigrate one error naming the host, source untouched, re-run converged; mvds and rm succeeded, deletion finished when the peer came back".into(),
        lost: "nothing".into(),
    });
}
