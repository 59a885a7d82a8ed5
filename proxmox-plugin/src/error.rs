//! Errors of the helper and their one mapping to what the Perl module turns into `die`: a JSON
//! `{"error": {...}}` document on stdout, the message on stderr, and a non-zero exit code.

use linstor_common::Error;
use serde::Serialize;

/// What can go wrong in the helper.
#[derive(Debug, thiserror::Error)]
pub enum PveError {
    /// The request from the Perl module (or the storage configuration) is invalid.
    #[error("{0}")]
    Input(String),
    /// The document from the Perl module is not JSON.
    #[error("input is not a JSON document")]
    Json(#[source] serde_json::Error),
    /// The storage layer failed.
    #[error(transparent)]
    Linstor(#[from] Error),
    /// An allocation for the controller VM that can be neither created nor matched to the
    /// volume it asks for (usually because no controller answers).
    #[error("cannot allocate a volume for VM {vmid}, which runs the LINSTOR controller: {hint}")]
    ControllerVm {
        /// The controller VM.
        vmid: String,
        /// What the admin can do.
        hint: String,
        /// Why the allocation failed.
        #[source]
        source: Error,
    },
    /// The whole method ran out of its time budget.
    #[error("the LINSTOR operation did not finish within {seconds} s; it may still complete on the controller: check with 'linstor resource-definition list' before retrying")]
    Deadline {
        /// The budget.
        seconds: u64,
    },
}

/// The failure document the Perl module reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Stable class: `input`, `config`, `not-found`, `exists`, `in-use`, `not-owned`,
    /// `unsupported`, `unreachable`, `tls`, `timeout`, `linstor`, `protocol`, `host`, `state`.
    pub kind: &'static str,
    /// One line for `die`: what failed, LINSTOR's message, cause and correction.
    pub message: String,
    /// Exit status of the helper.
    #[serde(skip)]
    pub exit_code: i32,
}

const EXIT_INPUT: i32 = 2;
const EXIT_NOT_FOUND: i32 = 3;
const EXIT_CONFLICT: i32 = 4;
const EXIT_UNREACHABLE: i32 = 5;
const EXIT_OTHER: i32 = 1;

impl Failure {
    fn new(kind: &'static str, exit_code: i32, message: String) -> Self {
        Self {
            kind,
            message: message.replace('\n', " "),
            exit_code,
        }
    }
}

impl From<&PveError> for Failure {
    fn from(e: &PveError) -> Self {
        match e {
            PveError::Input(m) => Failure::new("input", EXIT_INPUT, m.clone()),
            PveError::Json(_) => Failure::new("input", EXIT_INPUT, linstor_common::error::chain(e)),
            PveError::Deadline { .. } => Failure::new("timeout", EXIT_UNREACHABLE, e.to_string()),
            PveError::ControllerVm { source, .. } => Failure {
                message: linstor_common::error::chain(e).replace('\n', " "),
                ..from_linstor(source)
            },
            PveError::Linstor(err) => from_linstor(err),
        }
    }
}

fn from_linstor(err: &Error) -> Failure {
    let msg = linstor_common::error::chain(err);
    match err {
        Error::Connection { .. } => Failure::new(
            "unreachable",
            EXIT_UNREACHABLE,
            format!("{err}; check that linstor-controller runs and that the storage's 'controller' option lists it"),
        ),
        Error::Tls { .. } => Failure::new(
            "tls",
            EXIT_INPUT,
            format!("{msg}; the storage options are 'apica' (CA file), 'apicrt' and 'apikey' (client certificate and key)"),
        ),
        Error::Timeout { .. } => Failure::new(
            "timeout",
            EXIT_UNREACHABLE,
            match crate::options::BOUND_NAMES.timeout_hint(err) {
                Some(hint) => format!("{msg}; {hint}"),
                None => msg,
            },
        ),
        Error::NotFound { .. } => Failure::new("not-found", EXIT_NOT_FOUND, msg),
        Error::AlreadyExists { .. } => Failure::new("exists", EXIT_CONFLICT, msg),
        Error::InUse { .. } => Failure::new("in-use", EXIT_CONFLICT, msg),
        Error::NotOwned { .. } => Failure::new("not-owned", EXIT_CONFLICT, msg),
        Error::Api {
            status: 401 | 403, ..
        } => Failure::new(
            "linstor",
            EXIT_OTHER,
            format!("{msg}; LINSTOR requires basic authentication: set LS_USERNAME and LS_PASSWORD in the environment of the PVE daemons (see docs/proxmox.md)"),
        ),
        Error::Api { .. } => Failure::new("linstor", EXIT_OTHER, msg),
        Error::Protocol { .. } => Failure::new("protocol", EXIT_OTHER, msg),
        Error::InvalidInput(_) => Failure::new("input", EXIT_INPUT, msg),
        Error::Config(_) => Failure::new("config", EXIT_INPUT, msg),
        Error::ConfigSource { .. } => Failure::new("config", EXIT_INPUT, msg),
        Error::Unsupported(_) => Failure::new("unsupported", EXIT_INPUT, msg),
        Error::SatelliteOffline { .. } => Failure::new("offline", EXIT_OTHER, msg),
        Error::Host { .. } => Failure::new("host", EXIT_OTHER, msg),
        Error::HostIo { .. } => Failure::new("host", EXIT_OTHER, msg),
        Error::DeviceTimeout { .. } => Failure::new("host", EXIT_OTHER, msg),
        Error::State { .. } => Failure::new("state", EXIT_OTHER, msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linstor_common::api::ApiCallRc;

    #[test]
    fn linstor_reports_reach_the_message() {
        let e = PveError::Linstor(Error::Api {
            request: "POST /v1/resource-groups/drbdgrp/spawn".into(),
            status: 500,
            reports: vec![ApiCallRc {
                ret_code: linstor_common::api::MASK_ERROR as i64 | 1,
                message: "Not enough free space".into(),
                cause: Some("pool full".into()),
                correction: Some("add disks".into()),
                ..Default::default()
            }],
        });
        let f = Failure::from(&e);
        assert_eq!((f.kind, f.exit_code), ("linstor", 1));
        for part in [
            "Not enough free space",
            "cause: pool full",
            "correction: add disks",
        ] {
            assert!(f.message.contains(part), "{}", f.message);
        }
    }

    #[test]
    fn unreachable_names_the_controllers_and_the_fix() {
        let f = Failure::from(&PveError::Linstor(Error::Connection {
            tried: vec!["http://a:3370".into(), "http://b:3370".into()],
            source: None,
        }));
        assert_eq!((f.kind, f.exit_code), ("unreachable", 5));
        assert!(f.message.contains("http://a:3370, http://b:3370"));
        assert!(f.message.contains("'controller' option"));
        let f = Failure::from(&PveError::Input("bad\nline".into()));
        assert_eq!(
            (f.kind, f.exit_code, f.message.as_str()),
            ("input", 2, "bad line")
        );
    }
}
