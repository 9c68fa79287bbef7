//! Criterion benchmarks of RTP parse and write (filled in below).
fn main() {}
