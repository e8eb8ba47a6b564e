//! Histogram helpers: one set of bounds for every latency histogram, the compact form the
//! timeline keeps per bucket ([`CompactHist`]), and the V2 + DEFLATE bytes of summary files
//! — decoded only after their headers are checked, since files are data from strangers.

use std::io::Read;
use std::ops::AddAssign;
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// A latency histogram in microseconds.
pub type Hist = Histogram<u64>;

/// Highest trackable value: one day, in µs. Larger values are clamped.
pub const HIGHEST_US: u64 = 86_400_000_000;

/// The highest bound accepted in a histogram read from a file (about 12 days in µs): a
/// bound far above ours would only make the counts array huge.
const MAX_FILE_HIGHEST: u64 = 1 << 40;
/// The most significant digits accepted in a histogram read from a file.
const MAX_FILE_DIGITS: u32 = 3;
/// The most bytes a compressed histogram may inflate to (ours inflate to well under a
/// tenth of it): no decompression bomb gets past this.
const MAX_INFLATED: u64 = 1 << 20;

const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9304 | 0x10;
const V2_HEADER: usize = 40;

/// Why histogram bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistError {
    /// Not base64.
    #[error("histogram is not base64")]
    Base64,
    /// Shorter than its header says.
    #[error("histogram is truncated")]
    Truncated,
    /// Not an HdrHistogram V2 (optionally DEFLATE-compressed) encoding.
    #[error("not an HdrHistogram V2 encoding")]
    Format,
    /// Bounds or precision outside what loadgen reads (1..2^40, 1–3 digits).
    #[error("histogram bounds {low}..{high} with {digits} digits are out of range")]
    Bounds {
        /// Lowest trackable value.
        low: u64,
        /// Highest trackable value.
        high: u64,
        /// Significant digits.
        digits: u32,
    },
    /// Inflates to more than a histogram can hold.
    #[error("histogram inflates to more than {MAX_INFLATED} bytes")]
    TooLarge,
    /// The counts do not decode.
    #[error("histogram counts do not decode: {0}")]
    Counts(String),
}

/// A run-long histogram: 1 µs .. 1 day, 3 significant digits.
pub fn new_hist() -> Hist {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static histogram bounds are valid")
}

/// A per-bucket histogram for the timeline: 2 significant digits (1 % precision).
pub fn new_interval_hist() -> Hist {
    Histogram::new_with_bounds(1, HIGHEST_US, 2).expect("static histogram bounds are valid")
}

/// A duration in whole microseconds, saturating.
pub fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Records `d` (µs), clamping it to the histogram's range.
pub fn record(h: &mut Hist, d: Duration) {
    h.saturating_record(us(d));
}

/// Serializes to V2 + DEFLATE bytes.
pub fn to_bytes(h: &Hist) -> Vec<u8> {
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .expect("serializing a histogram into memory cannot fail");
    out
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(x)
}

/// Deserializes V2 or V2 + DEFLATE bytes, checking every length and bound before
/// anything is allocated from it.
pub fn from_bytes(bytes: &[u8]) -> Result<Hist, HistError> {
    if bytes.len() < 8 {
        return Err(HistError::Truncated);
    }
    let inflated;
    let plain: &[u8] = match be32(bytes, 0) {
        V2_COOKIE => bytes,
        V2_DEFLATE_COOKIE => {
            let len = be32(bytes, 4) as usize;
            let body = bytes.get(8..8 + len).ok_or(HistError::Truncated)?;
            let mut out = Vec::new();
            flate2::read::ZlibDecoder::new(body)
                .take(MAX_INFLATED + 1)
                .read_to_end(&mut out)
                .map_err(|_| HistError::Format)?;
            if out.len() as u64 > MAX_INFLATED {
                return Err(HistError::TooLarge);
            }
            inflated = out;
            &inflated
        }
        _ => return Err(HistError::Format),
    };
    if plain.len() < V2_HEADER || be32(plain, 0) != V2_COOKIE {
        return Err(HistError::Format);
    }
    let payload = be32(plain, 4) as usize;
    if payload > plain.len() - V2_HEADER {
        return Err(HistError::Truncated);
    }
    let (digits, low, high) = (be32(plain, 12), be64(plain, 16), be64(plain, 24));
    if !(1..=MAX_FILE_DIGITS).contains(&digits)
        || low < 1
        || high > MAX_FILE_HIGHEST
        || high < low.saturating_mul(2)
    {
        return Err(HistError::Bounds { low, high, digits });
    }
    Deserializer::new()
        .deserialize(&mut &plain[..V2_HEADER + payload])
        .map_err(|e| HistError::Counts(format!("{e:?}")))
}

/// Adds `other` into `into`, widening `into` if it cannot hold `other`'s values.
pub fn add(into: &mut Hist, other: &Hist) {
    if into.add(other).is_err() {
        // only if `other` came from a file with wider bounds: clamp value by value
        for v in other.iter_recorded() {
            let value = v.value_iterated_to().min(into.high());
            into.saturating_record_n(value, v.count_at_value());
        }
    }
}

/// A histogram kept compressed (V2 + DEFLATE): what the timeline stores per bucket — a few
/// hundred bytes instead of tens of KiB; decoded only to be read or added to. Empty when
/// nothing was recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactHist(Vec<u8>);

impl CompactHist {
    /// The compact form of `h` (empty if `h` is).
    pub fn of(h: &Hist) -> CompactHist {
        if h.is_empty() {
            CompactHist::default()
        } else {
            CompactHist(to_bytes(h))
        }
    }

    /// Checked bytes of a file: refused unless they decode (see [`from_bytes`]).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<CompactHist, HistError> {
        if bytes.is_empty() {
            return Ok(CompactHist::default());
        }
        from_bytes(&bytes)?;
        Ok(CompactHist(bytes))
    }

    /// True when no value was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The V2 + DEFLATE bytes (empty when nothing was recorded).
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The histogram, or `None` when nothing was recorded.
    pub fn decode(&self) -> Option<Hist> {
        if self.0.is_empty() {
            return None;
        }
        // the bytes were made here or checked when read: they decode
        from_bytes(&self.0).ok().filter(|h| !h.is_empty())
    }
}

impl AddAssign<&CompactHist> for CompactHist {
    fn add_assign(&mut self, other: &CompactHist) {
        match (self.decode(), other.decode()) {
            (_, None) => {}
            (None, Some(_)) => self.0.clone_from(&other.0),
            (Some(mut a), Some(b)) => {
                add(&mut a, &b);
                *self = CompactHist::of(&a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip() {
        let mut h = new_hist();
        for v in [1, 5, 42, 1000, 123_456, HIGHEST_US + 7] {
            h.saturating_record(v);
        }
        let back = from_bytes(&to_bytes(&h)).unwrap();
        assert_eq!(back, h);
        assert!(from_bytes(b"AAAA").is_err());
        assert!(from_bytes(&[]).is_err());
    }

    /// A V2 header with the given payload length and bounds, and `extra` payload bytes.
    fn v2(payload_len: u32, digits: u32, low: u64, high: u64, extra: usize) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(V2_COOKIE.to_be_bytes());
        b.extend(payload_len.to_be_bytes());
        b.extend(0u32.to_be_bytes());
        b.extend(digits.to_be_bytes());
        b.extend(low.to_be_bytes());
        b.extend(high.to_be_bytes());
        b.extend(1.0f64.to_be_bytes());
        b.extend(std::iter::repeat_n(0u8, extra));
        b
    }

    fn deflated(inner: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(inner).unwrap();
        let body = z.finish().unwrap();
        let mut b = Vec::new();
        b.extend(V2_DEFLATE_COOKIE.to_be_bytes());
        b.extend((body.len() as u32).to_be_bytes());
        b.extend(body);
        b
    }

    #[test]
    fn hostile_headers_are_refused_before_allocating() {
        // a payload length of 4 GiB over a few bytes
        let lie = v2(0xFFFF_FFF0, 3, 1, HIGHEST_US, 4);
        assert_eq!(from_bytes(&lie), Err(HistError::Truncated));
        assert_eq!(from_bytes(&deflated(&lie)), Err(HistError::Truncated));
        // a compressed length beyond the bytes
        let mut short = deflated(&v2(0, 3, 1, HIGHEST_US, 0));
        short.truncate(12);
        assert_eq!(from_bytes(&short), Err(HistError::Truncated));
        // bounds that would make the counts array huge
        for (digits, low, high) in [
            (3, 1, 1 << 62),
            (5, 1, HIGHEST_US),
            (3, 0, 100),
            (3, 1000, 1500),
        ] {
            assert!(
                matches!(
                    from_bytes(&v2(0, digits, low, high, 0)),
                    Err(HistError::Bounds { .. })
                ),
                "{digits} {low} {high}"
            );
        }
        // a decompression bomb: 2 MiB of zeros deflate to a few KiB
        let bomb = deflated(&v2(2 << 20, 3, 1, HIGHEST_US, 2 << 20));
        assert!(bomb.len() < 10_000);
        assert_eq!(from_bytes(&bomb), Err(HistError::TooLarge));
    }

    #[test]
    fn compact_histograms_add() {
        let (mut a, mut b) = (new_interval_hist(), new_interval_hist());
        a.record(10).unwrap();
        b.record(20).unwrap();
        let mut c = CompactHist::of(&a);
        c += &CompactHist::default();
        c += &CompactHist::of(&b);
        let h = c.decode().unwrap();
        assert_eq!((h.len(), h.max()), (2, 20));
        let mut e = CompactHist::default();
        e += &c;
        assert_eq!(e, c);
        assert!(CompactHist::of(&new_hist()).is_empty());
    }

    #[test]
    fn add_sums_counts() {
        let mut a = new_hist();
        let mut b = new_hist();
        a.record(10).unwrap();
        b.record(20).unwrap();
        add(&mut a, &b);
        assert_eq!(a.len(), 2);
        assert_eq!(a.max(), 20);
    }
}
