//! What choosing a stored CDR's tariff versions needs (`reprice::Needs`), read with the one-pass scanner:
//! re-rating scans every CDR before its versions are chosen, and serde's pass over the whole document cost as
//! much as reading the CDR. Same contract as `raw_cdr`: `None` (escapes in a kept string, a repeated key, a
//! number written as a string, anything unusual) leaves the document to the serde scan, which has the errors.
//!
//! Unlike `raw_cdr`, the values it does not keep are passed over without checking their grammar (`pass`): the
//! CDR is read and checked in full when it is priced, so a document broken only there fails at that point
//! ("cannot be priced") instead of here ("cannot be prepared").

use rust_decimal::Decimal;

use super::{Fast, Scan};
use crate::model::json::Str;
use crate::number::parse_decimal;

pub(crate) struct RawNeeds<'a> {
    pub country_code: Str<'a>,
    pub party_id: Str<'a>,
    pub start_date_time: Str<'a>,
    pub location_id: Option<Str<'a>>,
    pub currency: Option<Str<'a>>,
    /// `charging_periods[].tariff_id` and `tariffs[].id`, as written, in order.
    pub period_tariffs: Vec<Str<'a>>,
    pub embedded_tariffs: Vec<Str<'a>>,
    /// The CPO's `total_cost`: a Price's `excl_vat`, or the number (2.1.1).
    pub total: Option<Decimal>,
}

pub(crate) fn raw_needs(json: &[u8]) -> Fast<RawNeeds<'_>> {
    // As `raw_cdr`: one UTF-8 check for the document, kept strings are slices of it.
    let text = std::str::from_utf8(json).ok()?;
    let mut s = Scan { text, b: json, i: 0, depth: 0 };
    let (mut cc, mut pid, mut start, mut location, mut currency, mut total) = (None, None, None, None, None, None);
    let (mut periods, mut tariffs) = (Vec::new(), Vec::new());
    let mut seen = 0u8;
    // A repeated key is the serde scan's to judge.
    let mut first = |bit: u8| (seen & bit == 0).then(|| seen |= bit);
    s.object(|s, key| {
        match key {
            b"country_code" => {
                first(1)?;
                cc = s.or_null(Scan::string)?;
            }
            b"party_id" => {
                first(2)?;
                pid = s.or_null(Scan::string)?;
            }
            b"start_date_time" => {
                first(4)?;
                start = s.or_null(Scan::string)?;
            }
            b"currency" => {
                first(8)?;
                currency = s.or_null(Scan::string)?;
            }
            b"cdr_location" => {
                first(16)?;
                location = s.or_null(|s| s.field_of(b"id"))?.flatten();
            }
            b"charging_periods" => {
                first(32)?;
                s.or_null(|s| s.ids(b"tariff_id", &mut periods))?;
            }
            b"tariffs" => {
                first(64)?;
                s.or_null(|s| s.ids(b"id", &mut tariffs))?;
            }
            b"total_cost" => {
                first(128)?;
                total = s.or_null(Scan::total)?.flatten();
            }
            _ => s.pass()?,
        }
        Some(())
    })?;
    s.ws();
    (s.i == json.len()).then_some(())?;
    Some(RawNeeds {
        country_code: cc?,
        party_id: pid?,
        start_date_time: start?,
        location_id: location,
        currency,
        period_tariffs: periods,
        embedded_tariffs: tariffs,
        total,
    })
}

impl<'a> Scan<'a> {
    /// An object's string field `name` (None when absent or null), the rest skipped.
    fn field_of(&mut self, name: &[u8]) -> Fast<Option<Str<'a>>> {
        let mut found = None;
        let mut count = 0;
        self.object(|s, key| {
            if key == name {
                count += 1;
                found = s.or_null(Scan::string)?;
                Some(())
            } else {
                s.pass()
            }
        })?;
        (count <= 1).then_some(found)
    }

    /// An array of objects, each one's string field `name` (when present) added to `out`.
    fn ids(&mut self, name: &[u8], out: &mut Vec<Str<'a>>) -> Fast<()> {
        self.array(|s| {
            out.extend(s.field_of(name)?);
            Some(())
        })
    }

    /// `total_cost`: a Price's `excl_vat` or a bare number, written as numbers.
    fn total(&mut self) -> Fast<Option<Decimal>> {
        if self.peek()? != b'{' {
            return self.number().and_then(|t| parse_decimal(t).ok()).map(Some);
        }
        let mut excl = None;
        self.object(|s, key| {
            if key == b"excl_vat" {
                excl = s.or_null(|s| s.number().and_then(|t| parse_decimal(t).ok()))?;
                Some(())
            } else {
                s.pass()
            }
        })?;
        Some(excl)
    }

    /// Any JSON value passed over without checking it: strings to their closing quote, objects and arrays to
    /// their matching bracket, other values to the next separator.
    fn pass(&mut self) -> Fast<()> {
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.pass_string()
            }
            b'{' | b'[' => {
                // A byte loop: memchr3 pays less here, where quotes come every few bytes.
                let mut depth = 0usize;
                loop {
                    let n = self.b.get(self.i..)?.iter().position(|&c| matches!(c, b'"' | b'{' | b'[' | b'}' | b']'))?;
                    self.i += n + 1;
                    match self.b[self.i - 1] {
                        b'"' => self.pass_string()?,
                        b'{' | b'[' => depth += 1,
                        _ => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(());
                            }
                        }
                    }
                }
            }
            _ => {
                let n = self.b[self.i..].iter().position(|&c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))?;
                self.i += n;
                (n > 0).then_some(())
            }
        }
    }

    /// The rest of a string, its opening quote consumed (an escape's next byte is never its end).
    fn pass_string(&mut self) -> Fast<()> {
        loop {
            let rest = self.b.get(self.i..)?;
            let n = memchr::memchr2(b'"', b'\\', rest)?;
            self.i += n + 1;
            if rest[n] == b'"' {
                return Some(());
            }
            self.i += 1;
        }
    }
}
