//! Controller-VM exclusion (`LINSTOR_CONTROLLER_VM`): the VM that runs the LINSTOR controller
//! gets its disks linked with the controller down, `delete`/`rm` keep its volumes, and
//! snapshot/resize still need the controller and fail clearly without it.

mod support;

use std::sync::Arc;

use linstor_common::config::{ClientConfig, Overlay, Sources};
use linstor_common::host::RealHost;
use linstor_common::naming::Platform;
use linstor_common::volume::{Storage, StorageConfig};
use linstor_common::Client;
use support::*;

const DIR: &str = "/var/lib/one//datastores/0/50";

/// Set RD props as `addon-linstor_un`'s `ln` does on image volumes.
fn set_props(url: &str, rd: &str, props: &[(&str, &str)]) {
    let sources = Sources {
        ls_controllers: None,
        ls_username: None,
        ls_password: None,
        client_conf: "/nonexistent/linstor-client.conf".into(),
        auth_json: "/nonexistent/auth.json".into(),
    };
    let client =
        Client::new(ClientConfig::discover(&Overlay::controllers(Some(url)), &sources).unwrap())
            .unwrap();
    let st = Storage::new(
        StorageConfig::new(Platform::OpenNebula, "frontend"),
        client,
        Arc::new(RealHost),
    );
    let props = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(st.set_props(rd, props, Vec::new()))
        .unwrap();
}

#[test]
fn controller_vm_disks_without_the_controller() {
    let h = Harness::new(&["s1", "s2", "n1"]);
    let url = h.sim.url();
    let controller_vm = [("LINSTOR_CONTROLLER_VM", "50")];
    let ds = h.serve_datastore_on_s1_s2(100, 0, &controller_vm);
    h.serve_datastore_on_s1_s2(0, 1, &controller_vm);
    let image = h.tmp.path().join("image.raw");
    std::fs::write(&image, vec![3u8; 2 << 20]).unwrap();
    let ok = |r: Run| assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{}", r.stderr);
    let cp = action_msg(
        &image_xml(7, "", image.to_str().unwrap(), "raw", 2, -1, &[]),
        &ds,
    );
    assert_eq!(
        h.run("datastore", "linstor", "cp", &["7"], &b64(&cp)).code,
        0
    );
    let mkfs = action_msg(&image_xml(8, "", "", "raw", 4, -1, &[]), &ds);
    assert_eq!(
        h.run("datastore", "linstor", "mkfs", &["8"], &b64(&mkfs))
            .code,
        0
    );
    let (img7, img8) = (
        "/dev/drbd/by-res/one-image-7/0",
        "/dev/drbd/by-res/one-image-8/0",
    );
    for vm in [50, 51] {
        h.serve(
            "one.vm.info",
            vm,
            vm_xml(
                vm,
                &[
                    (0, Some(7), img7, true, "linstor", 100, 2),
                    (1, Some(8), img8, false, "linstor", 100, 4),
                ],
            ),
        );
    }
    let disk = |i: u32| format!("n1:{DIR}/disk.{i}");
    let link = |i: u32| {
        h.hosts()
            .join("n1")
            .join(format!("var/lib/one/datastores/0/50/disk.{i}"))
    };
    let clone_and_ln = || {
        ok(h.run(
            "tm",
            "linstor",
            "clone",
            &[&format!("fe:{img7}"), &disk(0), "50", "100"],
            "",
        ));
        ok(h.run(
            "tm",
            "linstor",
            "ln",
            &[&format!("fe:{img8}"), &disk(1), "50", "100"],
            "",
        ));
    };
    clone_and_ln();
    set_props(
        &url,
        "one-image-8",
        &[("Aux/one/VM_ID", "50"), ("Aux/one/DISK_ID", "1")],
    );

    // The controller VM restarts while its controller is down: links come back from the
    // devices already on the host.
    h.sim.set_down(true);
    for i in [0, 1] {
        std::fs::remove_file(link(i)).unwrap();
    }
    clone_and_ln();
    for (i, rd) in [(0, "one-vm-50-disk-0"), (1, "one-image-8")] {
        assert!(
            h.host_link("n1", &format!("{DIR}/disk.{i}"))
                .ends_with(format!("n1/drbd/by-res/{rd}/0")),
            "disk.{i} links to {rd}"
        );
    }
    // Any other VM links an image already on the host too (the data plane never waits on the
    // controller); one that is not on the host needs the controller.
    let r = h.run(
        "tm",
        "linstor",
        "ln",
        &[
            &format!("fe:{img8}"),
            "n1:/var/lib/one/datastores/0/51/disk.1",
            "51",
            "100",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("linked without the controller"),
        "{}",
        r.stderr
    );
    let r = h.run(
        "tm",
        "linstor",
        "ln",
        &[
            &format!("fe:{img7}"),
            "n1:/var/lib/one/datastores/0/51/disk.0",
            "51",
            "100",
        ],
        "",
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&url),
        "names the controller: {}",
        r.stderr
    );
    // Snapshot and resize go to the controller: a clear failure, never a silent success.
    for (action, args) in [
        (
            "snap_create",
            [disk(0), "0".to_string(), "50".into(), "100".into()],
        ),
        (
            "resize",
            [disk(0), "8".to_string(), "50".into(), "100".into()],
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = h.run("tm", "linstor", action, &args, "");
        assert_eq!(r.code, 3, "{action}: {}", r.stderr);
        let last = r.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("{action}: "))
                && last.contains("no LINSTOR controller reachable"),
            "{action}: {}",
            r.stderr
        );
    }
    // Terminating the controller VM keeps its volumes, controller down or up.
    ok(h.run("tm", "linstor", "delete", &[&disk(0), "50", "100"], ""));
    h.sim.set_down(false);
    ok(h.run("tm", "linstor", "delete", &[&disk(0), "50", "100"], ""));
    ok(h.run("tm", "linstor", "delete", &[&disk(1), "50", "100"], ""));
    let rm = action_msg(&image_xml(8, img8, "", "raw", 4, -1, &[]), &ds);
    ok(h.run("datastore", "linstor", "rm", &["8"], &b64(&rm)));
    let rds = h.rds();
    for rd in ["one-vm-50-disk-0", "one-image-8"] {
        assert!(rds.contains_key(rd), "{rd} kept: {:?}", rds.keys());
        assert!(
            rds[rd]["resources"].get("n1").is_some(),
            "{rd} still attached on n1"
        );
    }
    // A VM that is not the controller VM is cleaned up as usual.
    ok(h.run(
        "tm",
        "linstor",
        "clone",
        &[
            &format!("fe:{img7}"),
            "n1:/var/lib/one/datastores/0/51/disk.0",
            "51",
            "100",
        ],
        "",
    ));
    ok(h.run(
        "tm",
        "linstor",
        "delete",
        &["n1:/var/lib/one/datastores/0/51/disk.0", "51", "100"],
        "",
    ));
    assert!(!h.rds().contains_key("one-vm-51-disk-0"));
}
