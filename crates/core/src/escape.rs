//! Names made safe to print: bytes that are not UTF-8 and control
//! characters are escaped, so a hostile key or file name can neither hide
//! in a message nor write a raw NUL or terminal escape to it.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character escaped (`\n`, `\t`, `\u{1b}`, …,
/// as Rust writes them in `{:?}`); other characters are kept, so ordinary
/// names are returned as they are, without allocating.
#[must_use]
pub fn escape_text(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A file name or key given as raw bytes: valid UTF-8 runs are kept (with
/// control characters escaped as [`escape_text`] does), every other byte is
/// written `\xFF`. Distinct names stay distinct, except that a name
/// holding a literal backslash sequence can look like an escaped one.
#[must_use]
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape_text(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert!(matches!(escape_text("plain/ü name.txt"), Cow::Borrowed(_)));
        assert_eq!(escape_text("a\0b"), "a\\0b");
        assert_eq!(escape_text("a\nb\x1b[31m"), "a\\nb\\u{1b}[31m");
        assert_eq!(escape_bytes(b"u\xffhx8.bin"), "u\\xFFhx8.bin");
        assert_eq!(escape_bytes(b"ok\xfe\xff\0"), "ok\\xFE\\xFF\\0");
        assert_eq!(escape_bytes("日本".as_bytes()), "日本");
    }
}
