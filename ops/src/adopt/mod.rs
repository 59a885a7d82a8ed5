//! Adoption of hand-made DRBD resources into LINSTOR, following LINBIT's manual migration
//! procedure: [`parse`] reads the `.res` file (or `drbdadm dump`), [`mod@plan`] turns it into the
//! ordered LINSTOR calls with a reason each, [`carry`] adds what keeps the rest of the
//! configuration (options, addresses, paths; [`options`] maps DRBD options to LINSTOR
//! properties) and names what cannot be kept, [`exec`] checks the cluster and performs them.

pub mod carry;
pub mod exec;
pub mod options;
pub mod parse;
pub mod plan;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use carry::{AddressProblem, Fate, Setting};
pub use exec::{apply, preflight, Problem};
pub use parse::{
    parse_config, parse_resource, Address, DrbdConnection, DrbdHost, DrbdMesh, DrbdOption,
    DrbdResource, DrbdVolume, HostName, MetaDisk, OptionSection, Unhandled,
};
pub use plan::{plan, Call, Options, Owner, Plan, Step};

use linstor_common::host::HostOps;

/// Why a resource cannot be adopted as asked.
#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    /// The configuration text is not valid DRBD configuration syntax.
    #[error("DRBD configuration, line {line}: {message}")]
    Syntax {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The wanted resource is not in the configuration (or several are and none was chosen).
    #[error("{0}")]
    NoResource(String),
    /// A volume keeps its metadata on another device.
    #[error("volume {volume} of {host} uses external metadata ({meta_disk}); adopt supports internal metadata only: LINSTOR would place its own metadata and DRBD would not find the existing one. Move the metadata to internal first (see drbdmeta(8)) or keep this resource outside LINSTOR")]
    ExternalMetadata {
        /// Host section.
        host: String,
        /// Volume number.
        volume: u32,
        /// The `meta-disk` value.
        meta_disk: String,
    },
    /// The net size cannot be expressed in whole KiB.
    #[error("the net size of volume {volume} is {bytes} bytes, which is not a multiple of 1024: LINSTOR sizes are whole KiB, and a rounded size would make DRBD see a different device size (and LINSTOR could recreate metadata). Check the value: it must be the size of the DRBD device (blockdev --getsize64 /dev/drbd<minor>), not of the backing volume")]
    SizeNotKib {
        /// Volume number.
        volume: u32,
        /// Bytes given.
        bytes: u64,
    },
    /// The resource name is not a valid LINSTOR name.
    #[error("{reason}; rerun with --name {proposal} (LINSTOR then writes the resource as '{proposal}'; the old name '{name}' disappears from DRBD's view, so take it down with `drbdadm down {name}` before the satellites start)")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why.
        reason: String,
        /// A valid name to use instead.
        proposal: String,
    },
    /// The net size of a volume could not be read from the host.
    #[error("cannot read the net size of volume {volume} from {}; run adopt on a node where the resource is up, or give it with --size {volume}=BYTES (the output of `blockdev --getsize64 {}` there)", .device.display(), .device.display())]
    SizeUnknown {
        /// Volume number.
        volume: u32,
        /// The DRBD device read.
        device: PathBuf,
        /// What failed.
        #[source]
        source: linstor_common::Error,
    },
    /// Any other reason the configuration or the options do not describe an adoptable resource.
    #[error("{0}")]
    Invalid(String),
    /// The cluster is not ready for this adoption (checked before any change).
    #[error("refusing to adopt: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Problem>),
    /// A step of `--apply` failed; the steps before it were done and are kept.
    #[error("step {step} of {total} failed. Steps 1-{done} were done and are kept: do not delete resource definition '{name}' (once the satellites run, LINSTOR would remove the existing backing volumes); fix the cause and perform the remaining calls of the dry run by hand", done = .step - 1)]
    StepFailed {
        /// 1-based step that failed.
        step: usize,
        /// Number of steps.
        total: usize,
        /// Resource definition.
        name: String,
        /// The LINSTOR error.
        source: linstor_common::Error,
    },
    /// A LINSTOR call failed.
    #[error(transparent)]
    Linstor(#[from] linstor_common::Error),
}

/// Net sizes (bytes) of every volume: the given ones, the others read from `/dev/drbd<minor>`
/// with `blockdev --getsize64` through `host`.
pub fn net_sizes(
    res: &DrbdResource,
    given: &BTreeMap<u32, u64>,
    host: &dyn HostOps,
) -> Result<BTreeMap<u32, u64>, AdoptError> {
    let mut out = given.clone();
    for h in &res.hosts {
        for v in h.volumes.values() {
            if out.contains_key(&v.number) {
                continue;
            }
            let Some(minor) = v.minor else { continue };
            let device = PathBuf::from(format!("/dev/drbd{minor}"));
            let bytes =
                host.block_device_size(&device)
                    .map_err(|source| AdoptError::SizeUnknown {
                        volume: v.number,
                        device: device.clone(),
                        source,
                    })?;
            out.insert(v.number, bytes);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_net_size_keeps_the_host_error() {
        let res = parse::parse_resource(
            "resource r { volume 0 { device minor 9100; disk /dev/vg/r; meta-disk internal; }\n\
             on alpha { node-id 0; address 10.0.0.1:7000; } }",
            None,
        )
        .unwrap();
        let host = linstor_common::host::FakeHost::default();
        let e = net_sizes(&res, &BTreeMap::new(), &host).unwrap_err();
        let source: &linstor_common::Error = linstor_tests::errors::source(&e);
        assert!(
            matches!(source, linstor_common::Error::Host { .. }),
            "{source:?}"
        );
        let shown = linstor_common::error::chain(&e);
        linstor_tests::errors::names_once(&shown, source);
        assert!(
            shown.starts_with("cannot read the net size of volume 0 from /dev/drbd9100; "),
            "{shown}"
        );
        assert!(
            shown.ends_with(
                ": host operation failed: blockdev --getsize64 /dev/drbd9100: no such device"
            ),
            "{shown}"
        );
        let given = BTreeMap::from([(0, 1 << 30)]);
        assert_eq!(net_sizes(&res, &given, &host).unwrap(), given);
    }
}
