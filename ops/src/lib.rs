//! Library side of the `linstor-plugins` operator tool: reading each platform's plugin
//! configuration (Proxmox `storage.cfg`, OpenNebula datastore templates, the Docker plugin's
//! INI file) into the settings `doctor` and `gc` work with. Pure functions, no IO.

pub mod platform;

pub use platform::{resolve, PlatformFiles, Resolved, Settings};
