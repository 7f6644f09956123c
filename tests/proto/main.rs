//! Wire-level tests: a real upstream session decoded and re-encoded, and the fuzz corpus replay.
//! One crate per area, so the library is linked once for these tests; shared
//! helpers are in tests/support/.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "../support/mod.rs"]
mod support;

mod fuzz_corpus_replay;
mod proto_wire_sample;
