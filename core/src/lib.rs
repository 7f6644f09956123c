//! qnetd's protocol core: the qdevice-net wire codec ([`proto`]), the per-connection protocol
//! engine ([`engine`]), the decision algorithms ([`algo`]) and the clusters they work on
//! ([`cluster`]), and the status snapshot the engine builds ([`snapshot`]).
//!
//! Pure code: no sockets, no files, no clock (the caller passes the time in), no randomness.
//! Its one dependency is `log`; the daemon (the `qnetd` crate) drives it.

#![forbid(unsafe_code)]

pub mod algo;
pub mod certname;
pub mod cluster;
pub mod engine;
pub mod escape;
pub mod proto;
pub mod ratelog;
pub mod snapshot;
