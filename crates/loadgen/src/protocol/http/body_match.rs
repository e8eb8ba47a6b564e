//! Checking that a response body contains a text, as a stream: the body is never kept,
//! only the last `needle.len() - 1` bytes of what came so far, so a match across two reads
//! is found and a body of any size costs no memory.

use memchr::memmem::Finder;

/// Whether a body seen chunk by chunk contains a needle.
pub struct BodyMatch<'a> {
    finder: Finder<'a>,
    /// The end of what came so far, at most `needle.len() - 1` bytes.
    carry: Vec<u8>,
    /// `carry` and the start of the next chunk, to search across the boundary.
    scratch: Vec<u8>,
    found: bool,
}

impl<'a> BodyMatch<'a> {
    /// A matcher for `needle` (an empty needle always matches).
    pub fn new(needle: &'a [u8]) -> BodyMatch<'a> {
        BodyMatch {
            found: needle.is_empty(),
            finder: Finder::new(needle),
            carry: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Looks at the next piece of the body.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.found || chunk.is_empty() {
            return;
        }
        let n = self.finder.needle().len();
        // across the boundary: the carry and the first n-1 bytes of the chunk
        if !self.carry.is_empty() {
            self.scratch.clear();
            self.scratch.extend_from_slice(&self.carry);
            self.scratch
                .extend_from_slice(&chunk[..chunk.len().min(n - 1)]);
            if self.finder.find(&self.scratch).is_some() {
                self.found = true;
                return;
            }
        }
        if self.finder.find(chunk).is_some() {
            self.found = true;
            return;
        }
        // keep the last n-1 bytes of carry + chunk
        let keep = n - 1;
        if chunk.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            self.carry.extend_from_slice(chunk);
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
    }

    /// True once the needle was seen.
    pub fn found(&self) -> bool {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(needle: &[u8], chunks: &[&[u8]]) -> bool {
        let mut m = BodyMatch::new(needle);
        for c in chunks {
            m.feed(c);
        }
        m.found()
    }

    #[test]
    fn finds_a_needle_in_one_chunk_or_across_any_split() {
        let body = b"the quick brown fox jumps";
        for needle in [
            &b"fox"[..],
            b"quick brown",
            b"s",
            b"the quick brown fox jumps",
            b"",
        ] {
            for a in 0..=body.len() {
                for b in a..=body.len() {
                    assert!(
                        found(needle, &[&body[..a], &body[a..b], &body[b..]]),
                        "{needle:?} {a} {b}"
                    );
                }
            }
        }
        assert!(!found(b"cat", &[b"the quick ", b"brown fox"]));
        assert!(!found(b"foxes", &[b"fo", b"x", b"e"]));
        // one byte at a time
        let chunks: Vec<&[u8]> = body.chunks(1).collect();
        assert!(found(b"own fo", &chunks));
        assert!(!found(b"own fx", &chunks));
    }

    #[test]
    fn keeps_only_a_needle_of_the_body() {
        let mut m = BodyMatch::new(b"needle");
        for _ in 0..1000 {
            m.feed(&[b'x'; 65536]);
        }
        assert!(!m.found());
        assert!(m.carry.len() <= 5 && m.scratch.capacity() < 64);
        m.feed(b"xxneed");
        m.feed(b"lexx");
        assert!(m.found());
    }
}
