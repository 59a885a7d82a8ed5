//! `tm/<drv>/monitor` of a shared system DS with `MONITOR_VM_DISKS=1`: besides the capacity on
//! stdout, the real binary pushes every VM's `DISK_SIZE`/`SNAPSHOT_SIZE` to a stand-in monitord
//! (a local UDP socket named by a test `monitord.conf`), which decodes what arrives.

mod support;

use std::io::Read as _;
use std::net::UdpSocket;
use std::time::Duration;

use base64::Engine as _;
use support::*;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The system-DS monitor message oned sends (`DATASTORE_LOCATION`, `MONITOR_VM_DISKS`).
fn monitor_msg(sys: &str, vm_disks: u8) -> String {
    b64(&action_msg(
        "",
        &format!("{sys}<DATASTORE_LOCATION>/var/lib/one//datastores</DATASTORE_LOCATION><MONITOR_VM_DISKS>{vm_disks}</MONITOR_VM_DISKS>"),
    ))
}

/// `MONITOR_VM SUCCESS -1 0 <b64(zlib(payload))>` → `(vm_id, decoded MONITOR text)` per VM.
fn decode(datagram: &str) -> Vec<(u64, String)> {
    let body = datagram
        .strip_prefix("MONITOR_VM SUCCESS -1 0 ")
        .and_then(|s| s.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("not a MONITOR_VM message: {datagram:?}"));
    let mut payload = String::new();
    flate2::read::ZlibDecoder::new(&B64.decode(body).unwrap()[..])
        .read_to_string(&mut payload)
        .unwrap();
    payload
        .split("VM=[ID=")
        .filter(|s| !s.trim().is_empty())
        .map(|entry| {
            let (id, rest) = entry.split_once(", MONITOR=\"").unwrap();
            let b = rest.trim_end().strip_suffix("\"]").unwrap();
            (
                id.parse().unwrap(),
                String::from_utf8(B64.decode(b).unwrap()).unwrap(),
            )
        })
        .collect()
}

fn recv(sock: &UdpSocket) -> Option<String> {
    let mut buf = vec![0u8; 65536];
    sock.recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn vm_disk_sizes_reach_monitord() {
    let h = Harness::new(&["s1", "s2", "n1"]);
    let ds_img = h.serve_datastore_on_s1_s2(100, 0, &[]);
    let sys0 = h.serve_datastore_on_s1_s2(0, 1, &[]);
    let sys1 = h.serve_datastore_on_s1_s2(1, 1, &[]);
    let image = h.tmp.path().join("image.raw");
    std::fs::write(&image, vec![1u8; 4 << 20]).unwrap();
    let msg = action_msg(
        &image_xml(7, "", image.to_str().unwrap(), "raw", 4, -1, &[]),
        &ds_img,
    );
    let ok = |r: Run| assert_eq!(r.code, 0, "{}", r.stderr);
    ok(h.run("datastore", "linstor", "cp", &["7"], &b64(&msg)));
    let src = "/dev/drbd/by-res/one-image-7/0";
    h.serve(
        "one.vm.info",
        31,
        vm_xml(
            31,
            &[
                (0, Some(7), src, true, "linstor", 100, 8),
                (2, None, "", false, "linstor", 0, 16),
            ],
        ),
    );
    h.serve(
        "one.vm.info",
        33,
        vm_xml(33, &[(0, Some(7), src, true, "linstor", 100, 4)]),
    );
    let vm31 = "/var/lib/one//datastores/0/31";
    ok(h.run(
        "tm",
        "linstor",
        "clone",
        &[
            &format!("fe:{src}"),
            &format!("n1:{vm31}/disk.0"),
            "31",
            "100",
        ],
        "",
    ));
    ok(h.run(
        "tm",
        "linstor",
        "mkimage",
        &["16", "raw", &format!("n1:{vm31}/disk.2"), "31", "0"],
        "",
    ));
    ok(h.run(
        "tm",
        "linstor",
        "snap_create",
        &[&format!("n1:{vm31}/disk.0"), "0", "31", "100"],
        "",
    ));
    // VM 33 runs from system DS 1: not part of DS 0's report
    ok(h.run(
        "tm",
        "linstor",
        "clone",
        &[
            &format!("fe:{src}"),
            "n1:/var/lib/one/datastores/1/33/disk.0",
            "33",
            "100",
        ],
        "",
    ));

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let conf = h.tmp.path().join("monitord.conf");
    std::fs::write(
        &conf,
        format!("NETWORK = [\n  ADDRESS = \"0.0.0.0\",\n  MONITOR_ADDRESS = \"auto\",\n  PORT = {port},\n  THREADS = 8,\n  PUBKEY = \"\",\n  PRIKEY = \"\"\n]\n"),
    )
    .unwrap();
    let env = [("LINSTOR_ONE_MONITORD_CONF", conf.to_str().unwrap())];
    let monitor = |kind: &str, ds: &str, doc: &str, vm_disks| {
        let msg = monitor_msg(doc, vm_disks);
        let r = h.run_env(kind, "linstor", "monitor", &[ds], &msg, &env);
        assert_eq!(r.code, 0, "{kind}/monitor {ds}: {}", r.stderr);
        r
    };

    let r = monitor("tm", "0", &sys0, 1);
    assert!(r.stdout.starts_with("USED_MB="), "{}", r.stdout);
    let got = decode(&recv(&sock).expect("a MONITOR_VM datagram"));
    assert_eq!(
        got,
        [(
            31,
            "DISK_SIZE=[ID=0,SIZE=8] DISK_SIZE=[ID=2,SIZE=16] SNAPSHOT_SIZE=[ID=0,DISK_ID=0,SIZE=8]"
                .to_string()
        )]
    );
    monitor("tm", "1", &sys1, 1);
    let got = decode(&recv(&sock).expect("a MONITOR_VM datagram for DS 1"));
    assert_eq!(got, [(33, "DISK_SIZE=[ID=0,SIZE=4]".to_string())]);

    // MONITOR_VM_DISKS=0 (oned's off cycles) and image DSs send nothing
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    monitor("tm", "0", &sys0, 0);
    monitor("datastore", "100", &ds_img, 1);
    assert_eq!(
        recv(&sock),
        None,
        "nothing is sent without MONITOR_VM_DISKS=1 on a system DS"
    );

    // encrypted monitord: refused with a warning, capacity still reported
    std::fs::write(
        &conf,
        format!("NETWORK = [ MONITOR_ADDRESS = \"auto\", PORT = {port}, PUBKEY = \"/etc/one/monitord_pub.pem\" ]\n"),
    )
    .unwrap();
    let r = monitor("tm", "0", &sys0, 1);
    assert!(r.stdout.starts_with("USED_MB="), "{}", r.stdout);
    assert!(
        r.stderr.lines().any(
            |l| l.starts_with("WARN: monitor: VM disk sizes not reported") && l.contains("PUBKEY")
        ),
        "{}",
        r.stderr
    );
    assert_eq!(
        recv(&sock),
        None,
        "nothing is sent unencrypted to an encrypting monitord"
    );
}

/// `LINSTOR_CAPACITY` offers the peers' arithmetic: `linstor_un` the raw sum of the group's
/// storage pools, `linbit` that sum divided by the place count; the default stays the
/// controller's size info of the group (what the next image can get).
#[test]
fn capacity_arithmetic_of_the_peers_behind_a_datastore_attribute() {
    let h = Harness::new(&["s1", "s2", "n1"]);
    let url = h.sim.url();
    let (_, pools) = h.sim.call("GET", "/v1/view/storage-pools", b"");
    let pools = pools.unwrap();
    let sum = |key: &str| -> u64 {
        pools
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["provider_kind"] != "DISKLESS")
            .map(|p| p[key].as_u64().unwrap_or(0))
            .sum::<u64>()
            / 1024
    };
    let (total, free) = (sum("total_capacity"), sum("free_capacity"));
    assert!(total > 0, "the simulator has pools: {pools}");
    let monitor = |mode: Option<&str>| -> String {
        let mut tpl = vec![("LS_CONTROLLERS", url.as_str())];
        tpl.extend(mode.map(|m| ("LINSTOR_CAPACITY", m)));
        let ds = datastore_xml(100, 0, &tpl);
        let r = h.run(
            "datastore",
            "linstor",
            "monitor",
            &["100"],
            &b64(&action_msg("", &ds)),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.stdout
    };
    let figures = |t: u64, f: u64| format!("USED_MB={}\nTOTAL_MB={t}\nFREE_MB={f}\n", t - f);
    assert_eq!(monitor(Some("linstor_un")), figures(total, free));
    assert_eq!(monitor(Some("linbit")), figures(total / 2, free / 2));
    let ours = monitor(None);
    assert_ne!(ours, figures(total, free), "size info is not the raw sum");
    let r = h.run(
        "datastore",
        "linstor",
        "monitor",
        &["100"],
        &b64(&action_msg(
            "",
            &datastore_xml(
                100,
                0,
                &[
                    ("LS_CONTROLLERS", url.as_str()),
                    ("LINSTOR_CAPACITY", "most"),
                ],
            ),
        )),
    );
    assert_eq!(r.stdout, ours, "an unknown value falls back to size info");
    assert!(r.stderr.contains("LINSTOR_CAPACITY='most'"), "{}", r.stderr);
}
