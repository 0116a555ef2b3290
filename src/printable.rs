//! How names from clients (keys, fields, templates) appear in error replies
//! and log lines.

/// Renders binary key, field and template names for error messages and logs the
/// way `redis-cli` shows them: printable ASCII as is, everything else `\xNN`.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().min(256));
    for &b in bytes.iter().take(256) {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 256 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn printable_escapes_control_and_binary_bytes() {
        assert_eq!(printable(b"a2b-a|42"), "a2b-a|42");
        assert_eq!(printable(b"k\x00\r\n\xff"), "k\\x00\\x0d\\x0a\\xff");
        assert!(printable(&[b'x'; 300]).ends_with("..."));
    }
}
