//! Engine tests: the decision algorithms, sessions driven frame by frame, seeded random sessions,
//! and the engine against Debian's corosync-qnetd.
//! One crate per area, so the library is linked once for these tests; shared
//! helpers are in tests/support/.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "../support/mod.rs"]
mod support;

mod engine_algorithms;
mod engine_identity;
mod engine_random;
mod engine_session;
mod engine_vs_upstream;
