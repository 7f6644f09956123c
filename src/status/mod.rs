//! Status: the local IPC socket (upstream's protocol), its client, and the renderers
//! (upstream's text, the people's table, JSON).

pub mod client;
pub mod ipc;
pub mod json;
pub mod snapshot;
pub mod table;
pub mod upstream;
