//! Docker naming, compatible with `linstor-docker-volume`: the `Aux/is-linstor-docker-volume`
//! marker, the mapping of Docker volume names LINSTOR rejects to stable valid resource names,
//! and the `Aux/` keys the Docker frontend keeps on its resource definitions.

use crate::api::{Props, ResourceDefinition};

/// Ownership marker property (value `true`).
pub const MARKER_PROP: &str = "Aux/is-linstor-docker-volume";
/// The Docker volume name, when it differs from (or must be told apart from) the RD name.
pub const NAME_PROP: &str = "Aux/docker-volume-name";
/// Mount options given at creation (comma-separated), applied at every mount.
pub const MOUNTOPTS_PROP: &str = "Aux/docker-volume-mountopts";
/// Storage pool for diskless attachments, given at creation.
pub const DISKLESS_POOL_PROP: &str = "Aux/docker-volume-disklessstoragepool";
/// Filesystem type (set for LINSTOR, as the peer does).
pub const FS_TYPE_PROP: &str = "FileSystem/Type";
/// mkfs parameters (set for LINSTOR, as the peer does).
pub const FS_MKFS_PROP: &str = "FileSystem/MkfsParams";

/// Prefix of derived resource names.
pub const DERIVED_PREFIX: &str = "dv-";

/// Props filter (`key=value`) that selects Docker volumes server-side.
pub fn marker_filter() -> String {
    format!("{MARKER_PROP}=true")
}

/// Owned by the Docker frontend.
pub fn owns(rd: &ResourceDefinition) -> bool {
    rd.props.get(MARKER_PROP).is_some_and(|v| v == "true")
}

/// The Docker name of an owned RD (name and props): the name prop, else the RD name (volumes
/// of the peer).
pub fn docker_name<'a>(rd_name: &'a str, props: &'a Props) -> &'a str {
    props.get(NAME_PROP).map_or(rd_name, String::as_str)
}

/// True when the RD (name and props) is the one of Docker volume `docker`: the recorded name
/// matches exactly, or (no record) the RD name is the Docker name.
pub fn is_volume(rd_name: &str, props: &Props, docker: &str) -> bool {
    match props.get(NAME_PROP) {
        Some(n) => n == docker,
        None => rd_name == docker,
    }
}

/// Why a Docker volume name cannot be used at all.
pub fn validate_docker_name(name: &str) -> crate::Result<()> {
    if name.is_empty() {
        return Err(crate::Error::InvalidInput(
            "the volume name is empty; give the volume a name".into(),
        ));
    }
    if name.len() > 255 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(crate::Error::InvalidInput(format!(
            "invalid Docker volume name '{}': use at most 255 characters without '/' or control characters",
            name.escape_debug()
        )));
    }
    Ok(())
}

/// LINSTOR resource name of a Docker volume. A valid LINSTOR name maps to itself, so volumes of
/// the peer keep working; any other name (dots, leading digit, over 48 characters, anonymous
/// 64-hex volumes) maps to `dv-<readable part>-<12 hex of a stable hash>`.
pub fn resource_name(docker: &str) -> crate::Result<String> {
    validate_docker_name(docker)?;
    if super::validate_resource_name(docker).is_ok() {
        return Ok(docker.to_string());
    }
    let readable: String = super::sanitize_name(docker).chars().take(28).collect();
    Ok(format!(
        "{DERIVED_PREFIX}{readable}-{:012x}",
        super::fnv1a_64(docker.as_bytes()) >> 16
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::naming::validate_resource_name;

    #[test]
    fn valid_names_map_to_themselves() {
        for n in ["data", "lsvol", "my_vol-2", "Data"] {
            assert_eq!(resource_name(n).unwrap(), n);
        }
    }

    #[test]
    fn invalid_names_map_to_stable_valid_names() {
        let anon = "5f3c0b9a2d1e4f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";
        for n in [
            "my.vol",
            "1abc",
            anon,
            &"a".repeat(49),
            "x",
            "all",
            "vol with space",
            "ünïcode",
        ] {
            let rd = resource_name(n).unwrap();
            validate_resource_name(&rd).unwrap();
            assert!(rd.starts_with(DERIVED_PREFIX), "{n} -> {rd}");
            assert_eq!(resource_name(n).unwrap(), rd, "stable");
        }
        assert_eq!(resource_name("my.vol").unwrap(), "dv-my-vol-f25bc32eb8f3");
        assert_ne!(
            resource_name("my.vol").unwrap(),
            resource_name("my,vol").unwrap()
        );
    }

    #[test]
    fn rejects_unusable_names() {
        assert!(resource_name("").is_err());
        assert!(resource_name("a/b").is_err());
        assert!(resource_name(&"a".repeat(256)).is_err());
    }

    #[test]
    fn ownership_and_docker_name() {
        let mut rd = ResourceDefinition {
            name: "dv-my-vol-1".into(),
            ..Default::default()
        };
        assert!(!owns(&rd));
        rd.props.insert(MARKER_PROP.into(), "true".into());
        assert!(owns(&rd));
        assert_eq!(docker_name(&rd.name, &rd.props), "dv-my-vol-1");
        assert!(is_volume(&rd.name, &rd.props, "dv-my-vol-1"));
        rd.props.insert(NAME_PROP.into(), "my.vol".into());
        assert_eq!(docker_name(&rd.name, &rd.props), "my.vol");
        assert!(is_volume(&rd.name, &rd.props, "my.vol"));
        assert!(!is_volume(&rd.name, &rd.props, "dv-my-vol-1"));
    }
}
