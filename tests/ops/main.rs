//! Operations: `qnetd doctor`, `install`, `status`, the status socket and `corosync-qnetd-tool`
//! against Debian's, the init.d script, and the built-in SFTP server.
//! One crate per area, so the library is linked once for these tests, not once a file; shared
//! helpers are in tests/support/.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../../build/minify.rs"]
mod minify;

mod json;
mod ops_doctor;
mod ops_init_d;
mod ops_install;
mod ops_ipc_conformance;
mod ops_luci;
mod ops_luci_install;
mod ops_luci_views;
mod ops_render;
mod ops_status_cli;
mod ops_tool_compare;
mod ops_tool_ipc;
mod router;
mod sftp;
