//! OpenNebula datastore (DS) and transfer-manager (TM) driver for LINSTOR, compatible with
//! `addon-linstor_un` and LINBIT `addon-linstor`.
//!
//! - [`input`]: `argv[0]` + arguments + stdin to an [`input::Action`] (pure, fuzzed).
//! - [`xml`]: oned's documents (pure).
//! - [`attrs`]: datastore attributes of both peers (pure).
//! - [`exec`]: runs an action through `linstor_common::volume::Storage` (`ds`, `tm`, migration).
//! - [`host`]: host-side steps over ssh, or on local directories for tests.
//! - [`oned`]: datastore/VM documents from oned (XML-RPC or CLI).
//! - [`monitord`]: per-VM disk sizes pushed to oned's monitord over UDP.
//! - [`error`]: the error type and the exit-code mapping.

pub mod attrs;
pub mod error;
pub mod exec;
pub mod host;
pub mod input;
pub mod monitord;
pub mod oned;
pub mod xml;

pub use error::DriverError;
pub use input::{parse, Action, Invocation};
