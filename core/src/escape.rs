//! Client-supplied text made safe to show: the one function every sink that prints what a
//! client sent (the daemon log, the status table, `corosync-qnetd-tool`'s text) passes it
//! through.
//!
//! A cluster name is up to 64 KiB of any bytes. Printed raw, ESC sequences recolour the
//! operator's terminal or retitle its window, CR or LF fake whole log lines, and the bidi
//! controls reorder what is read. Printable text (any valid UTF-8 that is not a control or
//! a bidi control) is kept byte for byte, so a real cluster name prints as upstream prints
//! it; everything else becomes `\xNN` (a byte: a C0 control, DEL, or a byte that is not
//! valid UTF-8) or `\u{NNNN}` (a C1 or bidi control character). A backslash is kept as is:
//! the aim is that nothing reaches a terminal raw, not a reversible encoding (`--json`
//! gives the exact bytes).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `bytes` as text a terminal shows literally: see the module documentation.
pub fn escape(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.chars().any(needs_escape) {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_char(&mut out, c);
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

/// [`escape`] for text that is UTF-8 already.
pub fn escape_str(s: &str) -> Cow<'_, str> {
    escape(s.as_bytes())
}

fn push_char(out: &mut String, c: char) {
    if !needs_escape(c) {
        out.push(c);
    } else if c.is_ascii() {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
    }
}

/// Controls (C0, DEL, C1) and the characters that change the direction of the text around
/// them (Unicode's bidi embeddings, overrides, isolates and marks).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_is_kept_as_is() {
        for name in ["pve", "cluster-1_a.b", "a b\\c\"'%s{}", "café ☃", ""] {
            assert!(matches!(escape_str(name), Cow::Borrowed(s) if s == name));
        }
    }

    #[test]
    fn terminal_controls_are_escaped() {
        let hostile = b"\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\rERROR fake line\n";
        assert_eq!(
            escape(hostile),
            "\\x1b[31mRED\\x1b[0m\\x1b]0;pwned\\x07\\x0dERROR fake line\\x0a"
        );
        assert_eq!(escape(b"a\0b\x7f\t"), "a\\x00b\\x7f\\x09");
        // C1 controls (U+009B is CSI in 8-bit terminals) and bidi overrides.
        assert_eq!(escape_str("x\u{9b}31m\u{202e}y"), "x\\u{009b}31m\\u{202e}y");
        // Bytes that are not UTF-8, alone or beside valid text.
        assert_eq!(escape(b"\xff\x9b31m\xc3"), "\\xff\\x9b31m\\xc3");
        assert_eq!(escape(b"caf\xc3\xa9\xe2"), "café\\xe2");
    }

    /// Whatever the bytes, the result holds no character a terminal acts on, and printable
    /// input comes back unchanged.
    #[test]
    fn no_input_leaves_a_control_in_the_output() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let out = escape(&bytes);
            assert!(!out.chars().any(needs_escape), "{bytes:?} -> {out:?}");
            if let Ok(s) = std::str::from_utf8(&bytes) {
                if !s.chars().any(needs_escape) {
                    assert_eq!(out, s);
                }
            }
        }
    }
}
