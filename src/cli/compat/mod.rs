//! Upstream-style command lines for the `corosync-*` names (getopt-like short flags).

pub mod certutil;
pub mod qnetd;
pub mod tool;
