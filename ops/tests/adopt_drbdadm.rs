//! `linstor-plugins adopt` fed by real `drbdadm -c <file> dump` output (Debian's drbd-utils, no
//! kernel module needed) of the hand-made layouts in `tests/drbd/`: multi-volume, IPv6,
//! floating, disk none with a connection mesh, several paths, options sections. Each dry run,
//! against the simulator with nodes alpha, bravo, charlie on 10.0.0.1-3, must equal its golden
//! file `tests/drbd/<layout>.golden`: every call with its why, every setting carried (call and
//! property) or named as not carried, the problems and the exit code. The plan read from
//! drbdadm's normalised output must also equal the plan read from the hand-written file. Applied
//! to the simulator, every property a plan sets (definition, volume definitions, resource
//! connections with their paths) and every interface it creates is then in LINSTOR.
//! `UPDATE_GOLDEN=1` rewrites the golden files. Skips with a message when drbdadm is absent.

use std::path::{Path, PathBuf};

use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::Client;
use linstor_tests::sim::{Sim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_linstor-plugins");
const GIB: &str = "1073741824";

/// Layout and its own options (besides peer slots, pool and controller).
const CASES: &[(&str, &[&str])] = &[
    (
        "multi-volume",
        &["--size", "0=1073741824", "--size", "1=536870912"],
    ),
    ("ipv6", &["--size", GIB]),
    (
        "floating",
        &[
            "--size",
            GIB,
            "--floating-node",
            "10.0.0.1=alpha",
            "--floating-node",
            "10.0.0.2=bravo",
        ],
    ),
    ("diskless-mesh", &["--size", GIB]),
    ("paths", &["--size", GIB, "--create-net-interfaces"]),
    ("options", &["--size", GIB]),
];

fn layouts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drbd")
}

/// `drbdadm -c <file> dump`, or `None` (with the reason printed) when drbdadm is absent.
fn drbdadm_dump(file: &Path) -> Option<String> {
    let out = match std::process::Command::new("drbdadm")
        .arg("-c")
        .arg(file)
        .arg("dump")
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "SKIP: drbdadm not found; install Debian's drbd-utils (scripts/install-deps.sh does) to check adopt against drbd-utils' own output"
            );
            return None;
        }
        Err(e) => panic!("cannot run drbdadm: {e}"),
    };
    assert!(
        out.status.success(),
        "drbdadm -c {} dump: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

async fn sim() -> Sim {
    Sim::start(SimConfig {
        nodes: vec!["alpha".into(), "bravo".into(), "charlie".into()],
        pool_name: "ssd".into(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The dry run's output and exit code as one text.
async fn dry_run(sim: &Sim, input: (&str, &Path), extra: &[&str]) -> String {
    let out = tokio::process::Command::new(BIN)
        .args(["adopt", input.0])
        .arg(input.1)
        .args(["--controllers", &sim.url(), "--timeout", "5"])
        .args(["--peer-slots", "7", "--storage-pool", "ssd"])
        .args(extra)
        .env_remove("LS_CONTROLLERS")
        .output()
        .await
        .unwrap();
    format!(
        "{}{}exit: {}\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().unwrap_or(-1)
    )
}

/// Lines without their configuration line numbers and notes, sorted: what must not depend on
/// how the configuration is laid out.
fn normalised(text: &str) -> Vec<String> {
    let stripped = strip_line_numbers(text);
    let mut v: Vec<String> = stripped
        .lines()
        .filter(|l| !l.starts_with("note: "))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn strip_line_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(" (line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 7..];
        match after.find(')') {
            Some(j) if after[..j].bytes().all(|b| b.is_ascii_digit()) => rest = &after[j + 1..],
            _ => {
                out.push_str(" (line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn dry_runs_of_real_drbdadm_dumps_match_their_golden_plans() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failed = Vec::new();
    for (layout, extra) in CASES {
        let res = layouts().join(format!("{layout}.res"));
        let Some(dump) = drbdadm_dump(&res) else {
            return;
        };
        let dump_file = dir.path().join(format!("{layout}.dump"));
        std::fs::write(&dump_file, &dump).unwrap();
        let got = dry_run(&sim, ("--dump", &dump_file), extra).await;
        assert!(
            !got.contains("hand-made-secret"),
            "the configuration's shared-secret is never printed: {got}"
        );
        let golden = layouts().join(format!("{layout}.golden"));
        if update {
            std::fs::write(&golden, &got).unwrap();
        } else {
            let want = std::fs::read_to_string(&golden).unwrap_or_default();
            if want != got {
                eprintln!(
                    "--- {} (golden)\n{want}\n+++ {layout} (drbdadm dump)\n{got}",
                    golden.display()
                );
                failed.push(*layout);
            }
        }
        let from_res = dry_run(&sim, ("--res", &res), extra).await;
        assert_eq!(
            from_res.contains("note: only "),
            *layout != "options",
            "{layout}: a file without a common section is read with a note that global_common.conf's common section is not: {from_res}"
        );
        assert_eq!(
            normalised(&from_res),
            normalised(&got),
            "{layout}: the plan from the hand-written file differs from the plan from drbdadm's dump"
        );
    }
    assert!(
        failed.is_empty(),
        "dry runs differ from their golden files: {failed:?} (UPDATE_GOLDEN=1 rewrites them after review)"
    );
    let client = Client::new(ClientConfig {
        controllers: vec![ControllerUrl::parse(&sim.url()).unwrap()],
        ..Default::default()
    })
    .unwrap();
    assert!(
        client.resource_definitions(&[]).await.unwrap().is_empty(),
        "the dry runs changed nothing"
    );
}

/// Extra options an apply of the layout needs beyond its dry run.
fn apply_extra(layout: &str) -> &'static [&'static str] {
    match layout {
        "ipv6" => &["--create-net-interfaces"],
        "options" => &[
            "--drop",
            "net/shared-secret",
            "--drop",
            "startup/wfc-timeout",
        ],
        _ => &[],
    }
}

/// The numbered calls of a plan: method, path, body.
fn calls(out: &str) -> Vec<(String, String, serde_json::Value)> {
    out.lines()
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once(". ")?;
            n.parse::<u32>().ok()?;
            let (method, rest) = rest.split_once(' ')?;
            let (path, body) = rest.split_once(' ')?;
            Some((
                method.to_string(),
                path.to_string(),
                serde_json::from_str(body).ok()?,
            ))
        })
        .collect()
}

#[tokio::test]
async fn applies_of_real_drbdadm_dumps_leave_every_planned_property_in_linstor() {
    let dir = tempfile::tempdir().unwrap();
    let sim = sim().await;
    let client = Client::new(ClientConfig {
        controllers: vec![ControllerUrl::parse(&sim.url()).unwrap()],
        ..Default::default()
    })
    .unwrap();
    let mut checked = 0;
    for (layout, extra) in CASES {
        let Some(dump) = drbdadm_dump(&layouts().join(format!("{layout}.res"))) else {
            return;
        };
        let dump_file = dir.path().join(format!("{layout}.dump"));
        std::fs::write(&dump_file, &dump).unwrap();
        let args: Vec<&str> = extra
            .iter()
            .chain(apply_extra(layout))
            .chain(&["--apply"])
            .copied()
            .collect();
        let out = dry_run(&sim, ("--dump", &dump_file), &args).await;
        assert!(out.ends_with("exit: 0\n"), "{layout}: {out}");
        for (method, path, body) in calls(&out) {
            let seg: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
            let props = &body["override_props"];
            let have = match (method.as_str(), seg.as_slice()) {
                ("PUT", ["resource-definitions", rd]) => {
                    client.resource_definition(rd).await.unwrap().unwrap().props
                }
                ("PUT", ["resource-definitions", rd, "volume-definitions", nr]) => {
                    client
                        .volume_definitions(rd)
                        .await
                        .unwrap()
                        .into_iter()
                        .find(|v| v.volume_number.map(|n| n.to_string()).as_deref() == Some(*nr))
                        .unwrap()
                        .props
                }
                ("PUT", ["resource-definitions", rd, "resource-connections", a, b]) => {
                    client
                        .resource_connection(rd, a, b)
                        .await
                        .unwrap()
                        .unwrap()
                        .props
                }
                ("POST", ["nodes", node, "net-interfaces"]) => {
                    let n = client.node(node).await.unwrap().unwrap();
                    assert!(
                        n.net_interfaces
                            .iter()
                            .any(|i| i.name == body["name"] && i.address == body["address"]),
                        "{layout}: {path} {body}: {:?}",
                        n.net_interfaces
                    );
                    checked += 1;
                    continue;
                }
                _ => continue,
            };
            for (k, v) in props.as_object().unwrap() {
                assert_eq!(
                    have.get(k).map(String::as_str),
                    v.as_str(),
                    "{layout}: {k} after {method} {path}: {have:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 40, "only {checked} properties checked");
}
