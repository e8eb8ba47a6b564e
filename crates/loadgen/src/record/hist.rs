//! Histogram helpers: one set of bounds for every latency histogram, and the
//! V2 + DEFLATE + base64 text form used in JSON summaries (the "HISTFAA…" strings).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

/// A latency histogram in microseconds.
pub type Hist = Histogram<u64>;

/// Highest trackable value: one day, in µs. Larger values are clamped.
pub const HIGHEST_US: u64 = 86_400_000_000;

/// A run-long histogram: 1 µs .. 1 day, 3 significant digits.
pub fn new_hist() -> Hist {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static histogram bounds are valid")
}

/// A per-second histogram for the timeline: 2 significant digits (1 % precision).
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

/// Deserializes V2 or V2 + DEFLATE bytes.
pub fn from_bytes(bytes: &[u8]) -> Result<Hist, String> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|e| format!("bad histogram: {e:?}"))
}

/// The base64 text form used in JSON.
pub fn encode(h: &Hist) -> String {
    STANDARD.encode(to_bytes(h))
}

/// Parses the base64 text form.
pub fn decode(s: &str) -> Result<Hist, String> {
    let bytes = STANDARD
        .decode(s.trim())
        .map_err(|e| format!("bad histogram base64: {e}"))?;
    from_bytes(&bytes)
}

/// Base64 of raw bytes (already serialized histograms).
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Raw bytes of a base64 string.
pub fn unb64(s: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(s.trim())
        .map_err(|e| format!("bad histogram base64: {e}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_starts_like_hdr_v2_deflate() {
        let mut h = new_hist();
        for v in [1, 5, 42, 1000, 123_456, HIGHEST_US + 7] {
            h.saturating_record(v);
        }
        let s = encode(&h);
        assert!(s.starts_with("HISTFAA"), "{s}");
        let back = decode(&s).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.max(), h.max());
        assert!(decode("not base64!").is_err());
        assert!(decode("AAAA").is_err());
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
