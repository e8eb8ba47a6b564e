//! HOW it is shown: pure functions from a [`Summary`](crate::Summary) to a writer.
//!
//! `view` computes what a report shows; `text` renders it for people, `html` as a
//! self-contained page with charts; `kv` is one `key=value` per line for scripts (the
//! benchmark scripts read it); `threshold` evaluates pass/fail criteria. JSON is the
//! summary's own codec (`summary::codec`).

pub mod compare;
pub mod html;
pub mod junit;
pub mod kv;
pub mod term;
pub mod text;
pub mod threshold;
pub mod view;

/// Formats milliseconds for people: µs below 1 ms, s above 10 s.
pub fn fmt_ms(ms: f64) -> String {
    if ms <= 0.0 {
        "0".to_string()
    } else if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 10.0 {
        format!("{ms:.2}ms")
    } else if ms < 1000.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// A number for people: `990`, `990.5`, `12345.7`.
pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// `n` as a percentage of `of` (0 when `of` is 0).
pub(crate) fn pct(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 * 100.0 / of as f64
    }
}

/// `1000` for 1000.0, `2.5` for 2.5.
pub(crate) fn trim_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ms_formatting() {
        assert_eq!(super::fmt_ms(0.0), "0");
        assert_eq!(super::fmt_ms(0.042), "42µs");
        assert_eq!(super::fmt_ms(1.5), "1.50ms");
        assert_eq!(super::fmt_ms(250.0), "250.0ms");
        assert_eq!(super::fmt_ms(12_000.0), "12.00s");
        assert_eq!(super::fmt_ms(1000.0), "1.00s");
    }
}
