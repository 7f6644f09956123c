//! qnetd: a corosync-qnetd compatible quorum arbiter.
//!
//! The wire codec ([`proto`]), the per-connection protocol engine ([`engine`]) and the decision
//! algorithms ([`algo`]) are the `qnetd-core` crate (core/): pure code, no sockets, no clocks,
//! re-exported here under their old paths. [`server`] drives them with smol.
//! System calls go through rustix or std: no `unsafe` outside the two places that must hand
//! memory back to the allocator (`alloc` for the static builds, glibc's `malloc_trim`), and the
//! static MIPS builds' `dlsym` (`mips_dlsym`).

#![deny(unsafe_code)]

pub use qnetd_core::{algo, cluster, engine, escape, proto, ratelog};

// First: its `outln!`, `out!` and `errln!` are how every module below prints.
#[macro_use]
mod output;

pub mod certname;
// A small `qsort` that spares the static builds zig's (see its comments).
#[cfg(any(target_env = "musl", test))]
#[allow(unsafe_code)]
mod c_sort;
// Unsafe by nature: a GlobalAlloc (an unsafe trait) that hands dlmalloc's free pages
// back to the kernel (see its comments).
#[cfg(target_env = "musl")]
#[allow(unsafe_code)]
pub mod alloc;
pub mod cli;
pub mod install;
// A `dlsym` symbol that replaces musl's broken-for-non-PIC MIPS one (see its comments).
#[cfg(all(target_env = "musl", target_arch = "mips"))]
#[allow(unsafe_code)]
mod mips_dlsym;
#[cfg(feature = "probe")]
pub mod probe;
pub mod server;
pub mod settings;
pub mod status;
// The CLI's side of the status socket (qnetd status, corosync-qnetd-tool, install's check).
pub mod status_client;
// A `pthread_setname_np` that spares the static builds musl's printf (see its comments).
#[cfg(target_env = "musl")]
#[allow(unsafe_code)]
mod thread_name;
pub mod tls;
