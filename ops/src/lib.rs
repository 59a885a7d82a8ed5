//! Library side of the `linstor-plugins` operator tool.
//!
//! - [`platform`]: each platform's plugin configuration (Proxmox `storage.cfg`, OpenNebula
//!   datastore templates, the Docker plugin's INI file) read with the plugin's own parser into
//!   the settings `doctor` and `gc` work with. Pure functions, no IO.
//! - [`doctor`]: the checks of `linstor-plugins doctor`.
//! - [`adopt`]: bringing hand-made DRBD resources under LINSTOR.

pub mod adopt;
pub mod doctor;
pub mod platform;

pub use platform::{resolve, PlatformFiles, Resolved, Settings};
