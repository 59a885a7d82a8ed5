//! The private sshd of `linstor_tests::sshd`: per-host directories and device roots, session
//! counting, unreachable hosts, and nothing left behind.

use std::process::Command;

use linstor_tests::sshd::Sshd;

fn ssh(s: &Sshd, host: &str, cmd: &str) -> std::process::Output {
    Command::new("ssh")
        .arg("-F")
        .arg(s.client_config())
        .args(["--", host, cmd])
        .output()
        .unwrap()
}

#[test]
fn hosts_are_separate_counted_and_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let (hosts, devs) = (tmp.path().join("hosts"), tmp.path().join("dev"));
    std::fs::create_dir_all(devs.join("n2/drbd")).unwrap();
    std::fs::write(devs.join("n2/drbd/marker"), "n2 device").unwrap();
    let s =
        Sshd::start(&tmp.path().join("ssh"), &["n1", "n2"], &hosts, &devs).expect("sshd starts");
    let dir = s.client_config().parent().unwrap().to_path_buf();

    let o = ssh(
        &s,
        "n1",
        "mkdir -p /var/lib/one && echo one > /var/lib/one/f",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(hosts.join("n1/var/lib/one/f")).unwrap(),
        "one\n"
    );
    assert!(!hosts.join("n2/var/lib/one/f").exists());
    let o = ssh(
        &s,
        "n2",
        &format!("cat {}/drbd/marker", s.dev_root().display()),
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "n2 device");
    let o = ssh(&s, "n2", "exit 7");
    assert_eq!(o.status.code(), Some(7), "exit status passes through");
    assert_eq!(
        s.sessions(),
        [("n1".to_string(), 1), ("n2".to_string(), 2)].into()
    );

    std::fs::write(hosts.join("n1.down"), "").unwrap();
    let o = ssh(&s, "n1", "true");
    assert_eq!(o.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&o.stderr).contains("No route to host"));
    let o = ssh(&s, "unknown", "true");
    assert_eq!(
        o.status.code(),
        Some(255),
        "a host not configured is refused"
    );
    s.reset_sessions();
    assert!(s.sessions().is_empty());

    let port = s.port();
    drop(s);
    assert!(!dir.exists(), "its directory is removed");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "sshd stopped"
    );
    assert!(
        !std::path::Path::new("/var/lib/one/f").exists(),
        "the machine's /var is untouched"
    );
}
