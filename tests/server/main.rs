//! The built daemon on a loopback port: its life, limits, start and stop on disk, TLS paths, and
//! bad input (framing, limits, sequence, TLS, TLVs).
//! One crate per area, so the library is linked once for these tests; shared
//! helpers are in tests/support/.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "../support/mod.rs"]
mod support;

mod badinput_framing;
mod badinput_limits;
mod badinput_sequence;
mod badinput_tls;
mod badinput_tlv;
mod server_http;
mod server_lifecycle;
mod server_limits;
mod server_memory;
mod server_startup;
mod server_tls;
