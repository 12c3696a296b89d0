//! OCPI DateTime: parsed leniently into UTC microseconds, written back as RFC 3339 with `Z`.
//!
//! Digest §1.10: UTC always; `Z` may be missing; fractional seconds of any length. We also accept
//! an explicit offset (converted to UTC) because peers send them, though the spec does not allow it.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

pub const MICROS_PER_SEC: i64 = 1_000_000;

pub fn parse_datetime(s: &str) -> Result<Micros, String> {
    parse_inner(s.as_bytes()).ok_or_else(|| {
        format!("invalid DateTime {s:?}: expected YYYY-MM-DDTHH:MM:SS[.fraction][Z]")
    })
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for i in 0..n {
        let c = *b.get(at + i)?;
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn parse_inner(b: &[u8]) -> Option<Micros> {
    let year = digits(b, 0, 4)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    if b.get(13) != Some(&b':') {
        return None;
    }
    let minute = digits(b, 14, 2)?;
    let (second, mut i) = if b.get(16) == Some(&b':') { (digits(b, 17, 2)?, 19) } else { (0, 16) };
    let mut micros = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)?;
            let om = match b.get(i + 3) {
                Some(b':') => digits(b, i + 4, 2)?,
                _ => digits(b, i + 3, 2)?,
            };
            let end = if b.get(i + 3) == Some(&b':') { i + 6 } else { i + 5 };
            if end != b.len() {
                return None;
            }
            let v = i64::from(oh * 3600 + om * 60);
            if sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let dt = date.and_hms_micro_opt(hour, minute, second, micros)?;
    Some(dt.and_utc().timestamp_micros() - offset_secs * MICROS_PER_SEC)
}

pub fn to_utc(m: Micros) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(m).unwrap_or_default()
}

/// `2015-06-29T20:39:09Z`, with `.ffffff` only when there are sub-second digits.
pub fn format_datetime(m: Micros, out: &mut String) {
    use std::fmt::Write;
    let dt = to_utc(m);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let us = dt.nanosecond() / 1000;
    if us != 0 {
        let frac = format!("{us:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(m: Micros) -> String {
        let mut s = String::new();
        format_datetime(m, &mut s);
        s
    }

    #[test]
    fn accepts_the_spec_forms() {
        let base = parse_datetime("2015-06-29T20:39:09Z").unwrap();
        assert_eq!(parse_datetime("2015-06-29T20:39:09").unwrap(), base);
        assert_eq!(parse_datetime("2015-06-29T20:39:09.2Z").unwrap(), base + 200_000);
        assert_eq!(parse_datetime("2015-06-29T20:39:09.123").unwrap(), base + 123_000);
        assert_eq!(parse_datetime("2015-06-29T22:39:09+02:00").unwrap(), base);
        assert_eq!(parse_datetime("2015-06-29T20:39Z").unwrap(), base - 9 * MICROS_PER_SEC);
        assert_eq!(fmt(base), "2015-06-29T20:39:09Z");
        assert_eq!(fmt(base + 120_000), "2015-06-29T20:39:09.12Z");
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "2015-06-29", "2015-13-01T00:00:00Z", "2015-06-29T25:00:00Z", "2015-06-29T20:39:09Zx", "yesterday"] {
            assert!(parse_datetime(s).is_err(), "{s}");
        }
    }
}
