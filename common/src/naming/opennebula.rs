//! OpenNebula naming of both peers: `addon-linstor_un` (`one-image-<id>`,
//! `one-vm-<vmid>-disk-<id>`, `Aux/one/*`) and LINBIT `addon-linstor` (`OpenNebula-Image-<id>`,
//! `<src>-vm<vmid>-disk<id>`, `OpenNebula-Volatile-…`).

use crate::api::ResourceDefinition;

/// Prefix of the `addon-linstor_un` bookkeeping properties.
pub const AUX_PREFIX: &str = "Aux/one/";

/// Owned by the OpenNebula frontend: any `Aux/one/` property, or a name of either peer.
pub fn owns(rd: &ResourceDefinition) -> bool {
    rd.props.keys().any(|k| k.starts_with(AUX_PREFIX))
        || rd.name.starts_with("one-image-")
        || rd.name.starts_with("one-vm-")
        || rd.name.starts_with("OpenNebula-")
}

/// VM id of a VM disk: `Aux/one/VM_ID`, else the name.
pub fn vm_id_of(rd_name: &str, rd: Option<&ResourceDefinition>) -> Option<String> {
    if let Some(id) = rd.and_then(|rd| rd.props.get("Aux/one/VM_ID")) {
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
