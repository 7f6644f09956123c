//! The certificate store and `qnetd cert` / `corosync-qnetd-certutil`: the library API, the CLI,
//! faults, NSS interop and migration, Debian's layout, a BusyBox-only chroot.
//! One crate per area, so the library is linked once for these tests, not once a file; shared
//! helpers are in tests/support/.

// Tests report to the harness with std's macros (clippy.toml refuses them in the product).
#![allow(clippy::disallowed_macros)]

#[path = "../support/mod.rs"]
mod support;

mod cert_busybox;
mod cert_cli;
mod cert_compat;
mod cert_debian_layout;
mod cert_faults;
mod cert_migrate;
mod cert_nss;
mod cert_store;
mod cert_tls;
mod cert_trust;
