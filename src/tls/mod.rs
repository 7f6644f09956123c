//! TLS plumbing both sides use: the daemon (`server`) and the client (`probe`). The crypto
//! provider both handshake with, the daemon's client-certificate verifier, the connection
//! stream that is plain TCP until STARTTLS and TLS after it, and chain failures in words.

pub mod client_auth;
pub mod crypto;
pub mod stream;
pub mod words;
