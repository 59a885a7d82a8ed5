//! `linstor-plugins adopt` as the operator runs it, against the LINSTOR controller simulator:
//! the dry run of the issue's 2-node `legacy` resource lists exactly the calls of LINBIT's
//! migration procedure and changes nothing; `--apply` creates objects the controller then
//! reports with the existing port, volume number, minor, node ids, peer slots and net size; the
//! refusals (existing definition, unknown node or pool, external metadata, size not in whole
//! KiB, invalid name) say what to fix and change nothing.

use linstor_common::api::{
    ResourceCreate, ResourceDefinition, ResourceDefinitionCreate, ResourceGroup, VolumeDefinition,
};
use linstor_common::config::{ClientConfig, ControllerUrl};
use linstor_common::naming::{docker, proxmox};
use linstor_common::Client;
use linstor_tests::sim::{Sim, SimConfig};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linstor-plugins");

const LEGACY: &str = "# hand-made in 2019\n\
resource legacy {\n\
    net { protocol C; }\n\
    volume 10 {\n\
        device    minor 9100;\n\
        disk      /dev/vg_ssd/legacy_data;\n\
        meta-disk internal;\n\
    }\n\
    on alpha {\n\
        node-id 4;\n\
        address ipv4 10.0.0.1:15500;\n\
    }\n\
    on bravo {\n\
        node-id 8;\n\
        address ipv4 10.0.0.2:15500;\n\
    }\n\
}\n";

/// 1,371,956 KiB in bytes, as `blockdev --getsize64 /dev/drbd9100` prints it.
const NET_BYTES: &str = "1404882944";

struct Env {
    sim: Sim,
    dir: tempfile::TempDir,
}

impl Env {
    async fn start() -> Env {
        let sim = Sim::start(SimConfig {
            nodes: vec!["alpha".into(), "bravo".into(), "charlie".into()],
            pool_name: "ssd".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        Env {
            sim,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn client(&self) -> Client {
        Client::new(ClientConfig {
            controllers: vec![ControllerUrl::parse(&self.sim.url()).unwrap()],
            ..Default::default()
        })
        .unwrap()
    }

    /// Runs `adopt --res <file with text>` with the legacy defaults plus `extra`.
    async fn adopt(&self, text: &str, extra: &[&str]) -> (Option<i32>, String) {
        let file = self.dir.path().join("r.res");
        std::fs::write(&file, text).unwrap();
        let mut args: Vec<String> = vec![
            "adopt".into(),
            "--res".into(),
            file.display().to_string(),
            "--controllers".into(),
            self.sim.url(),
            "--timeout".into(),
            "5".into(),
        ];
        for (flag, default) in [
            ("--size", NET_BYTES),
            ("--peer-slots", "4"),
            ("--storage-pool", "ssd"),
        ] {
            if !extra.contains(&flag) {
                args.push(flag.into());
                args.push(default.into());
            }
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = tokio::process::Command::new(BIN)
            .args(&args)
            .env_remove("LS_CONTROLLERS")
            .output()
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }

    async fn rd_count(&self) -> usize {
        self.client().resource_definitions(&[]).await.unwrap().len()
    }
}

/// The numbered call lines of the output.
fn calls(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| {
            let (n, rest) = l.trim_start().split_once(". ")?;
            n.parse::<u32>().ok().map(|_| rest.to_string())
        })
        .collect()
}

const EXPECTED: [&str; 7] = [
    r#"POST /v1/resource-definitions {"resource_definition":{"name":"legacy"},"drbd_port":15500,"drbd_peer_slots":4}"#,
    r#"PUT /v1/resource-definitions/legacy {"override_props":{"PeerSlotsNewResource":"4"}}"#,
    r#"PUT /v1/resource-definitions/legacy {"override_props":{"DrbdOptions/Net/protocol":"C","DrbdOptions/Resource/quorum":"off"}}"#,
    r#"POST /v1/resource-definitions/legacy/volume-definitions {"volume_definition":{"volume_number":10,"size_kib":1371956},"drbd_minor_number":9100}"#,
    r#"PUT /v1/resource-definitions/legacy/volume-definitions/10 {"override_props":{"OverrideVlmId":"legacy_data"}}"#,
    r#"POST /v1/resource-definitions/legacy/resources/alpha {"resource":{"props":{"StorPoolName":"ssd"}},"drbd_node_id":4,"drbd_tcp_ports":[15500]}"#,
    r#"POST /v1/resource-definitions/legacy/resources/bravo {"resource":{"props":{"StorPoolName":"ssd"}},"drbd_node_id":8,"drbd_tcp_ports":[15500]}"#,
];

fn drbd_of(layer_object: &Option<Value>) -> Value {
    layer_object.as_ref().unwrap()["drbd"].clone()
}

#[tokio::test]
async fn dry_run_lists_the_procedure_and_apply_creates_the_exact_numbers() {
    let env = Env::start().await;
    let (code, out) = env.adopt(LEGACY, &[]).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(calls(&out), EXPECTED, "{out}");
    assert_eq!(out.matches("    why: ").count(), 7, "{out}");
    assert!(
        out.contains("checks passed") && out.contains("nothing changed"),
        "{out}"
    );
    assert_eq!(env.rd_count().await, 0, "the dry run changed nothing");

    env.sim.reset_stats();
    let (code, out) = env.adopt(LEGACY, &["--apply"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("done 7/7") && out.contains("adopted 'legacy'"),
        "{out}"
    );
    assert_eq!(
        env.sim.request_count(),
        1 + 3 + 7,
        "the nodes' interfaces for the plan, the checks (definition, nodes, pools) and the seven calls: {:?}",
        env.sim.stats()
    );

    let c = env.client();
    let rd = c.resource_definition("legacy").await.unwrap().unwrap();
    let drbd = rd
        .layer_data
        .iter()
        .find(|l| l.layer_type == "DRBD")
        .unwrap();
    let data = drbd.data.as_ref().unwrap();
    assert_eq!(data["port"], 15500);
    assert_eq!(data["peer_slots"], 4);
    assert_eq!(rd.props.get("PeerSlotsNewResource").unwrap(), "4");

    let vds: Vec<VolumeDefinition> = c.volume_definitions("legacy").await.unwrap();
    assert_eq!(vds.len(), 1);
    assert_eq!(vds[0].volume_number, Some(10));
    assert_eq!(vds[0].size_kib, 1_371_956);
    assert_eq!(vds[0].drbd_minor(), Some(9100));
    assert_eq!(vds[0].props.get("OverrideVlmId").unwrap(), "legacy_data");

    for (node, id) in [("alpha", 4), ("bravo", 8)] {
        let r = c.resource("legacy", node).await.unwrap().unwrap();
        let d = drbd_of(&r.layer_object);
        assert_eq!(d["node_id"], id, "{node}");
        assert_eq!(d["tcp_ports"], serde_json::json!([15500]), "{node}");
        assert_eq!(d["peer_slots"], 4, "{node}");
        let vol = &d["drbd_volumes"][0];
        assert_eq!(vol["drbd_volume_definition"]["volume_number"], 10);
        assert_eq!(vol["drbd_volume_definition"]["minor_number"], 9100);
        assert_eq!(vol["device_path"], "/dev/drbd9100");
        assert_eq!(vol["usable_size_kib"], 1_371_956);
        assert!(
            vol["backing_device"]
                .as_str()
                .unwrap()
                .contains("legacy_data"),
            "{vol}"
        );
        let st = r.layer_object.as_ref().unwrap()["children"][0]["storage"].clone();
        assert_eq!(st["storage_pool_name"], "ssd");
    }
    if let Some(tb) = c.resource("legacy", "charlie").await.unwrap() {
        assert!(tb.is_tiebreaker(), "only LINSTOR's own tie-breaker: {tb:?}");
    }

    let (code, out) = env.adopt(LEGACY, &["--apply"]).await;
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains("resource definition 'legacy' already exists"),
        "{out}"
    );
    let (code, out) = env.adopt(LEGACY, &["--name", "legacy2"]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("problem: minor 9100 is already used by resource definition 'legacy'"),
        "{out}"
    );
}

#[tokio::test]
async fn unknown_nodes_and_pools_are_refused_before_any_change() {
    let env = Env::start().await;
    let text = LEGACY.replace("on bravo", "on delta");
    let (code, out) = env.adopt(&text, &[]).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("problem: node 'delta' is not a LINSTOR node"),
        "{out}"
    );
    let (code, out) = env.adopt(&text, &["--apply"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("refusing to adopt: node 'delta'"), "{out}");

    let (code, out) = env
        .adopt(LEGACY, &["--apply", "--node-pool", "bravo=hdd"])
        .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("node 'bravo' has no storage pool 'hdd'"),
        "{out}"
    );
    assert_eq!(env.rd_count().await, 0);
}

#[tokio::test]
async fn bad_input_is_refused_with_the_fix() {
    let env = Env::start().await;
    let external = LEGACY.replace("meta-disk internal", "meta-disk /dev/sdb1");
    let (code, out) = env.adopt(&external, &["--apply"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("uses external metadata (/dev/sdb1)")
            && out.contains("supports internal metadata only"),
        "{out}"
    );

    let (code, out) = env
        .adopt(LEGACY, &["--apply", "--size", "1404882945"])
        .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("not a multiple of 1024"), "{out}");

    let dotted = LEGACY.replace("resource legacy", "resource legacy.db");
    let (code, out) = env.adopt(&dotted, &["--apply"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("invalid resource name 'legacy.db'") && out.contains("--name legacy_db"),
        "{out}"
    );
    assert_eq!(env.rd_count().await, 0);

    let (code, out) = env
        .adopt(&dotted, &["--apply", "--name", "legacy_db"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("drbdadm down legacy.db"), "{out}");
    let vds = env.client().volume_definitions("legacy_db").await.unwrap();
    assert_eq!(vds[0].props.get("OverrideVlmId").unwrap(), "legacy_data");
}

#[tokio::test]
async fn proxmox_owner_makes_it_a_disk_of_that_vm() {
    let env = Env::start().await;
    let text = LEGACY.replace("volume 10", "volume 0");
    let args = [
        "--apply",
        "--proxmox-vmid",
        "100",
        "--resource-group",
        "pve-rg",
    ];
    let (code, out) = env.adopt(&text, &args).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("resource group 'pve-rg' does not exist"),
        "{out}"
    );
    env.client()
        .resource_group_create(&ResourceGroup {
            name: "pve-rg".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (code, out) = env.adopt(&text, &args).await;
    assert_eq!(code, Some(0), "{out}");
    let rds = env.client().resource_definitions(&[]).await.unwrap();
    assert_eq!(rds.len(), 1);
    assert_eq!(rds[0].resource_group_name.as_deref(), Some("pve-rg"));
    let v = proxmox::volname_of(&rds[0]).expect("a Proxmox volume");
    assert_eq!(v.vmid, "100");
    assert_eq!(v.volname(), format!("{}_100", rds[0].name));
    let vds = env.client().volume_definitions(&rds[0].name).await.unwrap();
    assert_eq!(vds[0].props.get("OverrideVlmId").unwrap(), "legacy_data");
}

#[tokio::test]
async fn docker_owner_makes_it_that_docker_volume() {
    let env = Env::start().await;
    let text = LEGACY.replace("volume 10", "volume 0");
    let (code, out) = env
        .adopt(&text, &["--apply", "--docker-name", "pg.data"])
        .await;
    assert_eq!(code, Some(0), "{out}");
    let rds = env.client().resource_definitions(&[]).await.unwrap();
    assert_eq!(rds.len(), 1);
    assert!(docker::owns(&rds[0]));
    assert!(docker::is_volume(&rds[0].name, &rds[0].props, "pg.data"));
    assert_eq!(rds[0].name, docker::resource_name("pg.data").unwrap());
}

#[tokio::test]
async fn a_failing_step_stops_and_keeps_what_was_done() {
    let env = Env::start().await;
    let c = env.client();
    c.resource_definition_create(&ResourceDefinitionCreate {
        resource_definition: ResourceDefinition {
            name: "other".into(),
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    c.resource_create(
        "other",
        "bravo",
        &ResourceCreate {
            drbd_tcp_ports: vec![15500],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let (code, out) = env.adopt(LEGACY, &["--apply"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("done 6/7"), "{out}");
    assert!(
        out.contains("step 7 of 7 failed")
            && out.contains("TCP port '15500'")
            && out.contains("do not delete resource definition 'legacy'"),
        "{out}"
    );
    assert!(c.resource("legacy", "alpha").await.unwrap().is_some());
    assert!(c.resource("legacy", "bravo").await.unwrap().is_none());
}

#[tokio::test]
async fn drbdadm_dump_on_stdin_with_several_resources() {
    use tokio::io::AsyncWriteExt as _;
    let env = Env::start().await;
    let dump = format!(
        "# /etc/drbd.conf\nglobal {{ usage-count no; }}\ncommon {{ }}\n\n{}\nresource other {{\n    on alpha {{ node-id 0; address 10.0.0.1:7001; volume 0 {{ device minor 1; disk /dev/vg/o; meta-disk internal; }} }}\n}}\n",
        LEGACY.replace("# hand-made in 2019\n", "# defined at /etc/drbd.d/legacy.res:1\n")
    );
    let run = |extra: &'static [&'static str]| {
        let mut cmd = tokio::process::Command::new(BIN);
        cmd.args(["adopt", "--dump", "-", "--controllers", &env.sim.url()])
            .args([
                "--size",
                NET_BYTES,
                "--peer-slots",
                "4",
                "--storage-pool",
                "ssd",
            ])
            .args(extra)
            .env_remove("LS_CONTROLLERS")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    for (extra, ok, want) in [
        (&[][..], false, "several resources (legacy, other)"),
        (
            &["--resource", "legacy"][..],
            true,
            "1. POST /v1/resource-definitions",
        ),
    ] {
        let mut child = run(extra).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(dump.as_bytes()).await.unwrap();
        drop(stdin);
        let out = child.wait_with_output().await.unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.success(), ok, "{text}");
        assert!(text.contains(want), "{text}");
        if ok {
            assert_eq!(calls(&text), EXPECTED, "{text}");
        }
    }
}

fn layout(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/drbd/{name}.res")),
    )
    .unwrap()
}

#[tokio::test]
async fn apply_carries_the_options_or_refuses_until_the_losses_are_accepted() {
    let env = Env::start().await;
    let text = layout("options");
    let (code, out) = env.adopt(&text, &["--apply", "--size", "1073741824"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("2 setting(s) of the configuration would not be carried (net/shared-secret, startup/wfc-timeout)")
            && out.contains("--drop net/shared-secret --drop startup/wfc-timeout"),
        "{out}"
    );
    assert_eq!(env.rd_count().await, 0, "refused before any change");
    let (code, out) = env
        .adopt(
            &text,
            &[
                "--apply",
                "--size",
                "1073741824",
                "--drop",
                "startup/wfc-timeout",
            ],
        )
        .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("1 setting(s)") && out.contains("--drop net/shared-secret"),
        "{out}"
    );
    let (code, out) = env
        .adopt(
            &text,
            &["--apply", "--size", "1073741824", "--drop", "net/protocol"],
        )
        .await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("--drop net/protocol names no setting that adopt cannot carry"),
        "{out}"
    );
    assert_eq!(env.rd_count().await, 0);

    let (code, out) = env
        .adopt(
            &text,
            &[
                "--apply",
                "--size",
                "1073741824",
                "--drop",
                "startup/wfc-timeout",
                "--drop",
                "net/shared-secret",
            ],
        )
        .await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("done 7/7"), "{out}");
    let c = env.client();
    let rd = c.resource_definition("opts").await.unwrap().unwrap();
    for (k, v) in [
        ("DrbdOptions/Resource/quorum", "majority"),
        ("DrbdOptions/Resource/on-no-quorum", "io-error"),
        ("DrbdOptions/Resource/auto-promote", "no"),
        ("DrbdOptions/Net/protocol", "C"),
        ("DrbdOptions/Net/max-buffers", "8000"),
        ("DrbdOptions/Net/verify-alg", "crc32c"),
        ("DrbdOptions/Disk/al-extents", "6007"),
        ("DrbdOptions/Disk/disk-flushes", "no"),
        ("DrbdOptions/Disk/on-io-error", "detach"),
        ("DrbdOptions/PeerDevice/resync-rate", "102400"),
        ("DrbdOptions/PeerDevice/c-plan-ahead", "0"),
        (
            "DrbdOptions/Handlers/split-brain",
            "/usr/lib/drbd/notify-split-brain.sh root",
        ),
    ] {
        assert_eq!(
            rd.props.get(k).map(String::as_str),
            Some(v),
            "{k}: {:?}",
            rd.props
        );
    }
    assert!(
        !rd.props.keys().any(|k| k.contains("shared-secret")),
        "{:?}",
        rd.props
    );
    let conn = c
        .resource_connection("opts", "alpha", "bravo")
        .await
        .unwrap()
        .expect("the connection alpha-bravo");
    assert_eq!(conn.props["DrbdOptions/Net/sndbuf-size"], "1048576");
    assert_eq!(conn.props["DrbdOptions/PeerDevice/c-max-rate"], "204800");
}

#[tokio::test]
async fn apply_carries_several_paths_over_created_interfaces() {
    let env = Env::start().await;
    let text = layout("paths");
    let (code, out) = env.adopt(&text, &["--apply", "--size", "1073741824"]).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("node 'alpha': the peers connect to it at 192.168.7.1:7205, but LINSTOR has no interface with 192.168.7.1 (it has 'default' 10.0.0.1)")
            && out.contains("--create-net-interfaces"),
        "{out}"
    );
    assert_eq!(env.rd_count().await, 0);

    let (code, out) = env
        .adopt(
            &text,
            &["--apply", "--size", "1073741824", "--create-net-interfaces"],
        )
        .await;
    assert_eq!(code, Some(0), "{out}");
    let c = env.client();
    for (node, ip) in [("alpha", "192.168.7.1"), ("bravo", "192.168.7.2")] {
        let n = c.node(node).await.unwrap().unwrap();
        assert!(
            n.net_interfaces
                .iter()
                .any(|i| i.name == "adopt0" && i.address == ip),
            "{node}: {:?}",
            n.net_interfaces
        );
    }
    let conn = c
        .resource_connection("paths", "alpha", "bravo")
        .await
        .unwrap()
        .expect("the connection alpha-bravo");
    for (k, v) in [
        ("Paths/path1/alpha", "default"),
        ("Paths/path1/bravo", "default"),
        ("Paths/path2/alpha", "adopt0"),
        ("Paths/path2/bravo", "adopt0"),
    ] {
        assert_eq!(
            conn.props.get(k).map(String::as_str),
            Some(v),
            "{k}: {:?}",
            conn.props
        );
    }
    let rd = c.resource_definition("paths").await.unwrap().unwrap();
    assert_eq!(rd.props["DrbdOptions/Resource/quorum"], "off");

    let (code, out) = env
        .adopt(
            &layout("ipv6"),
            &["--apply", "--size", "1073741824", "--create-net-interfaces"],
        )
        .await;
    assert_eq!(code, Some(0), "{out}");
    for node in ["alpha", "bravo"] {
        let r = c.resource("v6", node).await.unwrap().unwrap();
        let n = c.node(node).await.unwrap().unwrap();
        let pref = &r.props["PrefNic"];
        let nic = n.net_interfaces.iter().find(|i| &i.name == pref).unwrap();
        assert!(nic.address.starts_with("fd00::"), "{node}: {nic:?}");
    }
}
