//! Proxmox naming, compatible with `linstor-proxmox`: `pm-XXXXXXXX` resources shown as
//! `pm-XXXXXXXX_<vmid>` with `Aux/pm/vmid`, and the legacy `vm-<vmid>-…` names.

use crate::api::ResourceDefinition;

/// RD property holding the owning VMID.
pub const VMID_PROP: &str = "Aux/pm/vmid";

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
