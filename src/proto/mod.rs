//! The qdevice-net wire protocol: message header, TLVs, framing. Pure: no I/O.

pub mod types;
