//! Exact JSON numbers: read from the raw JSON text into a `Decimal`, never through f64.

use rust_decimal::Decimal;
use serde::de::{Deserialize, Deserializer, Error};
use serde_json::value::RawValue;
use std::str::FromStr;

/// A JSON number (or a numeric string, which some peers send) parsed exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Decimal);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&RawValue>::deserialize(d)?;
        parse_decimal(raw.get()).map(Num).map_err(D::Error::custom)
    }
}

/// Parse the text of a JSON number, or of a JSON string holding one. Inlined: it reads every
/// number of every CDR, and a second caller (min/max_price) must not move it out of line.
#[inline(always)]
pub fn parse_decimal(text: &str) -> Result<Decimal, String> {
    let t = text.trim();
    let t = t.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(t);
    if t.is_empty() {
        return Err("expected a number".into());
    }
    if let Some(d) = parse_plain(t.as_bytes()) {
        return Ok(d);
    }
    let parsed = if t.bytes().any(|b| b == b'e' || b == b'E') {
        Decimal::from_scientific(t)
    } else {
        Decimal::from_str_exact(t).or_else(|_| Decimal::from_str(t))
    };
    parsed.map_err(|_| format!("expected a number, found {}", abbreviate(text)))
}

/// The common case, `-?digits(.digits)?` with at most 18 digits, without going through text
/// parsing in `rust_decimal`: one pass, exact.
fn parse_plain(b: &[u8]) -> Option<Decimal> {
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    let mut mantissa: i64 = 0;
    let mut scale: u32 = 0;
    let mut seen_dot = false;
    let mut count = 0;
    for &c in digits {
        match c {
            b'0'..=b'9' => {
                count += 1;
                if count > 18 {
                    return None;
                }
                mantissa = mantissa * 10 + i64::from(c - b'0');
                if seen_dot {
                    scale += 1;
                }
            }
            b'.' if !seen_dot && count > 0 => seen_dot = true,
            _ => return None,
        }
    }
    if count == 0 || (seen_dot && scale == 0) {
        return None;
    }
    Some(Decimal::new(if neg { -mantissa } else { mantissa }, scale))
}

/// Two ASCII digits per value 0..100, for writing numbers without `core::fmt`.
const DIGITS2: &[u8; 200] = b"\
0001020304050607080910111213141516171819202122232425262728293031323334353637383940414243444546474849\
5051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

/// The decimal digits of `n` at the end of `buf` (at least `min` of them, zero-padded); returns where they start.
fn digits_into(buf: &mut [u8], mut n: u64, min: usize) -> usize {
    let mut pos = buf.len();
    while n >= 100 {
        let k = (n % 100) as usize * 2;
        n /= 100;
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGITS2[k..k + 2]);
    }
    if n >= 10 {
        pos -= 2;
        buf[pos..pos + 2].copy_from_slice(&DIGITS2[n as usize * 2..n as usize * 2 + 2]);
    } else {
        pos -= 1;
        buf[pos] = b'0' + n as u8;
    }
    while buf.len() - pos < min {
        pos -= 1;
        buf[pos] = b'0';
    }
    pos
}

/// Only ASCII digits, signs and points come here: pushed as chars (a UTF-8 check per number costs more).
fn push_ascii(out: &mut String, b: &[u8]) {
    out.extend(b.iter().map(|&c| char::from(c)));
}

/// `n` in decimal, as `Display` writes it: the output's hot path avoids `core::fmt`.
pub fn write_uint(out: &mut String, n: u64) {
    let mut buf = [0u8; 20];
    let pos = digits_into(&mut buf, n, 1);
    push_ascii(out, &buf[pos..]);
}

const TEN19: u128 = 10_000_000_000_000_000_000;

/// `v` byte for byte as its `Display` writes it (sign when negative, every digit of its scale),
/// without `core::fmt` and rust_decimal's string buffer: every number of every result goes through here.
pub fn write_decimal(out: &mut String, v: Decimal) {
    // 96-bit mantissa: at most 29 digits, plus sign and point.
    let mut buf = [0u8; 32];
    let m = v.mantissa().unsigned_abs();
    let scale = v.scale() as usize;
    let mut pos = if let Ok(mut n) = u64::try_from(m) {
        // Fraction digits, the point, then the integer part (at least "0"): no shifting after.
        let mut pos = buf.len();
        if scale > 0 {
            for _ in 0..scale {
                pos -= 1;
                buf[pos] = b'0' + (n % 10) as u8;
                n /= 10;
            }
            pos -= 1;
            buf[pos] = b'.';
        }
        digits_into(&mut buf[..pos], n, 1)
    } else {
        // High part below 2^64 (2^96 / 10^19 < 2^33); low part exactly 19 digits.
        let low = digits_into(&mut buf, (m % TEN19) as u64, 19);
        let n = buf.len() - low;
        digits_into(&mut buf[..low], (m / TEN19) as u64, (scale + 1).saturating_sub(n))
    };
    let len = buf.len() - pos;
    if scale > 0 && m > u128::from(u64::MAX) {
        // Shift the integer digits left by one to open the point's place.
        let int = len - scale;
        buf.copy_within(pos..pos + int, pos - 1);
        pos -= 1;
        buf[pos + int] = b'.';
    }
    if v.is_sign_negative() {
        pos -= 1;
        buf[pos] = b'-';
    }
    push_ascii(out, &buf[pos..]);
}

/// The first 40 bytes of `s` (on a character boundary) and an ellipsis: enough of a bad value to find it.
pub(crate) fn abbreviate(s: &str) -> String {
    if s.len() <= 40 {
        s.to_string()
    } else {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::d;

    #[test]
    fn exact_digits() {
        assert_eq!(parse_decimal("0.1").unwrap(), d("0.1"));
        assert_eq!(parse_decimal("20.45").unwrap(), d("20.45"));
        assert_eq!(parse_decimal("1.973").unwrap().to_string(), "1.973");
        assert_eq!(parse_decimal("1e3").unwrap(), d("1000"));
        assert_eq!(parse_decimal("2.5E-1").unwrap(), d("0.25"));
        assert_eq!(parse_decimal("\"7.5\"").unwrap(), d("7.5"));
        assert_eq!(parse_decimal("-3").unwrap(), d("-3"));
        assert_eq!(parse_decimal("-0.000125").unwrap(), d("-0.000125"));
        assert_eq!(parse_decimal("12345678901234567890.5").unwrap(), d("12345678901234567890.5"));
        assert_eq!(parse_decimal("0.30").unwrap().to_string(), "0.30");
    }

    #[test]
    fn writes_decimals_as_display_does() {
        let mut cases: Vec<Decimal> = ["0", "-0", "0.00", "-0.000", "1", "-1", "0.5", "-0.05", "12.3400", "100", "0.0000000001",
            "99.99", "79228162514264337593543950335", "-7922816251426433759354395033.5", "0.0000000000000000000000000001",
            "18446744073709551615", "18446744073709551616", "1.8446744073709551616", "-123456789012345678901.2345"]
            .iter().map(|s| d(s)).collect();
        cases.push(Decimal::ONE / Decimal::from(3));
        cases.push(-Decimal::from(2) / Decimal::from(3));
        cases.push(Decimal::from_parts(0, 0, 0, true, 5));
        for k in 0..=28 {
            cases.push(Decimal::from_parts(u32::MAX, u32::MAX, u32::MAX, k % 2 == 0, k));
            cases.push(Decimal::from_parts(7, 0, 0, false, k));
            cases.push(Decimal::from_parts(0, 1, 0, true, k));
            cases.push(Decimal::from_parts(0, 0, 1, false, k));
        }
        for v in cases {
            let mut s = String::new();
            write_decimal(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        for n in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut s = String::new();
            write_uint(&mut s, n);
            assert_eq!(s, n.to_string());
        }
    }

    #[test]
    fn rejects_non_numbers() {
        assert!(parse_decimal("\"abc\"").is_err());
        assert!(parse_decimal("true").is_err());
        assert!(parse_decimal("null").is_err());
        assert!(parse_decimal("\"\"").is_err());
        assert!(parse_decimal("-").is_err());
        assert!(parse_decimal("1.2.3").is_err());
    }
}
