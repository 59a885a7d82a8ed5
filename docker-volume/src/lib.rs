//! Docker volume plugin for LINSTOR: the protocol parser, volume options, persistent mount
//! state, the driver that executes calls through `linstor-common`, and the unix-socket server.

pub mod driver;
pub mod options;
pub mod protocol;
pub mod server;
pub mod state;

pub use driver::{Driver, DriverConfig, Failure};
pub use protocol::{parse_request, Request, Response};
