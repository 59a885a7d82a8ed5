//! `snap_revert` to an older snapshot through the real driver: LINSTOR 1.34 rolls back to any
//! snapshot, an emulated 1.31.1 only to the newest, and the driver follows the controller.

mod support;

use support::*;

/// Image 5 with LINSTOR snapshots `snapshot-0` then `snapshot-1`; reverts to `target`.
fn revert(version: &str, target: i64) -> Run {
    let h = Harness::with_version(&["n1", "n2", "n3"], version);
    let url = h.sim.url();
    let ds = datastore_xml(
        100,
        0,
        &[("LS_CONTROLLERS", url.as_str()), ("REPLICA_COUNT", "2")],
    );
    h.serve("one.datastore.info", 100, ds.clone());
    let msg = action_msg(&image_xml(5, "", "", "raw", 16, -1, &[]), &ds);
    let r = h.run("datastore", "linstor", "mkfs", &["5"], &b64(&msg));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for s in ["snapshot-0", "snapshot-1"] {
        let (st, v) = h.sim.call(
            "POST",
            "/v1/resource-definitions/one-image-5/snapshots",
            serde_json::json!({"name": s}).to_string().as_bytes(),
        );
        assert_eq!(st, 201, "{v:?}");
    }
    let msg = action_msg(
        &image_xml(
            5,
            "/dev/drbd/by-res/one-image-5/0",
            "",
            "raw",
            16,
            target,
            &[0, 1],
        ),
        &ds,
    );
    h.run("datastore", "linstor", "snap_revert", &["5"], &b64(&msg))
}

#[test]
fn revert_to_an_older_snapshot_on_1_34() {
    let r = revert("1.34.0", 0);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn revert_to_an_older_snapshot_refused_on_1_31_1() {
    let r = revert("1.31.1", 0);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("LINSTOR 1.31.1 rolls back only to the newest snapshot")
            && r.stderr.contains("snapshot-1"),
        "{}",
        r.stderr
    );
    let r = revert("1.31.1", 1);
    assert_eq!(r.code, 0, "the newest is fine: {}", r.stderr);
}
