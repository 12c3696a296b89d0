//! A strict guard over incoming JSON text, in one pass without recursion: duplicate keys in one object, nesting
//! depth, and numbers beyond what the service stores (a magnitude above `i64::MAX`, or more significant decimals
//! than allowed). It only checks; it builds no value (the service parses with msgspec, this finds what msgspec
//! does not report).
//!
//! Numbers are judged on their digits, never through a float, with the semantics of Python's
//! `Decimal(text).as_tuple()`: the significant digits `D` (leading zeros removed, at least one digit) times
//! `10^E`; the decimals are `-(E + trailing zeros of D)` (the trailing zeros of a zero's single `0` do not count:
//! `0.000` has 3 decimals, `0e5` none).

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;

/// Why a document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// A key appears twice in one object (compared after unescaping); the key's text.
    DuplicateKey(String),
    /// A number beyond the bounds; the number's text as written.
    NumberOutOfRange(String),
    /// Objects and arrays nested deeper than allowed.
    TooDeep,
    /// Not JSON (RFC 8259); what is wrong, and at which byte.
    Syntax(String),
}

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateKey(key) => write!(f, "key {key:?} appears more than once in one object"),
            Self::NumberOutOfRange(text) => write!(f, "number {text} is out of range"),
            Self::TooDeep => f.write_str("JSON nested too deep"),
            Self::Syntax(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for GuardError {}

/// Check `input`: at most `max_depth` levels of objects and arrays (the outermost container is level 1), no key
/// twice in one object, every number within ±`i64::MAX` and with at most `max_decimals` significant decimals.
/// Total: any bytes give `Ok` or an error, never a panic; stack use does not depend on the input.
pub fn check(input: &[u8], max_depth: usize, max_decimals: u32) -> Result<(), GuardError> {
    Scanner::new(input, max_depth, max_decimals).run()
}

/// Objects with more keys than this find duplicates with a hash map (a linear scan before).
const LINEAR_KEYS: usize = 16;
/// The largest magnitude allowed, as digits.
const MAX_MAGNITUDE: &[u8; 19] = b"9223372036854775807";

/// One open object or array.
#[derive(Clone, Copy)]
struct Frame {
    object: bool,
    /// For an object: where its keys start in `Scanner::keys`, and its unescaped text in `Scanner::scratch`.
    keys_start: usize,
    scratch_start: usize,
    /// Whether this object's keys are also in the map on top of `Scanner::maps`.
    mapped: bool,
}

/// A key of an open object: a range of the input (no backslash) or of `scratch` (unescaped).
#[derive(Clone, Copy)]
struct Key {
    start: usize,
    end: usize,
    unescaped: bool,
}

struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    max_depth: usize,
    max_decimals: u32,
    stack: Vec<Frame>,
    keys: Vec<Key>,
    scratch: Vec<u8>,
    /// Key hash -> index in `keys`, for the open objects with many keys, innermost last (objects nest, so the
    /// object being read is the last one that has a map).
    maps: Vec<HashMap<u64, usize>>,
    spare_maps: Vec<HashMap<u64, usize>>,
    hasher: Option<RandomState>,
}

fn syntax(what: &str, pos: usize) -> GuardError {
    GuardError::Syntax(format!("{what} at byte {pos}"))
}

impl<'a> Scanner<'a> {
    fn new(input: &'a [u8], max_depth: usize, max_decimals: u32) -> Self {
        Self {
            input,
            pos: 0,
            max_depth,
            max_decimals,
            stack: Vec::new(),
            keys: Vec::new(),
            scratch: Vec::new(),
            maps: Vec::new(),
            spare_maps: Vec::new(),
            hasher: None,
        }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn run(mut self) -> Result<(), GuardError> {
        self.skip_ws();
        'value: loop {
            // A value starts at `pos` (whitespace skipped).
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if self.stack.len() >= self.max_depth {
                        return Err(GuardError::TooDeep);
                    }
                    let object = open == b'{';
                    self.stack.push(Frame { object, keys_start: self.keys.len(), scratch_start: self.scratch.len(), mapped: false });
                    self.pos += 1;
                    self.skip_ws();
                    let close = if object { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.pos += 1;
                        self.close();
                    } else {
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(_) => return Err(syntax("expected a value", self.pos)),
                None => return Err(syntax("expected a value, found the end", self.pos)),
            }
            // A value ended: what follows it.
            loop {
                self.skip_ws();
                let Some(frame) = self.stack.last() else {
                    return if self.pos == self.input.len() { Ok(()) } else { Err(syntax("unexpected data after the value", self.pos)) };
                };
                match (frame.object, self.peek()) {
                    (object, Some(b',')) => {
                        self.pos += 1;
                        self.skip_ws();
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                    (true, Some(b'}')) | (false, Some(b']')) => {
                        self.pos += 1;
                        self.close();
                    }
                    (true, _) => return Err(syntax("expected ',' or '}'", self.pos)),
                    (false, _) => return Err(syntax("expected ',' or ']'", self.pos)),
                }
            }
        }
    }

    /// The innermost container ends: its keys (and map) are forgotten.
    fn close(&mut self) {
        if let Some(frame) = self.stack.pop() {
            if frame.object {
                self.keys.truncate(frame.keys_start);
                self.scratch.truncate(frame.scratch_start);
                if frame.mapped {
                    if let Some(mut map) = self.maps.pop() {
                        map.clear();
                        self.spare_maps.push(map);
                    }
                }
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), GuardError> {
        if self.input[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(syntax("expected a value", self.pos))
        }
    }

    /// A string at `pos` (its opening quote); leaves `pos` after the closing quote. Returns the range of its
    /// content and whether it has escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), GuardError> {
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            let Some(&b) = self.input.get(i) else {
                return Err(syntax("unterminated string", self.pos));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i = escape(self.input, i)?.1;
                }
                0..=0x1f => return Err(syntax("control character in a string", i)),
                0x80.. => {
                    non_ascii = true;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        if non_ascii {
            // Escapes are ASCII: validating the raw text validates everything else in the string.
            if let Err(e) = std::str::from_utf8(&self.input[start..i]) {
                return Err(syntax("invalid UTF-8 in a string", start + e.valid_up_to()));
            }
        }
        self.pos = i + 1;
        Ok((start, i, escaped))
    }

    /// An object key at `pos`, then its colon; the key is checked against the others of its object.
    fn key(&mut self) -> Result<(), GuardError> {
        if self.peek() != Some(b'"') {
            return Err(syntax("expected a key (a string)", self.pos));
        }
        let (start, end, escaped) = self.string()?;
        let key = if escaped {
            let from = self.scratch.len();
            unescape(&self.input[start..end], &mut self.scratch);
            Key { start: from, end: self.scratch.len(), unescaped: true }
        } else {
            Key { start, end, unescaped: false }
        };
        self.add_key(key)?;
        self.skip_ws();
        if self.peek() != Some(b':') {
            return Err(syntax("expected ':'", self.pos));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    #[inline]
    fn text(&self, key: Key) -> &[u8] {
        key_text(self.input, &self.scratch, key)
    }

    fn add_key(&mut self, key: Key) -> Result<(), GuardError> {
        let Some(&frame) = self.stack.last() else { return Ok(()) };
        let index = self.keys.len();
        let open = &self.keys[frame.keys_start..];
        if !frame.mapped && open.len() < LINEAR_KEYS {
            let text = self.text(key);
            if open.iter().any(|&k| self.text(k) == text) {
                return Err(self.duplicate(key));
            }
            self.keys.push(key);
            return Ok(());
        }
        let hasher = self.hasher.get_or_insert_with(RandomState::new);
        if !frame.mapped {
            // The object outgrows the linear scan: its keys so far (all distinct) go into a map.
            let mut map = self.spare_maps.pop().unwrap_or_default();
            for (i, &k) in self.keys.iter().enumerate().skip(frame.keys_start) {
                map.entry(hasher.hash_one(key_text(self.input, &self.scratch, k))).or_insert(i);
            }
            self.maps.push(map);
            if let Some(top) = self.stack.last_mut() {
                top.mapped = true;
            }
        }
        let text = key_text(self.input, &self.scratch, key);
        let hash = hasher.hash_one(text);
        if let Some(map) = self.maps.last_mut() {
            if let Some(&other) = map.get(&hash) {
                // The same hash: the same key, or (hardly ever) a collision, settled by comparing with every key.
                let same = |k: &Key| key_text(self.input, &self.scratch, *k) == text;
                if same(&self.keys[other]) || self.keys[frame.keys_start..].iter().any(same) {
                    return Err(self.duplicate(key));
                }
            } else {
                map.insert(hash, index);
            }
        }
        self.keys.push(key);
        Ok(())
    }

    fn duplicate(&self, key: Key) -> GuardError {
        GuardError::DuplicateKey(String::from_utf8_lossy(self.text(key)).into_owned())
    }

    /// A number at `pos`: its grammar, then its bounds.
    fn number(&mut self) -> Result<(), GuardError> {
        let input = self.input;
        let start = self.pos;
        let mut i = start;
        if input.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        match input.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = digits_end(input, i),
            _ => return Err(syntax("expected a digit", i)),
        }
        let int_part = &input[int_start..i];
        let mut frac = &input[i..i];
        if input.get(i) == Some(&b'.') {
            let from = i + 1;
            i = digits_end(input, from);
            if i == from {
                return Err(syntax("expected a digit after '.'", i));
            }
            frac = &input[from..i];
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = input.get(i) {
            i += 1;
            let negative = match input.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let from = i;
            i = digits_end(input, from);
            if i == from {
                return Err(syntax("expected a digit in the exponent", i));
            }
            // Saturates far beyond any length an input can have: the sums below cannot overflow.
            const CAP: i64 = 1 << 50;
            for &d in &input[from..i] {
                exponent = (exponent * 10 + i64::from(d - b'0')).min(CAP);
            }
            if negative {
                exponent = -exponent;
            }
        }
        self.pos = i;
        if number_ok(int_part, frac, exponent, self.max_decimals) {
            Ok(())
        } else {
            Err(GuardError::NumberOutOfRange(String::from_utf8_lossy(&input[start..i]).into_owned()))
        }
    }
}

#[inline]
fn key_text<'s>(input: &'s [u8], scratch: &'s [u8], key: Key) -> &'s [u8] {
    if key.unescaped { &scratch[key.start..key.end] } else { &input[key.start..key.end] }
}

fn digits_end(input: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = input.get(i) {
        i += 1;
    }
    i
}

/// Whether the number `int_part.frac × 10^exponent` (sign aside) has a magnitude of at most `i64::MAX` and at
/// most `max_decimals` significant decimals (see the module documentation).
fn number_ok(int_part: &[u8], frac: &[u8], exponent: i64, max_decimals: u32) -> bool {
    let digit = |k: usize| if k < int_part.len() { int_part[k] } else { frac[k - int_part.len()] };
    let len = int_part.len() + frac.len();
    let leading = (0..len).take_while(|&k| digit(k) == b'0').count();
    // The exponent of the last digit written (frac.len() < 2^50: inputs are smaller than that).
    let last = exponent - frac.len() as i64;
    let min = -i64::from(max_decimals);
    if leading == len {
        return last >= min; // zero: its one digit `0` at 10^last
    }
    let trailing = (0..len).rev().take_while(|&k| digit(k) == b'0').count();
    if last + (trailing as i64) < min {
        return false;
    }
    let significant = len - leading;
    let int_digits = significant as i64 + last;
    if int_digits != 19 {
        return int_digits < 19;
    }
    // 19 digits before the point: compare them with i64::MAX, then any nonzero digit after them is too much.
    for (j, &m) in MAX_MAGNITUDE.iter().enumerate() {
        let d = if j < significant { digit(leading + j) } else { b'0' };
        if d != m {
            return d < m;
        }
    }
    significant - trailing <= 19
}

/// The escape at `input[i]` (a backslash): its code point and the index after it. A `\u` high surrogate must be
/// followed by a `\u` low surrogate (a lone surrogate is no text).
fn escape(input: &[u8], i: usize) -> Result<(char, usize), GuardError> {
    let c = match input.get(i + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => {
            let high = hex4(input, i + 2)?;
            if (0xDC00..0xE000).contains(&high) {
                return Err(syntax("lone surrogate in a string", i));
            }
            if !(0xD800..0xDC00).contains(&high) {
                return Ok((char::from_u32(high).unwrap_or('\u{FFFD}'), i + 6));
            }
            if input.get(i + 6) != Some(&b'\\') || input.get(i + 7) != Some(&b'u') {
                return Err(syntax("lone surrogate in a string", i));
            }
            let low = hex4(input, i + 8)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(syntax("lone surrogate in a string", i));
            }
            let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return Ok((char::from_u32(code).unwrap_or('\u{FFFD}'), i + 12));
        }
        _ => return Err(syntax("invalid escape in a string", i)),
    };
    Ok((c, i + 2))
}

fn hex4(input: &[u8], i: usize) -> Result<u32, GuardError> {
    let Some(hex) = input.get(i..i + 4) else {
        return Err(syntax("expected 4 hex digits", i));
    };
    let mut v = 0;
    for &h in hex {
        let d = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            b'A'..=b'F' => h - b'A' + 10,
            _ => return Err(syntax("expected 4 hex digits", i)),
        };
        v = v * 16 + u32::from(d);
    }
    Ok(v)
}

/// Append the text of an already validated string content (escapes decoded) to `out`.
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            let (c, next) = escape(raw, i).unwrap_or(('\u{FFFD}', raw.len()));
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            i = next;
        } else {
            let end = memchr::memchr(b'\\', &raw[i..]).map_or(raw.len(), |n| i + n);
            out.extend_from_slice(&raw[i..end]);
            i = end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(json: &str) -> Result<(), GuardError> {
        check(json.as_bytes(), 32, 20)
    }

    fn out(number: &str) -> Result<(), GuardError> {
        Err(GuardError::NumberOutOfRange(number.into()))
    }

    #[test]
    fn duplicate_keys_after_unescaping() {
        assert_eq!(ok(r#"{"a": 1, "a": 2}"#), Err(GuardError::DuplicateKey("a".into())));
        assert_eq!(ok(r#"{"a": 1, "\u0061": 2}"#), Err(GuardError::DuplicateKey("a".into())));
        assert_eq!(ok(r#"{"\u00e9\n": 1, "é\u000a": 2}"#), Err(GuardError::DuplicateKey("é\n".into())));
        assert_eq!(ok(r#"{"\ud83d\ude00": 1, "😀": 2}"#), Err(GuardError::DuplicateKey("😀".into())));
        assert_eq!(ok(r#"{"x": [{"b": 1, "c": {"d": 1, "d": 1}}]}"#), Err(GuardError::DuplicateKey("d".into())));
        // the same key in different objects, or after a nested object closed, is fine
        assert_eq!(ok(r#"{"a": {"a": {"a": 1}, "b": 2}, "b": [{"a": 1}, {"a": 2}], "c": {"\u0062": 1}}"#), Ok(()));
        assert_eq!(ok(r#"{"a": 1, "A": 2, "a ": 3, "\\u0061": 4}"#), Ok(()));
        assert_eq!(ok(r#"{"": 1, "": 2}"#), Err(GuardError::DuplicateKey(String::new())));
    }

    #[test]
    fn duplicate_keys_in_large_objects() {
        for n in [LINEAR_KEYS - 1, LINEAR_KEYS, LINEAR_KEYS + 1, 100, 5000] {
            let keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\": {i}")).collect();
            let doc = format!("{{{}}}", keys.join(","));
            assert_eq!(ok(&doc), Ok(()), "{n} keys");
            for dup in [0, n / 2, n - 1] {
                let doc = format!("{{{}, \"k{dup}\": 0}}", keys.join(","));
                assert_eq!(ok(&doc), Err(GuardError::DuplicateKey(format!("k{dup}"))), "{n} keys, k{dup} again");
                let doc = format!("{{{}, \"\\u006b{dup}\": 0}}", keys.join(","));
                assert_eq!(ok(&doc), Err(GuardError::DuplicateKey(format!("k{dup}"))), "{n} keys, escaped k{dup}");
            }
            // nested large objects with the same keys, each closed before the next
            let doc = format!("{{\"x\": {{{0}}}, \"y\": [{{{0}}}, {{{0}}}], {0}}}", keys.join(","));
            assert_eq!(ok(&doc), Ok(()), "{n} keys nested");
        }
    }

    #[test]
    fn depth() {
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(ok(&nested(32)), Ok(()));
        assert_eq!(ok(&nested(33)), Err(GuardError::TooDeep));
        let objects = |n: usize| format!("{}[]{}", "{\"a\":".repeat(n - 1), "}".repeat(n - 1));
        assert_eq!(ok(&objects(32)), Ok(()));
        assert_eq!(ok(&objects(33)), Err(GuardError::TooDeep));
        assert_eq!(check(b"1", 0, 20), Ok(()));
        assert_eq!(check(b"[]", 0, 20), Err(GuardError::TooDeep));
        assert_eq!(check(b"[]", 1, 20), Ok(()));
    }

    #[test]
    fn a_million_open_brackets() {
        let deep = vec![b'['; 1_000_000];
        assert_eq!(check(&deep, 32, 20), Err(GuardError::TooDeep));
        // allowed that deep, the explicit stack holds them and the end is a syntax error, not a crash
        assert!(matches!(check(&deep, usize::MAX, 20), Err(GuardError::Syntax(_))));
        let mut closed = deep.clone();
        closed.extend(std::iter::repeat_n(b']', 1_000_000));
        assert_eq!(check(&closed, 1_000_000, 20), Ok(()));
        assert_eq!(check(&closed, 999_999, 20), Err(GuardError::TooDeep));
    }

    #[test]
    fn numbers_within_bounds() {
        for n in [
            "0", "-0", "1", "-1", "12.50", "0.30000000000000004", "1.000000000000000000000000", "1.5e3", "1E18",
            "9223372036854775807", "-9223372036854775807", "9223372036854775807.0", "9223372036854775807.000e0",
            "922337203685477580.7e1", "92233720368547758070e-1", "0e999999", "0E+999999", "-0.0", "0.00000000000000000000",
            "1e-20", "0.00000000000000000001", "100000000000000000000e-40", "1.23456789012345678901e1", "0.1e-19",
        ] {
            assert_eq!(ok(n), Ok(()), "{n}");
            assert_eq!(ok(&format!("[{n}]")), Ok(()), "[{n}]");
        }
    }

    #[test]
    fn numbers_out_of_range() {
        for n in [
            "9223372036854775808", "-9223372036854775808", "9223372036854775807.5", "-9223372036854775808.0",
            "9223372036854775807.00000000000000000001", "1E19", "1e19", "10000000000000000000", "1e999999",
            "-1e999999", "1e-999999", "0E-999999", "0.000000000000000000000", "1e-21", "0.000000000000000000001",
            "123456789012345678901234567890.5", "1.5e-20", "0.1e-20", "1e99999999999999999999999999",
            "1e-99999999999999999999999999", "9300000000000000000", "92233720368547758071e-1",
        ] {
            assert_eq!(ok(n), out(n), "{n}");
            assert_eq!(ok(&format!("{{\"k\": [{n}]}}")), out(n), "nested {n}");
        }
        let long = "1".repeat(5000);
        assert_eq!(ok(&long), out(&long));
        let long_fraction = format!("0.{}", "0".repeat(5000));
        assert_eq!(ok(&long_fraction), out(&long_fraction));
        assert_eq!(check(b"1.5", 32, 0), out("1.5"));
        assert_eq!(check(b"1.50e1", 32, 0), Ok(()));
    }

    #[test]
    fn not_json() {
        for doc in [
            "", " ", "{", "[", "]", "[1,]", "[,1]", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{1:1}", "[1 2]",
            "01", "1.", ".5", "-", "+1", "1e", "1e+", "--1", "NaN", "Infinity", "-Infinity", "tru", "nul", "True",
            "\"abc", "\"a\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\t\"",
            "{\"a\": 1} x", "[] []", "\u{feff}{}", "{'a': 1}", "[1]]", "{}}", "/* */ 1", "\u{a0}1",
        ] {
            assert!(matches!(ok(doc), Err(GuardError::Syntax(_))), "{doc:?} gave {:?}", ok(doc));
        }
        assert!(matches!(check(b"\"\xff\"", 32, 20), Err(GuardError::Syntax(_))));
        assert!(matches!(check(b"{\"\xc3\": 1}", 32, 20), Err(GuardError::Syntax(_))));
        assert!(matches!(check(b"\"\xed\xa0\x80\"", 32, 20), Err(GuardError::Syntax(_)))); // encoded surrogate
        assert_eq!(ok("\"abc\""), Ok(()));
        assert_eq!(ok(" \t\r\n{ \"a\" : [ true , false , null , \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\" ] } \n"), Ok(()));
        assert_eq!(ok("\"\\ud83d\\ude00 é\""), Ok(()));
        let Err(GuardError::Syntax(message)) = ok("[1, x]") else { panic!() };
        assert_eq!(message, "expected a value at byte 4");
    }

    #[test]
    fn strings_of_every_length_and_position() {
        for len in 0..40 {
            let plain = "é".repeat(len / 2) + &"a".repeat(len % 2);
            assert_eq!(ok(&format!("[\"{plain}\", 1]")), Ok(()));
            for at in 0..plain.len() {
                if !plain.is_char_boundary(at) {
                    continue;
                }
                for (insert, good) in [("\"", false), ("\\\"", true), ("\\u0041", true), ("\\", false), ("\u{1}", false), ("\n", false)] {
                    let text = format!("{}{insert}{}", &plain[..at], &plain[at..]);
                    let result = ok(&format!("{{\"{text}\": \"{text}\"}}"));
                    assert_eq!(result.is_ok(), good, "{text:?}: {result:?}");
                }
            }
            let mut bad = format!("\"{plain}\"").into_bytes();
            if len > 0 {
                bad[1] = 0xff;
                assert!(matches!(check(&bad, 32, 20), Err(GuardError::Syntax(_))));
            }
        }
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-i64::MAX..=i64::MAX).prop_map(Value::from),
            any::<u8>().prop_map(Value::from),
            (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(|n| Value::from(n as f64 / 1000.0)),
            (-1_000_000i64..1_000_000, 0u32..12).prop_map(|(n, s)| Value::from(n as f64 / 10f64.powi(s as i32))),
            ".*".prop_map(Value::String),
        ];
        leaf.prop_recursive(8, 256, 10, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..10).prop_map(Value::Array),
                prop::collection::btree_map(".*", inner, 0..24).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn valid_documents_pass(doc in value(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap();
            prop_assert_eq!(check(text.as_bytes(), 32, 20), Ok(()), "{}", text);
        }

        #[test]
        fn a_repeated_key_is_found(doc in value(), extra in ".*") {
            // the object's first key again at its end, every character escaped
            let serde_json::Value::Object(map) = doc else { return Ok(()) };
            let Some(first) = map.keys().next().cloned() else { return Ok(()) };
            let text = serde_json::to_string(&serde_json::Value::Object(map)).unwrap();
            let escaped: String = first.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
            let doc = format!("{},\"{escaped}\":{}}}", &text[..text.len() - 1], serde_json::to_string(&extra).unwrap());
            prop_assert_eq!(check(doc.as_bytes(), 32, 20), Err(GuardError::DuplicateKey(first)));
        }

        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = check(&bytes, 8, 20);
        }

        #[test]
        fn random_json_like_text_never_panics(bytes in prop::collection::vec(
            prop::sample::select(b"{}[]:,\" \\u0aeE.+-19tfnrl\xc3\xa9\xed\xa0".to_vec()), 0..256)) {
            let _ = check(&bytes, 8, 20);
            let _ = check(&bytes, 0, 0);
        }
    }
}
