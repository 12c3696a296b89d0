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
    fn rejects_non_numbers() {
        assert!(parse_decimal("\"abc\"").is_err());
        assert!(parse_decimal("true").is_err());
        assert!(parse_decimal("null").is_err());
        assert!(parse_decimal("\"\"").is_err());
        assert!(parse_decimal("-").is_err());
        assert!(parse_decimal("1.2.3").is_err());
    }
}
