//! The driver's error and its mapping to OpenNebula's convention: one plain stderr line (the
//! message oned shows) and an exit code, decided in one exhaustive `match`.
//!
//! | exit | meaning |
//! |---|---|
//! | 1 | LINSTOR refused or the object is in a state that forbids the action; or the action failed after a change it could not undo; or another TM's migration step failed |
//! | 2 | bad input: arguments, base64, XML, datastore attributes, or a local file, lock or program of the front-end that cannot be used; nothing was changed |
//! | 3 | no LINSTOR controller reachable, or it did not answer in time |
//! | 4 | a host step failed (ssh, device wait, copy, mkfs) |
//! | 5 | oned could not be asked for a datastore or VM document |

use linstor_common::error::chain;
use linstor_common::Error as LinstorError;

use crate::host::HostError;
use crate::input::InputError;
use crate::oned::OnedError;

/// Everything that can make an action fail.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The invocation could not be understood.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The request is valid protocol but cannot be served as given.
    #[error("{0}")]
    Usage(String),
    /// LINSTOR (or the storage layer) failed.
    #[error("{context}")]
    Linstor {
        /// What was being done.
        context: String,
        /// The library error.
        #[source]
        source: LinstorError,
    },
    /// A file, lock or program on the front-end could not be used; nothing was changed.
    #[error("{what}")]
    Local {
        /// What failed and what to check, e.g. `cannot lock /var/lock/one/linstor/x.lock;
        /// check LINSTOR_ONE_LOCK_DIR`.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A host step failed.
    #[error(transparent)]
    Host(#[from] HostError),
    /// oned could not be asked.
    #[error(transparent)]
    Oned(#[from] OnedError),
    /// The action failed after creating something it could not remove again, so "nothing
    /// changed" (exit 2) would not be true.
    #[error("{context}")]
    Changed {
        /// What stays changed.
        context: String,
        /// Why the action failed.
        #[source]
        source: Box<DriverError>,
    },
    /// Another TM's migration step, called as `migrate_other` does, failed.
    #[error("{tm}/{step} (migrate_other): {message}")]
    OtherTm {
        /// The other TM.
        tm: String,
        /// The step.
        step: &'static str,
        /// Its exit status and stderr.
        message: String,
    },
}

/// Exit code of a library error.
pub fn linstor_exit_code(e: &LinstorError) -> i32 {
    match e {
        LinstorError::Connection { .. } | LinstorError::Timeout { .. } => 3,
        LinstorError::Protocol { .. } => 3,
        LinstorError::NotFound { .. }
        | LinstorError::AlreadyExists { .. }
        | LinstorError::InUse { .. }
        | LinstorError::Api { .. }
        | LinstorError::NotOwned { .. }
        | LinstorError::Unsupported(_)
        | LinstorError::SatelliteOffline { .. }
        | LinstorError::State { .. } => 1,
        LinstorError::InvalidInput(_)
        | LinstorError::Config(_)
        | LinstorError::ConfigSource { .. }
        | LinstorError::Tls { .. } => 2,
        LinstorError::Host { .. }
        | LinstorError::HostIo { .. }
        | LinstorError::DeviceTimeout { .. } => 4,
    }
}

impl DriverError {
    /// The process exit code.
    pub fn exit_code(&self) -> i32 {
        match self {
            DriverError::Input(_) | DriverError::Usage(_) | DriverError::Local { .. } => 2,
            DriverError::Linstor { source, .. } => linstor_exit_code(source),
            DriverError::Host(_) => 4,
            DriverError::Oned(_) => 5,
            DriverError::Changed { .. } | DriverError::OtherTm { .. } => 1,
        }
    }

    /// The one plain line oned shows the user (no newlines): the error and its sources.
    pub fn summary(&self, action: &str) -> String {
        let text = match self {
            DriverError::Linstor {
                context,
                source: source @ LinstorError::Connection { .. },
            } => format!("{context}: {source}"),
            DriverError::Linstor { .. }
            | DriverError::Input(_)
            | DriverError::Usage(_)
            | DriverError::Local { .. }
            | DriverError::Host(_)
            | DriverError::Oned(_)
            | DriverError::Changed { .. }
            | DriverError::OtherTm { .. } => chain(self),
        };
        let mut text = text.replace(['\n', '\r'], " ");
        if let DriverError::Linstor {
            source: LinstorError::Tls { .. },
            ..
        } = self
        {
            text.push_str("; the datastore attributes are LS_CAFILE (CA file), LS_CERTFILE and LS_KEYFILE (client certificate and key)");
        }
        if let DriverError::Linstor {
            source: LinstorError::Api {
                status: 401 | 403, ..
            },
            ..
        } = self
        {
            text.push_str("; LINSTOR requires basic authentication: set the datastore attributes LS_USERNAME and LS_PASSWORD (or the same variables in oned's environment)");
        }
        if let DriverError::Linstor { source, .. } = self {
            if let Some(hint) = crate::attrs::BOUND_NAMES.timeout_hint(source) {
                text.push_str("; ");
                text.push_str(&hint);
                text.push_str(" in the datastore template");
            }
        }
        if text.starts_with(&format!("{action}:")) {
            text
        } else {
            format!("{action}: {text}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = DriverError::Linstor {
            context: "create 'one-image-1'".into(),
            source: LinstorError::Connection {
                tried: vec!["http://c:3370".into()],
                source: None,
            },
        };
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            e.summary("cp"),
            "cp: create 'one-image-1': no LINSTOR controller reachable (tried http://c:3370)"
        );
        assert_eq!(DriverError::Usage("x\ny".into()).summary("rm"), "rm: x y");
        assert_eq!(DriverError::Usage("x".into()).exit_code(), 2);
    }
}
