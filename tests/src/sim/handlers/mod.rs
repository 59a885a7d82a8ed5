//! Route handlers, one file per object family; each adds methods to [`super::core::Core`].

mod clone;
mod conn;
mod ctrl;
mod netif;
mod rd;
mod reports;
mod rg;
mod rsc;
mod snap;
mod toggle;

pub use reports::ErrReport;
