//! The fast path of the CDR reader: one pass over the bytes, for the shape batch input nearly
//! always has (OCPI 2.2.1/2.3.0, no embedded tariffs, no unknown fields, no escapes in the strings
//! we keep). It builds the same `RawCdr` that the serde reader would, without serde's per-value
//! machinery (a `RawValue` per number, a visitor per key), and is checked the same way: JSON
//! grammar exactly as serde_json checks it, for the values it skips too.
//!
//! On anything else it answers `None` (it never reports an error), and the serde reader reads the
//! document: every error message, path and warning comes from one place, and this path only has
//! to agree with it on the documents it accepts.

use rust_decimal::Decimal;
use std::borrow::Cow;

use super::{Dimensions, PriceShape, RawCdr, RawDimension, RawLocation, RawPeriod};
use crate::model::json::{Indexed, Key, Str};
use crate::number::{Num, parse_decimal};

mod needs;
pub(crate) use needs::raw_needs;

/// `None`: not for the fast path (the serde reader decides).
type Fast<T> = Option<T>;

/// Nesting past this is left to serde_json (whose own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Read `json` as a `RawCdr`, or `None` when the serde reader must.
pub(super) fn raw_cdr(json: &[u8]) -> Fast<RawCdr<'_>> {
    // One UTF-8 check for the whole document, not one per kept string: those are then slices of
    // `text`. A document with invalid UTF-8 anywhere (a skipped string included) is the serde reader's.
    let text = std::str::from_utf8(json).ok()?;
    let mut s = Scan { text, b: json, i: 0, depth: 0 };
    let mut raw = RawCdr::default();
    s.object(|s, key| {
        match key {
            b"country_code" => raw.country_code = s.or_null(Scan::string)?,
            b"party_id" => raw.party_id = s.or_null(Scan::string)?,
            b"id" => raw.id = s.or_null(Scan::string)?,
            b"start_date_time" => raw.start_date_time = s.or_null(Scan::string)?,
            b"end_date_time" => raw.end_date_time = s.or_null(Scan::string)?,
            b"currency" => raw.currency = s.or_null(Scan::string)?,
            b"cdr_location" => raw.cdr_location = s.or_null(Scan::location)?,
            b"charging_periods" => raw.charging_periods = s.or_null(Scan::periods)?,
            b"total_cost" => raw.total_cost = s.or_null(Scan::price_shape)?,
            b"credit" => raw.credit = s.or_null(Scan::boolean)?,
            // Read by the serde reader but unused by `convert` (`auth_id`, which tells 2.1.1, is not here).
            b"session_id" | b"cdr_token" | b"auth_method" | b"authorization_reference" | b"meter_id" | b"signed_data"
            | b"total_fixed_cost" | b"total_energy" | b"total_energy_cost" | b"total_time" | b"total_time_cost"
            | b"total_parking_time" | b"total_parking_cost" | b"total_reservation_cost" | b"remark"
            | b"invoice_reference_id" | b"credit_reference_id" | b"home_charging_compensation" | b"last_updated" => s.skip()?,
            // 2.1.1 fields, embedded tariffs, unknown fields (warned about): the serde reader.
            _ => return None,
        }
        Some(())
    })?;
    s.ws();
    (s.i == json.len()).then_some(raw)
}

struct Scan<'a> {
    /// The document, checked UTF-8; `b` is its bytes.
    text: &'a str,
    b: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> Scan<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace (not consumed).
    #[inline]
    fn peek(&mut self) -> Fast<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Fast<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    fn literal(&mut self, word: &[u8]) -> Fast<()> {
        self.b[self.i..].starts_with(word).then(|| self.i += word.len())
    }

    /// A JSON `null` reads as an absent field, as `Option<T>` does in the serde reader.
    #[inline]
    fn or_null<T>(&mut self, read: impl FnOnce(&mut Self) -> Fast<T>) -> Fast<Option<T>> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    /// Offset from `i` of the next `"`, `\\` or control byte (which JSON forbids raw in strings).
    /// Eight bytes per step: strings here are short, where memchr's setup costs more than it saves,
    /// and this finds control bytes in the same pass.
    #[inline]
    fn string_stop(&self) -> Fast<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        // High bit of each byte that is zero / below 0x20; a false hit can only follow a true one,
        // so the lowest hit is exact.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
        let rest = &self.b[self.i..];
        let mut k = 0;
        while let Some(chunk) = rest.get(k..k + 8) {
            let w = u64::from_le_bytes(chunk.try_into().ok()?);
            let hits = zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
            if hits != 0 {
                return Some(k + (hits.trailing_zeros() / 8) as usize);
            }
            k += 8;
        }
        rest[k..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|p| k + p)
    }

    /// The body of a string without escapes, the opening quote consumed; positioned after the closing one.
    #[inline(always)]
    fn plain_string_body(&mut self) -> Fast<&'a [u8]> {
        let b = self.b;
        let n = self.string_stop()?;
        if b[self.i + n] != b'"' {
            return None;
        }
        let body = &b[self.i..self.i + n];
        self.i += n + 1;
        Some(body)
    }

    /// An object key, raw (keys are compared, never decoded).
    #[inline]
    fn key(&mut self) -> Fast<&'a [u8]> {
        self.eat(b'"')?;
        let k = self.plain_string_body()?;
        self.eat(b':')?;
        Some(k)
    }

    /// A string value, borrowed.
    #[inline]
    fn string(&mut self) -> Fast<Str<'a>> {
        self.eat(b'"')?;
        let start = self.i;
        self.plain_string_body()?;
        self.text.get(start..self.i - 1).map(|s| Str(Cow::Borrowed(s)))
    }

    fn boolean(&mut self) -> Fast<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|_| true),
            b'f' => self.literal(b"false").map(|_| false),
            _ => None,
        }
    }

    /// `{ key: value, ... }`, `field` reading each value.
    #[inline]
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Fast<()>) -> Fast<()> {
        self.sequence(b'{', b'}', |s| {
            let k = s.key()?;
            field(s, k)
        })
    }

    /// `[ item, ... ]`, `item` reading each.
    #[inline]
    fn array(&mut self, item: impl FnMut(&mut Self) -> Fast<()>) -> Fast<()> {
        self.sequence(b'[', b']', item)
    }

    /// `open item, ... close`: what objects and arrays share.
    #[inline]
    fn sequence(&mut self, open: u8, close: u8, mut item: impl FnMut(&mut Self) -> Fast<()>) -> Fast<()> {
        self.eat(open)?;
        self.nest()?;
        if self.peek()? == close {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn nest(&mut self) -> Fast<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// The text of a number, checked against JSON's grammar as serde_json checks it.
    fn number(&mut self) -> Fast<&'a str> {
        let start = self.i;
        let b = self.b;
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => {
                digits(&mut i);
            }
            _ => return None,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
        }
        self.i = i;
        self.text.get(start..i)
    }

    /// Any JSON value, checked and skipped (what `IgnoredAny` accepts).
    fn skip(&mut self) -> Fast<()> {
        match self.peek()? {
            b'{' => self.object(|s, _| s.skip()),
            b'[' => self.array(Scan::skip),
            b'"' => {
                self.i += 1;
                self.skip_string_body()
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(|_| ()),
        }
    }

    /// A string's body with escapes allowed (as serde_json's `ignore_str`: escapes checked, not decoded).
    fn skip_string_body(&mut self) -> Fast<()> {
        loop {
            let n = self.string_stop()?;
            let stop = self.b[self.i + n];
            self.i += n + 1;
            match stop {
                b'"' => return Some(()),
                b'\\' => {}
                _ => return None,
            }
            match *self.b.get(self.i)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                b'u' => {
                    let hex = self.b.get(self.i + 1..self.i + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.i += 5;
                }
                _ => return None,
            }
        }
    }

    /// `cdr_location`: only `time_zone` is kept; other fields are skipped (the reader is quiet about them).
    fn location(&mut self) -> Fast<RawLocation<'a>> {
        let mut loc = RawLocation::default();
        self.object(|s, key| {
            if key == b"time_zone" {
                loc.time_zone = s.or_null(Scan::string)?;
                Some(())
            } else {
                s.skip()
            }
        })?;
        Some(loc)
    }

    /// `total_cost`'s shape. A bare number (2.1.1) is left to the serde reader.
    fn price_shape(&mut self) -> Fast<PriceShape> {
        let mut shape = PriceShape::ExclIncl;
        // Its keys are read as strings there: checked UTF-8, as the whole document is.
        self.object(|s, key| {
            if key == b"before_taxes" {
                shape = PriceShape::BeforeTaxes;
            }
            s.skip()
        })?;
        Some(shape)
    }

    fn periods(&mut self) -> Fast<Indexed<RawPeriod<'a>>> {
        let mut out = Vec::with_capacity(16);
        self.array(|s| {
            let mut p = RawPeriod::default();
            s.object(|s, key| {
                match key {
                    b"start_date_time" => p.start_date_time = s.or_null(Scan::string)?,
                    b"tariff_id" => p.tariff_id = s.or_null(Scan::string)?,
                    b"dimensions" => p.dimensions = s.or_null(Scan::dimensions)?,
                    _ => return None,
                }
                Some(())
            })?;
            out.push(p);
            Some(())
        })?;
        Some(Indexed(out))
    }

    /// A period's `dimensions`, folded into `Volumes` by the serde reader's own `Dimensions::add`.
    fn dimensions(&mut self) -> Fast<Dimensions> {
        let mut out = Dimensions::default();
        self.array(|s| {
            let mut dim = RawDimension::default();
            s.object(|s, key| {
                match key {
                    b"type" => {
                        dim.dimension = s.or_null(|s| {
                            s.eat(b'"')?;
                            s.plain_string_body().map(|k| Key(Cow::Borrowed(k)))
                        })?
                    }
                    b"volume" => dim.volume = s.or_null(Scan::volume)?,
                    _ => return None,
                }
                Some(())
            })?;
            let i = out.count;
            out.count += 1;
            out.add(i, &dim).ok()
        })?;
        Some(out)
    }

    /// A number, or a string holding one, parsed exactly from its text as `Num` does.
    fn volume(&mut self) -> Fast<Num> {
        let text = if self.peek()? == b'"' {
            // `Num` parses the string's raw JSON text, quotes included.
            let start = self.i;
            self.i += 1;
            self.plain_string_body()?;
            self.text.get(start..self.i)?
        } else {
            let start = self.i;
            if let Some(v) = self.plain_number() {
                return Some(Num(v));
            }
            self.i = start;
            self.number()?
        };
        parse_decimal(text).ok().map(Num)
    }

    /// The common volume, `-?int(.digits)?` with at most 18 digits, read in the same pass that
    /// checks it: what `number` then `parse_decimal` give for it, exactly. `None` (position
    /// unchanged) for anything else, which they then read.
    #[inline]
    fn plain_number(&mut self) -> Fast<Decimal> {
        let b = self.b;
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        i += usize::from(neg);
        let mut mantissa: i64 = 0;
        let mut count = 0;
        let mut digits = |i: &mut usize, count: &mut u32| -> Fast<()> {
            while let Some(&c @ b'0'..=b'9') = b.get(*i) {
                *count += 1;
                if *count > 18 {
                    return None;
                }
                mantissa = mantissa * 10 + i64::from(c - b'0');
                *i += 1;
            }
            Some(())
        };
        match b.get(i)? {
            // JSON allows no digit after a leading 0: the caller finds it where a `,` should be.
            b'0' => {
                i += 1;
                count = 1;
            }
            b'1'..=b'9' => digits(&mut i, &mut count)?,
            _ => return None,
        }
        let mut scale = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let int_digits = count;
            digits(&mut i, &mut count)?;
            scale = count - int_digits;
            if scale == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            return None;
        }
        self.i = i;
        Some(Decimal::new(if neg { -mantissa } else { mantissa }, scale))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{convert, parse_cdr_with};
    use super::*;
    use crate::error::from_json_error;

    /// The serde reader's answer, as text (errors included).
    fn by_serde(doc: &[u8], strict: bool) -> String {
        let read = serde_json::from_slice::<RawCdr>(doc).map_err(|e| from_json_error(&e)).and_then(|raw| convert(raw, strict));
        format!("{read:?}")
    }

    /// Whenever the scanner accepts a document, the CDR is the serde reader's.
    fn agrees(doc: &[u8]) -> bool {
        let Some(raw) = raw_cdr(doc) else { return false };
        for strict in [false, true] {
            let fast = format!("{:?}", convert(raw_cdr(doc).unwrap(), strict));
            assert_eq!(fast, by_serde(doc, strict), "{}", String::from_utf8_lossy(doc));
            assert_eq!(format!("{:?}", parse_cdr_with(doc, strict)), fast);
        }
        drop(raw);
        true
    }

    const DOC: &str = r#"{"country_code":"NL","party_id":"EXA","id":"CDR-1","start_date_time":"2026-03-03T13:33:27Z",
        "end_date_time":"2026-03-03T16:18:16Z","session_id":"s\u00e9\n","cdr_token":{"uid":"E0","type":"RFID","n":[1,-2.5e3,0,true,false,null]},
        "auth_method":"WHITELIST","cdr_location":{"id":"LOC","coordinates":{"latitude":"52.3"},"time_zone":"Europe/Amsterdam"},
        "currency":"EUR","charging_periods":[{"start_date_time":"2026-03-03T13:33:27Z","dimensions":[{"type":"ENERGY","volume":0.8594},
        {"type":"TIME","volume":"0.231944"},{"type":"MIN_POWER","volume":3.18},{"type":"ENERGY","volume":1},{"type":"SOC","volume":1},
        {"type":"STATE_OF_CHARGE","volume":1}],"tariff_id":"TRF-0006"},{"start_date_time":"2026-03-03T15:01:01Z","dimensions":[],"tariff_id":null}],
        "total_cost":{"excl_vat":1.5,"incl_vat":1.8},"total_energy":5.4,"credit":false,"last_updated":"2026-03-03T16:20:00Z"} "#;

    #[test]
    fn reads_what_the_serde_reader_reads() {
        assert!(agrees(DOC.as_bytes()));
        let v230 = DOC.replace(r#"{"excl_vat":1.5,"incl_vat":1.8}"#, r#"{"before_taxes":1.5}"#);
        assert!(agrees(v230.as_bytes()));
        let nulls = DOC.replace(r#""id":"CDR-1""#, r#""id":null"#).replace(r#""credit":false"#, r#""credit":null"#);
        assert!(agrees(nulls.as_bytes()));
        // Left to the serde reader: 2.1.1, unknown fields, escapes in kept strings, embedded tariffs, bad JSON.
        for (from, to) in [
            (r#""auth_method""#, r#""auth_id""#),
            (r#""auth_method""#, r#""auth_methods""#),
            (r#""CDR-1""#, r#""CDR\u002d1""#),
            (r#""currency":"EUR""#, r#""currency":"EUR","tariffs":[]"#),
            (r#""total_energy":5.4"#, r#""total_energy":05.4"#),
            (r#""total_cost":{"excl_vat":1.5,"incl_vat":1.8}"#, r#""total_cost":1.5"#),
        ] {
            let doc = DOC.replacen(from, to, 1);
            assert_ne!(doc, DOC);
            assert!(raw_cdr(doc.as_bytes()).is_none(), "{doc}");
        }
    }

    #[test]
    fn volumes_read_in_one_pass_are_the_two_pass_ones() {
        for text in ["0", "-0", "7", "0.8594", "-0.5", "12.000", "123456789012345678", "123456789.012345678", "1234567890123456789",
            "0.1234567890123456789", "1e3", "2.5E-1", "01", "-", "1.", ".5", "-01.5", "00", "1.2.3", "9223372036854775807"] {
            let doc = format!("{text},");
            let mut s = Scan { text: &doc, b: doc.as_bytes(), i: 0, depth: 0 };
            let fast = s.volume().map(|n| (n.0, n.0.scale(), s.i));
            let mut s = Scan { text: &doc, b: doc.as_bytes(), i: 0, depth: 0 };
            let slow = s.number().and_then(|t| parse_decimal(t).ok()).map(|v| (v, v.scale(), s.i));
            assert_eq!(fast, slow, "{text}");
        }
    }

    /// Every truncation and every one-byte change of a document: the scanner either leaves it to
    /// the serde reader or reads exactly what that reader reads.
    #[test]
    fn agrees_on_damaged_documents() {
        let doc = DOC.as_bytes();
        let mut accepted = 0;
        for i in 0..doc.len() {
            accepted += agrees(&doc[..i]) as usize;
            for b in [b' ', b'"', b'\\', b',', b'0', b'-', b'e', b'.', b'{', b'}', b'[', b']', b'n', 0x01, 0xff, b':'] {
                let mut d = doc.to_vec();
                d[i] = b;
                accepted += agrees(&d) as usize;
                let mut d = doc.to_vec();
                d.insert(i, b);
                accepted += agrees(&d) as usize;
            }
            let mut d = doc.to_vec();
            d.remove(i);
            accepted += agrees(&d) as usize;
        }
        assert!(accepted > doc.len(), "{accepted}");
    }
}
