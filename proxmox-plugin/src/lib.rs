//! The Rust side of the Proxmox VE storage plugin `PVE::Storage::Custom::LINSTORPlugin`.
//!
//! The Perl module runs the `linstor-pve` helper once per plugin method with a JSON document on
//! stdin. [`request::parse`] turns method name and document into a [`request::Request`] (pure,
//! unit-tested and fuzzed); [`exec::execute`] carries it out through
//! [`linstor_common::volume::Storage`]; [`error::Failure`] is what the Perl side turns into `die`.

pub mod error;
pub mod exec;
pub mod options;
pub mod request;

pub use error::{Failure, PveError};
pub use options::{StoreOptions, TwoPrimariesMode};
pub use request::{parse, Action, Request};
