//! OpenNebula naming of both peers: `addon-linstor_un` (`one-image-<id>`,
//! `one-vm-<vmid>-disk-<id>`, `snapshot-<n>`, SOURCE = device path, `Aux/one/*`) and LINBIT
//! `addon-linstor` (`OpenNebula-Image-<id>`, `<src>-vm<vmid>-disk<id>`,
//! `OpenNebula-Volatile-vm<vmid>-disk<id>`, `OpenNebula-Snap-<n>`, SOURCE = RD name).
//!
//! New objects use one [`Scheme`]; existing objects of both schemes are recognised, so a
//! datastore switched from either peer keeps working.

use crate::api::ResourceDefinition;

/// Prefix of the `addon-linstor_un` bookkeeping properties.
pub const AUX_PREFIX: &str = "Aux/one/";
/// `Aux/one/VM_ID`: the VM a disk belongs to.
pub const PROP_VM_ID: &str = "Aux/one/VM_ID";
/// `Aux/one/DISK_ID`: the disk index within the VM.
pub const PROP_DISK_ID: &str = "Aux/one/DISK_ID";
/// `Aux/one/DS_ID`: the (system) datastore the disk is charged to.
pub const PROP_DS_ID: &str = "Aux/one/DS_ID";
/// `Aux/one/IMAGE_ID`: the image an image volume holds (this suite's addition).
pub const PROP_IMAGE_ID: &str = "Aux/one/IMAGE_ID";

/// Which peer's names new objects get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `addon-linstor_un`: `one-image-<id>`, SOURCE `/dev/drbd/by-res/<rd>/0`.
    Un,
    /// LINBIT `addon-linstor`: `OpenNebula-Image-<id>`, SOURCE = RD name.
    Linbit,
}

impl Scheme {
    /// Parse a scheme name as written in a datastore template (`un`/`linstor_un`,
    /// `linbit`/`lb`/`linstor`), case-insensitively.
    pub fn parse(text: &str) -> Option<Scheme> {
        match text.trim().to_ascii_lowercase().as_str() {
            "un" | "linstor_un" | "one" => Some(Scheme::Un),
            "linbit" | "lb" | "linstor" => Some(Scheme::Linbit),
            _ => None,
        }
    }

    /// RD name of an image.
    pub fn image(self, image_id: u64) -> String {
        match self {
            Scheme::Un => format!("one-image-{image_id}"),
            Scheme::Linbit => format!("OpenNebula-Image-{image_id}"),
        }
    }

    /// RD name of a non-persistent (cloned) VM disk made from `source_rd`.
    pub fn vm_disk(self, source_rd: &str, vm_id: u64, disk_id: u64) -> String {
        match self {
            Scheme::Un => format!("one-vm-{vm_id}-disk-{disk_id}"),
            Scheme::Linbit => format!("{source_rd}-vm{vm_id}-disk{disk_id}"),
        }
    }

    /// RD name of a volatile (swap / fs) disk.
    pub fn volatile(self, vm_id: u64, disk_id: u64) -> String {
        match self {
            Scheme::Un => format!("one-vm-{vm_id}-disk-{disk_id}"),
            Scheme::Linbit => format!("OpenNebula-Volatile-vm{vm_id}-disk{disk_id}"),
        }
    }

    /// Snapshot name of OpenNebula snapshot `snap_id`.
    pub fn snapshot(self, snap_id: u64) -> String {
        match self {
            Scheme::Un => format!("snapshot-{snap_id}"),
            Scheme::Linbit => format!("OpenNebula-Snap-{snap_id}"),
        }
    }

    /// The image SOURCE oned stores for an RD.
    pub fn source(self, rd: &str) -> String {
        match self {
            Scheme::Un => super::device_path(std::path::Path::new("/dev"), rd, 0)
                .display()
                .to_string(),
            Scheme::Linbit => rd.to_string(),
        }
    }
}

/// Every snapshot name OpenNebula snapshot `snap_id` may have, preferred scheme first.
pub fn snapshot_candidates(preferred: Scheme, snap_id: u64) -> [String; 2] {
    let other = match preferred {
        Scheme::Un => Scheme::Linbit,
        Scheme::Linbit => Scheme::Un,
    };
    [preferred.snapshot(snap_id), other.snapshot(snap_id)]
}

/// Every RD name a cloned VM disk may have, preferred scheme first.
pub fn vm_disk_candidates(
    preferred: Scheme,
    source_rd: &str,
    vm_id: u64,
    disk_id: u64,
) -> [String; 2] {
    let other = match preferred {
        Scheme::Un => Scheme::Linbit,
        Scheme::Linbit => Scheme::Un,
    };
    [
        preferred.vm_disk(source_rd, vm_id, disk_id),
        other.vm_disk(source_rd, vm_id, disk_id),
    ]
}

/// Every RD name a volatile disk may have, preferred scheme first.
pub fn volatile_candidates(preferred: Scheme, vm_id: u64, disk_id: u64) -> [String; 2] {
    let other = match preferred {
        Scheme::Un => Scheme::Linbit,
        Scheme::Linbit => Scheme::Un,
    };
    [
        preferred.volatile(vm_id, disk_id),
        other.volatile(vm_id, disk_id),
    ]
}

/// RD name of an image SOURCE of either peer: `[host:]/dev/drbd/by-res/<rd>/<vol>` (UN) or a
/// bare `[host:]<rd>` (LINBIT). `None` when the text is neither; the name is not validated.
pub fn rd_from_source(source: &str) -> Option<&str> {
    let s = source.trim();
    let s = match s.split_once(':') {
        Some((host, rest)) if !host.contains('/') => rest,
        _ => s,
    };
    if let Some(rest) = s
        .strip_prefix("/dev/")
        .and_then(|r| r.strip_prefix(super::BY_RES))
        .and_then(|r| r.strip_prefix('/'))
    {
        let (rd, vol) = rest.split_once('/').unwrap_or((rest, "0"));
        let vol = vol.trim_end_matches('/');
        return (!rd.is_empty() && !vol.is_empty() && vol.bytes().all(|b| b.is_ascii_digit()))
            .then_some(rd);
    }
    (!s.is_empty() && !s.contains('/')).then_some(s)
}

/// Image id in an image RD name of either scheme.
pub fn image_id_of(rd: &str) -> Option<u64> {
    rd.strip_prefix("one-image-")
        .or_else(|| rd.strip_prefix("OpenNebula-Image-"))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

/// The scheme an existing RD name follows, if any.
pub fn scheme_of(rd: &str) -> Option<Scheme> {
    if rd.starts_with("one-image-") || rd.starts_with("one-vm-") {
        Some(Scheme::Un)
    } else if rd.starts_with("OpenNebula-") {
        Some(Scheme::Linbit)
    } else {
        None
    }
}

/// Owned by the OpenNebula frontend: any `Aux/one/` property, or a name of either peer.
pub fn owns(rd: &ResourceDefinition) -> bool {
    rd.props.keys().any(|k| k.starts_with(AUX_PREFIX))
        || rd.name.starts_with("one-image-")
        || rd.name.starts_with("one-vm-")
        || rd.name.starts_with("OpenNebula-")
}

/// VM id of a VM disk: `Aux/one/VM_ID`, else the name.
pub fn vm_id_of(rd_name: &str, rd: Option<&ResourceDefinition>) -> Option<String> {
    if let Some(id) = rd.and_then(|rd| rd.props.get(PROP_VM_ID)) {
        return Some(id.clone());
    }
    let digits = |s: &str| -> Option<String> {
        let id: String = s.chars().take_while(char::is_ascii_digit).collect();
        (!id.is_empty()).then_some(id)
    };
    if let Some(rest) = rd_name.strip_prefix("one-vm-") {
        return digits(rest);
    }
    rd_name.find("-vm").and_then(|i| digits(&rd_name[i + 3..]))
}

/// Prefix of UN's per-snapshot size property: `Aux/one/SNAPSHOT_<n>/DISK_SIZE` (KiB).
pub const PROP_SNAPSHOT_PREFIX: &str = "Aux/one/SNAPSHOT_";

fn all_digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `(vm_id, disk_id)` of a VM disk: `Aux/one/VM_ID` + `Aux/one/DISK_ID` when both are set,
/// else the name (`one-vm-<v>-disk-<d>`, `<src>-vm<v>-disk<d>`,
/// `OpenNebula-Volatile-vm<v>-disk<d>`). Images and checkpoints give `None`.
pub fn disk_of(rd_name: &str, props: &crate::api::Props) -> Option<(u64, u64)> {
    let prop = |k: &str| props.get(k).and_then(|v| all_digits(v.trim()));
    if let (Some(vm), Some(disk)) = (prop(PROP_VM_ID), prop(PROP_DISK_ID)) {
        return Some((vm, disk));
    }
    if let Some(rest) = rd_name.strip_prefix("one-vm-") {
        let (vm, disk) = rest.split_once("-disk-")?;
        return Some((all_digits(vm)?, all_digits(disk)?));
    }
    let (_, rest) = rd_name.rsplit_once("-vm")?;
    let (vm, disk) = rest.split_once("-disk")?;
    Some((all_digits(vm)?, all_digits(disk)?))
}

/// OpenNebula snapshot id of a snapshot name of either scheme (`snapshot-<n>`,
/// `OpenNebula-Snap-<n>`).
pub fn snapshot_id_of(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")
        .or_else(|| name.strip_prefix("OpenNebula-Snap-"))
        .and_then(all_digits)
}

/// Size in KiB UN's `snap_create` recorded for snapshot `snap_id` in the RD props.
pub fn recorded_snapshot_kib(props: &crate::api::Props, snap_id: u64) -> Option<u64> {
    props
        .get(&format!("{PROP_SNAPSHOT_PREFIX}{snap_id}/DISK_SIZE"))
        .and_then(|v| all_digits(v.trim()))
}

/// The `Aux/one/*` properties of an image volume: `IMAGE_ID` (when known) and `DS_ID`, so
/// [`image_id_of`] and the monitoring of datastore `ds_id` recognise it.
pub fn image_props(image_id: Option<u64>, ds_id: u64) -> crate::api::Props {
    let mut props = crate::api::Props::new();
    if let Some(id) = image_id {
        props.insert(PROP_IMAGE_ID.into(), id.to_string());
    }
    props.insert(PROP_DS_ID.into(), ds_id.to_string());
    props
}

/// The `Aux/one/*` properties of a VM disk (clone or volatile): `VM_ID`, `DISK_ID` and the
/// system datastore `DS_ID` it is charged to, as [`disk_of`] and [`vm_id_of`] read them.
pub fn vm_disk_props(vm_id: u64, disk_id: u64, ds_id: u64) -> crate::api::Props {
    let mut props = crate::api::Props::new();
    props.insert(PROP_VM_ID.into(), vm_id.to_string());
    props.insert(PROP_DISK_ID.into(), disk_id.to_string());
    props.insert(PROP_DS_ID.into(), ds_id.to_string());
    props
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::validate_resource_name;

    #[test]
    fn both_schemes_make_valid_names() {
        for s in [Scheme::Un, Scheme::Linbit] {
            let img = s.image(42);
            validate_resource_name(&img).unwrap();
            validate_resource_name(&s.vm_disk(&img, 31, 0)).unwrap();
            validate_resource_name(&s.volatile(31, 2)).unwrap();
            assert_eq!(rd_from_source(&s.source(&img)), Some(img.as_str()));
            assert_eq!(image_id_of(&img), Some(42));
            assert_eq!(scheme_of(&img), Some(s));
        }
        assert_eq!(
            Scheme::Linbit.vm_disk("OpenNebula-Image-7", 31, 0),
            "OpenNebula-Image-7-vm31-disk0"
        );
        assert_eq!(Scheme::Un.vm_disk("one-image-7", 31, 0), "one-vm-31-disk-0");
    }

    #[test]
    fn sources_of_both_peers() {
        assert_eq!(
            rd_from_source("/dev/drbd/by-res/one-image-42/0"),
            Some("one-image-42")
        );
        assert_eq!(
            rd_from_source("fe:/dev/drbd/by-res/one-image-42/0"),
            Some("one-image-42")
        );
        assert_eq!(
            rd_from_source("fe:OpenNebula-Image-7"),
            Some("OpenNebula-Image-7")
        );
        assert_eq!(
            rd_from_source("OpenNebula-Image-7"),
            Some("OpenNebula-Image-7")
        );
        assert_eq!(rd_from_source("/var/lib/one/datastores/1/abc"), None);
        assert_eq!(rd_from_source("/dev/drbd/by-res/x/y"), None);
        assert_eq!(rd_from_source(""), None);
        assert_eq!(image_id_of("one-image-"), None);
        assert_eq!(image_id_of("one-vm-1-disk-0"), None);
    }

    #[test]
    fn vm_ids_from_both_schemes() {
        assert_eq!(vm_id_of("one-vm-31-disk-0", None).as_deref(), Some("31"));
        assert_eq!(
            vm_id_of("OpenNebula-Image-7-vm31-disk0", None).as_deref(),
            Some("31")
        );
        assert_eq!(
            vm_id_of("OpenNebula-Volatile-vm5-disk2", None).as_deref(),
            Some("5")
        );
        assert_eq!(vm_id_of("one-image-7", None), None);
        assert_eq!(
            snapshot_candidates(Scheme::Linbit, 3),
            ["OpenNebula-Snap-3".to_string(), "snapshot-3".to_string()]
        );
    }

    #[test]
    fn disks_from_props_and_both_name_schemes() {
        let none = crate::api::Props::new();
        assert_eq!(disk_of("one-vm-31-disk-2", &none), Some((31, 2)));
        assert_eq!(
            disk_of("OpenNebula-Image-7-vm31-disk0", &none),
            Some((31, 0))
        );
        assert_eq!(
            disk_of("OpenNebula-Volatile-vm5-disk2", &none),
            Some((5, 2))
        );
        assert_eq!(disk_of("one-vm-31-checkpoint", &none), None);
        assert_eq!(disk_of("one-image-7", &none), None);
        assert_eq!(disk_of("OpenNebula-Image-7", &none), None);
        assert_eq!(disk_of("one-vm-31-disk-2-tmp", &none), None);
        let mut props = crate::api::Props::new();
        props.insert(PROP_VM_ID.into(), "12".into());
        props.insert(PROP_DISK_ID.into(), "1".into());
        assert_eq!(disk_of("one-image-7", &props), Some((12, 1)));
        props.insert(format!("{PROP_SNAPSHOT_PREFIX}3/DISK_SIZE"), "2048".into());
        assert_eq!(recorded_snapshot_kib(&props, 3), Some(2048));
        assert_eq!(recorded_snapshot_kib(&props, 4), None);
        assert_eq!(snapshot_id_of("snapshot-3"), Some(3));
        assert_eq!(snapshot_id_of("OpenNebula-Snap-12"), Some(12));
        assert_eq!(snapshot_id_of("snapshot-"), None);
        assert_eq!(snapshot_id_of("before-upgrade"), None);
    }

    #[test]
    fn built_props_are_recognised() {
        let p = vm_disk_props(31, 2, 0);
        assert_eq!(disk_of("anything", &p), Some((31, 2)));
        assert_eq!(p[PROP_DS_ID], "0");
        let p = image_props(Some(42), 100);
        assert_eq!(p[PROP_IMAGE_ID], "42");
        assert_eq!(p[PROP_DS_ID], "100");
        assert!(!image_props(None, 100).contains_key(PROP_IMAGE_ID));
        assert_eq!(disk_of("one-image-42", &p), None);
    }
}
