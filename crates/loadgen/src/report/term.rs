//! What reaches a terminal: text from peers (error messages, `grpc-message`, header values,
//! body excerpts) may hold control sequences that clear the screen, set the title or move
//! the cursor to forge a line. [`Clean`] writes every control character as a visible
//! `\u00XX` escape — C0 but newline and tab, DEL, and C1 (U+0080..U+009F, which some
//! terminals read as 8-bit CSI) — so nothing a peer sends reaches a terminal raw. In JSON
//! those escapes are the same characters (serde escapes C0 itself, and `\u009b` is C1).

use std::io::{self, Write};

/// A writer that escapes control characters on their way to `W`.
pub struct Clean<W: Write> {
    inner: W,
    /// A UTF-8 lead byte 0xC2 held back until the next write shows whether a C1
    /// character follows.
    held: bool,
}

impl<W: Write> Clean<W> {
    /// Escapes what goes to `inner`.
    pub fn new(inner: W) -> Clean<W> {
        Clean { inner, held: false }
    }
}

/// `s` with its control characters escaped (see the module), for a line a UI draws.
pub fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(is_control) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_control(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out.into()
}

fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}'
}

impl<W: Write> Write for Clean<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut out = Vec::with_capacity(buf.len() + 16);
        let mut bytes = buf.iter().copied().peekable();
        if self.held {
            self.held = false;
            match bytes.peek() {
                Some(&b @ 0x80..=0x9f) => {
                    bytes.next();
                    out.extend_from_slice(format!("\\u00{b:02x}").as_bytes());
                }
                _ => out.push(0xc2),
            }
        }
        while let Some(b) = bytes.next() {
            match b {
                b'\n' | b'\t' => out.push(b),
                0x00..=0x1f | 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                0xc2 => match bytes.peek() {
                    Some(&c @ 0x80..=0x9f) => {
                        bytes.next();
                        out.extend_from_slice(format!("\\u00{c:02x}").as_bytes());
                    }
                    Some(_) => out.push(b),
                    None => self.held = true,
                },
                _ => out.push(b),
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.held) {
            self.inner.write_all(&[0xc2])?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for Clean<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(parts: &[&[u8]]) -> String {
        let mut v = Vec::new();
        {
            let mut c = Clean::new(&mut v);
            for p in parts {
                c.write_all(p).unwrap();
            }
        }
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn control_sequences_are_shown_not_obeyed() {
        // clear screen, set the title, a CR to forge a line, 8-bit CSI, DEL
        let evil = "ok\x1b[2J\x1b]0;pwned\x07\rsuccess 100%\u{9b}31m\x7f\n\tend é";
        let want =
            "ok\\u001b[2J\\u001b]0;pwned\\u0007\\u000dsuccess 100%\\u009b31m\\u007f\n\tend é";
        assert_eq!(through(&[evil.as_bytes()]), want);
        assert_eq!(clean(evil), want);
        // split anywhere, the same
        let b = evil.as_bytes();
        for cut in 0..b.len() {
            assert_eq!(through(&[&b[..cut], &b[cut..]]), want, "cut at {cut}");
        }
        assert_eq!(clean("plain é ✓"), "plain é ✓");
    }
}
