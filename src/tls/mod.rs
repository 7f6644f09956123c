//! TLS plumbing both sides use: the daemon (`server`) and the client (`probe`). The crypto
//! provider both handshake with, and the connection stream that is plain TCP until STARTTLS
//! and TLS after it, and chain failures in words.

pub mod crypto;
pub mod stream;
pub mod words;
