//! OpenNebula DS and TM driver for LINSTOR (multi-call binary).

fn main() {}
