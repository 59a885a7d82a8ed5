//! A whole VM lifecycle against the simulator with two hosts, driving the real binary as oned
//! does: image `cp` → `clone` → `ln` → `premigrate`/`postmigrate` → `snap_create`/`snap_revert`
//! → `mvds` → `delete` → `rm`; then the simulator holds exactly what should remain.

mod support;

use support::*;

const DIR: &str = "/var/lib/one//datastores/0/31";

/// Nodes holding a resource of the RD, LINSTOR's own tie-breakers left out.
fn real_nodes(rd: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = rd["resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| {
            !r["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "TIE_BREAKER")
        })
        .map(|(n, _)| n.clone())
        .collect();
    v.sort();
    v
}

#[test]
fn vm_lifecycle_two_hosts() {
    let h = Harness::new(&["s1", "s2", "n1", "n2"]);
    let ds_img = h.serve_datastore_on_s1_s2(100, 0, &[]);
    h.serve_datastore_on_s1_s2(0, 1, &[]);

    let image = h.tmp.path().join("image.raw");
    let payload: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&image, &payload).unwrap();

    // cp, 6.6 form (message as argument)
    let msg = action_msg(
        &image_xml(7, "", image.to_str().unwrap(), "raw", 4, -1, &[]),
        &ds_img,
    );
    let r = h.run("datastore", "linstor", "cp", &[&b64(&msg), "7"], "");
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "/dev/drbd/by-res/one-image-7/0 raw\n"),
        "{}",
        r.stderr
    );
    let dev = h.sim.dev_root("s1").join("drbd/by-res/one-image-7/0");
    assert_eq!(
        std::fs::read(&dev).unwrap()[..payload.len()],
        payload[..],
        "image data in the volume"
    );
    let rd = &h.rds()["one-image-7"];
    assert_eq!(rd["props"]["Aux/one/IMAGE_ID"], "7");
    assert_eq!(
        real_nodes(rd),
        ["s1", "s2"],
        "only the two replicas, no bridge leftovers: {rd}"
    );

    // mkfs of a persistent datablock, >= 6.8 form (stdin)
    let msg = action_msg(&image_xml(8, "", "", "raw", 8, -1, &[]), &ds_img);
    let r = h.run("datastore", "linstor", "mkfs", &["8"], &b64(&msg));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "/dev/drbd/by-res/one-image-8/0\n"),
        "{}",
        r.stderr
    );

    let vm = vm_xml(
        31,
        &[
            (
                0,
                Some(7),
                "/dev/drbd/by-res/one-image-7/0",
                true,
                "linstor",
                100,
                8,
            ),
            (
                1,
                Some(8),
                "/dev/drbd/by-res/one-image-8/0",
                false,
                "linstor",
                100,
                8,
            ),
        ],
    );
    h.serve("one.vm.info", 31, vm.clone());

    // deploy on n1
    let disk0 = format!("n1:{DIR}/disk.0");
    let r = h.run(
        "tm",
        "linstor",
        "clone",
        &["fe:/dev/drbd/by-res/one-image-7/0", &disk0, "31", "100"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = h.run(
        "tm",
        "linstor",
        "ln",
        &[
            "fe:/dev/drbd/by-res/one-image-8/0",
            &format!("n1:{DIR}/disk.1"),
            "31",
            "100",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rds = h.rds();
    let clone = &rds["one-vm-31-disk-0"];
    assert_eq!(clone["props"]["Aux/one/VM_ID"], "31");
    assert_eq!(clone["props"]["Aux/one/DISK_ID"], "0");
    assert_eq!(clone["props"]["Aux/one/DS_ID"], "0");
    assert_eq!(
        clone["volumes"][0]["size_kib"],
        8 * 1024,
        "grown to the VM disk size"
    );
    assert!(
        clone["resources"]["n1"].is_object(),
        "attached on n1: {clone}"
    );
    assert!(rds["one-image-8"]["resources"]["n1"].is_object());
    assert_eq!(
        h.host_link("n1", "/var/lib/one/datastores/0/31/disk.0"),
        h.sim.dev_root("n1").join("drbd/by-res/one-vm-31-disk-0/0")
    );
    let cloned =
        std::fs::read(h.sim.dev_root("s1").join("drbd/by-res/one-vm-31-disk-0/0")).unwrap();
    assert_eq!(
        cloned[..payload.len()],
        payload[..],
        "clone carries the image data"
    );
    std::fs::create_dir_all(h.hosts().join("n1").join(&DIR[1..])).unwrap();
    std::fs::write(
        h.hosts().join("n1/var/lib/one/datastores/0/31/disk.2"),
        "context iso",
    )
    .unwrap();

    // live migration n1 -> n2
    h.sim.set_in_use("one-vm-31-disk-0", "n1", true);
    let r = h.run(
        "tm",
        "linstor",
        "premigrate",
        &["n1", "n2", DIR, "31", "0"],
        &b64(&vm),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rds = h.rds();
    for rd in ["one-vm-31-disk-0", "one-image-8"] {
        assert_eq!(
            rds[rd]["props"]["DrbdOptions/Net/allow-two-primaries"], "yes",
            "{rd}"
        );
        assert!(rds[rd]["resources"]["n2"].is_object(), "{rd} on n2");
    }
    assert!(h
        .hosts()
        .join("n2/var/lib/one/datastores/0/31/disk.1")
        .symlink_metadata()
        .is_ok());
    assert_eq!(
        std::fs::read_to_string(h.hosts().join("n2/var/lib/one/datastores/0/31/disk.2")).unwrap(),
        "context iso"
    );
    h.sim.set_in_use("one-vm-31-disk-0", "n1", false);
    h.sim.set_in_use("one-vm-31-disk-0", "n2", true);
    let r = h.run(
        "tm",
        "linstor",
        "postmigrate",
        &["n1", "n2", DIR, "31", "0"],
        &b64(&vm),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rds = h.rds();
    for rd in ["one-vm-31-disk-0", "one-image-8"] {
        let n1 = &rds[rd]["resources"]["n1"];
        assert!(
            n1.is_null()
                || n1["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == "TIE_BREAKER")),
            "{rd} released on n1 (LINSTOR 1.34 takes the last voting diskless over as its tie-breaker when the target is a DRBD client): {n1}"
        );
        assert!(
            rds[rd]["props"]["DrbdOptions/Net/allow-two-primaries"].is_null(),
            "{rd}: dual primary closed"
        );
    }
    assert!(
        !h.hosts().join("n1/var/lib/one/datastores/0/31").exists(),
        "source dir removed"
    );
    h.sim.set_in_use("one-vm-31-disk-0", "n2", false);

    // snapshots on n2
    let disk0 = format!("n2:{DIR}/disk.0");
    let r = h.run(
        "tm",
        "linstor",
        "snap_create",
        &[&disk0, "0", "31", "100"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        h.rds()["one-vm-31-disk-0"]["snapshots"],
        serde_json::json!(["snapshot-0"])
    );
    let r = h.run(
        "tm",
        "linstor",
        "snap_revert",
        &[&disk0, "0", "31", "100"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);

    // terminate: persistent disk back (mvds), clone deleted, VM dir removed
    let r = h.run(
        "tm",
        "linstor",
        "mvds",
        &[
            &format!("n2:{DIR}/disk.1"),
            "/dev/drbd/by-res/one-image-8/0",
            "31",
            "100",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = h.run("tm", "linstor", "delete", &[&disk0, "31", "100"], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = h.run(
        "tm",
        "linstor",
        "delete",
        &[&format!("n2:{DIR}"), "31", "0"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!h.hosts().join("n2/var/lib/one/datastores/0/31").exists());

    // rm the non-persistent image, keep the persistent one
    let msg = action_msg(
        &image_xml(7, "/dev/drbd/by-res/one-image-7/0", "", "raw", 4, -1, &[]),
        &ds_img,
    );
    let r = h.run("datastore", "linstor", "rm", &["-", "7"], &b64(&msg));
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);

    let rds = h.rds();
    assert_eq!(
        rds.keys().collect::<Vec<_>>(),
        ["one-image-8"],
        "only the persistent image remains"
    );
    assert_eq!(
        real_nodes(&rds["one-image-8"]),
        ["s1", "s2"],
        "no host attachments left"
    );
    assert!(rds["one-image-8"]["snapshots"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn malformed_input_changes_nothing() {
    let h = Harness::new(&["s1", "s2"]);
    let tpl = [("LS_CONTROLLERS", h.sim.url())];
    let tpl: Vec<(&str, &str)> = tpl.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ds = datastore_xml(100, 0, &tpl);
    let good = b64(&action_msg(
        &image_xml(9, "", "/nonexistent", "raw", 4, -1, &[]),
        &ds,
    ));
    h.sim.reset_stats();
    let cases: Vec<(&str, &str, Vec<String>, String, &str)> = vec![
        (
            "datastore",
            "cp",
            vec!["@@notbase64@@".into(), "9".into()],
            String::new(),
            "not valid base64",
        ),
        (
            "datastore",
            "cp",
            vec!["9".into()],
            b64("<DS_DRIVER_ACTION_DATA><IMAGE>"),
            "malformed XML",
        ),
        (
            "datastore",
            "cp",
            vec!["9".into()],
            b64("<VM><ID>1</ID></VM>"),
            "expected <DS_DRIVER_ACTION_DATA>",
        ),
        (
            "datastore",
            "cp",
            vec![good.clone(), "nine".into()],
            String::new(),
            "bad id 'nine'",
        ),
        ("datastore", "cp", vec![], String::new(), "expected"),
        ("datastore", "rm", vec!["9".into()], String::new(), "empty"),
        (
            "tm",
            "clone",
            vec![
                "fe:one-image-9".into(),
                "n1:/d/0/5/disk.0;reboot".into(),
                "5".into(),
                "100".into(),
            ],
            String::new(),
            "not allowed",
        ),
        (
            "tm",
            "delete",
            vec!["n1:/d/../../etc".into(), "5".into(), "0".into()],
            String::new(),
            "'..'",
        ),
        (
            "tm",
            "resize",
            vec![
                "n1:/d/0/5/disk.0".into(),
                "big".into(),
                "5".into(),
                "0".into(),
            ],
            String::new(),
            "bad size_mb",
        ),
        (
            "tm",
            "premigrate",
            vec![
                "n1".into(),
                "n2".into(),
                "/d/0/5".into(),
                "5".into(),
                "0".into(),
            ],
            "%%%".into(),
            "not valid base64",
        ),
    ];
    for (kind, action, args, stdin, needle) in cases {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = h.run(kind, "linstor", action, &a, &stdin);
        assert_eq!(r.code, 2, "{kind}/{action} {args:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{r:?}");
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one plain stderr line: {r:?}");
        assert!(
            lines[0].starts_with(&format!("{action}: ")) && lines[0].contains(needle),
            "{kind}/{action}: {}",
            lines[0]
        );
    }
    assert_eq!(h.sim.request_count(), 0, "nothing was sent to LINSTOR");
    assert!(h.rds().is_empty());
}
