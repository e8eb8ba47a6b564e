//! Newline-delimited frames over a byte stream, with a size cap. Used by the calc caller
//! and the calc server.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Why no frame could be read.
#[derive(Debug)]
pub enum FrameError {
    /// More than the cap arrived without a newline.
    TooLong,
    /// The peer closed the stream in the middle of a frame.
    Truncated,
    /// The stream failed.
    Io(io::Error),
}

/// A reusable read buffer that yields one line at a time.
#[derive(Debug, Default)]
pub struct LineReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    scanned: usize,
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> Self {
        LineReader::default()
    }

    /// True if bytes of an unfinished frame are buffered.
    pub fn has_partial(&self) -> bool {
        self.end > self.start
    }

    /// Reads the next frame (without its `\n`, and without a trailing `\r`). `Ok(None)` is
    /// a clean end of stream between frames. A frame longer than `max` bytes (newline
    /// included) is [`FrameError::TooLong`].
    pub async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
        max: usize,
    ) -> Result<Option<&[u8]>, FrameError> {
        loop {
            if let Some(off) = self.buf[self.scanned..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let nl = self.scanned + off;
                if nl + 1 - self.start > max {
                    return Err(FrameError::TooLong);
                }
                let s = self.start;
                self.start = nl + 1;
                self.scanned = self.start;
                let mut e = nl;
                if e > s && self.buf[e - 1] == b'\r' {
                    e -= 1;
                }
                return Ok(Some(&self.buf[s..e]));
            }
            self.scanned = self.end;
            if self.end - self.start >= max {
                return Err(FrameError::TooLong);
            }
            if self.start > 0 && (self.start == self.end || self.buf.len() - self.end < 256) {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.scanned -= self.start;
                self.start = 0;
            }
            if self.buf.len() - self.end < 256 {
                let want = (self.buf.len() * 2).max(512).min(max + 4096);
                self.buf.resize(want.max(self.end + 512), 0);
            }
            let n = r
                .read(&mut self.buf[self.end..])
                .await
                .map_err(FrameError::Io)?;
            if n == 0 {
                return if self.has_partial() {
                    Err(FrameError::Truncated)
                } else {
                    Ok(None)
                };
            }
            self.end += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_caps_and_detects_truncation() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut data: &[u8] = b"one\ntwo\r\n\nthree";
            let mut r = LineReader::new();
            assert_eq!(r.next(&mut data, 100).await.unwrap(), Some(&b"one"[..]));
            assert_eq!(r.next(&mut data, 100).await.unwrap(), Some(&b"two"[..]));
            assert_eq!(r.next(&mut data, 100).await.unwrap(), Some(&b""[..]));
            assert!(matches!(
                r.next(&mut data, 100).await,
                Err(FrameError::Truncated)
            ));
            let big = vec![b'x'; 70_000];
            let mut data: &[u8] = &big;
            assert!(matches!(
                LineReader::new().next(&mut data, 65536).await,
                Err(FrameError::TooLong)
            ));
            let mut exact = vec![b'y'; 9];
            exact.push(b'\n');
            let mut data: &[u8] = &exact;
            assert_eq!(
                LineReader::new()
                    .next(&mut data, 10)
                    .await
                    .unwrap()
                    .map(|f| f.len()),
                Some(9)
            );
            let mut data: &[u8] = &exact;
            assert!(matches!(
                LineReader::new().next(&mut data, 9).await,
                Err(FrameError::TooLong)
            ));
            let mut empty: &[u8] = b"";
            assert_eq!(LineReader::new().next(&mut empty, 10).await.unwrap(), None);
        });
    }
}
