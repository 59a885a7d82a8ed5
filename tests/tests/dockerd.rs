//! The private dockerd of the Docker end-to-end suites (runs only with `LINSTOR_E2E_DOCKER=1`, as
//! root): it answers on its own socket with its own data root, runs a container without a
//! network, survives a restart with its images, and dropping it while a container still runs (a
//! test that failed half-way) stops dockerd and its containerd and removes its directories, with
//! the machine's dockerd holding the same volume drivers as before.

use std::path::Path;

use linstor_tests::cmd::run_ok;
use linstor_tests::dockerd::{machine_volume_drivers, Dockerd};

const IMAGE: &str = "linstor-dockerd-selftest:latest";

fn must(d: &Dockerd, args: &[&str]) -> String {
    d.cli_ok(args)
}

#[test]
fn private_dockerd_is_isolated_and_removed_on_drop() {
    if std::env::var("LINSTOR_E2E_DOCKER").as_deref() != Ok("1") {
        eprintln!("skipped: set LINSTOR_E2E_DOCKER=1 to run the private dockerd test (root, docker.io installed by scripts/ensure-docker.sh --install-only)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/ensure-docker.sh");
    run_ok("bash", &[script.to_str().unwrap(), "--install-only"]);
    let machine_before = machine_volume_drivers();

    let mut d = Dockerd::start().expect("private dockerd");
    let root = must(&d, &["info", "--format", "{{.DockerRootDir}}"]);
    assert!(
        Path::new(root.trim()).starts_with(d.dir()),
        "its own data root: {root}"
    );
    assert!(
        d.dir().join("key.json").is_file(),
        "its own identity key, not /etc/docker/key.json"
    );
    d.import_busybox_image(IMAGE).expect("test image");
    let out = must(
        &d,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            IMAGE,
            "sh",
            "-c",
            "echo private",
        ],
    );
    assert_eq!(out.trim(), "private");

    d.restart().expect("restart");
    must(&d, &["image", "inspect", IMAGE]);
    must(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "selftest-left-running",
            "--network",
            "none",
            IMAGE,
            "sleep",
            "600",
        ],
    );
    let running = must(&d, &["ps", "-q"]);
    assert_eq!(running.lines().count(), 1, "{running}");

    let dir = d.dir().to_path_buf();
    let namespace = format!("\0{}", d.namespace());
    let pid = d.pid().expect("dockerd running");
    drop(d);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "dockerd {pid} still runs"
    );
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(dir.to_str().unwrap())),
        "a mount under {} is left",
        dir.display()
    );
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| c.contains(dir.to_str().unwrap()) || c.contains(&namespace))
        .collect();
    assert!(left.is_empty(), "processes of the private engine: {left:?}");
    assert_eq!(
        machine_volume_drivers(),
        machine_before,
        "the machine's dockerd volume drivers changed"
    );
}
