//! Docker volume plugin daemon for LINSTOR.

fn main() {}
