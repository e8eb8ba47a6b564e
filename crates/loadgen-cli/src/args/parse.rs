//! Value parsers of the command line: rates, durations, shards, fractions, escapes.

use std::time::Duration;

/// `I/N` with I < N.
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("'{s}': expected I/N with 0 ≤ I < N, e.g. 0/4");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// RFC 3339 or Unix seconds, in the future but at most a day ahead.
pub fn parse_start_at(s: &str) -> Result<std::time::SystemTime, String> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let far = || format!("{s} is more than a day ahead");
    let t = match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::try_from_secs_f64(secs)
            .ok()
            .and_then(|d| UNIX_EPOCH.checked_add(d))
            .ok_or_else(far)?,
        Ok(_) => return Err("expected RFC 3339 or Unix seconds".into()),
        Err(_) => humantime::parse_rfc3339_weak(s.trim()).map_err(|_| {
            "expected RFC 3339 (e.g. 2026-11-26T15:00:00Z) or Unix seconds".to_string()
        })?,
    };
    let now = SystemTime::now();
    match t.duration_since(now) {
        Err(_) => Err(format!("{s} is in the past")),
        Ok(d) if d > Duration::from_secs(86_400) => Err(far()),
        Ok(_) => Ok(t),
    }
}

/// A fraction in 0..=1.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a fraction between 0 and 1, e.g. 0.01".into()),
    }
}

/// A rate: a finite number ≥ 0 of loads per second, or per a duration (`1000/s`,
/// `60/1m`, `5/100ms`, as vegeta writes it).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    if let Some(v) = s.trim().strip_prefix("ate=") {
        // vegeta's -rate=1000 reads as -r 'ate=1000'
        return Err(format!(
            "write --rate={v} or -r {v} (two dashes for long flags)"
        ));
    }
    loadgen::spec::parse_rate(s)
}

/// A duration like `500ms`, `10s`, `2m`, `1m30s`; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err("expected a duration ≥ 0, e.g. 500ms, 10s, 2m".into());
        }
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    humantime::parse_duration(s).map_err(|_| "expected a duration like 500ms, 10s, 2m".to_string())
}

/// A timeout: a duration with its unit. A bare number is refused: wrk's `-t 2` means two
/// threads, and a silent two-second timeout would be a surprise.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    if s.trim().parse::<f64>().is_ok() {
        return Err(format!(
            "'{s}' has no unit: write {}s or {}ms (generator threads are --threads)",
            s.trim(),
            s.trim()
        ));
    }
    parse_positive_duration(s)
}

/// The run's length (`-d`): a duration greater than zero; a value that looks like a
/// request body (oha's, hey's and curl's `-d`) gets the name loadgen gives it.
pub fn parse_run_duration(s: &str) -> Result<Duration, String> {
    parse_positive_duration(s).map_err(|why| {
        let t = s.trim_start();
        if t.starts_with(['{', '[', '@', '<']) || t.contains('=') {
            "-d is the run's duration here (as in wrk and vegeta); a request body is --body '…' or --body @FILE (oha's and hey's -d), a gRPC message --message '…' (ghz's -d)".to_string()
        } else {
            why
        }
    })
}

/// `--pacing-quantum`: follow the service time, or a fixed duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantum {
    /// A fifth of the median service time so far, within bounds.
    #[default]
    Auto,
    /// This duration, the whole run.
    Fixed(Duration),
}

/// `--pacing-quantum`: `auto` or a duration.
pub fn parse_quantum(s: &str) -> Result<Quantum, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(Quantum::Auto);
    }
    parse_duration(s)
        .map(Quantum::Fixed)
        .map_err(|_| "expected auto or a duration like 100us, 1ms".to_string())
}

/// A duration greater than zero.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("the duration must be greater than zero".into());
    }
    Ok(d)
}

/// Resolves C-like escapes: \\n \\r \\t \\0 \\\\ \\xHH.
pub fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let e = *b.get(i + 1).ok_or("a trailing backslash")?;
        i += 2;
        out.push(match e {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'0' => 0,
            b'\\' => b'\\',
            b'x' => {
                let hex = s.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                i += 2;
                u8::from_str_radix(hex, 16).map_err(|_| format!("\\x{hex} is not hex"))?
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape("a\\nb\\x41\\\\"), Ok(b"a\nbA\\".to_vec()));
        assert!(unescape("\\q").is_err());
        assert!(unescape("x\\").is_err());
        assert!(unescape("\\xZZ").is_err());
        assert_eq!(parse_fraction("0.5"), Ok(0.5));
        assert_eq!(parse_shard("1/4"), Ok((1, 4)));
        for bad in ["4/4", "1", "a/b", "0/0", "-1/2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
        let now = std::time::SystemTime::now();
        let unix = |d: i64| {
            ((now.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64) + d).to_string()
        };
        assert!(parse_start_at(&unix(60)).is_ok());
        assert!(
            parse_start_at(&unix(-60))
                .unwrap_err()
                .contains("in the past")
        );
        assert!(
            parse_start_at(&unix(2 * 86_400))
                .unwrap_err()
                .contains("a day ahead")
        );
        assert!(parse_start_at("2020-01-01T00:00:00Z").is_err());
        assert!(parse_start_at("tomorrow").is_err());
        for huge in [
            "1e20",
            "9223372036854775807",
            "18446744073709551616",
            "1e308",
        ] {
            assert!(
                parse_start_at(huge).unwrap_err().contains("ahead"),
                "{huge}"
            );
        }
        assert!(parse_fraction("2").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
        assert!(parse_positive_duration("0s").is_err());
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("1000"), Ok(1000.0));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        assert!(parse_rate("-5").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("NaN").is_err());
        assert!(parse_rate("inf").is_err());
        assert_eq!(parse_rate("1000/s"), Ok(1000.0));
        assert_eq!(parse_rate("60/1m"), Ok(1.0));
        assert_eq!(parse_rate("5/100ms"), Ok(50.0));
        assert!(parse_rate("5/0s").is_err());
        assert!(parse_rate("5/parsec").is_err());
        assert!(parse_rate("ate=1000").unwrap_err().contains("--rate=1000"));
    }

    #[test]
    fn timeouts_need_a_unit() {
        assert!(parse_timeout("2").unwrap_err().contains("--threads"));
        assert!(parse_timeout("100").is_err());
        assert_eq!(parse_timeout("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_timeout("0s").is_err());
    }
}
