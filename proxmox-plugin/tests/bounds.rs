//! The storage options `readtimeout`/`changetimeout` through the real `linstor-pve` helper fed
//! the JSON document the Perl module sends: against a simulator whose every answer is 1.5 s
//! late, `list_images` fails at the default-like lower bound with the timeout error naming the
//! controller and the option, and succeeds with a higher one; a change times out at
//! `changetimeout`; a bad value is refused with the option, the value and the range; a large
//! `readtimeout` does not make the activation of a volume present on the node, or `status`,
//! wait on a hung controller.

mod support;

use std::time::{Duration, Instant};

use linstor_tests::cmd::output_with_input;
use linstor_tests::sim::{Backing, BlockingSim, Fault, Sim, SimConfig};
use serde_json::{json, Map, Value};
use support::helper;

const SLOW: Duration = Duration::from_millis(1500);

struct H {
    sim: BlockingSim,
    tmp: tempfile::TempDir,
}

#[derive(Debug)]
struct Out {
    code: i32,
    answer: Value,
    stderr: String,
}

fn harness() -> H {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Sim::start_blocking(SimConfig {
        nodes: ["n1", "n2", "n3"].map(String::from).to_vec(),
        backing: Backing::File,
        data_dir: Some(tmp.path().join("sim")),
        ..Default::default()
    })
    .unwrap();
    H { sim, tmp }
}

impl H {
    fn call(&self, method: &str, extra: &[(&str, &str)], args: Value, timeout: u64) -> Out {
        let mut scfg = Map::new();
        scfg.insert("controller".into(), self.sim.url().into());
        scfg.insert("resourcegroup".into(), "DfltRscGrp".into());
        for (k, v) in extra {
            scfg.insert((*k).into(), (*v).into());
        }
        let doc = json!({
            "storeid": "drbd1",
            "scfg": scfg,
            "node": "n1",
            "dev_root": self.sim.dev_root("n1"),
            "timeout": timeout,
            "args": args,
        });
        let out = output_with_input(
            &mut helper(
                method,
                &self.tmp.path().join("cache"),
                &self.tmp.path().join("no-auth.json"),
            ),
            doc.to_string().as_bytes(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{method}: {stderr}");
        Out {
            code: out.status.code().unwrap_or(-1),
            answer: serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
                panic!("{method}: the answer is JSON ({e}): {stdout} {stderr}")
            }),
            stderr,
        }
    }

    fn list(&self, extra: &[(&str, &str)]) -> Out {
        self.call(
            "list_images",
            extra,
            json!({"vmid": null, "vollist": null}),
            30,
        )
    }
}

fn error(out: &Out) -> (&str, &str) {
    (
        out.answer["error"]["kind"].as_str().unwrap_or_default(),
        out.answer["error"]["message"].as_str().unwrap_or_default(),
    )
}

#[test]
fn a_slow_controller_lists_with_a_raised_readtimeout_and_fails_naming_it_below() {
    let h = harness();
    let made = h.call(
        "alloc_image",
        &[],
        json!({"vmid": "100", "fmt": "raw", "name": "pm-0000aaaa_100", "size_kib": "8192"}),
        30,
    );
    assert_eq!(made.code, 0, "{made:?}");
    h.sim.inject(Fault::Latency(SLOW));

    let low = h.list(&[("readtimeout", "1")]);
    let (kind, msg) = error(&low);
    println!("list_images, answers 1.5 s late, readtimeout 1: {msg}");
    assert_ne!(low.code, 0, "{low:?}");
    assert_eq!(kind, "timeout", "{low:?}");
    assert!(msg.contains(&h.sim.url()), "names the controller: {msg}");
    assert!(
        msg.contains("within 1 s") && msg.contains("raise readtimeout (seconds, 1 to 300"),
        "names the bound and the option to raise: {msg}"
    );
    assert!(low.stderr.contains(msg), "{low:?}");

    let high = h.list(&[("readtimeout", "3")]);
    assert_eq!(high.code, 0, "{high:?}");
    let names: Vec<&str> = high.answer["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["volid"].as_str())
        .collect();
    assert_eq!(names, ["drbd1:pm-0000aaaa_100"], "{high:?}");
    h.sim.clear_faults();
}

#[test]
fn a_change_waits_changetimeout_then_says_it_may_have_been_carried_out() {
    let h = harness();
    h.sim.inject(Fault::Hang {
        method: Some("POST".into()),
        path_contains: None,
        max: Duration::from_secs(30),
    });
    let t = Instant::now();
    let out = h.call(
        "alloc_image",
        &[("changetimeout", "5")],
        json!({"vmid": "100", "fmt": "raw", "name": "pm-0000bbbb_100", "size_kib": "8192"}),
        30,
    );
    let took = t.elapsed();
    h.sim.clear_faults();
    let (kind, msg) = error(&out);
    println!("alloc_image, changes hung, changetimeout 5: {took:?}: {msg}");
    assert_eq!(kind, "timeout", "{out:?}");
    assert!(
        msg.contains("within 5 s") && msg.contains("raise changetimeout (seconds, 5 to 600"),
        "{msg}"
    );
    assert!(msg.contains(&h.sim.url()), "{msg}");
}

#[test]
fn bad_bounds_are_refused_with_the_option_the_value_and_the_range() {
    let h = harness();
    for (key, value, range) in [
        ("readtimeout", "0.5", "1 to 300"),
        ("readtimeout", "301", "1 to 300"),
        ("readtimeout", "soon", "1 to 300"),
        ("changetimeout", "4", "5 to 600"),
        ("changetimeout", "1e3", "5 to 600"),
    ] {
        let out = h.list(&[(key, value)]);
        let (kind, msg) = error(&out);
        assert_eq!((out.code, kind), (2, "config"), "{key}={value}: {out:?}");
        assert!(
            msg.contains(&format!("{key} is '{value}'")) && msg.contains(range),
            "{key}={value}: {msg}"
        );
    }
    assert_eq!(h.sim.request_count(), 0, "refused before any request");
}

#[test]
fn a_large_readtimeout_leaves_the_data_plane_and_status_within_their_budgets() {
    let h = harness();
    let vol = json!({"volname": "pm-0000cccc_100", "snap": null});
    let made = h.call(
        "alloc_image",
        &[],
        json!({"vmid": "100", "fmt": "raw", "name": "pm-0000cccc_100", "size_kib": "8192"}),
        30,
    );
    assert_eq!(made.code, 0, "{made:?}");
    let up = h.call("activate_volume", &[], vol.clone(), 30);
    assert_eq!(up.code, 0, "{up:?}");
    let st = h.call("status", &[("statuscache", "0")], json!({}), 3);
    assert_eq!(st.code, 0, "{st:?}");

    h.sim.inject(Fault::Hang {
        method: None,
        path_contains: None,
        max: Duration::from_secs(60),
    });
    let slow = [("readtimeout", "300"), ("statuscache", "0")];
    let t = Instant::now();
    let again = h.call("activate_volume", &slow, vol, 30);
    let took = t.elapsed();
    println!("activate_volume of a volume here, controller hung, readtimeout 300: {took:?}");
    assert_eq!(again.code, 0, "{again:?}");
    assert!(took < Duration::from_secs(3), "data-plane budget: {took:?}");

    let t = Instant::now();
    let st = h.call("status", &slow, json!({}), 3);
    let took = t.elapsed();
    println!("status, controller hung, readtimeout 300: {took:?}");
    assert_eq!(st.code, 0, "{st:?}");
    assert!(took < Duration::from_secs(3), "status bound: {took:?}");
    h.sim.clear_faults();
}
