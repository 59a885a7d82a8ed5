//! Library side of the `linstor-plugins` operator tool.
//!
//! - [`platform`]: reading each platform's plugin configuration (Proxmox `storage.cfg`,
//!   OpenNebula datastore templates, the Docker plugin's INI file) into the settings `doctor`
//!   and `gc` work with. Pure functions, no IO.
//! - [`adopt`]: bringing hand-made DRBD resources under LINSTOR.

pub mod adopt;
pub mod platform;

pub use platform::{resolve, PlatformFiles, Resolved, Settings};
