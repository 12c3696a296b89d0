//! PostgreSQL COPY formats, so that bulk rows go between the database and rust_core without a Python
//! object per value: rows of `COPY ... TO STDOUT` in text format are read here, and rows for
//! `COPY ... FROM STDIN (FORMAT binary)` are written here.

use rust_decimal::Decimal;
use std::borrow::Cow;

/// The fields of each row of a text-format COPY payload (complete rows, each ending in `\n`); `None`
/// for `\N` (NULL). A field with backslash escapes is unescaped into an owned buffer, others are borrowed.
pub fn text_rows(buf: &[u8], fields: usize) -> Result<Vec<Vec<Option<Cow<'_, [u8]>>>>, String> {
    let mut rows = Vec::with_capacity(buf.len() / 1024 + 1);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', buf) {
        let line = &buf[start..end];
        start = end + 1;
        // memchr for the separators: the last field (a document) is long, the others short.
        let mut row: Vec<Option<Cow<[u8]>>> = Vec::with_capacity(fields);
        let mut rest = line;
        while row.len() + 1 < fields {
            let Some(tab) = memchr::memchr(b'\t', rest) else { break };
            row.push(text_field(&rest[..tab]));
            rest = &rest[tab + 1..];
        }
        row.push(text_field(rest));
        if row.len() != fields || memchr::memchr(b'\t', rest).is_some() {
            let found = line.iter().filter(|&&b| b == b'\t').count() + 1;
            return Err(format!("COPY row {} has {found} fields, expected {fields}", rows.len() + 1));
        }
        rows.push(row);
    }
    if start != buf.len() {
        return Err("COPY payload ends inside a row".into());
    }
    Ok(rows)
}

/// One field of the text format: `\N` is NULL; `\b \f \n \r \t \v \\` and `\` + any other byte are undone
/// (COPY TO writes no octal or hex escapes).
fn text_field(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    if raw == b"\\N" {
        return None;
    }
    if memchr::memchr(b'\\', raw).is_none() {
        return Some(Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'b') => 0x08,
            Some(b'f') => 0x0c,
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b't') => b'\t',
            Some(b'v') => 0x0b,
            Some(&other) => other,
            None => b'\\',
        });
    }
    Some(Cow::Owned(out))
}

/// `text` oid, the element type of `text[]`.
const TEXT_OID: i32 = 25;

/// Rows in COPY's binary format: header, then each row's fields, then the trailer (`finish`).
pub struct BinaryWriter {
    out: Vec<u8>,
}

impl BinaryWriter {
    pub fn new(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity + 21);
        out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        out.extend_from_slice(&0i32.to_be_bytes()); // flags
        out.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        Self { out }
    }

    pub fn row(&mut self, fields: i16) {
        self.out.extend_from_slice(&fields.to_be_bytes());
    }

    pub fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
    }

    pub fn int8(&mut self, v: i64) {
        self.out.extend_from_slice(&8i32.to_be_bytes());
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// `text`, and `json` (whose binary form is its text).
    pub fn text(&mut self, v: &str) {
        self.out.extend_from_slice(&(v.len() as i32).to_be_bytes());
        self.out.extend_from_slice(v.as_bytes());
    }

    pub fn opt_text(&mut self, v: Option<&str>) {
        match v {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// `text[]`, one dimension (none when empty, as PostgreSQL writes `{}`).
    pub fn text_array(&mut self, items: &[&str]) {
        let len = 12 + if items.is_empty() { 0 } else { 8 } + items.iter().map(|s| 4 + s.len()).sum::<usize>();
        self.out.extend_from_slice(&(len as i32).to_be_bytes());
        self.out.extend_from_slice(&i32::from(!items.is_empty()).to_be_bytes()); // dimensions
        self.out.extend_from_slice(&0i32.to_be_bytes()); // has nulls
        self.out.extend_from_slice(&TEXT_OID.to_be_bytes());
        if !items.is_empty() {
            self.out.extend_from_slice(&(items.len() as i32).to_be_bytes());
            self.out.extend_from_slice(&1i32.to_be_bytes()); // lower bound
        }
        for s in items {
            self.text(s);
        }
    }

    /// `numeric`: base-10000 digits around the decimal point, display scale = the decimal's scale.
    pub fn numeric(&mut self, v: Decimal) {
        let scale = v.scale() as usize;
        let digits = v.mantissa().unsigned_abs().to_string();
        // Integer and fractional decimal digits, padded to whole groups of 4 on their outer sides.
        let (int, frac) = if digits.len() > scale { digits.split_at(digits.len() - scale) } else { ("", digits.as_str()) };
        let frac_zeros = scale - frac.len(); // leading zeros of a fraction shorter than the scale
        let int_pad = (4 - int.len() % 4) % 4;
        let mut all = String::with_capacity(int_pad + int.len() + frac_zeros + frac.len() + 3);
        all.extend(std::iter::repeat_n('0', int_pad));
        all.push_str(int);
        all.extend(std::iter::repeat_n('0', frac_zeros));
        all.push_str(frac);
        all.extend(std::iter::repeat_n('0', (4 - (scale % 4)) % 4));
        let mut groups: Vec<i16> = all.as_bytes().chunks(4).map(|c| c.iter().fold(0i16, |n, d| n * 10 + i16::from(d - b'0'))).collect();
        let mut weight = ((int_pad + int.len()) / 4) as i16 - 1;
        let leading = groups.iter().take_while(|&&g| g == 0).count();
        groups.drain(..leading);
        weight -= leading as i16;
        while groups.last() == Some(&0) {
            groups.pop();
        }
        if groups.is_empty() {
            weight = 0;
        }
        let sign: u16 = if v.is_sign_negative() && !groups.is_empty() { 0x4000 } else { 0 };
        self.out.extend_from_slice(&((8 + 2 * groups.len()) as i32).to_be_bytes());
        self.out.extend_from_slice(&(groups.len() as i16).to_be_bytes());
        self.out.extend_from_slice(&weight.to_be_bytes());
        self.out.extend_from_slice(&sign.to_be_bytes());
        self.out.extend_from_slice(&(scale as i16).to_be_bytes());
        for g in groups {
            self.out.extend_from_slice(&g.to_be_bytes());
        }
    }

    pub fn opt_numeric(&mut self, v: Option<Decimal>) {
        match v {
            Some(v) => self.numeric(v),
            None => self.null(),
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&(-1i16).to_be_bytes());
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn text_rows_undo_escapes_and_read_nulls() {
        let rows = text_rows(b"1\tNL\t{\"a\":\"x\\\\ny\\ttab\"}\n2\t\\N\t{}\n", 3).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][2].as_deref(), Some(&b"{\"a\":\"x\\ny\ttab\"}"[..]));
        assert!(matches!(rows[1][0], Some(Cow::Borrowed(b"2"))));
        assert_eq!(rows[1][1], None);
        assert!(text_rows(b"1\t2\n", 3).unwrap_err().contains("2 fields"));
        assert!(text_rows(b"1\t2\t3\t4\n", 3).unwrap_err().contains("4 fields"));
        assert!(text_rows(b"1\t2\t3", 3).is_err());
    }

    fn numeric_bytes(s: &str) -> Vec<u8> {
        let mut w = BinaryWriter::new(0);
        let start = w.out.len();
        w.numeric(Decimal::from_str(s).unwrap());
        w.out[start..].to_vec()
    }

    fn be(parts: &[i16]) -> Vec<u8> {
        parts.iter().flat_map(|p| p.to_be_bytes()).collect()
    }

    #[test]
    fn numerics_in_base_10000() {
        // (ndigits, weight, sign, dscale, digits...) as numeric_send writes them.
        let cases: [(&str, &[i16]); 8] = [
            ("4.3367", &[2, 0, 0, 4, 4, 3367]),
            ("12345.5", &[3, 1, 0, 1, 1, 2345, 5000]),
            ("-0.0005", &[1, -1, 0x4000, 4, 5]),
            ("0", &[0, 0, 0, 0]),
            ("0.0000", &[0, 0, 0, 4]),
            ("100000000", &[1, 2, 0, 0, 1]),
            ("0.00012345", &[2, -1, 0, 8, 1, 2345]),
            ("-1.3133", &[2, 0, 0x4000, 4, 1, 3133]),
        ];
        for (text, parts) in cases {
            let mut want = ((parts.len() * 2) as i32).to_be_bytes().to_vec();
            want.extend(be(parts));
            assert_eq!(numeric_bytes(text), want, "{text}");
        }
    }

    #[test]
    fn arrays_and_framing() {
        let mut w = BinaryWriter::new(0);
        w.row(2);
        w.text_array(&[]);
        w.text_array(&["AB"]);
        let out = w.finish();
        assert!(out.starts_with(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0"));
        let body = &out[19..];
        let mut want = 2i16.to_be_bytes().to_vec();
        for v in [12i32, 0, 0, 25] {
            want.extend(v.to_be_bytes());
        }
        for v in [26i32, 1, 0, 25, 1, 1, 2] {
            want.extend(v.to_be_bytes());
        }
        want.extend(b"AB");
        want.extend((-1i16).to_be_bytes());
        assert_eq!(body, &want[..]);
    }
}
