//! Status, without I/O: the local IPC socket's requests and replies (upstream's protocol; its
//! server is `server::status_socket`, its client `status_client`), and the renderers
//! (upstream's text, the people's table, JSON, Prometheus, the health verdict).

pub mod health;
pub mod ipc;
pub mod json;
pub mod prometheus;
/// The snapshot the renderers read: the core's (the engine builds it).
pub use qnetd_core::snapshot;
pub mod table;
pub mod upstream;

/// The most any status reply (status socket: status, list, json, table; HTTP /status.json,
/// /metrics) grows by per connected client, whatever the client sent: the engine keeps at
/// most a 512-byte cluster name and three 384-node lists per client (`engine::limits`). The
/// long replies (list, json, metrics) are written a node (metrics: a cluster) at a time, so
/// this is also the most one piece of a reply holds (docs/daemon.md, "Status replies").
pub const MAX_REPLY_BYTES_PER_CLIENT: usize = 64 * 1024;

#[cfg(test)]
pub(crate) mod bounds_tests;
