//! Proxmox VE storage plugin helper (JSON in/out) for the LINSTORPlugin Perl module.

fn main() {}
