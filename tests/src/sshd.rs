//! A private OpenSSH server for the OpenNebula suites and `linstor-bench`: host steps run over
//! real ssh connections (key exchange, public-key authentication, a remote `sh`), as `oneadmin`
//! runs them on OpenNebula hosts, without a second machine and without touching the machine's
//! own sshd or `~/.ssh`.
//!
//! [`Sshd::start`] generates a host key and a user key, writes an `sshd_config` (127.0.0.1, a
//! free port, `ForceCommand` a session script) and an ssh client configuration naming every
//! test host, and runs `/usr/sbin/sshd -D` in its own mount namespace (a private `/run` for its
//! privilege separation directory). Every host name resolves to that one sshd; the client sends
//! the host name (`SetEnv LINSTOR_TEST_HOST`), and the session script counts the session for that
//! host and runs the command in a private mount namespace where `<hosts_root>/<host>/var` is
//! `/var` (so `/var/lib/one/datastores/...` is that host's own) and `<dev_dir>/<host>` is the
//! device root the driver is pointed at ([`Sshd::dev_root`]). A host with a file
//! `<hosts_root>/<host>.down` refuses connections like an unreachable host (ssh exit 255).
//! Dropping the [`Sshd`] stops it and removes its directory.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The sshd program.
pub const SSHD: &str = "/usr/sbin/sshd";
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What can go wrong starting the private sshd.
#[derive(Debug, thiserror::Error)]
pub enum SshdError {
    /// sshd or ssh-keygen is not installed.
    #[error("{program} is not installed; scripts/install-deps.sh installs openssh-server and openssh-client")]
    Missing {
        /// The program.
        program: String,
    },
    /// A program could not be run or failed.
    #[error("{what} failed: {detail}")]
    Failed {
        /// What was run.
        what: String,
        /// Its status and stderr.
        detail: String,
    },
    /// A file could not be written.
    #[error("cannot write {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// sshd did not accept connections in time.
    #[error("sshd did not listen on 127.0.0.1:{port} within {secs} s: {log}")]
    NotListening {
        /// Its port.
        port: u16,
        /// The bound.
        secs: u64,
        /// Its stderr so far.
        log: String,
    },
}

/// A running private sshd; stopped and removed on drop.
#[derive(Debug)]
pub struct Sshd {
    dir: PathBuf,
    child: Option<Child>,
    port: u16,
}

fn write(path: &Path, text: &str, mode: u32) -> Result<(), SshdError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text)
        .and_then(|_| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)))
        .map_err(|source| SshdError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn keygen(path: &Path) -> Result<String, SshdError> {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "linstor-tests", "-f"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .map_err(|_| SshdError::Missing {
            program: "ssh-keygen".into(),
        })?;
    if !out.status.success() {
        return Err(SshdError::Failed {
            what: "ssh-keygen".into(),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    let public = path.with_extension("pub");
    std::fs::read_to_string(&public)
        .map(|s| s.trim().to_string())
        .map_err(|source| SshdError::Io {
            path: public,
            source,
        })
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

fn free_port() -> Result<u16, SshdError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| SshdError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })
}

fn user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

impl Sshd {
    /// Starts sshd for `hosts`, whose directories are `<hosts_root>/<host>` and whose device
    /// roots are `<dev_dir>/<host>`, keeping its files in `dir` (created; removed on drop).
    pub fn start(
        dir: &Path,
        hosts: &[&str],
        hosts_root: &Path,
        dev_dir: &Path,
    ) -> Result<Sshd, SshdError> {
        if !Path::new(SSHD).exists() {
            return Err(SshdError::Missing {
                program: SSHD.into(),
            });
        }
        let mkdir = |p: PathBuf| {
            std::fs::create_dir_all(&p).map_err(|source| SshdError::Io { path: p, source })
        };
        mkdir(dir.to_path_buf())?;
        for h in hosts {
            mkdir(hosts_root.join(h).join("var"))?;
            mkdir(dev_dir.join(h))?;
        }
        let dir = dir.to_path_buf();
        let d = dir.as_path();
        let host_pub = keygen(&d.join("host_ed25519"))?;
        let user_pub = keygen(&d.join("id_ed25519"))?;
        write(&d.join("authorized_keys"), &format!("{user_pub}\n"), 0o600)?;
        let alias = "linstor-test-sshd";
        write(
            &d.join("known_hosts"),
            &format!("{alias} {host_pub}\n"),
            0o600,
        )?;
        std::fs::create_dir_all(d.join("dev")).map_err(|source| SshdError::Io {
            path: d.join("dev"),
            source,
        })?;
        let sessions = d.join("sessions");
        write(&sessions, "", 0o644)?;
        let session = format!(
            r#"#!/bin/sh
h="${{LINSTOR_TEST_HOST:-}}"
case "$h" in ""|*[!A-Za-z0-9._-]*) echo "test sshd: no such host '$h'" >&2; exit 255;; esac
echo "$h" >> {sessions}
if [ -e {hosts}/"$h.down" ]; then echo "ssh: connect to host $h: No route to host" >&2; exit 255; fi
mkdir -p {hosts}/"$h/var" {devs}/"$h"
exec unshare -m --propagation private sh -c 'mount --bind "$1" /var && mount --bind "$2" "$3" && exec sh -c "$SSH_ORIGINAL_COMMAND"' session {hosts}/"$h/var" {devs}/"$h" {dev}
"#,
            sessions = quote(&sessions),
            hosts = quote(hosts_root),
            devs = quote(dev_dir),
            dev = quote(&d.join("dev")),
        );
        write(&d.join("session"), &session, 0o755)?;
        let mut last = None;
        for _ in 0..3 {
            let port = free_port()?;
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nAuthorizedKeysFile {}\n\
PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
PermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\nAcceptEnv LINSTOR_TEST_HOST\n\
ForceCommand {}\nMaxStartups 200:30:400\nMaxSessions 200\nLogLevel ERROR\n",
                d.join("host_ed25519").display(),
                d.join("authorized_keys").display(),
                d.join("session").display(),
            );
            write(&d.join("sshd_config"), &config, 0o600)?;
            let mut client = String::new();
            for h in hosts {
                client.push_str(&format!("Host {h}\n  SetEnv LINSTOR_TEST_HOST={h}\n"));
            }
            client.push_str(&format!(
                "Host *\n  HostName 127.0.0.1\n  Port {port}\n  User {}\n  IdentityFile {}\n  IdentitiesOnly yes\n\
  HostKeyAlias {alias}\n  UserKnownHostsFile {}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n\
  BatchMode yes\n  ControlMaster no\n  LogLevel ERROR\n",
                user(),
                d.join("id_ed25519").display(),
                d.join("known_hosts").display(),
            ));
            write(&d.join("ssh_config"), &client, 0o644)?;
            match spawn(d, port) {
                Ok(child) => {
                    return Ok(Sshd {
                        dir,
                        child: Some(child),
                        port,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(SshdError::NotListening {
            port: 0,
            secs: 0,
            log: String::new(),
        }))
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The ssh client configuration naming every host (`ssh -F`).
    pub fn client_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// The device root on every host (the host's `<dev_dir>/<host>` in its sessions).
    pub fn dev_root(&self) -> PathBuf {
        self.dir.join("dev")
    }

    /// The environment pointing `linstor-one` at these hosts.
    pub fn driver_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "LINSTOR_ONE_SSH_CONFIG".into(),
                self.client_config().display().to_string(),
            ),
            (
                "LINSTOR_ONE_DEV_ROOT".into(),
                self.dev_root().display().to_string(),
            ),
        ]
    }

    /// ssh sessions per host since the start or the last [`Sshd::reset_sessions`].
    pub fn sessions(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for h in std::fs::read_to_string(self.dir.join("sessions"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
        {
            *out.entry(h.to_string()).or_insert(0) += 1;
        }
        out
    }

    /// Forget the sessions counted so far.
    pub fn reset_sessions(&self) {
        let _ = std::fs::write(self.dir.join("sessions"), "");
    }

    /// Writes the front-end scripts the driver calls from OpenNebula's remotes under
    /// `<one_location>/var/remotes`: `datastore/downloader.sh` (local files and `file://`
    /// only) and `tm/ssh/context` (puts a file naming the context files at `host:path`
    /// over one ssh connection of this server).
    pub fn frontend_remotes(&self, one_location: &Path) -> Result<(), SshdError> {
        let r = one_location.join("var/remotes");
        for sub in ["datastore", "tm/ssh"] {
            std::fs::create_dir_all(r.join(sub)).map_err(|source| SshdError::Io {
                path: r.join(sub),
                source,
            })?;
        }
        write(
            &r.join("datastore/downloader.sh"),
            "#!/bin/sh\n# downloader.sh <url> -: local files only\ncase \"$1\" in file://*) f=\"${1#file://}\";; *) f=\"$1\";; esac\nexec cat -- \"$f\"\n",
            0o755,
        )?;
        write(
            &r.join("tm/ssh/context"),
            &format!(
                "#!/bin/sh\n# context <files...> <host:path> <vmid> <dsid>\nn=$(($# - 2)); files=''; i=1\n\
for a in \"$@\"; do [ \"$i\" -lt \"$n\" ] && files=\"$files $a\"; [ \"$i\" -eq \"$n\" ] && dst=\"$a\"; i=$((i+1)); done\n\
host=\"${{dst%%:*}}\"; path=\"${{dst#*:}}\"\n\
echo \"CONTEXT-ISO$files\" | exec ssh -F {} \"$host\" \"mkdir -p \\\"\\$(dirname '$path')\\\" && cat > '$path'\"\n",
                quote(&self.client_config())
            ),
            0o755,
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            stop(c);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stop(mut c: Child) {
    let _ = kill(Pid::from_raw(c.id() as i32), Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// Runs sshd with `<d>/sshd_config` in a mount namespace with a private `/run`, and waits
/// until it accepts connections on `port`.
fn spawn(d: &Path, port: u16) -> Result<Child, SshdError> {
    let log = d.join("sshd.log");
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -m 0755 /run/sshd && exec \"$0\" -D -e -f \"$1\"")
        .arg(SSHD)
        .arg(d.join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            std::fs::File::create(&log)
                .map(Stdio::from)
                .map_err(|source| SshdError::Io {
                    path: log.clone(),
                    source,
                })?,
        )
        .spawn()
        .map_err(|_| SshdError::Missing {
            program: "unshare".into(),
        })?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if !exited && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if exited || Instant::now() >= deadline {
            stop(child);
            return Err(SshdError::NotListening {
                port,
                secs: START_TIMEOUT.as_secs(),
                log: std::fs::read_to_string(&log).unwrap_or_default(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
