//! Helpers shared by the integration-test crates (tests/<area>/main.rs and tests/e2e.rs), each
//! crate including this module once with `#[path = "../support/mod.rs"] mod support;`. Each
//! crate uses part of it.
#![allow(dead_code)]

pub mod badinput;
pub mod client_msg;
pub mod identity;
pub mod nss_client;
pub mod ops;
pub mod router;
pub mod server;
