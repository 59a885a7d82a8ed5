//! The one error type of the library; every frontend maps it exhaustively to its own convention.
//! I/O, HTTP and JSON failures are kept as sources ([`Cause`]) and never repeated in a
//! `Display`: render a whole error with [`chain`].

use std::path::PathBuf;

use crate::api::ApiCallRc;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in `linstor-common`.
///
/// [`Error::Connection`] means the request was never delivered to a controller, so retrying is
/// safe. Every other variant may have reached a controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No controller could be reached; the request was never sent.
    #[error("no LINSTOR controller reachable (tried {})", .tried.join(", "))]
    Connection {
        /// Every controller URL that was tried, in order.
        tried: Vec<String>,
        /// Last transport error seen.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The TLS handshake with a controller failed: its certificate is not trusted (or not valid
    /// for its name), or it refused ours. The request was never delivered.
    #[error("TLS connection to LINSTOR controller {controller} failed: {problem}")]
    Tls {
        /// The controller (the last one that failed this way).
        controller: String,
        /// What was wrong with which certificate, and what to configure.
        problem: String,
    },
    /// No controller answered in time: every one tried accepted the request (or the
    /// connection) and stayed silent. A mutating call is sent to one controller only and may
    /// have been carried out; a read was tried on each controller in turn.
    #[error("no answer from LINSTOR controller {} within {seconds} s{}", .tried.join(", "), if *.may_have_been_carried_out { "; the change may have been carried out: retrying converges" } else { "" })]
    Timeout {
        /// The controllers tried, in order.
        tried: Vec<String>,
        /// The bound per controller that expired.
        seconds: f64,
        /// True when the request was a change that reached a controller.
        may_have_been_carried_out: bool,
    },
    /// The object does not exist (HTTP 404 or a `FAIL_NOT_FOUND_*` entry).
    #[error("{what} not found{}", reports_suffix(.reports))]
    NotFound {
        /// What was looked up, e.g. `resource definition 'pm-1234abcd'`.
        what: String,
        /// LINSTOR's entries, if any.
        reports: Vec<ApiCallRc>,
    },
    /// The object already exists (`FAIL_EXISTS_*`).
    #[error("{what} already exists{}", reports_suffix(.reports))]
    AlreadyExists {
        /// The object that exists.
        what: String,
        /// LINSTOR's entries.
        reports: Vec<ApiCallRc>,
    },
    /// The object is in use (Primary somewhere, mounted, or has dependants).
    #[error("{what} is in use{}", reports_suffix(.reports))]
    InUse {
        /// The object that is busy.
        what: String,
        /// LINSTOR's entries.
        reports: Vec<ApiCallRc>,
    },
    /// Any other error reply from LINSTOR.
    #[error("LINSTOR refused {request} (HTTP {status}){}", reports_suffix(.reports))]
    Api {
        /// `METHOD /path` of the failed call.
        request: String,
        /// HTTP status.
        status: u16,
        /// LINSTOR's entries (message, cause, correction).
        reports: Vec<ApiCallRc>,
    },
    /// The controller answered something that is not the documented JSON, or the connection
    /// broke before a complete answer (status 0).
    #[error("LINSTOR controller {controller} sent an unreadable answer to {request} (HTTP {status}): {problem}")]
    Protocol {
        /// The controller that answered.
        controller: String,
        /// `METHOD /path`.
        request: String,
        /// HTTP status.
        status: u16,
        /// What was wrong, with the start of the body.
        problem: String,
        /// The transport or JSON error behind it.
        #[source]
        source: Option<Cause>,
    },
    /// The caller's input is invalid; nothing was sent.
    #[error("{0}")]
    InvalidInput(String),
    /// The configuration is invalid (controllers, TLS files, config files).
    #[error("configuration error: {0}")]
    Config(String),
    /// A configuration file, token file or TLS file could not be read or used.
    #[error("configuration error: {what}")]
    ConfigSource {
        /// What failed, naming the file, e.g. `cannot read CA file /etc/linstor/ca.pem`.
        what: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// The object exists but does not belong to the calling frontend; it was not touched.
    #[error("'{name}' exists in LINSTOR but is not managed by {platform}; refusing to touch it")]
    NotOwned {
        /// LINSTOR resource definition name.
        name: String,
        /// The calling platform.
        platform: &'static str,
    },
    /// The satellite of the node the volume was to be used on is offline: LINSTOR stored the
    /// change and carries it out when the satellite reconnects; the device is not there now.
    #[error("the LINSTOR satellite of node '{node}' is offline: {what}; start linstor-satellite on '{node}' or use the volume on another node")]
    SatelliteOffline {
        /// The node.
        node: String,
        /// What became of the request, e.g. `'pm-1234abcd' cannot be attached there now`.
        what: String,
    },
    /// The request is valid but LINSTOR (or this suite) cannot do it, e.g. shrink or an old rollback.
    #[error("{0}")]
    Unsupported(String),
    /// A host-side step failed (device wait, mkfs, mount, ...).
    #[error("host operation failed: {op}: {message}")]
    Host {
        /// The step, e.g. `mkfs.ext4 /dev/drbd1000`.
        op: String,
        /// What went wrong.
        message: String,
    },
    /// A host-side step could not be carried out (the program could not run, a file or
    /// directory could not be made or read).
    #[error("host operation failed: {op}")]
    HostIo {
        /// The step, e.g. `mkdir /var/lib/docker-volumes/linstor/web`.
        op: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for a local device timed out.
    #[error("device {} did not appear within {seconds} s", .path.display())]
    DeviceTimeout {
        /// The path that was awaited.
        path: PathBuf,
        /// The deadline.
        seconds: u64,
    },
    /// Local state (cache, state dir) could not be read or written.
    #[error("local state {}", .path.display())]
    State {
        /// The file concerned.
        path: PathBuf,
        /// Why.
        #[source]
        source: Cause,
    },
}

/// The I/O, HTTP, JSON or INI error behind an [`Error`].
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// A file or process.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The HTTP client.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    /// JSON that could not be read or written.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// An INI file (`linstor-client.conf`).
    #[error(transparent)]
    Ini(#[from] ini::Error),
}

/// An error and its sources on one line, `outer: inner: …`: how frontends show an error. A
/// source whose text its outer error already ends with (some libraries repeat their source in
/// their own message) is not repeated.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut outer = out.clone();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !outer.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        outer = text;
        cur = s.source();
    }
    out
}

impl Error {
    /// True when the request was certainly not delivered and can be retried as is.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Connection { .. })
    }

    /// True when no controller answered (connection refused or timed out).
    pub fn is_controller_unreachable(&self) -> bool {
        matches!(self, Error::Connection { .. } | Error::Timeout { .. })
    }

    /// LINSTOR's ApiCallRc entries carried by this error, if any.
    pub fn reports(&self) -> &[ApiCallRc] {
        match self {
            Error::NotFound { reports, .. }
            | Error::AlreadyExists { reports, .. }
            | Error::InUse { reports, .. }
            | Error::Api { reports, .. } => reports,
            _ => &[],
        }
    }
}

fn reports_suffix(reports: &[ApiCallRc]) -> String {
    let mut out = String::new();
    for rc in reports.iter().filter(|rc| rc.is_error()) {
        out.push_str(": ");
        out.push_str(&rc.message);
        if let Some(cause) = rc.cause.as_deref().filter(|c| !c.is_empty()) {
            out.push_str(" (cause: ");
            out.push_str(cause);
            out.push(')');
        }
        if let Some(correction) = rc.correction.as_deref().filter(|c| !c.is_empty()) {
            out.push_str(" (correction: ");
            out.push_str(correction);
            out.push(')');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn chain_names_each_cause_once() {
        let e = Error::HostIo {
            op: "mkdir /x".into(),
            source: std::io::Error::other("disk on fire"),
        };
        assert_eq!(chain(&e), "host operation failed: mkdir /x: disk on fire");
        let e = Error::State {
            path: "/s".into(),
            source: Cause::Io(std::io::Error::other("gone")),
        };
        assert_eq!(chain(&e), "local state /s: gone");
        let repeats = Repeats(std::io::Error::other("at 1..6: unrecognized entity"));
        assert_eq!(chain(&repeats), "at 1..6: unrecognized entity");
    }
}
