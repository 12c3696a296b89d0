//! OCPI DateTime: parsed leniently into UTC microseconds, written back as RFC 3339 with `Z`.
//!
//! Digest §1.10: UTC always; `Z` may be missing; fractional seconds of any length. We also accept
//! an explicit offset (converted to UTC) because peers send them, though the spec does not allow it.
//! A date-time without zero padding (`2025-8-13T21:07:50.029Z`) is not RFC 3339 but other pricers
//! read it; `parse_datetime_unpadded` reads it, and the readers decide whether they may.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Microseconds since the Unix epoch, UTC.
pub type Micros = i64;

pub const MICROS_PER_SEC: i64 = 1_000_000;

pub fn parse_datetime(s: &str) -> Result<Micros, String> {
    parse_inner(s.as_bytes()).ok_or_else(|| {
        format!("invalid DateTime {s:?}: expected YYYY-MM-DDTHH:MM:SS[.fraction][Z]")
    })
}

/// A date-time whose month, day, hour, minute or second lacks its leading zero, read as if padded;
/// `None` when the text is not such a date-time (a well-formed one included).
pub fn parse_datetime_unpadded(s: &str) -> Option<Micros> {
    let padded = zero_padded(s.as_bytes())?;
    (padded.len() != s.len()).then(|| parse_inner(padded.as_bytes())).flatten()
}

/// `YYYY-M-DTH:M[:S]…` with 1 or 2 digits per field, rewritten with 2; the rest (fraction,
/// zone) is kept as it is for `parse_inner` to check.
fn zero_padded(b: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(b.len() + 5);
    let mut i = 0;
    // (separator before the field, digits of the field as written: at most)
    const FIELDS: [(Option<&[u8]>, usize); 6] =
        [(None, 4), (Some(b"-"), 2), (Some(b"-"), 2), (Some(b"Tt "), 2), (Some(b":"), 2), (Some(b":"), 2)];
    for (k, (sep, max)) in FIELDS.into_iter().enumerate() {
        if let Some(sep) = sep {
            match b.get(i) {
                Some(c) if sep.contains(c) => out.push(char::from(*c)),
                // Seconds are optional.
                _ if k == 5 => break,
                _ => return None,
            }
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < max {
            i += 1;
        }
        let n = i - start;
        if n == 0 || (k == 0 && n != 4) {
            return None;
        }
        if n < max {
            out.push('0');
        }
        out.push_str(std::str::from_utf8(&b[start..i]).ok()?);
    }
    out.push_str(std::str::from_utf8(&b[i..]).ok()?);
    Some(out)
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
    // The checks of chrono's `from_ymd_opt` and `and_hms_micro_opt`, in plain arithmetic (nine
    // date-times per CDR; the year has four digits, the fraction at most six).
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let secs = days_from_civil(year as i64, month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    Some((secs - offset_secs) * MICROS_PER_SEC + i64::from(micros))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn to_utc(m: Micros) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_micros(m).unwrap_or_default()
}

/// `2015-06-29T20:39:09Z`, with `.ffffff` only when there are sub-second digits.
pub fn format_datetime(m: Micros, out: &mut String) {
    // In plain arithmetic into one buffer: two date-times per result line, two per piece with a
    // breakdown. Years outside 0..=9999 (and instants chrono cannot hold) take chrono's way.
    let secs = m.div_euclid(MICROS_PER_SEC);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (year, month, day) = civil_from_days(days);
    if (0..=9999).contains(&year) {
        let mut us = m.rem_euclid(MICROS_PER_SEC) as u32;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        let fields = [year as u32 / 100, year as u32 % 100, month, day, sod / 3600, sod / 60 % 60, sod % 60];
        for (v, at) in fields.into_iter().zip([0, 2, 5, 8, 11, 14, 17]) {
            buf[at] = b'0' + (v / 10) as u8;
            buf[at + 1] = b'0' + (v % 10) as u8;
        }
        let mut len = 19;
        if us != 0 {
            for at in (20..26).rev() {
                buf[at] = b'0' + (us % 10) as u8;
                us /= 10;
            }
            len = 26;
            while buf[len - 1] == b'0' {
                len -= 1;
            }
        }
        buf[len] = b'Z';
        out.push_str(std::str::from_utf8(&buf[..=len]).unwrap_or_default());
        return;
    }
    format_datetime_chrono(m, out);
}

fn format_datetime_chrono(m: Micros, out: &mut String) {
    use std::fmt::Write;
    let dt = to_utc(m);
    let _ = write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute(), dt.second());
    let us = dt.nanosecond() / 1000;
    if us != 0 {
        let frac = format!("{us:06}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
}

/// A proleptic Gregorian date from days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

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
        assert_eq!(fmt(base + 1), "2015-06-29T20:39:09.000001Z");
        assert_eq!(fmt(base + 100_000), "2015-06-29T20:39:09.1Z");
        assert_eq!(fmt(parse_datetime("0001-01-01T00:00:00Z").unwrap()), "0001-01-01T00:00:00Z");
        let far = to_utc(0).with_year(12345).unwrap().timestamp_micros();
        assert_eq!(fmt(far), "12345-01-01T00:00:00Z");
    }

    #[test]
    fn reads_dates_without_zero_padding_only_when_asked() {
        let want = parse_datetime("2025-08-13T21:07:50.029Z").unwrap();
        assert!(parse_datetime("2025-8-13T21:07:50.029Z").is_err());
        assert_eq!(parse_datetime_unpadded("2025-8-13T21:07:50.029Z"), Some(want));
        assert_eq!(parse_datetime_unpadded("2025-8-3T1:7:5Z"), parse_datetime("2025-08-03T01:07:05Z").ok());
        assert_eq!(parse_datetime_unpadded("2025-8-3T01:07"), parse_datetime("2025-08-03T01:07:00Z").ok());
        assert_eq!(parse_datetime_unpadded("2025-8-13T23:07:50+02:00"), parse_datetime("2025-08-13T21:07:50Z").ok());
        // Padded text is not "unpadded"; three digits, a bad field or a short year stay errors.
        for s in ["2025-08-13T21:07:50Z", "2025-008-13T21:07:50Z", "2025-8-32T21:07:50Z", "25-8-13T21:07:50Z", "2025-8-13", "2025-8-13T21:07:50Zx"] {
            assert_eq!(parse_datetime_unpadded(s), None, "{s}");
        }
    }

    /// The arithmetic date checks and epoch count are chrono's, on every day of 0000..=9999 and every edge of the clock.
    #[test]
    fn plain_arithmetic_agrees_with_chrono() {
        let chrono = |y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32, us: u32| {
            NaiveDate::from_ymd_opt(y as i32, mo, d)
                .and_then(|date| date.and_hms_micro_opt(h, mi, s, us))
                .map(|dt| dt.and_utc().timestamp_micros())
        };
        for y in (0..=9999).step_by(1) {
            for mo in [0, 1, 2, 3, 12, 13] {
                for d in [0, 1, 28, 29, 30, 31, 32] {
                    let text = format!("{y:04}-{mo:02}-{d:02}T23:59:59.999999Z");
                    assert_eq!(parse_inner(text.as_bytes()), chrono(y, mo, d, 23, 59, 59, 999_999), "{text}");
                }
            }
        }
        for (h, mi, s) in [(0, 0, 0), (24, 0, 0), (23, 60, 0), (23, 59, 60), (12, 30, 45)] {
            let text = format!("2024-02-29T{h:02}:{mi:02}:{s:02}Z");
            assert_eq!(parse_inner(text.as_bytes()), chrono(2024, 2, 29, h, mi, s, 0), "{text}");
        }
    }

    /// The arithmetic writer is chrono's, on instants over the whole range and around its edges.
    #[test]
    fn formats_as_chrono_does() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut cases: Vec<Micros> = vec![0, -1, 1, 999_999, -1_000_000, i64::MIN, i64::MAX, 253_402_300_799_999_999, 253_402_300_800_000_000,
            -62_167_219_200_000_000, -62_167_219_200_000_001];
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Years about -300..10300, and every sub-second shape.
            let t = (x % 330_000_000_000_000_000) as i64 - 72_000_000_000_000_000;
            cases.extend([t, t - t % 1_000_000, t - t % 1000, t - t % 100_000]);
        }
        for m in cases {
            let (mut fast, mut slow) = (String::new(), String::new());
            format_datetime(m, &mut fast);
            format_datetime_chrono(m, &mut slow);
            assert_eq!(fast, slow, "{m}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "2015-06-29", "2015-13-01T00:00:00Z", "2015-06-29T25:00:00Z", "2015-06-29T20:39:09Zx", "yesterday"] {
            assert!(parse_datetime(s).is_err(), "{s}");
        }
    }
}
