//! LINSTOR controller simulator and helpers for the end-to-end suites.

pub mod cmd;
pub mod docker_plugin;
pub mod dockerd;
pub mod errors;
pub mod faults;
pub mod oned;
pub mod pki;
pub mod sim;
pub mod sshd;
