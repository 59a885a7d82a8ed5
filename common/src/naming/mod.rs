//! LINSTOR name rules, size units, and per-platform naming schemes and ownership markers.

pub mod docker;
pub mod opennebula;
pub mod proxmox;

use std::path::{Path, PathBuf};

use crate::api::ResourceDefinition;
use crate::error::{Error, Result};

/// Directory of the udev links of DRBD devices, relative to the device root (`/dev`).
pub const BY_RES: &str = "drbd/by-res";

/// Device of volume `volume` of resource `rd` under `dev_root` (normally `/dev`):
/// `<dev_root>/drbd/by-res/<rd>/<volume>`, the link drbd-utils' udev rules make.
pub fn device_path(dev_root: &Path, rd: &str, volume: u32) -> PathBuf {
    dev_root.join(BY_RES).join(rd).join(volume.to_string())
}

/// 64-bit FNV-1a of `data`. Names and cache files are derived from it: its values must never
/// change.
pub fn fnv1a_64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// 32-bit FNV-1a of `data`; see [`fnv1a_64`].
pub fn fnv1a_32(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// `text` with every character LINSTOR names do not allow (anything but ASCII letters, digits,
/// `_` and `-`) replaced by `-`. Only the characters: length, first character and reserved
/// names are the caller's to check.
pub fn sanitize_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The frontend a volume belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    /// Proxmox VE (`linstor-proxmox` compatible).
    Proxmox,
    /// OpenNebula (`addon-linstor_un` and LINBIT `addon-linstor` compatible).
    OpenNebula,
    /// Docker (`linstor-docker-volume` compatible).
    Docker,
}

impl Platform {
    /// Display name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Proxmox => "Proxmox VE",
            Platform::OpenNebula => "OpenNebula",
            Platform::Docker => "Docker",
        }
    }

    /// True when the resource definition belongs to this platform (by `Aux/` marker or by the
    /// peer's naming scheme).
    pub fn owns(self, rd: &ResourceDefinition) -> bool {
        match self {
            Platform::Proxmox => proxmox::owns(rd),
            Platform::OpenNebula => opennebula::owns(rd),
            Platform::Docker => docker::owns(rd),
        }
    }

    /// The VM (or container) id a volume belongs to, for controller-VM exclusion.
    pub fn vm_id_of(self, rd_name: &str, rd: Option<&ResourceDefinition>) -> Option<String> {
        match self {
            Platform::Proxmox => proxmox::vmid_of(rd_name, rd),
            Platform::OpenNebula => opennebula::vm_id_of(rd_name, rd),
            Platform::Docker => None,
        }
    }
}

/// Lowest and highest volume size LINSTOR accepts, in KiB.
pub const MIN_VOLUME_KIB: u64 = 4;
/// 2^40 KiB.
pub const MAX_VOLUME_KIB: u64 = 1 << 40;

fn name_rule(kind: &str, name: &str, min: usize) -> Result<()> {
    let rule = format!(
        "LINSTOR {kind} names are {min}-48 characters, start with a letter or '_', continue with letters, digits, '_' or '-', and contain at least one letter"
    );
    let bad = |why: &str| {
        Err(Error::InvalidInput(format!(
            "invalid {kind} name '{name}': {why}; {rule}"
        )))
    };
    if name.len() < min || name.len() > 48 {
        return bad(&format!("it is {} characters long", name.len()));
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or(' ');
    if !(first.is_ascii_alphabetic() || first == '_') {
        return bad(&format!("it starts with '{first}'"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return bad(&format!("it contains '{c}'"));
    }
    if !name.chars().any(|c| c.is_ascii_alphabetic()) {
        return bad("it has no letter");
    }
    if kind == "resource"
        && (name.eq_ignore_ascii_case("all") || name.eq_ignore_ascii_case("proxy"))
    {
        return bad("'all' and 'proxy' are reserved");
    }
    Ok(())
}

/// Check a resource (definition) name against LINSTOR's rules before any request.
pub fn validate_resource_name(name: &str) -> Result<()> {
    name_rule("resource", name, 2)
}

/// Check a snapshot name against LINSTOR's rules.
pub fn validate_snapshot_name(name: &str) -> Result<()> {
    name_rule("snapshot", name, 2)
}

/// Check a resource group name.
pub fn validate_resource_group_name(name: &str) -> Result<()> {
    name_rule("resource group", name, 2)
}

/// Check a node name (RFC 1123 host name).
pub fn validate_node_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::InvalidInput(format!(
            "invalid node name '{name}': {why}; LINSTOR node names are host names (2-255 characters, dot-separated labels of letters, digits and '-')"
        )))
    };
    if name.len() < 2 || name.len() > 255 {
        return bad("wrong length");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("empty or over-long label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a label starts or ends with '-'");
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return bad("a label has a character other than letters, digits and '-'");
        }
    }
    Ok(())
}

/// Check a volume size in KiB.
pub fn validate_size_kib(size_kib: u64) -> Result<()> {
    if !(MIN_VOLUME_KIB..=MAX_VOLUME_KIB).contains(&size_kib) {
        return Err(Error::InvalidInput(format!(
            "invalid volume size {size_kib} KiB: LINSTOR volume sizes range from {MIN_VOLUME_KIB} KiB to {MAX_VOLUME_KIB} KiB (1 PiB)"
        )));
    }
    Ok(())
}

/// Bytes to KiB, rounded up.
pub fn kib_from_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(1024)
}

/// Parse a human size (`10G`, `512MiB`, `1.5T`, `4096`, `100k`) into bytes. Units are binary
/// (K = 1024), as Docker's `--opt size` and the peers use them; a bare number is bytes unless
/// `default_unit` says otherwise.
pub fn parse_size(text: &str, default_unit: u64) -> Result<u64> {
    let t = text.trim();
    let bad = || {
        Error::InvalidInput(format!(
            "invalid size '{text}': use a number with an optional unit K, M, G, T or P (binary, e.g. 10G or 512MiB)"
        ))
    };
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(bad());
    }
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" => default_unit,
        "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        "p" | "pb" | "pib" => 1 << 50,
        _ => return Err(bad()),
    };
    if let Some((int, frac)) = num.split_once('.') {
        let int: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        if frac.is_empty() || frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let frac_val: u64 = frac.parse().map_err(|_| bad())?;
        let scale = 10u64.pow(frac.len() as u32);
        let whole = int.checked_mul(mult).ok_or_else(bad)?;
        let part = (u128::from(frac_val) * u128::from(mult)).div_ceil(u128::from(scale));
        return whole.checked_add(part as u64).ok_or_else(bad);
    }
    num.parse::<u64>()
        .map_err(|_| bad())?
        .checked_mul(mult)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_keeps_the_published_test_vectors() {
        assert_eq!(fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a_32(b"foobar"), 0xbf9c_f968);
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn sanitized_names_keep_allowed_characters_and_dash_the_rest() {
        assert_eq!(sanitize_name("my.vol/ä_1-x"), "my-vol--_1-x");
        assert_eq!(
            device_path(Path::new("/dev"), "rd1", 0),
            Path::new("/dev/drbd/by-res/rd1/0")
        );
    }

    #[test]
    fn resource_name_rules() {
        for ok in [
            "pm-12cf742a",
            "vm-100-disk-1",
            "_x",
            "ab",
            "one-image-3",
            &"a".repeat(48),
        ] {
            validate_resource_name(ok).unwrap();
        }
        for (bad, why) in [
            ("a", "characters long"),
            ("1abc", "starts with '1'"),
            ("my.vol", "contains '.'"),
            ("__", "no letter"),
            ("all", "reserved"),
            (&"a".repeat(49) as &str, "49 characters"),
            ("-x", "starts with '-'"),
        ] {
            let e = validate_resource_name(bad).unwrap_err().to_string();
            assert!(
                e.contains(why) && e.contains("LINSTOR resource names"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10G", 1).unwrap(), 10 << 30);
        assert_eq!(parse_size("512MiB", 1).unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5k", 1).unwrap(), 1536);
        assert_eq!(parse_size("100", 1).unwrap(), 100);
        assert_eq!(parse_size("100", 1 << 20).unwrap(), 100 << 20);
        for bad in ["", "G", "10X", "1.2.3G", "-5", "99999999999999999999P"] {
            assert!(parse_size(bad, 1).is_err(), "{bad}");
        }
        assert_eq!(kib_from_bytes(1), 1);
        assert_eq!(kib_from_bytes(2048), 2);
        assert!(validate_size_kib(3).is_err());
        assert!(validate_size_kib(MAX_VOLUME_KIB + 1).is_err());
        validate_size_kib(4).unwrap();
    }

    #[test]
    fn node_names() {
        validate_node_name("node-1.example.com").unwrap();
        assert!(validate_node_name("-bad").is_err());
        assert!(validate_node_name("a_b").is_err());
    }
}
