//! qnetd: a corosync-qnetd compatible quorum arbiter.
//!
//! The wire codec ([`proto`]), the per-connection protocol engine ([`engine`]) and the decision
//! algorithms ([`algo`]) are pure code: no sockets, no clocks. [`server`] drives them with smol.
//! System calls go through rustix or std: the crate has no `unsafe` of its own.

#![forbid(unsafe_code)]

// First: its `println!`, `print!` and `eprintln!` replace std's in every module below.
#[macro_use]
mod output;

pub mod algo;
pub mod certname;
pub mod cli;
pub mod cluster;
pub mod engine;
pub mod install;
pub mod probe;
pub mod proto;
pub mod refusal;
pub mod server;
pub mod settings;
pub mod sftp;
pub mod status;
pub mod tls;
