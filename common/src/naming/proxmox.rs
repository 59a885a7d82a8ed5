//! Proxmox naming, compatible with `linstor-proxmox`: `pm-XXXXXXXX` resources shown as
//! `pm-XXXXXXXX_<vmid>` with `Aux/pm/vmid`, the legacy `vm-<vmid>-…` names, the
//! `snap_<res>_<snap>` snapshot (and temporary resource) names, and this suite's `base-` prefix
//! that marks a template volume.

use crate::api::{Props, ResourceDefinition};
use crate::error::{Error, Result};

/// RD property holding the owning VMID.
pub const VMID_PROP: &str = "Aux/pm/vmid";
/// RD property set by `create_base`: the volume is a template (shown as `base-<volname>`).
pub const BASE_PROP: &str = "Aux/pm/base";
/// Snapshot property holding the PVE snapshot name (needed when the LINSTOR name is shortened).
pub const SNAPNAME_PROP: &str = "Aux/pm/snapname";
/// Volname prefix of a template (base) volume.
pub const BASE_PREFIX: &str = "base-";
/// Smallest volume `alloc_image` creates, in KiB (as `linstor-proxmox`: 3 MiB).
pub const MIN_ALLOC_KIB: u64 = 3072;

/// A fresh `pm-` + 8 lowercase hex resource name (first 8 characters of a v4 UUID).
pub fn new_resource_name() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("pm-{}", &id[..8])
}

/// `vm-<digits>-…` prefix: the VMID, if the name has that shape.
pub fn legacy_vmid(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("vm-")?;
    let (id, tail) = rest.split_once('-')?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && !tail.is_empty()).then_some(id)
}

/// True for `pm-` + 8 lowercase hex.
pub fn is_pm_name(name: &str) -> bool {
    name.strip_prefix("pm-").is_some_and(|h| {
        h.len() == 8
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Owned by the Proxmox frontend: `Aux/pm/vmid` set, or a legacy `vm-<id>-` name.
pub fn owns(rd: &ResourceDefinition) -> bool {
    rd.props.contains_key(VMID_PROP) || legacy_vmid(&rd.name).is_some()
}

/// VMID of a resource: `Aux/pm/vmid`, else the legacy name.
pub fn vmid_of(rd_name: &str, rd: Option<&ResourceDefinition>) -> Option<String> {
    rd.and_then(|rd| rd.props.get(VMID_PROP).cloned())
        .or_else(|| legacy_vmid(rd_name).map(str::to_string))
}

/// Which naming scheme a volume name follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    /// `pm-XXXXXXXX_<vmid>` (RD `pm-XXXXXXXX`).
    Pm,
    /// `vm-<vmid>-disk-<n>`.
    Disk,
    /// `vm-<vmid>-cloudinit`.
    CloudInit,
    /// `vm-<vmid>-state-<snap>` (RAM state).
    State,
    /// `vm-<vmid>-fleece-<…>` (backup fleecing).
    Fleece,
    /// `vm-<vmid>-pvc-<…>` (proxmox-csi-plugin).
    Pvc,
    /// Any other `vm-<vmid>-<name>` that `parse_volname` of `linstor-proxmox` accepts.
    OtherLegacy,
}

/// A parsed PVE volume name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Volname {
    /// The LINSTOR resource definition name.
    pub rd: String,
    /// The owning VMID (decimal digits).
    pub vmid: String,
    /// Naming scheme.
    pub kind: NameKind,
    /// A template (`base-` prefix).
    pub is_base: bool,
}

impl Volname {
    /// The volname PVE sees for this volume (with `base-` for a template).
    pub fn volname(&self) -> String {
        let plain = match self.kind {
            NameKind::Pm => format!("{}_{}", self.rd, self.vmid),
            _ => self.rd.clone(),
        };
        if self.is_base {
            format!("{BASE_PREFIX}{plain}")
        } else {
            plain
        }
    }

    /// The same volume as a template.
    pub fn as_base(&self) -> Volname {
        Volname {
            is_base: true,
            ..self.clone()
        }
    }
}

fn is_vmid(s: &str) -> bool {
    !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Parse a PVE volname of this storage. Accepts what `linstor-proxmox` accepts
/// (`pm-XXXXXXXX_<vmid>` and `vm-<vmid>-<lowercase letter>[a-z0-9._-]*[a-z0-9]`), each optionally
/// prefixed by `base-`, and additionally requires the LINSTOR name rules.
pub fn parse_volname(volname: &str) -> Result<Volname> {
    let bad = |why: &str| {
        Error::InvalidInput(format!(
            "unable to parse drbd volume name '{volname}': {why}; expected 'pm-XXXXXXXX_<vmid>' (8 lowercase hex digits) or 'vm-<vmid>-disk-<n>' (also -cloudinit, -state-*, -fleece-*, -pvc-*), optionally prefixed by 'base-'"
        ))
    };
    let (is_base, name) = match volname.strip_prefix(BASE_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, volname),
    };
    if let Some((rd, vmid)) = name.split_once('_') {
        if !is_pm_name(rd) {
            return Err(bad(
                "the part before '_' is not 'pm-' and 8 lowercase hex digits",
            ));
        }
        if !is_vmid(vmid) {
            return Err(bad("the part after '_' is not a VMID"));
        }
        return Ok(Volname {
            rd: rd.to_string(),
            vmid: vmid.to_string(),
            kind: NameKind::Pm,
            is_base,
        });
    }
    let Some(vmid) = legacy_vmid(name) else {
        return Err(bad("it starts with neither 'pm-' nor 'vm-<vmid>-'"));
    };
    if !is_vmid(vmid) {
        return Err(bad("the VMID is too long"));
    }
    let tail = &name[3 + vmid.len() + 1..];
    let tb = tail.as_bytes();
    let shape_ok = tb.len() >= 2
        && tb[0].is_ascii_lowercase()
        && tb.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && tb
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !shape_ok {
        return Err(bad(
            "after 'vm-<vmid>-' comes a lowercase letter, then lowercase letters, digits, '-', '_', ending in a letter or digit",
        ));
    }
    if tail.contains('.') || name.len() > 48 {
        return Err(bad(
            "LINSTOR names are at most 48 characters of letters, digits, '_' and '-'",
        ));
    }
    let kind = if tail == "cloudinit" {
        NameKind::CloudInit
    } else if tail
        .strip_prefix("disk-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        NameKind::Disk
    } else if tail.starts_with("state-") {
        NameKind::State
    } else if tail.starts_with("fleece-") {
        NameKind::Fleece
    } else if tail.starts_with("pvc-") {
        NameKind::Pvc
    } else {
        NameKind::OtherLegacy
    };
    Ok(Volname {
        rd: name.to_string(),
        vmid: vmid.to_string(),
        kind,
        is_base,
    })
}

/// Check a name PVE passes to `alloc_image` for VM `vmid`: one of the explicit forms
/// (`vm-<vmid>-disk-<n>`, `-cloudinit`, `-state-*`, `-fleece-*`, `-pvc-*`, `pm-XXXXXXXX_<vmid>`),
/// belonging to that VM, and not a template.
pub fn parse_alloc_name(name: &str, vmid: &str) -> Result<Volname> {
    let v = parse_volname(name)?;
    if v.is_base {
        return Err(Error::InvalidInput(format!(
            "illegal name '{name}': new volumes cannot be templates; use create_base"
        )));
    }
    if v.kind == NameKind::OtherLegacy {
        return Err(Error::InvalidInput(format!(
            "illegal name '{name}': use vm-{vmid}-disk-<n>, vm-{vmid}-cloudinit, vm-{vmid}-state-<snap>, vm-{vmid}-fleece-<n>, vm-{vmid}-pvc-<name> or leave the name empty"
        )));
    }
    if v.vmid != vmid {
        return Err(Error::InvalidInput(format!(
            "illegal name '{name}': it belongs to VM {}, not to VM {vmid}",
            v.vmid
        )));
    }
    Ok(v)
}

/// The volname of an existing resource definition, or `None` when it is not a Proxmox volume
/// (other names, temporary snapshot resources, RDs without a VMID).
pub fn volname_of(rd: &ResourceDefinition) -> Option<Volname> {
    volname_from(&rd.name, &rd.props)
}

/// [`volname_of`] from a definition's name and props.
pub fn volname_from(name: &str, props: &Props) -> Option<Volname> {
    let is_base = props
        .get(BASE_PROP)
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    if is_pm_name(name) {
        let vmid = props.get(VMID_PROP).filter(|v| is_vmid(v))?;
        return Some(Volname {
            rd: name.to_string(),
            vmid: vmid.clone(),
            kind: NameKind::Pm,
            is_base,
        });
    }
    legacy_vmid(name)?;
    let mut v = parse_volname(name).ok()?;
    v.is_base = is_base;
    Some(v)
}

/// Check a PVE snapshot name (`pve-configid`: a letter, then letters, digits, `-`, `_`; at most
/// 40 characters).
pub fn validate_pve_snapshot(snap: &str) -> Result<()> {
    let b = snap.as_bytes();
    let ok = (2..=40).contains(&b.len())
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "invalid snapshot name '{snap}': PVE snapshot names are 2-40 characters, a letter first, then letters, digits, '-' or '_'"
        )))
    }
}

/// LINSTOR snapshot name of PVE snapshot `snap` of `rd`: `snap_<rd>_<snap>` as
/// `linstor-proxmox` names it, or, when that exceeds LINSTOR's 48 characters, its first 34
/// characters after `snap_` plus `_` and 8 hex digits of a hash of the full name. The same
/// string names the temporary resource a snapshot is activated in.
pub fn snapshot_name(rd: &str, snap: &str) -> String {
    let full = format!("snap_{rd}_{snap}");
    if full.len() <= 48 {
        return full;
    }
    let body = format!("{rd}_{snap}");
    format!(
        "snap_{}_{:08x}",
        &body[..34],
        super::fnv1a_32(full.as_bytes())
    )
}

/// The PVE snapshot name of a LINSTOR snapshot of `rd`: from `Aux/pm/snapname`, else by
/// stripping `snap_<rd>_` (snapshots made by `linstor-proxmox`); `None` for other snapshots.
pub fn pve_snapshot_of(
    rd: &str,
    linstor_name: &str,
    snapname_prop: Option<&str>,
) -> Option<String> {
    if let Some(p) = snapname_prop {
        return Some(p.to_string());
    }
    linstor_name
        .strip_prefix("snap_")
        .and_then(|r| r.strip_prefix(rd))
        .and_then(|r| r.strip_prefix('_'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::{validate_resource_name, validate_snapshot_name};

    #[test]
    fn parses_both_schemes_and_templates() {
        let v = parse_volname("pm-12cf742a_101").unwrap();
        assert_eq!((v.rd.as_str(), v.vmid.as_str()), ("pm-12cf742a", "101"));
        assert_eq!(v.kind, NameKind::Pm);
        assert_eq!(v.volname(), "pm-12cf742a_101");
        let b = parse_volname("base-pm-12cf742a_101").unwrap();
        assert!(b.is_base);
        assert_eq!(b.rd, "pm-12cf742a");
        assert_eq!(b.volname(), "base-pm-12cf742a_101");
        for (name, kind) in [
            ("vm-100-disk-1", NameKind::Disk),
            ("vm-100-cloudinit", NameKind::CloudInit),
            ("vm-100-state-snap1", NameKind::State),
            ("vm-100-fleece-0", NameKind::Fleece),
            ("vm-100-pvc-abc-1", NameKind::Pvc),
            ("vm-100-tpmstate0", NameKind::OtherLegacy),
        ] {
            let v = parse_volname(name).unwrap();
            assert_eq!(
                (v.rd.as_str(), v.vmid.as_str(), v.kind),
                (name, "100", kind)
            );
            assert_eq!(v.volname(), name);
            validate_resource_name(&v.rd).unwrap();
        }
        assert_eq!(
            parse_volname("base-vm-7-disk-0")
                .unwrap()
                .as_base()
                .volname(),
            "base-vm-7-disk-0"
        );
    }

    #[test]
    fn rejects_other_names_with_the_expected_forms() {
        for bad in [
            "",
            "pm-12cf742a",
            "pm-12CF742A_1",
            "pm-12cf742_1",
            "pm-12cf742a_x",
            "vm-100-Disk-1",
            "vm-100-d",
            "vm-100-disk-",
            "vm--disk-1",
            "vm-100-disk-1.raw",
            "base-",
            "100/vm-100-disk-1.qcow2",
            "vm-12345678901-disk-1",
        ] {
            let e = parse_volname(bad).unwrap_err().to_string();
            assert!(e.contains("pm-XXXXXXXX_<vmid>"), "{bad}: {e}");
        }
    }

    #[test]
    fn alloc_names_must_belong_to_the_vm() {
        assert_eq!(
            parse_alloc_name("vm-5-disk-0", "5").unwrap().kind,
            NameKind::Disk
        );
        assert!(parse_alloc_name("vm-5-disk-0", "6")
            .unwrap_err()
            .to_string()
            .contains("belongs to VM 5"));
        assert!(parse_alloc_name("vm-5-tpm", "5").is_err());
        assert!(parse_alloc_name("base-vm-5-disk-0", "5").is_err());
        assert_eq!(
            parse_alloc_name("pm-0000000a_5", "5").unwrap().rd,
            "pm-0000000a"
        );
    }

    #[test]
    fn snapshot_names_fit_linstor() {
        assert_eq!(snapshot_name("pm-12cf742a", "s1"), "snap_pm-12cf742a_s1");
        let long_snap = "a".repeat(40);
        let long_rd = format!("vm-100-pvc-{}", "x".repeat(37));
        for (rd, snap) in [
            ("pm-12cf742a", long_snap.as_str()),
            (long_rd.as_str(), "s"),
            (long_rd.as_str(), long_snap.as_str()),
        ] {
            let n = snapshot_name(rd, snap);
            assert!(n.len() <= 48, "{n}");
            validate_snapshot_name(&n).unwrap();
            validate_resource_name(&n).unwrap();
            assert_ne!(n, snapshot_name(rd, &format!("{snap}b")));
        }
        assert_eq!(
            pve_snapshot_of("pm-12cf742a", "snap_pm-12cf742a_s1", None).as_deref(),
            Some("s1")
        );
        assert_eq!(
            pve_snapshot_of("pm-12cf742a", "snap_xyz", Some("long")).as_deref(),
            Some("long")
        );
        assert_eq!(pve_snapshot_of("pm-12cf742a", "other", None), None);
        validate_pve_snapshot("vzdump").unwrap();
        assert!(validate_pve_snapshot("1x").is_err());
        assert!(validate_pve_snapshot(&"a".repeat(41)).is_err());
    }

    #[test]
    fn volnames_of_existing_rds() {
        let mut rd = ResourceDefinition {
            name: "pm-12cf742a".into(),
            ..Default::default()
        };
        assert_eq!(volname_of(&rd), None);
        rd.props.insert(VMID_PROP.into(), "101".into());
        assert_eq!(volname_of(&rd).unwrap().volname(), "pm-12cf742a_101");
        rd.props.insert(BASE_PROP.into(), "yes".into());
        assert_eq!(volname_of(&rd).unwrap().volname(), "base-pm-12cf742a_101");
        let snap_rd = ResourceDefinition {
            name: "snap_pm-12cf742a_s1".into(),
            props: rd.props.clone(),
            ..Default::default()
        };
        assert_eq!(volname_of(&snap_rd), None);
        let legacy = ResourceDefinition {
            name: "vm-100-disk-1".into(),
            ..Default::default()
        };
        assert_eq!(volname_of(&legacy).unwrap().volname(), "vm-100-disk-1");
    }
}
