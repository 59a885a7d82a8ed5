//! Runs `tests/conformance/run.sh` (python-linstor against the simulator) when
//! `LINSTOR_CONFORMANCE=1`; otherwise explains why it is skipped.

use std::process::Command;

#[test]
fn python_linstor_conformance() {
    if std::env::var("LINSTOR_CONFORMANCE").as_deref() != Ok("1") {
        println!("skipped: set LINSTOR_CONFORMANCE=1 to run tests/conformance/run.sh (needs python3 and PyPI access)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/conformance/run.sh");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run conformance script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "conformance failed: {}",
        stdout.lines().last().unwrap_or("")
    );
}
