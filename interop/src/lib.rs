//! Helpers for the interop tests: locating and starting the real peers.
