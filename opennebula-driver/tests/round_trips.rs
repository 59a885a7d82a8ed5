//! REST round trips of the per-volume actions oned calls most (`cp`, `clone`, `premigrate`),
//! counted by the simulator: each makes the requests its work needs and no list that grows
//! with the cluster.

mod support;

use std::collections::BTreeMap;

use support::*;

const DIR: &str = "/var/lib/one//datastores/0/41";
const STATUS: &str = "GET /v1/resource-definitions/{rd}/clone/{clone}";

/// VM 41 with a clone of image 9 as disk 0 and persistent image 10 as disk 1.
fn vm41() -> String {
    vm_xml(
        41,
        &[
            (
                0,
                Some(9),
                "/dev/drbd/by-res/one-image-9/0",
                true,
                "linstor",
                100,
                8,
            ),
            (
                1,
                Some(10),
                "/dev/drbd/by-res/one-image-10/0",
                false,
                "linstor",
                100,
                8,
            ),
        ],
    )
}

fn routes(h: &Harness) -> BTreeMap<String, u64> {
    h.sim.stats()
}

#[test]
fn cp_clone_premigrate_make_only_the_needed_requests() {
    let h = Harness::new(&["s1", "s2", "n1", "n2"]);
    let ds_img = h.serve_datastore_on_s1_s2(100, 0, &[]);
    h.serve_datastore_on_s1_s2(0, 1, &[]);
    let image = h.tmp.path().join("image.raw");
    let payload: Vec<u8> = (0..1u32 << 20).map(|i| (i % 253) as u8).collect();
    std::fs::write(&image, &payload).unwrap();

    let msg = action_msg(
        &image_xml(9, "", image.to_str().unwrap(), "raw", 4, -1, &[]),
        &ds_img,
    );
    h.sim.reset_stats();
    let r = h.run("datastore", "linstor", "cp", &[&b64(&msg), "9"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cp = routes(&h);
    assert_eq!(
        cp.values().sum::<u64>(),
        2,
        "cp: spawn with the ownership props, then where the replicas are: {cp:?}"
    );
    assert_eq!(
        cp.get("GET /v1/resource-definitions/{rd}/resources"),
        Some(&1)
    );
    let dev = h.sim.dev_root("s1").join("drbd/by-res/one-image-9/0");
    assert_eq!(
        std::fs::read(&dev).unwrap()[..payload.len()],
        payload[..],
        "written on a node holding a disk"
    );

    let msg = action_msg(&image_xml(10, "", "", "raw", 8, -1, &[]), &ds_img);
    let r = h.run("datastore", "linstor", "mkfs", &["10"], &b64(&msg));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let vm = vm41();
    h.serve("one.vm.info", 41, vm.clone());

    h.sim.reset_stats();
    let disk0 = format!("n1:{DIR}/disk.0");
    let r = h.run(
        "tm",
        "linstor",
        "clone",
        &["fe:/dev/drbd/by-res/one-image-9/0", &disk0, "41", "100"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let clone = routes(&h);
    let polls = clone.get(STATUS).copied().unwrap_or(0);
    assert!((1..=3).contains(&polls), "clone status polls: {clone:?}");
    assert_eq!(
        clone.values().sum::<u64>() - polls,
        4,
        "clone: source definition, clone, grow, make-available on the host: {clone:?}"
    );
    assert_eq!(
        clone.get("PUT /v1/resource-definitions/{rd}/volume-definitions/{nr}"),
        Some(&1)
    );
    assert!(!clone.contains_key("GET /v1/view/resources"), "{clone:?}");
    let rds = h.rds();
    assert_eq!(rds["one-vm-41-disk-0"]["volumes"][0]["size_kib"], 8 * 1024);
    assert!(rds["one-vm-41-disk-0"]["resources"]["n1"].is_object());

    let r = h.run(
        "tm",
        "linstor",
        "ln",
        &[
            "fe:/dev/drbd/by-res/one-image-10/0",
            &format!("n1:{DIR}/disk.1"),
            "41",
            "100",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    h.sim.set_in_use("one-vm-41-disk-0", "n1", true);
    h.sim.reset_stats();
    let r = h.run(
        "tm",
        "linstor",
        "premigrate",
        &["n1", "n2", DIR, "41", "0"],
        &b64(&vm),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pre = routes(&h);
    assert_eq!(
        pre.values().sum::<u64>(),
        6,
        "premigrate, per disk: definition, allow-two-primaries, make-available: {pre:?}"
    );
    assert_eq!(
        pre.get("GET /v1/resource-definitions/{rd}"),
        Some(&2),
        "{pre:?}"
    );
    let rds = h.rds();
    for rd in ["one-vm-41-disk-0", "one-image-10"] {
        assert_eq!(
            rds[rd]["props"]["DrbdOptions/Net/allow-two-primaries"],
            "yes"
        );
        assert!(rds[rd]["resources"]["n2"].is_object(), "{rd} on n2");
    }
}

/// REST requests and ssh connections per host of one action.
type Counts = (u64, BTreeMap<String, u64>);

/// [`Counts`] of one action (clone status polls left out: they depend on timing).
fn counted(h: &Harness, r: &Run, label: &str) -> Counts {
    assert_eq!(r.code, 0, "{label}: {}", r.stderr);
    let rest = routes(h);
    if std::env::var_os("SHOW_ROUTES").is_some() {
        eprintln!("{label}: {rest:?}");
    }
    let polls = rest.get(STATUS).copied().unwrap_or(0);
    let n = (rest.values().sum::<u64>() - polls, h.ssh());
    h.reset_counts();
    n
}

fn on(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(h, n)| (h.to_string(), *n)).collect()
}

/// Every action a VM waits for, with the REST requests and the ssh connections it makes: a
/// change that adds either fails here. ssh targets (the better peer's): `ln` 1, `mv` at most
/// 3, `clone` 1 on the target host, `delete` 1. REST: `ln` reads the definition and this
/// node's resource around `make-available`; the non-persistent `delete` reads the definition
/// once and deletes it whole (no detach first); `mv` reads the node list once for both hosts.
#[test]
fn rest_requests_and_ssh_connections_per_action() {
    let h = Harness::new(&["s1", "s2", "n1", "n2"]);
    let ds_img = h.serve_datastore_on_s1_s2(100, 0, &[]);
    h.serve_datastore_on_s1_s2(0, 1, &[]);
    let image = h.tmp.path().join("image.raw");
    std::fs::write(&image, vec![7u8; 1 << 20]).unwrap();
    let vm = vm41();
    h.serve("one.vm.info", 41, vm.clone());
    let disk = |host: &str, i: u32| format!("{host}:{DIR}/disk.{i}");
    let mut got = Vec::new();
    let mut step = |label: &'static str, r: Run| got.push((label, counted(&h, &r, label)));

    h.reset_counts();
    let msg = action_msg(
        &image_xml(9, "", image.to_str().unwrap(), "raw", 4, -1, &[]),
        &ds_img,
    );
    step(
        "ds/cp",
        h.run("datastore", "linstor", "cp", &[&b64(&msg), "9"], ""),
    );
    let msg = action_msg(&image_xml(10, "", "", "raw", 8, -1, &[]), &ds_img);
    step(
        "ds/mkfs",
        h.run("datastore", "linstor", "mkfs", &["10"], &b64(&msg)),
    );
    let img9 = "fe:/dev/drbd/by-res/one-image-9/0";
    let img10 = "fe:/dev/drbd/by-res/one-image-10/0";
    step(
        "tm/clone",
        h.run(
            "tm",
            "linstor",
            "clone",
            &[img9, &disk("n1", 0), "41", "100"],
            "",
        ),
    );
    step(
        "tm/ln",
        h.run(
            "tm",
            "linstor",
            "ln",
            &[img10, &disk("n1", 1), "41", "100"],
            "",
        ),
    );
    h.sim.set_in_use("one-vm-41-disk-0", "n1", true);
    step(
        "tm/premigrate",
        h.run(
            "tm",
            "linstor",
            "premigrate",
            &["n1", "n2", DIR, "41", "0"],
            &b64(&vm),
        ),
    );
    h.sim.set_in_use("one-vm-41-disk-0", "n1", false);
    h.sim.set_in_use("one-vm-41-disk-0", "n2", true);
    step(
        "tm/postmigrate",
        h.run(
            "tm",
            "linstor",
            "postmigrate",
            &["n1", "n2", DIR, "41", "0"],
            &b64(&vm),
        ),
    );
    h.sim.set_in_use("one-vm-41-disk-0", "n2", false);
    step(
        "tm/mv",
        h.run(
            "tm",
            "linstor",
            "mv",
            &[&disk("n2", 1), &disk("n1", 1), "41", "100"],
            "",
        ),
    );
    step(
        "tm/mvds",
        h.run(
            "tm",
            "linstor",
            "mvds",
            &[
                &disk("n1", 1),
                "/dev/drbd/by-res/one-image-10/0",
                "41",
                "100",
            ],
            "",
        ),
    );
    step(
        "tm/delete",
        h.run("tm", "linstor", "delete", &[&disk("n2", 0), "41", "0"], ""),
    );

    let want: Vec<(&str, Counts)> = vec![
        ("ds/cp", (2, on(&[("s1", 1)]))),
        ("ds/mkfs", (1, on(&[]))),
        ("tm/clone", (4, on(&[("n1", 1)]))),
        ("tm/ln", (3, on(&[("n1", 1)]))),
        ("tm/premigrate", (6, on(&[("n1", 1), ("n2", 1)]))),
        ("tm/postmigrate", (9, on(&[("n1", 1)]))),
        ("tm/mv", (7, on(&[("n1", 1), ("n2", 1)]))),
        ("tm/mvds", (3, on(&[("n1", 1)]))),
        ("tm/delete", (2, on(&[("n2", 1)]))),
    ];
    assert_eq!(
        got, want,
        "(REST requests, ssh connections per host) per action"
    );
}

/// `mv` from a host that is down (recovery from a failed host, LCM PROLOG_MIGRATE_UNKNOWN):
/// the ssh connection to it fails, which is a warning; the disk is attached and linked on the
/// target, and the source's diskless copy is released in LINSTOR (which may keep it as its
/// tie-breaker).
#[test]
fn mv_from_an_unreachable_host_over_ssh() {
    let h = Harness::new(&["s1", "s2", "n1", "n2"]);
    let ds_img = h.serve_datastore_on_s1_s2(100, 0, &[]);
    h.serve_datastore_on_s1_s2(0, 1, &[]);
    let msg = action_msg(&image_xml(10, "", "", "raw", 8, -1, &[]), &ds_img);
    let r = h.run("datastore", "linstor", "mkfs", &["10"], &b64(&msg));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let src = "/dev/drbd/by-res/one-image-10/0";
    h.serve(
        "one.vm.info",
        41,
        vm_xml(41, &[(1, Some(10), src, false, "linstor", 100, 8)]),
    );
    let on = |host: &str| format!("{host}:{DIR}/disk.1");
    let r = h.run(
        "tm",
        "linstor",
        "ln",
        &[&format!("fe:{src}"), &on("n1"), "41", "100"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    std::fs::write(h.hosts().join("n1.down"), "").unwrap();
    h.reset_counts();
    let r = h.run(
        "tm",
        "linstor",
        "mv",
        &[&on("n1"), &on("n2"), "41", "100"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("WARN: mv: on host 'n1'") && r.stderr.contains("No route to host"),
        "the dead source is a warning: {}",
        r.stderr
    );
    assert_eq!(
        h.host_link("n2", &format!("{DIR}/disk.1")),
        h.sim.dev_root("n2").join("drbd/by-res/one-image-10/0")
    );
    let rds = h.rds();
    assert!(rds["one-image-10"]["resources"]["n2"].is_object());
    let n1 = &rds["one-image-10"]["resources"]["n1"];
    assert!(
        n1.is_null()
            || n1["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "TIE_BREAKER"),
        "the source's diskless copy is released (LINSTOR may keep a tie-breaker): {}",
        rds["one-image-10"]
    );
    assert_eq!(h.ssh().get("n2"), Some(&1));
}

/// `tm/delete` takes the controllers from the system datastore the VM runs on (the path), as
/// `linstor_un` does, not from the datastore of its last argument: with that one naming a dead
/// controller, the VM's volatile disk is still deleted, in one read and one delete.
#[test]
fn delete_follows_the_system_datastore_of_the_path() {
    let h = Harness::new(&["s1", "s2", "n1"]);
    let url = h.sim.url();
    h.serve(
        "one.datastore.info",
        0,
        datastore_xml(0, 1, &[("LS_CONTROLLERS", &url), ("REPLICA_COUNT", "2")]),
    );
    h.serve(
        "one.datastore.info",
        100,
        datastore_xml(100, 0, &[("LS_CONTROLLERS", "http://127.0.0.1:9")]),
    );
    h.serve(
        "one.vm.info",
        41,
        vm_xml(41, &[(2, None, "", false, "linstor", 0, 8)]),
    );
    let disk = format!("n1:{DIR}/disk.2");
    let r = h.run(
        "tm",
        "linstor",
        "mkimage",
        &["8", "raw", &disk, "41", "0"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(h.rds().contains_key("one-vm-41-disk-2"));
    h.reset_counts();
    let r = h.run("tm", "linstor", "delete", &[&disk, "41", "100"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!h.rds().contains_key("one-vm-41-disk-2"), "deleted");
    assert_eq!(
        routes(&h),
        [
            ("DELETE /v1/resource-definitions/{rd}".to_string(), 1),
            ("GET /v1/resource-definitions/{rd}".to_string(), 1)
        ]
        .into()
    );
    assert_eq!(h.ssh(), [("n1".to_string(), 1)].into(), "the unlink");
}
