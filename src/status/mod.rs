//! Status: the local IPC socket (upstream's protocol) and its renderers.

pub mod snapshot;
