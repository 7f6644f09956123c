//! The qdevice-net wire protocol: message header, TLVs, framing. Pure: no I/O.

pub mod codec;
pub mod framing;
pub mod types;

/// Test helper: bytes from a hex string, ignoring whitespace and `|` separators.
#[cfg(test)]
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}
