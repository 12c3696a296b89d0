//! Batches: many CDRs priced in parallel (rayon), in input order, each record isolated: a bad
//! record (or a bug that panics on it) becomes an error entry and never stops the batch.

use rayon::prelude::*;
use serde::de::IgnoredAny;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::InputError;
use crate::model::json::{Str, ocpi_object};
use crate::pricing::{PricingOptions, output};
use crate::tariff::TariffSet;

/// A record that could not be priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchError {
    /// Position of the record in the batch, from 0.
    pub index: usize,
    /// Line number in the JSON Lines input (from `first_line`); for document lists, index + 1.
    pub line: usize,
    /// The CDR's `id`, when the record was readable that far.
    pub id: Option<String>,
    pub error: InputError,
}

#[derive(Debug, Default)]
pub struct BatchOutput {
    /// One JSON result per priced record, each followed by `\n`, in input order.
    pub output: Vec<u8>,
    pub errors: Vec<BatchError>,
    /// Records seen (blank lines are not records).
    pub records: usize,
}

impl BatchOutput {
    pub fn priced(&self) -> usize {
        self.records - self.errors.len()
    }
}

/// Records per rayon task: large enough to amortise scheduling, small enough to balance.
const CHUNK: usize = 64;

/// Split a JSON Lines buffer into (line number, record) pairs, skipping blank lines.
pub fn split_lines(buf: &[u8], first_line: usize) -> Vec<(usize, &[u8])> {
    fn push<'b>(rec: &'b [u8], line: usize, out: &mut Vec<(usize, &'b [u8])>) {
        let rec = rec.strip_suffix(b"\r").unwrap_or(rec);
        if rec.iter().any(|b| !b.is_ascii_whitespace()) {
            out.push((line, rec));
        }
    }
    let mut out = Vec::with_capacity(buf.len() / 1024 + 1);
    let mut start = 0;
    let mut line = first_line;
    for nl in memchr::memchr_iter(b'\n', buf) {
        push(&buf[start..nl], line, &mut out);
        start = nl + 1;
        line += 1;
    }
    if start < buf.len() {
        push(&buf[start..], line, &mut out);
    }
    out
}

/// Price a JSON Lines buffer (one CDR per line). `first_line` numbers its first line.
pub fn price_jsonl(buf: &[u8], first_line: usize, tariffs: Option<&TariffSet>, opts: &PricingOptions) -> BatchOutput {
    price_records(&split_lines(buf, first_line), tariffs, opts)
}

/// Price separate JSON documents; error `line` is the document's index + 1.
pub fn price_documents(docs: &[&[u8]], tariffs: Option<&TariffSet>, opts: &PricingOptions) -> BatchOutput {
    let records: Vec<(usize, &[u8])> = docs.iter().enumerate().map(|(i, d)| (i + 1, *d)).collect();
    price_records(&records, tariffs, opts)
}

fn price_records(records: &[(usize, &[u8])], tariffs: Option<&TariffSet>, opts: &PricingOptions) -> BatchOutput {
    let parts: Vec<(String, Vec<BatchError>)> = records
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(chunk_no, chunk)| {
            // Sized from the first result: with a breakdown a line is several times longer, and
            // growing a chunk's buffer by doubling copies it about once more.
            let mut out = String::with_capacity(1024);
            let mut errors = Vec::new();
            for (k, &(line, rec)) in chunk.iter().enumerate() {
                let before = out.len();
                let result = catch_unwind(AssertUnwindSafe(|| {
                    crate::model::cdr::parse_cdr_with(rec, opts.strict).and_then(|cdr| crate::pricing::price(&cdr, tariffs, opts)).map(
                        |mut priced| {
                            // A CDR without id is named by its line.
                            if priced.id.is_none() {
                                priced.line = Some(line);
                            }
                            output::write_result(&priced, opts, &mut out)
                        },
                    )
                }));
                let error = match result {
                    Ok(Ok(())) => {
                        out.push('\n');
                        if before == 0 {
                            // Capped: one odd first record must not reserve much more than needed.
                            out.reserve(((out.len() + out.len() / 8) * (chunk.len() - k - 1)).min(4 << 20));
                        }
                        continue;
                    }
                    Ok(Err(e)) => e,
                    Err(panic) => InputError::new("", format!("internal error while pricing this record: {}", panic_text(&panic))),
                };
                out.truncate(before);
                errors.push(BatchError { index: chunk_no * CHUNK + k, line, id: record_id(rec), error });
            }
            (out, errors)
        })
        .collect();
    let mut result = BatchOutput { records: records.len(), ..Default::default() };
    result.output.reserve(parts.iter().map(|p| p.0.len()).sum());
    for (out, errors) in parts {
        result.output.extend_from_slice(out.as_bytes());
        result.errors.extend(errors);
    }
    result
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "panic".into())
}

ocpi_object! {
    struct IdOnly<'a> (quiet) {
        "id" => id: Str<'a>,
    }
}

/// The `id` of a record, if it is readable JSON with a string id.
fn record_id(rec: &[u8]) -> Option<String> {
    serde_json::from_slice::<IdOnly>(rec).ok()?.id.map(|s| s.0.into_owned())
}

/// The parse-only baseline: validate every line as JSON, in parallel, and count them. This is
/// the ceiling batch pricing is measured against.
pub fn parse_only_jsonl(buf: &[u8]) -> (usize, usize) {
    let records = split_lines(buf, 1);
    let bad = records.par_chunks(CHUNK).map(|c| c.iter().filter(|(_, r)| serde_json::from_slice::<IgnoredAny>(r).is_err()).count()).sum();
    (records.len(), bad)
}

/// Write errors as JSON Lines (`{"error","field","line","id"}`).
pub fn errors_jsonl(errors: &[BatchError]) -> String {
    let mut s = String::new();
    for e in errors {
        output::write_error(&mut s, Some(e.line), e.id.as_deref(), &e.error);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cdr_without_id_is_priced_and_named_by_its_line() {
        let tariffs = TariffSet::from_json(br#"{"country_code":"NL","party_id":"EXA","id":"T","currency":"EUR","elements":[{"price_components":[{"type":"ENERGY","price":1,"step_size":1}]}]}"#).unwrap();
        let body = |id: &str| {
            format!(r#"{{{id}"start_date_time":"2025-06-02T10:00:00Z","end_date_time":"2025-06-02T11:00:00Z","charging_periods":[{{"start_date_time":"2025-06-02T10:00:00Z","dimensions":[{{"type":"ENERGY","volume":2}}]}}]}}"#)
        };
        let buf = format!("{}\n\n{}\n", body(r#""id":"A","#), body(""));
        let out = price_jsonl(buf.as_bytes(), 10, Some(&tariffs), &PricingOptions::default());
        assert!(out.errors.is_empty(), "{:?}", out.errors);
        let text = String::from_utf8(out.output).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with(r#"{"id":"A","version""#), "{}", lines[0]);
        assert!(lines[1].starts_with(r#"{"line":12,"version""#), "{}", lines[1]);
        assert!(lines[1].contains(r#""total_cost":{"excl_vat":2,"incl_vat":2}"#), "{}", lines[1]);

        let strict = price_jsonl(buf.as_bytes(), 10, Some(&tariffs), &PricingOptions { strict: true, ..Default::default() });
        assert_eq!(strict.priced(), 1);
        assert_eq!((strict.errors[0].line, strict.errors[0].error.field.as_str()), (12, "id"));
    }
}
