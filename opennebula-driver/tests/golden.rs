//! Golden tests: stdout and exit code of every DS and TM action, invoked as oned invokes them,
//! with documents built in each version's format and with the documents in
//! `../shared/fixtures/opennebula/` (skipped with a message where absent). Regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p linstor-one --test golden`.

mod support;

use std::fmt::Write as _;
use std::path::Path;

use support::*;

struct Transcript<'a> {
    h: &'a Harness,
    out: String,
}

impl Transcript<'_> {
    fn case(&mut self, label: &str, kind: &str, action: &str, args: &[&str], stdin: &str) -> Run {
        let r = self.h.run(kind, "linstor", action, args, stdin);
        let norm = |s: &str| {
            s.replace(self.h.tmp.path().to_str().unwrap(), "$TMP")
                .replace(&self.h.sim.url(), "$SIM")
        };
        let plain: Vec<String> = r
            .stderr
            .lines()
            .filter(|l| {
                !l.starts_with("INFO:") && !l.starts_with("WARN:") && !l.starts_with("DEBUG:")
            })
            .map(norm)
            .collect();
        writeln!(
            self.out,
            "== {label}: {kind}/{action}\nexit: {}\nstdout: {:?}\nmessage: {:?}",
            r.code,
            norm(&r.stdout),
            plain.join(" | ")
        )
        .unwrap();
        r
    }
}

fn check(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
            path.display()
        )
    });
    if want != got {
        let diff: Vec<String> = want
            .lines()
            .zip(got.lines())
            .filter(|(a, b)| a != b)
            .take(5)
            .map(|(a, b)| format!("- {a}\n+ {b}"))
            .collect();
        panic!(
            "{} differs (UPDATE_GOLDEN=1 regenerates):\n{}\n(lines: want {}, got {})",
            path.display(),
            diff.join("\n"),
            want.lines().count(),
            got.lines().count()
        );
    }
}

#[test]
fn every_action_in_every_input_form() {
    let h = Harness::new(&["s1", "s2", "n1", "n2"]);
    let url = h.sim.url();
    let un = [
        ("LS_CONTROLLERS", url.as_str()),
        ("REPLICA_COUNT", "2"),
        ("NODE_LIST", "s1,s2"),
    ];
    let lb = [
        ("LINSTOR_CONTROLLERS", url.as_str()),
        ("LINSTOR_RESOURCE_GROUP", "DfltRscGrp"),
    ];
    let ds = datastore_xml(100, 0, &un);
    let ds_lb = datastore_xml(103, 0, &lb);
    let sys = datastore_xml(0, 1, &un);
    h.serve("one.datastore.info", 100, ds.clone());
    h.serve("one.datastore.info", 103, ds_lb.clone());
    h.serve("one.datastore.info", 0, sys.clone());
    let img = h.tmp.path().join("img.raw");
    std::fs::write(&img, vec![7u8; 3 << 20]).unwrap();
    let img = img.to_str().unwrap();
    let mut t = Transcript {
        h: &h,
        out: String::new(),
    };

    let m = |i: &str, d: &str| b64(&action_msg(i, d));
    // <= 5.12 document: FSTYPE instead of FORMAT, CDATA everywhere, message as argument
    let legacy = format!(
        "<DS_DRIVER_ACTION_DATA><IMAGE><ID>1</ID><NAME><![CDATA[ttylinux]]></NAME><TYPE>0</TYPE><PERSISTENT>0</PERSISTENT><SOURCE><![CDATA[]]></SOURCE>\
<PATH><![CDATA[{img}]]></PATH><FSTYPE><![CDATA[]]></FSTYPE><SIZE>3</SIZE></IMAGE>{ds}</DS_DRIVER_ACTION_DATA>"
    );
    t.case(
        "stat, 5.12 argument form",
        "datastore",
        "stat",
        &[&b64(&legacy), "0"],
        "",
    );
    t.case(
        "cp, 5.12 argument form",
        "datastore",
        "cp",
        &[&b64(&legacy), "1"],
        "",
    );
    t.case(
        "cp, 6.6 with -i",
        "datastore",
        "cp",
        &["-", "2"],
        &m(&image_xml(2, "", img, "raw", 3, -1, &[]), &ds),
    );
    t.case(
        "cp, 6.8+ stdin, LINBIT attributes",
        "datastore",
        "cp",
        &["3"],
        &m(&image_xml(3, "", img, "raw", 3, -1, &[]), &ds_lb),
    );
    t.case(
        "cp, missing file",
        "datastore",
        "cp",
        &["4"],
        &m(
            &image_xml(4, "", "/nonexistent.img", "raw", 0, -1, &[]),
            &ds,
        ),
    );
    t.case(
        "mkfs raw",
        "datastore",
        "mkfs",
        &["5"],
        &m(&image_xml(5, "", "", "raw", 16, -1, &[]), &ds),
    );
    t.case(
        "mkfs save_as",
        "datastore",
        "mkfs",
        &["6"],
        &m(&image_xml(6, "", "", "save_as", 16, -1, &[]), &ds),
    );
    t.case(
        "monitor image DS",
        "datastore",
        "monitor",
        &["100"],
        &m("", &ds),
    );
    let mut clone = image_xml(9, "", "/dev/drbd/by-res/one-image-2/0", "raw", 3, -1, &[]);
    clone = clone.replace("<CLONING_ID>-1</CLONING_ID>", "<CLONING_ID>2</CLONING_ID>");
    t.case("clone", "datastore", "clone", &["9"], &m(&clone, &ds));
    t.case(
        "export",
        "datastore",
        "export",
        &["55"],
        &m(
            &image_xml(2, "/dev/drbd/by-res/one-image-2/0", "", "raw", 3, -1, &[]),
            &ds,
        ),
    );

    let vm = vm_xml(
        40,
        &[
            (
                0,
                Some(2),
                "/dev/drbd/by-res/one-image-2/0",
                true,
                "linstor",
                100,
                4,
            ),
            (
                1,
                Some(5),
                "/dev/drbd/by-res/one-image-5/0",
                false,
                "linstor",
                100,
                16,
            ),
            (2, None, "", false, "linstor", 0, 8),
            (3, Some(3), "OpenNebula-Image-3", true, "linstor", 103, 3),
        ],
    );
    h.serve("one.vm.info", 40, vm.clone());
    let dir = "/var/lib/one//datastores/0/40";
    let d = |host: &str, i: u32| format!("{host}:{dir}/disk.{i}");
    t.case(
        "tm clone (UN)",
        "tm",
        "clone",
        &[
            "fe:/dev/drbd/by-res/one-image-2/0",
            &d("n1", 0),
            "40",
            "100",
        ],
        "",
    );
    t.case(
        "tm clone (LINBIT)",
        "tm",
        "clone",
        &["fe:OpenNebula-Image-3", &d("n1", 3), "40", "103"],
        "",
    );
    t.case(
        "tm ln",
        "tm",
        "ln",
        &[
            "fe:/dev/drbd/by-res/one-image-5/0",
            &d("n1", 1),
            "40",
            "100",
        ],
        "",
    );
    t.case(
        "tm mkimage",
        "tm",
        "mkimage",
        &["8", "ext4", &d("n1", 2), "40", "0"],
        "",
    );
    t.case(
        "tm mkswap",
        "tm",
        "mkswap",
        &["8", &d("n1", 4), "41", "0"],
        "",
    );
    t.case(
        "tm context",
        "tm",
        "context",
        &["/var/lib/one/vms/40/context.sh", &d("n1", 5), "40", "0"],
        "",
    );
    t.case(
        "tm resize",
        "tm",
        "resize",
        &[&d("n1", 0), "6", "40", "100"],
        "",
    );
    t.case(
        "tm resize shrink",
        "tm",
        "resize",
        &[&d("n1", 0), "1", "40", "100"],
        "",
    );
    t.case(
        "tm snap_create",
        "tm",
        "snap_create",
        &[&d("n1", 0), "0", "40", "100"],
        "",
    );
    t.case(
        "tm snap_create_live",
        "tm",
        "snap_create_live",
        &[&d("n1", 0), "1", "40", "100"],
        "",
    );
    t.case(
        "tm snap_revert older",
        "tm",
        "snap_revert",
        &[&d("n1", 0), "0", "40", "100"],
        "",
    );
    t.case(
        "tm snap_revert newest",
        "tm",
        "snap_revert",
        &[&d("n1", 0), "1", "40", "100"],
        "",
    );
    t.case(
        "tm snap_delete",
        "tm",
        "snap_delete",
        &[&d("n1", 0), "1", "40", "100"],
        "",
    );
    t.case(
        "tm cpds from snapshot",
        "tm",
        "cpds",
        &[
            &d("n1", 0),
            "/dev/drbd/by-res/one-image-6/0",
            "0",
            "40",
            "100",
        ],
        "",
    );
    t.case(
        "tm cpds current",
        "tm",
        "cpds",
        &[
            &d("n1", 1),
            "/dev/drbd/by-res/one-image-11/0",
            "-1",
            "40",
            "100",
        ],
        "",
    );
    t.case(
        "tm premigrate",
        "tm",
        "premigrate",
        &["n1", "n2", dir, "40", "0"],
        &b64(&vm),
    );
    t.case(
        "tm failmigrate",
        "tm",
        "failmigrate",
        &["n1", "n2", dir, "40", "0"],
        &b64(&vm),
    );
    t.case(
        "tm premigrate as image TM under ssh",
        "tm",
        "premigrate",
        &["n1", "n2", dir, "40", "0", "ssh"],
        &b64(&vm),
    );
    t.case(
        "tm postmigrate",
        "tm",
        "postmigrate",
        &["n1", "n2", dir, "40", "0"],
        &b64(&vm),
    );
    t.case(
        "tm mv to front-end (undeploy)",
        "tm",
        "mv",
        &[
            &d("n2", 0),
            "fe:/var/lib/one/datastores/0/40/disk.0",
            "40",
            "100",
        ],
        "",
    );
    t.case(
        "tm mv back (resume)",
        "tm",
        "mv",
        &[
            "fe:/var/lib/one/datastores/0/40/disk.0",
            &d("n1", 0),
            "40",
            "100",
        ],
        "",
    );
    t.case(
        "tm mv dir",
        "tm",
        "mv",
        &[&format!("n2:{dir}"), &format!("n1:{dir}"), "40", "0"],
        "",
    );
    t.case("tm monitor (system DS)", "tm", "monitor", &["0"], &m("", &sys.replace("</DATASTORE>", "</DATASTORE><DATASTORE_LOCATION>/var/lib/one/datastores</DATASTORE_LOCATION><MONITOR_VM_DISKS>1</MONITOR_VM_DISKS>")));
    t.case(
        "tm mvds",
        "tm",
        "mvds",
        &[&d("n1", 1), "/dev/drbd/by-res/one-image-5/0", "40", "100"],
        "",
    );
    t.case(
        "tm delete clone",
        "tm",
        "delete",
        &[&d("n1", 0), "40", "100"],
        "",
    );
    t.case(
        "tm delete volatile",
        "tm",
        "delete",
        &[&d("n1", 2), "40", "0"],
        "",
    );
    t.case(
        "tm delete dir",
        "tm",
        "delete",
        &[&format!("n1:{dir}"), "40", "0"],
        "",
    );
    t.case(
        "tm delete unknown VM",
        "tm",
        "delete",
        &[&d("n1", 0), "99", "100"],
        "",
    );

    let snapped = image_xml(5, "/dev/drbd/by-res/one-image-5/0", "", "raw", 16, 0, &[0]);
    t.case(
        "snap_revert of a missing snapshot",
        "datastore",
        "snap_revert",
        &["5"],
        &m(&snapped, &ds),
    );
    t.case(
        "snap_delete",
        "datastore",
        "snap_delete",
        &["5"],
        &m(&snapped, &ds),
    );
    t.case(
        "snap_flatten",
        "datastore",
        "snap_flatten",
        &["5"],
        &m(&snapped, &ds),
    );
    for snap in ["0", "1"] {
        t.case(
            "tm snap_create on a persistent image disk",
            "tm",
            "snap_create",
            &[&d("n1", 1), snap, "40", "100"],
            "",
        );
    }
    for (label, target) in [
        ("snap_revert to an older snapshot", 0),
        ("snap_revert to the newest snapshot", 1),
    ] {
        let source = "/dev/drbd/by-res/one-image-5/0";
        let image = image_xml(5, source, "", "raw", 16, target, &[0, 1]);
        t.case(label, "datastore", "snap_revert", &["5"], &m(&image, &ds));
    }
    let image2 = image_xml(2, "/dev/drbd/by-res/one-image-2/0", "", "raw", 3, -1, &[]);
    for label in ["rm", "rm again (idempotent)"] {
        t.case(label, "datastore", "rm", &["2"], &m(&image2, &ds));
    }
    t.case(
        "rm of a foreign resource",
        "datastore",
        "rm",
        &["2"],
        &m(
            &image_xml(2, "/dev/drbd/by-res/pm-12345678/0", "", "raw", 3, -1, &[]),
            &ds,
        ),
    );
    h.sim.set_down(true);
    t.case(
        "monitor, controller down",
        "datastore",
        "monitor",
        &["100"],
        &m("", &ds),
    );
    t.case(
        "rm, controller down",
        "datastore",
        "rm",
        &["5"],
        &m(&snapped, &ds),
    );
    h.sim.set_down(false);
    let names: Vec<String> = h.rds().keys().cloned().collect();
    writeln!(
        t.out,
        "== remaining resource definitions\n{}",
        names.join("\n")
    )
    .unwrap();
    check("actions.out", &t.out);
}

fn with_sim_controller(doc: &str, url: &str) -> String {
    let Some(ds_end) = doc.rfind("</DATASTORE>") else {
        return doc.to_string();
    };
    let Some(end) = doc[..ds_end].rfind("</TEMPLATE>") else {
        return doc.to_string();
    };
    format!(
        "{}<LINSTOR_CONTROLLERS>{url}</LINSTOR_CONTROLLERS><LINSTOR_RESOURCE_GROUP>DfltRscGrp</LINSTOR_RESOURCE_GROUP>{}",
        &doc[..end],
        &doc[end..]
    )
}

#[test]
fn fixture_documents() {
    let Some(fx) = fixtures() else {
        return;
    };
    let h = Harness::new(&["s1", "s2", "n1"]);
    let url = h.sim.url();
    let mut t = Transcript {
        h: &h,
        out: String::new(),
    };
    let load = |f: &str| with_sim_controller(&std::fs::read_to_string(fx.join(f)).unwrap(), &url);
    let ttylinux = Path::new("/tmp/ttylinux.img");
    if !ttylinux.exists() {
        eprintln!(
            "note: /tmp/ttylinux.img (ds_cp.xml's PATH) is absent; cp reports the missing file"
        );
    }
    let cp = load("ds_cp.xml");
    if ttylinux.exists() {
        writeln!(
            t.out,
            "== (ds_cp.xml skipped: /tmp/ttylinux.img exists on this machine)"
        )
        .unwrap();
    } else {
        t.case(
            "ds_cp.xml, 6.6 argument form",
            "datastore",
            "cp",
            &[&b64(&cp), "0"],
            "",
        );
    }
    t.case(
        "ds_stat.xml (URL)",
        "datastore",
        "stat",
        &["106"],
        &b64(&load("ds_stat.xml")),
    );
    t.case(
        "ds_mkfs.xml (qcow2 datablock)",
        "datastore",
        "mkfs",
        &["-", "18"],
        &b64(&load("ds_mkfs.xml")),
    );
    t.case(
        "ds_monitor_image.xml",
        "datastore",
        "monitor",
        &["117"],
        &b64(&load("ds_monitor_image.xml")),
    );
    t.case(
        "ds_monitor_system.xml",
        "tm",
        "monitor",
        &["0"],
        &b64(&load("ds_monitor_system.xml")),
    );
    let rm = load("ds_rm.SYNTHETIC.xml");
    t.case(
        "ds_rm.SYNTHETIC.xml (absent: success)",
        "datastore",
        "rm",
        &["42"],
        &b64(&rm),
    );
    let revert = load("ds_snap_revert.SYNTHETIC.xml");
    t.case(
        "ds_snap_revert.SYNTHETIC.xml (image absent)",
        "datastore",
        "snap_revert",
        &["7"],
        &b64(&revert),
    );
    let vm = std::fs::read_to_string(fx.join("vm_premigrate.xml")).unwrap();
    let record = other_tm(&h, "ceph");
    t.case(
        "vm_premigrate.xml (no LINSTOR disks)",
        "tm",
        "premigrate",
        &["n1", "n1", "/var/lib/one/datastores/0/0", "0", "0", "ceph"],
        &b64(&vm),
    );
    called(&mut t, &record, &b64(&vm));
    // As the system datastore's TM, the disks of other TMs are theirs: migrate_other.
    for step in ["premigrate", "postmigrate", "failmigrate"] {
        t.case(
            &format!("vm_premigrate.xml as the system TM ({step}: migrate_other)"),
            "tm",
            step,
            &["n1", "s1", "/var/lib/one//datastores/0/800", "800", "0"],
            &b64(&vm),
        );
        called(&mut t, &record, &b64(&vm));
    }
    monitor_ds_case(&mut t, &h);
    check("fixtures.out", &t.out);
}

/// A stand-in for another TM's migration scripts under `remotes/tm/<tm>/` recording their
/// arguments and stdin; the record file.
fn other_tm(h: &Harness, tm: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let record = h.tmp.path().join(format!("{tm}.calls"));
    let dir = h.remotes.join("tm").join(tm);
    std::fs::create_dir_all(&dir).unwrap();
    for step in ["premigrate", "postmigrate", "failmigrate"] {
        let script = dir.join(step);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho \"{step} $*\" >> '{}'\ncat >> '{}.stdin'\n",
                record.display(),
                record.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    record
}

/// Adds what the other TM was called with (and whether it got the template oned sent) to the
/// transcript, and forgets it.
fn called(t: &mut Transcript<'_>, record: &Path, template: &str) {
    let calls = std::fs::read_to_string(record).unwrap_or_default();
    let stdin = std::fs::read_to_string(record.with_extension("calls.stdin")).unwrap_or_default();
    writeln!(
        t.out,
        "other TM called: {:?}; stdin is oned's template: {}",
        calls.trim(),
        !calls.is_empty() && stdin == template.repeat(calls.lines().count())
    )
    .unwrap();
    let _ = std::fs::remove_file(record);
    let _ = std::fs::remove_file(record.with_extension("calls.stdin"));
}

/// `monitor_ds <ds_path>` as the host probe runs it: a system datastore directory with a VM
/// whose disks are a device link and a file, a VM without disks and a stray entry.
fn monitor_ds_case(t: &mut Transcript<'_>, h: &Harness) {
    use base64::Engine as _;
    let ds = h.tmp.path().join("monitor_ds/datastores/0");
    std::fs::create_dir_all(ds.join("31")).unwrap();
    std::fs::create_dir_all(ds.join("32")).unwrap();
    std::fs::create_dir_all(ds.join("lost+found")).unwrap();
    let dev = h.tmp.path().join("monitor_ds/dev-one-vm-31-disk-0");
    std::fs::write(&dev, vec![1u8; 3 << 20]).unwrap();
    std::os::unix::fs::symlink(&dev, ds.join("31/disk.0")).unwrap();
    std::fs::write(ds.join("31/disk.2"), vec![2u8; 1 << 20]).unwrap();
    std::os::unix::fs::symlink("/nonexistent/device", ds.join("31/disk.1")).unwrap();
    std::fs::write(ds.join("31/deployment.0"), "<domain/>").unwrap();
    let r = t.case(
        "monitor_ds (ssh-like system DS, on the host)",
        "tm",
        "monitor_ds",
        &[ds.to_str().unwrap()],
        "",
    );
    for line in r.stdout.lines() {
        let b64 = line
            .split("MONITOR = \"")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .unwrap_or_default();
        let text = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| format!("not base64: {e}"));
        writeln!(t.out, "decoded: {text:?}").unwrap();
    }
}
