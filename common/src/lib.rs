//! LINSTOR REST client and the storage semantics shared by every frontend.
//!
//! - [`api`]: wire types, no IO.
//! - [`client`]: transport with controller failover, TLS and tokens; typed calls.
//! - [`config`]: controller discovery and the frontends' client settings overlaid on it.
//! - [`naming`]: LINSTOR name rules, per-platform naming and ownership.
//! - [`volume`]: create, delete, resize, snapshots, clones, attach/detach, migration, capacity, gc.
//! - [`host`]: host side effects behind the [`host::HostOps`] trait.
//! - [`persist`]: cache and state files written whole, at once or after the answer.

pub mod api;
pub mod client;
pub mod config;
pub mod error;

pub use client::Client;
pub use error::{Error, Result};
pub mod host;
pub mod naming;
pub mod persist;
pub mod volume;
