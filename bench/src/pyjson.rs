//! JSON text the way Python's `json.dumps` wrote it by default: `", "` and `": "` separators,
//! non-ASCII escaped, floats in their shortest round-trip form with a `.0` when integral.

use std::fmt::Write;

/// Appends `text` as a JSON string with `ensure_ascii` escaping.
pub fn push_str(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(out, "\\u{unit:04x}").expect("writing to a String cannot fail");
                }
            }
        }
    }
    out.push('"');
}

/// Appends `value` as Python's `repr` of a float writes it (for finite values below 1e16).
pub fn push_f64(out: &mut String, value: f64) {
    let start = out.len();
    write!(out, "{value}").expect("writing to a String cannot fail");
    if !out[start..].contains('.') {
        out.push_str(".0");
    }
}

/// Appends `"key": ` for a key that needs no escaping.
pub fn push_key(out: &mut String, key: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\": ");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_like_python() {
        let mut out = String::new();
        push_str(&mut out, "Citro\u{eb}n \"C4\"");
        out.push(' ');
        push_f64(&mut out, 1488433069.071519);
        out.push(' ');
        push_f64(&mut out, 1488326400.0);
        assert_eq!(
            out,
            r#""Citro\u00ebn \"C4\"" 1488433069.071519 1488326400.0"#
        );
    }
}
