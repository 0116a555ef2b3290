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

/// serde_json's message for an error in the JSON text `input`, corrected
/// where it misnames the problem: serde_json reports a lone trailing
/// surrogate (`"\udc00"`, a low surrogate with no high one before it) as a
/// "lone leading surrogate".
pub fn json_error(input: &[u8], message: &str) -> String {
    const LEADING: &str = "lone leading surrogate in hex escape";
    if let Some(position) = message.strip_prefix(LEADING) {
        if escape_before(input, position).is_some_and(|unit| (0xdc00..=0xdfff).contains(&unit)) {
            return format!("lone trailing surrogate in hex escape{position}");
        }
    }
    message.to_string()
}

/// The `\uXXXX` escape of `input` that ends where `position` (serde_json's
/// ` at line L column C`, C counting bytes) points.
fn escape_before(input: &[u8], position: &str) -> Option<u16> {
    let (line, column) = position.strip_prefix(" at line ")?.split_once(" column ")?;
    let (line, column): (usize, usize) = (line.parse().ok()?, column.parse().ok()?);
    let start = match line {
        0 => return None,
        1 => 0,
        _ => {
            input
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .nth(line - 2)?
                .0
                + 1
        }
    };
    let end = start.checked_add(column)?;
    let escape = input.get(end.checked_sub(6)?..end)?;
    let hex = escape.strip_prefix(b"\\u")?;
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
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
