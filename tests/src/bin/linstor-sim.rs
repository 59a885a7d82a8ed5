//! `linstor-sim`: run the LINSTOR controller simulator.

fn main() {}
