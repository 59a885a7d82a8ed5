//! Per-VM disk usage for oned's monitord (ONE >= 5.12): the `MONITOR_VM` UDP message that
//! `send_to_monitor` in `scripts_common.sh` sends, built purely ([`vm_payload`], [`datagram`],
//! [`parse_conf`]) and sent through the [`MonitorSender`] trait ([`UdpMonitor`] for real).
//!
//! Wire format: one datagram `MONITOR_VM SUCCESS -1 0 <b64>\n`, where `<b64>` is
//! base64(zlib(payload)) and the payload is one
//! `VM=[ID=<vmid>, MONITOR="<base64 of 'DISK_SIZE=[ID=<d>,SIZE=<MB>] ... SNAPSHOT_SIZE=[...]'>"]`
//! per VM, space-joined. monitord's optional RSA encryption (`PUBKEY` in `monitord.conf`) is not
//! implemented: with a `PUBKEY` configured, nothing is sent and the caller is told why.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write as _;
use std::net::{ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};

use base64::Engine as _;

/// Default monitord UDP port.
pub const DEFAULT_PORT: u16 = 4124;

/// Why the VM disk sizes were not sent.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// No `monitord.conf` in any searched place.
    #[error("no monitord.conf found (looked in {0}); set LINSTOR_ONE_MONITORD_CONF to its path")]
    NoConf(String),
    /// The file could not be read.
    #[error("cannot read {path}; make it readable by oneadmin or set LINSTOR_ONE_MONITORD_CONF to another monitord.conf")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file has a bad value.
    #[error("{path}: {why}")]
    BadConf {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// monitord expects RSA-encrypted messages.
    #[error("{path} sets PUBKEY ({key}): monitord expects RSA-encrypted messages, which this driver does not implement; VM disk sizes are not reported (clear PUBKEY/PRIKEY in monitord.conf to receive them)")]
    Encrypted {
        /// The file.
        path: String,
        /// The PUBKEY value.
        key: String,
    },
    /// The address of monitord does not resolve.
    #[error("cannot send to monitord at {addr}: the address does not resolve; check MONITOR_ADDRESS in monitord.conf")]
    Unresolved {
        /// `address:port`.
        addr: String,
    },
    /// The datagram could not be sent.
    #[error("cannot send to monitord at {addr}; check MONITOR_ADDRESS and PORT in monitord.conf")]
    Send {
        /// `address:port`.
        addr: String,
        /// Socket error.
        #[source]
        source: std::io::Error,
    },
}

/// What `monitord.conf` says about where to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitordConf {
    /// `MONITOR_ADDRESS`, with `auto` (and absent) mapped to `127.0.0.1`.
    pub address: String,
    /// `PORT`.
    pub port: u16,
    /// `PUBKEY`, when set to a non-empty value.
    pub pubkey: Option<String>,
}

/// `KEY = value` pairs of an OpenNebula template file (`#` comments, quoted or bare values,
/// nested `NAME = [ ... ]` flattened). Later keys win.
fn template_pairs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.starts_with('#') {
            continue;
        }
        let mut rest = line;
        while let Some((key, after)) = rest.split_once('=') {
            let key = key
                .trim()
                .trim_start_matches([',', '[', ']'])
                .trim()
                .to_ascii_uppercase();
            let after = after.trim_start();
            let (value, tail) = if let Some(q) = after.strip_prefix('"') {
                match q.split_once('"') {
                    Some((v, t)) => (v.to_string(), t),
                    None => (q.to_string(), ""),
                }
            } else {
                let end = after.find([',', ']', '[', '#']).unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            if !key.is_empty() && !key.contains(char::is_whitespace) {
                out.insert(key, value);
            }
            rest = tail.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
            if rest.starts_with('#') {
                break;
            }
        }
    }
    out
}

/// Read `MONITOR_ADDRESS`, `PORT` and `PUBKEY` from the text of a `monitord.conf`.
pub fn parse_conf(path: &str, text: &str) -> Result<MonitordConf, MonitorError> {
    let pairs = template_pairs(text);
    let address = match pairs.get("MONITOR_ADDRESS").map(|s| s.trim()) {
        None | Some("") => "127.0.0.1".to_string(),
        Some(a) if a.eq_ignore_ascii_case("auto") => "127.0.0.1".to_string(),
        Some(a) => a.to_string(),
    };
    let port = match pairs.get("PORT").map(|s| s.trim()) {
        None | Some("") => DEFAULT_PORT,
        Some(p) => {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| MonitorError::BadConf {
                    path: path.into(),
                    why: format!("PORT '{p}' is not a UDP port number"),
                })?
        }
    };
    let pubkey = pairs
        .get("PUBKEY")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(MonitordConf {
        address,
        port,
        pubkey,
    })
}

/// Disk and snapshot sizes of one VM, in MB.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmDisks {
    /// VM id.
    pub vm_id: u64,
    /// `(disk_id, size_mb)`.
    pub disks: Vec<(u64, u64)>,
    /// `(snap_id, disk_id, size_mb)`.
    pub snapshots: Vec<(u64, u64, u64)>,
}

impl VmDisks {
    /// The monitoring text of this VM: `DISK_SIZE=[ID=<d>,SIZE=<MB>] ... SNAPSHOT_SIZE=[...]`.
    pub fn monitor_text(&self) -> String {
        let disks = self
            .disks
            .iter()
            .map(|(d, mb)| format!("DISK_SIZE=[ID={d},SIZE={mb}]"));
        let snaps = self
            .snapshots
            .iter()
            .map(|(s, d, mb)| format!("SNAPSHOT_SIZE=[ID={s},DISK_ID={d},SIZE={mb}]"));
        disks.chain(snaps).collect::<Vec<_>>().join(" ")
    }
}

/// The `MONITOR_VM` payload: one `VM=[ID=..., MONITOR="<b64>"]` per VM, space-joined.
pub fn vm_payload(vms: &[VmDisks]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    vms.iter()
        .map(|vm| {
            format!(
                "VM=[ID={}, MONITOR=\"{}\"]",
                vm.vm_id,
                b64.encode(vm.monitor_text())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The datagram: `MONITOR_VM SUCCESS -1 0 <base64(zlib(payload))>\n`.
pub fn datagram(payload: &str) -> String {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let packed = z
        .write_all(payload.as_bytes())
        .and_then(|_| z.finish())
        .unwrap_or_default();
    format!(
        "MONITOR_VM SUCCESS -1 0 {}\n",
        base64::engine::general_purpose::STANDARD.encode(packed)
    )
}

/// Where VM monitoring goes.
pub trait MonitorSender: Send + Sync + Debug {
    /// Deliver one `MONITOR_VM` payload (see [`vm_payload`]).
    fn send_vm_monitor(&self, payload: &str) -> Result<(), MonitorError>;
}

/// monitord over UDP, addressed by the first `monitord.conf` found.
#[derive(Debug, Clone)]
pub struct UdpMonitor {
    /// Candidate `monitord.conf` files, first existing wins.
    pub conf_paths: Vec<PathBuf>,
}

impl UdpMonitor {
    /// `LINSTOR_ONE_MONITORD_CONF` if set; else `$ONE_LOCATION/etc/monitord.conf` (when
    /// `ONE_LOCATION` is set), `/var/tmp/one_db/etc/monitord.conf`, `/etc/one/monitord.conf`.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let conf_paths = match var("LINSTOR_ONE_MONITORD_CONF") {
            Some(p) => vec![PathBuf::from(p)],
            None => {
                let mut v = Vec::new();
                if let Some(loc) = var("ONE_LOCATION") {
                    v.push(Path::new(&loc).join("etc/monitord.conf"));
                }
                v.push(PathBuf::from("/var/tmp/one_db/etc/monitord.conf"));
                v.push(PathBuf::from("/etc/one/monitord.conf"));
                v
            }
        };
        Self { conf_paths }
    }

    /// The configuration to send with.
    pub fn conf(&self) -> Result<(String, MonitordConf), MonitorError> {
        let path = self
            .conf_paths
            .iter()
            .find(|p| p.is_file())
            .ok_or_else(|| {
                MonitorError::NoConf(
                    self.conf_paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?;
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| MonitorError::Unreadable {
            path: shown.clone(),
            source,
        })?;
        let conf = parse_conf(&shown, &text)?;
        Ok((shown, conf))
    }
}

impl MonitorSender for UdpMonitor {
    fn send_vm_monitor(&self, payload: &str) -> Result<(), MonitorError> {
        let (path, conf) = self.conf()?;
        if let Some(key) = conf.pubkey {
            return Err(MonitorError::Encrypted { path, key });
        }
        let addr = format!("{}:{}", conf.address, conf.port);
        let send_err = |source| MonitorError::Send {
            addr: addr.clone(),
            source,
        };
        let target = (conf.address.as_str(), conf.port)
            .to_socket_addrs()
            .map_err(send_err)?
            .next()
            .ok_or_else(|| MonitorError::Unresolved { addr: addr.clone() })?;
        let bind = if target.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let sock = UdpSocket::bind(bind).map_err(send_err)?;
        let msg = datagram(payload);
        sock.send_to(msg.as_bytes(), target).map_err(send_err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    const STOCK: &str = r#"
# Monitor daemon configuration
LOG = [
  SYSTEM      = "file",
  DEBUG_LEVEL = 3
]
NETWORK = [
    ADDRESS = "0.0.0.0",
    MONITOR_ADDRESS = "auto",
    PORT    = 4124,
    THREADS = 8,
    PUBKEY  = "",
    PRIKEY  = ""
]
"#;

    #[test]
    fn stock_conf_means_localhost_4124_unencrypted() {
        let c = parse_conf("m", STOCK).unwrap();
        assert_eq!(
            c,
            MonitordConf {
                address: "127.0.0.1".into(),
                port: 4124,
                pubkey: None
            }
        );
        let c = parse_conf(
            "m",
            "NETWORK = [ MONITOR_ADDRESS = \"10.0.0.5\", PORT = 5000, PUBKEY = \"/etc/one/pub.pem\" ]",
        )
        .unwrap();
        assert_eq!(c.address, "10.0.0.5");
        assert_eq!(c.port, 5000);
        assert_eq!(c.pubkey.as_deref(), Some("/etc/one/pub.pem"));
        let e = parse_conf("/etc/one/monitord.conf", "PORT = lots").unwrap_err();
        assert!(e.to_string().contains("PORT 'lots'"), "{e}");
    }

    #[test]
    fn payload_and_datagram_decode_back() {
        let vms = [
            VmDisks {
                vm_id: 31,
                disks: vec![(0, 8), (2, 16)],
                snapshots: vec![(0, 0, 8)],
            },
            VmDisks {
                vm_id: 32,
                disks: vec![(0, 1)],
                snapshots: vec![],
            },
        ];
        assert_eq!(
            vms[0].monitor_text(),
            "DISK_SIZE=[ID=0,SIZE=8] DISK_SIZE=[ID=2,SIZE=16] SNAPSHOT_SIZE=[ID=0,DISK_ID=0,SIZE=8]"
        );
        let p = vm_payload(&vms);
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            p,
            format!(
                "VM=[ID=31, MONITOR=\"{}\"] VM=[ID=32, MONITOR=\"{}\"]",
                b64.encode(vms[0].monitor_text()),
                b64.encode("DISK_SIZE=[ID=0,SIZE=1]")
            )
        );
        let d = datagram(&p);
        let body = d
            .strip_prefix("MONITOR_VM SUCCESS -1 0 ")
            .and_then(|s| s.strip_suffix('\n'))
            .unwrap();
        let mut text = String::new();
        flate2::read::ZlibDecoder::new(&b64.decode(body).unwrap()[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, p);
    }

    #[test]
    fn pubkey_refuses_and_missing_conf_names_the_paths() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("monitord.conf");
        std::fs::write(&conf, "NETWORK = [ PORT = 9, PUBKEY = \"/k.pem\" ]").unwrap();
        let m = UdpMonitor {
            conf_paths: vec![dir.path().join("absent.conf"), conf],
        };
        let e = m.send_vm_monitor("VM=[ID=1, MONITOR=\"\"]").unwrap_err();
        assert!(matches!(e, MonitorError::Encrypted { .. }), "{e}");
        assert!(e.to_string().contains("PUBKEY"), "{e}");
        let m = UdpMonitor {
            conf_paths: vec![dir.path().join("absent.conf")],
        };
        let e = m.send_vm_monitor("x").unwrap_err();
        assert!(e.to_string().contains("absent.conf"), "{e}");
    }

    #[test]
    fn unreadable_conf_keeps_the_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("monitord.conf");
        std::fs::create_dir(&conf).unwrap();
        let m = UdpMonitor {
            conf_paths: vec![conf.clone()],
        };
        std::fs::remove_dir(&conf).unwrap();
        std::fs::write(&conf, [0xff, 0xfe]).unwrap();
        let e = m.send_vm_monitor("x").unwrap_err();
        let io: &std::io::Error = linstor_tests::errors::source(&e);
        assert_eq!(io.kind(), std::io::ErrorKind::InvalidData);
        let shown = linstor_common::error::chain(&e);
        assert!(
            linstor_tests::errors::names_once(&shown, io)
                .starts_with(&format!("cannot read {}; ", conf.display())),
            "{shown}"
        );
    }
}
